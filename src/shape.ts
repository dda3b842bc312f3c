// Shape arithmetic shared by every op. Shapes are plain number arrays, row-major, contiguous.
import { fail, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor: strides[i] = prod(shape[i+1:]). */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function checkShape(op: string, shape: Shape): number[] {
  if (!Array.isArray(shape)) fail(op, `shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) fail(op, `shape ${fmtShape(shape)} must hold non-negative integers`);
  }
  return [...shape];
}

/** NumPy broadcasting of two shapes (aligned from the right). */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      fail(
        op,
        `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast (dim ${i} of the result: ${da} vs ${db}; each must match or be 1)`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading a tensor of shape `from` as if it had shape `to` (broadcast): broadcast
 * dimensions get stride 0. `to` has at least as many dims as `from`.
 */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const s = stridesOf(from);
  const out = new Array<number>(to.length).fill(0);
  const off = to.length - from.length;
  for (let i = 0; i < from.length; i++) out[off + i] = from[i] === 1 && to[off + i] !== 1 ? 0 : s[i];
  return out;
}

/** Normalises a possibly negative axis; throws naming the op and the rank. */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    fail(op, `axis ${axis} is out of range for a tensor of rank ${rank} (expected ${-rank}..${Math.max(rank - 1, 0)})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalised, sorted, de-duplicated axes; `undefined` means all axes. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, rank)))].sort((x, y) => x - y);
  if (out.length !== list.length) fail(op, `axes [${list.join(', ')}] repeat an axis`);
  return out;
}

/**
 * Shape after reducing a `shape` over `axes` (keepdim keeps them as 1).
 */
export function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
