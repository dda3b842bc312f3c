// Every op on fast-check inputs sprinkled with NaN, ±Inf, ±0 and ±3e38: webgpu against the cpu backend
// (the same NaN and ±Inf positions, the same values elsewhere within tolerance), and the cpu backend
// against torch's documented rules: NaN in, NaN out wherever the output depends on it (a row holding
// NaN or +Inf is a NaN softmax row; comparisons with NaN are false but `ne`; argmax points at the
// first NaN; shape and index ops move values bit for bit). Point values at the special inputs are
// pinned against torch itself in special-values.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import type { MoraType } from '../../src/ops/mora.js';
import { numel } from '../../src/shape.js';
import { setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb } = mg.testing;

interface Input {
  data: number[];
  shape: number[];
  dtype?: 'int32';
  /** Not a tensor: numbers for the op (an axis, a size, options), handed to `run` as they are. */
  param?: true;
  /** A leaf that requires grad (an optimizer's parameter). */
  leaf?: true;
}
/** What torch gives at output o: 'nan', an exact value, or null (not pinned by a rule). */
type Rule = (ins: Input[], out: readonly number[], outShape: readonly number[]) => ('nan' | number | null)[];

interface Spec {
  gen: fc.Arbitrary<Input[]>;
  /** Tensors for the inputs, in order; a param input arrives as its numbers instead. */
  run: (xs: (mg.Tensor & number[])[]) => mg.Tensor;
  rule: Rule;
  /** Checks beyond the rule (on the cpu result). */
  check?: (ins: Input[], out: ArrayLike<number>) => void;
}

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0];
const HUGE = [3e38, -3e38];
/**
 * Float32 values in [-3, 3], one in three special; `huge` adds ±3e38 (kept out of ops that sum, whose
 * float32 overflow depends on the order). Nothing below 1e-30 but ±0: WGSL lets a GPU flush
 * subnormals to zero, and a tiny value scaled into one would turn tiny·Inf = Inf into 0·Inf = NaN.
 */
const normal = (v: number) => (Math.abs(v) < 1e-30 ? 0 * Math.sign(1 / v) : v);
const value = (huge: boolean) =>
  fc.oneof(
    { arbitrary: fc.double({ min: -3, max: 3, noNaN: true }).map((v) => normal(Math.fround(v))), weight: 2 },
    { arbitrary: fc.constantFrom(...SPECIAL, ...(huge ? HUGE : [])), weight: 1 },
  );
const param = (...data: number[]): Input => ({ data, shape: [data.length], param: true });
const dataFor = (shape: readonly number[], huge: boolean) => fc.array(value(huge), { minLength: numel(shape), maxLength: numel(shape) });
const input = (shape: readonly number[], huge = true): fc.Arbitrary<Input> =>
  dataFor(shape, huge).map((data) => ({ data, shape: [...shape] }));
const shapeArb = (minRank = 0, maxRank = 3, maxDim = 6) => arb.shape({ minRank, maxRank, maxDim });

/** Row-major strides. */
const stridesOf = (s: readonly number[]) => s.map((_, i) => numel(s.slice(i + 1)));
/** Flat index in `inShape` (right-aligned, broadcast) of flat output index o. */
function bcast(o: number, outShape: readonly number[], inShape: readonly number[]): number {
  const off = outShape.length - inShape.length;
  const os = stridesOf(outShape);
  const is = stridesOf(inShape);
  let idx = 0;
  for (let d = 0; d < inShape.length; d++) {
    const c = Math.floor(o / os[d + off]) % outShape[d + off];
    idx += (inShape[d] === 1 ? 0 : c) * is[d];
  }
  return idx;
}
/** The flat input indices of the group of output o when reducing `axis` of `shape` (keepdim or not). */
function group(o: number, shape: readonly number[], axis: number): number[] {
  const inner = numel(shape.slice(axis + 1));
  const base = Math.floor(o / inner) * shape[axis] * inner + (o % inner);
  return Array.from({ length: shape[axis] }, (_, l) => base + l * inner);
}
const nanIf = (b: boolean) => (b ? 'nan' : null);
const elementwise: Rule = (ins, _out, outShape) =>
  Array.from({ length: numel(outShape) }, (_, o) => nanIf(ins.some((x) => Number.isNaN(x.data[bcast(o, outShape, x.shape)]))));
const exact =
  (ref: (ins: Input[]) => number[]): Rule =>
  (ins) =>
    ref(ins).map((v) => (Number.isNaN(v) ? 'nan' : v));

// ---- the op table ------------------------------------------------------------------------------------

const unaryGen = shapeArb().chain((s) => input(s).map((x) => [x]));
const UNARY: Record<string, (x: mg.Tensor) => mg.Tensor> = {
  neg: (x) => x.neg(),
  exp: (x) => x.exp(),
  log: (x) => x.log(),
  sqrt: (x) => x.sqrt(),
  rsqrt: (x) => x.rsqrt(),
  abs: (x) => x.abs(),
  relu: (x) => x.relu(),
  gelu: (x) => x.gelu(),
  'gelu(tanh)': (x) => x.gelu('tanh'),
  silu: (x) => x.silu(),
  sigmoid: (x) => x.sigmoid(),
  tanh: (x) => x.tanh(),
  ...Object.fromEntries([-2, -1, -0.5, 0.5, 1.5, 2, 3].map((p) => [`pow(${p})`, (x: mg.Tensor) => x.pow(p)])),
  'add(number)': (x) => x.add(2.5),
  'mul(number)': (x) => x.mul(-3),
  'div(number)': (x) => x.div(0.5),
};
const pairGen = arb.broadcastPair({ maxRank: 3, maxDim: 5 }).chain(([a, b]) => fc.tuple(input(a), input(b)));
const BINARY: Record<string, (a: mg.Tensor, b: mg.Tensor) => mg.Tensor> = {
  add: mg.add,
  sub: mg.sub,
  mul: mg.mul,
  div: mg.div,
  maximum: mg.maximum,
  minimum: mg.minimum,
};
const COMPARE: Record<string, [(a: mg.Tensor, b: mg.Tensor) => mg.Tensor, (x: number, z: number) => boolean]> = {
  lt: [mg.lt, (x, z) => x < z],
  le: [mg.le, (x, z) => x <= z],
  gt: [mg.gt, (x, z) => x > z],
  ge: [mg.ge, (x, z) => x >= z],
  eq: [mg.eq, (x, z) => x === z],
  ne: [mg.ne, (x, z) => x !== z], // IEEE: true with NaN
};

