// Adam and AdamW (Kingma & Ba; Loshchilov & Hutter), as torch.optim.Adam / AdamW: bias-corrected
// moments, Adam's weight decay coupled into the gradient (L2), AdamW's decoupled, and optionally
// amsgrad. ONE fused kernel per parameter (kernels/adamw.wgsl: reads the gradient, updates the
// parameter and the moments in place). The kernel's cpu loop is the float64 reference; `adamwNaive`
// is the same step from primitive ops (the twin the fused kernel is tested against).
//
//   g ← g + l2·p                   (Adam: l2 = wd; AdamW: l2 = 0)
//   p ← p·(1 - lr·wd)              (AdamW; Adam: no decay here)
//   m ← β1·m + (1 - β1)·g,    v ← β2·v + (1 - β2)·g²
//   amsgrad: vmax ← max(vmax, v), used for v below
//   p ← p - lr/(1 - β1^t) · m / (√v/√(1 - β2^t) + eps)
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { add, div, maximum, mul } from '../ops/binary.js';
import { cast, zerosLike } from '../ops/creation.js';
import { backendOf, runInPlace } from '../ops/apply.js';
import type { HostArray } from '../backend/interface.js';
import { batchGrid, dims8, f32Bits, padTensors, type SlotBatch, slotBatches, slotCount } from './multi-tensor.js';
import { grid1d } from '../ops/grid.js';
import { sqrt } from '../ops/unary.js';
import { noGrad } from '../autograd.js';
import { keep, tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import {
  assignInPlace,
  checkRange,
  implOf,
  type BaseHyper,
  type GroupItem,
  type GroupSpec,
  Optimizer,
  type ParamGroup,
  type ParamState,
} from './optimizer.js';

export interface AdamWHyper extends BaseHyper {
  betas: [number, number];
  eps: number;
  /** Keep the running maximum of v and divide by its root (Reddi et al.), as torch's amsgrad. */
  amsgrad: boolean;
}

export interface AdamWOptions extends Partial<AdamWHyper> {
  /** 'fused' (default): one kernel per parameter; 'naive': primitive ops (the test twin). */
  impl?: 'fused' | 'naive';
}

/** The scalars of one step, computed on the host in float64. */
export interface AdamWStepParams {
  n: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 - lr·wd (AdamW's decoupled decay; 1 for Adam) */
  decay: number;
  /** lr / (1 - β1^t) */
  stepSize: number;
  /** 1 / √(1 - β2^t) */
  invSqrtBc2: number;
  /** Adam's coupled weight decay: g ← g + l2·p (0 for AdamW). */
  l2: number;
  /** A vmax buffer is updated and used (the `amsgrad` entry point). */
  amsgrad: boolean;
}

/** The step scalars: `coupled` puts the weight decay into the gradient (Adam), else into p (AdamW). */
export function adamwStepParams(n: number, g: AdamWHyper, step: number, coupled = false): AdamWStepParams {
  const [beta1, beta2] = g.betas;
  return {
    n,
    beta1,
    beta2,
    eps: g.eps,
    decay: coupled ? 1 : 1 - g.lr * g.weightDecay,
    stepSize: g.lr / (1 - beta1 ** step),
    invSqrtBc2: 1 / Math.sqrt(1 - beta2 ** step),
    l2: coupled ? g.weightDecay : 0,
    amsgrad: g.amsgrad ?? false,
  };
}

/** The float64 reference of one step over u.n elements (the cpu loop of both kernels). */
function adamwCpu(grad: HostArray, p: HostArray, m: HostArray, v: HostArray, vmax: HostArray | undefined, u: AdamWStepParams): void {
  for (let i = 0; i < u.n; i++) {
    const g = grad[i] + u.l2 * p[i];
    const m1 = u.beta1 * m[i] + (1 - u.beta1) * g;
    const v1 = u.beta2 * v[i] + (1 - u.beta2) * g * g;
    m[i] = m1;
    v[i] = v1;
    let vv = v1;
    if (u.amsgrad && vmax) {
      vv = Number.isNaN(vmax[i]) || Number.isNaN(v1) ? NaN : Math.max(vmax[i], v1);
      vmax[i] = vv;
    }
    p[i] = p[i] * u.decay - (u.stepSize * m1) / (Math.sqrt(vv) * u.invSqrtBc2 + u.eps);
  }
}

export const adamwKernel = defineKernel<AdamWStepParams>({
  name: 'adamw',
  label: (u) => (u.amsgrad ? 'adamw:amsgrad' : 'adamw'),
  cpu: ([grad], [p, m, v, vmax], u) => adamwCpu(grad, p, m, v, vmax, u),
  f16: 'alias', // a float16 parameter and gradient; the moments are float32 (initState)
  gpu: {
    shader: 'adamw',
    entry: 'main',
    uniforms: (u) => [
      ['u32', u.n],
      ['f32', u.beta1],
      ['f32', u.beta2],
      ['f32', u.eps],
      ['f32', u.decay],
      ['f32', u.stepSize],
      ['f32', u.invSqrtBc2],
      ['f32', u.l2],
    ],
    workgroups: (u) => grid1d(u.n, 256),
  },
});
const adamwAmsgrad = defineKernel<AdamWStepParams>({ ...adamwKernel, gpu: { ...adamwKernel.gpu, entry: 'amsgrad' } });

function checkAmsgrad(op: string, u: AdamWStepParams, vmax: Tensor | undefined): void {
  if (u.amsgrad && !vmax) fail(op, 'amsgrad needs the max_exp_avg_sq buffer');
}

/** One fused Adam/AdamW update of p, m, v (and vmax with amsgrad) in place. */
export function adamwFused(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, u: AdamWStepParams, vmax?: Tensor): void {
  checkAmsgrad('adamw', u, vmax);
  if (u.amsgrad) runInPlace('adamw', adamwAmsgrad, [grad], [p, m, v, vmax!], u);
  else runInPlace('adamw', adamwKernel, [grad], [p, m, v], u);
}

/** One dispatch of kernels/adamw_multi.wgsl: the group's shared scalars and each slot's bias corrections. */
interface AdamWMultiParams {
  u: AdamWStepParams;
  batch: SlotBatch;
  /** lr / (1 - β1^t) and 1 / √(1 - β2^t) per slot (step counts may differ within a group). */
  stepSize: number[];
  invSqrtBc2: number[];
}

// bindings: [g, p, m, v] per slot
const adamwMultiKernel = defineKernel<AdamWMultiParams>({
  name: 'adamw.multi',
  cpu: (_, bufs, q) =>
    q.batch.items.forEach((_, s) =>
      adamwCpu(bufs[4 * s], bufs[4 * s + 1], bufs[4 * s + 2], bufs[4 * s + 3], undefined, {
        ...q.u,
        n: q.batch.n[s],
        stepSize: q.stepSize[s],
        invSqrtBc2: q.invSqrtBc2[s],
      }),
    ),
  gpu: {
    shader: 'adamw_multi',
    entry: 'slots2',
    uniforms: (q) => [
      ['f32', q.u.beta1],
      ['f32', q.u.beta2],
      ['f32', q.u.eps],
      ['f32', q.u.decay],
      ['f32', q.u.l2],
      ['dims', dims8(q.batch.n)],
      ['dims', dims8(q.batch.start)],
      ['dims', f32Bits(dims8(q.stepSize))],
      ['dims', f32Bits(dims8(q.invSqrtBc2))],
    ],
    workgroups: (q) => batchGrid(q.batch),
  },
});
const ADAMW_MULTI = {
  2: adamwMultiKernel,
  4: defineKernel<AdamWMultiParams>({ ...adamwMultiKernel, gpu: { ...adamwMultiKernel.gpu, entry: 'slots4' } }),
};

/** A parameter's share of a multi-tensor step: its gradient, moments and step count. */
export interface AdamWItem {
  p: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  step: number;
}

/**
 * The fused update of many float32 parameters of one group (no amsgrad), 2 or 4 per dispatch
 * (kernels/adamw_multi.wgsl); the same math as `adamwFused` per parameter, its twin.
 */
export function adamwMulti(items: readonly AdamWItem[], g: AdamWHyper, coupled = false): void {
  if (items.length === 0) return;
  const op = 'adamwMulti';
  if (g.amsgrad) fail(op, 'amsgrad takes the per-parameter kernel (adamwFused)');
  for (const it of items) {
    if ([it.p, it.grad, it.m, it.v].some((t) => t.dtype !== 'float32'))
      fail(op, `expects float32 parameters, gradients and moments, got ${it.p.describe()} with gradient ${it.grad.describe()}`);
  }
  const b = backendOf(
    op,
    items.flatMap((it) => [it.p, it.grad, it.m, it.v]),
  );
  const slots = slotCount(b, 2, 4, 4, 0);
  const batches = slotBatches(
    items.map((it) => it.p.size),
    slots,
  );
  tidy(() => {
    const pads = padTensors(b, batches, slots, 4);
    const u = adamwStepParams(0, g, 1, coupled);
    for (const batch of batches) {
      const its = batch.items.map((i) => items[i]);
      const step = its.map((it) => adamwStepParams(it.p.size, g, it.step, coupled));
      const bound = its.flatMap((it) => [it.grad, it.p, it.m, it.v]);
      while (bound.length < slots * 4) bound.push(pads[bound.length - 4 * its.length]);
      runInPlace(op, ADAMW_MULTI[slots as 2 | 4], [], bound, {
        u,
        batch,
        stepSize: step.map((s) => s.stepSize),
        invSqrtBc2: step.map((s) => s.invSqrtBc2),
      });
    }
  });
}

/** The same update from primitive ops (new tensors, then copied into p, m, v, vmax); a float16 p and grad are computed in float32. */
export function adamwNaive(p16: Tensor, grad16: Tensor, m: Tensor, v: Tensor, u: AdamWStepParams, vmax?: Tensor): void {
  checkAmsgrad('adamwNaive', u, vmax);
  noGrad(() =>
    tidy(() => {
      const [p, grad] = [p16, grad16].map((t) => (t.dtype === 'float32' ? t : cast(t, 'float32')));
      const g = u.l2 === 0 ? grad : add(grad, mul(p, u.l2)); // g + l2·p
      const m1 = add(mul(m, u.beta1), mul(g, 1 - u.beta1)); // β1·m + (1-β1)·g
      const v1 = add(mul(v, u.beta2), mul(mul(g, g), 1 - u.beta2)); // β2·v + (1-β2)·g²
      const vm = u.amsgrad ? maximum(vmax!, v1) : v1; // max(vmax, v)
      const denom = add(mul(sqrt(vm), u.invSqrtBc2), u.eps); // √v/√bc2 + eps
      const p1f = add(mul(p, u.decay), mul(div(m1, denom), -u.stepSize)); // p·decay - stepSize·m/denom
      const p1 = p16.dtype === 'float32' ? p1f : cast(p1f, p16.dtype);
      const pairs: [Tensor, Tensor][] = [
        [m1, m],
        [v1, v],
        [p1, p16],
      ];
      if (u.amsgrad) pairs.push([vm, vmax!]);
      assignInPlace('adamwNaive', pairs);
    }),
  );
}

/** Adam and AdamW: the same state and kernel; they differ in where the weight decay goes. */
abstract class AdamFamily extends Optimizer<AdamWHyper> {
  readonly impl: 'fused' | 'naive';
  protected abstract readonly coupled: boolean;

  constructor(name: string, params: Tensor[] | GroupSpec<AdamWHyper>[], weightDecay: number, opts: AdamWOptions) {
    const { impl, ...hyper } = opts;
    super(name, params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, amsgrad: false, ...hyper });
    this.impl = implOf(name, impl);
  }

  protected override validate(g: ParamGroup<AdamWHyper>, gi: number): void {
    super.validate(g, gi);
    if (!Array.isArray(g.betas) || g.betas.length !== 2)
      fail(this.name, `group ${gi}: betas must be [beta1, beta2], got ${String(g.betas)}`);
    checkRange(this.name, `group ${gi}: beta1`, g.betas[0], 0, 1);
    checkRange(this.name, `group ${gi}: beta2`, g.betas[1], 0, 1);
    checkRange(this.name, `group ${gi}: eps`, g.eps, 0, Infinity);
    if (typeof g.amsgrad !== 'boolean') fail(this.name, `group ${gi}: amsgrad must be a boolean, got ${String(g.amsgrad)}`);
  }

  protected initState(p: Tensor, g: ParamGroup<AdamWHyper>): Record<string, Tensor> {
    // float32 moments for float16 parameters too: (1-β2)·g² underflows half's 6e-8 for |g| < ~1e-3
    const f32 = { dtype: 'float32' } as const;
    const st: Record<string, Tensor> = { exp_avg: zerosLike(p, f32), exp_avg_sq: zerosLike(p, f32) };
    if (g.amsgrad) st.max_exp_avg_sq = zerosLike(p, f32);
    return st;
  }

  /** The fused impl updates a group's float32 parameters with the multi-tensor kernel (amsgrad and float16: one kernel each). */
  protected override updateGroup(items: GroupItem[], g: ParamGroup<AdamWHyper>): void {
    if (this.impl === 'naive' || g.amsgrad) {
      super.updateGroup(items, g);
      return;
    }
    const multi = new Set(items.filter(({ p, grad }) => p.dtype === 'float32' && grad.dtype === 'float32'));
    adamwMulti(
      [...multi].map(({ p, grad, st }) => ({ p, grad, m: st.buffers.exp_avg, v: st.buffers.exp_avg_sq, step: st.step })),
      g,
      this.coupled,
    );
    super.updateGroup(
      items.filter((it) => !multi.has(it)),
      g,
    );
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdamWHyper>): void {
    const u = adamwStepParams(p.size, g, st.step, this.coupled);
    // amsgrad switched on after the state was created: vmax starts at 0, so max(0, v) = v (as torch)
    if (u.amsgrad && !st.buffers.max_exp_avg_sq) st.buffers.max_exp_avg_sq = keep(zerosLike(p, { dtype: 'float32' }));
    const b = st.buffers;
    (this.impl === 'naive' ? adamwNaive : adamwFused)(p, grad, b.exp_avg, b.exp_avg_sq, u, b.max_exp_avg_sq);
  }
}

export class AdamW extends AdamFamily {
  protected readonly coupled = false;
  /** Defaults as torch: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01, amsgrad false. */
  constructor(params: Tensor[] | GroupSpec<AdamWHyper>[], opts: AdamWOptions = {}) {
    super('AdamW', params, 0.01, opts);
  }
}

/** torch.optim.Adam: the weight decay is an L2 term added to the gradient (g + wd·p), not decoupled. */
export class Adam extends AdamFamily {
  protected readonly coupled = true;
  /** Defaults as torch: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, amsgrad false. */
  constructor(params: Tensor[] | GroupSpec<AdamWHyper>[], opts: AdamWOptions = {}) {
    super('Adam', params, 0, opts);
  }
}
