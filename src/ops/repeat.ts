// repeat (torch.Tensor.repeat, numpy.tile): one strided copy that reads x with stride 0 along each
// repeated copy. The gradient sums g over the copies.
import { record } from '../autograd.js';
import { fail } from '../errors.js';
import { stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sum } from './reduce.js';
import { checkTensor, reshape, stridedCopy } from './shape.js';

/**
 * Tiles x `reps[i]` times along dim i (reps may be longer than x's rank: x gets leading 1s first,
 * as torch). Result dim i has size reps[i] · x.shape[i]. Copies.
 */
// y[r_0·d_0 + i_0, ...] = x[i_0, ...]            -> dx = Σ over the copies r of g, viewed as [r_0, d_0, r_1, d_1, ...]
export function repeat(x: Tensor, reps: readonly number[]): Tensor {
  const op = 'repeat';
  checkTensor(op, x);
  if (!Array.isArray(reps) || reps.some((r) => !Number.isInteger(r) || r < 0))
    fail(op, `reps must be an array of non-negative integers, got ${JSON.stringify(reps)}`);
  if (reps.length < x.ndim)
    fail(op, `reps [${reps.join(', ')}] has ${reps.length} entries; ${x.describe()} needs at least ${x.ndim} (one per dim)`);
  const xShape = [...Array(reps.length - x.ndim).fill(1), ...x.shape]; // leading 1s
  const xs = stridesOf(xShape);
  // The copy's shape: (r_i, d_i) for each dim with r_i > 1, d_i alone otherwise.
  const view: number[] = [];
  const strides: number[] = [];
  const copyAxes: number[] = [];
  reps.forEach((r, i) => {
    if (r !== 1) {
      copyAxes.push(view.length);
      view.push(r);
      strides.push(0);
    }
    view.push(xShape[i]);
    strides.push(xs[i]);
  });
  const out = reps.map((r, i) => r * xShape[i]);
  const copy = stridedCopy(x, { shape: view, strides }, undefined, op);
  const y = new Tensor(copy.storage, out, copy.dtype); // the same elements, shaped as the result
  copy.dispose();
  const inShape = x.shape;
  return record(y, op, [x], (g) => [reshape(sum(reshape(g, view), copyAxes), inShape)]);
}
