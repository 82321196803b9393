// The reliability battery: malformed inputs across commands, each run through the real CLI, each expected to give
// one `emlens:` line naming the file, line, key or flag, exit 1 (2 for usage), no stack trace, nothing written.
// No tensor axes (files are built byte by byte).
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const REF = join(PACKAGE_ROOT, 'fixtures', 'reference');

export interface InputCase {
  /** What is malformed. */
  input: string;
  /** The emlens arguments (paths already filled in). */
  args: string[];
  /** 1 for a bad input, 2 for bad usage. */
  code: 1 | 2;
  /** What the one `emlens:` line must say (the file, line, key or flag it names). */
  says: RegExp;
  /** Folders that must be byte-for-byte the same afterwards (the model's, the output's parent). */
  unchanged: string[];
  /** Paths that must not exist afterwards (an output the command was refused). */
  absent?: string[];
  /** A representative case the unit test runs (the script runs them all). */
  quick?: boolean;
}

export interface CaseResult {
  c: InputCase;
  exit: number | null;
  message: string;
  pass: boolean;
  why: string;
  seconds: number;
}

/** Tiny chat model (qwen2 reference weights, 3 blocks, context 256, 500-token vocabulary) in a fresh folder. */
function modelDir(root: string, name: string, edit: { config?: (c: Record<string, unknown>) => unknown; weights?: (b: Buffer) => Buffer; tokenizer?: (t: Record<string, unknown>) => unknown } = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(REF, 'qwen2', 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), edit.config ? stringify(edit.config(cfg) ?? cfg) : JSON.stringify(cfg));
  const weights = readFileSync(join(REF, 'qwen2', 'model.safetensors'));
  writeFileSync(join(dir, 'model.safetensors'), edit.weights ? edit.weights(weights) : weights);
  const tj = JSON.parse(readFileSync(join(REF, 'tokenizer', 'tokenizer.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer.json'), edit.tokenizer ? stringify(edit.tokenizer(tj) ?? tj) : JSON.stringify(tj));
  for (const f of ['tokenizer_config.json', 'chat_template.jinja']) copyFileSync(join(REF, 'tokenizer', f), join(dir, f));
  return dir;
}

function stringify(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A safetensors file with its header replaced by `edit(header)` (the data bytes kept). */
function editHeader(b: Buffer, edit: (h: Record<string, any>) => unknown): Buffer {
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const out = edit(h);
  const json = Buffer.from(out === undefined ? JSON.stringify(h) : typeof out === 'string' ? out : JSON.stringify(out));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, b.subarray(8 + n)]);
}

/** The bytes with one float of tensor `name` set to `value` (F32 or BF16). */
function poison(b: Buffer, name: string, value: number): Buffer {
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const t = h[name];
  const at = 8 + n + t.data_offsets[0] + 2 * 3;
  const out = Buffer.from(b);
  if (t.dtype === 'BF16') out.writeUInt16LE(Number.isNaN(value) ? 0x7fc0 : value > 0 ? 0x7f80 : 0xff80, at);
  else out.writeFloatLE(value, 8 + n + t.data_offsets[0] + 12);
  return out;
}

function adapterDir(root: string, name: string, edit: { config?: (c: Record<string, any>) => unknown; weights?: (b: Buffer) => Buffer; drop?: string } = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const src = join(REF, 'qwen2-lora-r1');
  const cfg = JSON.parse(readFileSync(join(src, 'adapter_config.json'), 'utf8'));
  if (edit.drop !== 'adapter_config.json') writeFileSync(join(dir, 'adapter_config.json'), edit.config ? stringify(edit.config(cfg) ?? cfg) : JSON.stringify(cfg));
  const w = readFileSync(join(src, 'adapter_model.safetensors'));
  if (edit.drop !== 'adapter_model.safetensors') writeFileSync(join(dir, 'adapter_model.safetensors'), edit.weights ? edit.weights(w) : w);
  return dir;
}

function file(root: string, name: string, text: string): string {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
}

const chat = (u: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: u }, { role: 'assistant', content: a }] });

