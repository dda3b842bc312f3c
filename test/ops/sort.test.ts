// sort and topk: against an independent reference (Array.prototype.sort, which is stable, with torch's
// order: NaN largest, -0 equal to 0), webgpu against cpu bit for bit (values and indices), gradients
// through the values (checkOp: float64 finite differences on cpu, webgpu against cpu), errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { numel } from '../../src/shape.js';
import { setupBackends } from '../helpers.js';
import { both, unravel } from './shape-helpers.js';

setupBackends();
const { arbitraries: arb, checkOp, withKernel } = mg.testing;

/** Ascending order with NaN last; 0 for ties (Array.prototype.sort keeps their order). */
const ascending = (a: number, b: number) => +Number.isNaN(a) - +Number.isNaN(b) || (a < b ? -1 : a > b ? 1 : 0);

/** The reference: each line along `axis` sorted stably; the first k of it. */
function refSort(data: number[], shape: number[], axis: number, descending: boolean, k = shape[axis]) {
  const outShape = shape.map((d, i) => (i === axis ? k : d));
  const values: number[] = new Array(numel(outShape));
  const indices: number[] = new Array(numel(outShape));
  const line = (c: number[]) =>
    Array.from({ length: shape[axis] }, (_, t) => {
      const at = c.map((v, i) => (i === axis ? t : v));
      return { v: data[at.reduce((o, v, i) => o * shape[i] + v, 0)], t };
    }).sort((p, q) => (descending ? -ascending(p.v, q.v) : ascending(p.v, q.v)));
  for (let o = 0; o < values.length; o++) {
    const c = unravel(o, outShape);
    const { v, t } = line(c)[c[axis]];
    values[o] = v;
    indices[o] = t;
  }
  return { values, indices, shape: outShape };
}

/** Few distinct values (ties), and the special ones. */
const tieValue = fc.constantFrom(-2, -0.5, 0, -0, 1, 1.5, 3, Number.NaN, Infinity, -Infinity);
const sortArb = arb.shape({ minRank: 1, maxRank: 4, maxDim: 7 }).chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.integer({ min: -s.length, max: s.length - 1 }),
    fc.array(fc.oneof(tieValue, fc.double({ min: -4, max: 4, noNaN: true }).map(Math.fround)), {
      minLength: numel(s),
      maxLength: numel(s),
    }),
    fc.boolean(),
  ),
);

const sameBits = (a: number[], b: number[], label: string) =>
  expect(
    a.map((v) => (Object.is(v, -0) ? '-0' : String(v))),
    label,
  ).toEqual(b.map((v) => (Object.is(v, -0) ? '-0' : String(v))));

const VARIANTS = ['rank', 'bitonic'] as const;

