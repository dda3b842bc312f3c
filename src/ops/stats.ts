// Reductions beyond sum/mean/max/min: prod, logsumexp, var, std, norm, and all/any on masks. The
// reduced axes are moved last (a view when they already are, else one permute copy) and each row of
// the [rows, len] result is reduced by kernels/stats.wgsl: a thread per row, or a workgroup's lanes
// for few long rows (switch `stats`). all/any are exact compositions of a comparison and max/min
// (reduce.ts). Backward formulas are elementwise ops on x's shape with the output's gradient
// broadcast back (keepdim shape).
import { noGrad, record } from '../autograd.js';
import { defineKernel, withConstants } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { normAxes, numel, reducedShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { div, eq, maximum, mul, ne, sub, where } from './binary.js';
import { full } from './creation.js';
import { grid1d, ROW_VARIANTS, rowMapping } from './grid.js';
import { max, mean, min, sum } from './reduce.js';
import { permute, reshape } from './shape.js';
import { abs, exp, pow, sign, unary } from './unary.js';

type Axes = number | readonly number[];

/** Op code (the OP constant of kernels/stats.wgsl, named by the key in upper case) and the float64 row loop. */
const OPS = {
  prod: [0, (x: ArrayLike<number>, b: number, n: number) => rowProd(x, b, n)],
  lse: [1, (x: ArrayLike<number>, b: number, n: number) => rowLse(x, b, n)],
  var: [2, (x: ArrayLike<number>, b: number, n: number, c: number) => rowVar(x, b, n, c)],
  norm: [3, (x: ArrayLike<number>, b: number, n: number, p: number) => rowNorm(x, b, n, p)],
  prod_others: [4, null],
} as const;
type StatOp = keyof typeof OPS;

const SHADER = withConstants('stats', Object.fromEntries(Object.entries(OPS).map(([k, [code]]) => [k.toUpperCase(), code])));

function rowProd(x: ArrayLike<number>, b: number, n: number): number {
  let p = 1;
  for (let i = 0; i < n; i++) p *= x[b + i];
  return p;
}

// NaN anywhere: NaN; else +Inf anywhere: +Inf; all -Inf (or empty): -Inf; else m + log Σ exp(x - m)
function rowLse(x: ArrayLike<number>, b: number, n: number): number {
  let m = -Infinity;
  let inf = false;
  for (let i = 0; i < n; i++) {
    const v = x[b + i];
    if (Number.isNaN(v)) return NaN;
    if (v === Infinity) inf = true;
    else if (v > m) m = v;
  }
  if (inf) return Infinity;
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[b + i] - m);
  return m + Math.log(s);
}

// two passes: the mean, then squared deviations over max(n - correction, 0) (0/0 = NaN, s/0 = Inf)
function rowVar(x: ArrayLike<number>, b: number, n: number, c: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[b + i];
  const m = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[b + i] - m) ** 2;
  return ss / Math.max(n - c, 0);
}

