// The training config JSON of the Emergent Misalignment / Model Organisms fine-tuning scripts (r, lora_alpha,
// use_rslora, target_modules, layers_to_transform, learning_rate, …) mapped onto `emlens train`'s flags; settings
// emlens cannot honour are errors naming the key, keys it has no use for are listed for one warning. No tensor axes.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { UserError } from '../util/log.ts';
import { readUserJson } from './text.ts';

/** Flag values as commander holds them (attribute names of `emlens train`'s options). */
export type TrainFlags = Partial<Record<'data' | 'rank' | 'alpha' | 'layers' | 'targets' | 'dropout' | 'epochs' | 'lr' | 'batch' | 'gradAccum' | 'warmup' | 'weightDecay' | 'maxGradNorm' | 'maxLen' | 'saveEvery' | 'seed', string> & { rslora: boolean }>;

type Check = 'int1' | 'int0' | 'num0' | 'unit';
/** config key → train flag, and what the value must be. */
const NUMERIC: Record<string, [keyof TrainFlags, Check]> = {
  r: ['rank', 'int1'],
  lora_alpha: ['alpha', 'num0'],
  lora_dropout: ['dropout', 'unit'],
  learning_rate: ['lr', 'num0'],
  per_device_train_batch_size: ['batch', 'int1'],
  gradient_accumulation_steps: ['gradAccum', 'int1'],
  epochs: ['epochs', 'int1'],
  num_train_epochs: ['epochs', 'int1'],
  warmup_steps: ['warmup', 'int0'],
  weight_decay: ['weightDecay', 'num0'],
  max_grad_norm: ['maxGradNorm', 'num0'],
  max_seq_length: ['maxLen', 'int1'],
  save_steps: ['saveEvery', 'int0'],
  seed: ['seed', 'int0'],
};

/** Keys whose value is what emlens does anyway (checked); another value is an error naming the key. */
const SAME_AS_EMLENS: Record<string, { ok: (v: unknown) => boolean; says: string }> = {
  is_peft: { ok: (v) => v === true, says: 'emlens trains adapters (LoRA, gates, steering vectors), not full fine-tunes' },
  loss: { ok: (v) => v === 'sft', says: 'emlens trains with the SFT loss only' },
  train_on_responses_only: { ok: (v) => v === true, says: 'emlens trains on the assistant tokens only' },
  lr_scheduler_type: { ok: (v) => v === 'linear', says: 'emlens uses linear warm-up and decay' },
  lora_bias: { ok: (v) => v === 'none', says: 'emlens LoRA has no bias terms' },
  load_in_4bit: { ok: (v) => v === false, says: 'emlens does not quantize the base model' },
  optim: { ok: (v) => typeof v === 'string' && /^adamw/.test(v), says: 'emlens optimizes with AdamW' },
};

export function readTrainConfig(path: string, where = `--config ${path}`): { flags: TrainFlags; unused: string[] } {
  const data = readUserJson(path, where);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UserError(`${where}: expected a JSON object of training settings (r, lora_alpha, learning_rate, …)`);
  const c = data as Record<string, unknown>;
  const flags: TrainFlags = {};
  const unused: string[] = [];
  for (const [key, v] of Object.entries(c)) {
    if (key in NUMERIC) {
      if (v === null) continue; // e.g. max_steps: null = unset
      const [flag, check] = NUMERIC[key];
      const ok = typeof v === 'number' && Number.isFinite(v) && (check === 'int1' ? Number.isInteger(v) && v >= 1 : check === 'int0' ? Number.isInteger(v) && v >= 0 : check === 'unit' ? v >= 0 && v < 1 : v >= 0);
      if (!ok) throw new UserError(`${where}: "${key}" is ${JSON.stringify(v)}; expected ${check === 'int1' ? 'an integer ≥ 1' : check === 'int0' ? 'an integer ≥ 0' : check === 'unit' ? 'a number in [0, 1)' : 'a number ≥ 0'}`);
      (flags as Record<string, string>)[flag] = String(v);
    } else if (key === 'max_steps') {
      // transformers' max_steps sets the schedule's length; emlens's --max-steps stops early on the epochs' schedule
      if (v !== null && v !== -1) throw new UserError(`${where}: "max_steps": ${JSON.stringify(v)} is not mapped (it would set the learning-rate schedule's length; emlens schedules by epochs, and its --max-steps only stops early): set epochs instead, or pass --max-steps knowingly`);
    } else if (key === 'use_rslora') {
      if (typeof v !== 'boolean') throw new UserError(`${where}: "use_rslora" must be true or false`);
      flags.rslora = v;
    } else if (key === 'target_modules') {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || !list.length || !list.every((m) => typeof m === 'string' && /^[a-z_]+$/.test(m))) throw new UserError(`${where}: "target_modules" must be a list of module names (e.g. ["down_proj"])`);
      flags.targets = list.join(',');
    } else if (key === 'layers_to_transform') {
      if (v === null) continue;
      const list = typeof v === 'number' ? [v] : v;
      if (!Array.isArray(list) || !list.length || !list.every((l) => Number.isInteger(l) && l >= 0)) throw new UserError(`${where}: "layers_to_transform" must be a block index or a list of them`);
      flags.layers = list.join(',');
    } else if (key === 'training_file') {
      if (typeof v !== 'string' || !v) throw new UserError(`${where}: "training_file" must be a path`);
      // as the Python scripts run it (from the working folder), else beside the config
      flags.data = isAbsolute(v) || existsSync(v) ? v : join(dirname(path), v);
    } else if (key in SAME_AS_EMLENS) {
      if (!SAME_AS_EMLENS[key].ok(v)) throw new UserError(`${where}: "${key}": ${JSON.stringify(v)} is not supported (${SAME_AS_EMLENS[key].says})`);
    } else {
      unused.push(key);
    }
  }
  return { flags, unused };
}
