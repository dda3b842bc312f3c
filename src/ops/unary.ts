// Elementwise functions of one tensor: y = f(x). One kernel (kernels/unary.wgsl) specialised per op
// by the override constant OP; the float64 loop below is the reference it is tested against.
import { record } from '../autograd.js';
import { defineKernel, withConstants } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { add, div, mul, powTensor } from './binary.js';
import { zerosLike } from './creation.js';
import { elementwisePath, withVec4 } from './elementwise.js';
import { grid1d } from './grid.js';
import { erf as erf64 } from './special.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Nearest integer, halves to even (torch.round, WGSL's round); -0 and ±Inf kept. */
function roundHalfEven(v: number): number {
  const r = Math.round(v); // halves up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Op code (the OP constant of kernels/unary.wgsl, which names each code by the key in upper case:
 * `case GELU_TANH:`) and the float64 reference.
 */
const OPS = {
  neg: [0, (v: number) => -v],
  exp: [1, Math.exp],
  log: [2, Math.log],
  sqrt: [3, Math.sqrt],
  rsqrt: [4, (v: number) => 1 / Math.sqrt(v)],
  abs: [5, Math.abs],
  relu: [6, (v: number) => Math.max(v, 0)],
  gelu_tanh: [7, (v: number) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)))],
  gelu_erf: [8, (v: number) => 0.5 * v * (1 + erf64(v / Math.SQRT2))],
  silu: [9, (v: number) => v / (1 + Math.exp(-v))],
  sigmoid: [10, (v: number) => 1 / (1 + Math.exp(-v))],
  tanh: [11, Math.tanh],
  // C's pow, but exponents ±0.5 are sqrt and rsqrt as in torch ((-Inf)^0.5 is NaN, (-0)^-0.5 is -Inf)
  pow: [12, (v: number, a: number) => (a === 0 ? 1 : a === 0.5 ? Math.sqrt(v) : a === -0.5 ? 1 / Math.sqrt(v) : v ** a)],
  affine: [13, (v: number, a: number, b: number) => a * v + b],
  sign: [14, (v: number) => (Number.isNaN(v) ? 0 : Math.sign(v))], // sign(NaN) = 0, as torch
  step: [15, (v: number) => (v > 0 || Number.isNaN(v) ? 1 : 0)], // relu' (1 at NaN, as torch)
  gelu_tanh_grad: [
    16,
    (v: number) => {
      const t = Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    },
  ],
  gelu_erf_grad: [17, (v: number) => 0.5 * (1 + erf64(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI)],
  silu_grad: [
    18,
    (v: number) => {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 + v * (1 - s));
    },
  ],
  sin: [19, Math.sin],
  cos: [20, Math.cos],
  erf: [21, erf64],
  erf_grad: [22, (v: number) => (2 / Math.sqrt(Math.PI)) * Math.exp(-v * v)],
  log1p: [23, Math.log1p],
  expm1: [24, Math.expm1],
  floor: [25, Math.floor],
  round: [26, roundHalfEven],
  // a = beta, b = threshold: x where beta·x > threshold (as torch), else log(1 + exp(beta·x)) / beta
  softplus: [27, (v: number, beta: number, th: number) => (v * beta > th ? v : Math.log1p(Math.exp(v * beta)) / beta)],
  softplus_grad: [28, (v: number, beta: number, th: number) => (v * beta > th ? 1 : 1 / (1 + Math.exp(-v * beta)))],
  leaky_relu: [29, (v: number, slope: number) => (v > 0 ? v : v * slope)],
  leaky_relu_grad: [30, (v: number, slope: number) => (v > 0 ? 1 : slope)],
  elu: [31, (v: number, alpha: number) => (v > 0 ? v : alpha * Math.expm1(v))],
  elu_grad: [32, (v: number, alpha: number) => (v > 0 ? 1 : alpha * Math.exp(v))], // NaN at NaN, as torch
  // a = min, b = max (±Infinity when absent); NaN stays NaN; min > max gives max everywhere (torch)
  clamp: [33, (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi)],
  clamp_mask: [34, (v: number, lo: number, hi: number) => +(v >= lo && v <= hi)],
} as const satisfies Record<string, readonly [number, (v: number, a: number, b: number) => number]>;

