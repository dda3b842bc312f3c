// Cross-entropy: a fused log-softmax + NLL per row (kernels/cross_entropy.wgsl), never materialising
// the softmax or a one-hot. Forward: one dispatch for the row losses (+ one for 'mean'/'sum', which
// also counts the rows not ignored); backward: one elementwise dispatch, dlogits = (softmax - onehot)·s.
// `crossEntropyNaive` builds the same loss from primitive ops: the twin the fused kernels are tested
// against.
import { record } from '../autograd.js';
import { defineKernel, withConstants, type BadIndex } from '../backend/interface.js';
import { fail, fmtShape, MoragradError } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import type { Tensor } from '../tensor.js';
import { runKernel } from './apply.js';
import { div, eq, mul, ne, sub } from './binary.js';
import { arange, cast, full, zerosLike } from './creation.js';
import { grid1d, ROW_VARIANTS, threadsPerRow } from './grid.js';
import { max, sum } from './reduce.js';
import { reshape } from './shape.js';
import { exp, log, neg } from './unary.js';

export type Reduction = 'mean' | 'sum' | 'none';
const MODE: Record<Reduction, number> = { mean: 0, sum: 1, none: 2 };
/** The kernel file with the reduction codes named (`MODE == MODE_MEAN`). */
const SHADER = withConstants('cross_entropy', { MODE_MEAN: MODE.mean, MODE_NONE: MODE.none }); // 'sum' is the remaining case

export interface CrossEntropyOptions {
  /** Rows whose target equals this contribute no loss and no gradient (default -100, as torch). */
  ignoreIndex?: number;
  /** 'mean' over the rows not ignored (default), 'sum', or 'none' (the per-row losses). */
  reduction?: Reduction;
}

interface CeParams {
  rows: number;
  len: number;
  ignore: number;
  reduction: Reduction;
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
];

function targetError(p: CeParams, bad: BadIndex): MoragradError {
  return new MoragradError(
    'crossEntropy',
    `target ${bad.value} at row ${bad.pos} is out of range [0, ${p.len}) for logits ${fmtShape(p.logitsShape)} (and is not ignoreIndex ${p.ignore})`,
  );
}

const forwardKernel = defineKernel<CeParams>({
  name: 'crossEntropy',
  cpu: ([x, t], [loss, lse], p) => {
    const C = p.len;
    for (let q = 0; q < p.rows; q++) {
      const base = q * C;
      const k = t[q];
      if (k !== p.ignore && (k < 0 || k >= C)) throw targetError(p, { value: k, pos: q });
      let m = -Infinity;
      for (let c = 0; c < C; c++) if (x[base + c] > m || Number.isNaN(x[base + c])) m = x[base + c];
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x[base + c] - m);
      // lse as (m, log s): m stays out of the sum, exact for any logit magnitude
      lse[2 * q] = m;
      lse[2 * q + 1] = Math.log(s);
      loss[q] = k === p.ignore ? 0 : lse[2 * q + 1] - (x[base + k] - m);
    }
  },
  gpu: {
    shader: SHADER,
    entry: 'forward',
    constants: (p) => ({ WG: Math.max(64, p.tpr), TPR: p.tpr }),
    uniforms,
    workgroups: (p) => grid1d(Math.ceil(p.rows / (Math.max(64, p.tpr) / p.tpr)), 1),
  },
  indexError: targetError,
});

const reduceKernel = defineKernel<CeParams>({
  name: 'crossEntropy.reduce',
  label: (p) => `crossEntropy.${p.reduction}`,
  cpu: ([loss, t], [out, count], p) => {
    let s = 0;
    let n = 0;
    for (let q = 0; q < p.rows; q++) {
      s += loss[q];
      if (t[q] !== p.ignore) n++;
    }
    count[0] = n;
    out[0] = p.reduction === 'mean' ? s / n : s; // 0 / 0 = NaN when every row is ignored
  },
  gpu: {
    shader: SHADER,
    entry: 'reduce',
    constants: (p) => ({ MODE: MODE[p.reduction], WG: 256 }),
    uniforms,
    workgroups: () => [1, 1, 1],
  },
});

const backwardKernel = defineKernel<CeParams>({
  name: 'crossEntropy.backward',
  cpu: ([x, t, lse, g, count], [dx], p) => {
    const C = p.len;
    for (let q = 0; q < p.rows; q++) {
      const base = q * C;
      const k = t[q];
      const s = p.reduction === 'mean' ? g[0] / count[0] : p.reduction === 'sum' ? g[0] : g[q];
      for (let c = 0; c < C; c++)
        dx[base + c] = k === p.ignore ? 0 : (Math.exp(x[base + c] - lse[2 * q] - lse[2 * q + 1]) - (c === k ? 1 : 0)) * s;
    }
  },
  gpu: {
    shader: SHADER,
    entry: 'backward',
    constants: (p) => ({ MODE: MODE[p.reduction] }),
    uniforms,
    workgroups: (p) => grid1d(p.rows * p.len, 256),
  },
});

