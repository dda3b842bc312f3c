// Accumulating index ops in torch's form, x plus a scatter: scatterAdd (torch.Tensor.scatter_add)
// and indexAdd (torch.Tensor.index_add). Both are x + the deterministic scatter-add of gather.ts, so
// their gradients are g for x and g picked back at the indexed positions (gather / indexSelect) for
// the source.
import { fail, fmtShape } from '../errors.js';
import { normAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, mul } from './binary.js';
import { scatterAdd as scatterInto } from './gather.js';
import { pad } from './pad.js';
import { checkTensor, release } from './shape.js';

/**
 * Two forms:
 *   scatterAdd(x, axis, index, src: Tensor)   torch's x.scatter_add(axis, index, src): a copy of x with
 *       x[c with c_axis = index[c]] += src[c] for every position c of index (index has x's rank and
 *       src's, index.shape <= src.shape, and <= x.shape outside the axis; src beyond index is unused);
 *   scatterAdd(src, axis, index, shape: number[])   zeros(shape) with src added there (the adjoint of
 *       gather; a 1-D index adds along the axis as indexSelect's adjoint).
 * Repeated indices sum, deterministically. Out-of-range indices throw (on webgpu at the next readback).
 */
// y = x + S(src), S the scatter-add at index    -> dx = g;  dsrc = gather(g, axis, index), 0 beyond index
export function scatterAdd(
  a: Tensor,
  axis: number,
  index: Tensor,
  b: Tensor | readonly number[],
  opts: { impl?: 'chain' | 'naive' } = {},
): Tensor {
  if (!(b instanceof Tensor)) return scatterInto(a, axis, index, b, opts);
  const op = 'scatterAdd';
  checkTensor(op, a, 'x');
  checkTensor(op, index, 'index');
  if (index.ndim !== b.ndim || index.shape.some((d, i) => d > b.shape[i]))
    fail(op, `index ${fmtShape(index.shape)} must have the rank of src ${fmtShape(b.shape)} and no larger size (x ${fmtShape(a.shape)})`);
  // The part of src that index covers: a crop (pad with negative amounts, from the last axis).
  const crop = b.shape.flatMap((_, k) => [0, index.shape[b.ndim - 1 - k] - b.shape[b.ndim - 1 - k]]);
  const src = crop.some((c) => c !== 0) ? pad(b, crop) : b;
  const scattered = scatterInto(src, axis, index, a.shape, opts);
  const y = add(a, scattered);
  release(scattered, ...(src === b ? [] : [src]));
  return y;
}

/**
 * torch's x.index_add(axis, index, source, alpha): a copy of x with
 * x[.., index[j], ..] += alpha · source[.., j, ..]; index is 1-D int32, source has x's shape but
 * index.length along the axis. Repeated indices sum, deterministically.
 */
// y = x + S(alpha·source)                       -> dx = g;  dsource = alpha · indexSelect(g, axis, index)
export function indexAdd(x: Tensor, axis: number, index: Tensor, source: Tensor, opts: { alpha?: number } = {}): Tensor {
  const op = 'indexAdd';
  checkTensor(op, x);
  checkTensor(op, index, 'index');
  checkTensor(op, source, 'source');
  if (x.ndim === 0) fail(op, `${x.describe()} has no axes to index`);
  const ax = normAxis(op, axis, x.ndim);
  if (index.ndim !== 1) fail(op, `index must be 1-D, got ${index.describe()}`);
  const want = x.shape.map((d, i) => (i === ax ? index.shape[0] : d));
  if (source.ndim !== x.ndim || source.shape.some((d, i) => d !== want[i]))
    fail(
      op,
      `source ${fmtShape(source.shape)} must have shape ${fmtShape(want)} (x ${fmtShape(x.shape)} with index length ${index.shape[0]} along axis ${ax})`,
    );
  const alpha = opts.alpha ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(op, `alpha must be a finite number, got ${String(alpha)}`);
  const scaled = alpha === 1 ? source : mul(source, alpha);
  const scattered = scatterInto(scaled, ax, index, x.shape);
  const y = add(x, scattered);
  release(scattered, ...(scaled === source ? [] : [scaled]));
  return y;
}
