// The transformer's feed-forward network: `up` -> activation -> `down`, or SwiGLU
// (down(silu(gate(x)) · up(x)), as LLaMA) with a third Linear `gate`. Dropout after `down`.
import { fail, fmtShape } from '../errors.js';
import { mul } from '../ops/binary.js';
import { gelu, relu, silu } from '../ops/unary.js';
import type { Tensor } from '../tensor.js';
import { Dropout } from './dropout.js';
import { Linear, type LinearOptions } from './linear.js';
import { Module, type ModuleOptions, subSeed } from './module.js';

export type Activation = 'gelu' | 'swiglu' | 'relu';

export interface MLPOptions extends ModuleOptions {
  /** 'gelu' (default; GPT-2's tanh approximation unless geluApproximate = 'none'), 'swiglu' or 'relu'. */
  activation?: Activation;
  geluApproximate?: 'tanh' | 'none';
  bias?: boolean;
  dropout?: number;
  /** Init of the Linear layers; `downInit` overrides it for `down` (GPT-2's scaled residual init). */
  init?: LinearOptions['init'];
  downInit?: LinearOptions['init'];
}

/** SwiGLU's gating: silu(gate)·up (elementwise; gate and up are two projections of the same x). */
// y = silu(g)·u                              -> dg = gy·u·silu'(g), du = gy·silu(g) (mul's and silu's rules)
export const swiglu = (gate: Tensor, up: Tensor): Tensor => mul(silu(gate), up);

export class MLP extends Module {
  /** Present for 'swiglu' only. */
  gate: Linear | null;
  up: Linear;
  down: Linear;
  drop: Dropout;
  readonly activation: Activation;
  readonly geluApproximate: 'tanh' | 'none';

  constructor(
    readonly dim: number,
    readonly hidden: number,
    opts: MLPOptions = {},
  ) {
    super();
    this.activation = opts.activation ?? 'gelu';
    if (!['gelu', 'swiglu', 'relu'].includes(this.activation))
      fail('MLP', `activation must be 'gelu', 'swiglu' or 'relu', got '${String(this.activation)}'`);
    this.geluApproximate = opts.geluApproximate ?? 'tanh';
    const lin = (k: number, init = opts.init): LinearOptions => ({
      bias: opts.bias,
      backend: opts.backend,
      seed: subSeed(opts.seed, k),
      init,
    });
    this.gate = this.activation === 'swiglu' ? new Linear(dim, hidden, lin(2)) : null;
    this.up = new Linear(dim, hidden, lin(0));
    this.down = new Linear(hidden, dim, lin(1, opts.downInit ?? opts.init));
    this.drop = new Dropout(opts.dropout ?? 0, { seed: subSeed(opts.seed, 3) });
  }

  /** x [..., dim] -> [..., dim]. */
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.dim) fail('MLP', `expects x [..., ${this.dim}], got ${fmtShape(x.shape)}`);
    let h: Tensor;
    if (this.gate) h = swiglu(this.gate.forward(x), this.up.forward(x));
    else if (this.activation === 'relu') h = relu(this.up.forward(x));
    else h = gelu(this.up.forward(x), this.geluApproximate);
    return this.drop.forward(this.down.forward(h));
  }
}
