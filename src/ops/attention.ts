// Scaled dot-product attention, out = dropout(softmax(scale·q@kᵀ + mask)) @ v, three ways:
//   'softmax' (default) the head product q kᵀ (src/ops/attention-product.ts), scaledMaskedSoftmax
//             (one fused scale + masks + softmax + dropout kernel, kernels/attention.wgsl, with its
//             fused backward), the head product P v: three dispatches forward, five backward; any
//             head size. The products read q, k, v and write the output through strides, in either
//             layout ('bhtd' [B, nh, T, hs] or 'bthd' [B, T, nh, hs], the Linear layers' own: no
//             head split / merge copies), and share key/value heads between query heads (GQA).
//   'flash'   kernels/flash_attention.wgsl: one dispatch forward (a thread per block of query rows,
//             online softmax, the (Tq, Tk) scores never stored), two backward (dq, then dk/dv);
//             'bhtd', nkv = nh, causal / keyPadding only, head sizes multiples of 4 up to 64.
//   attentionNaive: the same function from primitive ops (permute, matmul, mul, add, where of a -inf
//             mask, softmax, dropout, matmul): the twin both fused paths are tested against.
// 'softmax' is the default and 'flash' opt-in (`impl: 'flash'`, or mg.testing.forceKernel('attention',
// 'flash') for every call it supports): flash's head-size-specialised kernels are slow to build on CPU
// adapters for a small gain per step (docs/performance.md).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { broadcastShapes, numel, stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backendOf, floatDtypeOf, run1, runInPlace, runKernel } from './apply.js';
import { emptyLike, headProduct, headStrides } from './attention-product.js';
import { add, mul, where } from './binary.js';
import { tensor } from './creation.js';
import { dropout as dropoutOp } from './dropout.js';
import { grid1d, ROW_VARIANTS, rowWorkgroup, threadsPerRow } from './grid.js';
import { matmul } from './matmul.js';
import { bits, nextSeed, streamKey } from './random.js';
import { sumTo } from './reduce.js';
import { expand, permute, reshape, transpose } from './shape.js';
import { softmax } from './softmax.js';

export type AttentionImpl = 'flash' | 'softmax';
/** 'bhtd': [B, nh, T, hs] (torch's scaled_dot_product_attention); 'bthd': [B, T, nh, hs] (flash-attn's, a Linear output reshaped). */
export type AttentionLayout = 'bhtd' | 'bthd';

export interface AttentionOptions {
  /** Mask key j from query i when j > i + Tk - Tq (bottom-right aligned; j > i when Tq = Tk). */
  causal?: boolean;
  /** [B, Tk] float: 1 = keep, 0 = pad (masked for every query). */
  keyPadding?: Tensor;
  /**
   * Additive float mask (torch's float attn_mask) added to scale·q·k before the softmax, broadcast
   * to [B, nh, Tq, Tk] (e.g. [Tq, Tk], [B, 1, Tq, Tk], [B, nh, Tq, Tk]); -Infinity masks a key.
   * Combines with `causal` and `keyPadding`. Differentiable (relative position biases, ALiBi slopes).
   */
  mask?: Tensor;
  /** Dropout probability on the attention weights P (training only: pass 0 in eval). Default 0. */
  dropout?: number;
  /** Seed of the dropout mask (default: the next of the global sequence, mg.manualSeed). */
  seed?: number;
  /** Multiplies q·k; default 1/√hs. */
  scale?: number;
  /** Which fused path: 'softmax' (default) or 'flash' (head sizes that are multiples of 4 up to 64). */
  impl?: AttentionImpl;
  /** Layout of q, k, v and the output (default 'bhtd'). */
  layout?: AttentionLayout;
}

export interface MaskedSoftmaxOptions {
  scale?: number;
  causal?: boolean;
  keyPadding?: Tensor;
  /** Additive float mask broadcast to the scores (rank <= 4). */
  mask?: Tensor;
  /** Dropout probability on the result (the mask regenerated from `seed` in the backward). */
  dropout?: number;
  seed?: number;
}

/** `mg.testing.forceKernel('attention', impl)`: the path `attention` takes when the call names none. */
const attentionSwitch = defineKernelSwitch<AttentionImpl>('attention', {
  softmax: { about: 'head product q kᵀ -> scaledMaskedSoftmax -> head product P v (the default)' },
  flash: {
    about:
      'kernels/flash_attention.wgsl, one dispatch forward (bhtd, head sizes 4..64 multiples of 4, no mask / dropout / GQA; softmax otherwise)',
  },
});
/** `mg.testing.forceKernel('scaledMaskedSoftmax', 'thread' | 'split', { tpr })`: threads per row. */
const smSwitch = defineKernelSwitch('scaledMaskedSoftmax', ROW_VARIANTS);

