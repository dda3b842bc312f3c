// safetensors files (https://github.com/huggingface/safetensors), written and read from scratch.
//
//   [ N: u64 little-endian ][ N bytes: UTF-8 JSON header, space-padded ][ data: contiguous bytes ]
//
// The header maps each tensor name to `{ "dtype": "F32", "shape": [2, 3], "data_offsets": [b, e] }`,
// offsets relative to the start of the data section, plus an optional "__metadata__" string->string
// map. Data is little-endian and row-major. The tensors must cover the data section exactly: no
// overlaps, no holes, nothing after the last tensor. The order of names in the JSON is free; the
// order of the byte ranges is what is checked.
//
// Reading converts every dtype to what moragrad holds: float dtypes (F64, F32, F16, BF16) become a
// Float32Array (exact but for F64, rounded to float32; a finite F64 beyond float32's range is an
// error; loadSafetensors makes F16 a float16 tensor, the others float32), integer
// dtypes (I64, I32, I8, U8, BOOL) become an Int32Array (an I64 outside int32 range, or a BOOL byte
// other than 0/1, is an error). Writing supports F32, I32, F16 and BF16 (round to nearest even).
// One file for one format: the writer, the reader and the header validation they share (dtype table,
// offsets, the checks the fuzz suite exercises) stay together so the format's rules are in one place.
import fs, { type FileHandle } from 'node:fs/promises';
import type { Tensor } from '../tensor.js';
import type { BackendName } from '../runtime.js';
import { tensor } from '../ops/creation.js';
import { bf16BitsToNumber, f16BitsToNumber, float32ToBf16Bits, numberToF16Bits } from '../dtype.js';
import { fail, fmtShape, MoragradError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { readRegularFile, requireRegularFile } from './files.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I8' | 'U8' | 'BOOL';
/** The dtypes `encodeSafetensors` can write. */
export type WritableDType = 'F32' | 'I32' | 'F16' | 'BF16';

/** Bytes per element of each dtype read here. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const WRITABLE: readonly string[] = ['F32', 'I32', 'F16', 'BF16'];
/** Valid safetensors dtypes that moragrad does not read (named in the error). */
const OTHER_SPEC_DTYPES = ['U16', 'I16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64'];
/** Upper bound on the header size (the reference implementation uses the same 100 MB limit). */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One entry of the header. */
export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** [begin, end) in bytes, relative to the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Name -> entry, in data order. */
  tensors: Record<string, TensorInfo>;
  metadata: Record<string, string>;
  /** N, the JSON header's length in bytes (including padding). */
  headerBytes: number;
  /** Where the data section starts in the file: 8 + N. */
  dataStart: number;
  /** Length of the data section in bytes. */
  dataBytes: number;
}

