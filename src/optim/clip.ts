// Gradient clipping: by the global L2 norm (torch.nn.utils.clip_grad_norm_) and by value (clip_grad_value_).
//   by norm:  total = √(Σ_p Σ g²),   g ← g·min(1, maxNorm/(total + 1e-6))
//   by value: g ← clamp(g, -value, value)
// Everything runs on the device (per-parameter sum of squares, a sum, the scale) and the scale is
// applied without a host round trip: NO readback. The total norm comes back as a scalar tensor;
// `await norm.item()` reads it (one readback), e.g. for logging.
import { noGrad } from '../autograd.js';
import { fail } from '../errors.js';
import { add, maximum, minimum, mul } from '../ops/binary.js';
import { zeros } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';
import { pow, sqrt } from '../ops/unary.js';
import { keep, tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';

/**
 * Scales the gradients of `params` (those that have one) so their global L2 norm is at most
 * `maxNorm`; returns the norm before clipping as a scalar tensor on the parameters' backend (the
 * caller owns it). Gradients are replaced by scaled copies (p.grad is a new tensor).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) fail('clipGradNorm', `maxNorm must be > 0, got ${maxNorm}`);
  const withGrad = params.filter((p) => p.grad);
  if (withGrad.length === 0) return zeros([], { backend: params[0]?.backend.name });
  return noGrad(() =>
    tidy(() => {
      let total: Tensor | null = null;
      for (const p of withGrad) {
        const s = sum(mul(p.grad!, p.grad!)); // Σ g²  ()
        total = total ? add(total, s) : s;
      }
      const norm = sqrt(total!); // ()
      const scale = minimum(mul(pow(add(norm, 1e-6), -1), maxNorm), 1); // min(1, maxNorm/(norm + 1e-6))  ()
      for (const p of withGrad) {
        const g = mul(p.grad!, scale);
        p.grad!.dispose();
        p.grad = keep(g);
      }
      return norm;
    }),
  );
}

/**
 * Clamps every gradient of `params` (those that have one) into [-value, value], as
 * torch.nn.utils.clip_grad_value_ (NaN stays NaN). Gradients are replaced by clamped copies.
 */
export function clipGradValue(params: Tensor[], value: number): void {
  if (!Array.isArray(params)) fail('clipGradValue', `params must be an array of tensors, got ${String(params)}`);
  if (typeof value !== 'number' || !(value >= 0)) fail('clipGradValue', `value must be a number >= 0, got ${String(value)}`);
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const g = tidy(() => maximum(minimum(p.grad!, value), -value)); // clamp(g, -value, value)
      p.grad.dispose();
      p.grad = g;
    }
  });
}
