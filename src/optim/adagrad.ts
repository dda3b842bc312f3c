// Adagrad (Duchi et al.), as torch.optim.Adagrad, one fused kernel per parameter
// (kernels/adagrad.wgsl; its cpu loop is the float64 reference; `adagradNaive` is the same step from
// primitive ops):
//
//   g ← g + wd·p
//   sum ← sum + g²                       (sum starts at initialAccumulatorValue)
//   p ← p - clr·g/(√sum + eps),   clr = lr / (1 + (t - 1)·lrDecay)
//
// State (torch's name): sum.
import { noGrad } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { runInPlace } from '../ops/apply.js';
import { add, div, mul, sub } from '../ops/binary.js';
import { fullLike } from '../ops/creation.js';
import { grid1d } from '../ops/grid.js';
import { sqrt } from '../ops/unary.js';
import { tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import {
  assignInPlace,
  checkRange,
  implOf,
  type BaseHyper,
  type GroupSpec,
  Optimizer,
  type ParamGroup,
  type ParamState,
} from './optimizer.js';

export interface AdagradHyper extends BaseHyper {
  /** The learning rate decays as lr / (1 + (t - 1)·lrDecay). */
  lrDecay: number;
  /** The accumulator's starting value. */
  initialAccumulatorValue: number;
  eps: number;
}

export interface AdagradOptions extends Partial<AdagradHyper> {
  /** 'fused' (default): one kernel per parameter; 'naive': primitive ops (the test twin). */
  impl?: 'fused' | 'naive';
}

export interface AdagradStepParams {
  n: number;
  /** lr / (1 + (t - 1)·lrDecay) */
  clr: number;
  eps: number;
  wd: number;
}

const adagradKernel = defineKernel<AdagradStepParams>({
  name: 'adagrad',
  cpu: ([grad], [p, acc], u) => {
    for (let i = 0; i < u.n; i++) {
      const g = grad[i] + u.wd * p[i];
      const s = acc[i] + g * g;
      acc[i] = s;
      p[i] -= (u.clr * g) / (Math.sqrt(s) + u.eps);
    }
  },
  gpu: {
    shader: 'adagrad',
    uniforms: (u) => [
      ['u32', u.n],
      ['f32', u.clr],
      ['f32', u.eps],
      ['f32', u.wd],
    ],
    workgroups: (u) => grid1d(u.n, 256),
  },
});

/** One fused Adagrad update of p and its accumulator in place. */
export function adagradFused(p: Tensor, grad: Tensor, acc: Tensor, u: AdagradStepParams): void {
  runInPlace('adagrad', adagradKernel, [grad], [p, acc], u);
}

/** The same update from primitive ops (new tensors, then copied into p and the accumulator). */
export function adagradNaive(p: Tensor, grad: Tensor, acc: Tensor, u: AdagradStepParams): void {
  noGrad(() =>
    tidy(() => {
      const g = u.wd === 0 ? grad : add(grad, mul(p, u.wd)); // g + wd·p
      const s = add(acc, mul(g, g)); // sum + g²
      const p1 = sub(p, mul(div(g, add(sqrt(s), u.eps)), u.clr)); // p - clr·g/(√sum + eps)
      assignInPlace('adagradNaive', [
        [s, acc],
        [p1, p],
      ]);
    }),
  );
}

export class Adagrad extends Optimizer<AdagradHyper> {
  readonly impl: 'fused' | 'naive';

  /** Defaults as torch: lr 1e-2, lrDecay 0, weightDecay 0, initialAccumulatorValue 0, eps 1e-10. */
  constructor(params: Tensor[] | GroupSpec<AdagradHyper>[], opts: AdagradOptions = {}) {
    const { impl, ...hyper } = opts;
    super('Adagrad', params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, ...hyper });
    this.impl = implOf(this.name, impl);
  }

  protected override validate(g: ParamGroup<AdagradHyper>, gi: number): void {
    super.validate(g, gi);
    checkRange(this.name, `group ${gi}: lrDecay`, g.lrDecay, 0, Infinity);
    checkRange(this.name, `group ${gi}: initialAccumulatorValue`, g.initialAccumulatorValue, 0, Infinity);
    checkRange(this.name, `group ${gi}: eps`, g.eps, 0, Infinity);
  }

  protected initState(p: Tensor, g: ParamGroup<AdagradHyper>): Record<string, Tensor> {
    return { sum: fullLike(p, g.initialAccumulatorValue) };
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdagradHyper>): void {
    const u: AdagradStepParams = { n: p.size, clr: g.lr / (1 + (st.step - 1) * g.lrDecay), eps: g.eps, wd: g.weightDecay };
    (this.impl === 'naive' ? adagradNaive : adagradFused)(p, grad, st.buffers.sum, u);
  }
}
