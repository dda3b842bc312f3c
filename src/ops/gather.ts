// Indexing along one axis: gather and indexSelect (kernels/gather.wgsl), and their backward, a
// deterministic scatter-add. Out-of-range indices raise the same error on both backends: the cpu
// backend checks before the kernel runs; on the GPU the kernels record the first bad index in the
// device's error buffer and the backend throws at the next readback (KernelDef.indexError).
import { record } from '../autograd.js';
import type { CpuBackend } from '../backend/cpu/cpu.js';
import { defineKernel, type BadIndex, type UniformField } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape, MoragradError } from '../errors.js';
import { normAxis, numel, sameShape, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, run1 } from './apply.js';
import { zeros } from './creation.js';
import { grid1d } from './grid.js';
import { checkDims, checkTensor, done } from './shape.js';

// ---- gather, indexSelect ------------------------------------------------------------------------------

/** What an index error names: the op, the index tensor's shape, the indexed axis and the indexed shape. */
interface IndexContext {
  op: string;
  axis: number;
  /** The shape indexed along `axis` (x for gather / indexSelect, the result for scatterAdd). */
  xShape: readonly number[];
  indexShape: readonly number[];
}

function indexError(c: IndexContext, bad: BadIndex): MoragradError {
  const size = c.xShape[c.axis];
  return new MoragradError(
    c.op,
    `index value ${bad.value} at flat position ${bad.pos} of index ${fmtShape(c.indexShape)} is out of range for axis ${c.axis} of size ${size} (x ${fmtShape(c.xShape)}; expected 0..${size - 1})`,
  );
}

interface GatherParams extends IndexContext {
  n: number;
  axis: number;
  /** x.shape[axis]. */
  size: number;
  out: number[];
  xs: number[];
  /** Index strides over the output coordinates. */
  is: number[];
}

const gatherKernel = defineKernel<GatherParams>({
  name: 'gather',
  label: (p) => p.op,
  cpu: ([x, index], [y], p) => {
    const rank = p.out.length;
    for (let i = 0; i < p.n; i++) {
      let rem = i;
      let xo = 0;
      let io = 0;
      for (let d = rank - 1; d >= 0; d--) {
        const c = rem % p.out[d];
        rem = Math.floor(rem / p.out[d]);
        io += c * p.is[d];
        if (d !== p.axis) xo += c * p.xs[d];
      }
      const k = index[io];
      if (k < 0 || k >= p.size) throw indexError(p, { value: k, pos: io });
      y[i] = x[xo + k * p.xs[p.axis]];
    }
  },
  f16: 'alias', // moves raw elements: 32-bit words, or halves for float16
  gpu: {
    shader: 'gather',
    entry: 'gather',
    constants: (p) => ({ RANK: p.out.length }),
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.out.length],
      ['u32', p.axis],
      ['u32', p.size],
      ['dims', p.out],
      ['dims', p.xs],
      ['dims', p.is],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
  indexError,
});

/** The first out-of-range value in `data` (valid: 0..size-1), or null. */
export function firstBad(data: ArrayLike<number>, size: number): BadIndex | null {
  for (let i = 0; i < data.length; i++) if (data[i] < 0 || data[i] >= size) return { pos: i, value: data[i] };
  return null;
}

/** On the cpu backend, indices are checked before anything is allocated (the GPU checks in the kernel). */
function checkIndexSync(c: IndexContext, index: Tensor): void {
  if (index.backend.name !== 'cpu') return;
  const bad = firstBad((index.backend as CpuBackend).readSync(index.storage), c.xShape[c.axis]);
  if (bad) throw indexError(c, bad);
}

/**
 * Validates indices for gather/indexSelect along `axis` of x now (any backend; reads the index
 * back). The ops check anyway (the GPU at the next readback); this names the problem before any work.
 */
export async function checkIndex(x: Tensor, axis: number, index: Tensor, op = 'checkIndex'): Promise<void> {
  checkTensor(op, x);
  checkTensor(op, index, 'index');
  const ax = normAxis(op, axis, x.ndim);
  const bad = firstBad(await index.data(), x.shape[ax]);
  if (bad) throw indexError({ op, axis: ax, xShape: x.shape, indexShape: index.shape }, bad);
}

