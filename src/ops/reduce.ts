// Reductions over any set of axes: sum, mean, max, min (values), argmax/argmin (int32 indices), and
// sumTo (the gradient of a broadcast operand). One kernel file, kernels/reduce.wgsl, with two
// strategies picked by shape (`choose` below) and tested against each other:
//   naive  one thread per output looping over its reduced elements (short reductions);
//   group  a workgroup per OPW outputs: its WG / OPW lanes stride over the reduced elements, then a
//          shared-memory tree; long reductions with few outputs are split over several workgroups
//          (pass 1 writes partials, pass 2 reduces them).
// The op first coalesces the shape (size-1 dims dropped, neighbouring kept/reduced dims merged), so
// the kernels see at most 4 kept and 4 reduced dims; nothing is permuted or copied.
// Longer than most op files: the two reduction strategies, their float64 loop and every reduction's
// backward share one layout planner (`plan`), and reading them apart would hide why each is chosen.
import { isGradEnabled, record } from '../autograd.js';
import {
  defineKernel,
  isCpuAdapter,
  withConstants,
  type Backend,
  type HostArray,
  type KernelDef,
  type UniformField,
} from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { normAxes, normAxis, numel, reducedShape, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, run1, runKernel } from './apply.js';
import { grid1d } from './grid.js';

type Axes = number | readonly number[];
type RedOp = 'sum' | 'max' | 'min';
const OP_CODE: Record<RedOp, number> = { sum: 0, max: 1, min: 2 };
/** kernels/reduce.wgsl names the OP codes SUM, MAX, MIN. */
const SHADER = withConstants('reduce', { SUM: OP_CODE.sum, MAX: OP_CODE.max, MIN: OP_CODE.min });

// ---- layout ----------------------------------------------------------------------------------------

/** A contiguous tensor seen as kept and reduced blocks (after coalescing). */
interface Layout {
  /** Kept dims (row-major order = output order) and their strides in x. */
  kSizes: number[];
  kStrides: number[];
  /** Reduced dims (row-major order = reduced index r) and their strides in x. */
  rSizes: number[];
  rStrides: number[];
  /** All coalesced dims of x, each one's stride in the output index (0 if reduced) and in r (0 if kept). */
  sizes: number[];
  ostr: number[];
  rstr: number[];
  nOut: number;
  /** Reduced elements per output. */
  R: number;
  /** The innermost coalesced dim is reduced (reduced elements are contiguous). */
  innerReduced: boolean;
}

function layout(op: string, shape: readonly number[], axes: readonly number[]): Layout {
  const red = new Set(axes);
  const dims: { size: number; red: boolean }[] = [];
  shape.forEach((size, i) => {
    if (size === 1) return; // coordinate always 0: no effect on offsets
    const r = red.has(i);
    const last = dims[dims.length - 1];
    if (last && last.red === r) last.size *= size;
    else dims.push({ size, red: r });
  });
  if (dims.length > 8) {
    fail(
      op,
      `shape ${fmtShape(shape)} reduced over axes [${axes.join(', ')}] needs ${dims.length} alternating kept/reduced blocks; the kernels support 8`,
    );
  }
  const sizes = dims.map((d) => d.size);
  const strides = stridesOf(sizes); // (coalesced dims of x)
  const L: Layout = { kSizes: [], kStrides: [], rSizes: [], rStrides: [], sizes, ostr: [], rstr: [], nOut: 1, R: 1, innerReduced: false };
  dims.forEach((d, i) => {
    if (d.red) {
      L.rSizes.push(d.size);
      L.rStrides.push(strides[i]);
    } else {
      L.kSizes.push(d.size);
      L.kStrides.push(strides[i]);
    }
  });
  const kStr = stridesOf(L.kSizes); // (output index)
  const rStr = stridesOf(L.rSizes); // (reduced index)
  let k = 0;
  let r = 0;
  for (const d of dims) {
    L.ostr.push(d.red ? 0 : kStr[k++]);
    L.rstr.push(d.red ? rStr[r++] : 0);
  }
  L.nOut = numel(L.kSizes);
  L.R = numel(L.rSizes);
  L.innerReduced = dims.length > 0 && dims[dims.length - 1].red;
  return L;
}