/** A shape of rank >= 1 and one of its axes. */
const axisGen = (huge: boolean) => shapeArb(1, 3).chain((s) => fc.tuple(input(s, huge), fc.integer({ min: 0, max: s.length - 1 })));
const reduceSpec = (
  f: (x: mg.Tensor, axis: number) => mg.Tensor,
  huge: boolean,
  rule: (g: number[], x: Input) => 'nan' | number | null,
): Spec =>
  ({
    gen: axisGen(huge).map(([x, axis]) => [x, param(axis)]),
    run: ([x, a]) => f(x, a[0]),
    rule: ([x, a], _out, outShape) => Array.from({ length: numel(outShape) }, (_, o) => rule(group(o, x.shape, a.data[0]), x)),
  }) satisfies Spec;
const anyNaN = (g: number[], x: Input) => g.some((i) => Number.isNaN(x.data[i]));
/** The first NaN of the group (torch's argmax/argmin), else unpinned. */
const firstNaN = (g: number[], x: Input) => {
  const k = g.findIndex((i) => Number.isNaN(x.data[i]));
  return k >= 0 ? k : null;
};
/** Softmax-like rows: NaN or +Inf anywhere in the row gives a NaN row (torch). */
const rowRule =
  (bad: (v: number) => boolean): Rule =>
  ([x, a]) => {
    const axis = a.data[0];
    const out: ('nan' | null)[] = new Array(x.data.length).fill(null);
    const rows = x.data.length / Math.max(x.shape[axis], 1);
    for (let o = 0; o < rows; o++) {
      const g = group(o, x.shape, axis);
      if (g.some((i) => bad(x.data[i]))) for (const i of g) out[i] = 'nan';
    }
    return out;
  };

const matGen = fc
  .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 }))
  .chain(([m, k, n, b]) => fc.tuple(input([b, m, k], false), input([k, n], false)));

/** Rows of the last dim: [..., C]. */
const rowsGen = (huge: boolean) => shapeArb(1, 3).chain((s) => input(s, huge).map((x) => [x]));
const lastRows: (bad: (v: number) => boolean) => Rule =
  (bad) =>
  ([x]) =>
    rowRule(bad)([x, param(x.shape.length - 1)], [], x.shape);

const attnGen = fc
  .tuple(
    fc.integer({ min: 1, max: 2 }),
    fc.integer({ min: 1, max: 2 }),
    fc.integer({ min: 1, max: 5 }),
    fc.integer({ min: 1, max: 5 }),
    fc.constantFrom(4, 8),
  )
  .chain(([B, H, tq, tk, hs]) => fc.tuple(input([B, H, tq, hs], false), input([B, H, tk, hs], false), input([B, H, tk, hs], false)));
/** NaN in query row i, or in any key of its (b, h), makes output row i NaN. */
const attnRule: Rule = ([q, k]) => {
  const [B, H, tq, hs] = q.shape;
  const tk = k.shape[2];
  const out: ('nan' | null)[] = [];
  for (let bh = 0; bh < B * H; bh++) {
    const keyNaN = k.data.slice(bh * tk * hs, (bh + 1) * tk * hs).some(Number.isNaN);
    for (let i = 0; i < tq; i++) {
      const r = bh * tq + i;
      const bad = keyNaN || q.data.slice(r * hs, (r + 1) * hs).some(Number.isNaN);
      for (let d = 0; d < hs; d++) out.push(nanIf(bad));
    }
  }
  return out;
};

/** q [B, Tq, H, hs], k and v [B, Tk, 1, hs] (one key/value head), an additive mask [Tq, Tk]. */
const attnMaskGen = fc
  .tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
  .chain(([B, H, tq, tk]) =>
    fc.tuple(input([B, tq, H, 4], false), input([B, tk, 1, 4], false), input([B, tk, 1, 4], false), input([tq, tk], false)),
  );
/** NaN in query row (b, i, h), in any key of batch b, or a NaN / +Inf in mask row i makes output row (b, i, h) NaN. */
const attnMaskRule: Rule = ([q, k, , m]) => {
  const [B, tq, H, hs] = q.shape;
  const tk = k.shape[1];
  const out: ('nan' | null)[] = [];
  for (let b = 0; b < B; b++) {
    const keyNaN = k.data.slice(b * tk * hs, (b + 1) * tk * hs).some(Number.isNaN);
    for (let i = 0; i < tq; i++) {
      const maskBad = m.data.slice(i * tk, (i + 1) * tk).some((v) => Number.isNaN(v) || v === Infinity);
      for (let h = 0; h < H; h++) {
        const r = (b * tq + i) * H + h;
        const bad = keyNaN || maskBad || q.data.slice(r * hs, (r + 1) * hs).some(Number.isNaN);
        for (let d = 0; d < hs; d++) out.push(nanIf(bad));
      }
    }
  }
  return out;
};

