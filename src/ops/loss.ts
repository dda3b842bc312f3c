// Cross-entropy and NLL: a fused log-softmax + NLL per row (kernels/cross_entropy.wgsl), never
// materialising the softmax or a one-hot; class weights and label smoothing are folded into the same
// kernels, and nllLoss is the same kernels on log-probabilities (no log-softmax). Forward: one
// dispatch for the row losses (+ one for 'mean'/'sum', which also sums the weights of the rows not
// ignored); backward: one elementwise dispatch. Probability (float) targets take a composite path
// (fused logSoftmax, then products and sums), which also gives the targets a gradient.
// `crossEntropyNaive` / `nllLossNaive` build the same losses from primitive ops: the twins the fused
// kernels are tested against.
import { record } from '../autograd.js';
import { defineKernel, withConstants, type BadIndex } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape, MoragradError } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import type { Tensor } from '../tensor.js';
import { runKernel } from './apply.js';
import { add, div, eq, mul, ne, sub } from './binary.js';
import { arange, cast, full, zerosLike } from './creation.js';
import { grid1d, ROW_VARIANTS, threadsPerRow } from './grid.js';
import { max, mean, sum } from './reduce.js';
import { reshape } from './shape.js';
import { logSoftmax } from './softmax.js';
import { exp, log, neg } from './unary.js';

export type Reduction = 'mean' | 'sum' | 'none';
const MODE: Record<Reduction, number> = { mean: 0, sum: 1, none: 2 };
/** The kernel file with the reduction codes named (`MODE == MODE_MEAN`). */
const SHADER = withConstants('cross_entropy', { MODE_MEAN: MODE.mean, MODE_NONE: MODE.none }); // 'sum' is the remaining case