function checkIndexTensor(op: string, x: Tensor, index: Tensor): void {
  checkTensor(op, x);
  checkTensor(op, index, 'index');
  if (index.dtype !== 'int32') fail(op, `index must be an int32 tensor, got ${index.describe()}; convert with .cast('int32')`);
  if (x.ndim === 0) fail(op, `${x.describe()} has no axes to index`);
  checkDims(op, x);
  backendOf(op, [x, index]);
}

/**
 * torch.gather: y[i][j][k] = x[index[i][j][k]][j][k] for axis 0 (likewise for other axes). index is
 * int32 with x's rank and index.shape[d] <= x.shape[d] for d != axis; y has index's shape.
 * Out-of-range indices throw (on webgpu at the next readback; see `checkIndex`).
 */
// y_c = x_(c with c_axis = index_c)            -> dx = scatter-add of g at the same positions
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const op = 'gather';
  checkIndexTensor(op, x, index);
  const ax = normAxis(op, axis, x.ndim);
  if (index.ndim !== x.ndim || index.shape.some((d, i) => i !== ax && d > x.shape[i])) {
    fail(op, `index ${fmtShape(index.shape)} must have the rank of x ${fmtShape(x.shape)} and no larger size outside axis ${ax}`);
  }
  const ctx: IndexContext = { op, axis: ax, xShape: x.shape, indexShape: index.shape };
  checkIndexSync(ctx, index);
  const out = [...index.shape];
  const y = run1(
    op,
    gatherKernel,
    [x, index],
    { shape: out, dtype: x.dtype },
    { ...ctx, n: numel(out), size: x.shape[ax], out, xs: stridesOf(x.shape), is: stridesOf(out) },
  );
  const xShape = x.shape;
  return record(y, op, [x], (g) => [scatterAdd(g, ax, index, xShape)], [index]);
}

/**
 * Picks entries along `axis` (the embedding lookup for axis 0): index is 1-D int32, and y has x's
 * shape with shape[axis] = index length; y[.., j, ..] = x[.., index[j], ..].
 * Out-of-range indices throw (on webgpu at the next readback; see `checkIndex`).
 */
// y_(.., j, ..) = x_(.., index_j, ..)          -> dx_(.., k, ..) = Σ_{j: index_j = k} g_(.., j, ..)
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const op = 'indexSelect';
  checkIndexTensor(op, x, index);
  const ax = normAxis(op, axis, x.ndim);
  if (index.ndim !== 1) fail(op, `index must be 1-D, got ${index.describe()}`);
  const ctx: IndexContext = { op, axis: ax, xShape: x.shape, indexShape: index.shape };
  checkIndexSync(ctx, index);
  const out = x.shape.map((d, i) => (i === ax ? index.shape[0] : d));
  const is = out.map((_, i) => (i === ax ? 1 : 0));
  const y = run1(
    op,
    gatherKernel,
    [x, index],
    { shape: out, dtype: x.dtype },
    { ...ctx, n: numel(out), size: x.shape[ax], out, xs: stridesOf(x.shape), is },
  );
  const xShape = x.shape;
  return record(y, op, [x], (g) => [scatterAdd(g, ax, index, xShape)], [index]);
}

// ---- scatter-add: the backward of gather and indexSelect ----------------------------------------------

interface LinkParams {
  n: number;
  /** The index viewed as (A, l, b): lines of l positions with stride b. */
  l: number;
  b: number;
}

