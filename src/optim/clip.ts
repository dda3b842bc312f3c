// Gradient clipping: by the global L2 norm (torch.nn.utils.clip_grad_norm_) and by value (clip_grad_value_).
//   by norm:  total = √(Σ_p Σ g²),   g ← g·min(1, maxNorm/(total + 1e-6))
//   by value: g ← clamp(g, -value, value)
// Everything runs on the device and the scale is applied without a host round trip: NO readback.
// The total norm comes back as a scalar tensor; `await norm.item()` reads it (one readback), e.g.
// for logging. The fused path (kernels/clip_norm.wgsl, float32 gradients) takes a few dispatches
// for all parameters: sums of squares over up to 7 or 15 gradients per dispatch into per-lane
// partials, one workgroup for the norm and the scale, and the scaling in place over as many
// gradients per dispatch (src/optim/multi-tensor.ts). `clipGradNormNaive`, per parameter from
// primitive ops, is its twin.
import { noGrad } from '../autograd.js';
import { defineKernel, type UniformField } from '../backend/interface.js';
import { fail } from '../errors.js';
import { runInPlace, runKernel } from '../ops/apply.js';
import { add, maximum, minimum, mul } from '../ops/binary.js';
import { zeros } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';
import { pow, sqrt } from '../ops/unary.js';
import { keep, tidy } from '../runtime.js';
import { Tensor } from '../tensor.js';
import {
  MULTI_WG,
  batchGrid,
  dims8,
  laneElements,
  padTensors,
  type SlotBatch,
  slotBatches,
  slotCount,
  slotTensors,
} from './multi-tensor.js';

interface SlotParams {
  batch: SlotBatch;
  slots: number;
  /** First partial of the batch (sumsq). */
  base: number;
}

/** The uniforms of P7 / P15 in kernels/clip_norm.wgsl. */
const slotUniforms = (p: SlotParams): UniformField[] =>
  p.slots === 7
    ? [
        ['u32', p.base],
        ['dims', dims8(p.batch.n)],
        ['dims', dims8(p.batch.start)],
      ]
    : [
        ['u32', p.base],
        ['dims', dims8(p.batch.n)],
        ['dims', dims8(p.batch.n, 8)],
        ['dims', dims8(p.batch.start)],
        ['dims', dims8(p.batch.start, 8)],
      ];

/** Calls `f(s, w, lane)` for each lane of each workgroup of each used slot (w relative to the slot's first). */
function eachLane(b: SlotBatch, f: (s: number, w: number, lane: number) => void): void {
  for (let s = 0; s < b.items.length; s++)
    for (let w = 0; w < b.start[s + 1] - b.start[s]; w++) for (let lane = 0; lane < MULTI_WG; lane++) f(s, w, lane);
}

// bindings: [partials, x_0 .. x_{slots-1}]
const sumsqKernel = defineKernel<SlotParams>({
  name: 'clipNorm.sumsq',
  cpu: (_, [partial, ...xs], p) =>
    eachLane(p.batch, (s, w, lane) => {
      let acc = 0;
      laneElements(w, lane, p.batch.n[s], (i) => (acc += xs[s][i] * xs[s][i]));
      partial[p.base + (p.batch.start[s] + w) * MULTI_WG + lane] = acc;
    }),
  gpu: { shader: 'clip_norm', entry: 'sumsq7', uniforms: slotUniforms, workgroups: (p) => batchGrid(p.batch) },
});

// bindings: [coef, x_0 .. x_{slots-1}], x ← x·coef in place
const scaleKernel = defineKernel<SlotParams>({
  name: 'clipNorm.scale',
  cpu: (_, [coef, ...xs], p) => eachLane(p.batch, (s, w, lane) => laneElements(w, lane, p.batch.n[s], (i) => (xs[s][i] *= coef[0]))),
  gpu: { shader: 'clip_norm', entry: 'scale7', uniforms: slotUniforms, workgroups: (p) => batchGrid(p.batch) },
});

const KERNELS = {
  7: { sumsq: sumsqKernel, scale: scaleKernel },
  15: {
    sumsq: defineKernel<SlotParams>({ ...sumsqKernel, gpu: { ...sumsqKernel.gpu, entry: 'sumsq15' } }),
    scale: defineKernel<SlotParams>({ ...scaleKernel, gpu: { ...scaleKernel.gpu, entry: 'scale15' } }),
  },
} as const;

