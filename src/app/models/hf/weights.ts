// The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({ metadata: { total_size }, weight_map: { name: file } }).
//
// File keys map to moragrad parameter names (HF's own): GPT-2 files written by the original
// release lack the `transformer.` prefix, causal-mask buffers (`h.<i>.attn.bias`, `attn.masked_bias`)
// and rotary `inv_freq` buffers are not parameters, and a tied head's `lm_head.weight` is the
// token embedding (ignored, as HF's tie_weights does). Conv1D weights are stored [in, out] and held
// [out, in]. Tensors are read one at a time (header first, then each byte range), so the host holds
// one tensor's bytes besides the model.
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { fail, fmtShape } from '../../../errors.js';
import { decodeTensorBytes, readSafetensorsHeader, type SafetensorsDType, type TensorInfo } from '../../../io/safetensors.js';
import type { HfArchitecture } from './config.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** One tensor of the folder: which file, where, and the parameter it fills (null: ignored). */
export interface WeightEntry {
  key: string;
  file: string;
  info: TensorInfo;
  /** Absolute byte offset of the tensor's data in `file`. */
  start: number;
  param: string | null;
}

export interface WeightFiles {
  /** 'single' (model.safetensors) or 'sharded' (an index). */
  layout: 'single' | 'sharded';
  files: string[];
  entries: WeightEntry[];
  /** The float dtype of the files' weights (the most common one). */
  dtype: SafetensorsDType;
}

/** The parameter a file key fills, or null for buffers that are not parameters. */
export function paramName(arch: HfArchitecture, key: string, tied: boolean): string | null {
  if (arch === 'GPT2LMHeadModel') {
    if (key === 'lm_head.weight') return null; // tied to transformer.wte
    const k = key.startsWith('transformer.') ? key : `transformer.${key}`;
    if (/\.attn\.(bias|masked_bias)$/.test(k)) return null; // causal-mask buffers of older checkpoints
    return k;
  }
  if (/\.rotary_emb\.inv_freq$/.test(key)) return null;
  if (tied && key === 'lm_head.weight') return null;
  return key;
}

/** Lists the folder's weight files and every tensor in them (headers only). */
export async function readWeightFiles(dir: string, arch: HfArchitecture, tied: boolean): Promise<WeightFiles> {
  const op = 'loadHF';
  const exists = (f: string) =>
    fs.stat(join(dir, f)).then(
      (s) => s.isFile(),
      () => false,
    );
  let layout: WeightFiles['layout'];
  let files: string[];
  let weightMap: Record<string, string> | null = null;
  if (await exists(INDEX_FILE)) {
    layout = 'sharded';
    let idx: { weight_map?: unknown };
    try {
      idx = JSON.parse(await fs.readFile(join(dir, INDEX_FILE), 'utf8')) as { weight_map?: unknown };
    } catch (e) {
      fail(op, `${join(dir, INDEX_FILE)} is not valid JSON: ${(e as Error).message}`);
    }
    const wm = idx.weight_map;
    if (!wm || typeof wm !== 'object' || Array.isArray(wm) || Object.values(wm).some((v) => typeof v !== 'string')) {
      fail(op, `${join(dir, INDEX_FILE)}: weight_map must be an object of tensor name -> shard file`);
    }
    weightMap = wm as Record<string, string>;
    files = [...new Set(Object.values(weightMap))];
    for (const f of files)
      if (f.includes('/') || f.includes('\\') || f.startsWith('.'))
        fail(op, `${join(dir, INDEX_FILE)}: shard name '${f}' must be a plain file name in the folder`);
    const absent = [];
    for (const f of files) if (!(await exists(f))) absent.push(f);
    if (absent.length)
      fail(
        op,
        `${dir}: ${INDEX_FILE} lists shard${absent.length > 1 ? 's' : ''} ${absent.join(', ')}, which ${absent.length > 1 ? 'are' : 'is'} missing`,
      );
  } else if (await exists(SINGLE_FILE)) {
    layout = 'single';
    files = [SINGLE_FILE];
  } else {
    const bin = (await exists('pytorch_model.bin')) || (await exists('pytorch_model.bin.index.json'));
    fail(
      op,
      `${dir} has neither ${SINGLE_FILE} nor ${INDEX_FILE}${bin ? '; it holds pytorch_model.bin (a PyTorch pickle, which moragrad does not read): convert it once with transformers, model.save_pretrained(dir, safe_serialization=True)' : ''}`,
    );
  }
  const entries: WeightEntry[] = [];
  const counts = new Map<SafetensorsDType, number>();
  for (const f of files) {
    const h = await readSafetensorsHeader(join(dir, f));
    for (const [key, info] of Object.entries(h.tensors)) {
      if (weightMap && weightMap[key] !== f) {
        fail(
          op,
          `${dir}: tensor '${key}' is in ${f} but ${INDEX_FILE} ${weightMap[key] ? `maps it to ${weightMap[key]}` : 'does not list it'}`,
        );
      }
      entries.push({ key, file: f, info, start: h.dataStart + info.dataOffsets[0], param: paramName(arch, key, tied) });
      counts.set(info.dtype, (counts.get(info.dtype) ?? 0) + 1);
    }
  }
  if (weightMap) {
    const found = new Set(entries.map((e) => e.key));
    const lost = Object.keys(weightMap).filter((k) => !found.has(k));
    if (lost.length)
      fail(
        op,
        `${dir}: ${INDEX_FILE} lists ${lost.slice(0, 5).join(', ')}${lost.length > 5 ? ` (+${lost.length - 5} more)` : ''}, which no shard holds`,
      );
  }
  const floats = [...counts].filter(([d]) => d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64').sort((a, b) => b[1] - a[1]);
  const seen = new Map<string, string>();
  for (const e of entries) {
    if (e.param === null) continue;
    const prev = seen.get(e.param);
    if (prev) fail(op, `${dir}: '${e.key}' and '${prev}' both fill parameter '${e.param}'`);
    seen.set(e.param, e.key);
  }
  return { layout, files, entries, dtype: floats[0]?.[0] ?? 'F32' };
}

/**
 * Reads one tensor as float32 host data in moragrad's layout: the stored shape, or for a Conv1D
 * weight ([in, out] stored) the transpose [out, in].
 */
export async function readTensor(
  dir: string,
  e: WeightEntry,
  transpose: boolean,
  fh: fs.FileHandle,
): Promise<{ data: Float32Array; shape: number[] }> {
  const op = `loadHF(${join(dir, e.file)})`;
  const n = e.info.dataOffsets[1] - e.info.dataOffsets[0];
  const bytes = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const { bytesRead } = await fh.read(bytes, off, n - off, e.start + off);
    if (bytesRead <= 0) fail(op, `file ended while reading tensor '${e.key}' (${off} of ${n} bytes)`);
    off += bytesRead;
  }
  const data = decodeTensorBytes(bytes, e.info.dtype, e.key, op);
  if (!(data instanceof Float32Array))
    fail(op, `tensor '${e.key}' has dtype ${e.info.dtype}; weights must be floating point (F32, F16, BF16)`);
  if (!transpose) return { data, shape: e.info.shape };
  if (e.info.shape.length !== 2) fail(op, `Conv1D weight '${e.key}' must be 2-D [in, out], got ${fmtShape(e.info.shape)}`);
  const [I, O] = e.info.shape;
  const t = new Float32Array(I * O);
  for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) t[o * I + i] = data[i * O + o];
  return { data: t, shape: [O, I] };
}