/** Offset in x of output o (or, with the reduced sizes and strides, of reduced position r). */
function offsetOf(i: number, sizes: readonly number[], strides: readonly number[]): number {
  let off = 0;
  for (let d = sizes.length - 1; d >= 0; d--) {
    off += (i % sizes[d]) * strides[d];
    i = Math.floor(i / sizes[d]);
  }
  return off;
}

const pad4 = (v: readonly number[]): number[] => [0, 1, 2, 3].map((i) => v[i] ?? 1);

// ---- forward kernel --------------------------------------------------------------------------------

export type ReduceVariant = 'naive' | 'rows' | 'group';

interface ReduceParams {
  op: RedOp;
  /** Also write the arg index (int32 second output). */
  arg: boolean;
  variant: ReduceVariant | 'combine';
  kSizes: number[];
  kStrides: number[];
  rSizes: number[];
  rStrides: number[];
  nOut: number;
  R: number;
  splits: number;
  chunk: number;
  scale: number;
  wg: number;
  opw: number;
}

/** Is (v, i) preferred over the extreme (a, ia) so far (ia < 0: none yet)? NaN first, then lowest index. */
function better(op: RedOp, v: number, i: number, a: number, ia: number): boolean {
  if (ia < 0) return true;
  if (Number.isNaN(a)) return Number.isNaN(v) && i < ia;
  if (Number.isNaN(v)) return true;
  if (op === 'max' ? v > a : v < a) return true;
  return v === a && i < ia;
}

const reduceKernel = defineKernel<ReduceParams>({
  name: 'reduce',
  label: (p) => `reduce:${p.op}${p.arg ? '+arg' : ''}:${p.variant}${p.splits > 1 ? `/${p.splits}` : ''}`,
  cpu: (ins: HostArray[], outs: HostArray[], p) => {
    const [x, xi] = ins;
    const [y, idx] = outs;
    if (p.variant === 'combine') {
      // x, xi: (nOut, R) partial extremes and their indices
      for (let o = 0; o < p.nOut; o++) {
        let a = p.op === 'max' ? -Infinity : Infinity;
        let ia = -1;
        for (let r = 0; r < p.R; r++) {
          const v = x[o * p.R + r];
          const i = xi[o * p.R + r];
          if (i >= 0 && better(p.op, v, i, a, ia)) [a, ia] = [v, i];
        }
        y[o] = a;
        idx[o] = ia;
      }
      return;
    }
    for (let o = 0; o < p.nOut; o++) {
      const base = offsetOf(o, p.kSizes, p.kStrides);
      for (let s = 0; s < p.splits; s++) {
        const end = Math.min((s + 1) * p.chunk, p.R);
        let a = p.op === 'sum' ? 0 : p.op === 'max' ? -Infinity : Infinity;
        let ia = -1;
        for (let r = s * p.chunk; r < end; r++) {
          const v = x[base + offsetOf(r, p.rSizes, p.rStrides)];
          if (p.op === 'sum') a += v;
          else if (better(p.op, v, r, a, ia)) [a, ia] = [v, r];
        }
        y[o * p.splits + s] = p.op === 'sum' ? a * p.scale : a;
        if (p.arg) idx[o * p.splits + s] = ia;
      }
    }
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    constants: (p): Record<string, number> => (p.variant === 'group' ? { OP: OP_CODE[p.op], WG: p.wg, OPW: p.opw } : { OP: OP_CODE[p.op] }),
    uniforms: (p): UniformField[] => [
      ['dims', [...pad4(p.kSizes), ...pad4(p.rSizes)]],
      ['dims', [...pad4(p.kStrides), ...pad4(p.rStrides)]],
      ['u32', p.kSizes.length],
      ['u32', p.rSizes.length],
      ['u32', p.nOut],
      ['u32', p.R],
      ['u32', p.splits],
      ['u32', p.chunk],
      ['f32', p.scale],
      ['u32', 0], // zero (see acc_add)
    ],
    workgroups: (p) => (p.variant === 'group' ? grid1d(Math.ceil(p.nOut / p.opw) * p.splits, 1) : grid1d(p.nOut * p.splits, 64)),
  },
});