const moraGen = fc
  .tuple(
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 3, max: 9 }),
    fc.integer({ min: 3, max: 9 }),
    fc.constantFrom<MoraType>(1, 6),
    fc.constantFrom(2, 4),
  )
  .chain(([T, k, d, type, R]) => fc.tuple(input([T, k], false), input([R, R], false), fc.constant(param(k, d, type === 6 ? 6 : 1))));
/** NaN in row t of x reaches row t of the output (some entry of it). */
/**
 * Whether input column i reaches the output. Type 6 with k > d truncates the chunk outputs that start
 * at or beyond d (mora-spec.md's known quirk), so the columns of those chunks (and of the wrap-around
 * pad, position k + i) are dropped; every other type sums every column into some compressed entry.
 */
function moraUses(i: number, k: number, d: number, R: number, type: number): boolean {
  if (type !== 6) return true;
  const pad = (R - (k % R)) % R;
  const used = (pos: number) => Math.floor(pos / R) * R < d;
  return used(i) || (i < pad && used(k + i));
}

function moraCheck(ins: Input[], out: ArrayLike<number>): void {
  const [x, M, p] = ins;
  if (M.data.some((v) => !Number.isFinite(v))) return;
  const [T, k] = x.shape;
  const d = out.length / T;
  const [R, type] = [M.shape[0], p.data[2]];
  for (let t = 0; t < T; t++) {
    const row = Array.from(out).slice(t * d, (t + 1) * d);
    const xin = x.data.slice(t * k, (t + 1) * k);
    if (xin.some((v, i) => Number.isNaN(v) && moraUses(i, k, d, R, type)))
      expect(row.some(Number.isNaN), `mora row ${t} depends on a NaN input`).toBe(true);
    if (xin.every(Number.isFinite)) expect(row.every(Number.isFinite), `mora row ${t} of finite inputs`).toBe(true);
  }
}

const int = (data: number[], shape: number[]): Input => ({ data, shape, dtype: 'int32' });
const idxGen = (n: number, len: number) => fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: len, maxLength: len });

/** One optimizer step on a parameter [n] with gradient [n]; the result is a copy of the updated parameter. */
const optGen = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc.tuple(
    input([n], false).map((p) => ({ ...p, leaf: true as const })),
    input([n], false),
  ),
);
const optStep =
  (make: (p: mg.Tensor) => { step(): void }) =>
  ([p, g]: mg.Tensor[]) => {
    p.grad = mg.clone(g);
    make(p).step();
    return mg.clone(p);
  };
/** torch.optim: a NaN in the parameter or its gradient makes the updated parameter NaN (`inf` too for Adam's m/√v). */
const optRule =
  (bad: (v: number) => boolean): Rule =>
  ([p, g]) =>
    p.data.map((v, i) => nanIf(Number.isNaN(v) || bad(g.data[i])));

// ---- shape, indexing, einsum (ops/view, split, repeat, pad, flip, tri, sort, one-hot, index-add, einsum) --

/** Stable order with NaN largest (torch.sort); 0 on ties keeps positions (Array.prototype.sort is stable). */
const nanLast = (a: number, b: number) => +Number.isNaN(a) - +Number.isNaN(b) || (a < b ? -1 : a > b ? 1 : 0);
/** Per row of the last axis: the positions in sorted order. */
const sortedRows = (x: Input, descending: boolean): number[][] => {
  const n = x.shape[x.shape.length - 1];
  return Array.from({ length: x.data.length / n }, (_, r) =>
    [...Array(n).keys()].sort((i, j) => (descending ? -1 : 1) * nanLast(x.data[r * n + i], x.data[r * n + j])),
  );
};
const rowsOf = (x: Input, f: (row: number[], r: number) => number[]): number[] => {
  const n = x.shape[x.shape.length - 1];
  return Array.from({ length: x.data.length / n }, (_, r) => f(x.data.slice(r * n, (r + 1) * n), r)).flat();
};
const matrixGen = shapeArb(2, 2).chain((s) => input(s).map((x) => [x]));
const triRef = (upper: boolean) =>
  exact(([x]) => {
    const [, n] = x.shape;
    return x.data.map((v, i) => ((upper ? i % n >= Math.floor(i / n) : i % n <= Math.floor(i / n)) ? v : 0));
  });
const rowsGen1 = shapeArb(1, 2).chain((s) => input(s).map((x) => [x]));
/** x [m, n], an index, and a source: the sums of a scatter (NaN where a NaN is added in). */
const scatterGen = (oneD: boolean) =>
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 })).chain(([m, n, j]) =>
    fc.tuple(
      input([m, n], false),
      idxGen(m, oneD ? j : j * n).map((d) => int(d, oneD ? [j] : [j, n])),
      input([j, n], false),
    ),
  );
const scatterRule =
  (oneD: boolean): Rule =>
  ([x, i, src]) => {
    const n = x.shape[1];
    return x.data.map((v, o) => {
      const [r, c] = [Math.floor(o / n), o % n];
      const added = src.data.filter((_, s) => s % n === c && i.data[oneD ? Math.floor(s / n) : s] === r);
      return nanIf(Number.isNaN(v) || added.some(Number.isNaN));
    });
  };