/** For each index element: the next position on its line holding the same value (-1: none), and whether it is the first. */
const linkKernel = defineKernel<LinkParams>({
  name: 'scatterAdd.link',
  cpu: ([index], [links], p) => {
    for (let i = 0; i < p.n; i++) {
      const j = Math.floor(i / p.b) % p.l;
      const base = i - j * p.b;
      const v = index[i];
      let next = -1;
      for (let t = j + 1; t < p.l; t++) {
        if (index[base + t * p.b] === v) {
          next = t;
          break;
        }
      }
      let head = 1;
      for (let t = 0; t < j; t++) {
        if (index[base + t * p.b] === v) {
          head = 0;
          break;
        }
      }
      links[2 * i] = next;
      links[2 * i + 1] = head;
    }
  },
  gpu: {
    shader: 'gather',
    entry: 'link',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.l],
      ['u32', p.b],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

interface ScatterParams extends IndexContext {
  /** Elements of g (chain) or of dx (naive). */
  n: number;
  /** dx.shape[axis]. */
  size: number;
  /** g.shape[axis]. */
  l: number;
  gdims: number[];
  gs: number[];
  xs: number[];
  is: number[];
  xdims: number[];
}

const scatterUniforms = (p: ScatterParams): UniformField[] => [
  ['u32', p.n],
  ['u32', p.gdims.length],
  ['u32', p.axis],
  ['u32', p.size],
  ['u32', p.l],
  ['dims', p.gdims],
  ['dims', p.gs],
  ['dims', p.xs],
  ['dims', p.is],
  ['dims', p.xdims],
];

/** The head of each chain of equal indices sums g along the chain (ascending position) into dx (zero-filled). */
const scatterKernel = defineKernel<ScatterParams>({
  name: 'scatterAdd',
  cpu: ([g, index, links], [dx], p) => {
    const rank = p.gdims.length;
    const gStep = p.gs[p.axis];
    const iStep = p.is[p.axis];
    for (let i = 0; i < p.n; i++) {
      let rem = i;
      let io = 0;
      let xo = 0;
      let j = 0;
      for (let d = rank - 1; d >= 0; d--) {
        const c = rem % p.gdims[d];
        rem = Math.floor(rem / p.gdims[d]);
        io += c * p.is[d];
        if (d === p.axis) j = c;
        else xo += c * p.xs[d];
      }
      if (links[2 * io + 1] === 0) continue;
      const k = index[io];
      if (k < 0 || k >= p.size) throw indexError(p, { value: k, pos: io });
      let acc = g[i];
      let next = links[2 * io];
      while (next >= 0) {
        const dj = next - j;
        acc += g[i + dj * gStep];
        next = links[2 * (io + dj * iStep)];
      }
      dx[xo + k * p.xs[p.axis]] = acc;
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'gather',
    entry: 'scatter',
    constants: (p) => ({ RANK: p.gdims.length }),
    uniforms: scatterUniforms,
    workgroups: (p) => grid1d(p.n, 256),
  },
  indexError,
});

/** The naive twin: one thread per dx element scans its whole line (O(numel(dx)·l)); same sums, same order. */
const scatterNaiveKernel = defineKernel<ScatterParams>({
  name: 'scatterAdd.naive',
  cpu: ([g, index], [dx], p) => {
    const rank = p.xdims.length;
    for (let i = 0; i < p.n; i++) {
      let rem = i;
      let k = 0;
      let gbase = 0;
      let ibase = 0;
      let inside = true;
      for (let d = rank - 1; d >= 0; d--) {
        const c = rem % p.xdims[d];
        rem = Math.floor(rem / p.xdims[d]);
        if (d === p.axis) k = c;
        else {
          if (c >= p.gdims[d]) inside = false;
          gbase += c * p.gs[d];
          ibase += c * p.is[d];
        }
      }
      let acc = 0;
      if (inside) {
        for (let t = 0; t < p.l; t++) {
          const v = index[ibase + t * p.is[p.axis]];
          if (v < 0 || v >= p.size) throw indexError(p, { value: v, pos: ibase + t * p.is[p.axis] });
          if (v === k) acc += g[gbase + t * p.gs[p.axis]];
        }
      }
      dx[i] = acc;
    }
  },
  f16: 'alias',
  gpu: {
    shader: 'gather',
    entry: 'scatter_naive',
    constants: (p) => ({ RANK: p.gdims.length }),
    uniforms: scatterUniforms,
    workgroups: (p) => grid1d(p.n, 256),
  },
  indexError,
});

/**
 * The adjoint of gather / indexSelect: zeros of `shape` with each element of `src` added at the
 * position its index names along `axis`. Two index layouts:
 *   - index with src's shape (gather):      dx[c with c_axis = index[c]] += src[c]
 *   - 1-D index of length src.shape[axis]   dx[.., index[j], ..] += src[.., j, ..]   (indexSelect)
 * Deterministic (no atomics; see kernels/gather.wgsl): `impl: 'chain'` (default) runs a zero fill, a
 * link pass over the int indices and one summing pass; `'naive'` is its twin (one pass, O(numel(dx)·L)),
 * with the same summation order. Out-of-range indices throw (on webgpu at the next readback).
 * Differentiable in `src`: its gradient picks g back at the same positions (gather / indexSelect).
 * torch's form (x + the scatter, `x.scatterAdd(axis, index, src)`) is mg.scatterAdd (ops/index-add.ts).
 */
// dx_(c with c_axis = k) = Σ_{j: index = k} src_(c with c_axis = j)
//   -> dsrc = gather(g, axis, index) (index with src's shape) or indexSelect(g, axis, index) (1-D index)
export function scatterAdd(
  src: Tensor,
  axis: number,
  index: Tensor,
  shape: readonly number[],
  opts: { impl?: 'chain' | 'naive' } = {},
): Tensor {
  const op = 'scatterAdd';
  checkTensor(op, src, 'src');
  checkIndexTensor(op, src, index);
  if (!isFloat(src.dtype)) fail(op, `src must be float32 or float16, got ${src.describe()}`);
  const ax = normAxis(op, axis, src.ndim);
  const target = [...shape];
  if (target.length !== src.ndim) fail(op, `shape ${fmtShape(target)} must have the rank of src ${fmtShape(src.shape)}`);
  const gatherLike = index.ndim === src.ndim && sameShape(index.shape, src.shape);
  const selectLike = index.ndim === 1 && index.shape[0] === src.shape[ax];
  if (!gatherLike && !selectLike) {
    fail(
      op,
      `index ${fmtShape(index.shape)} must have src's shape ${fmtShape(src.shape)} (gather) or be 1-D of length ${src.shape[ax]} (indexSelect)`,
    );
  }
  if (src.shape.some((d, i) => i !== ax && (gatherLike ? d > target[i] : d !== target[i]))) {
    fail(op, `src ${fmtShape(src.shape)} does not fit shape ${fmtShape(target)} outside axis ${ax}`);
  }
  const ctx: IndexContext = { op, axis: ax, xShape: target, indexShape: index.shape };
  checkIndexSync(ctx, index);
  const is = gatherLike ? stridesOf(src.shape) : src.shape.map((_, i) => (i === ax ? 1 : 0));
  const p: ScatterParams = {
    ...ctx,
    n: src.size,
    size: target[ax],
    l: src.shape[ax],
    gdims: [...src.shape],
    gs: stridesOf(src.shape),
    xs: stridesOf(target),
    is,
    xdims: target,
  };
  const back = (g: Tensor): Tensor[] => [gatherLike ? gather(g, ax, index) : indexSelect(g, ax, index)];
  if (opts.impl === 'naive')
    return record(run1(op, scatterNaiveKernel, [src, index], { shape: target }, { ...p, n: numel(target) }), op, [src], back, [index]);
  const dx = zeros(target, { backend: src.backend.name, dtype: src.dtype });
  record(dx, op, [src], back, [index]);
  if (src.size === 0 || dx.size === 0) return dx;
  const after = gatherLike ? numel(index.shape.slice(ax + 1)) : 1;
  const links = run1(op, linkKernel, [index], { shape: [2 * index.size], dtype: 'int32' }, { n: index.size, l: src.shape[ax], b: after });
  src.backend.run({
    kernel: scatterKernel,
    inputs: [src.storage, index.storage, links.storage],
    outputs: [dx.storage],
    params: p,
    shapes: [src.shape, index.shape],
  });
  links.dispose();
  return done(op, dx);
}

/** Kernels, for tests and benchmarks. */
export const kernels = { gather: gatherKernel, link: linkKernel, scatter: scatterKernel, scatterNaive: scatterNaiveKernel };
