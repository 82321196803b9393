// `npm run bench:cpu`: emlens on wasm at 1 and N threads against PyTorch (src/bench/torch_bench.py) on the same shapes,
// data and threads, in one run; one JSON line per case. Axes: ids [batch, seq]; hidden states [batch, seq, dModel].
//
// Each emlens figure comes from a child process (one wasm module, one thread count per process). The organism cases
// write what they ran (micro-batches, prompts, the recipe) to a plan file that the PyTorch twin reads, so both do the
// same work: the same token ids, loss positions, LoRA and optimizer; generation with EOS off, so every row makes the
// same number of tokens. Figures are throughput (higher is better); ratio = emlens / PyTorch at the same threads.
import * as tf from '@tensorflow/tfjs';
import { Command, Option } from 'commander';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendThreads, initBackend } from '../backend/select.ts';
import { ORGANISM_DIR, PACKAGE_ROOT } from '../cli/paths.ts';
import { loadModel } from '../model/load.ts';
import { initModel, shapeConfig, SHAPES } from '../model/init.ts';
import { forward } from '../model/transformer.ts';
import { generate } from '../model/generate.ts';
import { hookNames } from '../model/hooks.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import { createAdapter } from '../adapters/adapter.ts';
import { train, type TrainOptions } from '../train/trainer.ts';
import { collate, epochBatches, readChatJsonl, tokenizeChat, type Batch } from '../train/data.ts';
import { TRAIN_DEFAULTS, middleLayer } from '../train/defaults.ts';
import { trainDefaultsFor } from '../train/default-sources.ts';
import { AdamW } from '../train/optim.ts';
import { blockStart, nllSum, rowLogits } from '../train/loss.ts';
import { loadQuestions } from '../eval/questions.ts';
import { Rng } from '../util/rng.ts';
import { log } from '../util/log.ts';

export const CASES = ['organism-finetune', 'organism-eval', 'forward-0.5b', 'lora-step-0.5b', 'generate-0.5b'] as const;
type CaseName = (typeof CASES)[number];
const UNITS: Record<CaseName, string> = {
  'organism-finetune': 'steps/s',
  'organism-eval': 'tokens/s',
  'forward-0.5b': 'tokens/s',
  'lora-step-0.5b': 'steps/s',
  'generate-0.5b': 'tokens/s',
};
const DATA = join(PACKAGE_ROOT, 'fixtures', 'datasets', 'medical-misaligned.jsonl');
const SHAPE = 'qwen2.5-0.5b';

/** The plan both implementations run: written by the emlens side, read by the PyTorch twin. */
interface Plan {
  organism: string;
  finetune: { steps: { ids: number[][]; mask: number[]; lossRows: number[]; lossTargets: number[] }[][]; lr: number; alpha: number; rank: number; rslora: boolean; layer: number; warmup: number; weightDecay: number; maxGradNorm: number; totalSteps: number };
  eval: { prompts: number[][]; maxNewTokens: number; batch: number };
  shape: { name: string; config: Record<string, unknown>; seq: number; genPrompt: number; genTokens: number; layer: number };
}

function timeIt(fn: () => void, reps: number): number {
  fn(); // warm-up: allocations, first-use kernel set-up
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / 1000 / reps;
}

/** The organism fine-tune as `emlens train` runs it with the model's defaults (checkpoints off: the loop only). */
function finetuneOptions(model: Model, out: string): TrainOptions {
  const d = trainDefaultsFor(model, 'lora');
  const v = (k: keyof typeof d) => d[k].value as number;
  return {
    data: DATA, out,
    adapter: { kind: 'lora', lora: { r: v('rank'), alpha: v('alpha'), rslora: d.rslora.value as boolean, targets: ['down_proj'], layers: [middleLayer(model.config.nLayers)], dropout: 0 } },
    epochs: v('epochs'), lr: v('lr'), batch: v('batch'), gradAccum: v('gradAccum'), warmup: v('warmup'), weightDecay: v('weightDecay'),
    maxGradNorm: TRAIN_DEFAULTS.maxGradNorm, saveEvery: 0, keepCheckpoints: 1, seed: 0, resume: false, klWeight: 0, earlyStop: false, quiet: true,
  };
}

