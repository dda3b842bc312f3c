// Softmax and log-softmax along any axis: one fused kernel per forward (kernels/softmax.wgsl: a
// workgroup per row computes the row max and the sum of exp in one online pass, then writes) and one
// per backward. A non-last axis needs no transpose: the kernel reads the row with a stride (the
// tensor is viewed as (outer, L, inner)). `softmaxNaive` builds the same function from primitive ops
// (max, sub, exp, sum, div): the twin the fused kernel is tested against.
import { record } from '../autograd.js';
import { defineKernel, withConstants } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail } from '../errors.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { grid1d } from './grid.js';
import { max, sum } from './reduce.js';
import { exp } from './unary.js';
import { div, sub } from './binary.js';

/** MODE of the softmax kernels, named in the WGSL by the same constants. */
const MODE_SOFTMAX = 0;
const MODE_LOG = 1;
const SHADER = withConstants('softmax', { MODE_SOFTMAX, MODE_LOG });

interface SoftmaxParams {
  log: boolean;
  /** Rows (outer * inner), row length L, stride between a row's elements (inner). */
  rows: number;
  len: number;
  inner: number;
}

/** Threads per row: enough to cover short rows without idle lanes, 256 for long ones. */
const threadsFor = (len: number): number => Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(len, 1)))));

const rowBase = (p: SoftmaxParams, q: number): number => Math.floor(q / p.inner) * p.len * p.inner + (q % p.inner);

const forwardKernel = defineKernel<SoftmaxParams>({
  name: 'softmax',
  label: (p) => (p.log ? 'logSoftmax' : 'softmax'),
  cpu: ([x], [y], p) => {
    for (let q = 0; q < p.rows; q++) {
      const base = rowBase(p, q);
      let m = -Infinity;
      for (let l = 0; l < p.len; l++) {
        const v = x[base + l * p.inner];
        if (v > m || Number.isNaN(v)) m = v;
      }
      let s = 0;
      for (let l = 0; l < p.len; l++) s += Math.exp(x[base + l * p.inner] - m);
      const logS = Math.log(s);
      for (let l = 0; l < p.len; l++) {
        const i = base + l * p.inner;
        y[i] = p.log ? x[i] - m - logS : Math.exp(x[i] - m) / s;
      }
    }
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    entry: 'forward',
    constants: (p) => ({ MODE: p.log ? MODE_LOG : MODE_SOFTMAX, WG: threadsFor(p.len) }),
    uniforms: (p) => [
      ['u32', p.rows],
      ['u32', p.len],
      ['u32', p.inner],
    ],
    workgroups: (p) => grid1d(p.rows, 1),
  },
});

const backwardKernel = defineKernel<SoftmaxParams>({
  name: 'softmax_backward',
  label: (p) => (p.log ? 'logSoftmax.backward' : 'softmax.backward'),
  cpu: ([g, y], [dx], p) => {
    for (let q = 0; q < p.rows; q++) {
      const base = rowBase(p, q);
      let dot = 0;
      for (let l = 0; l < p.len; l++) {
        const i = base + l * p.inner;
        dot += p.log ? g[i] : g[i] * y[i];
      }
      for (let l = 0; l < p.len; l++) {
        const i = base + l * p.inner;
        dx[i] = p.log ? g[i] - Math.exp(y[i]) * dot : y[i] * (g[i] - dot);
      }
    }
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    entry: 'backward',
    constants: (p) => ({ MODE: p.log ? MODE_LOG : MODE_SOFTMAX, WG: threadsFor(p.len) }),
    uniforms: (p) => [
      ['u32', p.rows],
      ['u32', p.len],
      ['u32', p.inner],
    ],
    workgroups: (p) => grid1d(p.rows, 1),
  },
});

/** The (outer, L, inner) view of x along `axis` (a 0-d tensor is one row of length 1). */
function rowsOf(op: string, x: Tensor, axis: number, log: boolean): SoftmaxParams {
  if (!isFloat(x.dtype)) fail(op, `expects a float32 or float16 tensor, got ${x.describe()}`);
  if (typeof axis !== 'number') fail(op, `axis must be an integer, got ${String(axis)}`);
  if (x.ndim === 0) {
    if (axis !== 0 && axis !== -1) fail(op, `axis ${axis} is out of range for a tensor of rank 0 (expected -1 or 0)`);
    return { log, rows: 1, len: 1, inner: 1 };
  }
  const a = normAxis(op, axis, x.ndim);
  const len = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  const outer = numel(x.shape.slice(0, a));
  return { log, rows: outer * inner, len, inner };
}

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, axis: number): Tensor {
  const p = rowsOf(op, x, axis, op === 'logSoftmax');
  const y = run1(op, forwardKernel, [x], { shape: x.shape }, p);
  return record(y, op, [x], (g) => [run1(`${op}.backward`, backwardKernel, [g, y], { shape: x.shape }, p)], [y]);
}

/**
 * softmax(x)_i = exp(x_i - max x) / Σ_j exp(x_j - max x) along `axis` (default the last). Stable for
 * any magnitude; a row holding NaN or +Inf gives NaN; -Inf entries give 0 (a row of only -Inf: NaN).
 */
// ∂y_i/∂x_j = y_i (δ_ij - y_j)          -> dx = y ⊙ (g - Σ_j g_j y_j)
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** logSoftmax(x)_i = x_i - max x - log Σ_j exp(x_j - max x) along `axis` (default the last). */
// ∂y_i/∂x_j = δ_ij - softmax(x)_j        -> dx = g - softmax(x) ⊙ Σ_j g_j,  softmax(x) = exp(y)
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis);
}

/**
 * Softmax from primitive ops: exp(x - max(x)) / sum(exp(x - max(x))) (five dispatches; its gradient
 * comes from the primitives' own backward). The reference twin of the fused kernel.
 */
export function softmaxNaive(x: Tensor, axis = -1): Tensor {
  const m = max(x, axis, true); // (..., 1, ...)
  const z = sub(x, m);
  const e = exp(z);
  const s = sum(e, axis, true); // (..., 1, ...)
  const y = div(e, s);
  // m, z, e, s stay alive while a graph through y may need them (tidy scopes free them)
  if (!y.requiresGrad) for (const t of [m, z, e, s]) t.dispose();
  return y;
}
