// Creating tensors: from host data, constants, ranges and seeded random streams; dtype casts and
// moves between backends. Constants are written by a kernel (no host upload, no flush).
import type { Backend } from '../backend/interface.js';
import { defineKernel } from '../backend/interface.js';
import { type DType, isFloat, numberToF16Bits } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { checkShape, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { getBackend, type BackendName } from '../runtime.js';
import { record } from '../autograd.js';
import { run1 } from './apply.js';
import { grid1d } from './grid.js';
import { nextSeed, normalAt, streamKey, uniformAt } from './random.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** 'webgpu' or 'cpu'; the default backend (mg.init) otherwise. */
  backend?: BackendName;
}

const f32 = new Float32Array(1);
const asBits = (v: number, dtype: DType): number => {
  if (dtype === 'int32') return v | 0;
  if (dtype === 'float16') return (numberToF16Bits(v) * 0x10001) >>> 0; // the half twice: a word holds two
  f32[0] = v;
  return new Uint32Array(f32.buffer)[0];
};

interface FillParams {
  n: number;
  value: number;
  dtype: DType;
  start: number;
  step: number;
  mode: 'fill' | 'arange';
}

/** 32-bit words of n elements of `dtype` (float16 packs two per word). */
const words = (n: number, dtype: DType): number => (dtype === 'float16' ? Math.ceil(n / 2) : n);

const fillKernel = defineKernel<FillParams>({
  name: 'fill',
  label: (p) => p.mode,
  cpu: (_in, [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = p.mode === 'fill' ? p.value : p.start + i * p.step;
  },
  f16: 'own', // fill writes whole words: for float16 the half twice, ceil(n / 2) words
  gpu: {
    shader: 'fill',
    entry: 'fill',
    constants: (p) => ({ INT: p.dtype === 'int32' ? 1 : 0 }),
    uniforms: (p) => [
      ['u32', words(p.n, p.dtype)],
      ['u32', asBits(p.value, p.dtype)],
      ['f32', p.start],
      ['f32', p.step],
    ],
    workgroups: (p) => grid1d(words(p.n, p.dtype), 256),
  },
});
// `fill` and `arange` share a file and a Params struct but are two entry points; arange writes f32
// or i32 (float16 is arange's float32 cast).
const arangeKernel = defineKernel<FillParams>({ ...fillKernel, f16: undefined, gpu: { ...fillKernel.gpu, entry: 'arange' } });

function make(shape: readonly number[], opts: CreateOptions, op: string): { backend: Backend; dtype: DType; shape: number[] } {
  const s = checkShape(op, shape);
  const dtype = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'int32')
    fail(op, `unknown dtype '${String(dtype)}' (expected 'float32', 'float16' or 'int32')`);
  return { backend: getBackend(opts.backend), dtype, shape: s }; // sizes beyond the backend's limit: its alloc throws
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const FLOAT32_MAX = 3.4028234663852886e38;
/** The smallest magnitude that rounds to Inf in float16 (65504 + half an ulp). */
const FLOAT16_OVERFLOW = 65520;

/**
 * Checks one value for `dtype`: a number; for int32 an integer in [-2^31, 2^31 - 1]; for float32
 * NaN, ±Inf or a finite value within float32's range (beyond it the value would silently become Inf);
 * for float16 likewise within float16's (a finite value that would round to Inf).
 */
function checkValue(op: string, v: unknown, dtype: DType, where: string): void {
  if (typeof v !== 'number') fail(op, `${where} must be a number, got ${typeof v} ${JSON.stringify(v) ?? String(v)}`);
  if (dtype === 'int32') {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX)
      fail(op, `${where} = ${v} is not an int32 (an integer in [${INT32_MIN}, ${INT32_MAX}])`);
  } else if (dtype === 'float16') {
    if (Number.isFinite(v) && Math.abs(v) >= FLOAT16_OVERFLOW)
      fail(op, `${where} = ${v} is outside float16 range (largest finite float16 65504)`);
  } else if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX) {
    fail(op, `${where} = ${v} is outside float32 range (largest finite float32 ${FLOAT32_MAX})`);
  }
}

function finish(t: Tensor, opts: CreateOptions, op: string): Tensor {
  if (opts.requiresGrad) {
    if (!isFloat(t.dtype)) fail(op, `only float32 and float16 tensors can require grad, got ${t.describe()}`);
    t.requiresGrad = true;
  }
  return t;
}