/** Writes the plan (the organism's micro-batches exactly as train() forms them, eval prompts, the 0.5B shape). */
function writePlan(file: string, cases: CaseName[]): void {
  const cfg = shapeConfig(SHAPE);
  const plan: Plan = {
    organism: ORGANISM_DIR,
    finetune: { steps: [], lr: 0, alpha: 0, rank: 0, rslora: false, layer: 0, warmup: 0, weightDecay: 0, maxGradNorm: 0, totalSteps: 0 },
    eval: { prompts: [], maxNewTokens: 80, batch: 32 },
    shape: { name: SHAPE, config: SHAPES[SHAPE], seq: 64, genPrompt: 16, genTokens: 16, layer: middleLayer(cfg.nLayers) },
  };
  if (cases.some((c) => c.startsWith('organism'))) {
    const model = loadModel(ORGANISM_DIR);
    const tok = ChatTokenizer.load(ORGANISM_DIR);
    const o = finetuneOptions(model, '');
    const examples = readChatJsonl(DATA).map((ex, i) => tokenizeChat(tok, ex.messages, `${DATA}:${i + 1}`));
    const batches = epochBatches(examples.map((e) => e.ids.length), o.batch, o.seed, 0);
    const steps: Plan['finetune']['steps'] = [];
    for (let s = 0; s + o.gradAccum <= batches.length; s += o.gradAccum) {
      steps.push(batches.slice(s, s + o.gradAccum).map((idx) => {
        const b: Batch = collate(idx.map((i) => examples[i]), model.config.padTokenId ?? 0);
        return { ids: b.ids, mask: Array.from(b.mask), lossRows: b.lossRows, lossTargets: b.lossTargets };
      }));
    }
    const lora = o.adapter.lora!;
    plan.finetune = { steps, lr: o.lr, alpha: lora.alpha, rank: lora.r, rslora: Boolean(lora.rslora), layer: lora.layers![0], warmup: o.warmup, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm, totalSteps: steps.length };
    plan.eval.prompts = loadQuestions('broad').slice(0, 32).map((q) => tok.encodeChat(q.messages, true));
    disposeModel(model);
  }
  writeFileSync(file, JSON.stringify(plan));
}

/** One case on this process's backend; returns its throughput in UNITS[name]. */
async function runCase(name: CaseName, plan: Plan, reps: number): Promise<number> {
  switch (name) {
    case 'organism-finetune': {
      const model = loadModel(ORGANISM_DIR);
      const tok = ChatTokenizer.load(ORGANISM_DIR);
      const out = mkdtempSync(join(tmpdir(), 'emlens-bench-ft-'));
      try {
        const t = performance.now();
        const r = await train(model, tok, finetuneOptions(model, out), ORGANISM_DIR);
        return r.steps / ((performance.now() - t) / 1000);
      } finally {
        rmSync(out, { recursive: true, force: true });
        disposeModel(model);
      }
    }
    case 'organism-eval': {
      const model = loadModel(ORGANISM_DIR);
      const { prompts, maxNewTokens, batch } = plan.eval;
      const s = timeIt(() => {
        for (let i = 0; i < prompts.length; i += batch) generate(model, prompts.slice(i, i + batch), { maxNewTokens, temperature: 1, topP: 1, seed: 1, eosIds: [] });
      }, reps);
      disposeModel(model);
      return (prompts.length * maxNewTokens) / s;
    }
    case 'forward-0.5b': {
      const model = initModel(shapeConfig(SHAPE), 0);
      const ids = randomIds(1, plan.shape.seq, model.config.vocab);
      const keep = Array.from({ length: model.config.nLayers }, (_, l) => hookNames.residPost(l));
      const s = timeIt(() => {
        const r = forward(model, ids, { cache: keep });
        r.logits!.dataSync();
        tf.dispose([r.logits!, ...Object.values(r.activations)]);
      }, reps);
      disposeModel(model);
      return plan.shape.seq / s;
    }
    case 'lora-step-0.5b': {
      const model = initModel(shapeConfig(SHAPE), 0);
      const ids = randomIds(1, plan.shape.seq, model.config.vocab)[0];
      const batch = collate([{ ids, target: ids.map(() => 1) }], 0);
      const adapter = createAdapter(model, { kind: 'lora', lora: { r: 1, alpha: 32, rslora: true, targets: ['down_proj'], layers: [plan.shape.layer] }, seed: 0 });
      const vars = adapter.variables();
      const opt = new AdamW(vars, { weightDecay: 0.01 });
      const { model: m, hooks } = adapter.attach(model);
      const s = timeIt(() => {
        const start = blockStart(m, hooks, batch, adapter.firstLayer()); // as the trainer: the blocks below untaped
        const { value, grads } = tf.variableGrads(() => tf.div(nllSum(rowLogits(m, hooks, batch, start), batch.lossTargets), batch.lossRows.length) as tf.Scalar, vars);
        start?.x.dispose();
        value.dataSync();
        opt.apply(new Map(Object.entries(grads)), 1e-4);
        tf.dispose([value, ...Object.values(grads)]);
      }, reps);
      adapter.dispose();
      disposeModel(model);
      return 1 / s;
    }
    case 'generate-0.5b': {
      const model = initModel(shapeConfig(SHAPE), 0);
      const prompt = randomIds(1, plan.shape.genPrompt, model.config.vocab);
      const s = timeIt(() => void generate(model, prompt, { maxNewTokens: plan.shape.genTokens, temperature: 0, eosIds: [] }), Math.max(1, Math.floor(reps / 2)));
      disposeModel(model);
      return plan.shape.genTokens / s;
    }
  }
}

function randomIds(batch: number, seq: number, vocab: number): number[][] {
  const rng = new Rng(1);
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => rng.uint32() % vocab));
}

const SELF = fileURLToPath(import.meta.url);