/** A decoded tensor on the host. `dtype` is the file's dtype; `data` is already converted. */
export interface HostTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A tensor to encode: `data` is row-major with numel(shape) values. */
export interface EncodeEntry {
  dtype: WritableDType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * The bytes of a safetensors file holding `tensors` (and string metadata). Tensors are laid out by
 * element size (largest first, so every tensor stays aligned to its element size) then by name, so
 * the same tensors always give the same bytes.
 */
export function encodeSafetensors(tensors: Record<string, EncodeEntry>, metadata?: Record<string, string>): Uint8Array {
  const op = 'encodeSafetensors';
  if (tensors === null || typeof tensors !== 'object')
    fail(op, `tensors must be an object of name -> { dtype, shape, data }, got ${String(tensors)}`);
  const entries = Object.entries(tensors).map(([name, t]) => {
    if (name === METADATA_KEY) fail(op, `'${METADATA_KEY}' is reserved for metadata and cannot name a tensor`);
    if (t === null || typeof t !== 'object') fail(op, `tensor '${name}' must be { dtype, shape, data }, got ${String(t)}`);
    if (!WRITABLE.includes(t.dtype))
      fail(op, `tensor '${name}': cannot write dtype '${String(t.dtype)}' (expected one of ${WRITABLE.join(', ')})`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(op, `tensor '${name}': shape ${Array.isArray(t.shape) ? fmtShape(t.shape) : String(t.shape)} must hold non-negative integers`);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!t.data || typeof t.data.length !== 'number') fail(op, `tensor '${name}': data must be an array of numbers`);
    if (t.data.length !== n) fail(op, `tensor '${name}': shape ${fmtShape(t.shape)} needs ${n} values, data has ${t.data.length}`);
    return { name, dtype: t.dtype, shape: [...t.shape], data: t.data, bytes: n * DTYPE_SIZE[t.dtype] };
  });
  entries.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      fail(op, `metadata must be an object of string -> string, got ${String(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(op, `metadata['${k}'] must be a string, got ${typeof v} (stringify it first)`);
    }
    setOwn(header, METADATA_KEY, { ...metadata });
  }
  let offset = 0;
  for (const e of entries) {
    setOwn(header, e.name, { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes] });
    offset += e.bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // data starts 8-byte aligned
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const e of entries) {
    writeData(view, pos, e.dtype, e.data, e.name);
    pos += e.bytes;
  }
  return out;
}

function writeData(view: DataView, pos: number, dtype: WritableDType, data: ArrayLike<number>, name: string): void {
  const n = data.length;
  switch (dtype) {
    case 'F32':
      // Tensors are laid out largest element first after an 8-aligned header, so pos % 4 === 0.
      if (littleEndian && (view.byteOffset + pos) % 4 === 0) new Float32Array(view.buffer, view.byteOffset + pos, n).set(data);
      else for (let i = 0; i < n; i++) view.setFloat32(pos + 4 * i, data[i], true);
      return;
    case 'I32':
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647)
          fail('encodeSafetensors', `tensor '${name}': element ${i} = ${v} is not an int32 (dtype I32)`);
        view.setInt32(pos + 4 * i, v, true);
      }
      return;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(pos + 2 * i, toF16(data[i]), true);
      return;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(pos + 2 * i, toBF16(data[i]), true);
      return;
  }
}

/** float -> IEEE half bits, round to nearest even from the exact value (src/dtype.ts). */
export const toF16 = numberToF16Bits;
/** IEEE half bits -> number (exact). */
export const fromF16 = f16BitsToNumber;
/** float (rounded to float32 first) -> bfloat16 bits, round to nearest even; NaN -> 0x7fc0 (as torch). */
export const toBF16 = float32ToBf16Bits;
/** bfloat16 bits -> number (exact). */
export const fromBF16 = bf16BitsToNumber;

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes a whole safetensors file held in memory. Throws a MoragradError on any malformation. */
export function decodeSafetensors(
  bytes: Uint8Array,
  op = 'decodeSafetensors',
): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) fail(op, `expected the file's bytes as a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
  // A plain Uint8Array view: Node's Buffer overrides slice() to return a view, not a copy.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, op);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, op);
  const tensors: Record<string, HostTensor> = {};
  for (const [name, info] of Object.entries(header.tensors)) {
    const [b, e] = info.dataOffsets;
    setOwn(tensors, name, {
      dtype: info.dtype,
      shape: info.shape,
      data: convert(bytes, header.dataStart + b, header.dataStart + e, info.dtype, name, op),
    });
  }
  return { tensors, metadata: header.metadata };
}

/** Reads and validates N, the header length, from the first 8 bytes of a `fileBytes`-byte file. */
function readHeaderLength(first8: Uint8Array, fileBytes: number, op: string): number {
  if (fileBytes < 8 || first8.length < 8)
    fail(op, `file is ${fileBytes} bytes, too short for the 8-byte header length (truncated or not a safetensors file)`);
  const big = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (big > BigInt(MAX_HEADER_BYTES)) {
    fail(
      op,
      `header length ${big} exceeds the ${MAX_HEADER_BYTES}-byte limit${big > BigInt(fileBytes - 8) ? ` and the file (${fileBytes} bytes)` : ''} (corrupt or not a safetensors file)`,
    );
  }
  const n = Number(big);
  if (n > fileBytes - 8)
    fail(
      op,
      `header length ${n} runs past the end of the file (${fileBytes} bytes; at most ${fileBytes - 8} available): truncated or not a safetensors file`,
    );
  if (n < 2) fail(op, `header length ${n} is too small to hold a JSON object`);
  return n;
}

/** Parses and validates the JSON header against a data section of `dataBytes` bytes. */
export function parseHeader(headerBytes: Uint8Array, dataBytes: number, op = 'parseHeader'): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(op, `header (${headerBytes.length} bytes) is not valid UTF-8`);
  }
  if (!text.startsWith('{')) fail(op, `header must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 16))}`);
  const root = parseJson(text, op);
  if (!(root instanceof Map)) fail(op, 'header must be a JSON object');

