// TensorFlow.js graph-model weights (the `tensorflowjs_converter` layout), read from scratch:
//
//   model.json       { "modelTopology": {...graph...}, "weightsManifest": [ group, ... ] }
//   group            { "paths": ["group1-shard1of7", ...], "weights": [ entry, ... ] }
//   entry            { "name": "...", "shape": [512, 1536], "dtype": "float32",
//                      "quantization"?: { "dtype": "uint8" | "uint16" | "float16", "scale"?, "min"? } }
//   group1-shardKofN raw little-endian bytes
//
// A group's shards, concatenated in `paths` order, hold its weights back to back in `weights` order
// with no padding (float32/int32: 4 bytes an element, bool: 1; quantized: 1 (uint8), 2 (uint16,
// float16)). Nothing else describes the layout, so the checks are: the manifest is well formed
// (names unique, shapes of non-negative integers, known dtypes, shard paths inside the model's
// folder), every shard exists, and the shards' total length equals what the weights need exactly (a
// short or long shard is named with its size). `expect` adds per-tensor shape/dtype checks, so a
// loader for a known architecture fails on the first wrong tensor with both shapes.
//
// Reading gives host arrays: float32 (and dequantized float) -> Float32Array, int32 -> Int32Array,
// bool -> Uint8Array. String and complex64 weights are not supported (named in the error).
import fs from 'node:fs/promises';
import path from 'node:path';
import { fail, fmtShape } from '../errors.js';
import { fromF16 } from './safetensors.js';

export type TfjsDType = 'float32' | 'int32' | 'bool';
type QuantDType = 'uint8' | 'uint16' | 'float16';

/** One weight of the manifest, with where its bytes lie in its group. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: TfjsDType;
  quantization?: { dtype: QuantDType; scale?: number; min?: number };
  /** Index of its group in weightsManifest. */
  group: number;
  /** Byte offset in the group's concatenated shards, and byte length. */
  offset: number;
  bytes: number;
}

export interface TfjsGroup {
  /** Shard paths as written in the manifest (relative to model.json's folder). */
  paths: string[];
  /** Total bytes the group's weights need. */
  bytes: number;
}

export interface TfjsManifest {
  weights: TfjsWeightSpec[];
  groups: TfjsGroup[];
  /** The graph (`modelTopology`), untouched, when present. */
  modelTopology?: unknown;
  format?: string;
}

