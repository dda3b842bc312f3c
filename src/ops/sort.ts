// sort and topk along one axis (kernels/sort.wgsl), in a total order (NaN largest, ties by
// position: a stable sort), so both kernels give the same result: `rank` (one pass, each element
// counts the elements before it: O(len) per element) for short lines, and a bitonic network
// (O(P·log²P) per line of P = the power of two >= len, log2(P)(log2(P)+1)/2 passes) for long ones.
// The gradient flows through the values: g goes back to the positions the indices name (a
// scatter-add; the indices of a line are distinct, so nothing is summed).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runInPlace, runKernel } from './apply.js';
import { scatterAdd } from './gather.js';
import { grid1d } from './grid.js';
import { checkDims, checkTensor } from './shape.js';

/** `mg.testing.forceKernel('sort', 'rank' | 'bitonic')`: how every sort and topk runs. */
const sortSwitch = defineKernelSwitch<'rank' | 'bitonic'>('sort', {
  rank: { about: 'one pass, each element counts the elements before it (O(len) per element)' },
  bitonic: { about: 'scratch lines padded to a power of two P, log2(P)(log2(P)+1)/2 compare-exchange passes, then the first k' },
});

/** Lines up to this length sort by rank (one dispatch); longer ones by the bitonic network (docs/performance.md). */
const RANK_MAX_LEN = 32;

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

/** a strictly before b on the value: ascending with NaN largest (last), or descending (NaN first). */
function valueBefore(a: number, b: number, descending: boolean): boolean {
  if (descending) return !Number.isNaN(b) && (Number.isNaN(a) || a > b);
  return !Number.isNaN(a) && (Number.isNaN(b) || a < b);
}

const rankKernel = defineKernel<SortParams>({
  name: 'sort.rank',
  label: (p) => (p.k < p.len ? 'topk:rank' : 'sort:rank'),
  cpu: ([x], [values, indices], p) => {
    for (let i = 0; i < p.n; i++) {
      const o = Math.floor(i / (p.len * p.inner));
      const j = Math.floor(i / p.inner) % p.len;
      const w = i % p.inner;
      const base = o * p.len * p.inner + w;
      const v = x[i];
      let pos = 0;
      for (let t = 0; t < p.len; t++) {
        const other = x[base + t * p.inner];
        if (valueBefore(other, v, p.descending) || (t < j && !valueBefore(v, other, p.descending))) pos++;
      }
      if (pos < p.k) {
        const at = (o * p.k + pos) * p.inner + w;
        values[at] = v;
        indices[at] = j;
      }
    }
  },
  gpu: {
    shader: 'sort',
    entry: 'rank',
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

// ---- the bitonic network: scratch lines of P slots (value, position); positions >= len are padding --

interface BitonicParams {
  /** Scratch slots: lines · P. */
  n: number;
  len: number;
  inner: number;
  /** Slots per line: the power of two >= len. */
  p: number;
}

const initKernel = defineKernel<BitonicParams>({
  name: 'sort.bitonic_init',
  cpu: ([x], [vals, pos], p) => {
    for (let i = 0; i < p.n; i++) {
      const line = Math.floor(i / p.p);
      const t = i % p.p;
      pos[i] = t;
      vals[i] = t < p.len ? x[(Math.floor(line / p.inner) * p.len + t) * p.inner + (line % p.inner)] : 0;
    }
  },
  gpu: {
    shader: 'sort',
    entry: 'bitonic_init',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.len],
      ['u32', p.inner],
      ['u32', p.p],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

interface StepParams extends BitonicParams {
  /** Block size of this merge stage and compare distance of this pass. */
  k: number;
  j: number;
  descending: boolean;
}

const stepKernel = defineKernel<StepParams>({
  name: 'sort.bitonic_step',
  cpu: (_, [vals, pos], p) => {
    // slot a before slot b: padding last, then the value, then the position (a total order)
    const before = (a: number, b: number) => {
      if (pos[a] >= p.len) return false;
      if (pos[b] >= p.len) return true;
      if (valueBefore(vals[a], vals[b], p.descending)) return true;
      if (valueBefore(vals[b], vals[a], p.descending)) return false;
      return pos[a] < pos[b];
    };
    for (let i = 0; i < p.n; i++) {
      const t = i % p.p;
      const partner = t ^ p.j;
      if (partner <= t) continue;
      const b = i - t + partner;
      if ((t & p.k) === 0 ? before(b, i) : before(i, b)) {
        [vals[i], vals[b]] = [vals[b], vals[i]];
        [pos[i], pos[b]] = [pos[b], pos[i]];
      }
    }
  },
  gpu: {
    shader: 'sort',
    entry: 'bitonic_step',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.len],
      ['u32', p.p],
      ['u32', p.k],
      ['u32', p.j],
      ['u32', p.descending ? 1 : 0],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

interface TakeParams {
  /** Output elements. */
  n: number;
  k: number;
  inner: number;
  p: number;
}

const takeKernel = defineKernel<TakeParams>({
  name: 'sort.bitonic_take',
  cpu: ([vals, pos], [values, indices], p) => {
    for (let i = 0; i < p.n; i++) {
      const o = Math.floor(i / (p.k * p.inner));
      const r = Math.floor(i / p.inner) % p.k;
      const w = i % p.inner;
      const slot = (o * p.inner + w) * p.p + r;
      values[i] = vals[slot];
      indices[i] = pos[slot];
    }
  },
  gpu: {
    shader: 'sort',
    entry: 'bitonic_take',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.k],
      ['u32', p.inner],
      ['u32', p.p],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

/** The bitonic network on scratch, then the first k of each line into fresh outputs. */
function bitonic(op: string, x: Tensor, p: SortParams, out: number[]): [Tensor, Tensor] {
  const lines = p.n / p.len;
  const P = 2 ** Math.ceil(Math.log2(p.len));
  const g: BitonicParams = { n: lines * P, len: p.len, inner: p.inner, p: P };
  const [vals, pos] = runKernel(
    op,
    initKernel,
    [x],
    [
      { shape: [g.n], dtype: 'float32' },
      { shape: [g.n], dtype: 'int32' },
    ],
    g,
  );
  for (let k = 2; k <= P; k *= 2) {
    for (let j = k / 2; j >= 1; j /= 2) runInPlace(op, stepKernel, [], [vals, pos], { ...g, k, j, descending: p.descending });
  }
  const res = runKernel(
    op,
    takeKernel,
    [vals, pos],
    [
      { shape: out, dtype: 'float32' },
      { shape: out, dtype: 'int32' },
    ],
    {
      n: numel(out),
      k: p.k,
      inner: p.inner,
      p: P,
    },
  );
  vals.dispose();
  pos.dispose();
  return [res[0], res[1]];
}

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
  const variant = sortSwitch.forced()?.variant ?? (len <= RANK_MAX_LEN ? 'rank' : 'bitonic');
  const [values, indices] =
    variant === 'rank' || x.size === 0 || keep === 0
      ? runKernel(
          op,
          rankKernel,
          [x],
          [
            { shape: out, dtype: 'float32' },
            { shape: out, dtype: 'int32' },
          ],
          p,
        )
      : bitonic(op, x, p, out);
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
export const kernels = { rank: rankKernel, bitonicInit: initKernel, bitonicStep: stepKernel, bitonicTake: takeKernel };
