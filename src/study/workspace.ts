// A study's working folder: fine-tunes, evals and directions computed once through the same library calls the CLI
// makes, cached under RUN/ so an interrupted study continues where it stopped. No tensor axes at this level.
import { existsSync, readFileSync, readdirSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../model/load.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import type { Hook } from '../model/hooks.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { sameRunArgs, train } from '../train/trainer.ts';
import { defaultTrainSpec, type TrainSpec } from '../train/defaults.ts';
import type { AdapterKind } from '../adapters/adapter.ts';
import { applyInterventions, specFiles, type InterventionSpec } from '../interventions/spec.ts';
import type { Direction } from '../directions/direction.ts';
import { requireRates, runEmEval, type EvalReport, type RatedEvalReport } from '../eval/em-eval.ts';
import { BROAD_QUESTIONS, defaultMaxNewTokens, loadQuestions } from '../eval/questions.ts';
import { OrganismJudge } from '../eval/organism-judge.ts';
import type { Judge } from '../eval/judge.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { cachedFileSha256, sha256 } from '../util/hash.ts';
import { IDENTITY_FILES, modelIdentity, sameModelFolder } from '../model/identity.ts';
import { log, UserError } from '../util/log.ts';
import { BackgroundTrainer, canTrainInBackground, type ChildJob, type FinetuneJob } from './background.ts';
import { extractDirection, type ExtractSpec } from './extractions.ts';

/** What to put on top of the base model for one measurement: the library's one spec (src/interventions/spec.ts). */
export type { InterventionSpec } from '../interventions/spec.ts';

/** An intervened model; `release` frees what `apply` loaded for it (adapters, gates), never the base model. */
export interface Applied {
  model: Model;
  hooks: Hook[];
  release(): void;
}

export interface EvalSettings {
  samples: number;
  seed: number;
  questions?: string;
  maxNewTokens?: number;
  /** Answer the questions of forms left out of the rates (the JSON variants)? Default: the study's answerExcluded. */
  answerExcluded?: boolean;
}


/**
 * Computes a study's fine-tunes, evals and direction extractions somewhere else (workers of a job queue: src/queue);
 * the workspace keeps its caches under RUN, and the runner leaves each result where the workspace would have written it.
 */
export interface StepRunner {
  /** Fine-tunes the study will need, in order (started ahead, as trainAhead does on a second core). */
  ahead(jobs: FinetuneJob[]): void;
  /** Trains NAME with `spec` and leaves its run folder (adapter/, run.json, metrics) at `out`. */
  finetune(name: string, spec: TrainSpec, out: string): Promise<void>;
  /** The EM eval of `iv` with these settings and judge, as runEmEval gives it. */
  evaluate(name: string, iv: InterventionSpec, settings: EvalSettings & { questions: string; maxNewTokens: number }, judge: Judge): Promise<EvalReport>;
  /** The direction `spec` describes, as extractDirection gives it (a persona direction judged by `judge`). */
  extract(name: string, spec: ExtractSpec, judge: Judge): Promise<Direction>;
}

export class Workspace {
  readonly model: Model;
  readonly tok: ChatTokenizer;
  judge: Judge = new OrganismJudge();
  /** Epochs of this study's LoRA fine-tunes where an analysis does not set its own, in place of the model's
   * recommended count (`demo --quick`). */
  loraEpochs?: number;
  /** Whether evals answer the questions of forms the rates leave out (false in `demo --quick`: rates only). */
  answerExcluded = true;
  /**
   * Stops this study's in-process fine-tunes (a library caller's AbortController, or a CLI that owns Ctrl-C): the
   * trainer stops at its next step, saves a checkpoint, and finetune() throws an interrupted error (exit 130) that a
   * rerun resumes. Unset: the trainer's own Ctrl-C handler does the same.
   */
  signal?: AbortSignal;
  /** Where fine-tunes and evals are computed when not in this process (`run --queue`, `demo --queue`). */
  steps?: StepRunner;
  /** Fine-tunes being trained ahead on a second core (see trainAhead): this study's own, or its parent's. */
  private background?: BackgroundTrainer;
  private ownsBackground = false;
  /** Evals of evaluateMany that the second core did, and evals this process computed (not cached, not there). */
  evalsThere = 0;
  private evalsHere = 0;

  constructor(readonly runDir: string, readonly modelDir: string, readonly quiet = false) {
    this.model = loadModel(modelDir);
    this.tok = ChatTokenizer.load(modelDir);
    bindToModel(runDir, modelDir);
  }

  path(...parts: string[]): string {
    return join(this.runDir, ...parts);
  }

  /**
   * The model's recommended fine-tune of `kind` on `data`, with this study's epochs for LoRAs; `over` wins over both.
   * 'full' trains every weight (`over.adapter = { kind: 'full', full: { params: REGEX } }` selects some by HF name).
   */
  trainSpec(data: string, kind: AdapterKind = 'lora', over: Partial<TrainSpec> = {}): TrainSpec {
    const studyEpochs = kind === 'lora' && this.loraEpochs !== undefined ? { epochs: this.loraEpochs } : {};
    return defaultTrainSpec(this.model, data, kind, { ...studyEpochs, ...over });
  }

  /**
   * Starts training these fine-tunes, in order, in a second process while the study goes on (CPU backends with two
   * or more cores; elsewhere a no-op). `finetune` then waits for one already started, or trains one still queued itself.
   */
  trainAhead(jobs: FinetuneJob[]): void {
    const todo = jobs.map((j): ChildJob & { kind: 'train' } => ({ kind: 'train', name: j.name, spec: j.spec, out: j.out ?? this.path('finetunes', j.name), modelDir: j.modelDir ?? this.modelDir }))
      .filter((j) => this.finetuneState(j.out, j.spec) !== 'done');
    todo.forEach((j) => this.discardStale(j.out, j.name, j.spec));
    // a job queue trains the study's own fine-tunes (those of sub-studies on other checkpoints are trained here)
    if (this.steps) return this.steps.ahead(jobs.filter((j) => j.out === undefined && j.modelDir === undefined && todo.some((t) => t.name === j.name)));
    if (!todo.length) return;
    // a sub-study queues what it needs next ahead of what its parent queued for later
    if (this.background) return this.background.add(todo, !this.ownsBackground);
    if (!canTrainInBackground()) return;
    this.background = new BackgroundTrainer(todo, this.quiet);
    this.ownsBackground = true;
  }

  /** A workspace on another model made for this study (a merged fine-tune, another checkpoint) takes its judge, its
   * stop signal and its second core. */
  inheritFrom(parent: Workspace): this {
    this.judge = parent.judge;
    this.signal = parent.signal;
    this.background = parent.background;
    this.ownsBackground = false;
    return this;
  }

  /** Stops the second process, if this study started it (what it was training stays resumable). */
  close(): void {
    if (this.ownsBackground) this.background?.close();
    this.background = undefined;
  }

  /**
   * RUN/finetunes/NAME: 'none' (nothing there), 'started' (this spec, not finished: resumable), 'done' (this spec,
   * trained), or 'stale' (trained or started with other settings or other data, e.g. after --params changed).
   */
  private finetuneState(out: string, spec: TrainSpec): 'none' | 'started' | 'done' | 'stale' {
    const runJson = join(out, 'run.json');
    if (!existsSync(runJson)) return 'none';
    const run = JSON.parse(readFileSync(runJson, 'utf8')) as { args?: unknown; dataset?: { sha256?: string }; status?: string };
    // the trainer's own --resume comparison of arguments; data moved away
    // since cannot be compared (training it anew would fail on it too), so only data that is there and differs is stale
    const same = sameRunArgs(run.args, spec) && (!existsSync(spec.data) || run.dataset?.sha256 === cachedFileSha256(spec.data));
    if (!same) return 'stale';
    // finished as asked; 'interrupted' (Ctrl-C) and 'max-steps' leave a resumable run, not the fine-tune
    return (run.status === 'complete' || run.status === 'early-stop') && existsSync(join(out, 'adapter')) ? 'done' : 'started';
  }

  /** Removes a fine-tune made with other settings or data, so that NAME is trained anew with `spec`. */
  private discardStale(out: string, name: string, spec: TrainSpec): void {
    if (this.finetuneState(out, spec) !== 'stale') return;
    if (!this.quiet) log(`study: fine-tune ${name} was made with other settings or data; training it anew`);
    rmSync(out, { recursive: true, force: true });
  }

  /**
   * Trains (or reuses, or resumes, or waits for the second process to finish) RUN/finetunes/NAME; returns the run folder.
   * Its result is RUN/finetunes/NAME/adapter: the adapter, or for a full fine-tune (kind 'full') an HF model folder —
   * evaluate that as a model of its own, `new Workspace(ws.path('sub'), join(run, 'adapter'))`, not as an adapter.
   */
  async finetune(name: string, spec: TrainSpec): Promise<string> {
    const out = this.path('finetunes', name);
    const waiting = () => this.quiet || log(`study: waiting for fine-tune ${name} on the second core`);
    await this.background?.claim({ kind: 'train', name, spec, out, modelDir: this.modelDir }, waiting, (job) => this.trainHere(job.name, job.spec, job.out, job.modelDir, ' meanwhile'));
    this.discardStale(out, name, spec);
    if (this.finetuneState(out, spec) === 'done') return out;
    if (this.steps) {
      await this.steps.finetune(name, spec, out);
      if (this.finetuneState(out, spec) !== 'done') throw new Error(`fine-tune ${name}: the step runner left no finished run at ${out}`);
      return out;
    }
    await this.trainHere(name, spec, out, this.modelDir);
    return out;
  }

  /**
   * Trains (or resumes) fine-tune NAME into run folder `out` in this process, from `modelDir`: this study's model, or
   * another's (a job of a sub-study taken from the second core's queue while this process would wait).
   */
  private async trainHere(name: string, spec: TrainSpec, out: string, modelDir: string, note = ''): Promise<void> {
    if (!this.quiet) log(`study: fine-tune ${name}${note} (${spec.adapter.kind} on ${spec.data}, ${spec.epochs} epoch${spec.epochs === 1 ? '' : 's'})`);
    const own = modelDir === this.modelDir;
    const model = own ? this.model : loadModel(modelDir);
    try {
      const tok = own ? this.tok : ChatTokenizer.load(modelDir);
      const r = await train(model, tok, { ...spec, out, resume: existsSync(join(out, 'run.json')), quiet: this.quiet, signal: this.signal }, modelDir);
      if (r.status === 'interrupted') throw new UserError(`interrupted: fine-tune ${name} saved at step ${r.steps} of ${r.totalSteps}; run the same command again to resume`, 130);
    } finally {
      if (!own) disposeModel(model);
    }
  }

  /** The model and hooks an intervention spec describes (applyInterventions, as the CLI's flags); call `release` when done. */
  apply(iv: InterventionSpec): Applied {
    const { model, hooks, dispose } = applyInterventions(this.model, iv);
    return { model, hooks, release: dispose };
  }

  /** EM eval of the intervened model, cached at RUN/evals/NAME.json (recomputed when the spec or settings change). */
  async evaluate(name: string, iv: InterventionSpec, s: EvalSettings): Promise<RatedEvalReport> {
    const { file, key, settings } = this.evalKey(name, iv, s);
    const cached = this.cachedEval(file, key);
    if (cached) return requireRates(cached, `eval ${name}`);
    // done by the second core (evaluateMany gave it the far end of its list)
    if (this.background && (await this.background.claim(this.evalJob(name, iv, settings)))) {
      const there = this.cachedEval(file, key);
      if (there) return requireRates(there, `eval ${name}`);
    }
    let report: EvalReport;
    this.evalsHere++;
    if (this.steps) report = await this.steps.evaluate(name, iv, settings, this.judge);
    else {
      const { model, hooks, release } = this.apply(iv);
      try {
        report = await runEmEval(model, this.tok, hooks, loadQuestions(settings.questions), this.judge, { samples: s.samples, seed: s.seed, maxNewTokens: settings.maxNewTokens, answerExcluded: settings.answerExcluded, quiet: this.quiet });
      } finally {
        release();
      }
    }
    writeJsonAtomic(file, { ...report, key, intervention: iv });
    return requireRates(report, `eval ${name}`);
  }

  /**
   * evaluate() of each item, in order; on a CPU with a second core (the organism judge, no job queue) that core takes
   * evals from the far end of the list while this process works from the front, so both meet in the middle.
   */
  async evaluateMany(items: { name: string; iv: InterventionSpec; s: EvalSettings }[]): Promise<RatedEvalReport[]> {
    if (!this.background && !this.steps && canTrainInBackground()) {
      this.background = new BackgroundTrainer([], this.quiet);
      this.ownsBackground = true;
    }
    // what is not cached yet: the second core takes it from the far end (all but the first, which this process starts on)
    const todo = items.map((it) => ({ it, k: this.evalKey(it.name, it.iv, it.s) })).filter(({ k }) => !this.cachedEval(k.file, k.key));
    if (this.background && !this.steps && this.judge instanceof OrganismJudge) {
      this.background.add(todo.slice(1).reverse().map(({ it, k }) => this.evalJob(it.name, it.iv, k.settings)), true);
    }
    const pending = new Set(todo.map(({ it }) => it.name));
    const here = this.evalsHere;
    const reports: RatedEvalReport[] = [];
    for (const it of items) reports.push(await this.evaluate(it.name, it.iv, it.s));
    // what was to do and not done here was done there (its end may not have been read yet: no need to wait for it)
    const byChild = pending.size - (this.evalsHere - here);
    if (byChild && !this.quiet) log(`study: ${byChild} of ${new Set(items.map((it) => it.name)).size} evals on the second core`);
    this.evalsThere += byChild;
    return reports;
  }

  /** The eval's cache file, its key (what the intervention's files and the question set hold, not only their names: a
   * recomputed direction re-runs its evals) and its settings with the defaults filled in. */
  private evalKey(name: string, iv: InterventionSpec, s: EvalSettings): { file: string; key: string; settings: EvalSettings & { questions: string; maxNewTokens: number } } {
    const questions = s.questions ?? 'broad';
    const settings = { ...s, questions, maxNewTokens: s.maxNewTokens ?? defaultMaxNewTokens(questions), ...(s.answerExcluded ?? this.answerExcluded ? {} : { answerExcluded: false }) };
    const files = { ...interventionDigests(iv), questions: contentDigest(questions === 'broad' ? BROAD_QUESTIONS : questions) };
    return { file: this.evalFile(name), key: sha256(JSON.stringify({ iv, s: settings, judge: this.judge.name, files })), settings };
  }

  private cachedEval(file: string, key: string): EvalReport | undefined {
    if (!existsSync(file)) return undefined;
    const cached = JSON.parse(readFileSync(file, 'utf8')) as EvalReport & { key?: string };
    return cached.key === key ? cached : undefined;
  }

  private evalJob(name: string, iv: InterventionSpec, settings: EvalSettings): ChildJob {
    return { kind: 'eval', name, out: this.evalFile(name), modelDir: this.modelDir, runDir: this.runDir, iv, settings: { ...settings } };
  }

  /** Where evaluate(NAME) keeps its report (its answers: the input of an EM direction). */
  evalFile(name: string): string {
    return this.path('evals', `${name}.json`);
  }

  /**
   * The direction `spec` describes (src/study/extractions.ts), cached as direction() caches (NAME, with the digest of
   * `inputs`): computed here, or by the step runner (a queue's worker).
   */
  extract(name: string, spec: ExtractSpec, inputs: unknown): Promise<string> {
    return this.direction(name, inputs, () => (this.steps ? this.steps.extract(name, spec, this.judge) : extractDirection(this, spec)));
  }

  /**
   * A direction computed once and saved at RUN/directions/NAME.safetensors, with the digest of the `inputs` it was made
   * from beside it (NAME.key): other inputs under the same name (another eval of the fine-tune, another seed) make it anew.
   */
  async direction(name: string, inputs: unknown, make: () => Direction | Promise<Direction>): Promise<string> {
    const file = this.path('directions', `${name}.safetensors`);
    const keyFile = this.path('directions', `${name}.key`);
    const key = sha256(JSON.stringify(inputs ?? null));
    if (!existsSync(file) || !existsSync(keyFile) || readFileSync(keyFile, 'utf8') !== key) {
      mkdirSync(this.path('directions'), { recursive: true });
      (await make()).save(file);
      writeFileAtomic(keyFile, key);
    }
    return file;
  }
}

/**
 * A run folder holds one model's study: every cache in it (fine-tunes, evals, directions) is of that model. The first
 * use writes RUN/study.json with the model's identity; another model pointed at the same folder is an error, not a
 * study that quietly mixes the two models' results.
 */
function bindToModel(runDir: string, modelDir: string): void {
  const identity = modelIdentity(modelDir);
  const file = join(runDir, 'study.json');
  if (existsSync(file)) {
    const made = JSON.parse(readFileSync(file, 'utf8')) as { model: string; model_dir?: string };
    if (made.model !== identity) {
      // the same folder whose files changed (a new config key, other weights) is another model too: said so
      const whose = sameModelFolder(made.model_dir, modelDir)
        ? `${modelDir} as it was before its files (${IDENTITY_FILES}) changed`
        : `another model (${made.model_dir ?? 'unknown'}; this is ${modelDir})`;
      throw new UserError(`${runDir} holds a study of ${whose}: its fine-tunes and evals would not be this model's. Give another --out, or remove that folder`);
    }
    return;
  }
  mkdirSync(runDir, { recursive: true });
  writeJsonAtomic(file, { model: identity, model_dir: modelDir });
}

/**
 * Digest of what a file or folder holds, for cache keys: a file's bytes; a folder's *.safetensors and *.json files
 * (an adapter), or those of its adapter/ when it is a run folder (whose run.json and checkpoints change as it trains).
 */
export function contentDigest(path: string): string | null {
  if (!existsSync(path)) return null;
  if (statSync(path).isFile()) return cachedFileSha256(path);
  const dir = existsSync(join(path, 'adapter')) ? join(path, 'adapter') : path;
  const files = readdirSync(dir).filter((f) => /\.(safetensors|json)$/.test(f)).sort();
  return sha256(files.map((f) => `${f}:${cachedFileSha256(join(dir, f))}`).join('\n'));
}

/** The digests of every file an intervention reads (adapter, gates, directions). */
function interventionDigests(iv: InterventionSpec): Record<string, string | null> {
  return Object.fromEntries(specFiles(iv).map((p) => [p, contentDigest(p)]));
}