const SHAPE_SPECS: Record<string, Spec> = {
  squeeze: { gen: unaryGen, run: ([x]) => mg.squeeze(x), rule: exact(([x]) => x.data) },
  unsqueeze: { gen: unaryGen, run: ([x]) => x.unsqueeze(0), rule: exact(([x]) => x.data) },
  flatten: { gen: unaryGen, run: ([x]) => x.flatten(), rule: exact(([x]) => x.data) },
  'split (last piece)': {
    gen: shapeArb(1, 3).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => x.split(2, 0).at(-1)!,
    rule: exact(([x]) => x.data.slice((2 * Math.floor((x.shape[0] - 1) / 2) * x.data.length) / x.shape[0])),
  },
  'chunk (first piece)': {
    gen: shapeArb(1, 3).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => mg.chunk(x, 3, 0)[0],
    rule: exact(([x]) => x.data.slice(0, (Math.ceil(x.shape[0] / 3) * x.data.length) / x.shape[0])),
  },
  repeat: { gen: unaryGen, run: ([x]) => x.repeat([2, ...x.shape.map(() => 1)]), rule: exact(([x]) => [...x.data, ...x.data]) },
  pad: {
    gen: shapeArb(1, 1).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => x.pad([1, 2], -1.5),
    rule: exact(([x]) => [-1.5, ...x.data, -1.5, -1.5]),
  },
  'pad (crop)': { gen: rowsGen1, run: ([x]) => x.pad([-1, 0]), rule: exact(([x]) => rowsOf(x, (row) => row.slice(1))) },
  flip: { gen: unaryGen, run: ([x]) => x.flip([...x.shape.keys()]), rule: exact(([x]) => [...x.data].reverse()) },
  roll: { gen: unaryGen, run: ([x]) => x.roll(1), rule: exact(([x]) => [...x.data.slice(-1), ...x.data.slice(0, -1)]) },
  tril: { gen: matrixGen, run: ([x]) => x.tril(), rule: triRef(false) },
  triu: { gen: matrixGen, run: ([x]) => mg.triu(x), rule: triRef(true) },
  'slice (step 2)': {
    gen: rowsGen1,
    run: ([x]) => x.slice(-1, 0, undefined, 2),
    rule: exact(([x]) => rowsOf(x, (row) => row.filter((_, i) => i % 2 === 0))),
  },
  'sort (values)': {
    gen: rowsGen1,
    run: ([x]) => x.sort().values,
    rule: exact(([x]) => rowsOf(x, (row, r) => sortedRows(x, false)[r].map((i) => row[i]))),
  },
  'sort (descending indices)': {
    gen: rowsGen1,
    run: ([x]) => mg.cast(x.sort({ descending: true }).indices, 'float32'),
    rule: exact(([x]) => sortedRows(x, true).flat()),
  },
  'topk (values)': {
    gen: rowsGen1,
    run: ([x]) => x.topk(Math.min(2, x.shape[x.shape.length - 1])).values,
    rule: exact(([x]) =>
      rowsOf(x, (row, r) =>
        sortedRows(x, true)
          [r].slice(0, 2)
          .map((i) => row[i]),
      ),
    ),
  },
  'topk (smallest, indices)': {
    gen: rowsGen1,
    run: ([x]) => mg.cast(mg.topk(x, 1, { largest: false }).indices, 'float32'),
    rule: exact(([x]) => sortedRows(x, false).map((r) => r[0])),
  },
  oneHot: {
    gen: fc.integer({ min: 1, max: 6 }).chain((n) => idxGen(4, n).map((d) => [int(d, [n])])),
    run: ([i]) => i.oneHot(4),
    rule: exact(([i]) => i.data.flatMap((k) => [0, 1, 2, 3].map((c) => +(c === k)))),
  },
  'scatterAdd (torch form)': { gen: scatterGen(false), run: ([x, i, src]) => x.scatterAdd(0, i, src), rule: scatterRule(false) },
  indexAdd: { gen: scatterGen(true), run: ([x, i, src]) => x.indexAdd(0, i, src), rule: scatterRule(true) },
  'einsum (transpose)': {
    gen: matrixGen,
    run: ([x]) => mg.einsum('ij->ji', x),
    rule: exact(([x]) => {
      const [m, n] = x.shape;
      return Array.from({ length: m * n }, (_, o) => x.data[(o % m) * n + Math.floor(o / m)]);
    }),
  },
  'einsum (matmul)': {
    gen: matGen,
    run: ([a, b]) => mg.einsum('bmk,kn->bmn', a, b),
    // a NaN in row i of a or column j of b makes y_ij NaN (as matmul)
    rule: ([a, b], _o, s) => {
      const [, m, k] = a.shape;
      const n = b.shape[1];
      return Array.from({ length: numel(s) }, (_, o) => {
        const [bi, i, j] = [Math.floor(o / (m * n)), Math.floor(o / n) % m, o % n];
        const rowNaN = a.data.slice((bi * m + i) * k, (bi * m + i + 1) * k).some(Number.isNaN);
        return nanIf(rowNaN || Array.from({ length: k }, (_, t) => b.data[t * n + j]).some(Number.isNaN));
      });
    },
  },
};

/** The elementwise ops of issue 15; false: no ±3e38 inputs (sin and cos reduce huge arguments in float32 on webgpu). */
const NEW_UNARY: Record<string, [(x: mg.Tensor) => mg.Tensor, boolean]> = {
  sin: [(x) => x.sin(), false],
  cos: [(x) => x.cos(), false],
  erf: [(x) => x.erf(), true],
  log1p: [(x) => x.log1p(), true],
  expm1: [(x) => x.expm1(), true],
  square: [(x) => x.square(), true],
  floor: [(x) => x.floor(), true],
  round: [(x) => x.round(), true],
  'clamp(-1, 2)': [(x) => x.clamp(-1, 2), true],
  'clamp(min 0)': [(x) => x.clamp(0), true],
  softplus: [(x) => x.softplus(), true],
  'softplus(2, 5)': [(x) => x.softplus(2, 5), true],
  leakyRelu: [(x) => x.leakyRelu(0.1), true],
  elu: [(x) => x.elu(), true],
};

