// Softmax and log-softmax along any axis: one fused kernel per forward (kernels/softmax.wgsl: TPR
// threads per row compute the row max and the sum of exp in one online pass, then write) and one per
// backward. TPR: one thread per row on CPU adapters (vec4 loads along contiguous rows), except for
// few long rows (the rule of the other row kernels, `threadsPerRow`); a workgroup per row on GPUs;
// the switch 'softmax' forces either. A non-last axis needs no transpose: the kernel reads the row
// with a stride (the tensor is viewed as (outer, L, inner)). `softmaxNaive` builds the same function from primitive ops
// (max, sub, exp, sum, div): the twin the fused kernel is tested against.
import { record } from '../autograd.js';
import { defineKernel, isCpuAdapter, withConstants, type KernelDef } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, run1 } from './apply.js';
import { grid1d, ROW_VARIANTS, threadsPerRow } from './grid.js';
import { max, sum } from './reduce.js';
import { exp } from './unary.js';
import { div, sub } from './binary.js';

/** MODE of the softmax kernels, named in the WGSL by the same constants. */
const MODE_SOFTMAX = 0;
const MODE_LOG = 1;
const SHADER = withConstants('softmax', { MODE_SOFTMAX, MODE_LOG });

/** `mg.testing.forceKernel('softmax', 'thread' | 'split', { tpr })`: threads per row. */
const softmaxSwitch = defineKernelSwitch('softmax', ROW_VARIANTS);

interface SoftmaxParams {
  log: boolean;
  /** Rows (outer * inner), row length L, stride between a row's elements (inner). */
  rows: number;
  len: number;
  inner: number;
  /** Threads per row (TPR in the WGSL); with 1 and contiguous rows of L % 4 == 0, the vec4 entries. */
  tpr: number;
}

/** GPUs: a workgroup per row, enough threads to cover short rows without idle lanes, 256 for long ones. */
const threadsFor = (len: number): number => Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(len, 1)))));

const isVec4 = (p: SoftmaxParams): boolean => p.tpr === 1 && p.inner === 1 && p.len % 4 === 0;
const tprConstants = (p: SoftmaxParams) => ({ MODE: p.log ? MODE_LOG : MODE_SOFTMAX, WG: Math.max(64, p.tpr), TPR: p.tpr });
const rowGroups = (p: SoftmaxParams): [number, number, number] => grid1d(p.rows, Math.max(64, p.tpr) / p.tpr);

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
    constants: tprConstants,
    uniforms: (p) => [
      ['u32', p.rows],
      ['u32', p.len],
      ['u32', p.inner],
    ],
    workgroups: rowGroups,
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
    constants: tprConstants,
    uniforms: (p) => [
      ['u32', p.rows],
      ['u32', p.len],
      ['u32', p.inner],
    ],
    workgroups: rowGroups,
  },
});

/** The vec4 entry of a kernel (TPR = 1, contiguous rows, L % 4 == 0). */
const vec4Of = (k: KernelDef<SoftmaxParams>): KernelDef<SoftmaxParams> => ({
  ...k,
  gpu: { ...k.gpu, entry: `${k.gpu.entry}_vec4`, workgroups: (p) => grid1d(p.rows, 64) },
});
const KERNELS = {
  forward: { rows: forwardKernel, vec4: vec4Of(forwardKernel) },
  backward: { rows: backwardKernel, vec4: vec4Of(backwardKernel) },
};

/** The (outer, L, inner) view of x along `axis` (a 0-d tensor is one row of length 1). */
function rowsOf(op: string, x: Tensor, axis: number, log: boolean): SoftmaxParams {
  if (!isFloat(x.dtype)) fail(op, `expects a float32 or float16 tensor, got ${x.describe()}`);
  if (typeof axis !== 'number') fail(op, `axis must be an integer, got ${String(axis)}`);
  if (x.ndim === 0) {
    if (axis !== 0 && axis !== -1) fail(op, `axis ${axis} is out of range for a tensor of rank 0 (expected -1 or 0)`);
    return { log, rows: 1, len: 1, inner: 1, tpr: 1 };
  }
  const a = normAxis(op, axis, x.ndim);
  const len = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  const outer = numel(x.shape.slice(0, a));
  const rows = outer * inner;
  const cpuLike = isCpuAdapter(backendOf(op, [x]).description);
  const tpr = softmaxSwitch.forced() || cpuLike ? threadsPerRow(softmaxSwitch, rows, len) : threadsFor(len);
  return { log, rows, len, inner, tpr };
}

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, axis: number): Tensor {
  const p = rowsOf(op, x, axis, op === 'logSoftmax');
  const path = isVec4(p) ? 'vec4' : 'rows';
  const y = run1(op, KERNELS.forward[path], [x], { shape: x.shape }, p);
  return record(y, op, [x], (g) => [run1(`${op}.backward`, KERNELS.backward[path], [g, y], { shape: x.shape }, p)], [y]);
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