/** One pipeline entry point per (variant, arg); the GPU binding names it, the cpu loop is shared. */
const reduceEntries = new Map<string, KernelDef<ReduceParams>>();
function reduceKernelFor(p: { variant: ReduceParams['variant']; arg: boolean }): KernelDef<ReduceParams> {
  const entry = p.variant === 'combine' ? 'arg_combine' : `${p.arg ? 'arg' : 'reduce'}_${p.variant}`;
  let k = reduceEntries.get(entry);
  if (!k) {
    k = { ...reduceKernel, gpu: { ...reduceKernel.gpu, entry } };
    reduceEntries.set(entry, k);
  }
  return k;
}

// ---- strategy --------------------------------------------------------------------------------------

/** Workgroups a reduction should fill before splitting long reductions (a large GPU holds ~256). */
const TARGET_WORKGROUPS = 256;
/** Below this many elements per thread a split is not worth a second pass. */
const MIN_PER_THREAD = 64;
/** Reductions this short run one thread per output. */
const NAIVE_MAX_R = 32;
/** CPU adapters: outputs from which one thread per output beats a workgroup per output. */
const CPU_THREAD_MIN_OUT = 256;

/** Elements of the shortest split of a `rows` reduction. */
const MIN_ROW_CHUNK = 256;

/** x is (nOut, R) row-major with R % 4 == 0: the `rows` kernel reads each row as vec4s. */
const rowsOk = (L: Layout): boolean =>
  L.kSizes.length <= 1 && L.rSizes.length === 1 && L.rStrides[0] === 1 && L.R % 4 === 0 && (L.kSizes.length === 0 || L.kStrides[0] === L.R);

export interface ReduceStrategy {
  variant: ReduceVariant;
  /** group: threads per workgroup (power of two, 32..256) and outputs per workgroup (divides wg). */
  wg?: number;
  opw?: number;
  /** group: number of splits of each reduction (pass 1 partials). */
  splits?: number;
}

/** `mg.testing.forceKernel('reduce', 'naive' | 'group', { wg, opw, splits })`: the strategy of every reduction. */
const reduceSwitch = defineKernelSwitch<ReduceVariant>('reduce', {
  naive: { about: 'one thread per output' },
  rows: {
    knobs: ['splits'],
    about: 'one thread per contiguous row or split of it, vec4 loads (naive where rows are not contiguous or R % 4 != 0)',
  },
  group: {
    knobs: ['wg', 'opw', 'splits'],
    about: 'wg threads per workgroup over opw outputs, each reduction split in `splits` partials (two passes)',
  },
});

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

interface Chosen {
  variant: ReduceVariant;
  wg: number;
  opw: number;
  splits: number;
  chunk: number;
}