const SPECS: Record<string, Spec> = {
  ...Object.fromEntries(
    Object.entries(UNARY).map(([k, f]) => [k, { gen: unaryGen, run: ([x]: mg.Tensor[]) => f(x), rule: elementwise } satisfies Spec]),
  ),
  'pow(0)': { gen: unaryGen, run: ([x]) => x.pow(0), rule: ([x]) => x.data.map(() => 1) }, // 1 also at NaN (torch)
  ...Object.fromEntries(
    Object.entries(BINARY).map(([k, f]) => [k, { gen: pairGen, run: ([a, b]: mg.Tensor[]) => f(a, b), rule: elementwise } satisfies Spec]),
  ),
  ...Object.fromEntries(
    Object.entries(COMPARE).map(([k, [f, cmp]]) => [
      k,
      {
        gen: pairGen,
        run: ([a, b]: mg.Tensor[]) => f(a, b),
        rule: ([a, b], _o, s) =>
          Array.from({ length: numel(s) }, (_, o) => +cmp(a.data[bcast(o, s, a.shape)], b.data[bcast(o, s, b.shape)])),
      } satisfies Spec,
    ]),
  ),
  where: {
    gen: arb.broadcastPair({ maxRank: 3, maxDim: 4 }).chain(([a, b]) => fc.tuple(input(a), input(b), input(a.length >= b.length ? a : b))),
    run: ([a, b, c]) => mg.where(c, a, b),
    // a nonzero condition (NaN included) takes a, else b; the value moves bit for bit
    rule: ([a, b, c], _o, s) =>
      Array.from({ length: numel(s) }, (_, o) => {
        const v = c.data[bcast(o, s, c.shape)] !== 0 ? a.data[bcast(o, s, a.shape)] : b.data[bcast(o, s, b.shape)];
        return Number.isNaN(v) ? 'nan' : v;
      }),
  },
  sum: reduceSpec(
    (x, a) => mg.sum(x, a),
    false,
    (g, x) => nanIf(anyNaN(g, x)),
  ),
  mean: reduceSpec(
    (x, a) => mg.mean(x, a, true),
    false,
    (g, x) => nanIf(anyNaN(g, x)),
  ),
  max: reduceSpec(
    (x, a) => mg.max(x, a),
    true,
    (g, x) => nanIf(anyNaN(g, x)),
  ),
  min: reduceSpec(
    (x, a) => mg.min(x, a),
    true,
    (g, x) => nanIf(anyNaN(g, x)),
  ),
  argmax: reduceSpec((x, a) => mg.cast(mg.argmax(x, a), 'float32'), true, firstNaN),
  argmin: reduceSpec((x, a) => mg.cast(mg.argmin(x, a), 'float32'), true, firstNaN),
  softmax: {
    gen: axisGen(true).map(([x, a]) => [x, param(a)]),
    run: ([x, a]) => mg.softmax(x, a[0]),
    rule: rowRule((v) => Number.isNaN(v) || v === Infinity),
  },
  logSoftmax: {
    gen: axisGen(true).map(([x, a]) => [x, param(a)]),
    run: ([x, a]) => mg.logSoftmax(x, a[0]),
    rule: rowRule((v) => Number.isNaN(v) || v === Infinity),
  },
  matmul: {
    gen: matGen,
    run: ([a, b]) => mg.matmul(a, b),
    rule: ([a, b], _o, s) => {
      const [, m, k] = a.shape;
      const n = b.shape[1];
      return Array.from({ length: numel(s) }, (_, o) => {
        const [bi, i, j] = [Math.floor(o / (m * n)), Math.floor(o / n) % m, o % n];
        const rowNaN = a.data.slice((bi * m + i) * k, (bi * m + i + 1) * k).some(Number.isNaN);
        return nanIf(rowNaN || Array.from({ length: k }, (_, t) => b.data[t * n + j]).some(Number.isNaN));
      });
    },
  },
  reshape: { gen: unaryGen, run: ([x]) => mg.reshape(x, [x.size]), rule: exact(([x]) => x.data) },
  'dropout (eval)': { gen: unaryGen, run: ([x]) => mg.dropout(x, 0.5, { training: false }), rule: exact(([x]) => x.data) },
  clone: { gen: unaryGen, run: ([x]) => mg.clone(x), rule: exact(([x]) => x.data) },
  // float -> int32: truncation, saturating at the int32 range, NaN -> 0 (undefined in torch)
  'cast (int32)': {
    gen: unaryGen,
    run: ([x]) => mg.cast(mg.cast(x, 'int32'), 'float32'),
    rule: exact(([x]) => x.data.map((v) => (Number.isNaN(v) ? 0 : Math.min(2 ** 31 - 1, Math.max(-(2 ** 31), Math.trunc(v)))))),
  },
  transpose: {
    gen: shapeArb(2, 2).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => mg.transpose(x, 0, 1),
    rule: exact(([x]) => {
      const [m, n] = x.shape;
      return Array.from({ length: m * n }, (_, o) => x.data[(o % m) * n + Math.floor(o / m)]);
    }),
  },
  permute: {
    gen: shapeArb(3, 3).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => mg.permute(x, [2, 0, 1]),
    rule: exact(([x]) => {
      const [a, b, c] = x.shape;
      return Array.from({ length: a * b * c }, (_, o) => {
        const [k, i, j] = [Math.floor(o / (a * b)), Math.floor(o / b) % a, o % b]; // out [c, a, b]
        return x.data[(i * b + j) * c + k];
      });
    }),
  },
  expand: {
    gen: fc
      .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
      .chain(([m, n]) => input([1, n]).map((x) => [x, param(m)])),
    run: ([x, m]) => mg.expand(x, [m[0], x.shape[1]]),
    rule: exact(([x, m]) => Array.from({ length: m.data[0] }, () => x.data).flat()),
  },
  slice: {
    gen: shapeArb(1, 3).chain((s) => fc.tuple(input(s), fc.integer({ min: 0, max: s[0] - 1 })).map(([x, a]) => [x, param(a)])),
    run: ([x, a]) => mg.slice(x, 0, a[0]),
    rule: exact(([x, a]) => x.data.slice((a.data[0] * x.data.length) / x.shape[0])),
  },
  concat: {
    gen: shapeArb(1, 3).chain((s) => fc.tuple(input(s), input(s))),
    run: ([a, b]) => mg.concat([a, b], 0),
    rule: exact(([a, b]) => [...a.data, ...b.data]),
  },
  stack: {
    gen: shapeArb(0, 2).chain((s) => fc.tuple(input(s), input(s))),
    run: ([a, b]) => mg.stack([a, b], 0),
    rule: exact(([a, b]) => [...a.data, ...b.data]),
  },
  indexSelect: {
    gen: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 })).chain(([m, n, j]) =>
      fc.tuple(
        input([m, n]),
        idxGen(m, j).map((d) => int(d, [j])),
      ),
    ),
    run: ([x, i]) => mg.indexSelect(x, 0, i),
    rule: exact(([x, i]) => i.data.flatMap((r) => x.data.slice(r * x.shape[1], (r + 1) * x.shape[1]))),
  },
  gather: {
    gen: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 })).chain(([m, n, j]) =>
      fc.tuple(
        input([m, n]),
        idxGen(n, m * j).map((d) => int(d, [m, j])),
      ),
    ),
    run: ([x, i]) => mg.gather(x, 1, i),
    rule: exact(([x, i]) => i.data.map((c, o) => x.data[Math.floor(o / i.shape[1]) * x.shape[1] + c])),
  },
  scatterAdd: {
    gen: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).chain(([j, n, m]) =>
      fc.tuple(
        input([j, n], false),
        idxGen(m, j).map((d) => int(d, [j])),
        fc.constant(param(m)),
      ),
    ),
    run: ([src, i, m]) => mg.scatterAdd(src, 0, i, [m[0], src.shape[1]]),
    // row r of the result sums the source rows sent to it: a NaN among them makes it NaN
    rule: ([src, i, m]) => {
      const n = src.shape[1];
      const out: ('nan' | null)[] = new Array(m.data[0] * n).fill(null);
      i.data.forEach((r, s) => {
        for (let c = 0; c < n; c++) if (Number.isNaN(src.data[s * n + c])) out[r * n + c] = 'nan';
      });
      return out;
    },
  },
  layerNorm: { gen: rowsGen(false), run: ([x]) => mg.layerNorm(x), rule: lastRows((v) => !Number.isFinite(v)) }, // ±Inf: x - mean is NaN
  rmsNorm: { gen: rowsGen(false), run: ([x]) => mg.rmsNorm(x), rule: lastRows(Number.isNaN) },
  crossEntropy: {
    gen: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 })).chain(([n, C]) =>
      fc.tuple(
        input([n, C], false),
        idxGen(C, n).map((d) => int(d, [n])),
      ),
    ),
    run: ([x, t]) => mg.crossEntropy(x, t, { reduction: 'none' }),
    // a row holding NaN or +Inf has a NaN loss (torch: +Inf - +Inf inside log-softmax)
    rule: ([x]) =>
      Array.from({ length: x.shape[0] }, (_, r) =>
        nanIf(x.data.slice(r * x.shape[1], (r + 1) * x.shape[1]).some((v) => Number.isNaN(v) || v === Infinity)),
      ),
  },
  'crossEntropy (mean)': {
    gen: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 })).chain(([n, C]) =>
      fc.tuple(
        input([n, C], false),
        idxGen(C, n).map((d) => int(d, [n])),
      ),
    ),
    run: ([x, t]) => mg.reshape(mg.crossEntropy(x, t), [1]),
    rule: ([x]) => [nanIf(x.data.some((v) => Number.isNaN(v) || v === Infinity))],
  },
  scaledMaskedSoftmax: {
    gen: shapeArb(2, 3).chain((s) => input(s).map((x) => [x])),
    run: ([x]) => mg.scaledMaskedSoftmax(x, { scale: 0.5 }),
    rule: lastRows((v) => Number.isNaN(v) || v === Infinity), // -Inf scores count as masked (a row of them: zeros)
  },
  'attention (softmax)': { gen: attnGen, run: ([q, k, v]) => mg.attention(q, k, v), rule: attnRule },
  'attention (flash)': { gen: attnGen, run: ([q, k, v]) => mg.attention(q, k, v, { impl: 'flash' }), rule: attnRule },
  'attention (bthd, GQA, additive mask)': {
    gen: attnMaskGen,
    run: ([q, k, v, m]) => mg.attention(q, k, v, { layout: 'bthd', mask: m }),
    rule: attnMaskRule,
  },
  'SGD (momentum, nesterov, weight decay)': {
    gen: optGen,
    run: optStep((p) => new mg.optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })),
    rule: optRule(Number.isNaN),
  },
  AdamW: {
    gen: optGen,
    run: optStep((p) => new mg.optim.AdamW([p], { lr: 0.1, weightDecay: 0.01 })),
    rule: optRule((v) => !Number.isFinite(v)),
  },
  mora: {
    gen: moraGen,
    run: ([x, M, [k, d, type]]) => mg.ops.mora(x, M, { inFeatures: k, outFeatures: d, type: type as MoraType }),
    rule: (_ins, out) => Array.from(out, () => null),
    check: moraCheck,
  },
  // ---- losses and optimizers (ops-loss) ----
  ...Object.fromEntries(
    (
      [
        ['mseLoss', mg.mseLoss],
        ['l1Loss', mg.l1Loss],
        ['smoothL1Loss', mg.smoothL1Loss],
        ['smoothL1Loss (beta 0.5)', (x, y, o) => mg.smoothL1Loss(x, y, { ...o, beta: 0.5 })],
        ['bceWithLogits', mg.bceWithLogits],
      ] as [string, (x: mg.Tensor, y: mg.Tensor, o: { reduction: 'none' }) => mg.Tensor][]
    ).map(([k, f]) => [
      `${k} (none)`,
      {
        gen: shapeArb().chain((s) => fc.tuple(input(s, false), input(s, false))),
        run: ([x, y]: mg.Tensor[]) => f(x, y, { reduction: 'none' }),
        rule: elementwise,
      } satisfies Spec,
    ]),
  ),
  'bceWithLogits (weight, posWeight)': {
    gen: fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }))
      .chain(([n, C]) => fc.tuple(input([n, C], false), input([n, C], false), input([C], false), input([n, C], false))),
    run: ([x, y, pw, w]) => mg.bceWithLogits(x, y, { posWeight: pw, weight: w, reduction: 'none' }),
    rule: elementwise,
  },
  'mseLoss (mean)': {
    gen: shapeArb().chain((s) => fc.tuple(input(s, false), input(s, false))),
    run: ([x, y]) => mg.reshape(mg.mseLoss(x, y), [1]),
    rule: ([x, y]) => [nanIf([...x.data, ...y.data].some(Number.isNaN))],
  },
  nllLoss: {
    gen: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 })).chain(([n, C]) =>
      fc.tuple(
        input([n, C], false),
        idxGen(C, n).map((d) => int(d, [n])),
      ),
    ),
    run: ([x, t]) => mg.nllLoss(x, t, { reduction: 'none' }),
    // the row's loss reads its target's entry only
    rule: ([x, t]) => t.data.map((k, r) => nanIf(Number.isNaN(x.data[r * x.shape[1] + k]))),
  },
  'crossEntropy (weight, labelSmoothing)': {
    gen: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 })).chain(([n, C]) =>
      fc.tuple(
        input([n, C], false),
        idxGen(C, n).map((d) => int(d, [n])),
        fc.array(fc.double({ min: 0.1, max: 2, noNaN: true }), { minLength: C, maxLength: C }).map((d) => ({ data: d, shape: [C] })),
      ),
    ),
    run: ([x, t, w]) => mg.crossEntropy(x, t, { weight: w, labelSmoothing: 0.1, reduction: 'none' }),
    rule: ([x]) =>
      Array.from({ length: x.shape[0] }, (_, r) =>
        nanIf(x.data.slice(r * x.shape[1], (r + 1) * x.shape[1]).some((v) => Number.isNaN(v) || v === Infinity)),
      ),
  },
  'crossEntropy (probabilities)': {
    gen: fc
      .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }))
      .chain(([n, C]) => fc.tuple(input([n, C], false), input([n, C], false))),
    run: ([x, y]) => mg.crossEntropy(x, y, { reduction: 'none' }),
    // NaN or +Inf in the logits' row (log-softmax NaN), or NaN in the target's row
    rule: ([x, y]) =>
      Array.from({ length: x.shape[0] }, (_, r) => {
        const row = (d: number[]) => d.slice(r * x.shape[1], (r + 1) * x.shape[1]);
        return nanIf(row(x.data).some((v) => Number.isNaN(v) || v === Infinity) || row(y.data).some(Number.isNaN));
      }),
  },
  'Adam (amsgrad, weight decay)': {
    gen: optGen,
    run: optStep((p) => new mg.optim.Adam([p], { lr: 0.1, weightDecay: 0.01, amsgrad: true })),
    rule: optRule((v) => !Number.isFinite(v)),
  },
  'RMSprop (centered, momentum, weight decay)': {
    gen: optGen,
    run: optStep((p) => new mg.optim.RMSprop([p], { lr: 0.1, weightDecay: 0.01, momentum: 0.9, centered: true })),
    rule: optRule((v) => !Number.isFinite(v)), // Inf in g: Inf/√Inf = NaN
  },
  RMSprop: {
    gen: optGen,
    run: optStep((p) => new mg.optim.RMSprop([p], { lr: 0.1 })),
    rule: optRule((v) => !Number.isFinite(v)),
  },
  'Adagrad (lrDecay, weight decay)': {
    gen: optGen,
    run: optStep((p) => new mg.optim.Adagrad([p], { lr: 0.1, lrDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1 })),
    rule: optRule((v) => !Number.isFinite(v)),
  },
  clipGradValue: {
    gen: optGen,
    run: ([p, g]) => {
      p.grad = mg.clone(g);
      mg.optim.clipGradValue([p], 0.5);
      return mg.clone(p.grad);
    },
    rule: exact(([, g]) => g.data.map((v) => (Number.isNaN(v) ? NaN : Math.min(0.5, Math.max(-0.5, v))))),
  },
  ...SHAPE_SPECS,
  // ---- elementwise ops and reductions of issue 15 ----
  ...Object.fromEntries(
    Object.entries(NEW_UNARY).map(([k, [f, huge]]) => [
      k,
      { gen: shapeArb().chain((s) => input(s, huge).map((x) => [x])), run: ([x]: mg.Tensor[]) => f(x), rule: elementwise } satisfies Spec,
    ]),
  ),
  sign: { gen: unaryGen, run: ([x]) => x.sign(), rule: exact(([x]) => x.data.map((v) => (v > 0 ? 1 : v < 0 ? -1 : 0))) }, // 0 at NaN (torch)
  'pow(tensor, tensor)': {
    gen: pairGen,
    run: ([a, b]) => mg.pow(a, b),
    // C's pow: x^0 = 1 and 1^z = 1 even for NaN; any other NaN operand gives NaN
    rule: ([a, b], _o, s) =>
      Array.from({ length: numel(s) }, (_, o) => {
        const [x, z] = [a.data[bcast(o, s, a.shape)], b.data[bcast(o, s, b.shape)]];
        return z === 0 || x === 1 ? 1 : nanIf(Number.isNaN(x) || Number.isNaN(z));
      }),
  },
  prod: reduceSpec(
    (x, a) => mg.prod(x, a),
    false,
    (g, x) => nanIf(anyNaN(g, x)),
  ),
  logsumexp: reduceSpec(
    (x, a) => mg.logsumexp(x, a, true),
    true,
    (g, x) => (anyNaN(g, x) ? 'nan' : g.some((i) => x.data[i] === Infinity) ? Infinity : null),
  ),
  // ±Inf in a group: Inf - Inf in the deviations; one element over a divisor of 0: 0/0
  var: reduceSpec(
    (x, a) => mg.var(x, a),
    false,
    (g, x) => nanIf(g.length <= 1 || g.some((i) => !Number.isFinite(x.data[i]))),
  ),
  'std (correction 0)': reduceSpec(
    (x, a) => mg.std(x, a, { correction: 0 }),
    false,
    (g, x) => (g.some((i) => !Number.isFinite(x.data[i])) ? 'nan' : g.length === 1 ? 0 : null),
  ),
  ...Object.fromEntries(
    [1, 2, 3, Infinity].map((p) => [
      `norm(${p})`,
      reduceSpec(
        (x, a) => mg.norm(x, p, a),
        true,
        (g, x) => (anyNaN(g, x) ? 'nan' : g.some((i) => Math.abs(x.data[i]) === Infinity) ? Infinity : null),
      ),
    ]),
  ),
  all: reduceSpec(
    (x, a) => mg.all(x, a),
    true,
    (g, x) => +g.every((i) => x.data[i] !== 0), // NaN counts as nonzero (torch's bool)
  ),
  any: reduceSpec(
    (x, a) => mg.any(x, a),
    true,
    (g, x) => +g.some((i) => x.data[i] !== 0),
  ),
  cumsum: {
    gen: axisGen(false).map(([x, a]) => [x, param(a)]),
    run: ([x, a]) => mg.cumsum(x, a[0]),
    // a NaN reaches every later position of its line
    rule: ([x, a]) => {
      const axis = a.data[0];
      const inner = numel(x.shape.slice(axis + 1));
      return x.data.map((_, i) => {
        const k = Math.floor(i / inner) % x.shape[axis];
        return nanIf(Array.from({ length: k + 1 }, (_, j) => x.data[i - j * inner]).some(Number.isNaN));
      });
    },
  },
};

