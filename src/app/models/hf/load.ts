// loadHF / saveHF: a local Hugging Face model folder <-> a moragrad model with HF's module names.
//
//   const { model, tokenizer, config } = await loadHF('models/SmolLM-135M');
//   const peft = mg.peft.inject(model, { adapter: 'mora', r: 8, targets: ['q_proj', 'v_proj'] });
//   ... train ...
//   await mg.peft.saveAdapter('out/adapter', peft);   // loads with PeftModel.from_pretrained
//   await saveHF(model, 'out/merged');                 // ΔW folded in, HF layout
//
// Nothing is fetched from a network. Memory is planned from the file headers before anything is
// allocated; names and shapes are checked against the model before any weight is copied.
import fs from 'node:fs/promises';
import os from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fail, fmtShape } from '../../../errors.js';
import { writeFileAtomic } from '../../../io/atomic.js';
import { encodeSafetensors, type EncodeEntry } from '../../../io/safetensors.js';
import { isCpuAdapter } from '../../../backend/interface.js';
import { getBackend, tidy, type BackendName } from '../../../runtime.js';
import { tensor } from '../../../ops/creation.js';
import { add } from '../../../ops/binary.js';
import { noGrad } from '../../../autograd.js';
import { Conv1D } from '../../../nn/linear.js';
import { BlockedEmbedding } from '../../../nn/embedding.js';
import { AdapterLinear } from '../../../adapters/lora.js';
import { copyInto, type Module, type Parameter } from '../../../nn/module.js';
import { parseHfConfig, type HfModelConfig } from './config.js';
import { GPT2LMHeadModel } from './gpt2.js';
import { LlamaForCausalLM } from './llama.js';
import { HfTokenizer, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './tokenizer.js';
import { INDEX_FILE, SINGLE_FILE, readTensor, readWeightFiles, type WeightEntry } from './weights.js';

export type HfCausalLM = LlamaForCausalLM | GPT2LMHeadModel;

export interface LoadHFOptions {
  /**
   * dtype of the parameters: 'float32' (the default and the only one: moragrad's parameters are
   * float32; F16 and BF16 files are widened exactly).
   */
  dtype?: 'float32';
  /** Backend of the parameters (default: the default backend). */
  backend?: BackendName;
  /**
   * Bytes the model may take (weights as held plus staging). Default: the free host memory on the
   * cpu backend and on CPU-emulated WebGPU adapters (lavapipe), whose buffers are host memory;
   * unchecked on a real GPU, whose memory size WebGPU does not report.
   */
  memoryLimit?: number;
  /** Skip the tokenizer (a folder without tokenizer.json). Default false. */
  noTokenizer?: boolean;
  /** Largest vocabulary table held in one buffer (default: the backend's binding limit); for tests. */
  maxTableElements?: number;
}

export interface LoadedHF {
  model: HfCausalLM;
  /** null with `noTokenizer`. */
  tokenizer: HfTokenizer | null;
  config: HfModelConfig;
  /** generation_config.json, where present. */
  generationConfig: Record<string, unknown> | null;
}

/** What loadHF read, kept for saveHF (the folder's other files and the weights' dtype). */
interface Source {
  dir: string;
  dtype: 'F32' | 'F16' | 'BF16';
}
const sources = new WeakMap<Module, Source>();

/** Files next to the weights that saveHF copies from the source folder when present. */
const SIDE_FILES = [
  TOKENIZER_FILE,
  TOKENIZER_CONFIG_FILE,
  'generation_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
];

async function readJson(path: string, op: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    return fail(op, `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(op, `${path} is not valid JSON: ${(e as Error).message}`);
  }
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Memory the model will take, checked against the backend's limits before anything is allocated. */
export interface MemoryPlan {
  params: number;
  /** Bytes of the parameters as held (float32 on webgpu, float64 on cpu). */
  weightBytes: number;
  /** Bytes of host staging while loading (the largest tensor, read and converted). */
  stagingBytes: number;
  /** Largest single tensor (elements) against the backend's per-buffer limit; vocabulary tables
   * (embeddings, LM head) are not counted: larger ones are held as row blocks. */
  largest: { name: string; elements: number };
  maxElements: number;
  /** The limit the total was checked against, or null (unchecked), and where it came from. */
  limit: number | null;
  limitFrom: 'memoryLimit' | 'free host memory' | null;
}

/** Vocabulary tables: held as row blocks (nn.BlockedEmbedding) when larger than one binding. */
const VOCAB_TABLE = /(^|\.)(embed_tokens|wte)\.weight$|^lm_head\.weight$/;

export function planMemory(entries: WeightEntry[], backend: BackendName | undefined, limit?: number): MemoryPlan {
  const b = getBackend(backend);
  const perElement = b.name === 'cpu' ? 8 : 4;
  let params = 0;
  let largest = { name: '', elements: 0 };
  let biggest = 0;
  for (const e of entries) {
    if (e.param === null) continue;
    const n = e.info.shape.reduce((a, d) => a * d, 1);
    params += n;
    biggest = Math.max(biggest, n);
    if (n > largest.elements && !VOCAB_TABLE.test(e.param)) largest = { name: e.key, elements: n };
  }
  const hostHeld = b.name === 'cpu' || isCpuAdapter(b.description);
  return {
    params,
    weightBytes: params * perElement,
    stagingBytes: biggest * 4 * 3,
    largest,
    maxElements: b.maxElements,
    limit: limit ?? (hostHeld ? os.freemem() : null),
    limitFrom: limit !== undefined ? 'memoryLimit' : hostHeld ? 'free host memory' : null,
  };
}

function checkPlan(p: MemoryPlan, dir: string): void {
  const op = 'loadHF';
  if (p.largest.elements > p.maxElements) {
    fail(
      op,
      `${dir}: tensor '${p.largest.name}' has ${p.largest.elements} elements (${gib(p.largest.elements * 4)} as float32), more than the adapter's largest buffer binding of ${p.maxElements} elements (${gib(p.maxElements * 4)}); this model does not fit this adapter`,
    );
  }
  const total = p.weightBytes + p.stagingBytes;
  if (p.limit !== null && total > p.limit) {
    fail(
      op,
      `${dir}: ${p.params} parameters need ${gib(p.weightBytes)} as held plus ${gib(p.stagingBytes)} of staging = ${gib(total)}, more than the ${gib(p.limit)} available (${p.limitFrom}); refusing to load`,
    );
  }
}

