// pad (torch.nn.functional.pad, constant mode): one fill of the result with `value` and one strided
// copy of x (cropped where a pad is negative) into its place. The gradient is g cropped back: the
// same op with the pads negated.
import { record } from '../autograd.js';
import { fail, fmtShape } from '../errors.js';
import { numel, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { full } from './creation.js';
import { checkDims, checkTensor, done, stridedCopy } from './shape.js';

/**
 * Pads x with `value`. `pads` lists (before, after) pairs from the LAST axis backwards, as torch:
 * [left, right] pads the last axis, [left, right, top, bottom] the last two. A negative pad crops
 * (as torch). Each padded axis' result size must be >= 0. Copies.
 */
// y[.., lo + i, ..] = x[.., i, ..], value elsewhere    -> dx = pad(g, -pads): g cropped back to x's place
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  const op = 'pad';
  checkTensor(op, x);
  checkDims(op, x);
  if (!Array.isArray(pads) || pads.length % 2 !== 0 || pads.some((p) => !Number.isInteger(p)))
    fail(op, `pads must be an even-length array of integers ((before, after) pairs from the last axis), got ${JSON.stringify(pads)}`);
  if (pads.length / 2 > x.ndim) fail(op, `pads [${pads.join(', ')}] pad ${pads.length / 2} axes; ${x.describe()} has ${x.ndim}`);
  if (typeof value !== 'number') fail(op, `value must be a number, got ${typeof value}`);
  const lo = x.shape.map(() => 0);
  const hi = x.shape.map(() => 0);
  for (let k = 0; k < pads.length / 2; k++) {
    const ax = x.ndim - 1 - k;
    lo[ax] = pads[2 * k];
    hi[ax] = pads[2 * k + 1];
  }
  const out = x.shape.map((d, i) => d + lo[i] + hi[i]);
  if (out.some((d) => d < 0)) fail(op, `pads [${pads.join(', ')}] give ${x.describe()} the shape ${fmtShape(out)}: a size is negative`);
  const y = full(out, value, { backend: x.backend.name, dtype: x.dtype });
  // The part of x that survives the crops, and where it lands in y.
  const part = x.shape.map((d, i) => Math.max(0, d - Math.max(0, -lo[i]) - Math.max(0, -hi[i])));
  if (numel(part) > 0) {
    const xs = stridesOf(x.shape);
    const ys = stridesOf(out);
    const src = lo.reduce((o, l, i) => o + Math.max(0, -l) * xs[i], 0);
    const dst = lo.reduce((o, l, i) => o + Math.max(0, l) * ys[i], 0);
    stridedCopy(x, { shape: part, strides: xs, offset: src }, { tensor: y, strides: ys, offset: dst }, op);
  }
  done(op, y);
  const back = pads.map((p) => -p);
  return record(y, op, [x], (g) => [pad(g, back, 0)]);
}