/** The head sizes the flash kernels take: multiples of 4 up to 4·MAX_H4 (their private arrays). */
const FLASH_MAX_HS = 64;
const flashSupports = (hs: number): boolean => hs % 4 === 0 && hs > 0 && hs <= FLASH_MAX_HS;

// ---- masks (shared by the cpu loops) ---------------------------------------------------------------

interface MaskParams {
  /** Rows = B·H·Tq, query and key lengths, H·Tq (rows per batch entry), scale. */
  rows: number;
  tq: number;
  tk: number;
  htq: number;
  scale: number;
  causal: boolean;
  hasPad: boolean;
}

/** Keys [0, end) may be seen by query i (causal cut, bottom-right aligned). */
const keyEnd = (p: MaskParams, i: number): number => (p.causal ? Math.min(p.tk, Math.max(0, i + p.tk - p.tq + 1)) : p.tk);
const visible = (p: MaskParams, pad: ArrayLike<number>, r: number, j: number): boolean =>
  j < keyEnd(p, r % p.tq) && (!p.hasPad || pad[Math.floor(r / p.htq) * p.tk + j] !== 0);

// ---- scaledMaskedSoftmax kernels -------------------------------------------------------------------

interface SmParams extends MaskParams {
  tpr: number;
  wg: number;
  /** Heads H (row r = (b·H + h)·Tq + i); the additive mask's element strides over (b, h, i, j), 0 where broadcast. */
  heads: number;
  hasMask: boolean;
  mStrides: [number, number, number, number];
  /** Dropout: key j of row r kept iff (bits(key, r·Tk + j) >> 8) >= threshold; kept values times dScale. */
  drop: boolean;
  key: number;
  threshold: number;
  dScale: number;
}

const smConstants = (p: SmParams) => ({ WG: p.wg, TPR: p.tpr });
const smUniforms = (p: SmParams): ['u32' | 'f32', number][] => [
  ['u32', p.rows],
  ['u32', p.tq],
  ['u32', p.tk],
  ['u32', p.htq],
  ['f32', p.scale],
  ['u32', +p.causal],
  ['u32', +p.hasPad],
  ['u32', p.heads],
  ['u32', +p.hasMask],
  ...p.mStrides.map((v): ['u32', number] => ['u32', v]),
  ['u32', p.key],
  ['u32', p.threshold],
  ['f32', p.dScale],
  ['u32', +p.drop],
];
const smGrid = (p: SmParams) => grid1d(Math.ceil(p.rows / (p.wg / p.tpr)), 1);

/** Offset of the additive mask's (r, j) element. */
function maskOffset(p: SmParams, r: number, j: number): number {
  const i = r % p.tq;
  const h = Math.floor(r / p.tq) % p.heads;
  const b = Math.floor(r / p.htq);
  const [sb, sh, si, sj] = p.mStrides;
  return b * sb + h * sh + i * si + j * sj;
}

const kept = (p: SmParams, idx: number): boolean => bits(p.key, idx) >>> 8 >= p.threshold;

/** Writes P (and, with dropout, Y = P·keep·dScale) of every row. */
function cpuSoftmaxRows(
  s: ArrayLike<number>,
  pad: ArrayLike<number>,
  mask: ArrayLike<number>,
  P: { [i: number]: number },
  Y: { [i: number]: number } | null,
  p: SmParams,
): void {
  const z = new Float64Array(p.tk);
  for (let r = 0; r < p.rows; r++) {
    const base = r * p.tk;
    // as the WGSL: NaN or +Inf logits make the visible row NaN, -Inf logits count as masked, no
    // visible key -> 0
    let m = -Infinity;
    let l = 0;
    for (let j = 0; j < p.tk; j++) {
      z[j] = s[base + j] * p.scale + (p.hasMask ? mask[maskOffset(p, r, j)] : 0);
      if (visible(p, pad, r, j)) m = Math.max(m, z[j]);
    }
    for (let j = 0; j < p.tk; j++) if (visible(p, pad, r, j) && z[j] !== -Infinity) l += Math.exp(z[j] - m);
    for (let j = 0; j < p.tk; j++) {
      const v = z[j];
      const y = visible(p, pad, r, j) && l !== 0 && (v !== -Infinity || Number.isNaN(l)) ? Math.exp(v - m) / l : 0;
      P[base + j] = y;
      if (Y) Y[base + j] = kept(p, base + j) ? y * p.dScale : 0;
    }
  }
}

const gpuSm = (entry: string) => ({ shader: 'attention', entry, constants: smConstants, uniforms: smUniforms, workgroups: smGrid });

const smForward = defineKernel<SmParams>({
  name: 'scaledMaskedSoftmax',
  cpu: ([s, pad, mask], [P], p) => cpuSoftmaxRows(s, pad, mask, P, null, p),
  f16: 'alias', // scores, mask, P (and Y) in the scores' dtype; keyPadding stays a float32 mask
  gpu: gpuSm('forward'),
});