// partials -> norm = √Σ, coef = min(1, maxNorm / (norm + 1e-6)) (NaN propagates)
const finishKernel = defineKernel<{ count: number; maxNorm: number }>({
  name: 'clipNorm.finish',
  cpu: ([partial], [norm, coef], p) => {
    let acc = 0;
    for (let i = 0; i < p.count; i++) acc += partial[i];
    norm[0] = Math.sqrt(acc);
    const c = p.maxNorm / (norm[0] + 1e-6);
    coef[0] = Number.isNaN(c) ? NaN : Math.min(c, 1);
  },
  gpu: {
    shader: 'clip_norm',
    entry: 'finish',
    uniforms: (p) => [
      ['u32', p.count],
      ['f32', p.maxNorm],
    ],
    workgroups: () => [1, 1, 1],
  },
});

/** The global L2 norm of float32 `grads` ([] tensor) and the clip coefficient, then g ← g·coef in place. */
function clipFused(grads: Tensor[], maxNorm: number): Tensor {
  const b = grads[0].backend;
  const slots = slotCount(b, 7, 15, 1, 1);
  const k = KERNELS[slots as 7 | 15];
  const batches = slotBatches(
    grads.map((g) => g.size),
    slots,
  );
  const count = batches.reduce((s, x) => s + x.workgroups * MULTI_WG, 0);
  const partial = new Tensor(b.alloc(count, 'float32'), [count]); // (count,) every entry written below
  const pads = padTensors(b, batches, slots);
  let base = 0;
  for (const batch of batches) {
    runInPlace('clipGradNorm', k.sumsq, [], [partial, ...slotTensors(grads, batch, slots, pads)], { batch, slots, base });
    base += batch.workgroups * MULTI_WG;
  }
  const [norm, coef] = runKernel('clipGradNorm', finishKernel, [partial], [{ shape: [] }, { shape: [] }], { count, maxNorm }, b);
  for (const batch of batches)
    runInPlace('clipGradNorm', k.scale, [], [coef, ...slotTensors(grads, batch, slots, pads)], { batch, slots, base: 0 });
  return norm;
}

/**
 * Scales the gradients of `params` (those that have one) so their global L2 norm is at most
 * `maxNorm`; returns the norm before clipping as a scalar tensor on the parameters' backend (the
 * caller owns it). float32 gradients are scaled in place (as torch's `mul_`); float16 ones, or all
 * with `impl: 'naive'`, are replaced by scaled copies (`clipGradNormNaive`).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, opts: { impl?: 'fused' | 'naive' } = {}): Tensor {
  if (!(maxNorm > 0)) fail('clipGradNorm', `maxNorm must be > 0, got ${maxNorm}`);
  const impl = opts.impl ?? 'fused';
  if (impl !== 'fused' && impl !== 'naive') fail('clipGradNorm', `impl must be 'fused' or 'naive', got '${String(impl)}'`);
  const withGrad = params.filter((p) => p.grad);
  if (withGrad.length === 0) return zeros([], { backend: params[0]?.backend.name });
  const grads = withGrad.map((p) => p.grad!);
  if (impl === 'naive' || grads.some((g) => g.dtype !== 'float32')) return clipGradNormNaive(params, maxNorm);
  return noGrad(() => tidy(() => clipFused(grads, maxNorm)));
}

/** clipGradNorm from primitive ops, per parameter (the fused path's twin; float16 gradients take it). */
export function clipGradNormNaive(params: Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) fail('clipGradNorm', `maxNorm must be > 0, got ${maxNorm}`);
  const withGrad = params.filter((p) => p.grad);
  if (withGrad.length === 0) return zeros([], { backend: params[0]?.backend.name });
  return noGrad(() =>
    tidy(() => {
      let total: Tensor | null = null;
      for (const p of withGrad) {
        const s = sum(mul(p.grad!, p.grad!)); // Σ g²  ()
        total = total ? add(total, s) : s;
      }
      const norm = sqrt(total!); // ()
      const scale = minimum(mul(pow(add(norm, 1e-6), -1), maxNorm), 1); // min(1, maxNorm/(norm + 1e-6))  ()
      for (const p of withGrad) {
        const g = mul(p.grad!, scale);
        p.grad!.dispose();
        p.grad = keep(g);
      }
      return norm;
    }),
  );
}

/**
 * Clamps every gradient of `params` (those that have one) into [-value, value], as
 * torch.nn.utils.clip_grad_value_ (NaN stays NaN). Gradients are replaced by clamped copies.
 */
export function clipGradValue(params: Tensor[], value: number): void {
  if (!Array.isArray(params)) fail('clipGradValue', `params must be an array of tensors, got ${String(params)}`);
  if (typeof value !== 'number' || !(value >= 0)) fail('clipGradValue', `value must be a number >= 0, got ${String(value)}`);
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const g = tidy(() => maximum(minimum(p.grad!, value), -value)); // clamp(g, -value, value)
      p.grad.dispose();
      p.grad = g;
    }
  });
}
