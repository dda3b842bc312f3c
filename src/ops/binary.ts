// Elementwise functions of two tensors with NumPy broadcasting: out = a ∘ b, and `where`.
// One kernel (kernels/binary.wgsl) specialised per op; a number operand becomes a scalar tensor made by
// the fill kernel, or for + - × ÷ folds into the unary affine kernel (one dispatch).
import { record } from '../autograd.js';
import { defineKernel, withConstants } from '../backend/interface.js';
import { f16round, isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { broadcastShapes, broadcastStrides, numel, sameShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { floatDtypeOf, run1 } from './apply.js';
import { full } from './creation.js';
import { elementwisePath, withVec4 } from './elementwise.js';
import { grid1d } from './grid.js';
import { sumTo } from './reduce.js';
import { unary } from './unary.js';

/** C's pow (torch.pow of two tensors): JS's ** but 1^NaN, 1^±Inf and (-1)^±Inf are 1. */
function cpow(x: number, z: number): number {
  if (z === 0 || x === 1 || (x === -1 && Math.abs(z) === Infinity)) return 1;
  return x ** z;
}

/** Op code (the OP constant of kernels/binary.wgsl) and the float64 reference. */
const OPS = {
  add: [0, (x: number, z: number) => x + z],
  sub: [1, (x: number, z: number) => x - z],
  mul: [2, (x: number, z: number) => x * z],
  div: [3, (x: number, z: number) => x / z],
  // NaN propagates; ties (-0 and 0) give x, as torch (Math.max(-0, 0) would give 0)
  // biome-ignore lint/complexity/useMathMinMax: Math.max(-0, 0) is 0; torch gives the first operand
  maximum: [4, (x: number, z: number) => (Number.isNaN(x) || Number.isNaN(z) ? NaN : x < z ? z : x)],
  // biome-ignore lint/complexity/useMathMinMax: Math.min(0, -0) is -0; torch gives the first operand
  minimum: [5, (x: number, z: number) => (Number.isNaN(x) || Number.isNaN(z) ? NaN : z < x ? z : x)],
  lt: [6, (x: number, z: number) => +(x < z)],
  le: [7, (x: number, z: number) => +(x <= z)],
  gt: [8, (x: number, z: number) => +(x > z)],
  ge: [9, (x: number, z: number) => +(x >= z)],
  eq: [10, (x: number, z: number) => +(x === z)],
  ne: [11, (x: number, z: number) => +(x !== z)],
  pow: [12, cpow],
  // d/dx x^z = z·x^(z-1), 0 where z = 0 (torch)
  pow_grad_base: [13, (x: number, z: number) => (z === 0 ? 0 : z * cpow(x, z - 1))],
  // d/dz x^z = x^z·ln x, 0 where x = 0 and z >= 0 (torch)
  pow_grad_exp: [14, (x: number, z: number) => (x === 0 && z >= 0 ? 0 : cpow(x, z) * Math.log(x))],
} as const satisfies Record<string, readonly [number, (x: number, z: number) => number]>;

export type BinaryOp = keyof typeof OPS;

/** kernels/binary.wgsl names the op codes by the keys in upper case (`case MAXIMUM:`). */
const SHADER = withConstants('binary', Object.fromEntries(Object.entries(OPS).map(([k, [code]]) => [k.toUpperCase(), code])));

interface BroadcastParams {
  n: number;
  out: number[];
  /** Strides of each input read as the output shape (0 on broadcast dims). */
  strides: number[][];
  same: boolean;
  /** Every input is out's shape or a trailing block of it: element i reads i mod its size. */
  suffix: boolean;
  /** Elements of each input. */
  sizes: number[];
}

/** `s` (leading 1s dropped) equals the last dims of `out`. */
function isSuffix(s: Shape, out: Shape): boolean {
  let k = 0;
  while (k < s.length && s[k] === 1) k++;
  const t = s.slice(k);
  return t.length <= out.length && t.every((d, i) => d === out[out.length - t.length + i]);
}

/** Flat input offsets of output element i (the cpu twin of the WGSL index loop). */
function offsets(p: BroadcastParams, i: number, out: number[]): void {
  let rem = i;
  out.fill(0);
  for (let d = p.out.length - 1; d >= 0; d--) {
    const c = rem % p.out[d];
    rem = Math.floor(rem / p.out[d]);
    for (let k = 0; k < out.length; k++) out[k] += c * p.strides[k][d];
  }
}

function broadcastParams(op: string, shapes: Shape[]): BroadcastParams {
  const outShape = shapes.reduce<number[]>((acc, s) => broadcastShapes(op, acc, s), []);
  if (outShape.length > 8) fail(op, `at most 8 dimensions are supported, got ${fmtShape(outShape)}`);
  return {
    n: numel(outShape),
    out: outShape,
    strides: shapes.map((s) => broadcastStrides(s, outShape)),
    same: shapes.every((s) => sameShape(s, outShape)),
    suffix: shapes.every((s) => isSuffix(s, outShape)),
    sizes: shapes.map(numel),
  };
}

const binaryKernel = defineKernel<BroadcastParams & { op: BinaryOp }>({
  name: 'binary',
  label: (p) => `binary:${p.op}`,
  cpu: ([a, b], [y], p) => {
    const f = OPS[p.op][1];
    if (p.same) {
      for (let i = 0; i < p.n; i++) y[i] = f(a[i], b[i]);
      return;
    }
    if (p.suffix) {
      for (let i = 0; i < p.n; i++) y[i] = f(a[i % p.sizes[0]], b[i % p.sizes[1]]);
      return;
    }
    const off = [0, 0];
    for (let i = 0; i < p.n; i++) {
      offsets(p, i, off);
      y[i] = f(a[off[0]], b[off[1]]);
    }
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    constants: (p) => ({ OP: OPS[p.op][0], SAME: p.same ? 1 : 0, SUFFIX: p.suffix && !p.same ? suffixMask(p) : 0 }),
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.out.length],
      ['u32', p.sizes[0]],
      ['u32', p.sizes[1]],
      ['dims', p.out],
      ['dims', p.strides[0]],
      ['dims', p.strides[1]],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

/** kernels/binary.wgsl SUFFIX: bit k set when input k is a trailing block (read i mod its size), clear when full. */
const suffixMask = (p: BroadcastParams): number => (p.sizes[0] !== p.n ? 1 : 0) | (p.sizes[1] !== p.n ? 2 : 0);

const BINARY = withVec4(binaryKernel);

/** Every op of the table (tests run each through both memory paths). */
export const binaryOps = (): BinaryOp[] => Object.keys(OPS) as BinaryOp[];

/** Four outputs per invocation: out's last dim a multiple of 4 and read whole by every input (no broadcast along it). */
const vec4ok = (p: BroadcastParams): boolean =>
  p.out.length > 0 && p.out[p.out.length - 1] % 4 === 0 && p.strides.every((s) => s[s.length - 1] === 1);

function asTensor(op: string, like: Tensor, v: Tensor | number): Tensor {
  if (typeof v === 'number') {
    // a number operand takes the tensor's float dtype (rounded to half for float16: beyond its range ±Inf, as torch)
    if (like.dtype === 'float16') return full([], f16round(v), { backend: like.backend.name, dtype: 'float16' });
    return full([], v, { backend: like.backend.name });
  }
  if (!v || typeof v !== 'object' || !('shape' in v)) fail(op, `expects a Tensor or a number, got ${String(v)}`);
  return v;
}

/** a ∘ b with broadcasting, without recording the tape. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(op, a, b);
  if (!isFloat(a.dtype) || !isFloat(bt.dtype)) fail(op, `expects float32 or float16 tensors, got ${a.describe()} and ${bt.describe()}`);
  floatDtypeOf(op, [a, bt]);
  const p = broadcastParams(op, [a.shape, bt.shape]);
  const y = run1(op, BINARY[elementwisePath(vec4ok(p))], [a, bt], { shape: p.out }, { ...p, op });
  if (bt !== b) bt.dispose();
  return y;
}

/** The gradient of a broadcast operand, summed back to its shape. */
const reduceTo = (g: Tensor, shape: Shape): Tensor => (sameShape(g.shape, shape) ? g : sumTo(g, shape));

/**
 * `x`'s share of the gradient `g(...)` (computed only when asked), summed back to x's shape; null when x
 * takes no gradient (a frozen bias: its column sum would be a wasted reduction every step).
 */
const gradTo = (x: Tensor, g: Tensor | (() => Tensor)): Tensor | null =>
  x.requiresGrad ? reduceTo(typeof g === 'function' ? g() : g, x.shape) : null;

// d(a + b) = da + db                      -> ga = g, gb = g (summed over broadcast dims)
export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return record(unary('affine', a, 1, b), 'add', [a], (g) => [g]);
  return record(binary('add', a, b), 'add', [a, b], (g) => [gradTo(a, g), gradTo(b, g)]);
}

// d(a - b) = da - db                      -> ga = g, gb = -g
export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return record(unary('affine', a, 1, -b), 'sub', [a], (g) => [g]);
  return record(binary('sub', a, b), 'sub', [a, b], (g) => [gradTo(a, g), gradTo(b, () => unary('neg', g))]);
}

// d(a · b) = b da + a db                  -> ga = g·b, gb = g·a
export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return record(unary('affine', a, b, 0), 'mul', [a], (g) => [unary('affine', g, b, 0)]);
  return record(binary('mul', a, b), 'mul', [a, b], (g) => [gradTo(a, () => binary('mul', g, b)), gradTo(b, () => binary('mul', g, a))], [
    a,
    b,
  ]);
}

// d(a / b) = da / b - a db / b²           -> ga = g / b, gb = -g·a / b²
export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return record(unary('affine', a, 1 / b, 0), 'div', [a], (g) => [unary('affine', g, 1 / b, 0)]);
  return record(
    binary('div', a, b),
    'div',
    [a, b],
    (g) => {
      const ga = binary('div', g, b);
      return [gradTo(a, ga), gradTo(b, () => unary('neg', binary('div', binary('mul', ga, a), b)))];
    },
    [a, b],
  );
}

