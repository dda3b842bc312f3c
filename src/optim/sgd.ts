// SGD with momentum, as torch.optim.SGD (weight decay coupled into the gradient), one fused kernel
// per parameter (kernels/sgd.wgsl; its cpu loop is the float64 reference):
//
//   d ← g + wd·p
//   momentum μ > 0:  b ← d (first step), else b ← μ·b + (1 - dampening)·d
//                    d ← d + μ·b (nesterov) or d ← b
//   p ← p - lr·d
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { runInPlace } from '../ops/apply.js';
import { zerosLike } from '../ops/creation.js';
import { grid1d } from '../ops/grid.js';
import { keep } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { checkRange, type BaseHyper, type GroupSpec, Optimizer, type ParamGroup, type ParamState } from './optimizer.js';

export interface SGDHyper extends BaseHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

interface SgdParams {
  n: number;
  lr: number;
  wd: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  first: boolean;
}

const sgdKernel = defineKernel<SgdParams>({
  name: 'sgd',
  label: (u) => (u.momentum > 0 ? 'sgd:momentum' : 'sgd'),
  cpu: ([grad], [p, buf], u) => {
    for (let i = 0; i < u.n; i++) {
      let d = grad[i] + u.wd * p[i];
      if (u.momentum > 0) {
        const b = u.first ? d : u.momentum * buf[i] + (1 - u.dampening) * d;
        buf[i] = b;
        d = u.nesterov ? d + u.momentum * b : b;
      }
      p[i] -= u.lr * d;
    }
  },
  gpu: {
    shader: 'sgd',
    uniforms: (u) => [
      ['u32', u.n],
      ['f32', u.lr],
      ['f32', u.wd],
      ['f32', u.momentum],
      ['f32', u.dampening],
      ['u32', u.nesterov ? 1 : 0],
      ['u32', u.first ? 1 : 0],
    ],
    workgroups: (u) => grid1d(u.n, 256),
  },
});
export const sgdMomentum = defineKernel<SgdParams>({ ...sgdKernel, gpu: { ...sgdKernel.gpu, entry: 'momentum' } });
export const sgdPlain = defineKernel<SgdParams>({ ...sgdKernel, gpu: { ...sgdKernel.gpu, entry: 'plain' } });

export class SGD extends Optimizer<SGDHyper> {
  /** Defaults as torch: lr 1e-3, momentum 0, dampening 0, weightDecay 0, nesterov false. */
  constructor(params: Tensor[] | GroupSpec<SGDHyper>[], opts: Partial<SGDHyper> = {}) {
    super('SGD', params, { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts });
  }

  protected override validate(g: ParamGroup<SGDHyper>, gi: number): void {
    super.validate(g, gi);
    checkRange(this.name, `group ${gi}: momentum`, g.momentum, 0, Infinity);
    checkRange(this.name, `group ${gi}: dampening`, g.dampening, 0, 1, false);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      fail(this.name, `group ${gi}: nesterov needs momentum > 0 and dampening 0 (got momentum ${g.momentum}, dampening ${g.dampening})`);
  }

  protected initState(p: Tensor, g: ParamGroup<SGDHyper>): Record<string, Tensor> {
    return g.momentum > 0 ? { momentum_buffer: zerosLike(p) } : {};
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<SGDHyper>): void {
    const u: SgdParams = {
      n: p.size,
      lr: g.lr,
      wd: g.weightDecay,
      momentum: g.momentum,
      dampening: g.dampening,
      nesterov: g.nesterov,
      first: false,
    };
    if (g.momentum > 0) {
      let buf = st.buffers.momentum_buffer;
      u.first = st.step === 1 || !buf;
      // momentum switched on after the state was created: start the buffer now (b ← d)
      if (!buf) buf = st.buffers.momentum_buffer = keep(zerosLike(p));
      runInPlace('sgd', sgdMomentum, [grad], [p, buf], u);
    } else {
      runInPlace('sgd', sgdPlain, [grad], [p], u);
    }
  }
}
