// sort and topk along one axis (kernels/sort.wgsl): each element's position in its sorted line is
// the number of elements before it (a stable rank), so one parallel pass writes the values and their
// indices. O(len²) work per line, in parallel over every element. The gradient flows through the
// values: g goes back to the positions the indices name (a scatter-add; the indices of a line are
// distinct, so nothing is summed).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runKernel } from './apply.js';
import { scatterAdd } from './gather.js';
import { grid1d } from './grid.js';
import { checkDims, checkTensor } from './shape.js';

interface SortParams {
  n: number;
  /** Elements along the axis. */
  len: number;
  /** Product of the dims after the axis. */
  inner: number;
  /** Positions kept (len for sort). */
  k: number;
  descending: boolean;
}

/** a strictly before b: ascending with NaN largest (last), or descending (NaN first). */
function before(a: number, b: number, descending: boolean): boolean {
  if (descending) return !Number.isNaN(b) && (Number.isNaN(a) || a > b);
  return !Number.isNaN(a) && (Number.isNaN(b) || a < b);
}

const sortKernel = defineKernel<SortParams>({
  name: 'sort',
  label: (p) => (p.k < p.len ? 'topk' : 'sort'),
  cpu: ([x], [values, indices], p) => {
    for (let i = 0; i < p.n; i++) {
      const o = Math.floor(i / (p.len * p.inner));
      const j = Math.floor(i / p.inner) % p.len;
      const w = i % p.inner;
      const base = o * p.len * p.inner + w;
      const v = x[i];
      let rank = 0;
      for (let t = 0; t < p.len; t++) {
        const other = x[base + t * p.inner];
        if (before(other, v, p.descending) || (t < j && !before(v, other, p.descending))) rank++;
      }
      if (rank < p.k) {
        const at = (o * p.k + rank) * p.inner + w;
        values[at] = v;
        indices[at] = j;
      }
    }
  },
  gpu: {
    shader: 'sort',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.len],
      ['u32', p.inner],
      ['u32', p.k],
      ['u32', p.descending ? 1 : 0],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

/** Sorted values and the int32 positions along the axis they came from. */
export interface SortResult {
  values: Tensor;
  indices: Tensor;
}

function sortAlong(op: 'sort' | 'topk', x: Tensor, axis: number, k: number | undefined, descending: boolean): SortResult {
  checkTensor(op, x);
  checkDims(op, x);
  if (x.dtype !== 'float32') fail(op, `expects a float32 tensor, got ${x.describe()}; cast it first`);
  if (typeof descending !== 'boolean') fail(op, `the order flag must be a boolean, got ${String(descending)}`);
  const rank0 = x.ndim === 0;
  const shape = rank0 ? [1] : x.shape; // a 0-D tensor sorts as one element, as torch
  const ax = normAxis(op, axis, Math.max(x.ndim, 1));
  const len = shape[ax];
  const keep = k ?? len;
  if (!Number.isInteger(keep) || keep < 0 || keep > len)
    fail(op, `k = ${k} is out of range for axis ${ax} of ${x.describe()} (expected 0..${len})`);
  const out = rank0 ? [] : shape.map((d, i) => (i === ax ? keep : d));
  const p: SortParams = { n: x.size, len, inner: numel(shape.slice(ax + 1)), k: keep, descending };
  const [values, indices] = runKernel(op, sortKernel, [x], [{ shape: out, dtype: 'float32' }, { shape: out, dtype: 'int32' }], p);
  const xShape = x.shape;
  record(values, op, [x], (g) => [rank0 ? g : scatterAdd(g, ax, indices, xShape)], [indices]);
  return { values, indices };
}

export interface SortOptions {
  /** Default -1 (the last axis). */
  axis?: number;
  /** Largest first (NaN first); default false: smallest first (NaN last). */
  descending?: boolean;
}

/**
 * torch.sort(stable=True): the values along `axis` in order and the int32 indices they came from.
 * Equal values keep their order; NaN is the largest value (last ascending, first descending). The
 * gradient flows through `values` to the positions `indices` name.
 */
// values_(.., r, ..) = x_(.., indices_r, ..)     -> dx_(.., indices_r, ..) = g_(.., r, ..)
export function sort(x: Tensor, opts: SortOptions = {}): SortResult {
  return sortAlong('sort', x, opts.axis ?? -1, undefined, opts.descending ?? false);
}

export interface TopkOptions {
  /** Default -1 (the last axis). */
  axis?: number;
  /** The k largest (default true; NaN counts as largest), or the k smallest. */
  largest?: boolean;
}

/**
 * torch.topk(sorted=True): the k largest (or smallest) values along `axis`, in order, and their
 * int32 indices. Ties keep their original order; NaN counts as the largest value. The gradient flows
 * through `values` to the positions `indices` name.
 */
// values_(.., r, ..) = x_(.., indices_r, ..), r < k  -> dx = g at the positions indices name, 0 elsewhere
export function topk(x: Tensor, k: number, opts: TopkOptions = {}): SortResult {
  return sortAlong('topk', x, opts.axis ?? -1, k, opts.largest ?? true);
}

/** Kernels, for tests and benchmarks. */
export const kernels = { sort: sortKernel };
