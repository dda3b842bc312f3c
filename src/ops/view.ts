// squeeze, unsqueeze, flatten: new shapes for the same row-major elements, so each is a reshape (a
// view: no copy, no dispatch, shared storage) and its gradient is reshape's (g laid out as x).
import { fail } from '../errors.js';
import { normAxes, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkTensor, reshape } from './shape.js';

/**
 * Drops size-1 dims: all of them, or those among `axes` (torch.squeeze(dim): a listed axis whose
 * size is not 1 is left as it is). A view.
 */
// y = x without its size-1 dims                -> dx = g laid out as x.shape
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const op = 'squeeze';
  checkTensor(op, x);
  const drop = axes === undefined ? [...x.shape.keys()] : normAxes(op, axes, x.ndim);
  return reshape(
    x,
    x.shape.filter((d, i) => !(d === 1 && drop.includes(i))),
  );
}

/** Inserts a size-1 dim at `axis` (in -(rank+1)..rank, as torch.unsqueeze). A view. */
// y = x with a size-1 dim at axis              -> dx = g laid out as x.shape
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const op = 'unsqueeze';
  checkTensor(op, x);
  const ax = normAxis(op, axis, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

/**
 * Merges dims start..end (inclusive, negative counting from the end) into one, as torch.flatten;
 * a 0-D tensor becomes [1]. A view.
 */
// y = x with dims start..end merged            -> dx = g laid out as x.shape
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const op = 'flatten';
  checkTensor(op, x);
  if (x.ndim === 0) {
    if (![0, -1].includes(start) || ![0, -1].includes(end))
      fail(op, `${x.describe()} is 0-D: start and end must be 0 or -1, got ${start} and ${end}`);
    return reshape(x, [1]);
  }
  const s = normAxis(op, start, x.ndim);
  const e = normAxis(op, end, x.ndim);
  if (s > e) fail(op, `start ${start} (axis ${s}) comes after end ${end} (axis ${e}) for ${x.describe()}`);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}