/** A decoded weight on the host. */
export interface TfjsTensor {
  name: string;
  dtype: TfjsDType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Expected shape and (optionally) dtype of a named weight. */
export interface TfjsExpect {
  shape: readonly number[];
  dtype?: TfjsDType;
}

export interface LoadTfjsOptions {
  /** Checked before any data is read: each named weight must exist with this shape (and dtype). */
  expect?: Record<string, TfjsExpect>;
  /** Decode only these weights (all must exist). Default: all. */
  names?: readonly string[];
}

const ELEMENT_BYTES: Record<TfjsDType, number> = { float32: 4, int32: 4, bool: 1 };
const QUANT_BYTES: Record<QuantDType, number> = { uint8: 1, uint16: 2, float16: 2 };
const UNSUPPORTED = ['string', 'complex64'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a parsed model.json and lays out its weights. `op` prefixes error messages (the loader
 * passes `loadTfjsWeights(<path>)`).
 */
export function parseTfjsManifest(json: unknown, op = 'parseTfjsManifest'): TfjsManifest {
  if (!isObject(json)) fail(op, `model.json must be a JSON object, got ${Array.isArray(json) ? 'an array' : String(json)}`);
  const wm = json.weightsManifest;
  if (!Array.isArray(wm))
    fail(
      op,
      `model.json has no 'weightsManifest' array (got ${wm === undefined ? 'nothing' : typeof wm}); is this a TensorFlow.js graph or layers model?`,
    );
  if (wm.length === 0) fail(op, "'weightsManifest' is empty: the model has no weight groups");
  const weights: TfjsWeightSpec[] = [];
  const groups: TfjsGroup[] = [];
  const seen = new Set<string>();
  wm.forEach((g, gi) => {
    const where = `weightsManifest[${gi}]`;
    if (!isObject(g)) fail(op, `${where} must be an object { paths, weights }, got ${String(g)}`);
    if (!Array.isArray(g.paths) || g.paths.length === 0 || g.paths.some((p) => typeof p !== 'string' || p === '')) {
      fail(op, `${where}.paths must be a non-empty array of shard file names, got ${JSON.stringify(g.paths)}`);
    }
    for (const p of g.paths as string[]) {
      if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..'))
        fail(op, `${where}.paths: shard '${p}' must be a relative path inside the model's folder`);
    }
    if (!Array.isArray(g.weights)) fail(op, `${where}.weights must be an array, got ${JSON.stringify(g.weights)}`);
    let offset = 0;
    g.weights.forEach((w, wi) => {
      const at = `${where}.weights[${wi}]`;
      if (!isObject(w)) fail(op, `${at} must be an object { name, shape, dtype }, got ${String(w)}`);
      const name = w.name;
      if (typeof name !== 'string' || name === '') fail(op, `${at}.name must be a non-empty string, got ${JSON.stringify(name)}`);
      const label = `${at} '${name}'`;
      if (seen.has(name)) fail(op, `${label}: duplicate weight name (each name must appear once)`);
      seen.add(name);
      const shape = w.shape;
      if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
        fail(op, `${label}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      }
      const dtype = w.dtype;
      if (typeof dtype === 'string' && UNSUPPORTED.includes(dtype))
        fail(op, `${label}: dtype '${dtype}' is not supported (float32, int32 and bool are)`);
      if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool')
        fail(op, `${label}: unknown dtype ${JSON.stringify(dtype)} (expected float32, int32 or bool)`);
      let quantization: TfjsWeightSpec['quantization'];
      let elBytes = ELEMENT_BYTES[dtype];
      if (w.quantization !== undefined) {
        const q = w.quantization;
        if (!isObject(q) || (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16')) {
          fail(op, `${label}: quantization must be { dtype: 'uint8' | 'uint16' | 'float16', scale, min }, got ${JSON.stringify(q)}`);
        }
        const qd = q.dtype as QuantDType;
        if (qd !== 'float16') {
          if (typeof q.scale !== 'number' || typeof q.min !== 'number' || !Number.isFinite(q.scale) || !Number.isFinite(q.min)) {
            fail(op, `${label}: ${qd} quantization needs finite numbers 'scale' and 'min', got ${JSON.stringify(q)}`);
          }
        } else if (dtype !== 'float32') fail(op, `${label}: float16 quantization applies to float32 weights, not ${dtype}`);
        quantization = { dtype: qd, scale: q.scale as number | undefined, min: q.min as number | undefined };
        elBytes = QUANT_BYTES[qd];
      }
      const n = (shape as number[]).reduce((a, b) => a * b, 1);
      const bytes = n * elBytes;
      weights.push({ name, shape: [...(shape as number[])], dtype, quantization, group: gi, offset, bytes });
      offset += bytes;
    });
    groups.push({ paths: [...(g.paths as string[])], bytes: offset });
  });
  return { weights, groups, modelTopology: json.modelTopology, format: typeof json.format === 'string' ? json.format : undefined };
}

/** Checks `expect` against the manifest: every named weight present, same shape, same dtype. */
export function checkExpected(manifest: TfjsManifest, expect: Record<string, TfjsExpect>, op = 'checkExpected'): void {
  const byName = new Map(manifest.weights.map((w) => [w.name, w]));
  const problems: string[] = [];
  for (const [name, e] of Object.entries(expect)) {
    const w = byName.get(name);
    if (!w) problems.push(`missing weight '${name}'`);
    else if (w.shape.length !== e.shape.length || w.shape.some((d, i) => d !== e.shape[i]))
      problems.push(`'${name}' has shape ${fmtShape(w.shape)}, expected ${fmtShape(e.shape)}`);
    else if (e.dtype && w.dtype !== e.dtype) problems.push(`'${name}' has dtype ${w.dtype}, expected ${e.dtype}`);
  }
  if (problems.length)
    fail(
      op,
      `the weights do not match the expected architecture: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}`,
    );
}

/**
 * Decodes weights from each group's concatenated shard bytes (`groupBytes[g]`, exactly
 * `manifest.groups[g].bytes` long).
 */
export function decodeTfjsWeights(
  manifest: TfjsManifest,
  groupBytes: readonly Uint8Array[],
  names?: readonly string[],
  op = 'decodeTfjsWeights',
): Record<string, TfjsTensor> {
  if (groupBytes.length !== manifest.groups.length)
    fail(op, `expected bytes for ${manifest.groups.length} weight groups, got ${groupBytes.length}`);
  manifest.groups.forEach((g, i) => {
    if (groupBytes[i].length !== g.bytes) fail(op, `weight group ${i} needs ${g.bytes} bytes, got ${groupBytes[i].length}`);
  });
  const byName = new Map(manifest.weights.map((w) => [w.name, w]));
  const wanted = names ?? manifest.weights.map((w) => w.name);
  const out: Record<string, TfjsTensor> = Object.create(null) as Record<string, TfjsTensor>;
  for (const name of wanted) {
    const w = byName.get(name);
    if (!w) fail(op, `no weight named '${name}' (the manifest has ${byName.size}: ${[...byName.keys()].slice(0, 4).join(', ')}, ...)`);
    out[name] = { name, dtype: w.dtype, shape: [...w.shape], data: decodeOne(w, groupBytes[w.group]) };
  }
  return out;
}

function decodeOne(w: TfjsWeightSpec, group: Uint8Array): Float32Array | Int32Array | Uint8Array {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(group.buffer, group.byteOffset + w.offset, w.bytes);
  const q = w.quantization;
  if (q) {
    const out = w.dtype === 'int32' ? new Int32Array(n) : w.dtype === 'bool' ? new Uint8Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let v: number;
      if (q.dtype === 'float16') v = fromF16(view.getUint16(2 * i, true));
      else v = (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(2 * i, true)) * (q.scale as number) + (q.min as number);
      out[i] = w.dtype === 'float32' ? v : Math.round(v);
    }
    return out;
  }
  if (w.dtype === 'bool') return group.slice(w.offset, w.offset + w.bytes);
  const out = w.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  if (w.dtype === 'int32') for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** Reads and validates model.json (no shard is read). */
export async function readTfjsManifest(modelJsonPath: string): Promise<TfjsManifest> {
  const op = `loadTfjsWeights(${modelJsonPath})`;
  let text: string;
  try {
    text = await fs.readFile(modelJsonPath, 'utf8');
  } catch (e) {
    fail(op, `cannot read model.json: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(op, `model.json is not valid JSON (${(e as Error).message}); the file may be truncated or corrupted`);
  }
  return parseTfjsManifest(json, op);
}

/**
 * Loads the weights of a TensorFlow.js graph model: validates model.json, checks `expect`, reads each
 * group's shards (each must exist; their total length must equal what the manifest needs) and
 * decodes the weights. Errors name the file, the group and the sizes.
 */
export async function loadTfjsWeights(
  modelJsonPath: string,
  opts: LoadTfjsOptions = {},
): Promise<{ manifest: TfjsManifest; weights: Record<string, TfjsTensor> }> {
  const op = `loadTfjsWeights(${modelJsonPath})`;
  const manifest = await readTfjsManifest(modelJsonPath);
  if (opts.expect) checkExpected(manifest, opts.expect, op);
  const dir = path.dirname(modelJsonPath);
  const wantedGroups = new Set<number>();
  const byName = new Map(manifest.weights.map((w) => [w.name, w]));
  for (const n of opts.names ?? manifest.weights.map((w) => w.name)) {
    const w = byName.get(n);
    if (!w) fail(op, `no weight named '${n}'`);
    wantedGroups.add(w.group);
  }
  const groupBytes: Uint8Array[] = [];
  for (const [gi, g] of manifest.groups.entries()) {
    if (!wantedGroups.has(gi)) {
      groupBytes.push(new Uint8Array(g.bytes)); // not decoded
      continue;
    }
    const parts: Uint8Array[] = [];
    for (const p of g.paths) {
      try {
        parts.push(await fs.readFile(path.join(dir, p)));
      } catch (e) {
        fail(op, `cannot read shard '${p}' of weight group ${gi}: ${(e as Error).message}`);
      }
    }
    const total = parts.reduce((s, b) => s + b.length, 0);
    if (total !== g.bytes) {
      const sizes = g.paths.map((p, i) => `${p}: ${parts[i].length}`).join(', ');
      fail(
        op,
        `weight group ${gi}: its ${g.paths.length} shard(s) hold ${total} bytes but its ${manifest.weights.filter((w) => w.group === gi).length} weights need ${g.bytes} ` +
          `(${total < g.bytes ? `${g.bytes - total} bytes short: a shard is truncated or missing data` : `${total - g.bytes} bytes too many: the manifest does not describe the shards`}; sizes ${sizes})`,
      );
    }
    const bytes = new Uint8Array(total);
    let pos = 0;
    for (const b of parts) {
      bytes.set(b, pos);
      pos += b.length;
    }
    groupBytes.push(bytes);
  }
  return { manifest, weights: decodeTfjsWeights(manifest, groupBytes, opts.names, op) };
}
