// AdamW (Loshchilov & Hutter), as torch.optim.AdamW: bias-corrected moments and decoupled weight
// decay, applied as ONE fused kernel per parameter (kernels/adamw.wgsl: reads the gradient, updates
// the parameter and both moments in place). The kernel's cpu loop is the float64 reference; `naive`
// is the same step from primitive ops (the twin the fused kernel is tested against).
//
//   p ← p·(1 - lr·wd)
//   m ← β1·m + (1 - β1)·g,    v ← β2·v + (1 - β2)·g²
//   p ← p - lr/(1 - β1^t) · m / (√v/√(1 - β2^t) + eps)
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { add, div, mul } from '../ops/binary.js';
import { zerosLike } from '../ops/creation.js';
import { runInPlace } from '../ops/apply.js';
import { grid1d } from '../ops/grid.js';
import { stridedCopy } from '../ops/shape.js';
import { sqrt } from '../ops/unary.js';
import { noGrad } from '../autograd.js';
import { tidy } from '../runtime.js';
import { stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkRange, type BaseHyper, type GroupSpec, Optimizer, type ParamGroup, type ParamState } from './optimizer.js';

export interface AdamWHyper extends BaseHyper {
  betas: [number, number];
  eps: number;
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
  /** 1 - lr·wd */
  decay: number;
  /** lr / (1 - β1^t) */
  stepSize: number;
  /** 1 / √(1 - β2^t) */
  invSqrtBc2: number;
}

export function adamwStepParams(n: number, g: AdamWHyper, step: number): AdamWStepParams {
  const [beta1, beta2] = g.betas;
  return {
    n,
    beta1,
    beta2,
    eps: g.eps,
    decay: 1 - g.lr * g.weightDecay,
    stepSize: g.lr / (1 - beta1 ** step),
    invSqrtBc2: 1 / Math.sqrt(1 - beta2 ** step),
  };
}

export const adamwKernel = defineKernel<AdamWStepParams>({
  name: 'adamw',
  cpu: ([grad], [p, m, v], u) => {
    for (let i = 0; i < u.n; i++) {
      const g = grad[i];
      const m1 = u.beta1 * m[i] + (1 - u.beta1) * g;
      const v1 = u.beta2 * v[i] + (1 - u.beta2) * g * g;
      m[i] = m1;
      v[i] = v1;
      p[i] = p[i] * u.decay - (u.stepSize * m1) / (Math.sqrt(v1) * u.invSqrtBc2 + u.eps);
    }
  },
  gpu: {
    shader: 'adamw',
    uniforms: (u) => [
      ['u32', u.n],
      ['f32', u.beta1],
      ['f32', u.beta2],
      ['f32', u.eps],
      ['f32', u.decay],
      ['f32', u.stepSize],
      ['f32', u.invSqrtBc2],
    ],
    workgroups: (u) => grid1d(u.n, 256),
  },
});

/** One fused AdamW update of p, m, v in place. */
export function adamwFused(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, u: AdamWStepParams): void {
  runInPlace('adamw', adamwKernel, [grad], [p, m, v], u);
}

/** The same update from primitive ops (new tensors, then copied into p, m, v). */
export function adamwNaive(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, u: AdamWStepParams): void {
  noGrad(() =>
    tidy(() => {
      const m1 = add(mul(m, u.beta1), mul(grad, 1 - u.beta1)); // β1·m + (1-β1)·g
      const v1 = add(mul(v, u.beta2), mul(mul(grad, grad), 1 - u.beta2)); // β2·v + (1-β2)·g²
      const denom = add(mul(sqrt(v1), u.invSqrtBc2), u.eps); // √v/√bc2 + eps
      const p1 = add(mul(p, u.decay), mul(div(m1, denom), -u.stepSize)); // p·decay - stepSize·m/denom
      const s = stridesOf(p.shape);
      for (const [src, dst] of [
        [m1, m],
        [v1, v],
        [p1, p],
      ] as const)
        stridedCopy(src, { shape: p.shape, strides: s }, { tensor: dst, strides: s }, 'adamwNaive');
    }),
  );
}

export class AdamW extends Optimizer<AdamWHyper> {
  readonly impl: 'fused' | 'naive';

  /** Defaults as torch: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01. */
  constructor(params: Tensor[] | GroupSpec<AdamWHyper>[], opts: AdamWOptions = {}) {
    const { impl, ...hyper } = opts;
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, ...hyper });
    this.impl = impl ?? 'fused';
  }

  protected override validate(g: ParamGroup<AdamWHyper>, gi: number): void {
    super.validate(g, gi);
    if (!Array.isArray(g.betas) || g.betas.length !== 2)
      fail(this.name, `group ${gi}: betas must be [beta1, beta2], got ${String(g.betas)}`);
    checkRange(this.name, `group ${gi}: beta1`, g.betas[0], 0, 1);
    checkRange(this.name, `group ${gi}: beta2`, g.betas[1], 0, 1);
    checkRange(this.name, `group ${gi}: eps`, g.eps, 0, Infinity);
  }

  protected initState(p: Tensor): Record<string, Tensor> {
    return { exp_avg: zerosLike(p), exp_avg_sq: zerosLike(p) };
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdamWHyper>): void {
    const u = adamwStepParams(p.size, g, st.step);
    (this.impl === 'naive' ? adamwNaive : adamwFused)(p, grad, st.buffers.exp_avg, st.buffers.exp_avg_sq, u);
  }
}