const smForwardDrop = defineKernel<SmParams>({
  name: 'scaledMaskedSoftmax.dropout',
  cpu: ([s, pad, mask], [P, Y], p) => cpuSoftmaxRows(s, pad, mask, P, Y, p),
  f16: 'alias',
  gpu: gpuSm('forward_drop'),
});

// g' = g·keep·dScale (dropout) or g; dZ = P ⊙ (g' - Σ_j g'_j P_j); dS = scale·dZ
function cpuSoftmaxBackward(g: ArrayLike<number>, P: ArrayLike<number>, ds: { [i: number]: number }, p: SmParams): void {
  const gd = new Float64Array(p.tk);
  for (let r = 0; r < p.rows; r++) {
    const base = r * p.tk;
    let dot = 0;
    for (let j = 0; j < p.tk; j++) {
      gd[j] = p.drop ? (kept(p, base + j) ? g[base + j] * p.dScale : 0) : g[base + j];
      dot += gd[j] * P[base + j];
    }
    for (let j = 0; j < p.tk; j++) ds[base + j] = p.scale * P[base + j] * (gd[j] - dot);
  }
}

const smBackward = defineKernel<SmParams>({
  name: 'scaledMaskedSoftmax.backward',
  cpu: ([g, P], [ds], p) => cpuSoftmaxBackward(g, P, ds, p),
  f16: 'alias',
  gpu: gpuSm('backward'),
});

// ---- flash kernels -----------------------------------------------------------------------------------

interface FlashParams extends MaskParams {
  hs: number;
}

const FLASH_WG = 64;
const flashConstants = (p: FlashParams) => ({ WG: FLASH_WG, HS: p.hs });
const flashUniforms = (p: FlashParams): ['u32' | 'f32', number][] => [
  ['u32', p.rows],
  ['u32', p.tq],
  ['u32', p.tk],
  ['u32', p.htq],
  ['u32', p.hs],
  ['f32', p.scale],
  ['u32', +p.causal],
  ['u32', +p.hasPad],
];
/** Rows per thread (RQ in the WGSL). */
const FLASH_RQ = 2;
/** One thread per block of FLASH_RQ query (or key) rows of one (b, h). */
const queryGrid = (p: FlashParams) => grid1d((p.rows / p.tq) * Math.ceil(p.tq / FLASH_RQ), FLASH_WG);
const keyGrid = (p: FlashParams) => grid1d((p.rows / p.tq) * Math.ceil(p.tk / FLASH_RQ), FLASH_WG);

/** Row r of a (rows, hs) buffer as a dot with row c of another. */
function dot(a: ArrayLike<number>, ra: number, b: ArrayLike<number>, rb: number, hs: number): number {
  let s = 0;
  for (let d = 0; d < hs; d++) s += a[ra * hs + d] * b[rb * hs + d];
  return s;
}

const flashForward = defineKernel<FlashParams>({
  name: 'attention.flash',
  cpu: ([q, k, v, pad], [o, stats], p) => {
    const { hs } = p;
    for (let r = 0; r < p.rows; r++) {
      const kb = Math.floor(r / p.tq) * p.tk; // first key row of (b, h)
      let m = -Infinity;
      for (let j = 0; j < p.tk; j++) if (visible(p, pad, r, j)) m = Math.max(m, p.scale * dot(q, r, k, kb + j, hs));
      let l = 0;
      const acc = new Float64Array(hs);
      for (let j = 0; j < p.tk; j++) {
        const sc = p.scale * dot(q, r, k, kb + j, hs);
        if (!visible(p, pad, r, j) || sc === -Infinity) continue;
        const e = Math.exp(sc - m);
        l += e;
        for (let d = 0; d < hs; d++) acc[d] += e * v[(kb + j) * hs + d];
      }
      // no visible key: o = 0 and lse = +Inf (every backward p = exp(s - lse) is 0); NaN stays NaN
      for (let d = 0; d < hs; d++) o[r * hs + d] = l === 0 ? 0 : acc[d] / l;
      stats[2 * r] = l === 0 ? Infinity : m + Math.log(l);
      stats[2 * r + 1] = 0;
    }
  },
  gpu: { shader: 'flash_attention', entry: 'forward', constants: flashConstants, uniforms: flashUniforms, workgroups: (p) => queryGrid(p) },
});