describe('sort', () => {
  it('stable, NaN largest, both orders, any axis, both kernels: reference and webgpu bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(sortArb, async ([s, axis, data, descending]) => {
        const ax = axis < 0 ? axis + s.length : axis;
        const ref = refSort(data, s, ax, descending);
        for (const variant of VARIANTS) {
          await withKernel('sort', variant, async () => {
            const label = `sort (${variant}) ${s} axis ${axis} ${descending ? 'desc' : 'asc'}`;
            const v = await both((x) => x.sort({ axis, descending }).values, [{ data, shape: s }], label);
            const i = await both((x) => mg.sort(x, { axis, descending }).indices, [{ data, shape: s }], label);
            expect(v.shape).toEqual(s);
            sameBits(v.cpu, ref.values, `${label} values`);
            sameBits(v.gpu, ref.values, `${label} values (webgpu)`);
            expect(i.cpu, `${label} indices`).toEqual(ref.indices);
          });
        }
      }),
      { numRuns: 20 },
    );
  });

  it('a long row (1000, bitonic: 1 + 55 + 1 dispatches) and many short ones (rank) on webgpu match cpu; 0-D and empty', async () => {
    const long = Array.from({ length: 1000 }, (_, i) => Math.fround(Math.round(Math.sin(i * 7.1) * 30) / 10)); // ties
    const r = await both((x) => x.sort({ descending: true }).indices, [{ data: long, shape: [1000] }], 'long row');
    expect(r.cpu).toEqual(refSort(long, [1000], 0, true).indices);
    const z = mg.zeros([3, 1000]);
    const p = await mg.profile(() => mg.topk(z, 7).values);
    expect(p.kernels.map((k) => k.kernel)).toEqual(['sort.bitonic_init', ...Array(55).fill('sort.bitonic_step'), 'sort.bitonic_take']);
    const q = await mg.profile(() => mg.sort(z.reshape([1000, 3]), { axis: 1 }).values);
    expect(q.kernels.map((k) => k.kernel)).toEqual(['sort:rank']);
    const many = await both((x) => x.sort({ axis: 0 }).indices, [{ data: long, shape: [5, 200] }], 'many rows');
    expect(many.cpu).toEqual(refSort(long, [5, 200], 0, false).indices);
    const s0 = mg.sort(mg.tensor([3], []));
    expect(s0.values.shape).toEqual([]);
    expect(Array.from(await s0.indices.data())).toEqual([0]);
    expect(mg.sort(mg.zeros([2, 0])).values.shape).toEqual([2, 0]);
  });

  it('gradient flows through the values to where they came from', async () => {
    const shapes = arb.shape({ minRank: 1, maxRank: 3, maxDim: 7 }).map((s) => [s]);
    await checkOp((x) => x.sort().values, { shapes, numRuns: 4 });
    await checkOp((x) => x.sort({ axis: 0, descending: true }).values, { shapes, numRuns: 4 });
  });
});

describe('topk', () => {
  it('the k largest / smallest in order (NaN largest, ties by position): reference and webgpu', async () => {
    await fc.assert(
      fc.asyncProperty(sortArb, fc.nat(), async ([s, axis, data, largest], kk) => {
        const ax = axis < 0 ? axis + s.length : axis;
        const k = kk % (s[ax] + 1);
        const ref = refSort(data, s, ax, largest, k);
        for (const variant of VARIANTS) {
          await withKernel('sort', variant, async () => {
            const label = `topk (${variant}) ${s} axis ${axis} k ${k} ${largest ? 'largest' : 'smallest'}`;
            const v = await both((x) => x.topk(k, { axis, largest }).values, [{ data, shape: s }], label);
            const i = await both((x) => mg.topk(x, k, { axis, largest }).indices, [{ data, shape: s }], label);
            expect(v.shape).toEqual(ref.shape);
            sameBits(v.cpu, ref.values, `${label} values`);
            expect(i.cpu, `${label} indices`).toEqual(ref.indices);
          });
        }
      }),
      { numRuns: 20 },
    );
    // defaults: the last axis, largest first
    const t = mg.tensor([1, 5, 2, 4, 3, 0], [2, 3]).topk(1);
    expect(await t.values.toArray()).toEqual([[5], [4]]);
    expect(await t.indices.toArray()).toEqual([[1], [0]]);
  });

  it('gradient: g at the chosen positions, 0 elsewhere', async () => {
    const shapes = arb.shape({ minRank: 1, maxRank: 3, maxDim: 7 }).map((s) => [s]);
    await checkOp((x) => x.topk(1).values, { shapes, numRuns: 4 });
    await checkOp((x) => x.topk(Math.ceil(x.shape[0] / 2), { axis: 0, largest: false }).values, { shapes, numRuns: 4 });
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.topk(4)).toThrow(/topk: k = 4 is out of range for axis 1 of tensor #\d+ \[2, 3\] float32 \(expected 0\.\.3\)/);
    expect(() => x.topk(-1)).toThrow(/topk: k = -1 is out of range/);
    expect(() => x.topk(1, { axis: 2 })).toThrow(/topk: axis 2 is out of range for a tensor of rank 2/);
    expect(() => mg.zeros([3], { dtype: 'int32' }).sort()).toThrow(/sort: expects a float32 tensor, got tensor #\d+ \[3\] int32/);
    expect(() => x.sort({ descending: 'yes' as never })).toThrow(/sort: the order flag must be a boolean, got yes/);
  });
});