  const metadata: Record<string, string> = {};
  const list: { name: string; info: TensorInfo }[] = [];
  for (const [name, v] of root) {
    if (name === METADATA_KEY) {
      if (!(v instanceof Map)) fail(op, `'${METADATA_KEY}' must be an object of string -> string`);
      for (const [k, s] of v) {
        if (typeof s !== 'string') fail(op, `'${METADATA_KEY}'['${k}'] must be a string, got ${describeJson(s)}`);
        setOwn(metadata, k, s);
      }
      continue;
    }
    list.push({ name, info: tensorInfo(name, v, op) });
  }

  // The byte ranges, in order, must tile [0, dataBytes) exactly.
  const sorted = [...list].sort((a, b) => a.info.dataOffsets[0] - b.info.dataOffsets[0] || a.info.dataOffsets[1] - b.info.dataOffsets[1]);
  let expected = 0;
  let prev = '';
  for (const { name, info } of sorted) {
    const [b, e] = info.dataOffsets;
    if (e > dataBytes)
      fail(
        op,
        `tensor '${name}': data_offsets [${b}, ${e}] run past the end of the data section (${dataBytes} bytes): truncated file or bad offsets`,
      );
    if (b < expected) fail(op, `tensor '${name}': data_offsets [${b}, ${e}] overlap tensor '${prev}' (which ends at ${expected})`);
    if (b > expected)
      fail(
        op,
        `tensor '${name}': data_offsets [${b}, ${e}] leave a hole at bytes [${expected}, ${b}) of the data section${prev ? ` after tensor '${prev}'` : ''}`,
      );
    expected = e;
    prev = name;
  }
  if (expected !== dataBytes) {
    fail(
      op,
      `the data section is ${dataBytes} bytes but the tensors cover only ${expected}: ${dataBytes - expected} trailing bytes (the spec forbids holes)`,
    );
  }
  const tensors: Record<string, TensorInfo> = {};
  for (const { name, info } of sorted) setOwn(tensors, name, info);
  return { tensors, metadata, headerBytes: headerBytes.length, dataStart: 8 + headerBytes.length, dataBytes };
}