const flashBwdQ = defineKernel<FlashParams>({
  name: 'attention.flash.bwd_q',
  cpu: ([q, k, v, pad, o, g], [dq, stats], p) => {
    const { hs } = p;
    for (let r = 0; r < p.rows; r++) {
      const kb = Math.floor(r / p.tq) * p.tk;
      const D = dot(g, r, o, r, hs);
      stats[2 * r + 1] = D;
      const lse = stats[2 * r];
      for (let d = 0; d < hs; d++) dq[r * hs + d] = 0;
      for (let j = 0; j < p.tk; j++) {
        if (!visible(p, pad, r, j)) continue;
        const pr = Math.exp(p.scale * dot(q, r, k, kb + j, hs) - lse);
        const ds = pr * (dot(g, r, v, kb + j, hs) - D);
        for (let d = 0; d < hs; d++) dq[r * hs + d] += p.scale * ds * k[(kb + j) * hs + d];
      }
    }
  },
  gpu: { shader: 'flash_attention', entry: 'bwd_q', constants: flashConstants, uniforms: flashUniforms, workgroups: (p) => queryGrid(p) },
});

const flashBwdKV = defineKernel<FlashParams>({
  name: 'attention.flash.bwd_kv',
  cpu: ([q, k, v, pad, g, stats], [dk, dv], p) => {
    const { hs } = p;
    dk.fill(0);
    dv.fill(0);
    for (let r = 0; r < p.rows; r++) {
      const kb = Math.floor(r / p.tq) * p.tk;
      for (let j = 0; j < p.tk; j++) {
        if (!visible(p, pad, r, j)) continue;
        const pr = Math.exp(p.scale * dot(q, r, k, kb + j, hs) - stats[2 * r]);
        const ds = pr * (dot(g, r, v, kb + j, hs) - stats[2 * r + 1]);
        for (let d = 0; d < hs; d++) {
          dv[(kb + j) * hs + d] += pr * g[r * hs + d];
          dk[(kb + j) * hs + d] += p.scale * ds * q[r * hs + d];
        }
      }
    }
  },
  gpu: { shader: 'flash_attention', entry: 'bwd_kv', constants: flashConstants, uniforms: flashUniforms, workgroups: (p) => keyGrid(p) },
});

// ---- checks --------------------------------------------------------------------------------------------

function isTensor(t: unknown): t is Tensor {
  return !!t && typeof t === 'object' && 'shape' in t;
}

function checkScale(op: string, scale: number): void {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) fail(op, `scale must be a finite number, got ${String(scale)}`);
}

/** Checks keyPadding against batch B and key length Tk. */
function checkPad(op: string, pad: Tensor | undefined, B: number, tk: number, what: string): void {
  if (pad === undefined || pad === null) return;
  if (!isTensor(pad)) fail(op, `keyPadding must be a Tensor [B, Tk], got ${String(pad)}`);
  if (pad.dtype !== 'float32') fail(op, `keyPadding must be a float32 [B, Tk] mask (1 keep, 0 pad), got ${pad.describe()}`);
  if (pad.ndim !== 2 || pad.shape[0] !== B || pad.shape[1] !== tk) {
    fail(op, `keyPadding must have shape [${B}, ${tk}] ([B, Tk] of ${what}), got ${fmtShape(pad.shape)}`);
  }
}

/** The additive mask's element strides over (b, h, i, j) of scores [B, H, Tq, Tk] (0 on broadcast dims). */
function maskStrides(op: string, mask: Tensor, scores: readonly number[]): [number, number, number, number] {
  if (!isTensor(mask)) fail(op, `mask must be a float32 Tensor, got ${String(mask)}`);
  if (!isFloat(mask.dtype)) fail(op, `mask must be an additive float mask (0 keep, -Infinity mask), got ${mask.describe()}`);
  let ok = mask.ndim <= scores.length;
  try {
    ok = ok && broadcastShapes(op, mask.shape, scores).join() === scores.join();
  } catch {
    ok = false;
  }
  if (!ok) fail(op, `mask ${fmtShape(mask.shape)} must broadcast to the scores [B, nh, Tq, Tk] = ${fmtShape(scores)}`);
  const full = [...new Array(4 - mask.ndim).fill(1), ...mask.shape];
  const st = stridesOf(full);
  return full.map((d, i) => (d === 1 ? 0 : st[i])) as [number, number, number, number];
}

function checkDropout(op: string, p: number, seed: number | undefined): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(op, `dropout must be a probability in [0, 1], got ${String(p)}`);
  if (seed !== undefined && !Number.isInteger(seed)) fail(op, `seed must be an integer, got ${String(seed)}`);
}

// ---- scaledMaskedSoftmax -------------------------------------------------------------------------------

