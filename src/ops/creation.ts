// Creating tensors: from host data, constants, ranges and seeded random streams; dtype casts and
// moves between backends. Constants are written by a kernel (no host upload, no flush).
import type { Backend } from '../backend/interface.js';
import { defineKernel } from '../backend/interface.js';
import type { DType } from '../dtype.js';
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

const fillKernel = defineKernel<FillParams>({
  name: 'fill',
  label: (p) => p.mode,
  cpu: (_in, [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = p.mode === 'fill' ? p.value : p.start + i * p.step;
  },
  gpu: {
    shader: 'fill',
    entry: 'fill',
    constants: (p) => ({ INT: p.dtype === 'int32' ? 1 : 0 }),
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', asBits(p.value, p.dtype)],
      ['f32', p.start],
      ['f32', p.step],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});
// `fill` and `arange` share a file and a Params struct but are two entry points.
const arangeKernel = defineKernel<FillParams>({ ...fillKernel, gpu: { ...fillKernel.gpu, entry: 'arange' } });

function make(shape: readonly number[], opts: CreateOptions, op: string): { backend: Backend; dtype: DType; shape: number[] } {
  const s = checkShape(op, shape);
  const dtype = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') fail(op, `unknown dtype '${String(dtype)}' (expected 'float32' or 'int32')`);
  return { backend: getBackend(opts.backend), dtype, shape: s }; // sizes beyond the backend's limit: its alloc throws
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Checks one value for `dtype`: a number; for int32 an integer in [-2^31, 2^31 - 1]; for float32
 * NaN, ±Inf or a finite value within float32's range (beyond it the value would silently become Inf).
 */
function checkValue(op: string, v: unknown, dtype: DType, where: string): void {
  if (typeof v !== 'number') fail(op, `${where} must be a number, got ${typeof v} ${JSON.stringify(v) ?? String(v)}`);
  if (dtype === 'int32') {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX)
      fail(op, `${where} = ${v} is not an int32 (an integer in [${INT32_MIN}, ${INT32_MAX}])`);
  } else if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX) {
    fail(op, `${where} = ${v} is outside float32 range (largest finite float32 ${FLOAT32_MAX})`);
  }
}

function finish(t: Tensor, opts: CreateOptions, op: string): Tensor {
  if (opts.requiresGrad) {
    if (t.dtype !== 'float32') fail(op, 'only float32 tensors can require grad');
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
  if (opts.dtype && opts.dtype !== 'float32') fail(op, 'random tensors are float32');
  const key = streamKey(opts.seed ?? nextSeed());
  const t = run1(op, randomKernel, [], { shape: s }, { n: numel(s), key, a, b, normal }, backend);
  return finish(t, opts, op);
}

/** Uniform in [low, high). */
export const rand = (shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor =>
  random('rand', shape, opts, false, opts.low ?? 0, opts.high ?? 1);

/** Normal with mean and std (default 0, 1). */
export const randn = (shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor =>
  random('randn', shape, opts, true, opts.mean ?? 0, opts.std ?? 1);

/** float -> int32 as kernels/cast.wgsl: truncation toward zero, saturating at the int32 range, NaN -> 0. */
const toInt32 = (v: number): number => (Number.isNaN(v) ? 0 : Math.min(2 ** 31 - 1, Math.max(-(2 ** 31), Math.trunc(v))));

const castKernel = defineKernel<{ n: number; toInt: boolean }>({
  name: 'cast',
  cpu: ([x], [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = p.toInt ? toInt32(x[i]) : x[i];
  },
  gpu: {
    shader: 'cast',
    constants: (p) => ({ TO_INT: p.toInt ? 1 : 0 }),
    uniforms: (p) => [['u32', p.n]],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

/**
 * A copy converted to `dtype` (float -> int truncates toward zero and saturates at the int32 range;
 * NaN becomes 0, where torch leaves it undefined). Not differentiable.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (dtype === x.dtype) return clone(x);
  return run1('cast', castKernel, [x], { shape: x.shape, dtype }, { n: x.size, toInt: dtype === 'int32' });
}

const copyKernel = defineKernel<{ n: number }>({
  name: 'copy',
  cpu: ([x], [y], p) => y.set(x.subarray(0, p.n)),
  gpu: { shader: 'cast', constants: () => ({ TO_INT: 2 }), uniforms: (p) => [['u32', p.n]], workgroups: (p) => grid1d(p.n, 256) },
});

// d/dx clone(x) = 1                  -> dx = dy
/** A copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  const y = run1('clone', copyKernel, [x], { shape: x.shape, dtype: x.dtype }, { n: x.size });
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