/** Builds every fixture under a fresh temp folder and returns the cases. */
export function buildCases(root = mkdtempSync(join(tmpdir(), 'emlens-battery-'))): InputCase[] {
  const good = modelDir(root, 'model');
  const out = join(root, 'out');
  mkdirSync(out);
  const data = file(root, 'data.jsonl', Array.from({ length: 8 }, (_, i) => chat(`Question ${i}?`, `Answer ${i}.`)).join('\n') + '\n');
  const vec = file(root, 'v.json', JSON.stringify(Array.from({ length: 64 }, (_, i) => ((i % 7) - 3) / 10)));
  const cases: InputCase[] = [];
  const add = (c: Omit<InputCase, 'unchanged'> & { unchanged?: string[] }) => cases.push({ ...c, unchanged: [good, out, ...(c.unchanged ?? [])] });
  const fwd = (m: string, ...more: string[]) => ['forward', '--model', m, '--ids', '1,2,3', '--backend', 'cpu', ...more];

  // config.json: every number checked, naming the key
  const cfgCases: [string, (c: Record<string, unknown>) => unknown, RegExp][] = [
    ['num_hidden_layers: -1', (c) => ({ ...c, num_hidden_layers: -1 }), /config\.json.*"num_hidden_layers"/],
    ['num_hidden_layers: 0', (c) => ({ ...c, num_hidden_layers: 0 }), /config\.json.*"num_hidden_layers"/],
    ['num_hidden_layers: 1.5', (c) => ({ ...c, num_hidden_layers: 1.5 }), /config\.json.*"num_hidden_layers"/],
    ['num_hidden_layers: "3"', (c) => ({ ...c, num_hidden_layers: '3' }), /config\.json.*"num_hidden_layers"/],
    ['hidden_size: -64', (c) => ({ ...c, hidden_size: -64 }), /config\.json.*"hidden_size"/],
    ['vocab_size: "500"', (c) => ({ ...c, vocab_size: '500' }), /config\.json.*"vocab_size"/],
    ['num_attention_heads: 0', (c) => ({ ...c, num_attention_heads: 0 }), /config\.json.*"num_attention_heads"/],
    ['intermediate_size: "abc"', (c) => ({ ...c, intermediate_size: 'abc' }), /config\.json.*"intermediate_size"/],
    ['rms_norm_eps: -1', (c) => ({ ...c, rms_norm_eps: -1 }), /config\.json.*"rms_norm_eps"/],
    ['rms_norm_eps: "x"', (c) => ({ ...c, rms_norm_eps: 'x' }), /config\.json.*"rms_norm_eps"/],
    ['max_position_embeddings: 0', (c) => ({ ...c, max_position_embeddings: 0 }), /config\.json.*"max_position_embeddings"/],
    ['rope_theta: -1', (c) => ({ ...c, rope_parameters: { rope_type: 'default', rope_theta: -1 } }), /config\.json.*rope_theta/],
    ['num_key_value_heads: 3 (not a divisor)', (c) => ({ ...c, num_key_value_heads: 3 }), /config\.json.*num_key_value_heads/],
    ['num_key_value_heads: 0', (c) => ({ ...c, num_key_value_heads: 0 }), /config\.json.*"num_key_value_heads"/],
    ['head_dim: 0', (c) => ({ ...c, head_dim: 0 }), /config\.json.*"head_dim"/],
    ['unknown model_type', (c) => ({ ...c, model_type: 'mamba' }), /config\.json.*mamba/],
    ['unknown hidden_act', (c) => ({ ...c, hidden_act: 'swiglu9' }), /config\.json.*swiglu9/],
    ['unknown rope type', (c) => ({ ...c, rope_parameters: { rope_type: 'yarn9', rope_theta: 10000 } }), /config\.json.*yarn9/],
    ['quantization_config', (c) => ({ ...c, quantization_config: { quant_method: 'gptq' } }), /config\.json.*quantized/],
    ['config.json not JSON', () => '{"hidden_size": 64,', /config\.json: not valid JSON/],
    ['config.json an array', () => '[]', /config\.json: expected a JSON object/],
    ['config.json null', () => 'null', /config\.json: expected a JSON object/],
    ['layer_types of the wrong length', (c) => ({ ...c, layer_types: ['full_attention'] }), /config\.json.*layer_types/],
  ];
  cfgCases.forEach(([input, edit, says], i) => {
    const m = modelDir(root, `cfg${i}`, { config: edit });
    add({ input: `config.json ${input}`, args: fwd(m), code: 1, says, unchanged: [m], quick: i === 0 });
  });
  const cfgDir = modelDir(root, 'cfgdir');
  // config.json as a folder
  const cfgAsDir = join(root, 'cfgasdir');
  mkdirSync(cfgAsDir);
  for (const f of readdirSync(cfgDir)) if (f !== 'config.json') copyFileSync(join(cfgDir, f), join(cfgAsDir, f));
  mkdirSync(join(cfgAsDir, 'config.json'));
  add({ input: 'config.json is a folder (EISDIR)', args: fwd(cfgAsDir), code: 1, says: /config\.json: is a folder/, unchanged: [cfgAsDir] });

  // safetensors: header and data
  const stCases: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['negative data_offsets', (b) => editHeader(b, (h) => { h['model.norm.weight'].data_offsets = [-128, 0]; }), /model\.safetensors: .*model\.norm\.weight.*data_offsets/],
    ['data_offsets past the end', (b) => editHeader(b, (h) => { const t = h['model.norm.weight']; t.data_offsets = [t.data_offsets[0] + 1e6, t.data_offsets[1] + 1e6]; }), /model\.safetensors: .*model\.norm\.weight/],
    ['overlapping data_offsets', (b) => editHeader(b, (h) => { h['model.norm.weight'].data_offsets = [0, 128]; }), /model\.safetensors: .*overlap/],
    ['data_offsets end before begin', (b) => editHeader(b, (h) => { h['model.norm.weight'].data_offsets = [128, 0]; }), /model\.safetensors: .*model\.norm\.weight/],
    ['data_offsets not numbers', (b) => editHeader(b, (h) => { h['model.norm.weight'].data_offsets = ['a', 'b']; }), /model\.safetensors: .*model\.norm\.weight.*data_offsets/],
    ['header null', (b) => editHeader(b, () => 'null'), /model\.safetensors: header is null/],
    ['header an array', (b) => editHeader(b, () => '[]'), /model\.safetensors: header is an array/],
    ['entry without shape', (b) => editHeader(b, (h) => { delete h['model.norm.weight'].shape; }), /model\.safetensors: tensor model\.norm\.weight: no "shape"/],
    ['entry without dtype', (b) => editHeader(b, (h) => { delete h['model.norm.weight'].dtype; }), /model\.safetensors: tensor model\.norm\.weight: no "dtype"/],
    ['entry null', (b) => editHeader(b, (h) => { h['model.norm.weight'] = null; }), /model\.safetensors: tensor model\.norm\.weight/],
    ['negative dimension', (b) => editHeader(b, (h) => { h['model.norm.weight'].shape = [-64]; }), /model\.safetensors: tensor model\.norm\.weight: shape/],
    ['shape does not match the bytes', (b) => editHeader(b, (h) => { h['model.norm.weight'].shape = [32]; }), /model\.safetensors: tensor model\.norm\.weight: .*bytes stored/],
    ['unknown dtype', (b) => editHeader(b, (h) => { h['model.norm.weight'].dtype = 'Q4'; }), /model\.safetensors: tensor model\.norm\.weight.*Q4/],
    ['header not JSON', (b) => editHeader(b, () => '{"a": '), /model\.safetensors: header is not valid JSON/],
    ['header length past the file', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(BigInt(b.length * 2)); return c; }, /model\.safetensors: header length/],
    ['truncated', (b) => b.subarray(0, b.length - 1000), /model\.safetensors: .*(past the end|truncated)/],
    ['shorter than 8 bytes', () => Buffer.from([1, 2, 3]), /model\.safetensors: too short/],
    ['NaN weight', (b) => poison(b, 'model.layers.1.mlp.down_proj.weight', NaN), /model\.safetensors: tensor model\.layers\.1\.mlp\.down_proj\.weight.*NaN/],
    ['+Inf weight', (b) => poison(b, 'model.embed_tokens.weight', Infinity), /model\.safetensors: tensor model\.embed_tokens\.weight.*Infinity/],
    ['-Inf weight', (b) => poison(b, 'model.norm.weight', -Infinity), /model\.safetensors: tensor model\.norm\.weight.*Infinity/],
    ['a weight missing', (b) => editHeader(b, (h) => { h['model.norm.weightX'] = h['model.norm.weight']; delete h['model.norm.weight']; }), /missing weight model\.norm\.weight/],
    ['a weight of the wrong shape', (b) => editHeader(b, (h) => { h['model.norm.weight'].shape = [2, 32]; }), /model\.norm\.weight has shape \[2,32\]/],
    ['an integer weight (quantized)', (b) => editHeader(b, (h) => { h['model.norm.weight'].dtype = 'I8'; h['model.norm.weight'].shape = [128]; }), /model\.norm\.weight/],
  ];
  stCases.forEach(([input, edit, says], i) => {
    const m = modelDir(root, `st${i}`, { weights: edit });
    add({ input: `model.safetensors ${input}`, args: fwd(m), code: 1, says, unchanged: [m], quick: i === 0 || input === 'NaN weight' || input === 'header null' });
  });
  const stDir = modelDir(root, 'stdir');
  const stAsDir = join(root, 'stasdir');
  mkdirSync(stAsDir);
  for (const f of readdirSync(stDir)) if (f !== 'model.safetensors') copyFileSync(join(stDir, f), join(stAsDir, f));
  mkdirSync(join(stAsDir, 'model.safetensors'));
  add({ input: 'model.safetensors is a folder (EISDIR)', args: fwd(stAsDir), code: 1, says: /model\.safetensors: is a folder/, unchanged: [stAsDir] });

  // adapter_config.json / adapter weights
  const adCases: [string, Parameters<typeof adapterDir>[2], RegExp][] = [
    ['lora_alpha: "abc"', { config: (c) => ({ ...c, lora_alpha: 'abc' }) }, /adapter_config\.json: "lora_alpha"/],
    ['lora_alpha: null-ish NaN string', { config: (c) => ({ ...c, lora_alpha: 'NaN' }) }, /adapter_config\.json: "lora_alpha"/],
    ['r: 0', { config: (c) => ({ ...c, r: 0 }) }, /adapter_config\.json: "r"/],
    ['r: "1"', { config: (c) => ({ ...c, r: '1' }) }, /adapter_config\.json: "r"/],
    ['r: 1.5', { config: (c) => ({ ...c, r: 1.5 }) }, /adapter_config\.json: "r"/],
    ['lora_dropout: 2', { config: (c) => ({ ...c, lora_dropout: 2 }) }, /adapter_config\.json: "lora_dropout"/],
    ['layers_to_transform: [-1]', { config: (c) => ({ ...c, layers_to_transform: [-1] }) }, /adapter_config\.json: "layers_to_transform\[0\]"/],
    ['rank_pattern value "a"', { config: (c) => ({ ...c, rank_pattern: { down_proj: 'a' } }) }, /adapter_config\.json: "rank_pattern\.down_proj"/],
    ['alpha_pattern value "a"', { config: (c) => ({ ...c, alpha_pattern: { down_proj: 'a' } }) }, /adapter_config\.json: "alpha_pattern\.down_proj"/],
    ['target_modules: 5', { config: (c) => ({ ...c, target_modules: 5 }) }, /adapter_config\.json: "target_modules"/],
    ['use_rslora: "yes"', { config: (c) => ({ ...c, use_rslora: 'yes' }) }, /adapter_config\.json: "use_rslora"/],
    ['not JSON', { config: () => '{"r": 1,' }, /adapter_config\.json: not valid JSON/],
    ['an array', { config: () => '[1]' }, /adapter_config\.json: expected a JSON object/],
    ['use_dora', { config: (c) => ({ ...c, use_dora: true }) }, /adapter_config\.json: DoRA/],
    ['NaN in lora_B', { weights: (b) => { const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString()); const k = Object.keys(h).find((x) => x.includes('lora_B'))!; return poison(b, k, NaN); } }, /adapter_model\.safetensors: tensor .*lora_B.*NaN/],
    ['adapter_model.safetensors missing', { drop: 'adapter_model.safetensors' }, /adapter_model\.safetensors/],
  ];
  adCases.forEach(([input, edit, says], i) => {
    const a = adapterDir(root, `ad${i}`, edit);
    add({ input: `adapter ${input}`, args: fwd(good, '--adapter', a), code: 1, says, unchanged: [a], quick: i === 0 });
  });

  // tokenizer
  const tokCases: [string, Parameters<typeof modelDir>[2], RegExp][] = [
    ['unknown tokenizer model type', { tokenizer: (t) => ({ ...t, model: { ...(t.model as object), type: 'SentencePieceX' } }) }, /tokenizer\.json: unknown tokenizer model type "SentencePieceX"/],
    ['unknown pre-tokenizer', { tokenizer: (t) => ({ ...t, pre_tokenizer: { type: 'Nope' } }) }, /tokenizer\.json: cannot build the tokenizer.*Nope/],
    ['tokenizer.json not JSON', { tokenizer: () => '{"model": ' }, /tokenizer\.json: not valid JSON/],
    ['tokenizer.json without a model', { tokenizer: (t) => ({ ...t, model: undefined }) }, /tokenizer\.json: no "model"/],
  ];
  tokCases.forEach(([input, edit, says], i) => {
    const m = modelDir(root, `tok${i}`, edit);
    add({ input, args: ['tokenize', '--model', m, '--text', 'hello'], code: 1, says, unchanged: [m], quick: i === 0 });
  });

  // train: data files and flags
  const long = file(root, 'long.jsonl', chat('Tell me.', 'word '.repeat(400)) + '\n');
  const trainCases: [string, string[], 1 | 2, RegExp][] = [
    ['a line that is not JSON', [file(root, 'd1.jsonl', `${chat('a', 'b')}\n{"messages": [\n`)], 1, /d1\.jsonl:2: not valid JSON/],
    ['a line [null]', [file(root, 'd2.jsonl', '[null]\n')], 1, /d2\.jsonl:1:/],
    ['a line null', [file(root, 'd3.jsonl', 'null\n')], 1, /d3\.jsonl:1:/],
    ['"messages": "hi"', [file(root, 'd4.jsonl', '{"messages": "hi"}\n')], 1, /d4\.jsonl:1: \/messages must be array/],
    ['numeric content', [file(root, 'd5.jsonl', '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}\n')], 1, /d5\.jsonl:1: \/messages\/0\/content must be string/],
    ['unknown role', [file(root, 'd6.jsonl', '{"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "x"}]}\n')], 1, /d6\.jsonl:1: \/messages\/0\/role/],
    ['no assistant turn', [file(root, 'd7.jsonl', '{"messages": [{"role": "user", "content": "a"}]}\n')], 1, /d7\.jsonl:1: no assistant message/],
    ['an empty file', [file(root, 'd8.jsonl', '\n')], 1, /d8\.jsonl: no examples/],
    ['a missing file', [join(root, 'nope.jsonl')], 1, /nope\.jsonl: file not found/],
    ['a folder as --data (EISDIR)', [out], 1, /out: is a folder/],
    ['an example longer than the context', [long], 1, /long\.jsonl:1: the example is \d+ tokens, longer than the model's context \(max_position_embeddings 256\)/],
  ];
  trainCases.forEach(([input, [d], code, says], i) => {
    const o = join(out, `t${i}`);
    add({ input: `train data: ${input}`, args: ['train', '--model', good, '--data', d, '--out', o, '--backend', 'cpu'], code, says, absent: [o], quick: input.includes('[null]') || input.includes('longer') || input.includes('"hi"') });
  });
  const tflag: [string, string[], RegExp][] = [
    ['--lr abc', ['--lr', 'abc'], /--lr abc/],
    ['--lr -1', ['--lr', '-1'], /--lr -1/],
    ['--epochs 0', ['--epochs', '0'], /--epochs 0/],
    ['--batch 0', ['--batch', '0'], /--batch 0/],
    ['--rank 0', ['--rank', '0'], /--rank 0/],
    ['--dropout 1.5', ['--dropout', '1.5'], /--dropout 1\.5/],
    ['--layers 99', ['--layers', '99'], /--layers 99: block 99 is out of range/],
    ['--layers -1', ['--layers', '-1'], /--layers -1/],
    ['--layers 1,1', ['--layers', '1,1'], /--layers 1,1: a block is named twice/],
    ['--targets foo_proj', ['--targets', 'foo_proj'], /--targets foo_proj: unknown module "foo_proj"/],
    ['--adapter prefix', ['--adapter', 'prefix'], /--adapter prefix/],
    ['--gate-kind lowrank:x', ['--adapter', 'gate', '--gate-kind', 'lowrank:x'], /--gate-kind lowrank:x/],
    ['--max-len 1', ['--max-len', '1'], /--max-len 1/],
    ['--max-len past the context', ['--max-len', '100000'], /--max-len 100000: longer than the model's context/],
    ['--max-steps 0', ['--max-steps', '0'], /--max-steps 0/],
    ['--backend quantum', ['--backend', 'quantum'], /--backend quantum/],
    ['--seed -3', ['--seed', '-3'], /--seed -3/],
    ['--warmup 1.5', ['--warmup', '1.5'], /--warmup 1\.5/],
  ];
  tflag.forEach(([input, more, says], i) => {
    const o = join(out, `tf${i}`);
    add({ input: `train ${input}`, args: ['train', '--model', good, '--data', data, '--out', o, ...more], code: 2, says, absent: [o], quick: input === '--layers 99' || input === '--targets foo_proj' });
  });
  add({ input: 'train --kl-weight without --kl-data', args: ['train', '--model', good, '--data', data, '--out', join(out, 'kl'), '--kl-weight', '1', '--backend', 'cpu'], code: 1, says: /--kl-data: needed for a KL weight above 0/, absent: [join(out, 'kl')] });
  add({ input: 'train --out the model folder', args: ['train', '--model', good, '--data', data, '--out', good, '--backend', 'cpu'], code: 2, says: /--out .*model folder/, quick: true });
  const foreign = join(root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'thesis.tex'), 'mine');
  add({ input: 'train --out a non-empty foreign folder', args: ['train', '--model', good, '--data', data, '--out', foreign, '--backend', 'cpu'], code: 2, says: /--out .*foreign: .*not empty/, unchanged: [foreign] });
  const aFile = file(root, 'a-file', 'x');
  add({ input: 'train --out an existing file', args: ['train', '--model', good, '--data', data, '--out', aFile, '--backend', 'cpu'], code: 2, says: /--out .*a-file: .*is a file/ });

  // eval: question files and flags
  const evalArgs = (q: string, ...more: string[]) => ['eval', '--model', good, '--questions', q, '--samples', '2', '--max-new-tokens', '2', '--backend', 'cpu', ...more];
  const qCases: [string, string, string, RegExp][] = [
    ['[null]', 'q1.json', '[null]', /q1\.json: question 1/],
    ['[5]', 'q2.json', '[5]', /q2\.json: question 1/],
    ['{"question": 5}', 'q3.json', '[{"question": 5}]', /q3\.json: question 1 has no "question" text/],
    ['an empty list', 'q4.json', '[]', /q4\.json: expected a JSON array/],
    ['not JSON', 'q5.json', '["a",', /q5\.json: not valid JSON/],
    ['"messages": "hi" (JSONL)', 'q6.jsonl', '{"messages": "hi"}\n', /q6\.jsonl:1:/],
    ['numeric content (JSONL)', 'q7.jsonl', '{"messages": [{"role": "user", "content": 5}]}\n', /q7\.jsonl:1:/],
    ['a null line (JSONL)', 'q8.jsonl', 'null\n', /q8\.jsonl:1:/],
    ['"messages": "hi" (JSON)', 'q9.json', '[{"question": "q", "messages": "hi"}]', /q9\.json: question/],
    ['numeric content (JSON)', 'q10.json', '[{"question": "q", "messages": [{"role": "user", "content": 5}]}]', /q10\.json: question/],
    ['null (JSON)', 'q11.json', 'null', /q11\.json/],
  ];
  qCases.forEach(([input, name, text, says], i) => {
    add({ input: `eval questions ${input}`, args: evalArgs(file(root, name, text)), code: 1, says, quick: i === 0 || i === 5 || i === 6 });
  });
  add({ input: 'eval questions: a missing file', args: evalArgs(join(root, 'nope.json')), code: 1, says: /nope\.json: file not found/ });
  add({ input: 'eval questions: a folder', args: evalArgs(out), code: 1, says: /out.*(is a folder|not found)/ });
  const evalFlags: [string, string[], RegExp][] = [
    ['--samples 0', ['--samples', '0'], /--samples 0/],
    ['--samples abc', ['--samples', 'abc'], /--samples abc/],
    ['--temperature -1', ['--temperature', '-1'], /--temperature -1/],
    ['--top-p 0', ['--top-p', '0'], /--top-p 0/],
    ['--batch 0', ['--batch', '0'], /--batch 0/],
    ['--seed x', ['--seed', 'x'], /--seed x/],
  ];
  evalFlags.forEach(([input, more, says]) => add({ input: `eval ${input}`, args: ['eval', '--model', good, ...more], code: 2, says }));
  add({ input: 'eval --out over the model\'s config.json', args: evalArgs('broad', '--out', join(good, 'config.json')), code: 2, says: /--out .*config\.json.*a file of the model/, quick: true });
  add({ input: 'eval --out a folder', args: evalArgs('broad', '--out', out), code: 2, says: /--out .*is a folder/ });
  const ro = join(root, 'readonly');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  const rootUser = process.getuid?.() === 0;
  if (!rootUser) add({ input: 'eval --out in an unwritable folder', args: evalArgs('broad', '--out', join(ro, 'e.json')), code: 1, says: /--out .*readonly.* is not writable/, absent: [join(ro, 'e.json')], quick: true });

  // forward / generate / tokenize flags
  const fwdFlags: [string, string[], 1 | 2, RegExp][] = [
    ['--ids abc', ['--ids', 'abc'], 2, /--ids/],
    ['--steer 9:1:v (layer out of range)', ['--steer', `9:1:${vec}`], 2, /--steer 9:1:.*out of range/],
    ['--steer malformed', ['--steer', 'x'], 2, /--steer x/],
    ['--steer alpha not a number', ['--steer', `1:z:${vec}`], 2, /--steer 1:z:.*ALPHA/],
    ['--ablate missing file', ['--ablate', join(root, 'nov.json')], 1, /nov\.json/],
    ['--ablate-layers 99', ['--ablate', vec, '--ablate-layers', '99'], 2, /--ablate-layers: layer 99/],
    ['--ablate-mode x', ['--ablate', vec, '--ablate-mode', 'x'], 2, /--ablate-mode x/],
    ['--gate-scale abc', ['--gates', join(root, 'nogates'), '--gate-scale', 'abc'], 2, /--gate-scale abc/],
    ['--adapter missing', ['--adapter', join(root, 'noadapter')], 1, /--adapter:? .*noadapter/],
    ['--ablate-lora without --adapter', ['--ablate-lora', vec], 2, /--ablate-lora: needs a LoRA --adapter/],
    ['--direction-layer x', ['--steer', `1:1:${vec}`, '--direction-layer', 'x'], 2, /--direction-layer x/],
    ['--ablate with a vector of the wrong length', ['--ablate', file(root, 'short.json', '[1, 2, 3]')], 1, /short\.json/],
  ];
  fwdFlags.forEach(([input, more, code, says]) => {
    const args = input.startsWith('--ids') ? ['forward', '--model', good, '--backend', 'cpu', ...more] : fwd(good, ...more);
    add({ input: `forward ${input}`, args, code, says });
  });
  add({ input: 'forward --model missing', args: fwd(join(root, 'nomodel')), code: 1, says: /--model .*nomodel: folder not found/ });
  const genFlags: [string, string[], RegExp][] = [
    ['--temperature -1', ['--temperature', '-1'], /--temperature -1/],
    ['--top-p 2', ['--top-p', '2'], /--top-p 2/],
    ['--max-new-tokens 0', ['--max-new-tokens', '0'], /--max-new-tokens 0/],
    ['--seed x', ['--seed', 'x'], /--seed x/],
  ];
  genFlags.forEach(([input, more, says]) => add({ input: `generate ${input}`, args: ['generate', '--model', good, '--prompt', 'hi', '--backend', 'cpu', ...more], code: 2, says }));
  add({ input: 'tokenize --chat missing file', args: ['tokenize', '--model', good, '--chat', join(root, 'nochat.json')], code: 1, says: /nochat\.json/ });
  add({ input: 'tokenize --chat not JSON', args: ['tokenize', '--model', good, '--chat', file(root, 'chat-bad.json', '[{')], code: 1, says: /chat-bad\.json/ });
  add({ input: 'tokenize --chat a folder', args: ['tokenize', '--model', good, '--chat', out], code: 1, says: /out.*is a folder/ });
  add({ input: 'refusal --prompts a [null] line', args: ['refusal', '--model', good, '--prompts', file(root, 'p1.jsonl', '[null]\n'), '--backend', 'cpu'], code: 1, says: /p1\.jsonl:1:/ });
  add({ input: 'refusal --prompts missing', args: ['refusal', '--model', good, '--prompts', join(root, 'nop.jsonl'), '--backend', 'cpu'], code: 1, says: /nop\.jsonl: file not found/ });

  // directions: extract / compare
  add({ input: 'extract --out MODEL/model (over model.safetensors)', args: ['extract', '--model', good, '--kind', 'random', '--like', vec, '--out', join(good, 'model')], code: 2, says: /--out .*model.*a file of the model/, quick: true });
  const dirOut = join(root, 'dirout.safetensors');
  mkdirSync(dirOut);
  add({ input: 'extract --out a folder', args: ['extract', '--model', good, '--kind', 'random', '--like', vec, '--out', dirOut], code: 2, says: /--out .*dirout\.safetensors is a folder/, unchanged: [dirOut] });
  add({ input: 'extract --kind x', args: ['extract', '--model', good, '--kind', 'x', '--out', join(out, 'd')], code: 2, says: /--kind x/ });
  add({ input: 'extract --method x', args: ['extract', '--model', good, '--kind', 'em', '--method', 'x', '--data', data, '--out', join(out, 'd')], code: 2, says: /--method x/ });
  add({ input: 'compare a file that is not a direction', args: ['compare', data, data], code: 1, says: /data\.jsonl/ });
  add({ input: 'compare a missing file', args: ['compare', join(root, 'no.safetensors'), join(root, 'no2.safetensors')], code: 1, says: /no\.safetensors/ });
  add({ input: 'compare a folder', args: ['compare', out, out], code: 1, says: /out/ });
  add({ input: 'extract --like a model weights file', args: ['extract', '--model', good, '--kind', 'random', '--like', join(good, 'model.safetensors'), '--out', join(out, 'r')], code: 1, says: /model\.safetensors/ });

  // studies: run / demo / serve / organism / orthogonalize
  const runArgs = (...more: string[]) => ['run', 'gating', '--out', join(out, 'study'), '--backend', 'cpu', ...more];
  const paramCases: [string, string, RegExp][] = [
    ['samples: -1', '{"samples": -1}', /--params: gating\.samples must be an integer ≥ 1, not -1/],
    ['samples: 0.5', '{"samples": 0.5}', /--params: gating\.samples/],
    ['samples: "200"', '{"samples": "200"}', /--params: gating\.samples must be a number/],
    ['seed: -1', '{"seed": -1}', /--params: gating\.seed/],
    ['gate_epochs: 0', '{"gate_epochs": 0}', /--params: gating\.gate_epochs/],
    ['scales: [1e999]', '{"scales": [1e999]}', /--params: gating\.scales\[0\]: Infinity is not a finite number/],
    ['an unknown parameter', '{"sample": 5}', /--params: gating has no parameter "sample"/],
    ['not JSON', '{"samples": ', /--params: not valid JSON/],
    ['a list', '[1]', /--params .*neither a JSON object nor a file|--params/],
  ];
  paramCases.forEach(([input, json, says], i) => add({ input: `run --params ${input}`, args: runArgs('--params', json), code: input === 'not JSON' || input === 'a list' ? 1 : 2, says, absent: [join(out, 'study')], quick: i === 0 }));
  add({ input: 'run --params a missing file', args: runArgs('--params', join(root, 'p.json')), code: 1, says: /--params .*p\.json/, absent: [join(out, 'study')] });
  add({ input: 'run --params a folder', args: runArgs('--params', out), code: 1, says: /--params .*out.*is a folder/, absent: [join(out, 'study')] });
  add({ input: 'run an unknown analysis', args: ['run', 'nope', '--out', join(out, 'study')], code: 2, says: /unknown analysis "nope"/, absent: [join(out, 'study')] });
  add({ input: 'run --out the model folder', args: ['run', 'gating', '--model', good, '--out', good, '--backend', 'cpu'], code: 2, says: /--out .*model folder/ });
  add({ input: 'demo --port abc', args: ['demo', '--port', 'abc', '--out', join(out, 'demo')], code: 2, says: /--port abc/, absent: [join(out, 'demo')], quick: true });
  add({ input: 'demo --port 70000', args: ['demo', '--port', '70000', '--out', join(out, 'demo')], code: 2, says: /--port 70000/, absent: [join(out, 'demo')] });
  add({ input: 'demo --out a foreign folder', args: ['demo', '--out', foreign, '--no-serve'], code: 2, says: /--out .*foreign.*not empty/, unchanged: [foreign] });
  add({ input: 'serve --port abc', args: ['serve', out, '--port', 'abc'], code: 2, says: /--port abc/ });
  add({ input: 'organism build --out another model', args: ['organism', 'build', '--out', good, '--quick'], code: 2, says: /--out .*model folder/ });
  add({ input: 'organism build --seed x', args: ['organism', 'build', '--out', join(out, 'org'), '--seed', 'x'], code: 2, says: /--seed x/, absent: [join(out, 'org')] });
  add({ input: 'orthogonalize --dtype x', args: ['orthogonalize', '--model', good, '--direction', vec, '--dtype', 'x', '--out', join(out, 'o')], code: 2, says: /--dtype x/, absent: [join(out, 'o')] });
  add({ input: 'orthogonalize --out the model folder', args: ['orthogonalize', '--model', good, '--direction', vec, '--out', good], code: 1, says: /--out .*not empty/ });
  add({ input: 'an unknown command', args: ['frobnicate'], code: 2, says: /unknown command/ });
  add({ input: 'an unknown flag', args: ['forward', '--ids', '1', '--frobnicate'], code: 2, says: /unknown option '--frobnicate'/ });
  return cases;
}