/** Reads a Hugging Face model folder (LlamaForCausalLM, Qwen2ForCausalLM or GPT2LMHeadModel; safetensors). */
export async function loadHF(dir: string, opts: LoadHFOptions = {}): Promise<LoadedHF> {
  const op = 'loadHF';
  if (opts.dtype !== undefined && opts.dtype !== 'float32') {
    fail(
      op,
      `dtype '${String(opts.dtype)}' is not supported: moragrad's parameters are float32 (F16 and BF16 weights are widened to float32 exactly)`,
    );
  }
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory())
    fail(op, `${dir} is not a directory (expected a Hugging Face model folder with config.json and model.safetensors)`);
  const config = parseHfConfig(await readJson(join(dir, 'config.json'), op), join(dir, 'config.json'));
  const files = await readWeightFiles(dir, config.architecture, config.tiedHead);
  const plan = planMemory(files.entries, opts.backend, opts.memoryLimit);
  checkPlan(plan, dir);
  const tokenizer = opts.noTokenizer ? null : await HfTokenizer.fromDir(dir);
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    fail(op, `${dir}: the tokenizer has ${tokenizer.vocabSize} ids but the model's vocab_size is ${config.vocabSize}`);
  }
  const genPath = join(dir, 'generation_config.json');
  const generationConfig = (await fs.stat(genPath).catch(() => null)) ? ((await readJson(genPath, op)) as Record<string, unknown>) : null;

  const mopts = { backend: opts.backend, maxTableElements: opts.maxTableElements };
  const model: HfCausalLM =
    config.architecture === 'GPT2LMHeadModel' ? new GPT2LMHeadModel(config, mopts) : new LlamaForCausalLM(config, mopts);
  try {
    await fillWeights(model, dir, files.entries);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  const name = config.raw._name_or_path;
  model.nameOrPath = typeof name === 'string' && name !== '' ? name : basename(resolve(dir));
  const dtype = files.dtype === 'F16' || files.dtype === 'BF16' ? files.dtype : 'F32';
  sources.set(model, { dir, dtype });
  return { model, tokenizer, config, generationConfig };
}