/** The kernel parameters of scores [B, H, Tq, Tk] (leading dims as B = 1, H = 1 below rank 4). */
function smParams(op: string, shape: readonly number[], o: MaskedSoftmaxOptions, scale: number): SmParams {
  const [tq, tk] = shape.slice(-2);
  const rows = numel(shape.slice(0, -1));
  const full = [...new Array(Math.max(0, 4 - shape.length)).fill(1), ...shape];
  const p = o.dropout ?? 0;
  const tpr = threadsPerRow(smSwitch, rows, tk);
  return {
    rows,
    tq,
    tk,
    htq: Math.max(1, rows / Math.max(1, full[0])), // rows per batch entry b
    scale,
    causal: o.causal === true,
    hasPad: !!o.keyPadding,
    tpr,
    wg: rowWorkgroup(tpr),
    heads: Math.max(1, full[full.length - 3]),
    hasMask: !!o.mask,
    mStrides: o.mask ? maskStrides(op, o.mask, full) : [0, 0, 0, 0],
    drop: p > 0,
    key: p > 0 ? streamKey(o.seed ?? nextSeed()) : 0,
    threshold: Math.ceil(p * 2 ** 24), // exact, as ops/dropout.ts
    dScale: p === 1 ? 0 : 1 / (1 - p),
  };
}

/** The forward without the tape: P, and Y = dropout(P) when p.drop (else Y = P). */
function smRaw(op: string, scores: Tensor, o: MaskedSoftmaxOptions, p: SmParams): { P: Tensor; Y: Tensor } {
  const ins = [scores, o.keyPadding ?? scores, o.mask ?? scores]; // unused slots bind scores (never read)
  if (!p.drop) {
    const P = run1(op, smForward, ins, { shape: scores.shape }, p);
    return { P, Y: P };
  }
  const [P, Y] = runKernel(op, smForwardDrop, ins, [{ shape: scores.shape }, { shape: scores.shape }], p);
  return { P, Y };
}

/**
 * dS (the scores' gradient) and, when the mask needs one, dMask = sumTo(dZ, mask.shape) with
 * dZ = dS / scale (the gradient of the logits scale·S + mask).
 */
function smGrads(op: string, g: Tensor, P: Tensor, p: SmParams, mask: Tensor | undefined): { dS: Tensor; dMask: Tensor | null } {
  if (!mask?.requiresGrad) return { dS: run1(op, smBackward, [g, P], { shape: P.shape }, p), dMask: null };
  const dZ = run1(op, smBackward, [g, P], { shape: P.shape }, { ...p, scale: 1 });
  const dMask = sumTo(dZ, mask.shape);
  return { dS: mul(dZ, p.scale), dMask };
}

/**
 * Y = dropout(softmax over the last dim of scale·scores + mask), masked keys exactly 0: scores
 * [B, H, Tq, Tk] (any rank >= 2 without keyPadding, <= 4 with a mask; rank 4 with keyPadding).
 * `causal` masks key j for query i when j > i + Tk - Tq; `keyPadding` [B, Tk] masks keys where it is
 * 0; `mask` is added to the scaled scores (broadcast; -Infinity masks); `dropout` zeroes each weight
 * with probability p (the same mask as ops/dropout.ts with `seed` on the flat index) and scales the
 * rest by 1/(1 - p). A row with every key masked is all zeros (not NaN), and so is its gradient.
 * One dispatch forward, one backward (plus a reduction for the mask's gradient when it needs one).
 */
// z = scale·s + mask;  P = softmax_visible(z);  Y = P·m/(1 - p)
// g' = g·m/(1 - p);  dz = P ⊙ (g' - Σ_j g'_j P_j);  ds = scale·dz;  dmask = sumTo(dz)
export function scaledMaskedSoftmax(scores: Tensor, opts: MaskedSoftmaxOptions = {}): Tensor {
  const op = 'scaledMaskedSoftmax';
  if (!isTensor(scores)) fail(op, `expects a Tensor, got ${String(scores)}`);
  if (!isFloat(scores.dtype)) fail(op, `expects float32 or float16 scores, got ${scores.describe()}`);
  if (scores.ndim < 2) fail(op, `expects scores [..., Tq, Tk], got ${fmtShape(scores.shape)}`);
  const scale = opts.scale ?? 1;
  checkScale(op, scale);
  checkDropout(op, opts.dropout ?? 0, opts.seed);
  floatDtypeOf(op, [scores, opts.mask]); // the mask in the scores' dtype (as torch's float attn_mask)
  const pad = opts.keyPadding ?? undefined;
  if (pad && scores.ndim !== 4) fail(op, `keyPadding needs scores [B, H, Tq, Tk], got ${fmtShape(scores.shape)}`);
  if (opts.mask && scores.ndim > 4) fail(op, `a mask needs scores of rank <= 4 ([B, H, Tq, Tk]), got ${fmtShape(scores.shape)}`);
  checkPad(op, pad, scores.shape[0], scores.shape[scores.ndim - 1], `scores ${fmtShape(scores.shape)}`);
  const o = { ...opts, keyPadding: pad };
  const p = smParams(op, scores.shape, o, scale);
  const { P, Y } = smRaw(op, scores, o, p);
  const inputs = opts.mask ? [scores, opts.mask] : [scores];
  const out = record(
    Y,
    op,
    inputs,
    (g) => {
      const { dS, dMask } = smGrads(`${op}.backward`, g, P, p, opts.mask);
      return [dS, dMask];
    },
    [P],
  );
  if (Y !== P && !out.requiresGrad) P.dispose();
  return out;
}

