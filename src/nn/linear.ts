// Linear: y = x @ Wᵀ + b with W stored [out, in] (torch's layout). The product reads W transposed in
// place (matmulT with transB: no transpose copy); the batch dims of x fold into the rows.
import { fail, fmtShape } from '../errors.js';
import { add } from '../ops/binary.js';
import { matmulT } from '../ops/matmul.js';
import { reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor.js';
import { constant, kaimingUniform, normal } from './init.js';
import { Module, type ModuleOptions, type Parameter, subSeed } from './module.js';

export interface LinearOptions extends ModuleOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /**
   * 'kaiming' (default, torch's): W and b ~ U(-1/√in, 1/√in). `{ std }`: W ~ N(0, std²), b = 0
   * (GPT-2's 0.02).
   */
  init?: 'kaiming' | { std: number };
}

export class Linear extends Module {
  /** [out, in]. */
  weight: Parameter;
  /** [out], or null. */
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    for (const [k, v] of [
      ['in', inFeatures],
      ['out', outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) fail('Linear', `${k} features must be a positive integer, got ${String(v)}`);
    }
    const o = { backend: opts.backend };
    const init = opts.init ?? 'kaiming';
    if (init === 'kaiming') {
      this.weight = kaimingUniform([outFeatures, inFeatures], inFeatures, { ...o, seed: subSeed(opts.seed, 0) });
      this.bias = opts.bias === false ? null : kaimingUniform([outFeatures], inFeatures, { ...o, seed: subSeed(opts.seed, 1) });
    } else {
      this.weight = normal([outFeatures, inFeatures], init.std, { ...o, seed: subSeed(opts.seed, 0) });
      this.bias = opts.bias === false ? null : constant([outFeatures], 0, o);
    }
    this.weight.name = 'weight';
    if (this.bias) this.bias.name = 'bias';
  }

  /** x [..., in] -> [..., out]. */
  forward(x: Tensor): Tensor {
    checkInput(this, x);
    const x2 = x.ndim === 1 ? reshape(x, [1, this.inFeatures]) : x; // (rows..., in)
    let y = matmulT(x2, this.weight, { transB: true }); // (rows..., out)
    if (this.bias) y = add(y, this.bias);
    return x.ndim === 1 ? reshape(y, [this.outFeatures]) : y;
  }
}

/** Fails unless x is [..., inFeatures] of `layer` (a Linear, or an adapter wrapping one). */
export function checkInput(layer: { inFeatures: number; weight: Tensor }, x: Tensor): void {
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== layer.inFeatures) {
    fail(
      'Linear',
      `expects input [..., ${layer.inFeatures}], got ${fmtShape(x.shape)}${layer.weight.name && layer.weight.name !== 'weight' ? ` (${layer.weight.name})` : ''}`,
    );
  }
}

/**
 * Hugging Face GPT-2's Conv1D: the same map as Linear, y = x @ Wᵀ + b with W held [out, in] here (so
 * adapters wrap it like any Linear), but checkpoints store its weight transposed, [in, out]. Loaders
 * and savers of such checkpoints transpose it; adapter files record `fan_in_fan_out: true` for it,
 * as PEFT does.
 */
export class Conv1D extends Linear {
  readonly fanInFanOut = true;
}