/**
 * Where each HF tensor lives in the model: its parameter, or the row blocks of a BlockedEmbedding
 * (a table too large for one buffer binding), with the shape the files hold (Conv1D: [in, out]).
 * Adapter layers map `<path>.weight` / `<path>.bias` to the wrapped base layer's parameters.
 */
interface Slot {
  /** Parameters holding consecutive row ranges of the (moragrad-layout) tensor. */
  parts: { p: Parameter; start: number }[];
  /** Shape in the files. */
  shape: number[];
  /** Stored [in, out], held [out, in]. */
  conv: boolean;
  /** The adapter wrapping this weight's layer (saveHF adds its ΔW when not merged). */
  adapter?: AdapterLinear;
}

function slotsOf(model: Module): Map<string, Slot> {
  const slots = new Map<string, Slot>();
  const owned = new Set<Parameter>();
  for (const [n, m] of model.namedModules()) {
    if (m instanceof BlockedEmbedding) {
      slots.set(`${n}.weight`, {
        parts: m.blocks.map((b) => ({ p: b.weight, start: b.start })),
        shape: [m.numEmbeddings, m.dim],
        conv: false,
      });
      for (const b of m.blocks) owned.add(b.weight);
    } else if (m instanceof AdapterLinear) {
      const conv = m.base instanceof Conv1D;
      const W = m.base.weight;
      slots.set(`${n}.weight`, { parts: [{ p: W, start: 0 }], shape: conv ? [W.shape[1], W.shape[0]] : [...W.shape], conv, adapter: m });
      if (m.base.bias) slots.set(`${n}.bias`, { parts: [{ p: m.base.bias, start: 0 }], shape: [...m.base.bias.shape], conv: false });
      for (const p of m.parameters()) owned.add(p);
    }
  }
  const conv = new Set<Parameter>();
  for (const [, m] of model.namedModules()) if (m instanceof Conv1D) conv.add(m.weight);
  for (const [n, p] of model.namedParameters()) {
    if (owned.has(p)) continue;
    const c = conv.has(p);
    slots.set(n, { parts: [{ p, start: 0 }], shape: c ? [p.shape[1], p.shape[0]] : [...p.shape], conv: c });
  }
  return slots;
}

