// LayerNorm and RMSNorm over the last dim, each a fused forward (one dispatch: a thread per row, by
// default, computes the row statistics and writes the normalised, scaled, shifted row, saving μ and
// rstd) and a fused backward (one dispatch for dx, one more for the column sums dweight/dbias).
// kernels/layernorm.wgsl, kernels/rmsnorm.wgsl. `layerNormNaive` / `rmsNormNaive` build the same
// functions from primitive ops: the twins the fused kernels are tested against.
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import type { Tensor } from '../tensor.js';
import { floatDtypeOf, runKernel } from './apply.js';
import { add, mul, sub } from './binary.js';
import { grid1d, ROW_VARIANTS, rowMapping } from './grid.js';
import { mean } from './reduce.js';
import { rsqrt } from './unary.js';

interface NormParams {
  /** Rows (numel / C) and row length C. */
  rows: number;
  len: number;
  eps: number;
  hasW: boolean;
  hasB: boolean;
  /** Threads per row and per workgroup (forward, backward). */
  tpr: number;
  wg: number;
}

/** `mg.testing.forceKernel('norm', 'thread' | 'split', { tpr })`: threads per row of the row kernels. */
const normSwitch = defineKernelSwitch('norm', ROW_VARIANTS);

/** Threads per row (TPR in the WGSL) and per workgroup. */
const mapping = (rows: number, len: number) => rowMapping(normSwitch, rows, len);

/** Columns per workgroup of the params kernels (CW in the WGSL). */
const CW = 32;

const uniforms = (p: NormParams): ['u32' | 'f32', number][] => [
  ['u32', p.rows],
  ['u32', p.len],
  ['f32', p.eps],
  ['u32', +p.hasW],
  ['u32', +p.hasB],
];
const rowGrid = (p: NormParams): [number, number, number] => grid1d(Math.ceil(p.rows / (p.wg / p.tpr)), 1);
const rowConstants = (p: NormParams) => ({ WG: p.wg, TPR: p.tpr });
const colGrid = (p: NormParams): [number, number, number] => [Math.ceil(p.len / CW), 1, 1];

// ---- LayerNorm kernels ----------------------------------------------------------------------------