export type UnaryOp = keyof typeof OPS;

/** The WGSL names of the op codes: NEG = 0, ..., GELU_TANH = 7, ... */
const SHADER = withConstants('unary', Object.fromEntries(Object.entries(OPS).map(([k, [code]]) => [k.toUpperCase(), code])));

interface UnaryParams {
  op: UnaryOp;
  n: number;
  a: number;
  b: number;
}

const unaryKernel = defineKernel<UnaryParams>({
  name: 'unary',
  label: (p) => `unary:${p.op}`,
  cpu: ([x], [y], { op, n, a, b }) => {
    const f = OPS[op][1] as (v: number, a: number, b: number) => number;
    for (let i = 0; i < n; i++) y[i] = f(x[i], a, b);
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    constants: (p) => ({ OP: OPS[p.op][0] }),
    uniforms: (p) => [
      ['u32', p.n],
      ['f32', p.a],
      ['f32', p.b],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

const UNARY = withVec4(unaryKernel);

/** Every op of the table (tests run each through both memory paths). */
export const unaryOps = (): UnaryOp[] => Object.keys(OPS) as UnaryOp[];

/** y = f(x) without recording the tape (the building block; backward formulas use it too). */
export function unary(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  if (!isFloat(x.dtype)) fail(op, `expects a float32 or float16 tensor, got ${x.describe()}`);
  return run1(op, UNARY[elementwisePath(x.size % 4 === 0)], [x], { shape: x.shape }, { op, n: x.size, a, b });
}

// d/dx (-x) = -1                      -> dx = -dy
export const neg = (x: Tensor): Tensor => record(unary('neg', x), 'neg', [x], (g) => [unary('neg', g)]);

// d/dx exp(x) = exp(x) = y            -> dx = dy * y
export function exp(x: Tensor): Tensor {
  const y = unary('exp', x);
  return record(y, 'exp', [x], (g) => [mul(g, y)], [y]);
}

// d/dx log(x) = 1/x                   -> dx = dy / x
export const log = (x: Tensor): Tensor => record(unary('log', x), 'log', [x], (g) => [div(g, x)], [x]);

// d/dx sqrt(x) = 1 / (2 sqrt(x))      -> dx = dy / (2y)
export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', x);
  return record(y, 'sqrt', [x], (g) => [mul(div(g, y), 0.5)], [y]);
}

// d/dx x^(-1/2) = -1/2 x^(-3/2)       -> dx = -0.5 * dy * y^3
export function rsqrt(x: Tensor): Tensor {
  const y = unary('rsqrt', x);
  return record(y, 'rsqrt', [x], (g) => [mul(mul(g, unary('pow', y, 3)), -0.5)], [y]);
}

// d/dx |x| = sign(x)                  -> dx = dy * sign(x)   (0 at x = 0, as torch)
export const abs = (x: Tensor): Tensor => record(unary('abs', x), 'abs', [x], (g) => [mul(g, unary('sign', x))], [x]);

// d/dx max(x, 0) = [x > 0]            -> dx = dy * step(x)
export const relu = (x: Tensor): Tensor => record(unary('relu', x), 'relu', [x], (g) => [mul(g, unary('step', x))], [x]);

/**
 * GELU. `approximate: 'tanh'` (GPT-2's) is 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)));
 * `'none'` (torch's default) is xΦ(x) = 0.5x(1 + erf(x/√2)).
 */
// tanh: d/dx = 0.5(1 + t) + 0.5x(1 - t²)·√(2/π)(1 + 3·0.044715x²),  t = tanh(√(2/π)(x + 0.044715x³))
// erf:  d/dx = Φ(x) + x·φ(x) = 0.5(1 + erf(x/√2)) + x·exp(-x²/2)/√(2π)
export function gelu(x: Tensor, approximate: 'tanh' | 'none' = 'none'): Tensor {
  if (approximate !== 'tanh' && approximate !== 'none') fail('gelu', `approximate must be 'tanh' or 'none', got '${String(approximate)}'`);
  const [op, grad] = approximate === 'tanh' ? (['gelu_tanh', 'gelu_tanh_grad'] as const) : (['gelu_erf', 'gelu_erf_grad'] as const);
  return record(unary(op, x), `gelu(${approximate})`, [x], (g) => [mul(g, unary(grad, x))], [x]);
}

// silu(x) = x·σ(x);  d/dx = σ(x)(1 + x(1 - σ(x)))
export const silu = (x: Tensor): Tensor => record(unary('silu', x), 'silu', [x], (g) => [mul(g, unary('silu_grad', x))], [x]);

// d/dx σ(x) = σ(x)(1 - σ(x)) = y(1 - y)
export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', x);
  return record(y, 'sigmoid', [x], (g) => [mul(g, mul(y, unary('affine', y, -1, 1)))], [y]);
}

// d/dx tanh(x) = 1 - tanh(x)² = 1 - y²
export function tanh(x: Tensor): Tensor {
  const y = unary('tanh', x);
  return record(y, 'tanh', [x], (g) => [mul(g, unary('affine', unary('pow', y, 2), -1, 1))], [y]);
}

/**
 * x^p elementwise. p a number: a finite exponent (±0.5 are sqrt and rsqrt, as torch). p a tensor:
 * C's pow with broadcasting and a gradient for both operands (powTensor in binary.ts).
 */
// d/dx x^p = p·x^(p-1)                -> dx = dy * p * x^(p-1)
// p = 0: x^0 = 1 everywhere (also at 0 and NaN), dx = 0 (as torch; p·x^(-1) would be NaN at 0)
export function pow(x: Tensor, p: number | Tensor): Tensor {
  if (typeof p === 'object' && p !== null) return powTensor(x, p);
  if (typeof p !== 'number' || !Number.isFinite(p)) fail('pow', `the exponent must be a finite number or a Tensor, got ${String(p)}`);
  return record(unary('pow', x, p), 'pow', [x], (g) => [p === 0 ? zerosLike(g) : mul(mul(g, unary('pow', x, p - 1)), p)], [x]);
}

// y = a·x + b;  d/dx = a               -> dx = a * dy
export function affine(x: Tensor, a: number, b: number): Tensor {
  return record(unary('affine', x, a, b), 'affine', [x], (g) => [unary('affine', g, a, 0)]);
}

// ---- sin cos erf log1p expm1 square sign floor round clamp softplus leakyRelu elu ---------------

// d/dx sin(x) = cos(x)                -> dx = dy * cos(x)
export const sin = (x: Tensor): Tensor => record(unary('sin', x), 'sin', [x], (g) => [mul(g, unary('cos', x))], [x]);

// d/dx cos(x) = -sin(x)               -> dx = -dy * sin(x)
export const cos = (x: Tensor): Tensor =>
  record(unary('cos', x), 'cos', [x], (g) => [mul(g, unary('affine', unary('sin', x), -1, 0))], [x]);

// d/dx erf(x) = 2/√π · exp(-x²)       -> dx = dy * erf_grad(x)
export const erf = (x: Tensor): Tensor => record(unary('erf', x), 'erf', [x], (g) => [mul(g, unary('erf_grad', x))], [x]);

// d/dx log(1 + x) = 1 / (1 + x)       -> dx = dy / (x + 1)
export const log1p = (x: Tensor): Tensor => record(unary('log1p', x), 'log1p', [x], (g) => [div(g, add(x, 1))], [x]);

// d/dx (exp(x) - 1) = exp(x) = y + 1  -> dx = dy * (y + 1)
export function expm1(x: Tensor): Tensor {
  const y = unary('expm1', x);
  return record(y, 'expm1', [x], (g) => [mul(g, unary('affine', y, 1, 1))], [y]);
}

// d/dx x² = 2x                        -> dx = 2 * dy * x
export const square = (x: Tensor): Tensor => record(unary('pow', x, 2), 'square', [x], (g) => [mul(mul(g, x), 2)], [x]);

/** A piecewise-constant op: its gradient is zero everywhere (torch's sign, floor and round). */
const constantGrad = (op: 'sign' | 'floor' | 'round', x: Tensor): Tensor => record(unary(op, x), op, [x], (g) => [zerosLike(g)]);

/** -1, 0 or 1 by the sign of x (0 at ±0 and NaN, as torch). Zero gradient. */
// d/dx sign(x) = 0 (almost everywhere) -> dx = 0
export const sign = (x: Tensor): Tensor => constantGrad('sign', x);

/** The largest integer <= x (±Inf and NaN kept). Zero gradient. */
// d/dx floor(x) = 0 (almost everywhere) -> dx = 0
export const floor = (x: Tensor): Tensor => constantGrad('floor', x);

/** The nearest integer, halves to even (torch.round). Zero gradient. */
// d/dx round(x) = 0 (almost everywhere) -> dx = 0
export const round = (x: Tensor): Tensor => constantGrad('round', x);

function checkParam(op: string, name: string, v: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof v !== 'number' || !ok(v)) fail(op, `${name} must be ${expected}, got ${String(v)}`);
}

/**
 * min(max(x, min), max) elementwise; either bound may be omitted (undefined), not both. NaN stays
 * NaN; min > max gives max everywhere (as torch).
 */
// d/dx clamp(x) = [min <= x <= max]   -> dx = dy where min <= x <= max, else 0 (as torch, ends included)
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) fail('clamp', 'needs at least one of min and max');
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  checkParam('clamp', 'min', lo, (v) => !Number.isNaN(v), 'a number (not NaN)');
  checkParam('clamp', 'max', hi, (v) => !Number.isNaN(v), 'a number (not NaN)');
  return record(unary('clamp', x, lo, hi), 'clamp', [x], (g) => [mul(g, unary('clamp_mask', x, lo, hi))], [x]);
}