/** Checks every file tensor against the model's slots, then copies them in. */
async function fillWeights(model: HfCausalLM, dir: string, entries: WeightEntry[]): Promise<void> {
  const op = 'loadHF';
  const slots = slotsOf(model);
  const used = entries.filter((e) => e.param !== null);
  const unexpected = used.filter((e) => !slots.has(e.param!)).map((e) => e.key);
  const have = new Set(used.map((e) => e.param));
  const missing = [...slots.keys()].filter((p) => !have.has(p));
  const problems: string[] = [];
  if (missing.length)
    problems.push(`missing weights: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8} more)` : ''}`);
  if (unexpected.length)
    problems.push(
      `tensors the model does not have: ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ` (+${unexpected.length - 8} more)` : ''}`,
    );
  for (const e of used) {
    const slot = slots.get(e.param!);
    if (!slot) continue;
    const s = e.info.shape;
    if (s.length !== slot.shape.length || s.some((d, i) => d !== slot.shape[i])) {
      problems.push(
        `'${e.key}' is ${fmtShape(s)}, the config makes it ${fmtShape(slot.shape)}${slot.conv ? ' (Conv1D, stored [in, out])' : ''}`,
      );
    }
  }
  if (problems.length) fail(op, `${dir} does not match its config.json (${model.config.architecture}): ${problems.join('; ')}`);
  const byFile = new Map<string, WeightEntry[]>();
  for (const e of used) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, list] of byFile) {
    const fh = await fs.open(join(dir, file), 'r');
    try {
      for (const e of list) {
        const slot = slots.get(e.param!)!;
        const { data, shape } = await readTensor(dir, e, slot.conv, fh);
        const cols = shape.slice(1).reduce((a, d) => a * d, 1);
        for (const { p, start } of slot.parts) {
          const t = tensor(data.subarray(start * cols, (start + p.shape[0]) * cols), p.shape, { backend: p.backend.name }); // rows [start, start + n)
          copyInto(p, t);
          t.dispose();
        }
      }
    } finally {
      await fh.close();
    }
  }
}

export interface SaveHFOptions {
  /** dtype of the weights: default the dtype loadHF read (F32 for models built here). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Largest shard in bytes (default 2 GiB); a model above it is written as shards with an index. */
  maxShardBytes?: number;
}

/**
 * The model's weights under HF's file keys, host float32 and in the files' layout: adapters that
 * are not merged have ΔW added (the merged model), Conv1D weights are transposed back to [in, out],
 * row blocks are joined, a tied head is left out (HF ties it on load).
 */
async function hfStateDict(model: HfCausalLM): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, slot] of slotsOf(model)) {
    const size = slot.shape.reduce((a, d) => a * d, 1);
    let data = new Float32Array(size);
    let at = 0;
    for (const { p } of slot.parts) {
      const a = slot.adapter;
      const w = a && !a.merged ? noGrad(() => tidy(() => add(p, a.deltaWeight()))) : p; // W + ΔW, (out, in)
      const d = await w.data();
      data.set(d, at);
      at += d.length;
      if (w !== p) w.dispose();
    }
    if (slot.conv) {
      const [I, O] = slot.shape;
      const t = new Float32Array(size);
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) t[i * O + o] = data[o * I + i];
      data = t;
    }
    out.set(key, { shape: slot.shape, data });
  }
  return out;
}

/**
 * Writes the model as a Hugging Face folder: config.json, model.safetensors (or shards and
 * model.safetensors.index.json), and the tokenizer / generation files of the folder it was loaded
 * from. Adapters are merged into the written weights (the model itself is not changed), so the
 * folder loads in transformers (`AutoModelForCausalLM.from_pretrained(dir)`) and here alike.
 */
export async function saveHF(model: HfCausalLM, dir: string, opts: SaveHFOptions = {}): Promise<void> {
  const op = 'saveHF';
  if (!(model instanceof LlamaForCausalLM) && !(model instanceof GPT2LMHeadModel))
    fail(op, `expects a model from loadHF (LlamaForCausalLM or GPT2LMHeadModel), got ${String((model as object)?.constructor?.name)}`);
  const src = sources.get(model);
  const dtype = opts.dtype ?? src?.dtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(dtype)) fail(op, `dtype must be 'F32', 'F16' or 'BF16', got '${String(dtype)}'`);
  const maxShard = opts.maxShardBytes ?? 2 * 2 ** 30;
  if (!(maxShard > 0)) fail(op, `maxShardBytes must be positive, got ${maxShard}`);
  if (src && resolve(src.dir) === resolve(dir)) fail(op, `${dir} is the folder the model was loaded from; write to a new folder`);
  const sd = await hfStateDict(model);
  const bytesPer = dtype === 'F32' ? 4 : 2;
  // shards in parameter order, each at most maxShard bytes (a larger single tensor gets its own)
  const shards: [string, { shape: number[]; data: Float32Array }][][] = [[]];
  let size = 0;
  let total = 0;
  for (const entry of sd) {
    const b = entry[1].data.length * bytesPer;
    if (size > 0 && size + b > maxShard) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(entry);
    size += b;
    total += b;
  }
  await fs.mkdir(dir, { recursive: true });
  const names =
    shards.length === 1
      ? [SINGLE_FILE]
      : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    const entries: Record<string, EncodeEntry> = {};
    for (const [k, t] of shard) {
      entries[k] = { dtype, shape: t.shape, data: t.data };
      weightMap[k] = names[i];
    }
    await writeFileAtomic(join(dir, names[i]), encodeSafetensors(entries, { format: 'pt' }));
  }
  // an index left by an earlier sharded save would take precedence over a new single file
  if (shards.length > 1)
    await writeFileAtomic(
      join(dir, INDEX_FILE),
      JSON.stringify({ metadata: { total_size: total }, weight_map: sortKeys(weightMap) }, null, 2),
    );
  else await fs.rm(join(dir, INDEX_FILE), { force: true });
  const raw = { ...model.config.raw, torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype] };
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(raw, null, 2));
  if (src) {
    for (const f of SIDE_FILES) {
      const from = join(src.dir, f);
      if (
        await fs.stat(from).then(
          (s) => s.isFile(),
          () => false,
        )
      )
        await writeFileAtomic(join(dir, f), await fs.readFile(from));
    }
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}