const lnForward = defineKernel<NormParams>({
  name: 'layerNorm',
  cpu: ([x, w, b], [y, mu, rs], p) => {
    const C = p.len;
    for (let r = 0; r < p.rows; r++) {
      const base = r * C;
      let s = 0;
      for (let c = 0; c < C; c++) s += x[base + c];
      const m = s / C;
      let s2 = 0;
      for (let c = 0; c < C; c++) s2 += (x[base + c] - m) ** 2;
      const rstd = 1 / Math.sqrt(s2 / C + p.eps);
      for (let c = 0; c < C; c++) {
        let v = (x[base + c] - m) * rstd;
        if (p.hasW) v *= w[c];
        if (p.hasB) v += b[c];
        y[base + c] = v;
      }
      mu[r] = m;
      rs[r] = rstd;
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'layernorm',
    entry: 'forward',
    constants: rowConstants,
    uniforms,
    workgroups: rowGrid,
  },
});

const lnBackward = defineKernel<NormParams>({
  name: 'layerNorm.backward',
  cpu: ([g, x, w, mu, rs], [dx], p) => {
    const C = p.len;
    for (let r = 0; r < p.rows; r++) {
      const base = r * C;
      let a = 0;
      let b = 0;
      for (let c = 0; c < C; c++) {
        const gw = p.hasW ? g[base + c] * w[c] : g[base + c];
        a += gw;
        b += gw * (x[base + c] - mu[r]) * rs[r];
      }
      a /= C;
      b /= C;
      for (let c = 0; c < C; c++) {
        const gw = p.hasW ? g[base + c] * w[c] : g[base + c];
        const xh = (x[base + c] - mu[r]) * rs[r];
        dx[base + c] = rs[r] * (gw - a - xh * b);
      }
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'layernorm',
    entry: 'backward',
    constants: rowConstants,
    uniforms,
    workgroups: rowGrid,
  },
});

const lnParams = defineKernel<NormParams>({
  name: 'layerNorm.params',
  cpu: ([g, x, mu, rs], [dw, db], p) => {
    const C = p.len;
    dw.fill(0);
    db.fill(0);
    for (let r = 0; r < p.rows; r++) {
      for (let c = 0; c < C; c++) {
        const gv = g[r * C + c];
        dw[c] += gv * (x[r * C + c] - mu[r]) * rs[r];
        db[c] += gv;
      }
    }
  },
  f16: 'alias',
  gpu: { shader: 'layernorm', entry: 'params', constants: () => ({ WG: 256 }), uniforms, workgroups: colGrid },
});

// ---- RMSNorm kernels ------------------------------------------------------------------------------

const rmsForward = defineKernel<NormParams>({
  name: 'rmsNorm',
  cpu: ([x, w], [y, rs], p) => {
    const C = p.len;
    for (let r = 0; r < p.rows; r++) {
      const base = r * C;
      let s2 = 0;
      for (let c = 0; c < C; c++) s2 += x[base + c] ** 2;
      const rstd = 1 / Math.sqrt(s2 / C + p.eps);
      for (let c = 0; c < C; c++) y[base + c] = x[base + c] * rstd * (p.hasW ? w[c] : 1);
      rs[r] = rstd;
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'rmsnorm',
    entry: 'forward',
    constants: rowConstants,
    uniforms,
    workgroups: rowGrid,
  },
});

const rmsBackward = defineKernel<NormParams>({
  name: 'rmsNorm.backward',
  cpu: ([g, x, w, rs], [dx], p) => {
    const C = p.len;
    for (let r = 0; r < p.rows; r++) {
      const base = r * C;
      let b = 0;
      for (let c = 0; c < C; c++) b += (p.hasW ? g[base + c] * w[c] : g[base + c]) * x[base + c] * rs[r];
      b /= C;
      for (let c = 0; c < C; c++) {
        const gw = p.hasW ? g[base + c] * w[c] : g[base + c];
        dx[base + c] = rs[r] * (gw - x[base + c] * rs[r] * b);
      }
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'rmsnorm',
    entry: 'backward',
    constants: rowConstants,
    uniforms,
    workgroups: rowGrid,
  },
});

const rmsParams = defineKernel<NormParams>({
  name: 'rmsNorm.params',
  cpu: ([g, x, rs], [dw], p) => {
    const C = p.len;
    dw.fill(0);
    for (let r = 0; r < p.rows; r++) for (let c = 0; c < C; c++) dw[c] += g[r * C + c] * x[r * C + c] * rs[r];
  },
  f16: 'alias',
  gpu: { shader: 'rmsnorm', entry: 'params', constants: () => ({ WG: 256 }), uniforms, workgroups: colGrid },
});

// ---- checks ---------------------------------------------------------------------------------------

function checkNorm(op: string, x: Tensor, params: [string, Tensor | null][], eps: number): NormParams {
  if (!x || typeof x !== 'object' || !('shape' in x)) fail(op, `expects a Tensor, got ${String(x)}`);
  if (!isFloat(x.dtype)) fail(op, `expects a float32 or float16 tensor, got ${x.describe()}`);
  floatDtypeOf(op, [x, ...params.map(([, t]) => t)]);
  if (x.ndim === 0) fail(op, `normalises over the last dim; got a 0-d tensor ${fmtShape(x.shape)}`);
  const C = x.shape[x.ndim - 1];
  for (const [name, t] of params) {
    if (t === null || t === undefined) continue;
    if (!isFloat(t.dtype)) fail(op, `${name} must be float32 or float16, got ${t.describe()}`);
    if (t.ndim !== 1 || t.shape[0] !== C)
      fail(op, `${name} must have shape [${C}] (the last dim of x ${fmtShape(x.shape)}), got ${fmtShape(t.shape)}`);
  }
  if (typeof eps !== 'number' || !(eps >= 0)) fail(op, `eps must be a non-negative number, got ${String(eps)}`);
  return {
    rows: C === 0 ? 0 : x.size / C,
    len: C,
    eps,
    hasW: !!params[0][1],
    hasB: !!params[1]?.[1],
    ...mapping(C === 0 ? 0 : x.size / C, C),
  };
}

// ---- ops ------------------------------------------------------------------------------------------

/**
 * LayerNorm over the last dim: y = (x - μ)·rstd·w + b, μ = mean(x), rstd = 1/√(var(x) + eps)
 * (biased variance, as torch). `weight` and `bias` have shape [C] or are null (then w = 1, b = 0).
 * One dispatch forward; backward: one for dx, one more for dweight/dbias when they need grad.
 */
// x̂ = (x - μ)·rstd,  y = x̂·w + b
// dx = rstd·(g·w - mean(g·w) - x̂·mean(g·w·x̂))      (means over the row)
// dw = Σ_rows g·x̂,  db = Σ_rows g
export function layerNorm(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  const p = checkNorm(
    'layerNorm',
    x,
    [
      ['weight', weight],
      ['bias', bias],
    ],
    eps,
  );
  const w = weight ?? x; // bound in the unused slot (has_w = 0): never read
  const b = bias ?? x;
  const [y, mu, rstd] = runKernel(
    'layerNorm',
    lnForward,
    [x, w, b],
    [{ shape: x.shape }, { shape: [p.rows], dtype: 'float32' }, { shape: [p.rows], dtype: 'float32' }],
    p,
  ); // y, f32 row stats
  const inputs = [x, weight, bias].filter((t): t is Tensor => !!t);
  const out = record(
    y,
    'layerNorm',
    inputs,
    (g) => {
      // g: (..., C) like x
      const dx = x.requiresGrad ? runKernel('layerNorm.backward', lnBackward, [g, x, w, mu, rstd], [{ shape: x.shape }], p)[0] : null;
      let dw: Tensor | null = null;
      let db: Tensor | null = null;
      if (weight?.requiresGrad || bias?.requiresGrad) {
        [dw, db] = runKernel('layerNorm.params', lnParams, [g, x, mu, rstd], [{ shape: [p.len] }, { shape: [p.len] }], p); // (C), (C)
        if (!weight?.requiresGrad) {
          dw.dispose();
          dw = null;
        }
        if (!bias?.requiresGrad) {
          db.dispose();
          db = null;
        }
      }
      return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
    },
    [x, mu, rstd],
  );
  if (!out.requiresGrad) {
    mu.dispose();
    rstd.dispose();
  }
  return out;
}

/**
 * RMSNorm over the last dim: y = x·rsqrt(mean(x²) + eps)·w. `weight` has shape [C] or is null.
 * One dispatch forward; backward: one for dx, one more for dweight when it needs grad.
 */
// x̂ = x·rstd, rstd = 1/√(mean(x²) + eps),  y = x̂·w
// dx = rstd·(g·w - x̂·mean(g·w·x̂))                   (mean over the row)
// dw = Σ_rows g·x̂
export function rmsNorm(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  const p = checkNorm('rmsNorm', x, [['weight', weight]], eps);
  const w = weight ?? x; // bound in the unused slot (has_w = 0): never read
  const [y, rstd] = runKernel('rmsNorm', rmsForward, [x, w], [{ shape: x.shape }, { shape: [p.rows], dtype: 'float32' }], p); // y, f32 row stats
  const inputs = weight ? [x, weight] : [x];
  const out = record(
    y,
    'rmsNorm',
    inputs,
    (g) => {
      const dx = x.requiresGrad ? runKernel('rmsNorm.backward', rmsBackward, [g, x, w, rstd], [{ shape: x.shape }], p)[0] : null;
      const dw = weight?.requiresGrad ? runKernel('rmsNorm.params', rmsParams, [g, x, rstd], [{ shape: [p.len] }], p)[0] : null;
      return weight ? [dx, dw] : [dx];
    },
    [x, rstd],
  );
  if (!out.requiresGrad) rstd.dispose();
  return out;
}

/** LayerNorm from primitive ops (mean, sub, mul, add, rsqrt): the twin of the fused kernel. */
export function layerNormNaive(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  checkNorm(
    'layerNormNaive',
    x,
    [
      ['weight', weight],
      ['bias', bias],
    ],
    eps,
  );
  const mu = mean(x, -1, true); // (..., 1)
  const d = sub(x, mu); // (..., C)
  const v = mean(mul(d, d), -1, true); // (..., 1)
  let y = mul(d, rsqrt(add(v, eps))); // (..., C)
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** RMSNorm from primitive ops (mul, mean, add, rsqrt): the twin of the fused kernel. */
export function rmsNormNaive(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  checkNorm('rmsNormNaive', x, [['weight', weight]], eps);
  const ms = mean(mul(x, x), -1, true); // (..., 1)
  let y = mul(x, rsqrt(add(ms, eps))); // (..., C)
  if (weight) y = mul(y, weight);
  return y;
}
