// Dropout layer: a fresh mask on every call in training mode, deterministic from the module seed
// (call c uses the stream subSeed(seed, c)); identity in eval mode or with p = 0.
import { fail } from '../errors.js';
import { dropout } from '../ops/dropout.js';
import { nextSeed } from '../ops/random.js';
import type { Tensor } from '../tensor.js';
import { Module, subSeed } from './module.js';

export class Dropout extends Module {
  /** Calls made in training mode so far (the mask stream index; part of no state dict). */
  calls = 0;
  readonly seed: number;

  /** `seed`: the mask streams' seed; the next of the global sequence (mg.manualSeed) when absent. */
  constructor(
    readonly p: number,
    opts: { seed?: number } = {},
  ) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('Dropout', `p must be a probability in [0, 1], got ${String(p)}`);
    this.seed = opts.seed ?? nextSeed();
  }

  /** Returns x itself (no copy) in eval mode or with p = 0. */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, { seed: subSeed(this.seed, this.calls++)!, training: true });
  }
}
