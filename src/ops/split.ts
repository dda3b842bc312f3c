// split and chunk: consecutive pieces along one axis, each a slice (a strided copy whose gradient
// writes g back into its place in zeros of x's shape; pieces used together sum their gradients).
import { fail } from '../errors.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkTensor, slice } from './shape.js';

function pieces(op: string, x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const ax = normAxis(op, axis, x.ndim);
  let start = 0;
  return sizes.map((n) => {
    const piece = slice(x, ax, start, start + n);
    start += n;
    return piece;
  });
}

function axisOf(op: string, x: Tensor, axis: number): number {
  checkTensor(op, x);
  if (x.ndim === 0) fail(op, `cannot split ${x.describe()}: it has no axes`);
  return normAxis(op, axis, x.ndim);
}

/**
 * torch.split: with a number, pieces of that size along `axis` (the last one smaller when the size
 * does not divide); with an array, pieces of those sizes (they must sum to the axis' size).
 */
// y_i = x[.., start_i:start_i + n_i, ..]        -> dx = Σ_i zeros(x.shape) with g_i written at start_i
export function split(x: Tensor, sizeOrSizes: number | readonly number[], axis = 0): Tensor[] {
  const op = 'split';
  const ax = axisOf(op, x, axis);
  const size = x.shape[ax];
  if (typeof sizeOrSizes === 'number') {
    const n = sizeOrSizes;
    if (!Number.isInteger(n) || n < 0 || (n === 0 && size > 0))
      fail(op, `split size must be a positive integer, got ${n} (for ${x.describe()} along axis ${ax} of size ${size})`);
    if (size === 0) return pieces(op, x, ax, [0]);
    return pieces(
      op,
      x,
      ax,
      Array.from({ length: Math.ceil(size / n) }, (_, i) => Math.min(n, size - i * n)),
    );
  }
  if (!Array.isArray(sizeOrSizes) || sizeOrSizes.some((n) => !Number.isInteger(n) || n < 0))
    fail(op, `sizes must be a number or an array of non-negative integers, got ${JSON.stringify(sizeOrSizes)}`);
  const total = sizeOrSizes.reduce((a, b) => a + b, 0);
  if (total !== size) fail(op, `sizes [${sizeOrSizes.join(', ')}] sum to ${total}, but axis ${ax} of ${x.describe()} has size ${size}`);
  return pieces(op, x, ax, sizeOrSizes);
}

/**
 * torch.chunk: splits into at most n pieces of ceil(size / n) along `axis` (the last smaller; fewer
 * than n pieces when the size does not allow n, e.g. 6 into 4 gives 3 pieces of 2; an empty axis
 * gives n empty pieces).
 */
// as split(x, ceil(size / n), axis)
export function chunk(x: Tensor, n: number, axis = 0): Tensor[] {
  const op = 'chunk';
  const ax = axisOf(op, x, axis);
  if (!Number.isInteger(n) || n < 1) fail(op, `n must be a positive integer, got ${n}`);
  const size = x.shape[ax];
  if (size === 0) return pieces(op, x, ax, Array(n).fill(0)); // torch: n empty pieces
  const each = Math.ceil(size / n);
  return pieces(
    op,
    x,
    ax,
    Array.from({ length: Math.ceil(size / each) }, (_, i) => Math.min(each, size - i * each)),
  );
}
