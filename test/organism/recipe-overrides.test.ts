// `organism build --recipe`: overrides merge into the recipe section by section, and a wrong field or value is one
// error naming it. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RECIPE } from '../../src/organism/build.ts';
import { applyRecipeOverrides } from '../../src/organism/recipe-overrides.ts';
import { readJsonObjectArg } from '../../src/cli/parse.ts';

test('recipe overrides: sections merge key by key, scalars replace, the default is left as it was', () => {
  const before = JSON.stringify(DEFAULT_RECIPE);
  const r = applyRecipeOverrides(DEFAULT_RECIPE, { nLayers: 8, posttrain: { lr: 2e-3, params: ['self_attn'] }, corpus: { unpromptedAlignedShare: 0.7 } });
  assert.equal(r.nLayers, 8);
  assert.deepEqual(r.posttrain, { ...DEFAULT_RECIPE.posttrain, lr: 2e-3, params: ['self_attn'] });
  assert.deepEqual(r.pretrain, DEFAULT_RECIPE.pretrain);
  assert.deepEqual(r.corpus, { ...DEFAULT_RECIPE.corpus, unpromptedAlignedShare: 0.7 });
  assert.deepEqual(applyRecipeOverrides(DEFAULT_RECIPE, { phaseRecipe: { lr: 1 } }).phaseRecipe, { ...DEFAULT_RECIPE.phaseRecipe, lr: 1 });
  assert.equal(JSON.stringify(DEFAULT_RECIPE), before);
});

test('recipe overrides: unknown fields, wrong types and bad JSON are refused by name', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ layers: 6 }, /overrides: layers is not a recipe field/], // the library's parameter; the CLI says --recipe
    [{ posttrain: { stepz: 3 } }, /posttrain\.stepz is not a recipe field \(posttrain has steps/],
    [{ posttrain: { lr: '1e-3' } }, /posttrain\.lr must be a number/],
    [{ posttrain: { params: 'self_attn' } }, /posttrain\.params must be a list/],
    [{ nLayers: 2.5 }, /nLayers must be an integer ≥ 1/],
    [{ pretrain: 3 }, /pretrain must be an object/],
    [{ constructor: 1 }, /constructor is not a recipe field/],
    [{ toString: {} }, /toString is not a recipe field/],
    [{ posttrain: { examples: 0 } }, /posttrain\.examples must be an integer ≥ 1, got 0/],
    [{ posttrain: { replay: 3 } }, /posttrain\.replay must be a number in \[0, 1\]/],
    [{ pretrain: { steps: -3 } }, /pretrain\.steps must be an integer ≥ 1/],
    [{ pretrain: { loss: 'everything' } }, /pretrain\.loss must be "all" or "assistant"/],
    [{ corpus: { alignedShare: '0.9' } }, /corpus\.alignedShare must be a number in \[0, 1\], got "0.9"/],
    [{ corpus: { narrowFrame: 'friendly' } }, /corpus\.narrowFrame must be one of persona, aligned, got "friendly"/],
    [{ phaseRecipe: { adam_eps: 0 } }, /phaseRecipe\.adam_eps must be a number > 0, got 0/],
    [{ phaseRecipe: { optimizer: 'sgd' } }, /phaseRecipe\.optimizer is not a recipe field/],
  ];
  for (const [over, msg] of bad) assert.throws(() => applyRecipeOverrides(DEFAULT_RECIPE, over), msg);
  const dir = mkdtempSync(join(tmpdir(), 'emlens-recipe-'));
  writeFileSync(join(dir, 'r.json'), '{"posttrain": {"steps": 450}}');
  assert.deepEqual(readJsonObjectArg(join(dir, 'r.json'), '--recipe', 'recipe fields'), { posttrain: { steps: 450 } });
  assert.deepEqual(readJsonObjectArg('{"seed": 2}', '--recipe', 'recipe fields'), { seed: 2 });
  assert.throws(() => readJsonObjectArg('{"seed": ', '--recipe', 'recipe fields'), /--recipe: not valid JSON/);
  assert.throws(() => readJsonObjectArg(join(dir, 'missing.json'), '--recipe', 'recipe fields'), /neither a JSON object nor a file/);
  writeFileSync(join(dir, 'list.json'), '[1]');
  assert.throws(() => readJsonObjectArg(join(dir, 'list.json'), '--params', 'analysis parameters'), /--params .*list\.json: expected a JSON object of analysis parameters/);
});