// ---- the check ---------------------------------------------------------------------------------------

/** Runs `spec` on one backend. */
async function runOn(spec: Spec, ins: Input[], backend: 'cpu' | 'webgpu'): Promise<{ y: ArrayLike<number>; shape: number[] }> {
  const xs = ins.map((i) => (i.param ? i.data : mg.tensor(i.data, i.shape, { backend, dtype: i.dtype, requiresGrad: i.leaf })));
  const tensors = xs.filter((t): t is mg.Tensor => t instanceof mg.Tensor);
  try {
    const y = spec.run(xs as (mg.Tensor & number[])[]);
    const d = await y.data();
    const shape = [...y.shape];
    y.dispose();
    return { y: d, shape };
  } finally {
    for (const t of tensors) t.dispose();
  }
}

const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : 'finite');

describe('every op at NaN, ±Inf, ±0 and ±3e38: webgpu = cpu, cpu = torch rules', () => {
  for (const [name, spec] of Object.entries(SPECS)) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(spec.gen, async (ins) => {
          const cpu = await runOn(spec, ins, 'cpu');
          const gpu = await runOn(spec, ins, 'webgpu');
          expect(gpu.shape).toEqual(cpu.shape);
          // cpu against torch's rules
          const want = spec.rule(ins, cpu.y as unknown as number[], cpu.shape);
          want.forEach((w, o) => {
            if (w === 'nan') expect(Number.isNaN(cpu.y[o]), `${name}: cpu output ${o} depends on a NaN input (got ${cpu.y[o]})`).toBe(true);
            else if (w !== null)
              expect(Object.is(cpu.y[o] + 0, w + 0), `${name}: cpu output ${o} is ${cpu.y[o]}, torch gives ${w}`).toBe(true);
          });
          spec.check?.(ins, cpu.y);
          // webgpu against cpu: the same special positions, finite values close (cpu rounded to float32)
          const [rtol, atol] = [2e-4, 2e-4];
          for (let o = 0; o < cpu.y.length; o++) {
            const c = Math.fround(cpu.y[o]);
            const g = gpu.y[o];
            const msg = `${name}: output ${o} is ${g} on webgpu and ${cpu.y[o]} on cpu (inputs ${JSON.stringify(ins.map((i) => i.data.map(String)))})`;
            expect(kind(g), msg).toBe(kind(c));
            if (kind(c) === 'finite') expect(Math.abs(g - c) <= atol + rtol * Math.abs(c), msg).toBe(true);
          }
        }),
        { numRuns: 8 },
      );
    });
  }
});
