// Normalisation layers over the last dim, on the fused kernels of src/ops/norm.ts.
import { fail, fmtShape } from '../errors.js';
import { layerNorm, rmsNorm } from '../ops/norm.js';
import type { Tensor } from '../tensor.js';
import { constant } from './init.js';
import { Module, type ModuleOptions, type Parameter } from './module.js';

export interface NormOptions extends Omit<ModuleOptions, 'seed'> {
  /** Default 1e-5 (LayerNorm, as torch) / 1e-6 (RMSNorm, as LLaMA). */
  eps?: number;
  /** Learnable weight (ones) and, for LayerNorm, bias (zeros). Default true. */
  affine?: boolean;
  /** LayerNorm only: with affine, learn a bias too (default true). */
  bias?: boolean;
}

function checkDim(op: string, C: number): void {
  if (!Number.isInteger(C) || C <= 0) fail(op, `the normalised size must be a positive integer, got ${String(C)}`);
}

function checkInput(op: string, x: Tensor, C: number): void {
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== C) fail(op, `expects input [..., ${C}], got ${fmtShape(x.shape)}`);
}

/** y = (x - mean)/√(var + eps)·weight + bias over the last dim (biased variance). */
export class LayerNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly eps: number;

  constructor(
    readonly dim: number,
    opts: NormOptions = {},
  ) {
    super();
    checkDim('LayerNorm', dim);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? constant([dim], 1, opts) : null;
    this.bias = affine && opts.bias !== false ? constant([dim], 0, opts) : null;
  }

  forward(x: Tensor): Tensor {
    checkInput('LayerNorm', x, this.dim);
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** y = x/√(mean(x²) + eps)·weight over the last dim. */
export class RMSNorm extends Module {
  weight: Parameter | null;
  readonly eps: number;

  constructor(
    readonly dim: number,
    opts: Omit<NormOptions, 'bias'> = {},
  ) {
    super();
    checkDim('RMSNorm', dim);
    this.eps = opts.eps ?? 1e-6;
    this.weight = (opts.affine ?? true) ? constant([dim], 1, opts) : null;
  }

  forward(x: Tensor): Tensor {
    checkInput('RMSNorm', x, this.dim);
    return rmsNorm(x, this.weight, this.eps);
  }
}