/** A tensor holding `data` (flat or nested arrays, or a typed array) with the given shape. */
export function tensor(data: ArrayLike<number> | NestedInput, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  const flat = flatten(data);
  const sh = shape ?? inferShape(data);
  const { backend, dtype } = make(sh, opts, 'tensor');
  if (numel(sh) !== flat.length) fail('tensor', `${flat.length} values do not fill shape ${fmtShape(sh)} (${numel(sh)} elements)`);
  // Typed arrays hold numbers by construction; only their range can be wrong (Float64Array, Int32Array into float32 ...).
  const plain = !ArrayBuffer.isView(flat);
  const exact = (dtype === 'int32' && flat instanceof Int32Array) || (dtype === 'float32' && flat instanceof Float32Array);
  if (plain || !exact) for (let i = 0; i < flat.length; i++) checkValue('tensor', flat[i], dtype, `element ${i}`);
  return finish(new Tensor(backend.upload(flat, dtype), sh, dtype), opts, 'tensor');
}

export type NestedInput = number | NestedInput[];

function flatten(d: ArrayLike<number> | NestedInput): ArrayLike<number> {
  if (typeof d === 'number') return [d];
  if (!Array.isArray(d)) return d as ArrayLike<number>;
  if (d.length > 0 && Array.isArray(d[0])) return (d as unknown[]).flat(Infinity as 1) as number[];
  return d as number[];
}

function inferShape(d: ArrayLike<number> | NestedInput): number[] {
  if (typeof d === 'number') return [];
  const shape: number[] = [];
  let cur: unknown = d;
  while (Array.isArray(cur) || ArrayBuffer.isView(cur)) {
    shape.push((cur as ArrayLike<unknown>).length);
    cur = (cur as ArrayLike<unknown>)[0];
  }
  return shape;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const { backend, dtype, shape: s } = make(shape, opts, 'full');
  checkValue('full', value, dtype, 'value');
  const t = run1('full', fillKernel, [], { shape: s, dtype }, { n: numel(s), value, dtype, start: 0, step: 0, mode: 'fill' }, backend);
  return finish(t, opts, 'full');
}

export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

/** Same shape, dtype and backend as `t`. */
export function fullLike(t: Tensor, value: number, opts: Omit<CreateOptions, 'backend'> = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, ...opts, backend: t.backend.name });
}
export const zerosLike = (t: Tensor, opts: Omit<CreateOptions, 'backend'> = {}): Tensor => fullLike(t, 0, opts);
export const onesLike = (t: Tensor, opts: Omit<CreateOptions, 'backend'> = {}): Tensor => fullLike(t, 1, opts);

/** [start, end) by step, like torch.arange. `arange(n)` is 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (typeof step !== 'number' || step === 0 || !Number.isFinite(step))
    fail('arange', `step must be a non-zero finite number, got ${String(step)}`);
  for (const [k, v] of [
    ['start', start],
    ['end', end],
  ] as const)
    if (typeof v !== 'number' || !Number.isFinite(v)) fail('arange', `${k} must be a finite number, got ${String(v)}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const { backend, dtype } = make([n], opts, 'arange');
  if (dtype === 'float16')
    return finish(castNoGrad(arange(start, end, step, { ...opts, dtype: 'float32', requiresGrad: false }), 'float16'), opts, 'arange');
  if (n > 0)
    for (const [k, v] of [
      ['start', start],
      ['last value', start + (n - 1) * step],
    ] as const)
      checkValue('arange', v, dtype, k);
  const t = run1('arange', arangeKernel, [], { shape: [n], dtype }, { n, value: 0, dtype, start, step, mode: 'arange' }, backend);
  return finish(t, opts, 'arange');
}

export interface RandomOptions extends CreateOptions {
  /** Stream seed; the global sequence (mg.manualSeed) when absent. */
  seed?: number;
}

interface RandomParams {
  n: number;
  key: number;
  a: number;
  b: number;
  normal: boolean;
}