// ---- attention -----------------------------------------------------------------------------------------

interface Dims {
  B: number;
  /** Query heads, key/value heads (a divisor of H). */
  H: number;
  Hkv: number;
  tq: number;
  tk: number;
  hs: number;
  layout: AttentionLayout;
}

function checkAttention(op: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Dims {
  const layout = opts.layout ?? 'bhtd';
  if (layout !== 'bhtd' && layout !== 'bthd') fail(op, `layout must be 'bhtd' or 'bthd', got '${String(layout)}'`);
  const want = layout === 'bhtd' ? '[B, nh, T, hs]' : '[B, T, nh, hs]';
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (!isTensor(t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
    if (!isFloat(t.dtype)) fail(op, `${name} must be float32 or float16, got ${t.describe()}`);
    if (t.ndim !== 4) fail(op, `${name} must have shape ${want} (layout '${layout}'), got ${fmtShape(t.shape)}`);
  }
  floatDtypeOf(op, [q, k, v, opts.mask]);
  const [hAx, tAx] = layout === 'bhtd' ? [1, 2] : [2, 1];
  const [B, , , hs] = q.shape;
  const H = q.shape[hAx];
  const tq = q.shape[tAx];
  const Hkv = k.shape[hAx];
  const tk = k.shape[tAx];
  const kvOk = k.shape.join() === v.shape.join() && k.shape[0] === B && k.shape[3] === hs && Hkv > 0 && H % Hkv === 0;
  if (!kvOk) {
    const kv = layout === 'bhtd' ? `[${B}, nkv, Tk, ${hs}]` : `[${B}, Tk, nkv, ${hs}]`;
    fail(
      op,
      `k and v must both have shape ${kv} with nkv dividing the ${H} query heads, to match q ${fmtShape(q.shape)} (layout '${layout}'); got k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`,
    );
  }
  if (opts.scale !== undefined) checkScale(op, opts.scale);
  checkDropout(op, opts.dropout ?? 0, opts.seed);
  checkPad(op, opts.keyPadding, B, tk, `k ${fmtShape(k.shape)}`);
  if (opts.mask !== undefined && opts.mask !== null) maskStrides(op, opts.mask, [B, H, tq, tk]);
  if (opts.impl !== undefined && opts.impl !== 'flash' && opts.impl !== 'softmax')
    fail(op, `impl must be 'flash' or 'softmax', got '${String(opts.impl)}'`);
  return { B, H, Hkv, tq, tk, hs, layout };
}

/** The flash path: one dispatch forward, two backward (dq + D, then dk and dv). */
function flashAttention(q: Tensor, k: Tensor, v: Tensor, d: Dims, scale: number, causal: boolean, pad: Tensor | undefined): Tensor {
  const p: FlashParams = { rows: d.B * d.H * d.tq, tq: d.tq, tk: d.tk, htq: d.H * d.tq, scale, causal, hasPad: !!pad, hs: d.hs };
  const padT = pad ?? q; // bound in the unused slot (HAS_PAD = 0): never read
  const [o, stats] = runKernel('attention', flashForward, [q, k, v, padT], [{ shape: q.shape }, { shape: [p.rows, 2] }], p); // (B, H, Tq, hs), (B·H·Tq, [lse, D])
  const out = record(
    o,
    'attention',
    [q, k, v],
    (g) => {
      // g: (B, H, Tq, hs). bwd_q writes dq and D = rowsum(g ⊙ o) into stats[:, 1] for bwd_kv.
      const b = backendOf('attention.backward', [q, g]);
      const dq = new Tensor(b.alloc(q.size, 'float32'), q.shape);
      runInPlace('attention.backward', flashBwdQ, [q, k, v, padT, o, g], [dq, stats], p);
      const [dk, dv] = runKernel('attention.backward', flashBwdKV, [q, k, v, padT, g, stats], [{ shape: k.shape }, { shape: v.shape }], p);
      return [dq, dk, dv];
    },
    [q, k, v, padT, o, stats],
  );
  if (!out.requiresGrad) stats.dispose();
  return out;
}

/**
 * The softmax path over either layout: S = q kᵀ (head product) -> scaledMaskedSoftmax (P, and
 * Y = dropout(P)) -> out = Y v (head product, written in q's layout). One tape node.
 *   dY = g vᵀ;  dS = scaledMaskedSoftmax backward (dY, P);  dq = dS k
 *   dk = Σ_group dSᵀ q;  dv = Σ_group Yᵀ g   (the block sums add the query heads sharing a kv head)
 */
function softmaxAttention(q: Tensor, k: Tensor, v: Tensor, d: Dims, sm: MaskedSoftmaxOptions): Tensor {
  const op = 'attention';
  const { B, H, Hkv, tq, tk, hs } = d;
  const G = H / Hkv;
  const qs = headStrides(d.layout, tq, H, hs); // q, the output and its gradient
  const ks = headStrides(d.layout, tk, Hkv, hs); // k, v and their gradients
  const ss = { b: H * tq * tk, h: tq * tk }; // scores (B, H, Tq, Tk), contiguous
  const rowsOf = (s: { b: number; h: number; t: number }, hdiv: number) => ({ b: s.b, h: s.h, hdiv, blk: 0, rs: s.t, cs: 1 });
  const colsOf = (s: { b: number; h: number; t: number }, hdiv: number) => ({ b: s.b, h: s.h, hdiv, blk: 0, rs: 1, cs: s.t });
  const scoresRows = { b: ss.b, h: ss.h, hdiv: 1, blk: 0, rs: tk, cs: 1 };
  const sDims = { m: tq, n: tk, k: hs, nblk: 1, heads: H, batch: B * H };
  const oDims = { m: tq, n: hs, k: tk, nblk: 1, heads: H, batch: B * H };
  const sShape = [B, H, tq, tk];

  const S = emptyLike(q, sShape); // (B, H, Tq, Tk)
  headProduct(op, q, k, S, sDims, rowsOf(qs, 1), colsOf(ks, G), { b: ss.b, h: ss.h, rs: tk });
  const p = smParams(op, sShape, sm, sm.scale ?? 1);
  const { P, Y } = smRaw('scaledMaskedSoftmax', S, sm, p);
  S.dispose();
  const out = emptyLike(q, q.shape); // q's layout
  headProduct(op, Y, v, out, oDims, scoresRows, rowsOf(ks, G), { b: qs.b, h: qs.h, rs: qs.t });

  const mask = sm.mask;
  const inputs = mask ? [q, k, v, mask] : [q, k, v];
  const res = record(
    out,
    op,
    inputs,
    (g) => {
      const bop = `${op}.backward`;
      const dY = emptyLike(g, sShape); // (B, H, Tq, Tk)
      headProduct(bop, g, v, dY, sDims, rowsOf(qs, 1), colsOf(ks, G), { b: ss.b, h: ss.h, rs: tk });
      const { dS, dMask } = smGrads(bop, dY, P, p, mask);
      dY.dispose();
      let dq: Tensor | null = null;
      let dk: Tensor | null = null;
      let dv: Tensor | null = null;
      if (q.requiresGrad) {
        dq = emptyLike(g, q.shape);
        headProduct(bop, dS, k, dq, oDims, scoresRows, rowsOf(ks, G), { b: qs.b, h: qs.h, rs: qs.t });
      }
      // kv head h' sums query heads h'·G + g: A's block stride is one head of scores, B's one head of q
      const kvDims = { m: tk, n: hs, k: tq, nblk: G, heads: Hkv, batch: B * Hkv };
      const scoresCols = { b: ss.b, h: G * ss.h, hdiv: 1, blk: ss.h, rs: 1, cs: tk };
      const qRows = { b: qs.b, h: G * qs.h, hdiv: 1, blk: qs.h, rs: qs.t, cs: 1 };
      const kvOut = { b: ks.b, h: ks.h, rs: ks.t };
      if (k.requiresGrad) {
        dk = emptyLike(g, k.shape);
        headProduct(bop, dS, q, dk, kvDims, scoresCols, qRows, kvOut);
      }
      if (v.requiresGrad) {
        dv = emptyLike(g, v.shape);
        headProduct(bop, Y, g, dv, kvDims, scoresCols, qRows, kvOut);
      }
      dS.dispose();
      return [dq, dk, dv, dMask];
    },
    Y === P ? [q, k, v, P] : [q, k, v, P, Y],
  );
  if (!res.requiresGrad) {
    P.dispose();
    if (Y !== P) Y.dispose();
  }
  return res;
}

/**
 * Scaled dot-product attention: dropout(softmax(scale·q@kᵀ + mask)) @ v. Layout 'bhtd' (default): q
 * [B, nh, Tq, hs], k/v [B, nkv, Tk, hs] -> [B, nh, Tq, hs]; 'bthd': q [B, Tq, nh, hs], k/v
 * [B, Tk, nkv, hs] -> [B, Tq, nh, hs], read and written in place (no permute copies). nkv divides nh:
 * query head h reads key/value head floor(h / (nh / nkv)) (grouped-query attention; nkv = nh is
 * plain multi-head). scale defaults to 1/√hs. `causal` masks key j from query i when
 * j > i + Tk - Tq (bottom-right aligned, as flash-attention: a query block that continues a cached
 * prefix of Tk - Tq keys; the usual j > i when Tq = Tk; torch's is_causal aligns top-left when
 * Tq != Tk). `keyPadding` [B, Tk] masks keys where it is 0; `mask` is an additive float mask
 * broadcast to [B, nh, Tq, Tk]; `dropout` drops attention weights (seeded, as ops/dropout.ts). A
 * query row with every key masked gives zeros (not NaN) and zero gradients.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const d = checkAttention('attention', q, k, v, opts);
  const scale = opts.scale ?? 1 / Math.sqrt(d.hs);
  const causal = opts.causal === true;
  const pad = opts.keyPadding ?? undefined;
  const mask = opts.mask ?? undefined;
  const drop = opts.dropout ?? 0;
  const flashOk = flashSupports(d.hs) && d.layout === 'bhtd' && d.H === d.Hkv && !mask && drop === 0;
  let impl = opts.impl ?? attentionSwitch.forced()?.variant ?? 'softmax';
  // the switch's flash where flash takes the call (its kernels are float32 only); an explicit impl
  // 'flash' is the caller's choice, and a float16 call fails in the kernel, naming the dtype
  if (impl === 'flash' && !(flashOk && (opts.impl === 'flash' || q.dtype === 'float32'))) {
    if (opts.impl === 'flash') {
      fail(
        'attention',
        `impl 'flash' supports layout 'bhtd', nkv = nh, no mask or dropout, and head sizes that are multiples of 4 up to ${FLASH_MAX_HS}; got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, layout '${d.layout}'${mask ? ', a mask' : ''}${drop ? ', dropout' : ''} (use impl 'softmax')`,
      );
    }
    impl = 'softmax';
  }
  if (impl === 'flash') return flashAttention(q, k, v, d, scale, causal, pad);
  return softmaxAttention(q, k, v, d, { scale, causal, keyPadding: pad, mask, dropout: drop, seed: opts.seed });
}

/**
 * Attention from primitive ops: (for 'bthd', permute to [B, nh, T, hs]; k and v heads repeated for
 * GQA) scores = (q @ kᵀ)·scale (+ mask), masked with where(visible, scores, -inf), softmax,
 * where(visible, P, 0) (zeros, not NaN, for fully masked rows), dropout (ops/dropout.ts, the same
 * seed), @ v (and back to 'bthd'). The twin of both fused paths. The causal mask is built on the
 * host and uploaded. (A row whose mask is -Infinity at every visible key is NaN here, as torch; the
 * fused paths give zeros, as for any fully masked row.)
 */
export function attentionNaive(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const d = checkAttention('attentionNaive', q, k, v, opts);
  const scale = opts.scale ?? 1 / Math.sqrt(d.hs);
  const backend = q.backend.name;
  const toHeads = (t: Tensor) => (d.layout === 'bthd' ? permute(t, [0, 2, 1, 3]) : t); // (B, n, T, hs)
  const G = d.H / d.Hkv;
  const repeat = (t: Tensor) => {
    if (G === 1) return t;
    const [B, n, T, hs] = t.shape;
    const e = expand(reshape(t, [B, n, 1, T, hs]), [B, n, G, T, hs]); // (B, n, G, T, hs)
    return reshape(e, [B, n * G, T, hs]); // (B, nh, T, hs)
  };
  const kT = transpose(repeat(toHeads(k)), -2, -1); // (B, H, hs, Tk)
  let scores = mul(matmul(toHeads(q), kT), scale); // (B, H, Tq, Tk)
  if (opts.mask) scores = add(scores, opts.mask);
  let visibleM: Tensor | null = null; // 1 = visible, broadcast to (B, H, Tq, Tk)
  if (opts.causal) {
    const m = new Float32Array(d.tq * d.tk);
    for (let i = 0; i < d.tq; i++) for (let j = 0; j < d.tk; j++) m[i * d.tk + j] = j <= i + d.tk - d.tq ? 1 : 0;
    visibleM = tensor(m, [d.tq, d.tk], { backend }); // (Tq, Tk)
  }
  if (opts.keyPadding) {
    const padM = reshape(opts.keyPadding, [d.B, 1, 1, d.tk]); // (B, 1, 1, Tk)
    visibleM = visibleM ? mul(visibleM, padM) : padM; // (B, 1, Tq, Tk) or (B, 1, 1, Tk)
  }
  let P = visibleM ? where(visibleM, softmax(where(visibleM, scores, -Infinity), -1), 0) : softmax(scores, -1); // (B, H, Tq, Tk)
  P = dropoutOp(P, opts.dropout ?? 0, { seed: opts.seed });
  const out = matmul(P, repeat(toHeads(v))); // (B, H, Tq, hs)
  return d.layout === 'bthd' ? permute(out, [0, 2, 1, 3]) : out;
}