function choose(b: Backend, L: Layout): Chosen {
  const R = L.R;
  const f = reduceSwitch.forced();
  const forced: ReduceStrategy | null = f && { variant: f.variant, ...f.params };
  const single = (variant: ReduceVariant, wg = 64, opw = 1): Chosen => ({ variant, wg, opw, splits: 1, chunk: Math.max(R, 1) });
  // `rows` in about `want` splits of a multiple of 4 elements each
  const rowSplits = (R: number, want: number): Chosen => {
    const chunk = 4 * Math.ceil(Math.max(R, 1) / Math.max(1, want) / 4);
    return { variant: 'rows', wg: 64, opw: 1, chunk, splits: Math.max(1, Math.ceil(R / chunk)) };
  };
  if (forced) {
    if (forced.variant === 'naive') return single('naive');
    if (forced.variant === 'rows') return rowsOk(L) ? rowSplits(R, forced.splits ?? 1) : single('naive');
    const wg = forced.wg ?? 256;
    const opw = forced.opw ?? 1;
    if (![32, 64, 128, 256].includes(wg) || opw < 1 || wg % opw !== 0)
      fail('reduce', `forced group: wg must be 32, 64, 128 or 256 and opw (>= 1) divide it, got wg ${wg}, opw ${opw}`);
    const splits = Math.max(1, Math.min(forced.splits ?? 1, R));
    const chunk = Math.max(1, Math.ceil(R / splits));
    return { variant: 'group', wg, opw, chunk, splits: Math.max(1, Math.ceil(R / chunk)) };
  }
  // The cpu loop is the same float64 reference whatever the strategy: keep it one pass.
  if (b.name === 'cpu' || R <= NAIVE_MAX_R) return single('naive');
  // CPU adapters (lavapipe: a workgroup is one CPU thread, a barrier a coroutine switch, a load at
  // per-lane addresses a loop over the lanes): a thread per output, reading vec4s along contiguous
  // rows, as soon as the outputs fill the worker threads' SIMD lanes (docs/kernels.md).
  // Fewer, long rows split into vec4-aligned chunks over CPU_THREAD_MIN_OUT threads (a second pass
  // reduces the partials), rather than a workgroup per output and its barriers.
  if (isCpuAdapter(b.description) && L.innerReduced) {
    if (L.nOut >= CPU_THREAD_MIN_OUT) return rowsOk(L) ? rowSplits(R, 1) : single('naive');
    if (rowsOk(L) && R >= 2 * MIN_ROW_CHUNK)
      return rowSplits(R, Math.min(Math.ceil(CPU_THREAD_MIN_OUT / L.nOut), Math.floor(R / MIN_ROW_CHUNK)));
  }
  let wg: number;
  let opw: number;
  if (L.innerReduced) {
    // contiguous reduced elements: a workgroup per output, lanes read neighbouring elements
    wg = Math.min(256, Math.max(32, nextPow2(R)));
    opw = 1;
  } else {
    // the innermost dim is kept: neighbouring threads take neighbouring outputs (coalesced reads)
    wg = 256;
    opw = Math.min(64, nextPow2(L.nOut));
  }
  const lanes = wg / opw;
  const groups = Math.ceil(L.nOut / opw);
  let splits = 1;
  if (groups < TARGET_WORKGROUPS && R >= 2 * lanes * MIN_PER_THREAD) {
    splits = Math.max(1, Math.min(Math.floor(TARGET_WORKGROUPS / groups), Math.ceil(R / (lanes * MIN_PER_THREAD))));
  }
  const chunk = Math.ceil(R / splits);
  return { variant: 'group', wg, opw, splits: Math.ceil(R / chunk), chunk };
}

/**
 * Runs a reduction of x laid out as `L` into a tensor of `outShape` (numel nOut), with the arg
 * index too when `arg`. `scale` multiplies sums (mean).
 */
function reduceCore(
  op: string,
  kind: RedOp,
  x: Tensor,
  L: Layout,
  outShape: readonly number[],
  arg: boolean,
  scale: number,
): { y: Tensor; idx: Tensor | null } {
  const b = backendOf(op, [x]);
  const c = choose(b, L);
  const base = { op: kind, arg, kSizes: L.kSizes, kStrides: L.kStrides, rSizes: L.rSizes, rStrides: L.rStrides, nOut: L.nOut, R: L.R };
  const outs = (shape: readonly number[]) => (arg ? [{ shape }, { shape, dtype: 'int32' as const }] : [{ shape }]);
  if (c.splits === 1) {
    const [y, idx] = runKernel(op, reduceKernelFor({ variant: c.variant, arg }), [x], outs(outShape), { ...base, ...c, scale });
    return { y, idx: idx ?? null };
  }
  // pass 1: partials (nOut, splits), unscaled; float16 partials are scaled (a mean's partial sums
  // could pass float16's 65504 where the mean does not), each an f32 sum rounded once to half
  const s1 = x.dtype === 'float16' ? scale : 1;
  const parts = runKernel(op, reduceKernelFor({ variant: c.variant, arg }), [x], outs([L.nOut, c.splits]), { ...base, ...c, scale: s1 });
  // pass 2: reduce the partials along their last axis
  const S = c.splits;
  const p2 = {
    op: kind,
    arg,
    kSizes: [L.nOut],
    kStrides: [S],
    rSizes: [S],
    rStrides: [1],
    nOut: L.nOut,
    R: S,
    splits: 1,
    chunk: S,
    wg: 64,
    opw: 1,
    scale: scale / s1,
  };
  const variant = arg ? ('combine' as const) : ('naive' as const);
  const res = runKernel(op, reduceKernelFor({ variant, arg }), parts, outs(outShape), { ...p2, variant });
  for (const t of parts) t.dispose();
  return { y: res[0], idx: res[1] ?? null };
}