export interface NllLossOptions {
  /** Rows whose target equals this contribute no loss and no gradient (default -100, as torch). */
  ignoreIndex?: number;
  /** 'mean' (default): Σ loss / Σ w_target over the rows not ignored; 'sum'; or 'none' (the per-row losses). */
  reduction?: Reduction;
  /** Class weights [C] (float32, on the logits' backend): row loss ×w_target; 'mean' divides by their sum. */
  weight?: Tensor;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** ε in [0, 1]: the target becomes (1 - ε)·onehot + ε/C (torch's label_smoothing). Default 0. */
  labelSmoothing?: number;
}

interface CeParams {
  /** 'crossEntropy' or 'nllLoss': error messages and trace labels. */
  op: string;
  rows: number;
  len: number;
  ignore: number;
  reduction: Reduction;
  /** Label smoothing ε. */
  eps: number;
  hasWeight: boolean;
  /** The input holds log-probabilities (nllLoss). */
  logp: boolean;
  /** For error messages. */
  logitsShape: readonly number[];
  /** Threads per row of the forward. */
  tpr: number;
}

/** `mg.testing.forceKernel('crossEntropy', 'thread' | 'split', { tpr })`: threads per row of the forward. */
const ceSwitch = defineKernelSwitch('crossEntropy', ROW_VARIANTS);
const uniforms = (p: CeParams): ['u32' | 'i32' | 'f32', number][] => [
  ['u32', p.rows],
  ['u32', p.len],
  ['i32', p.ignore],
  ['f32', 1 / Math.max(p.len, 1)],
  ['f32', p.eps],
];
const flags = (p: CeParams) => ({ HAS_W: +p.hasWeight, SMOOTH: +(p.eps > 0), LOGP: +p.logp });

function targetError(p: CeParams, bad: BadIndex): MoragradError {
  return new MoragradError(
    p.op,
    `target ${bad.value} at row ${bad.pos} is out of range [0, ${p.len}) for ${p.logp ? 'input' : 'logits'} ${fmtShape(p.logitsShape)} (and is not ignoreIndex ${p.ignore})`,
  );
}

// Row loss (w: class weights or 1, W = Σ w, ε: smoothing, lse = m + log Σ exp(x - m)):
//   cross-entropy  (1 - ε)·w_t·(lse - x_t) + (ε/C)·(W·lse - Σ_c w_c x_c)
//   nll (logp)     -w_t·x_t
const forwardKernel = defineKernel<CeParams>({
  name: 'crossEntropy',
  label: (p) => p.op,
  cpu: ([x, t, w, wsum], [loss, lse], p) => {
    const C = p.len;
    const W = p.hasWeight && p.eps > 0 ? wsum[0] : C;
    for (let q = 0; q < p.rows; q++) {
      const base = q * C;
      const k = t[q];
      if (k !== p.ignore && (k < 0 || k >= C)) throw targetError(p, { value: k, pos: q });
      const wt = p.hasWeight && k !== p.ignore ? w[k] : 1;
      if (p.logp) {
        lse[2 * q] = lse[2 * q + 1] = 0;
        loss[q] = k === p.ignore ? 0 : -wt * x[base + k];
        continue;
      }
      let m = -Infinity;
      for (let c = 0; c < C; c++) if (x[base + c] > m || Number.isNaN(x[base + c])) m = x[base + c];
      let s = 0;
      let wx = 0;
      for (let c = 0; c < C; c++) {
        s += Math.exp(x[base + c] - m);
        wx += (p.hasWeight ? w[c] : 1) * x[base + c];
      }
      // lse as (m, log s): m stays out of the sum, exact for any logit magnitude
      lse[2 * q] = m;
      lse[2 * q + 1] = Math.log(s);
      if (k === p.ignore) {
        loss[q] = 0;
        continue;
      }
      const nll = wt * (lse[2 * q + 1] - (x[base + k] - m));
      loss[q] = p.eps > 0 ? (1 - p.eps) * nll + (p.eps / C) * (W * (m + lse[2 * q + 1]) - wx) : nll;
    }
  },
  f16: 'alias', // logits, row losses, the loss and the gradients in the logits' dtype; lse, count, weights f32
  gpu: {
    shader: SHADER,
    entry: 'forward',
    constants: (p) => ({ WG: Math.max(64, p.tpr), TPR: p.tpr, ...flags(p) }),
    uniforms,
    workgroups: (p) => grid1d(Math.ceil(p.rows / (Math.max(64, p.tpr) / p.tpr)), 1),
  },
  indexError: targetError,
});

const reduceKernel = defineKernel<CeParams>({
  name: 'crossEntropy.reduce',
  label: (p) => `${p.op}.${p.reduction}`,
  cpu: ([loss, t, w], [out, count], p) => {
    let s = 0;
    let n = 0;
    for (let q = 0; q < p.rows; q++) {
      s += loss[q];
      if (t[q] !== p.ignore) n += p.hasWeight ? w[t[q]] : 1;
    }
    count[0] = n;
    out[0] = p.reduction === 'mean' ? (n === 0 ? NaN : s / n) : s; // every row ignored (or Σw = 0): NaN, as torch
  },
  f16: 'alias', // logits, row losses, the loss and the gradients in the logits' dtype; lse, count, weights f32
  gpu: {
    shader: SHADER,
    entry: 'reduce',
    constants: (p) => ({ MODE: MODE[p.reduction], WG: 256, HAS_W: +p.hasWeight }),
    uniforms,
    workgroups: () => [1, 1, 1],
  },
});

// d row loss / dx_c (p = softmax(x), s = g/count for 'mean', g for 'sum', g_row for 'none'):
//   cross-entropy  s·((1 - ε)·w_t·(p_c - [c = t]) + (ε/C)·(W·p_c - w_c))
//   nll (logp)     -s·w_t·[c = t]
// ignored rows: 0
const backwardKernel = defineKernel<CeParams>({
  name: 'crossEntropy.backward',
  label: (p) => `${p.op}.backward`,
  cpu: ([x, t, lse, g, count, w, wsum], [dx], p) => {
    const C = p.len;
    const W = p.hasWeight && p.eps > 0 ? wsum[0] : C;
    for (let q = 0; q < p.rows; q++) {
      const base = q * C;
      const k = t[q];
      const s = p.reduction === 'mean' ? g[0] / count[0] : p.reduction === 'sum' ? g[0] : g[q];
      const wt = p.hasWeight && k !== p.ignore ? w[k] : 1;
      for (let c = 0; c < C; c++) {
        const hot = c === k ? 1 : 0;
        let d: number;
        if (p.logp) d = -wt * hot * s;
        else {
          const pc = Math.exp(x[base + c] - lse[2 * q] - lse[2 * q + 1]);
          d = wt * (pc - hot);
          if (p.eps > 0) d = (1 - p.eps) * d + (p.eps / C) * (W * pc - (p.hasWeight ? w[c] : 1));
          d *= s;
        }
        dx[base + c] = k === p.ignore ? 0 : d;
      }
    }
  },
  f16: 'alias', // logits, row losses, the loss and the gradients in the logits' dtype; lse, count, weights f32
  gpu: {
    shader: SHADER,
    entry: 'backward',
    constants: (p) => ({ MODE: MODE[p.reduction], ...flags(p) }),
    uniforms,
    workgroups: (p) => grid1d(p.rows * p.len, 256),
  },
});

function checkTensor(op: string, name: string, t: unknown): void {
  if (!t || typeof t !== 'object' || !('shape' in t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
}

function checkReduction(op: string, reduction: unknown): Reduction {
  const r = reduction ?? 'mean';
  if (typeof r !== 'string' || !(r in MODE)) fail(op, `reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`);
  return r as Reduction;
}

/** Checks a class-weight tensor: float32 [C] on the input's backend. */
function checkWeight(op: string, w: Tensor | undefined, x: Tensor, C: number): void {
  if (w === undefined) return;
  checkTensor(op, 'weight', w);
  if (w.dtype !== 'float32' || w.ndim !== 1 || w.shape[0] !== C)
    fail(op, `weight must be a float32 tensor of shape [${C}] (one per class of ${fmtShape(x.shape)}), got ${w.describe()}`);
  if (w.backend !== x.backend)
    fail(op, `weight lives on ${w.backend.name} and the input on ${x.backend.name}; move it with .to('${x.backend.name}')`);
}

function checkSmoothing(op: string, eps: unknown): number {
  const e = eps ?? 0;
  if (typeof e !== 'number' || !(e >= 0 && e <= 1)) fail(op, `labelSmoothing must be a number in [0, 1], got ${String(e)}`);
  return e as number;
}

function checkCe(op: string, logits: Tensor, targets: Tensor, opts: CrossEntropyOptions, logp: boolean): CeParams {
  const what = logp ? 'input' : 'logits';
  checkTensor(op, what, logits);
  checkTensor(op, 'targets', targets);
  if (!isFloat(logits.dtype)) fail(op, `${what} must be float32 or float16, got ${logits.describe()}`);
  if (targets.dtype !== 'int32') fail(op, `targets must be int32 class indices, got ${targets.describe()}`);
  if (logits.ndim === 0) fail(op, `${what} must have a class dim (shape [..., C]), got ${fmtShape(logits.shape)}`);
  const lead = logits.shape.slice(0, -1);
  if (lead.join() !== targets.shape.join()) {
    fail(op, `targets ${fmtShape(targets.shape)} must have the leading shape ${fmtShape(lead)} of ${what} ${fmtShape(logits.shape)}`);
  }
  const reduction = checkReduction(op, opts.reduction);
  const ignore = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignore)) fail(op, `ignoreIndex must be an integer, got ${String(ignore)}`);
  const len = logits.shape[logits.ndim - 1];
  if (len === 0 && targets.size > 0) fail(op, `${what} ${fmtShape(logits.shape)} have no classes`);
  checkWeight(op, opts.weight, logits, len);
  const eps = checkSmoothing(op, opts.labelSmoothing);
  return {
    op,
    rows: targets.size,
    len,
    ignore,
    reduction,
    eps,
    hasWeight: opts.weight !== undefined,
    logp,
    logitsShape: logits.shape,
    tpr: logp ? 1 : threadsPerRow(ceSwitch, targets.size, len),
  };
}

/** The fused forward (+ reduction) with its backward recorded. */
function fusedCe(logits: Tensor, targets: Tensor, p: CeParams, weight: Tensor | undefined): Tensor {
  const outShape = p.reduction === 'none' ? targets.shape : [];
  if (p.rows === 0) {
    const empty = full(outShape, p.reduction === 'mean' ? NaN : 0, { backend: logits.backend.name, dtype: logits.dtype });
    return record(empty, p.op, [logits], () => [zerosLike(logits)]);
  }
  const wsum = weight && p.eps > 0 ? sum(weight) : null; // (): W, read only with weights and smoothing
  const w = weight ?? logits; // dummies bind in the slots their flags leave unread
  const ws = wsum ?? logits;
  const [rowLoss, lse] = runKernel(
    p.op,
    forwardKernel,
    [logits, targets, w, ws],
    [{ shape: targets.shape }, { shape: [p.rows, 2], dtype: 'float32' }],
    p,
  ); // (...), (rows, 2): max and log Σ exp(x - max)
  let out = rowLoss;
  let count: Tensor | null = null;
  if (p.reduction !== 'none') {
    [out, count] = runKernel(
      `${p.op}.${p.reduction}`,
      reduceKernel,
      [rowLoss, targets, w],
      [{ shape: [] }, { shape: [], dtype: 'float32' }],
      p,
    );
    rowLoss.dispose();
  }
  const cnt = count ?? lse; // 'none' binds lse in the count slot (never read)
  const res = record(
    out,
    p.op,
    [logits],
    (g) => runKernel(`${p.op}.backward`, backwardKernel, [logits, targets, lse, g, cnt, w, ws], [{ shape: logits.shape }], p),
    [logits, targets, lse, cnt, w, ws],
  );
  if (!res.requiresGrad) {
    lse.dispose();
    count?.dispose();
    wsum?.dispose();
  }
  return res;
}

/**
 * Cross-entropy between `logits` [..., C] (float32) and `targets`, as torch.nn.functional.cross_entropy
 * with the class dim LAST (this engine's convention; torch's is dim 1):
 * - class indices [...] (int32): loss_row = (1 - ε)·w_t·(lse - x_t) + (ε/C)·Σ_c w_c·(lse - x_c), where
 *   lse = logsumexp(logits_row), w the class `weight` (1 without), ε the `labelSmoothing`. Rows whose
 *   target is `ignoreIndex` (default -100) contribute nothing; 'mean' (default) divides by Σ w_t over
 *   the rows not ignored (their count without weights) and is NaN when every row is ignored (as
 *   torch); 'sum' adds; 'none' returns the per-row losses (0 for ignored rows). A target outside
 *   [0, C) that is not ignoreIndex throws, naming the target, its row and C (on webgpu at the next
 *   readback, the row's loss being NaN until then). Fused (see the file header); stable for any logit
 *   magnitude.
 * - probabilities [..., C] (float32, the logits' shape): loss_row = -Σ_c w_c·y'_c·logSoftmax(x)_c with
 *   y' = (1 - ε)·y + ε/C; 'mean' divides by the number of rows (not by the weights, as torch);
 *   ignoreIndex does not apply. Differentiable in both logits and targets.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  if (targets && typeof targets === 'object' && 'dtype' in targets && targets.dtype === 'float32')
    return crossEntropyProbs('crossEntropy', logits, targets, opts);
  const p = checkCe('crossEntropy', logits, targets, opts, false);
  return fusedCe(logits, targets, p, opts.weight);
}

/**
 * Negative log-likelihood, as torch.nn.functional.nll_loss with the class dim LAST: `input` [..., C]
 * holds log-probabilities (e.g. from logSoftmax), `targets` [...] int32 class indices;
 * loss_row = -w_t·input[row, t]. ignoreIndex, weight and the reductions as crossEntropy (which is
 * nllLoss(logSoftmax(x))). Runs on crossEntropy's fused kernels without the log-softmax.
 */
export function nllLoss(input: Tensor, targets: Tensor, opts: NllLossOptions = {}): Tensor {
  if ((opts as CrossEntropyOptions).labelSmoothing !== undefined)
    fail('nllLoss', "labelSmoothing is not an option of nllLoss (torch's nll_loss has none either); use crossEntropy");
  const p = checkCe('nllLoss', input, targets, opts, true);
  return fusedCe(input, targets, p, opts.weight);
}

/** Cross-entropy against probability targets (composite; see crossEntropy). */
function crossEntropyProbs(op: string, logits: Tensor, targets: Tensor, opts: CrossEntropyOptions): Tensor {
  checkTensor(op, 'logits', logits);
  if (logits.dtype !== 'float32') fail(op, `logits must be float32, got ${logits.describe()}`);
  if (logits.ndim === 0) fail(op, `logits must have a class dim (shape [..., C]), got ${fmtShape(logits.shape)}`);
  if (logits.shape.join() !== targets.shape.join())
    fail(
      op,
      `targets must be int32 class indices of shape ${fmtShape(logits.shape.slice(0, -1))} or float32 probabilities of shape ${fmtShape(logits.shape)}, got ${targets.describe()}`,
    );
  if (opts.ignoreIndex !== undefined)
    fail(op, 'ignoreIndex applies to class-index (int32) targets only, not to probability targets (torch ignores it there)');
  const reduction = checkReduction(op, opts.reduction);
  const C = logits.shape[logits.ndim - 1];
  checkWeight(op, opts.weight, logits, C);
  const eps = checkSmoothing(op, opts.labelSmoothing);
  const y = eps > 0 ? add(mul(targets, 1 - eps), eps / C) : targets; // (1 - ε)·y + ε/C  (..., C)
  const wy = opts.weight ? mul(y, opts.weight) : y; // w_c·y'_c  (..., C)
  const rows = neg(sum(mul(logSoftmax(logits, -1), wy), -1)); // -Σ_c w_c y'_c logp_c  (...)
  if (reduction === 'none') return rows;
  if (reduction === 'sum') return sum(rows);
  return mean(rows); // over the rows; none: NaN (as torch)
}

/**
 * Cross-entropy from primitive ops: log-softmax by max/sub/exp/sum/log, a one-hot from
 * eq(arange(C), targets), a validity mask from ne(targets, ignoreIndex), weights and smoothing by
 * products and sums. The twin of the fused kernel (it does not check target ranges: an out-of-range
 * target gives a one-hot of zeros).
 */
export function crossEntropyNaive(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const p = checkCe('crossEntropyNaive', logits, targets, opts, false);
  const z = sub(logits, max(logits, -1, true)); // (..., C)
  const logp = sub(z, log(sum(exp(z), -1, true))); // (..., C)
  return nllFromLogp(logp, targets, p, opts.weight);
}

/** nllLoss from primitive ops: the twin of its fused kernel (no target range check). */
export function nllLossNaive(input: Tensor, targets: Tensor, opts: NllLossOptions = {}): Tensor {
  const p = checkCe('nllLossNaive', input, targets, { ...opts, labelSmoothing: 0 }, true);
  return nllFromLogp(input, targets, p, opts.weight);
}

function nllFromLogp(logp: Tensor, targets: Tensor, p: CeParams, weight: Tensor | undefined): Tensor {
  const backend = logp.backend.name;
  const tf = cast(targets, 'float32'); // (...)
  const onehot = eq(arange(0, p.len, 1, { backend }), reshape(tf, [...targets.shape, 1])); // (..., C)
  const valid = ne(tf, p.ignore); // (...)
  const w = weight ?? full([p.len], 1, { backend }); // (C)
  const wt = sum(mul(onehot, w), -1); // w_t  (...)
  let rows = mul(neg(sum(mul(logp, onehot), -1)), wt); // -w_t·logp_t  (...)
  if (p.eps > 0) rows = add(mul(rows, 1 - p.eps), mul(neg(sum(mul(logp, w), -1)), p.eps / p.len)); // + (ε/C)·Σ_c -w_c logp_c
  rows = mul(rows, valid);
  if (p.reduction === 'none') return rows;
  if (p.reduction === 'sum') return sum(rows);
  return div(sum(rows), sum(mul(wt, valid)));
}