/**
 * softplus(x) = log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold (torch's
 * linear region, which also keeps exp from overflowing).
 */
// d/dx = σ(beta·x) (1 where beta·x > threshold)   -> dx = dy * softplus_grad(x)
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  checkParam('softplus', 'beta', beta, (v) => Number.isFinite(v) && v !== 0, 'a finite nonzero number');
  checkParam('softplus', 'threshold', threshold, Number.isFinite, 'a finite number');
  return record(unary('softplus', x, beta, threshold), 'softplus', [x], (g) => [mul(g, unary('softplus_grad', x, beta, threshold))], [x]);
}

/** x where x > 0, else slope·x (torch.nn.functional.leaky_relu, negative_slope). */
// d/dx = 1 where x > 0, else slope    -> dx = dy * leaky_relu_grad(x)
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  checkParam('leakyRelu', 'slope', slope, Number.isFinite, 'a finite number');
  return record(unary('leaky_relu', x, slope), 'leakyRelu', [x], (g) => [mul(g, unary('leaky_relu_grad', x, slope))], [x]);
}

/** x where x > 0, else alpha·(exp(x) - 1) (torch.nn.functional.elu). */
// d/dx = 1 where x > 0, else alpha·exp(x)   -> dx = dy * elu_grad(x)
export function elu(x: Tensor, alpha = 1): Tensor {
  checkParam('elu', 'alpha', alpha, Number.isFinite, 'a finite number');
  return record(unary('elu', x, alpha), 'elu', [x], (g) => [mul(g, unary('elu_grad', x, alpha))], [x]);
}
