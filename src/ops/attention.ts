// Scaled dot-product attention, out = softmax(scale·q@kᵀ + mask) @ v, three ways:
//   'softmax' (default) matmulT(q, k, transB) -> scaledMaskedSoftmax (one fused scale + mask +
//             softmax kernel, kernels/attention.wgsl, with its fused backward) -> matmul(P, v):
//             three dispatches forward, five backward; any head size.
//   'flash'   kernels/flash_attention.wgsl: one dispatch forward (a thread per block of query rows,
//             online softmax, the (Tq, Tk) scores never stored), two backward (dq, then dk/dv);
//             head sizes that are multiples of 4 up to 64.
//   attentionNaive: the same function from primitive ops (matmul, mul, where of a -inf mask,
//             softmax, where, matmul): the twin both fused paths are tested against.
// 'softmax' is the default and 'flash' opt-in (`impl: 'flash'`, or mg.testing.forceKernel('attention',
// 'flash') for every call): flash's head-size-specialised kernels are slow to build on CPU adapters
// for a small gain per step (docs/performance.md).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backendOf, floatDtypeOf, run1, runInPlace, runKernel } from './apply.js';
import { mul, where } from './binary.js';
import { tensor } from './creation.js';
import { grid1d, ROW_VARIANTS, threadsPerRow } from './grid.js';
import { matmul, matmulT } from './matmul.js';
import { reshape, transpose } from './shape.js';
import { softmax } from './softmax.js';

export type AttentionImpl = 'flash' | 'softmax';

export interface AttentionOptions {
  /** Mask key j from query i when j > i + Tk - Tq (bottom-right aligned; j > i when Tq = Tk). */
  causal?: boolean;
  /** [B, Tk] float: 1 = keep, 0 = pad (masked for every query). */
  keyPadding?: Tensor;
  /** Multiplies q·k; default 1/√hs. */
  scale?: number;
  /** Which fused path: 'softmax' (default) or 'flash' (head sizes that are multiples of 4 up to 64). */
  impl?: AttentionImpl;
}

export interface MaskedSoftmaxOptions {
  scale?: number;
  causal?: boolean;
  keyPadding?: Tensor;
}