// ---- backward kernels ------------------------------------------------------------------------------

interface ExpandParams {
  arg: boolean;
  sizes: number[];
  ostr: number[];
  rstr: number[];
  n: number;
  scale: number;
}

/** Output index o and reduced index r of element i of x. */
function locate(i: number, p: ExpandParams): [number, number] {
  let o = 0;
  let r = 0;
  for (let d = p.sizes.length - 1; d >= 0; d--) {
    const c = i % p.sizes[d];
    i = Math.floor(i / p.sizes[d]);
    o += c * p.ostr[d];
    r += c * p.rstr[d];
  }
  return [o, r];
}

const expandKernel = defineKernel<ExpandParams>({
  name: 'reduce_backward',
  label: (p) => (p.arg ? 'reduce:expand_arg' : 'reduce:expand'),
  cpu: ([g, idx], [dx], p) => {
    for (let i = 0; i < p.n; i++) {
      const [o, r] = locate(i, p);
      dx[i] = p.arg ? (idx[o] === r ? g[o] : 0) : g[o] * p.scale;
    }
  },
  f16: 'alias',
  gpu: {
    shader: SHADER,
    entry: 'expand',
    uniforms: (p) => [
      ['dims', p.sizes],
      ['dims', p.ostr],
      ['dims', p.rstr],
      ['u32', p.n],
      ['u32', p.sizes.length],
      ['f32', p.scale],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});
const expandArgKernel = defineKernel<ExpandParams>({ ...expandKernel, gpu: { ...expandKernel.gpu, entry: 'expand_arg' } });

/** dx = scale * g broadcast back over the reduced dims of x (one dispatch). */
function expandBack(op: string, g: Tensor, xShape: readonly number[], L: Layout, scale: number): Tensor {
  if (g.size !== L.nOut) fail(op, `backward got a gradient of shape ${fmtShape(g.shape)}, expected ${L.nOut} elements`);
  return run1(
    `${op}.backward`,
    expandKernel,
    [g],
    { shape: xShape },
    { arg: false, sizes: L.sizes, ostr: L.ostr, rstr: L.rstr, n: numel(xShape), scale },
  );
}

/** dx_i = g_o where i is output o's arg index, 0 elsewhere (one dispatch). */
function expandArgBack(op: string, g: Tensor, idx: Tensor, xShape: readonly number[], L: Layout): Tensor {
  if (g.size !== L.nOut) fail(op, `backward got a gradient of shape ${fmtShape(g.shape)}, expected ${L.nOut} elements`);
  return run1(
    `${op}.backward`,
    expandArgKernel,
    [g, idx],
    { shape: xShape },
    { arg: true, sizes: L.sizes, ostr: L.ostr, rstr: L.rstr, n: numel(xShape), scale: 1 },
  );
}

// ---- ops -------------------------------------------------------------------------------------------

function checkFloat(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) fail(op, `expects a float32 or float16 tensor, got ${x.describe()}; convert with .cast('float32')`);
}

function sumOrMean(op: 'sum' | 'mean', x: Tensor, axes: Axes | undefined, keepdim: boolean): Tensor {
  checkFloat(op, x);
  const ax = normAxes(op, axes, x.ndim);
  const L = layout(op, x.shape, ax);
  const scale = op === 'mean' ? 1 / L.R : 1; // mean over zero elements: 0 * Inf = NaN, as torch
  const { y } = reduceCore(op, 'sum', x, L, reducedShape(x.shape, ax, keepdim), false, scale);
  return record(y, op, [x], (g) => [expandBack(op, g, x.shape, L, scale)]);
}

/**
 * Sum over `axes` (all axes when undefined; negative axes count from the end; `[]` reduces nothing
 * and copies, as NumPy). keepdim keeps reduced axes as size 1.
 */
// y_o = Σ_r x_(o,r);  ∂y_o/∂x_(o,r) = 1       -> dx = g broadcast back over the reduced axes
export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return sumOrMean('sum', x, axes, keepdim);
}

