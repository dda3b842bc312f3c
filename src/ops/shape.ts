// Shape ops: reshape (a view), and permute/transpose/expand/slice/concat/stack (copies through one
// strided-copy kernel, kernels/copy.wgsl). Indexing (gather, indexSelect, scatterAdd) is in gather.ts.
//
// Tensors are always contiguous, so every op but reshape materialises its result: the strided copy
// reads x's storage through arbitrary strides (0 = broadcast) from an offset, and can write into a
// region (offset + strides) of a larger tensor (concat, slice's backward).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail, fmtShape } from '../errors.js';
import { checkFiniteEnabled } from '../runtime.js';
import { broadcastStrides, normAxis, numel, sameShape, stridesOf, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backendOf, run1 } from './apply.js';
import { zeros } from './creation.js';
import { afterOp } from './finite.js';
import { grid1d } from './grid.js';
import { sumTo } from './reduce.js';

const MAX_DIMS = 8;

// ---- the strided copy ------------------------------------------------------------------------------

interface CopyParams {
  /** The op, for traces (`copy:permute`). */
  op: string;
  n: number;
  /** Iteration shape (after merging contiguous dims). */
  shape: number[];
  src: number[];
  dst: number[];
  srcOffset: number;
  dstOffset: number;
}

const copyKernel = defineKernel<CopyParams>({
  name: 'copy',
  label: (p) => `copy:${p.op}`,
  cpu: ([x], [y], p) => {
    const rank = p.shape.length;
    for (let i = 0; i < p.n; i++) {
      let rem = i;
      let si = p.srcOffset;
      let di = p.dstOffset;
      for (let d = rank - 1; d >= 0; d--) {
        const c = rem % p.shape[d];
        rem = Math.floor(rem / p.shape[d]);
        si += c * p.src[d];
        di += c * p.dst[d];
      }
      y[di] = x[si];
    }
  },
  f16: 'alias', // moves raw elements: 32-bit words, or halves for float16
  gpu: {
    shader: 'copy',
    constants: (p) => ({ RANK: p.shape.length }),
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.shape.length],
      ['u32', p.srcOffset],
      ['u32', p.dstOffset],
      ['dims', p.shape],
      ['dims', p.src],
      ['dims', p.dst],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

/**
 * Drops size-1 dims and merges neighbouring dims that are contiguous in both source and destination
 * (outer stride = inner stride × inner size), so a plain copy runs at rank 1 and views of more than
 * 8 dims often still fit the kernel.
 */
function coalesce(shape: Shape, src: Shape, dst: Shape): { shape: number[]; src: number[]; dst: number[] } {
  const s: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = s.length - 1;
    if (last >= 0 && a[last] === src[d] * shape[d] && b[last] === dst[d] * shape[d]) {
      s[last] *= shape[d];
      a[last] = src[d];
      b[last] = dst[d];
    } else {
      s.push(shape[d]);
      a.push(src[d]);
      b.push(dst[d]);
    }
  }
  return { shape: s, src: a, dst: b };
}

/** The smallest and largest element index a strided walk over `shape` touches (shape non-empty in elements). */
const indexRange = (shape: Shape, strides: Shape, offset: number): [number, number] =>
  shape.reduce<[number, number]>(
    ([lo, hi], d, i) => [lo + (d - 1) * Math.min(strides[i], 0), hi + (d - 1) * Math.max(strides[i], 0)],
    [offset, offset],
  );

/** Which elements of a storage a strided copy reads or writes. */
export interface StridedView {
  shape: readonly number[];
  /** Element strides (0 repeats an element: broadcast; negative walks backwards: flip). */
  strides: readonly number[];
  /** Element offset of index (0, ..., 0). Default 0. */
  offset?: number;
}

/**
 * Raw strided copy (not recorded on the tape): reads `x`'s storage as the view `src` and writes a
 * new contiguous tensor of shape `src.shape`, or, with `into`, writes into a region of an existing
 * tensor (its strides and offset, walked over the same `src.shape`). `into.tensor` is modified in
 * place: pass only a tensor you just created and no one else reads. Returns the written tensor.
 * Both views are bounds-checked against their storages.
 */
export function stridedCopy(
  x: Tensor,
  src: StridedView,
  into?: { tensor: Tensor; strides: readonly number[]; offset?: number },
  op = 'stridedCopy',
): Tensor {
  const shape = [...src.shape];
  const n = numel(shape);
  const srcOffset = src.offset ?? 0;
  const dst = into ? [...into.strides] : stridesOf(shape);
  const dstOffset = into?.offset ?? 0;
  if (src.strides.length !== shape.length || dst.length !== shape.length) {
    fail(op, `strides [${src.strides.join(', ')}] / [${dst.join(', ')}] do not match the copy shape ${fmtShape(shape)}`);
  }
  if (n > 0) {
    const check = (what: string, t: Tensor, strides: Shape, offset: number) => {
      const [first, last] = indexRange(shape, strides, offset);
      if (first < 0 || last >= t.size) {
        fail(
          op,
          `the ${what} view (shape ${fmtShape(shape)}, strides [${strides.join(', ')}], offset ${offset}) reaches element ${first < 0 ? first : last} of ${t.describe()} (${t.size} elements)`,
        );
      }
    };
    check('source', x, src.strides, srcOffset);
    if (into) check('destination', into.tensor, dst, dstOffset);
  }
  const c = coalesce(shape, src.strides, dst);
  if (c.shape.length > MAX_DIMS)
    fail(op, `the copy of ${fmtShape(shape)} needs ${c.shape.length} dims after merging contiguous ones; the kernel supports ${MAX_DIMS}`);
  const params: CopyParams = { op, n, ...c, srcOffset, dstOffset };
  if (!into) return run1(op, copyKernel, [x], { shape, dtype: x.dtype }, params);
  const b = backendOf(op, [x, into.tensor]);
  if (into.tensor.dtype !== x.dtype) fail(op, `cannot copy ${x.describe()} into ${into.tensor.describe()}: dtypes differ`);
  if (into.tensor.storage === x.storage) fail(op, `cannot copy ${x.describe()} into a tensor sharing its storage`);
  if (n > 0) b.run({ kernel: copyKernel, inputs: [x.storage], outputs: [into.tensor.storage], params, shapes: [x.shape] });
  return into.tensor;
}

/** The opt-in NaN/Inf check for results written by several dispatches (run1 does it for the rest). */
export function done(op: string, t: Tensor): Tensor {
  if (checkFiniteEnabled()) afterOp(op, t);
  return t;
}

/** Frees intermediates of a composite op that are not on the tape (those on it, the graph needs). */
export function release(...ts: Tensor[]): void {
  for (const t of ts) if (!t.requiresGrad) t.dispose();
}

export function checkTensor(op: string, t: unknown, what = 'the input'): asserts t is Tensor {
  if (!(t instanceof Tensor)) fail(op, `${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
}

export function checkDims(op: string, x: Tensor): void {
  if (x.ndim > MAX_DIMS) fail(op, `${x.describe()} has ${x.ndim} dims; at most ${MAX_DIMS} are supported`);
}

function checkOutDims(op: string, shape: Shape): void {
  if (shape.length > MAX_DIMS) fail(op, `the result ${fmtShape(shape)} has ${shape.length} dims; at most ${MAX_DIMS} are supported`);
}

// ---- reshape: a view ---------------------------------------------------------------------------------

/** The target shape of a reshape, with one -1 inferred. */
function inferShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) fail(op, `shape must be an array of integers, got ${String(shape)}`);
  const known = shape.filter((d) => d !== -1);
  if (shape.some((d) => !Number.isInteger(d) || d < -1))
    fail(op, `shape ${fmtShape(shape)} must hold non-negative integers (and at most one -1)`);
  if (shape.length - known.length > 1) fail(op, `shape ${fmtShape(shape)} has more than one -1`);
  const out = [...shape];
  const k = numel(known);
  if (known.length < shape.length) {
    if (k === 0 || x.size % k !== 0)
      fail(op, `cannot reshape ${x.describe()} (${x.size} elements) to ${fmtShape(shape)}: the -1 cannot be inferred`);
    out[shape.indexOf(-1)] = x.size / k;
  } else if (k !== x.size) {
    fail(op, `cannot reshape ${x.describe()} (${x.size} elements) to ${fmtShape(shape)} (${k} elements)`);
  }
  return out;
}

/**
 * The same elements in a new shape (row-major order kept); one dim may be -1 (inferred). A VIEW: no
 * copy and no dispatch; the result shares x's storage (refcounted, so disposing either one leaves
 * the other's data intact).
 */
// y = x laid out as `shape`                  -> dx = g laid out as x.shape
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', x);
  const s = inferShape('reshape', x, shape);
  const y = new Tensor(x.storage, s, x.dtype);
  const xShape = x.shape;
  return record(y, 'reshape', [x], (g) => [reshape(g, xShape)]);
}

// ---- permute, transpose --------------------------------------------------------------------------------

function permuteAs(op: string, x: Tensor, perm: readonly number[]): Tensor {
  checkDims(op, x);
  const xs = stridesOf(x.shape);
  const y = stridedCopy(x, { shape: perm.map((d) => x.shape[d]), strides: perm.map((d) => xs[d]) }, undefined, op);
  const inv: number[] = [];
  perm.forEach((d, i) => (inv[d] = i));
  return record(y, op, [x], (g) => [permuteAs(op, g, inv)]);
}

/**
 * Reorders the dims: y.shape[i] = x.shape[perm[i]] (negative entries count from the end). Copies.
 */
// y[i_0..] = x[i_inv...]                     -> dx = permute(g, inverse(perm))
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  checkTensor('permute', x);
  if (!Array.isArray(perm) || perm.length !== x.ndim) {
    fail(
      'permute',
      `perm ${Array.isArray(perm) ? `[${perm.join(', ')}]` : String(perm)} must list each of the ${x.ndim} dims of ${x.describe()} once`,
    );
  }
  const p = perm.map((d) => normAxis('permute', d, x.ndim));
  if (new Set(p).size !== p.length)
    fail('permute', `perm [${perm.join(', ')}] repeats a dim; it must be a permutation of 0..${x.ndim - 1} for ${x.describe()}`);
  return permuteAs('permute', x, p);
}

/** Swaps dims d0 and d1 (default: the last two). Copies. */
// y = x with dims d0, d1 swapped             -> dx = g with d0, d1 swapped
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  checkTensor('transpose', x);
  if (x.ndim === 0) fail('transpose', `${x.describe()} has no dims to swap`);
  if (x.ndim < 2 && (d0 === -2 || d1 === -2)) fail('transpose', `${x.describe()} has fewer than 2 dims; pass the dims to swap explicitly`);
  const a = normAxis('transpose', d0, x.ndim);
  const b = normAxis('transpose', d1, x.ndim);
  const p = [...Array(x.ndim).keys()];
  [p[a], p[b]] = [p[b], p[a]];
  return permuteAs('transpose', x, p);
}

// ---- expand ------------------------------------------------------------------------------------------

/**
 * Broadcasts x to `shape` (NumPy rules, aligned from the right; -1 keeps x's size; new leading dims
 * allowed), like torch.expand but materialised (the copy reads broadcast dims with stride 0).
 */
// y = x repeated along the broadcast dims    -> dx = g summed over them (sumTo)
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'expand';
  checkTensor(op, x);
  if (!Array.isArray(shape) || shape.length < x.ndim) {
    fail(
      op,
      `cannot expand ${x.describe()} to ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}: the target needs at least ${x.ndim} dims`,
    );
  }
  const off = shape.length - x.ndim;
  const out = shape.map((t, i) => {
    const d = i < off ? undefined : x.shape[i - off];
    if (t === -1 && d !== undefined) return d;
    if (!Number.isInteger(t) || t < 0)
      fail(
        op,
        `cannot expand ${x.describe()} to ${fmtShape(shape)}: dim ${i} must be a non-negative integer${d !== undefined ? ' or -1' : ' (-1 only for existing dims)'}`,
      );
    if (d !== undefined && d !== t && d !== 1)
      fail(op, `cannot expand ${x.describe()} to ${fmtShape(shape)}: dim ${i} is ${d} (must match the target ${t} or be 1)`);
    return t;
  });
  checkOutDims(op, out);
  const y = stridedCopy(x, { shape: out, strides: broadcastStrides(x.shape, out) }, undefined, op);
  const xShape = x.shape;
  return record(y, op, [x], (g) => [sameShape(g.shape, xShape) ? g : sumTo(g, xShape)]);
}

// ---- slice -----------------------------------------------------------------------------------------

/** Python slice bounds: negative values count from the end, then both are clamped to [0, size]. */
function sliceBounds(size: number, start: number, end: number): [number, number] {
  const norm = (v: number) => (v < 0 ? Math.max(0, v + size) : Math.min(v, size));
  const s = norm(start);
  return [s, Math.max(s, norm(end))];
}

/**
 * Elements start, start + step, ... before end along `axis` (end defaults to the axis' size, step to
 * 1; torch allows only positive steps). Like Python slicing: negative start/end count from the end,
 * out-of-range bounds are clamped to [0, size], and end <= start gives an empty axis. Copies.
 */
// y = x[.., start:end:step, ..]              -> dx = zeros(x.shape) with g written at start, start + step, ...
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const op = 'slice';
  checkTensor(op, x);
  if (x.ndim === 0) fail(op, `cannot slice ${x.describe()}: it has no axes`);
  checkDims(op, x);
  const ax = normAxis(op, axis, x.ndim);
  const size = x.shape[ax];
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end)))
    fail(op, `start and end must be integers, got ${start} and ${end}`);
  if (!Number.isInteger(step) || step < 1) fail(op, `step must be a positive integer (as torch), got ${step}`);
  const [s, e] = sliceBounds(size, start, end ?? size);
  const xs = stridesOf(x.shape);
  const region = xs.map((v, i) => (i === ax ? v * step : v)); // x's strides seen from y's coordinates
  const shape = x.shape.map((d, i) => (i === ax ? Math.ceil((e - s) / step) : d));
  const y = stridedCopy(x, { shape, strides: region, offset: s * xs[ax] }, undefined, op);
  const xShape = x.shape;
  return record(y, op, [x], (g) => {
    const dx = zeros(xShape, { backend: g.backend.name, dtype: g.dtype });
    return [
      done(
        'slice.backward',
        stridedCopy(
          g,
          { shape: g.shape, strides: stridesOf(g.shape) },
          { tensor: dx, strides: region, offset: s * xs[ax] },
          'slice.backward',
        ),
      ),
    ];
  });
}

// ---- concat, stack --------------------------------------------------------------------------------------

function checkList(op: string, tensors: readonly Tensor[]): void {
  if (!Array.isArray(tensors) || tensors.length === 0) fail(op, 'expects a non-empty array of tensors');
  tensors.forEach((t, i) => checkTensor(op, t, `tensors[${i}]`));
  const t0 = tensors[0];
  for (const t of tensors) if (t.dtype !== t0.dtype) fail(op, `tensors have different dtypes: ${t0.describe()} and ${t.describe()}`);
}

/**
 * Joins tensors along an existing axis; the other dims must match. One strided copy per input into
 * its region of the output.
 */
// y = [x_0; x_1; ...] along axis              -> dx_i = g[.., start_i:end_i, ..]
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const op = 'concat';
  checkList(op, tensors);
  const r = tensors[0].ndim;
  if (r === 0) fail(op, `cannot concatenate 0-dim tensors (${tensors[0].describe()}); use stack`);
  const ax = normAxis(op, axis, r);
  const shapes = tensors.map((t) => t.shape);
  for (const t of tensors) {
    if (t.ndim !== r || t.shape.some((d, i) => i !== ax && d !== tensors[0].shape[i])) {
      fail(op, `shapes ${shapes.map(fmtShape).join(', ')} differ outside axis ${ax}`);
    }
  }
  checkDims(op, tensors[0]);
  const b = backendOf(op, tensors);
  const starts: number[] = [];
  let total = 0;
  for (const t of tensors) {
    starts.push(total);
    total += t.shape[ax];
  }
  const shape = tensors[0].shape.map((d, i) => (i === ax ? total : d));
  const dtype = tensors[0].dtype;
  const out = new Tensor(b.alloc(numel(shape), dtype), shape, dtype);
  const os = stridesOf(shape);
  tensors.forEach((t, i) =>
    stridedCopy(t, { shape: t.shape, strides: stridesOf(t.shape) }, { tensor: out, strides: os, offset: starts[i] * os[ax] }, op),
  );
  done(op, out);
  const list = [...tensors];
  return record(out, op, list, (g) => list.map((t, i) => (t.requiresGrad ? slice(g, ax, starts[i], starts[i] + t.shape[ax]) : null)));
}

/** Joins same-shaped tensors along a new axis (axis in -(rank+1)..rank). One strided copy per input. */
// y[.., i, ..] = x_i                            -> dx_i = g[.., i, ..]
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const op = 'stack';
  checkList(op, tensors);
  const s0 = tensors[0].shape;
  for (const t of tensors)
    if (!sameShape(t.shape, s0)) fail(op, `all tensors must have one shape, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
  const ax = normAxis(op, axis, s0.length + 1);
  const shape = [...s0.slice(0, ax), tensors.length, ...s0.slice(ax)];
  checkOutDims(op, shape);
  const b = backendOf(op, tensors);
  const dtype = tensors[0].dtype;
  const out = new Tensor(b.alloc(numel(shape), dtype), shape, dtype);
  const os = stridesOf(shape);
  const region = os.filter((_, i) => i !== ax); // out's strides seen from one input
  tensors.forEach((t, i) =>
    stridedCopy(t, { shape: s0, strides: stridesOf(s0) }, { tensor: out, strides: region, offset: i * os[ax] }, op),
  );
  done(op, out);
  const list = [...tensors];
  return record(out, op, list, (g) =>
    list.map((t, i) =>
      t.requiresGrad ? stridedCopy(g, { shape: s0, strides: region, offset: i * os[ax] }, undefined, 'stack.backward') : null,
    ),
  );
}

/** Kernels, for tests and benchmarks. */
export const kernels = { copy: copyKernel };