function checkCe(op: string, logits: Tensor, targets: Tensor, opts: CrossEntropyOptions): CeParams {
  for (const [name, t] of [
    ['logits', logits],
    ['targets', targets],
  ] as const) {
    if (!t || typeof t !== 'object' || !('shape' in t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
  }
  if (logits.dtype !== 'float32') fail(op, `logits must be float32, got ${logits.describe()}`);
  if (targets.dtype !== 'int32') fail(op, `targets must be int32 class indices, got ${targets.describe()}`);
  if (logits.ndim === 0) fail(op, `logits must have a class dim (shape [..., C]), got ${fmtShape(logits.shape)}`);
  const lead = logits.shape.slice(0, -1);
  if (lead.join() !== targets.shape.join()) {
    fail(op, `targets ${fmtShape(targets.shape)} must have the leading shape ${fmtShape(lead)} of logits ${fmtShape(logits.shape)}`);
  }
  const reduction = opts.reduction ?? 'mean';
  if (!(reduction in MODE)) fail(op, `reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  const ignore = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignore)) fail(op, `ignoreIndex must be an integer, got ${String(ignore)}`);
  const len = logits.shape[logits.ndim - 1];
  if (len === 0 && targets.size > 0) fail(op, `logits ${fmtShape(logits.shape)} have no classes`);
  return { rows: targets.size, len, ignore, reduction, logitsShape: logits.shape, tpr: threadsPerRow(ceSwitch, targets.size, len) };
}

/**
 * Cross-entropy between `logits` [..., C] (float32) and class `targets` [...] (int32):
 * loss_row = logsumexp(logits_row) - logits_row[target]. Rows whose target is `ignoreIndex` (default
 * -100) contribute nothing; 'mean' (default) divides by the number of rows not ignored and is NaN
 * when every row is ignored (as torch); 'sum' adds; 'none' returns the per-row losses (0 for ignored
 * rows). A target outside [0, C) that is not ignoreIndex throws, naming the target, its row and C
 * (on webgpu at the next readback, the row's loss being NaN until then). Stable for any logit magnitude.
 */
// loss = lse - x_t,  lse = log Σ_c exp(x_c)
// dloss/dx_c = softmax(x)_c - [c = t]     -> dlogits = (softmax - onehot)·g / count   ('mean')
//                                                      (softmax - onehot)·g           ('sum'; g per row for 'none')
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const p = checkCe('crossEntropy', logits, targets, opts);
  const outShape = p.reduction === 'none' ? targets.shape : [];
  if (p.rows === 0) {
    const empty = full(outShape, p.reduction === 'mean' ? NaN : 0, { backend: logits.backend.name });
    return record(empty, 'crossEntropy', [logits], () => [zerosLike(logits)]);
  }
  const [rowLoss, lse] = runKernel('crossEntropy', forwardKernel, [logits, targets], [{ shape: targets.shape }, { shape: [p.rows, 2] }], p); // (...), (rows, 2): max and log Σ exp(x - max)
  let out = rowLoss;
  let count: Tensor | null = null;
  if (p.reduction !== 'none') {
    [out, count] = runKernel(`crossEntropy.${p.reduction}`, reduceKernel, [rowLoss, targets], [{ shape: [] }, { shape: [] }], p);
    rowLoss.dispose();
  }
  const cnt = count ?? lse; // 'none' binds lse in the count slot (never read)
  const res = record(
    out,
    'crossEntropy',
    [logits],
    (g) => runKernel('crossEntropy.backward', backwardKernel, [logits, targets, lse, g, cnt], [{ shape: logits.shape }], p),
    [logits, targets, lse, cnt],
  );
  if (!res.requiresGrad) {
    lse.dispose();
    count?.dispose();
  }
  return res;
}

/**
 * Cross-entropy from primitive ops: log-softmax by max/sub/exp/sum/log, a one-hot from
 * eq(arange(C), targets), a validity mask from ne(targets, ignoreIndex). The twin of the fused kernel
 * (it does not check target ranges: an out-of-range target gives loss logsumexp·0 = 0 for its row).
 */
export function crossEntropyNaive(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const p = checkCe('crossEntropyNaive', logits, targets, opts);
  const backend = logits.backend.name;
  const z = sub(logits, max(logits, -1, true)); // (..., C)
  const logp = sub(z, log(sum(exp(z), -1, true))); // (..., C)
  const tf = cast(targets, 'float32'); // (...)
  const onehot = eq(arange(0, p.len, 1, { backend }), reshape(tf, [...targets.shape, 1])); // (..., C)
  const valid = ne(tf, p.ignore); // (...)
  const rows = mul(neg(sum(mul(logp, onehot), -1)), valid); // (...)
  if (p.reduction === 'none') return rows;
  if (p.reduction === 'sum') return sum(rows);
  return div(sum(rows), sum(valid));
}