/** Mean over `axes` (as sum). Over zero elements: NaN. */
// y_o = (1/R) Σ_r x_(o,r)                      -> dx = g / R broadcast back
export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return sumOrMean('mean', x, axes, keepdim);
}

function extreme(op: 'max' | 'min', x: Tensor, axes: Axes | undefined, keepdim: boolean): Tensor {
  checkFloat(op, x);
  const ax = normAxes(op, axes, x.ndim);
  const L = layout(op, x.shape, ax);
  if (L.R === 0 && L.nOut > 0) fail(op, `cannot reduce ${x.describe()} over axes [${ax.join(', ')}]: they hold zero elements`);
  const needIdx = isGradEnabled() && x.requiresGrad;
  const { y, idx } = reduceCore(op, op, x, L, reducedShape(x.shape, ax, keepdim), needIdx, 1);
  if (!idx) return y;
  return record(y, op, [x], (g) => [expandArgBack(op, g, idx, x.shape, L)], [idx]);
}

/**
 * Largest value over `axes` (as sum). NaN propagates (a group holding NaN gives NaN).
 * Gradient: all of g_o flows to the FIRST position holding the maximum (the index argmax returns,
 * as torch.max(dim)); ties are not split.
 */
// y_o = x_(o, r*) with r* = first argmax_r x_(o,r)   -> dx_(o,r) = g_o if r = r*, else 0
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extreme('max', x, axes, keepdim);
}

/** Smallest value over `axes`; as max (NaN propagates, gradient to the first minimum). */
// y_o = x_(o, r*) with r* = first argmin_r x_(o,r)   -> dx_(o,r) = g_o if r = r*, else 0
export function min(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extreme('min', x, axes, keepdim);
}

function argExtreme(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  checkFloat(op, x);
  const ax = axis === undefined ? normAxes(op, undefined, x.ndim) : [normAxis(op, axis, x.ndim)];
  const L = layout(op, x.shape, ax);
  if (L.R === 0 && L.nOut > 0) fail(op, `cannot reduce ${x.describe()} over axis ${axis}: it has zero elements`);
  const { y, idx } = reduceCore(op, op === 'argmax' ? 'max' : 'min', x, L, reducedShape(x.shape, ax, keepdim), true, 1);
  y.dispose();
  return idx!;
}

/**
 * Index of the largest value along `axis` (int32; the first one on ties, a NaN counts as largest,
 * as torch). Without an axis: the flat index over the whole tensor. Not differentiable.
 */
export function argmax(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtreme('argmax', x, axis, keepdim);
}

/** Index of the smallest value along `axis` (as argmax). */
export function argmin(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtreme('argmin', x, axis, keepdim);
}

/**
 * Sums x down to `shape`, a shape x broadcasts from (NumPy rules): leading extra dims are summed
 * away and dims where `shape` has 1 are summed keeping the 1. The result has exactly `shape` and its
 * own storage (a copy when the shapes already match). The gradient of a broadcast operand.
 */
// y = Σ over the broadcast dims of x          -> dx = g broadcast back to x's shape
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'sumTo';
  checkFloat(op, x);
  if (!Array.isArray(shape) || shape.length > x.ndim) {
    fail(
      op,
      `cannot sum ${x.describe()} to shape ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}: the target must not have more dims than the input`,
    );
  }
  const off = x.ndim - shape.length;
  const axes: number[] = [];
  x.shape.forEach((d, i) => {
    if (i < off) {
      axes.push(i);
      return;
    }
    const t = shape[i - off];
    if (t === d) return;
    if (t === 1) axes.push(i);
    else fail(op, `cannot sum ${x.describe()} to shape ${fmtShape(shape)}: dim ${i} is ${d}, the target's is ${t} (must match or be 1)`);
  });
  const L = layout(op, x.shape, axes);
  const { y } = reduceCore(op, 'sum', x, L, [...shape], false, 1);
  return record(y, op, [x], (g) => [expandBack(op, g, x.shape, L, 1)]);
}