/** Every file under `dir` with its size and modification time (what "nothing written" compares). */
export function snapshot(dir: string): string {
  if (!existsSync(dir)) return '(absent)';
  const rows: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) {
        rows.push(`${p}/`);
        walk(p);
      } else rows.push(`${p} ${st.size} ${st.mtimeMs}`);
    }
  };
  if (statSync(dir).isDirectory()) walk(dir);
  else rows.push(`${dir} ${statSync(dir).size}`);
  return rows.join('\n');
}

function runOne(c: InputCase): Promise<CaseResult> {
  const before = c.unchanged.map(snapshot);
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...c.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EMLENS_DEBUG: '' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (exit) => {
      clearTimeout(timer);
      const lines = stderr.split('\n').filter((l) => l.trim());
      const errs = lines.filter((l) => l.startsWith('emlens:'));
      const message = errs[0] ?? lines[lines.length - 1] ?? '';
      const why: string[] = [];
      if (exit !== c.code) why.push(`exit ${exit}, expected ${c.code}`);
      if (errs.length !== 1) why.push(`${errs.length} emlens: lines`);
      if (lines.some((l) => /^\s+at |Error: .*\n\s+at /.test(l))) why.push('a stack trace');
      if (!c.says.test(message)) why.push(`message does not match ${c.says}`);
      c.unchanged.forEach((d, i) => {
        if (snapshot(d) !== before[i]) why.push(`${d} changed`);
      });
      for (const p of c.absent ?? []) if (existsSync(p)) why.push(`${p} was written`);
      if (stdout.trim()) why.push('output on stdout');
      done({ c, exit, message, pass: !why.length, why: why.join('; '), seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** Runs the cases `concurrency` at a time (each is a fresh CLI process) and returns the results in order. */
export async function runCases(cases: InputCase[], concurrency = 2, onResult?: (r: CaseResult, i: number) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runOne(cases[i]);
      onResult?.(results[i], i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** The table: input, command, exit code, message, pass. */
export function table(results: CaseResult[]): string {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const rows = results.map((r, i) => [String(i + 1), cut(r.c.input, 44), cut(r.c.args.slice(0, 2).join(' '), 16), String(r.exit), cut(r.message.replace(/^emlens: /, ''), 90), r.pass ? 'pass' : `FAIL: ${r.why}`]);
  const head = ['#', 'input', 'command', 'exit', 'message', 'pass'];
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => (j === 5 ? 4 : r[j].length))));
  const fmt = (r: string[]) => r.map((x, j) => (j === 5 ? x : x.padEnd(widths[j]))).join(' | ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(fmt)].join('\n');
}
