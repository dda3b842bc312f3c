// RMSprop (Hinton), as torch.optim.RMSprop, one fused kernel per parameter (kernels/rmsprop.wgsl;
// its cpu loop is the float64 reference; `rmspropNaive` is the same step from primitive ops):
//
//   g ← g + wd·p
//   sq ← α·sq + (1 - α)·g²
//   centered:  ga ← α·ga + (1 - α)·g,   avg = √(sq - ga²) + eps;    else avg = √sq + eps
//   momentum μ > 0:  buf ← μ·buf + g/avg,  p ← p - lr·buf;          else p ← p - lr·g/avg
//
// State (torch's names): square_avg, grad_avg (centered), momentum_buffer (momentum > 0).
import { noGrad } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { runInPlace } from '../ops/apply.js';
import { add, div, mul, sub } from '../ops/binary.js';
import { zerosLike } from '../ops/creation.js';
import { grid1d } from '../ops/grid.js';
import { sqrt } from '../ops/unary.js';
import { keep, tidy } from '../runtime.js';
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

export interface RMSpropHyper extends BaseHyper {
  /** Smoothing constant of the squared-gradient average. */
  alpha: number;
  eps: number;
  momentum: number;
  /** Normalise by the variance estimate √(E[g²] - E[g]²) instead of √E[g²]. */
  centered: boolean;
}

export interface RMSpropOptions extends Partial<RMSpropHyper> {
  /** 'fused' (default): one kernel per parameter; 'naive': primitive ops (the test twin). */
  impl?: 'fused' | 'naive';
}

export interface RMSpropStepParams {
  n: number;
  lr: number;
  alpha: number;
  eps: number;
  wd: number;
  momentum: number;
  centered: boolean;
}

/** The state buffers a step reads and writes, in the kernel's binding order after p. */
export interface RMSpropState {
  squareAvg: Tensor;
  gradAvg?: Tensor;
  momentumBuffer?: Tensor;
}

const ENTRY = ['plain', 'momentum', 'centered', 'centered_momentum'] as const;
const entryOf = (u: RMSpropStepParams) => ENTRY[(u.centered ? 2 : 0) + (u.momentum > 0 ? 1 : 0)];

const rmspropKernel = defineKernel<RMSpropStepParams>({
  name: 'rmsprop',
  label: (u) => `rmsprop:${entryOf(u)}`,
  cpu: ([grad], [p, sq, ...rest], u) => {
    const ga = u.centered ? rest[0] : null;
    const buf = u.momentum > 0 ? rest[u.centered ? 1 : 0] : null;
    for (let i = 0; i < u.n; i++) {
      const g = grad[i] + u.wd * p[i];
      const s = u.alpha * sq[i] + (1 - u.alpha) * g * g;
      sq[i] = s;
      let avg: number;
      if (ga) {
        const a = u.alpha * ga[i] + (1 - u.alpha) * g;
        ga[i] = a;
        avg = Math.sqrt(s - a * a) + u.eps;
      } else avg = Math.sqrt(s) + u.eps;
      if (buf) {
        const b = u.momentum * buf[i] + g / avg;
        buf[i] = b;
        p[i] -= u.lr * b;
      } else p[i] -= (u.lr * g) / avg;
    }
  },
  gpu: {
    shader: 'rmsprop',
    entry: 'plain',
    uniforms: (u) => [
      ['u32', u.n],
      ['f32', u.lr],
      ['f32', u.alpha],
      ['f32', u.eps],
      ['f32', u.wd],
      ['f32', u.momentum],
    ],
    workgroups: (u) => grid1d(u.n, 256),
  },
});
const rmspropKernels = Object.fromEntries(
  ENTRY.map((e) => [e, defineKernel<RMSpropStepParams>({ ...rmspropKernel, gpu: { ...rmspropKernel.gpu, entry: e } })]),
) as Record<(typeof ENTRY)[number], typeof rmspropKernel>;