// d max(a, b) = [a > b] da + [b > a] db, ties split ½ / ½ (as torch.maximum); where a or b is NaN
// neither loses and both get g (torch masks only the strict loser)
function extremum(op: 'maximum' | 'minimum', a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(op, a, b);
  const y = binary(op, a, bt);
  const inputs = bt === b ? [a, bt] : [a];
  const out = record(
    y,
    op,
    inputs,
    (g) => {
      const [loseA, loseB] = op === 'maximum' ? (['lt', 'gt'] as const) : (['gt', 'lt'] as const);
      const halfTie = unary('affine', binary('eq', a, bt), 0.5, 0);
      // weight 1 - [x loses] - ½ [tie]
      const weight = (lose: 'lt' | 'gt') => unary('affine', binary('add', binary(lose, a, bt), halfTie), -1, 1);
      const ga = reduceTo(binary('mul', g, weight(loseA)), a.shape);
      if (bt !== b) return [ga];
      return [ga, reduceTo(binary('mul', g, weight(loseB)), bt.shape)];
    },
    [a, bt],
  );
  if (bt !== b && !out.requiresGrad) bt.dispose(); // else the tape holds it until tidy frees it
  return out;
}
export const maximum = (a: Tensor, b: Tensor | number): Tensor => extremum('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor | number): Tensor => extremum('minimum', a, b);

// Comparisons give float masks of the operands' dtype (1 where true, else 0) and are not differentiable.
export const lt = (a: Tensor, b: Tensor | number): Tensor => binary('lt', a, b);
export const le = (a: Tensor, b: Tensor | number): Tensor => binary('le', a, b);
export const gt = (a: Tensor, b: Tensor | number): Tensor => binary('gt', a, b);
export const ge = (a: Tensor, b: Tensor | number): Tensor => binary('ge', a, b);
export const eq = (a: Tensor, b: Tensor | number): Tensor => binary('eq', a, b);
export const ne = (a: Tensor, b: Tensor | number): Tensor => binary('ne', a, b);

const whereKernel = defineKernel<BroadcastParams>({
  name: 'where',
  cpu: ([c, a, b], [y], p) => {
    const off = [0, 0, 0];
    for (let i = 0; i < p.n; i++) {
      offsets(p, i, off);
      y[i] = c[off[0]] !== 0 ? a[off[1]] : b[off[2]];
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'where',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.out.length],
      ['dims', p.out],
      ['dims', p.strides[0]],
      ['dims', p.strides[1]],
      ['dims', p.strides[2]],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

function whereRaw(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  floatDtypeOf('where', [cond, a, b]);
  const p = broadcastParams('where', [cond.shape, a.shape, b.shape]);
  return run1('where', whereKernel, [cond, a, b], { shape: p.out }, p);
}

// where(c, a, b): ga = where(c, g, 0), gb = where(c, 0, g)
/** cond ? a : b elementwise (cond: a float mask, nonzero = true), with broadcasting. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (!isFloat(cond.dtype)) fail('where', `cond must be a float32 or float16 mask (e.g. from x.gt(0)), got ${cond.describe()}`);
  const at = asTensor('where', cond, a);
  const bt = asTensor('where', cond, b);
  const y = whereRaw(cond, at, bt);
  const inputs = [at, bt].filter((t, i) => t === [a, b][i]);
  const res = record(
    y,
    'where',
    inputs,
    (g) => {
      const zero = full([], 0, { backend: g.backend.name, dtype: g.dtype });
      const grads: Tensor[] = [];
      if (at === a) grads.push(reduceTo(whereRaw(cond, g, zero), at.shape));
      if (bt === b) grads.push(reduceTo(whereRaw(cond, zero, g), bt.shape));
      zero.dispose();
      return grads;
    },
    [cond],
  );
  if (at !== a) at.dispose();
  if (bt !== b) bt.dispose();
  return res;
}

/** x^p elementwise with broadcasting, both operands tensors (C's pow; `pow` in unary.ts dispatches here). */
// d(a^b) = b·a^(b-1) da + a^b·ln(a) db    -> ga = g·b·a^(b-1) (0 where b = 0),
//                                            gb = g·a^b·ln(a) (0 where a = 0 and b >= 0), as torch
export function powTensor(a: Tensor, b: Tensor): Tensor {
  if (!b || typeof b !== 'object' || !('shape' in b)) fail('pow', `the exponent must be a number or a Tensor, got ${String(b)}`);
  return record(
    binary('pow', a, b),
    'pow',
    [a, b],
    (g) => [
      reduceTo(binary('mul', g, binary('pow_grad_base', a, b)), a.shape),
      reduceTo(binary('mul', g, binary('pow_grad_exp', a, b)), b.shape),
    ],
    [a, b],
  );
}
