// flip and roll: reorderings along axes, as strided copies (flip reads with negative strides; roll
// is two copies, one per wrapped part). Each one's gradient is the inverse reordering of g.
import { record } from '../autograd.js';
import { fail } from '../errors.js';
import { normAxes, normAxis, numel, stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backendOf } from './apply.js';
import { checkDims, checkTensor, done, release, reshape, stridedCopy } from './shape.js';

/** Reverses the order of elements along each of `axes` (torch.flip). Copies. */
// y[.., i, ..] = x[.., n - 1 - i, ..] on each axis   -> dx = flip(g, axes)
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const op = 'flip';
  checkTensor(op, x);
  checkDims(op, x);
  if (axes === undefined) fail(op, 'needs the axes to flip (a number or an array), as torch.flip(dims)');
  const ax = normAxes(op, axes, x.ndim);
  const xs = stridesOf(x.shape);
  const strides = xs.map((s, i) => (ax.includes(i) ? -s : s));
  const offset = ax.reduce((o, i) => o + Math.max(x.shape[i] - 1, 0) * xs[i], 0);
  const y = stridedCopy(x, { shape: x.shape, strides, offset }, undefined, op);
  return record(y, op, [x], (g) => [flip(g, ax)]);
}

/** One axis: with s = shift mod n, the last s elements move to the front (two copies, or one for s = 0). */
function rollAxis(x: Tensor, shift: number, ax: number): Tensor {
  const op = 'roll';
  const n = x.shape[ax];
  const s = n === 0 ? 0 : ((shift % n) + n) % n;
  const xs = stridesOf(x.shape);
  const b = backendOf(op, [x]);
  const out = new Tensor(b.alloc(x.size, x.dtype), x.shape, x.dtype);
  const part = (len: number) => x.shape.map((d, i) => (i === ax ? len : d));
  // y[.., s + i, ..] = x[.., i, ..] for i < n - s;  y[.., i, ..] = x[.., n - s + i, ..] for i < s
  if (numel(part(n - s)) > 0) stridedCopy(x, { shape: part(n - s), strides: xs }, { tensor: out, strides: xs, offset: s * xs[ax] }, op);
  if (numel(part(s)) > 0) stridedCopy(x, { shape: part(s), strides: xs, offset: (n - s) * xs[ax] }, { tensor: out, strides: xs }, op);
  done(op, out);
  return record(out, op, [x], (g) => [rollAxis(g, -shift, ax)]);
}

/**
 * torch.roll: shifts elements by `shift` along `axis`, wrapping around (y[(i + shift) mod n] = x[i]).
 * Several shifts and axes (arrays of one length) roll along each in turn; without an axis x is
 * rolled as a flat array and keeps its shape. Copies.
 */
// y[.., (i + shift) mod n, ..] = x[.., i, ..]  -> dx = roll(g, -shift, axis)
export function roll(x: Tensor, shift: number | readonly number[], axis?: number | readonly number[]): Tensor {
  const op = 'roll';
  checkTensor(op, x);
  checkDims(op, x);
  const shifts = typeof shift === 'number' ? [shift] : shift;
  if (!Array.isArray(shifts) || shifts.some((v) => !Number.isInteger(v)))
    fail(op, `shift must be an integer or an array of integers, got ${JSON.stringify(shift)}`);
  if (axis === undefined) {
    if (shifts.length !== 1) fail(op, `without an axis, shift must be one integer, got [${shifts.join(', ')}]`);
    const flat = reshape(x, [x.size]);
    const rolled = rollAxis(flat, shifts[0], 0);
    const y = reshape(rolled, x.shape);
    release(flat, rolled);
    return y;
  }
  const axes = typeof axis === 'number' ? [axis] : axis;
  if (!Array.isArray(axes) || axes.length !== shifts.length)
    fail(op, `shift [${shifts.join(', ')}] and axis ${JSON.stringify(axis)} must have one length`);
  if (x.ndim === 0) fail(op, `${x.describe()} has no axes to roll along; omit the axis`);
  let y = x;
  axes.forEach((a, i) => {
    const next = rollAxis(y, shifts[i], normAxis(op, a, x.ndim));
    if (y !== x) release(y);
    y = next;
  });
  return y;
}