function stateList(op: string, u: RMSpropStepParams, s: RMSpropState): Tensor[] {
  if (u.centered && !s.gradAvg) fail(op, 'centered needs the grad_avg buffer');
  if (u.momentum > 0 && !s.momentumBuffer) fail(op, 'momentum > 0 needs the momentum_buffer');
  return [s.squareAvg, ...(u.centered ? [s.gradAvg!] : []), ...(u.momentum > 0 ? [s.momentumBuffer!] : [])];
}

/** One fused RMSprop update of p and its state in place. */
export function rmspropFused(p: Tensor, grad: Tensor, s: RMSpropState, u: RMSpropStepParams): void {
  runInPlace('rmsprop', rmspropKernels[entryOf(u)], [grad], [p, ...stateList('rmsprop', u, s)], u);
}

/** The same update from primitive ops (new tensors, then copied into p and the state). */
export function rmspropNaive(p: Tensor, grad: Tensor, s: RMSpropState, u: RMSpropStepParams): void {
  stateList('rmspropNaive', u, s);
  noGrad(() =>
    tidy(() => {
      const g = u.wd === 0 ? grad : add(grad, mul(p, u.wd)); // g + wd·p
      const sq = add(mul(s.squareAvg, u.alpha), mul(mul(g, g), 1 - u.alpha)); // α·sq + (1-α)·g²
      const pairs: [Tensor, Tensor][] = [[sq, s.squareAvg]];
      let avg: Tensor;
      if (u.centered) {
        const ga = add(mul(s.gradAvg!, u.alpha), mul(g, 1 - u.alpha)); // α·ga + (1-α)·g
        avg = add(sqrt(sub(sq, mul(ga, ga))), u.eps); // √(sq - ga²) + eps
        pairs.push([ga, s.gradAvg!]);
      } else avg = add(sqrt(sq), u.eps); // √sq + eps
      let d = div(g, avg);
      if (u.momentum > 0) {
        d = add(mul(s.momentumBuffer!, u.momentum), d); // μ·buf + g/avg
        pairs.push([d, s.momentumBuffer!]);
      }
      pairs.push([sub(p, mul(d, u.lr)), p]);
      assignInPlace('rmspropNaive', pairs);
    }),
  );
}

export class RMSprop extends Optimizer<RMSpropHyper> {
  readonly impl: 'fused' | 'naive';

  /** Defaults as torch: lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered false. */
  constructor(params: Tensor[] | GroupSpec<RMSpropHyper>[], opts: RMSpropOptions = {}) {
    const { impl, ...hyper } = opts;
    super('RMSprop', params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...hyper });
    this.impl = implOf(this.name, impl);
  }

  protected override validate(g: ParamGroup<RMSpropHyper>, gi: number): void {
    super.validate(g, gi);
    checkRange(this.name, `group ${gi}: alpha`, g.alpha, 0, 1, false);
    checkRange(this.name, `group ${gi}: eps`, g.eps, 0, Infinity);
    checkRange(this.name, `group ${gi}: momentum`, g.momentum, 0, Infinity);
    if (typeof g.centered !== 'boolean') fail(this.name, `group ${gi}: centered must be a boolean, got ${String(g.centered)}`);
  }

  protected initState(p: Tensor, g: ParamGroup<RMSpropHyper>): Record<string, Tensor> {
    const st: Record<string, Tensor> = { square_avg: zerosLike(p) };
    if (g.momentum > 0) st.momentum_buffer = zerosLike(p);
    if (g.centered) st.grad_avg = zerosLike(p);
    return st;
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<RMSpropHyper>): void {
    const u: RMSpropStepParams = {
      n: p.size,
      lr: g.lr,
      alpha: g.alpha,
      eps: g.eps,
      wd: g.weightDecay,
      momentum: g.momentum,
      centered: g.centered,
    };
    const b = st.buffers;
    // momentum or centering switched on after the state was created: their buffers start at 0 (as torch's fresh state)
    if (u.momentum > 0) b.momentum_buffer ??= keep(zerosLike(p));
    if (u.centered) b.grad_avg ??= keep(zerosLike(p));
    const s: RMSpropState = { squareAvg: b.square_avg, gradAvg: b.grad_avg, momentumBuffer: b.momentum_buffer };
    (this.impl === 'naive' ? rmspropNaive : rmspropFused)(p, grad, s, u);
  }
}
