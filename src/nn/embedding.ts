// Embedding: a lookup table [num, dim]; ids of any shape -> [...ids.shape, dim] (one indexSelect of
// the flattened ids; its backward scatter-adds rows, so repeated ids accumulate).
import { fail } from '../errors.js';
import { indexSelect, reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor.js';
import { normal } from './init.js';
import { Module, type ModuleOptions, type Parameter } from './module.js';

export interface EmbeddingOptions extends ModuleOptions {
  /** Init std: 1 (torch's N(0, 1), default) or e.g. 0.02 (GPT-2). */
  std?: number;
}

export class Embedding extends Module {
  /** [num, dim]. */
  weight: Parameter;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    for (const [k, v] of [['num', numEmbeddings], ['dim', dim]] as const) {
      if (!Number.isInteger(v) || v <= 0) fail('Embedding', `${k} must be a positive integer, got ${String(v)}`);
    }
    this.weight = normal([numEmbeddings, dim], opts.std ?? 1, { seed: opts.seed, backend: opts.backend });
    this.weight.name = 'weight';
  }

  /** ids: int32 of any shape, values in [0, num) -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') fail('Embedding', `expects int32 ids, got ${ids.describe()}`);
    const flat = reshape(ids, [ids.size]); // (N,)
    const rows = indexSelect(this.weight, 0, flat); // (N, dim)
    return reshape(rows, [...ids.shape, this.dim]);
  }
}