function tensorInfo(name: string, v: unknown, op: string): TensorInfo {
  const where = `tensor '${name}'`;
  if (!(v instanceof Map)) fail(op, `${where}: entry must be an object { dtype, shape, data_offsets }, got ${describeJson(v)}`);
  const dtype = v.get('dtype');
  const shape = v.get('shape');
  const offsets = v.get('data_offsets');
  if (typeof dtype !== 'string') fail(op, `${where}: 'dtype' must be a string, got ${describeJson(dtype)}`);
  if (!(dtype in DTYPE_SIZE)) {
    if (OTHER_SPEC_DTYPES.includes(dtype))
      fail(op, `${where}: dtype '${dtype}' is not supported (moragrad reads ${Object.keys(DTYPE_SIZE).join(', ')})`);
    fail(op, `${where}: unknown dtype '${dtype}' (expected one of ${Object.keys(DTYPE_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    fail(op, `${where}: 'shape' must be an array of non-negative integers, got ${describeJson(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    fail(op, `${where}: 'data_offsets' must be [begin, end] with non-negative integers, got ${describeJson(offsets)}`);
  }
  const [b, e] = offsets as number[];
  if (e < b) fail(op, `${where}: data_offsets [${b}, ${e}] end before they begin`);
  const size = DTYPE_SIZE[dtype as SafetensorsDType];
  let numel = 1;
  for (const d of shape as number[]) numel *= d;
  if (!Number.isSafeInteger(numel * size) || numel * size !== e - b) {
    fail(
      op,
      `${where}: shape ${fmtShape(shape as number[])} of ${dtype} needs ${numel * size} bytes but data_offsets [${b}, ${e}] hold ${e - b}`,
    );
  }
  return { dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], dataOffsets: [b, e] };
}

/**
 * One tensor's bytes (as stored in the data section, `dtype` little-endian) as moragrad host data:
 * float dtypes -> Float32Array, integer dtypes -> Int32Array (range-checked). For readers that fetch
 * tensors one at a time from a file (readSafetensorsHeader + the byte range of `dataOffsets`).
 */
export function decodeTensorBytes(
  bytes: Uint8Array,
  dtype: SafetensorsDType,
  name: string,
  op = 'decodeTensorBytes',
): Float32Array | Int32Array {
  if (bytes.length % DTYPE_SIZE[dtype] !== 0)
    fail(op, `tensor '${name}': ${bytes.length} bytes is not a whole number of ${dtype} elements`);
  return convert(bytes, 0, bytes.length, dtype, name, op);
}

/** Bytes [b, e) of `bytes` as moragrad host data. */
function convert(bytes: Uint8Array, b: number, e: number, dtype: SafetensorsDType, name: string, op: string): Float32Array | Int32Array {
  const size = DTYPE_SIZE[dtype];
  const n = (e - b) / size;
  const view = new DataView(bytes.buffer, bytes.byteOffset + b, e - b);
  // slice() copies into a fresh, aligned ArrayBuffer, so typed-array views over it are legal.
  switch (dtype) {
    case 'F32':
      if (littleEndian) return new Float32Array(bytes.slice(b, e).buffer);
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case 'I32':
      if (littleEndian) return new Int32Array(bytes.slice(b, e).buffer);
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getFloat64(8 * i, true);
        out[i] = v;
        if (Number.isFinite(v) && !Number.isFinite(out[i]))
          fail(op, `tensor '${name}': F64 element ${i} = ${v} is outside float32 range (moragrad holds float32)`);
      }
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = fromF16(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = fromBF16(view.getUint16(2 * i, true));
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n)
          fail(op, `tensor '${name}': I64 element ${i} = ${v} is outside int32 range (moragrad holds int32)`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I8':
      return Int32Array.from(new Int8Array(bytes.slice(b, e).buffer));
    case 'U8':
      return Int32Array.from(bytes.subarray(b, e));
    case 'BOOL': {
      const src = bytes.subarray(b, e);
      const i = src.findIndex((x) => x > 1);
      if (i >= 0) fail(op, `tensor '${name}': BOOL element ${i} is byte ${src[i]} (expected 0 or 1)`);
      return Int32Array.from(src);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A strict JSON parser: objects become Maps (so duplicate names are caught and '__proto__' is just a
// name), nesting is bounded (no stack overflow on hostile input), and errors give the byte offset.

const MAX_DEPTH = 64;
const LITERALS: [string, unknown][] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

function parseJson(src: string, op: string): unknown {
  let i = 0;
  const err = (what: string): never => fail(op, `header is not valid JSON: ${what} at character ${i}`);
  const ws = () => {
    while (i < src.length) {
      const c = src.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < src.length) {
      const c = src.charCodeAt(i);
      if (c === 0x22) {
        i++;
        try {
          return JSON.parse(src.slice(start, i)) as string;
        } catch {
          i = start;
          return err('invalid string (bad escape or control character)');
        }
      }
      i += c === 0x5c ? 2 : 1;
    }
    i = start;
    return err('unterminated string');
  };
  const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) err(`nesting deeper than ${MAX_DEPTH}`);
    ws();
    const c = src[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, unknown>();
      ws();
      if (src[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (src[i] !== '"') err('expected a quoted name');
        const keyAt = i;
        const key = str();
        if (obj.has(key)) {
          i = keyAt;
          fail(
            op,
            `header has a duplicate name ${JSON.stringify(key)} (at character ${keyAt}${depth === 0 ? '; each tensor name must appear once' : ''})`,
          );
        }
        ws();
        if (src[i] !== ':') err("expected ':'");
        i++;
        obj.set(key, value(depth + 1));
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === '}') {
          i++;
          return obj;
        }
        err("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (src[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === ']') {
          i++;
          return arr;
        }
        err("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [word, v] of LITERALS) {
      if (src.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    num.lastIndex = i;
    const m = num.exec(src);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return err(i >= src.length ? 'unexpected end' : `unexpected ${JSON.stringify(src[i])}`);
  };
  const v = value(0);
  ws();
  if (i !== src.length) err('trailing characters after the object (only space padding is allowed)');
  return v;
}

function describeJson(v: unknown): string {
  if (v instanceof Map) return 'an object';
  if (v === undefined) return 'nothing (missing)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** obj[key] = value as an own property, even for '__proto__'. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Files and tensors

export interface SaveOptions {
  /** dtype for float32 tensors: 'F32' (default, exact), 'F16' or 'BF16' (half the size, rounded). */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

/**
 * Saves tensors (read back from their backend) to `path` atomically. float32 tensors are written as
 * F32 (or `floatDtype`, rounded to nearest even), float16 tensors as F16 (exact), int32 tensors as
 * I32. Metadata values must be strings.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  opts: SaveOptions = {},
): Promise<void> {
  const op = `saveSafetensors(${path})`;
  const floatDtype = opts.floatDtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(floatDtype)) fail(op, `floatDtype must be 'F32', 'F16' or 'BF16', got '${String(floatDtype)}'`);
  const entries: Record<string, EncodeEntry> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (!t || typeof t.data !== 'function') fail(op, `'${name}' is not a Tensor`);
    if (t.isDisposed) fail(op, `'${name}' (${t.describe()}) was disposed`);
    const dtype = t.dtype === 'int32' ? 'I32' : t.dtype === 'float16' ? 'F16' : floatDtype;
    setOwn(entries, name, { dtype, shape: t.shape, data: await t.data() });
  }
  let bytes: Uint8Array;
  try {
    bytes = encodeSafetensors(entries, metadata);
  } catch (e) {
    throw withOp(e, op);
  }
  await writeFileAtomic(path, bytes);
}

export interface LoadOptions {
  /** Backend for the tensors; the default backend otherwise. */
  backend?: BackendName;
  /** Load only these tensors (all must exist). */
  names?: readonly string[];
  /** Accept NaN / ±Inf in float tensors (to inspect a broken file); by default they are an error naming the tensor. */
  allowNonFinite?: boolean;
  /** 'float32': load F16 tensors as float32 too (exact); by default they load as float16. */
  float16As?: 'float16' | 'float32';
}

/** Throws from `op` naming the first float tensor holding NaN or ±Inf: its name, the count and the first index. */
export function checkFiniteHost(tensors: Record<string, { data: Float32Array | Int32Array }>, op: string, what = 'tensor'): void {
  for (const [name, t] of Object.entries(tensors)) {
    const d = t.data;
    if (!(d instanceof Float32Array)) continue;
    let first = -1;
    let count = 0;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (count > 0) {
      fail(
        op,
        `${what} '${name}' holds ${count} non-finite value${count > 1 ? 's' : ''} (the first, at flat index ${first}, is ${d[first]}); the file is damaged or was saved after training diverged (pass allowNonFinite to load it anyway)`,
      );
    }
  }
}

/**
 * Loads every tensor of a safetensors file: F16 as float16 (or float32 with `float16As`), the other
 * float dtypes as float32 (BF16 exactly; F64 rounded), integer dtypes as int32. The whole file is
 * validated before any tensor is created, finiteness included (unless allowNonFinite).
 */
export async function loadSafetensors(path: string, opts: LoadOptions = {}): Promise<Record<string, Tensor>> {
  const op = `loadSafetensors(${path})`;
  const bytes = await readRegularFile(path, op);
  const { tensors } = decodeSafetensors(bytes, op);
  const wanted = opts.names ?? Object.keys(tensors);
  for (const n of wanted)
    if (!Object.hasOwn(tensors, n))
      fail(
        op,
        `no tensor named '${n}' (the file has ${Object.keys(tensors).length}: ${Object.keys(tensors).slice(0, 8).join(', ')}${Object.keys(tensors).length > 8 ? ', ...' : ''})`,
      );
  if (!opts.allowNonFinite) checkFiniteHost(Object.fromEntries(wanted.map((n) => [n, tensors[n]])), op);
  const out: Record<string, Tensor> = {};
  try {
    for (const name of wanted) {
      const t = tensors[name];
      const dtype = !(t.data instanceof Float32Array) ? 'int32' : t.dtype === 'F16' ? (opts.float16As ?? 'float16') : 'float32';
      setOwn(out, name, tensor(t.data, t.shape, { dtype, backend: opts.backend }));
    }
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** Reads and validates only the header of a safetensors file (does not read the data). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const op = `readSafetensorsHeader(${path})`;
  requireRegularFile(path, op); // opening a FIFO would block
  let fh: FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    fail(op, `cannot open the file: ${(e as Error).message}`);
  }
  try {
    const size = (await fh.stat()).size;
    const first = new Uint8Array(8);
    await fh.read(first, 0, Math.min(8, size), 0);
    const n = readHeaderLength(first, size, op);
    const header = new Uint8Array(n);
    const { bytesRead } = await fh.read(header, 0, n, 8);
    if (bytesRead !== n) fail(op, `file shrank while reading: got ${bytesRead} of ${n} header bytes`);
    return parseHeader(header, size - 8 - n, op);
  } finally {
    await fh.close();
  }
}

function withOp(e: unknown, op: string): unknown {
  if (e instanceof MoragradError) return new MoragradError(op, e.message.replace(/^[^:]*: /, ''));
  return e;
}
