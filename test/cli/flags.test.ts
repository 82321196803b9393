// Library errors name the library's parameters, never a command-line flag; the CLI says each one with the flag that
// set it (options.maxLen → --max-len), keeping the value and the exit code. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/package-root.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { commandOf, flagOf, withFlag } from '../../src/cli/flags.ts';
import { EmlensError } from '../../src/util/errors.ts';
import { UserError } from '../../src/util/log.ts';
import { parseQueueUrl } from '../../src/queue/connection.ts';
import { orthogonalizeWeights } from '../../src/interventions/orthogonalize.ts';
import type { Model } from '../../src/model/modules.ts';
import { applyRecipeOverrides } from '../../src/organism/recipe-overrides.ts';
import { DEFAULT_RECIPE } from '../../src/organism/build.ts';

test('a library parameter is said as the flag of the command that ran', () => {
  const program = buildProgram();
  const train = commandOf(program, ['train']);
  assert.equal(train.name(), 'train');
  assert.equal(flagOf('options.maxLen', train), '--max-len');
  assert.equal(flagOf('options.klData', train), '--kl-data');
  assert.equal(flagOf('options.layers', train), '--layers');
  assert.equal(flagOf('options.r', train), '--rank');
  assert.equal(flagOf('gateKind', train), '--gate-kind');
  const build = commandOf(program, ['organism', 'build', '--out', 'x']);
  assert.equal(build.name(), 'build');
  assert.equal(flagOf('overrides', build), '--recipe');
  assert.equal(flagOf('options.fromPretrained', build), '--from-pretrained');
  assert.equal(flagOf('spec.steer[0].layer', commandOf(program, ['forward'])), '--steer');
  assert.equal(flagOf('params', commandOf(program, ['run', 'gating'])), '--params');
  assert.equal(flagOf('options.analyses', commandOf(program, ['demo'])), undefined, 'no flag sets it: said as the library names it');

  const said = withFlag(new EmlensError('options.maxLen', "longer than the model's context (max_position_embeddings 64)", { value: 1000, exitCode: 2 }), train);
  assert.ok(said instanceof UserError);
  assert.equal((said as UserError).message, "--max-len 1000: longer than the model's context (max_position_embeddings 64)");
  assert.equal((said as UserError).exitCode, 2);
  const plain = new EmlensError('options.analyses', 'the demo runs "x", which is not among the 0 analyses given');
  assert.equal(withFlag(plain, commandOf(program, ['demo'])), plain);
  const other = new UserError('data.jsonl:3: not valid JSON');
  assert.equal(withFlag(other, train), other);
});

test('the library error names its parameter; the CLI prints the flag with the same words and exit code', () => {
  assert.throws(() => applyRecipeOverrides(DEFAULT_RECIPE, { layers: 6 }), (e: unknown) => e instanceof EmlensError && e.param === 'overrides' && e.exitCode === 2 && !e.message.includes('--'));
  const out = mkdtempSync(join(tmpdir(), 'emlens-flags-'));
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'organism', 'build', '--out', join(out, 'o'), '--recipe', '{"layers": 6}'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^emlens: --recipe: layers is not a recipe field \(fields: /);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('parameters named inside a library message are said as their flags too (a hint, or a message about something else)', () => {
  const program = buildProgram();
  const train = commandOf(program, ['train']);
  const diverged = new EmlensError('options.lr', 'training diverged at step 3: loss is NaN (options.lr 0.5 is too large?)', { inline: true });
  assert.equal(diverged.message, 'training diverged at step 3: loss is NaN (options.lr 0.5 is too large?)', 'the library names the parameter');
  assert.equal((withFlag(diverged, train) as UserError).message, 'training diverged at step 3: loss is NaN (--lr 0.5 is too large?)');
  const hinted = new EmlensError('options.data', 'x.jsonl:4: too long; pass options.maxLen N (not options.maxLenient)', { mentions: ['options.maxLen'] });
  assert.equal((withFlag(hinted, train) as UserError).message, '--data: x.jsonl:4: too long; pass --max-len N (not options.maxLenient)');
  const queue = new EmlensError('options.queue', 'options.judge http://x/?k=REDACTED: a URL with a query string', { mentions: ['options.judge'] });
  assert.equal((withFlag(queue, commandOf(program, ['run', 'gating'])) as UserError).message, '--queue: --judge http://x/?k=REDACTED: a URL with a query string');
  const said = (f: () => unknown, argv: string[]) => {
    try {
      f();
    } catch (e) {
      return { library: (e as Error).message, cli: (withFlag(e, commandOf(program, argv)) as UserError).message, exitCode: (e as UserError).exitCode };
    }
    assert.fail('no error');
  };
  assert.deepEqual(said(() => parseQueueUrl('http://x'), ['worker']), { library: 'options.queue: http:// is not a Redis URL (expected redis://HOST[:PORT][/DB])', cli: '--queue: http:// is not a Redis URL (expected redis://HOST[:PORT][/DB])', exitCode: 2 });
  const gemma = { config: { sandwichNorms: true, raw: { model_type: 'gemma2' } } } as unknown as Model;
  assert.match(said(() => orthogonalizeWeights(gemma, [1]), ['orthogonalize']).cli, /ablate with hooks instead \(--ablate\)$/);
  assert.equal(flagOf('options.val.harmful'), '--val-pos');
  assert.equal(flagOf('options.val.harmless'), '--val-neg');
  assert.equal(flagOf('modelDir'), '--model');
  const val = new EmlensError('options.val', 'refusal: … or separate selection sets (options.val.harmful, options.val.harmless)', { inline: true, mentions: ['options.val.harmful', 'options.val.harmless'] });
  assert.equal((withFlag(val, commandOf(program, ['extract'])) as UserError).message, 'refusal: … or separate selection sets (--val-pos, --val-neg)');
  const out = mkdtempSync(join(tmpdir(), 'emlens-flags-'));
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'train', '--data', join(PACKAGE_ROOT, 'fixtures', 'datasets', 'sycophancy.jsonl'), '--max-len', '2', '--out', join(out, 'run')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^emlens: .*sycophancy\.jsonl: no example has an assistant token to train on within --max-len 2$/m);
  assert.doesNotMatch(r.stderr, /options\./);
});

test('the persona recipe names its prompt sets, not flags; extract says them as --pos and --neg', async () => {
  const { extractPersonaDirection } = await import('../../src/recipes/directions.ts');
  const chat = [{ role: 'user' as const, content: 'q' }];
  const e = await extractPersonaDirection({ model: {} as Model, tok: {} as never, seed: 0, modelName: 'm' }, [chat, chat], [chat], {} as never, ['a', 'b']).catch((x: unknown) => x);
  assert.ok(e instanceof EmlensError && e.param === 'pos' && !e.message.includes('--'), String(e));
  const extract = commandOf(buildProgram(), ['extract']);
  assert.equal((withFlag(e, extract) as Error).message, 'persona: --pos and --neg must hold the same questions (same count, same order)');
});

test('a parameter inside an id, a path or a longer name is not said as a flag', () => {
  const e = new EmlensError('model', 'nobody/absent-model is not in models--nobody--absent-model (model-diff needs a model)', { inline: true });
  assert.equal(e.saidAs('--model'), 'nobody/absent-model is not in models--nobody--absent-model (model-diff needs a --model)');
});
