// The forward and backward of one training step, written once for every training loop.
import { mul } from '../ops/binary.js';
import { tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';

export interface ForwardBackwardOptions {
  /** Backpropagate scale·loss (gradient accumulation over k micro-batches: 1/k). Default 1. */
  scale?: number;
}

/**
 * Runs `forward` in a tidy scope and backpropagates the loss it returns. The scope hands the
 * activations the backward needs to the tape and frees the rest at once; the backward frees each
 * saved activation as soon as its last reader has run (src/tape-hold.ts), and the gradients of
 * leaves accumulate in place. Returns the (unscaled) loss: the caller reads and disposes it.
 */
export function forwardBackward(forward: () => Tensor, opts: ForwardBackwardOptions = {}): Tensor {
  const scale = opts.scale ?? 1;
  const { loss, objective } = tidy(() => {
    const loss = forward();
    return { loss, objective: scale === 1 ? loss : mul(loss, scale) };
  });
  try {
    objective.backward();
  } finally {
    if (objective !== loss) objective.dispose();
  }
  return loss;
}