const randomKernel = defineKernel<RandomParams>({
  name: 'random',
  label: (p) => (p.normal ? 'randn' : 'rand'),
  cpu: (_in, [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = p.normal ? p.a + p.b * normalAt(p.key, i) : p.a + (p.b - p.a) * uniformAt(p.key, i);
  },
  gpu: {
    shader: 'random',
    constants: (p) => ({ NORMAL: p.normal ? 1 : 0 }),
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.key],
      ['f32', p.a],
      ['f32', p.b],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

function random(op: string, shape: readonly number[], opts: RandomOptions, normal: boolean, a: number, b: number): Tensor {
  const { backend, shape: s } = make(shape, { ...opts, dtype: 'float32' }, op);
  if (opts.dtype && !isFloat(opts.dtype)) fail(op, `random tensors are float32 or float16, got dtype '${String(opts.dtype)}'`);
  const key = streamKey(opts.seed ?? nextSeed());
  const t = run1(op, randomKernel, [], { shape: s }, { n: numel(s), key, a, b, normal }, backend);
  // float16: the float32 stream rounded to half (the same values, rounded, on every backend)
  return finish(opts.dtype === 'float16' ? castNoGrad(t, 'float16', true) : t, opts, op);
}

/** Uniform in [low, high). */
export const rand = (shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor =>
  random('rand', shape, opts, false, opts.low ?? 0, opts.high ?? 1);

/** Normal with mean and std (default 0, 1). */
export const randn = (shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor =>
  random('randn', shape, opts, true, opts.mean ?? 0, opts.std ?? 1);

/** float -> int32 as kernels/cast.wgsl: truncation toward zero, saturating at the int32 range, NaN -> 0. */
const toInt32 = (v: number): number => (Number.isNaN(v) ? 0 : Math.min(2 ** 31 - 1, Math.max(-(2 ** 31), Math.trunc(v))));

/** kernels/cast.wgsl's MODE. */
const CAST_MODE = { i32ToF32: 0, f32ToI32: 1, copy32: 2, f32ToF16: 3, f16ToF32: 4, copy16: 5 } as const;
type CastMode = keyof typeof CAST_MODE;

const castKernel = defineKernel<{ n: number; mode: CastMode }>({
  name: 'cast',
  label: (p) => (p.mode === 'copy32' || p.mode === 'copy16' ? 'clone' : `cast:${p.mode}`),
  // float16 outputs are rounded by the cpu backend (round to nearest even, as the kernel)
  cpu: ([x], [y], p) => {
    if (p.mode === 'f32ToI32') for (let i = 0; i < p.n; i++) y[i] = toInt32(x[i]);
    else y.set(x.subarray(0, p.n));
  },
  f16: 'own', // float16 buffers as u32 words of two halves, converted bit by bit
  gpu: {
    shader: 'cast',
    constants: (p) => ({ MODE: CAST_MODE[p.mode] }),
    uniforms: (p) => [['u32', p.n]],
    // modes writing halves run one invocation per output word
    workgroups: (p) => grid1d(p.mode === 'f32ToF16' || p.mode === 'copy16' ? Math.ceil(p.n / 2) : p.n, 256),
  },
});

/** The cast kernel's mode from one dtype to another (int32 <-> float16 goes through float32). */
function castMode(from: DType, to: DType): CastMode {
  if (from === to) return from === 'float16' ? 'copy16' : 'copy32';
  if (to === 'int32') return 'f32ToI32';
  if (from === 'int32') return 'i32ToF32';
  return to === 'float16' ? 'f32ToF16' : 'f16ToF32';
}

/** `cast` without recording the tape; `dispose` frees x (an intermediate). */
function castNoGrad(x: Tensor, dtype: DType, dispose = false): Tensor {
  if ((x.dtype === 'int32' && dtype === 'float16') || (x.dtype === 'float16' && dtype === 'int32')) {
    // exact through float32: every int32 with |v| <= 65504 is a float32, beyond it float16 is Inf
    return castNoGrad(castNoGrad(x, 'float32', dispose), dtype, true);
  }
  const y = run1('cast', castKernel, [x], { shape: x.shape, dtype }, { n: x.size, mode: castMode(x.dtype, dtype) });
  if (dispose) x.dispose();
  return y;
}

// d/dx cast(x) = 1 (between float dtypes)  -> dx = cast(dy, x.dtype)
/**
 * A copy converted to `dtype`. float32 -> float16 rounds to nearest even (beyond ±65504 by half an
 * ulp: ±Inf, as torch); float16 -> float32 is exact. float -> int truncates toward zero and
 * saturates at the int32 range; NaN becomes 0, where torch leaves it undefined. Differentiable
 * between float dtypes (the gradient is cast back); casts to or from int32 are not.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'int32')
    fail('cast', `unknown dtype '${String(dtype)}' (expected 'float32', 'float16' or 'int32')`);
  if (dtype === x.dtype) return clone(x);
  const y = castNoGrad(x, dtype);
  if (!isFloat(x.dtype) || !isFloat(dtype)) return y;
  return record(y, 'cast', [x], (g) => [castNoGrad(g, x.dtype)]);
}

// d/dx clone(x) = 1                  -> dx = dy
/** A copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  const y = run1('clone', castKernel, [x], { shape: x.shape, dtype: x.dtype }, { n: x.size, mode: castMode(x.dtype, x.dtype) });
  return record(y, 'clone', [x], (g) => [g]);
}

/** A copy on another backend (reads back and uploads; not differentiable). */
export async function to(x: Tensor, backend: BackendName): Promise<Tensor> {
  const b = getBackend(backend);
  const data = await x.data();
  const t = new Tensor(b.upload(data, x.dtype), x.shape, x.dtype);
  t.requiresGrad = x.requiresGrad && x.node === null;
  return t;
}