// m · (Σ (|x| / m)^p)^(1/p), m = max |x| (the same value as the definition, without overflow)
function rowNorm(x: ArrayLike<number>, b: number, n: number, p: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(x[b + i]);
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  if (p === Infinity || m === 0 || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += (Math.abs(x[b + i]) / m) ** p;
  return m * s ** (1 / p);
}

interface StatsParams {
  op: StatOp;
  rows: number;
  len: number;
  a: number;
  /** Threads per row (TPR in the WGSL) and per workgroup. */
  tpr: number;
  wg: number;
}

/** `mg.testing.forceKernel('stats', 'thread' | 'split', { tpr })`: threads per row of kernels/stats.wgsl. */
const statsSwitch = defineKernelSwitch('stats', ROW_VARIANTS);

/** Threads per row (the row kernels' rule: one, but 32 for few long rows; the norm of a whole tensor is one row). */
const mapping = (rows: number, len: number) => rowMapping(statsSwitch, rows, len);

const statsKernel = defineKernel<StatsParams>({
  name: 'stats',
  label: (p) => `stats:${p.op}${p.tpr > 1 ? `/split${p.tpr}` : ''}`,
  cpu: ([x], [y], { op, rows, len, a }) => {
    if (op === 'prod_others') {
      // y[r, i] = (Π_{j<i} x[r, j]) · (Π_{j>i} x[r, j])
      for (let r = 0; r < rows; r++) {
        const b = r * len;
        let p = 1;
        for (let i = 0; i < len; i++) {
          y[b + i] = p;
          p *= x[b + i];
        }
        p = 1;
        for (let i = len - 1; i >= 0; i--) {
          y[b + i] *= p;
          p *= x[b + i];
        }
      }
      return;
    }
    const f = OPS[op][1];
    for (let r = 0; r < rows; r++) y[r] = f(x, r * len, len, a);
  },
  gpu: {
    shader: SHADER,
    constants: (p) => ({ OP: OPS[p.op][0], WG: p.wg, TPR: p.tpr }),
    uniforms: (p) => [
      ['u32', p.rows],
      ['u32', p.len],
      ['f32', p.a],
    ],
    workgroups: (p) => grid1d(Math.ceil(p.rows / (p.wg / p.tpr)), 1),
  },
});

/** How a reduction of x over some axes lays out. */
interface Plan {
  ax: number[];
  /** x's dims with the reduced ones last; null when they already are (no copy needed). */
  perm: number[] | null;
  rows: number;
  len: number;
  /** The output's shape, and with the reduced axes kept as 1 (g reshaped to it broadcasts over x). */
  outShape: number[];
  keepShape: number[];
}

function plan(op: string, x: Tensor, axes: Axes | undefined, keepdim: boolean): Plan {
  if (x.dtype !== 'float32') fail(op, `expects a float32 tensor, got ${x.describe()}; convert with .cast('float32')`);
  const ax = normAxes(op, axes, x.ndim).filter((i) => i < x.ndim); // a 0-d tensor's axis 0 reduces nothing
  const kept = [...x.shape.keys()].filter((i) => !ax.includes(i));
  const perm = [...kept, ...ax];
  return {
    ax,
    perm: perm.every((d, i) => d === i) ? null : perm,
    rows: numel(kept.map((i) => x.shape[i])),
    len: numel(ax.map((i) => x.shape[i])),
    outShape: reducedShape(x.shape, ax, keepdim),
    keepShape: reducedShape(x.shape, ax, true),
  };
}

/** Runs a stats kernel on the rows of x (reduced axes last) into a tensor of `shape`. */
function runRows(op: string, stat: StatOp, x: Tensor, p: Plan, a: number, shape: readonly number[]): Tensor {
  return noGrad(() => {
    const moved = p.perm ? permute(x, p.perm) : x;
    const rows = reshape(moved, [p.rows, p.len]); // (rows, len): a view
    const y = run1(op, statsKernel, [rows], { shape }, { op: stat, rows: p.rows, len: p.len, a, ...mapping(p.rows, p.len) });
    rows.dispose();
    if (moved !== x) moved.dispose();
    return y;
  });
}

/** g (the output's shape) reshaped so it broadcasts over x. */
const gradKeep = (g: Tensor, p: Plan): Tensor => reshape(g, p.keepShape);

/**
 * Product over `axes` (all when undefined; keepdim keeps them as 1). Over zero elements: 1.
 * Gradient exact with zeros in the input (as torch): the product of the other elements.
 */
// y = Π_r x_r;  ∂y/∂x_i = Π_{r≠i} x_r          -> dx_i = g · Π_{r≠i} x_r (prefix × suffix products)
export function prod(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const p = plan('prod', x, axes, keepdim);
  const y = runRows('prod', 'prod', x, p, 0, p.outShape);
  return record(
    y,
    'prod',
    [x],
    (g) => {
      const moved = p.perm ? p.perm.map((d) => x.shape[d]) : x.shape; // x's dims, reduced ones last
      let others = reshape(runRows('prod.backward', 'prod_others', x, p, 0, [p.rows, p.len]), moved);
      if (p.perm) others = permute(others, inverse(p.perm));
      return [mul(gradKeep(g, p), others)];
    },
    [x],
  );
}

const inverse = (perm: readonly number[]): number[] => {
  const inv: number[] = [];
  perm.forEach((d, i) => (inv[d] = i));
  return inv;
};

/**
 * log Σ exp(x) over `axes`, computed max-shifted (stable for any magnitude). NaN anywhere in a group:
 * NaN; else +Inf anywhere: +Inf; a group of only -Inf (or empty): -Inf (torch.logsumexp).
 */
// ∂y/∂x_i = exp(x_i - y) (softmax)             -> dx = g · exp(x - y)
export function logsumexp(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const p = plan('logsumexp', x, axes, keepdim);
  const y = runRows('logsumexp', 'lse', x, p, 0, p.outShape);
  return record(y, 'logsumexp', [x], (g) => [mul(gradKeep(g, p), exp(sub(x, reshape(y, p.keepShape))))], [x, y]);
}

export interface VarOptions {
  /** Keep the reduced axes as size 1. */
  keepdim?: boolean;
  /** Subtracted from the element count in the divisor: 1 (default) is Bessel's, 0 the population variance. */
  correction?: number;
}

function varOpts(op: string, opts: VarOptions): { keepdim: boolean; correction: number } {
  const correction = opts.correction ?? 1;
  if (typeof correction !== 'number' || !Number.isFinite(correction) || correction < 0)
    fail(op, `correction must be a finite number >= 0, got ${String(correction)}`);
  return { keepdim: opts.keepdim ?? false, correction };
}

/** x - mean over the plan's axes (kept): the common factor of var's and std's gradients. */
const centered = (x: Tensor, p: Plan): Tensor => sub(x, mean(x, p.ax, true));

/**
 * Variance over `axes`: Σ (x - mean)² / (N - correction), N the elements per group. N <= correction
 * divides by 0 (NaN for a zero sum, as torch). NaN or ±Inf in a group: NaN.
 */
// ∂y/∂x_i = 2 (x_i - mean) / (N - c)            -> dx = g · 2 (x - mean) / (N - c)
export function variance(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  const { keepdim, correction } = varOpts('var', opts);
  const p = plan('var', x, axes, keepdim);
  const y = runRows('var', 'var', x, p, correction, p.outShape);
  return record(y, 'var', [x], (g) => [mul(mul(gradKeep(g, p), centered(x, p)), 2 / Math.max(p.len - correction, 0))], [x]);
}

/** Standard deviation over `axes`: sqrt(var(x, axes, opts)). */
// ∂y/∂x_i = (x_i - mean) / ((N - c) y), 0 where y = 0 (torch)   -> dx = g / y · (x - mean) / (N - c)
export function std(x: Tensor, axes?: Axes, opts: VarOptions = {}): Tensor {
  const { keepdim, correction } = varOpts('std', opts);
  const p = plan('std', x, axes, keepdim);
  const v = runRows('std', 'var', x, p, correction, p.outShape);
  const y = unary('sqrt', v);
  v.dispose();
  return record(
    y,
    'std',
    [x],
    (g) => {
      const yk = reshape(y, p.keepShape);
      const gy = where(eq(yk, 0), 0, div(gradKeep(g, p), yk));
      return [mul(mul(gy, centered(x, p)), 1 / Math.max(p.len - correction, 0))];
    },
    [x, y],
  );
}

/**
 * The p-norm over `axes` (all when undefined): (Σ |x|^p)^(1/p) for p > 0, max |x| for p = Infinity
 * (torch.linalg.vector_norm). Computed scaled by max |x| (no overflow of |x|^p). NaN in a group:
 * NaN, else ±Inf: +Inf.
 */
// p = 2:   ∂y/∂x = x / y                     (0 where y = 0, as torch)
// p = 1:   ∂y/∂x = sign(x)
// p = Inf: ∂y/∂x = sign(x) [|x| = y] / #{|x| = y}   (shared evenly among ties, as torch; 0 in a NaN group)
// else:    ∂y/∂x = sign(x) |x|^(p-1) / y^(p-1)      (0 where y = 0 or x = 0)
export function norm(x: Tensor, p = 2, axes?: Axes, keepdim = false): Tensor {
  if (typeof p !== 'number' || !(p > 0)) fail('norm', `p must be a positive number or Infinity, got ${String(p)}`);
  const pl = plan('norm', x, axes, keepdim);
  const y = runRows('norm', 'norm', x, pl, p, pl.outShape);
  return record(
    y,
    `norm(${p})`,
    [x],
    (g) => {
      const gk = gradKeep(g, pl);
      const yk = reshape(y, pl.keepShape);
      if (p === 1) return [mul(gk, sign(x))];
      if (p === 2) return [mul(x, where(eq(yk, 0), 0, div(gk, yk)))];
      if (p === Infinity) {
        const hit = eq(abs(x), yk); // none in a NaN group: gradient 0 there (as torch)
        return [mul(mul(sign(x), hit), div(gk, maximum(sum(hit, pl.ax, true), 1)))];
      }
      const scale = where(eq(yk, 0), 0, div(gk, pow(yk, p - 1)));
      return [mul(where(eq(x, 0), 0, mul(sign(x), pow(abs(x), p - 1))), scale)];
    },
    [x, y],
  );
}

function maskReduce(op: 'all' | 'any', x: Tensor, axes: Axes | undefined, keepdim: boolean): Tensor {
  const p = plan(op, x, axes, keepdim);
  if (p.len === 0) return full(p.outShape, op === 'all' ? 1 : 0, { backend: x.backend.name });
  return noGrad(() => {
    const nz = ne(x, 0); // NaN counts as true, as torch's bool(NaN)
    const y = op === 'all' ? min(nz, p.ax, keepdim) : max(nz, p.ax, keepdim);
    nz.dispose();
    return y;
  });
}

/**
 * 1 where every element over `axes` is nonzero (NaN counts as nonzero), else 0: a float mask like the
 * comparisons' (x.gt(0).all()). Over zero elements: 1. Not differentiable.
 */
export function all(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return maskReduce('all', x, axes, keepdim);
}

/** 1 where some element over `axes` is nonzero (NaN counts), else 0. Over zero elements: 0. Not differentiable. */
export function any(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return maskReduce('any', x, axes, keepdim);
}