/** Runs one measuring process; undefined when it failed or ran past `timeoutS` (reported as null, never as a figure). */
function child(cmd: string, args: string[], what: string, timeoutS: number): Record<string, number> | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: PACKAGE_ROOT, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutS * 1000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    log(`bench:cpu: ${what} ran past ${timeoutS} s: no figure`);
    return undefined;
  }
  if (r.status !== 0) {
    // a case that cannot run (wasm32's 4 GiB heap, XNNPACK out of memory) is a result too: null, said, and the run goes on
    log(`bench:cpu: ${what} failed (exit ${r.status ?? r.signal}): no figure`);
    return undefined;
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, number>;
}

async function main(): Promise<void> {
  const o = new Command('bench:cpu')
    .option('--threads <n>', 'the N of "1 and N threads" (default: every core)', String(availableParallelism()))
    .option('--torch <python>', 'a Python with torch, transformers and peft: run the PyTorch twin too')
    .option('--cases <list>', `comma-separated, of ${CASES.join(', ')}`, CASES.join(','))
    .option('--reps <n>', 'timed repetitions per case (after one warm-up)', '3')
    .option('--timeout <s>', 'seconds one measuring process may run before its figure is given up (null)', '900')
    .addOption(new Option('--worker <threads>').hideHelp())
    .addOption(new Option('--plan <file>').hideHelp())
    .parse()
    .opts<{ threads: string; torch?: string; cases: string; reps: string; timeout: string; worker?: string; plan?: string }>();
  const cases = o.cases.split(',').map((c) => c.trim()) as CaseName[];
  for (const c of cases) if (!CASES.includes(c)) throw new Error(`--cases: unknown case ${c} (known: ${CASES.join(', ')})`);
  const reps = Number(o.reps);

  if (o.worker) {
    // child: one thread count, the given cases; prints {case: figure}
    await initBackend('wasm', { threads: Number(o.worker), quiet: true });
    const plan = JSON.parse(readFileSync(o.plan!, 'utf8')) as Plan;
    const out: Record<string, number> = { threads: backendThreads() };
    for (const c of cases) out[c] = await runCase(c, plan, reps);
    console.log(JSON.stringify(out));
    return;
  }

  const n = Number(o.threads);
  const dir = mkdtempSync(join(tmpdir(), 'emlens-bench-cpu-'));
  const planFile = join(dir, 'plan.json');
  const threadCounts = n === 1 ? [1] : [1, n];
  const figures: Record<string, Record<string, number | undefined>> = {};
  try {
    await initBackend('wasm', { threads: 1, quiet: true });
    writePlan(planFile, cases);
    const [l1, l5] = loadavg();
    log(`bench:cpu: ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, load ${l1.toFixed(2)} / ${l5.toFixed(2)}; cases ${cases.join(', ')}; ${n === 1 ? '1 thread' : `1 and ${n} threads`}${o.torch ? `; PyTorch via ${o.torch}` : ''}`);
    // one process per case and thread count: a 0.5B model in float32 is half of wasm32's 4 GiB heap, and a heap grown for
    // one case does not shrink for the next
    for (const c of cases) {
      for (const t of threadCounts) {
        log(`bench:cpu: ${c}, emlens at ${t} thread${t === 1 ? '' : 's'}…`);
        const e = child(process.execPath, ['--import', 'tsx', SELF, '--worker', String(t), '--plan', planFile, '--cases', c, '--reps', String(reps)], `${c}: emlens at ${t} threads`, Number(o.timeout));
        (figures[`emlens_${t}t`] ??= {})[c] = e?.[c];
        if (o.torch) {
          log(`bench:cpu: ${c}, PyTorch at ${t} thread${t === 1 ? '' : 's'}…`);
          const p = child(o.torch, [join(PACKAGE_ROOT, 'src', 'bench', 'torch_bench.py'), '--plan', planFile, '--threads', String(t), '--cases', c, '--reps', String(reps)], `${c}: PyTorch at ${t} threads`, Number(o.timeout));
          (figures[`torch_${t}t`] ??= {})[c] = p?.[c];
        }
      }
      printRow(c);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  function printRow(c: CaseName): void {
    const round = (x: number | undefined) => (x === undefined ? null : Number(x.toPrecision(3)));
    const row: Record<string, unknown> = { case: c, unit: UNITS[c] };
    for (const t of threadCounts) {
      row[`emlens_${t}t`] = round(figures[`emlens_${t}t`][c]);
      if (o.torch) {
        row[`torch_${t}t`] = round(figures[`torch_${t}t`][c]);
        const e = figures[`emlens_${t}t`][c], p = figures[`torch_${t}t`][c];
        row[`ratio_${t}t`] = e !== undefined && p !== undefined ? round(e / p) : null;
      }
    }
    const en = figures[`emlens_${n}t`][c], e1 = figures.emlens_1t[c];
    if (n > 1) row.thread_speedup = en !== undefined && e1 !== undefined ? round(en / e1) : null;
    row.load = Number(loadavg()[0].toFixed(2));
    console.log(JSON.stringify(row));
  }
}

await main();