/** `mg.testing.forceKernel('attention', impl)`: the path `attention` takes when the call names none. */
const attentionSwitch = defineKernelSwitch<AttentionImpl>('attention', {
  softmax: { about: 'matmulT -> scaledMaskedSoftmax -> matmul (the default)' },
  flash: { about: 'kernels/flash_attention.wgsl, one dispatch forward (head sizes 4..64, multiples of 4; softmax otherwise)' },
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
];
const smGrid = (p: SmParams) => grid1d(Math.ceil(p.rows / (p.wg / p.tpr)), 1);

const smForward = defineKernel<SmParams>({
  name: 'scaledMaskedSoftmax',
  cpu: ([s, pad], [y], p) => {
    for (let r = 0; r < p.rows; r++) {
      const base = r * p.tk;
      // as the WGSL: NaN or +Inf scores make the visible row NaN, -Inf scores count as masked, no
      // visible key -> 0
      let m = -Infinity;
      let l = 0;
      for (let j = 0; j < p.tk; j++) if (visible(p, pad, r, j)) m = Math.max(m, s[base + j] * p.scale);
      for (let j = 0; j < p.tk; j++)
        if (visible(p, pad, r, j) && s[base + j] * p.scale !== -Infinity) l += Math.exp(s[base + j] * p.scale - m);
      for (let j = 0; j < p.tk; j++) {
        const v = s[base + j] * p.scale;
        y[base + j] = visible(p, pad, r, j) && l !== 0 && (v !== -Infinity || Number.isNaN(l)) ? Math.exp(v - m) / l : 0;
      }
    }
  },
  f16: 'alias', // scores and P in the scores' dtype; keyPadding stays a float32 mask
  gpu: { shader: 'attention', entry: 'forward', constants: smConstants, uniforms: smUniforms, workgroups: smGrid },
});

const smBackward = defineKernel<SmParams>({
  name: 'scaledMaskedSoftmax.backward',
  cpu: ([g, y], [ds], p) => {
    for (let r = 0; r < p.rows; r++) {
      const base = r * p.tk;
      let dot = 0;
      for (let j = 0; j < p.tk; j++) dot += g[base + j] * y[base + j];
      for (let j = 0; j < p.tk; j++) ds[base + j] = p.scale * y[base + j] * (g[base + j] - dot);
    }
  },
  f16: 'alias',
  gpu: { shader: 'attention', entry: 'backward', constants: smConstants, uniforms: smUniforms, workgroups: smGrid },
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

// ---- scaledMaskedSoftmax -------------------------------------------------------------------------------

/**
 * P = softmax over the last dim of scale·scores, with masked keys set to exactly 0: scores
 * [B, H, Tq, Tk] (any rank >= 2 without keyPadding; rank 4 with it). `causal` masks key j for query i
 * when j > i + Tk - Tq; `keyPadding` [B, Tk] masks keys where it is 0. A row with every key masked
 * is all zeros (not NaN), and so is its gradient. One dispatch forward, one backward.
 */
// y_j = exp(scale·s_j - m) / Σ_visible exp(scale·s - m)  (0 where masked)
// dS = scale·P ⊙ (g - Σ_j g_j P_j)     (masked entries have P = 0)
export function scaledMaskedSoftmax(scores: Tensor, opts: MaskedSoftmaxOptions = {}): Tensor {
  const op = 'scaledMaskedSoftmax';
  if (!isTensor(scores)) fail(op, `expects a Tensor, got ${String(scores)}`);
  if (!isFloat(scores.dtype)) fail(op, `expects float32 or float16 scores, got ${scores.describe()}`);
  if (scores.ndim < 2) fail(op, `expects scores [..., Tq, Tk], got ${fmtShape(scores.shape)}`);
  const scale = opts.scale ?? 1;
  checkScale(op, scale);
  const pad = opts.keyPadding;
  if (pad !== undefined && pad !== null && scores.ndim !== 4)
    fail(op, `keyPadding needs scores [B, H, Tq, Tk], got ${fmtShape(scores.shape)}`);
  const [tq, tk] = scores.shape.slice(-2);
  checkPad(op, pad, scores.shape[0], tk, `scores ${fmtShape(scores.shape)}`);
  const rows = numel(scores.shape.slice(0, -1));
  const tpr = threadsPerRow(smSwitch, rows, tk);
  const p: SmParams = {
    rows,
    tq,
    tk,
    htq: pad ? rows / scores.shape[0] : Math.max(rows, 1),
    scale,
    causal: opts.causal === true,
    hasPad: !!pad,
    tpr,
    wg: Math.max(64, tpr),
  };
  const y = run1(op, smForward, [scores, pad ?? scores], { shape: scores.shape }, p);
  return record(y, op, [scores], (g) => [run1(`${op}.backward`, smBackward, [g, y], { shape: scores.shape }, p)], [y]);
}

// ---- attention -----------------------------------------------------------------------------------------

interface Dims {
  B: number;
  H: number;
  tq: number;
  tk: number;
  hs: number;
}

function checkAttention(op: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Dims {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (!isTensor(t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
    if (!isFloat(t.dtype)) fail(op, `${name} must be float32 or float16, got ${t.describe()}`);
    if (t.ndim !== 4) fail(op, `${name} must have shape [B, nh, T, hs], got ${fmtShape(t.shape)}`);
  }
  floatDtypeOf(op, [q, k, v]);
  const [B, H, tq, hs] = q.shape;
  const tk = k.shape[2];
  const want = [B, H, tk, hs].join();
  if (k.shape.join() !== want || v.shape.join() !== want) {
    fail(
      op,
      `k and v must have shape [${B}, ${H}, Tk, ${hs}] to match q ${fmtShape(q.shape)}; got k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`,
    );
  }
  if (opts.scale !== undefined) checkScale(op, opts.scale);
  checkPad(op, opts.keyPadding, B, tk, `k ${fmtShape(k.shape)}`);
  if (opts.impl !== undefined && opts.impl !== 'flash' && opts.impl !== 'softmax')
    fail(op, `impl must be 'flash' or 'softmax', got '${String(opts.impl)}'`);
  return { B, H, tq, tk, hs };
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

/** The softmax path: matmulT -> scaledMaskedSoftmax -> matmul (each differentiable). */
function softmaxAttention(q: Tensor, k: Tensor, v: Tensor, scale: number, causal: boolean, pad: Tensor | undefined): Tensor {
  const scores = matmulT(q, k, { transB: true }); // (B, H, Tq, Tk)
  const P = scaledMaskedSoftmax(scores, { scale, causal, keyPadding: pad }); // (B, H, Tq, Tk)
  const out = matmul(P, v); // (B, H, Tq, hs)
  if (!out.requiresGrad) {
    scores.dispose();
    P.dispose();
  }
  return out;
}

/**
 * Scaled dot-product attention: softmax(scale·q@kᵀ + mask) @ v with q [B, nh, Tq, hs], k/v
 * [B, nh, Tk, hs] -> [B, nh, Tq, hs]; scale defaults to 1/√hs. `causal` masks key j from query i
 * when j > i + Tk - Tq (bottom-right aligned, as flash-attention; the usual j > i when Tq = Tk;
 * torch's is_causal aligns top-left when Tq != Tk). `keyPadding` [B, Tk] masks keys where it is 0.
 * A query row with every key masked gives zeros (not NaN) and zero gradients.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const d = checkAttention('attention', q, k, v, opts);
  const scale = opts.scale ?? 1 / Math.sqrt(d.hs);
  const causal = opts.causal === true;
  const pad = opts.keyPadding ?? undefined;
  let impl = opts.impl ?? attentionSwitch.forced()?.variant ?? 'softmax';
  if (impl === 'flash' && !flashSupports(d.hs)) {
    if (opts.impl === 'flash')
      fail('attention', `impl 'flash' supports head sizes that are multiples of 4 up to ${FLASH_MAX_HS}, got q ${fmtShape(q.shape)}`);
    impl = 'softmax';
  }
  return impl === 'flash' ? flashAttention(q, k, v, d, scale, causal, pad) : softmaxAttention(q, k, v, scale, causal, pad);
}

/**
 * Attention from primitive ops: scores = (q @ kᵀ)·scale, masked with where(mask, scores, -inf),
 * softmax, where(mask, P, 0) (zeros, not NaN, for fully masked rows), @ v. The twin of both fused
 * paths. The causal mask is built on the host and uploaded.
 */
export function attentionNaive(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const d = checkAttention('attentionNaive', q, k, v, opts);
  const scale = opts.scale ?? 1 / Math.sqrt(d.hs);
  const backend = q.backend.name;
  const kT = transpose(k, -2, -1); // (B, H, hs, Tk)
  const scores = mul(matmul(q, kT), scale); // (B, H, Tq, Tk)
  let mask: Tensor | null = null; // 1 = visible, broadcast to (B, H, Tq, Tk)
  if (opts.causal) {
    const m = new Float32Array(d.tq * d.tk);
    for (let i = 0; i < d.tq; i++) for (let j = 0; j < d.tk; j++) m[i * d.tk + j] = j <= i + d.tk - d.tq ? 1 : 0;
    mask = tensor(m, [d.tq, d.tk], { backend }); // (Tq, Tk)
  }
  if (opts.keyPadding) {
    const padM = reshape(opts.keyPadding, [d.B, 1, 1, d.tk]); // (B, 1, 1, Tk)
    mask = mask ? mul(mask, padM) : padM; // (B, 1, Tq, Tk) or (B, 1, 1, Tk)
  }
  if (!mask) return matmul(softmax(scores, -1), v);
  const P = where(mask, softmax(where(mask, scores, -Infinity), -1), 0); // (B, H, Tq, Tk)
  return matmul(P, v); // (B, H, Tq, hs)
}
