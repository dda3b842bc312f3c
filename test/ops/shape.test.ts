// Shape and indexing ops: forward vs independent float64 references, gradcheck (cpu and webgpu),
// webgpu vs cpu parity over fast-check shapes (ranks 0..5, size-1 dims, primes), views, errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { checkIndex, scatterAdd } from '../../src/ops/gather.js';
import { stridedCopy } from '../../src/ops/shape.js';
import { numel } from '../../src/shape.js';
import { expectClose, setupBackends } from '../helpers.js';
import { type Backend, both, f32Data, intIndex, ravel, remap, unravel } from './shape-helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

// ---- independent references (index arithmetic written out, not shared with src/) ---------------------

const refPermute = (d: ArrayLike<number>, s: number[], p: number[]) =>
  remap(
    d,
    s,
    p.map((k) => s[k]),
    (c) => {
      const src: number[] = [];
      p.forEach((k, i) => (src[k] = c[i]));
      return src;
    },
  );
const refExpand = (d: ArrayLike<number>, s: number[], t: number[]) =>
  remap(d, s, t, (c) => s.map((n, i) => (n === 1 ? 0 : c[c.length - s.length + i])));
/** Python slice semantics via Array.prototype.slice (which has them: negatives count from the end, clamped), then every step-th. */
function refSlice(
  d: ArrayLike<number>,
  s: number[],
  axis: number,
  start: number,
  end?: number,
  step = 1,
): { data: number[]; shape: number[] } {
  const keep = [...Array(s[axis]).keys()].slice(start, end).filter((_, i) => i % step === 0);
  const shape = s.map((n, i) => (i === axis ? keep.length : n));
  return { data: remap(d, s, shape, (c) => c.map((v, i) => (i === axis ? keep[v] : v))), shape };
}

const permArb = (maxRank: number) =>
  arb
    .shape({ minRank: 0, maxRank, maxDim: 6 })
    .chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length })));

const GPU_TOL = { atol: 1e-3, rtol: 3e-3 };
const CPU_TOL = { atol: 1e-7, rtol: 1e-6 };
const tolFor = (b: Backend) => (b === 'cpu' ? CPU_TOL : GPU_TOL);

// ---- reshape --------------------------------------------------------------------------------------

describe('reshape', () => {
  it('is a view: no dispatch, shared storage, disposing one keeps the other', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
      const p = await mg.profile(() => x.reshape([3, -1]), backend);
      const y = p.result;
      expect(p.kernels).toEqual([]);
      expect(y.shape).toEqual([3, 2]);
      expect(y.storage).toBe(x.storage);
      expect(Array.from(await y.data())).toEqual([1, 2, 3, 4, 5, 6]);
      const before = mg.memory(backend).liveBuffers;
      x.dispose();
      expect(mg.memory(backend).liveBuffers).toBe(before); // the view still holds the storage
      expect(Array.from(await y.data())).toEqual([1, 2, 3, 4, 5, 6]);
      const z = y.reshape([6]);
      y.dispose();
      expect(Array.from(await z.data())).toEqual([1, 2, 3, 4, 5, 6]);
      z.dispose();
      expect(mg.memory(backend).liveBuffers).toBe(before - 1); // the last holder freed it
    }
  });

  it('infers -1, handles scalars and empty tensors', () => {
    const x = mg.zeros([2, 3, 4]);
    expect(x.reshape([-1]).shape).toEqual([24]);
    expect(x.reshape([4, -1, 2]).shape).toEqual([4, 3, 2]);
    expect(mg.zeros([]).reshape([1, 1]).shape).toEqual([1, 1]);
    expect(mg.zeros([1, 1]).reshape([]).shape).toEqual([]);
    expect(mg.zeros([0, 3]).reshape([3, 0, 5]).shape).toEqual([3, 0, 5]);
  });

  it('gradient flows back in the input shape (cpu and webgpu)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([2, 3, 2], { seed: 1, backend });
      await gradcheck((t) => t.reshape([3, 4]).mul(t.reshape([3, 4])), [x], tolFor(backend));
    }
  });

  it('errors name the op, the tensor and the target', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.reshape([4, 2])).toThrow(
      /reshape: cannot reshape tensor #\d+ \[2, 3\] float32 \(6 elements\) to \[4, 2\] \(8 elements\)/,
    );
    expect(() => x.reshape([-1, -1])).toThrow(/reshape: shape \[-1, -1\] has more than one -1/);
    expect(() => x.reshape([4, -1])).toThrow(/reshape: cannot reshape .* to \[4, -1\]: the -1 cannot be inferred/);
    expect(() => x.reshape([0, -1])).toThrow(/the -1 cannot be inferred/);
    expect(() => x.reshape([2.5, 2])).toThrow(/reshape: shape \[2.5, 2\] must hold non-negative integers/);
    expect(() => x.reshape(6 as never)).toThrow(/reshape: shape must be an array/);
  });
});

// ---- permute, transpose ------------------------------------------------------------------------------

describe('permute / transpose', () => {
  it('forward: cpu matches the reference, webgpu matches cpu bit for bit (ranks 0..5)', async () => {
    await fc.assert(
      fc.asyncProperty(permArb(5), fc.integer({ min: 1, max: 1000 }), async ([shape, perm], seed) => {
        const data = f32Data(numel(shape), seed);
        const { cpu, shape: out } = await both((x) => x.permute(perm), [{ data, shape }], `permute ${shape} by ${perm}`);
        expect(out).toEqual(perm.map((p) => shape[p]));
        expect(cpu).toEqual(refPermute(data, shape, perm));
      }),
      { numRuns: 25 },
    );
  });

  it('negative dims, transpose defaults, int32 bit patterns', async () => {
    const data = f32Data(24, 3);
    const { cpu } = await both((x) => x.permute([-1, 0, -2]), [{ data, shape: [2, 3, 4] }], 'permute negative');
    expect(cpu).toEqual(refPermute(data, [2, 3, 4], [2, 0, 1]));
    const t = await both((x) => x.transpose(), [{ data, shape: [2, 3, 4] }], 'transpose');
    expect(t.cpu).toEqual(refPermute(data, [2, 3, 4], [0, 2, 1]));
    expect(t.shape).toEqual([2, 4, 3]);
    const t2 = await both((x) => mg.transpose(x, 0, 2), [{ data, shape: [2, 3, 4] }], 'transpose 0 2');
    expect(t2.cpu).toEqual(refPermute(data, [2, 3, 4], [2, 1, 0]));
    // int32 moves as raw words: -1 (a NaN pattern as f32) and extremes survive
    const ints = [-1, 2147483647, -2147483648, 0, 7, -123456];
    const i = await both((x) => x.transpose(), [{ data: ints, shape: [2, 3], dtype: 'int32' }], 'int32 transpose');
    expect(i.gpu).toEqual([-1, 0, 2147483647, 7, -2147483648, -123456]);
    const sel = await both(
      (x, k) => x.indexSelect(0, k),
      [
        { data: ints, shape: [3, 2], dtype: 'int32' },
        { data: [2, 0, 2], shape: [3], dtype: 'int32' },
      ],
      'int32 indexSelect',
    );
    expect(sel.gpu).toEqual([7, -123456, -1, 2147483647, 7, -123456]);
  });

  it('gradients (cpu and webgpu)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([2, 3, 4], { seed: 2, backend });
      await gradcheck((t) => t.permute([2, 0, 1]), [x], tolFor(backend));
      await gradcheck((t) => t.transpose(0, 1).mul(t.transpose(0, 1)), [x], tolFor(backend));
    }
  });

  it('a large transpose (300 x 1001) over the 2-D dispatch grid', async () => {
    const x = mg.randn([300, 1001], { seed: 5 });
    const xd = await x.data();
    const y = await x.transpose().data();
    expect(Array.from(y)).toEqual(refPermute(xd, [300, 1001], [1, 0]));
  });

  it('errors', () => {
    const x = mg.zeros([2, 3, 4]);
    expect(() => x.permute([0, 1])).toThrow(/permute: perm \[0, 1\] must list each of the 3 dims of tensor #\d+ \[2, 3, 4\] float32 once/);
    expect(() => x.permute([0, 1, 1])).toThrow(/permute: perm \[0, 1, 1\] repeats a dim/);
    expect(() => x.permute([0, 1, 3])).toThrow(/permute: axis 3 is out of range for a tensor of rank 3/);
    expect(() => x.transpose(0, 5)).toThrow(/transpose: axis 5 is out of range/);
    expect(() => mg.zeros([3]).transpose()).toThrow(/transpose: tensor #\d+ \[3\] float32 has fewer than 2 dims/);
    expect(() => mg.zeros([1, 1, 1, 1, 1, 1, 1, 1, 1]).permute([0, 1, 2, 3, 4, 5, 6, 7, 8])).toThrow(/permute: .* has 9 dims; at most 8/);
  });
});

// ---- expand ------------------------------------------------------------------------------------------

/** A shape x and a target it expands to (some dims 1 in x, some new leading dims). */
const expandArb = arb.shape({ minRank: 0, maxRank: 4, maxDim: 5 }).chain((target) =>
  fc
    .tuple(fc.integer({ min: 0, max: target.length }), fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }))
    .map(([drop, ones]) => {
      const x = target.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
      return [x, target] as const;
    }),
);

describe('expand', () => {
  it('forward: cpu matches the reference, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(expandArb, fc.integer({ min: 1, max: 1000 }), async ([xs, target], seed) => {
        const data = f32Data(numel(xs), seed);
        const { cpu, shape } = await both((x) => x.expand(target), [{ data, shape: xs }], `expand ${xs} -> ${target}`);
        expect(shape).toEqual(target);
        expect(cpu).toEqual(refExpand(data, xs, target));
      }),
      { numRuns: 25 },
    );
  });

  it('-1 keeps a dim; gradients sum over broadcast dims (cpu and webgpu)', async () => {
    expect(mg.zeros([3, 1]).expand([2, -1, 4]).shape).toEqual([2, 3, 4]);
    for (const backend of ['cpu', 'webgpu'] as const) {
      await gradcheck((t) => t.expand([2, 3, 4]), [mg.randn([3, 1], { seed: 3, backend })], tolFor(backend));
      await gradcheck((t) => t.expand([3, 2]), [mg.randn([3, 2], { seed: 4, backend })], tolFor(backend)); // same shape
      await gradcheck((t) => t.expand([5]), [mg.randn([], { seed: 5, backend })], tolFor(backend));
    }
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.expand([4, 3])).toThrow(
      /expand: cannot expand tensor #\d+ \[2, 3\] float32 to \[4, 3\]: dim 0 is 2 \(must match the target 4 or be 1\)/,
    );
    expect(() => x.expand([3])).toThrow(/expand: cannot expand .* to \[3\]: the target needs at least 2 dims/);
    expect(() => x.expand([-1, 2, 3])).toThrow(/expand: .* dim 0 must be a non-negative integer \(-1 only for existing dims\)/);
  });
});

// ---- slice ---------------------------------------------------------------------------------------------

describe('slice', () => {
  const sliceArb = arb
    .shape({ minRank: 1, maxRank: 5, maxDim: 7 })
    .chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.integer({ min: -s.length, max: s.length - 1 }),
        fc.integer({ min: -9, max: 9 }),
        fc.option(fc.integer({ min: -9, max: 9 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      ),
    );

  it('forward: Python slice semantics (negatives, clamping, empty, steps), webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(sliceArb, fc.integer({ min: 1, max: 1000 }), async ([shape, axis, start, end, step], seed) => {
        const data = f32Data(numel(shape), seed);
        const ax = axis < 0 ? axis + shape.length : axis;
        const ref = refSlice(data, shape, ax, start, end, step);
        const { cpu, shape: out } = await both(
          (x) => x.slice(axis, start, end, step),
          [{ data, shape }],
          `slice ${shape} axis ${axis} [${start}, ${end}) step ${step}`,
        );
        expect(out).toEqual(ref.shape);
        expect(cpu).toEqual(ref.data);
      }),
      { numRuns: 25 },
    );
  });

  it('gradient: zeros with g written into the slice (cpu and webgpu); backward is one fill + one copy', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([3, 5, 2], { seed: 6, backend });
      await gradcheck((t) => t.slice(1, 1, -1), [x], tolFor(backend));
      await gradcheck((t) => t.slice(-1, 1), [x], tolFor(backend));
      await gradcheck((t) => t.slice(0, 2, 100).mul(t.slice(0, 0, 1)), [x], tolFor(backend));
      await gradcheck((t) => t.slice(1, 0, 4, 2).mul(t.slice(1, -4, undefined, 2)), [x], tolFor(backend));
    }
    const x = mg.tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const y = x.slice(1, 1);
    const p = await mg.profile(() => y.backward(mg.tensor([10, 20, 30, 40], [2, 2])));
    expect(p.kernels.map((k) => k.shader)).toEqual(['fill', 'copy']);
    expect(Array.from(await x.grad!.data())).toEqual([0, 10, 20, 0, 30, 40]);
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.slice(2, 0)).toThrow(/slice: axis 2 is out of range for a tensor of rank 2/);
    expect(() => x.slice(0, 0.5)).toThrow(/slice: start and end must be integers, got 0.5/);
    expect(() => x.slice(0, 0, 2, 0)).toThrow(/slice: step must be a positive integer \(as torch\), got 0/);
    expect(() => x.slice(0, 0, 2, -1)).toThrow(/slice: step must be a positive integer/);
    expect(() => mg.zeros([]).slice(0, 0)).toThrow(/slice: cannot slice tensor #\d+ \[\] float32: it has no axes/);
  });
});

// ---- concat, stack -----------------------------------------------------------------------------------

describe('concat / stack', () => {
  const concatArb = arb
    .shape({ minRank: 1, maxRank: 4, maxDim: 5 })
    .chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.integer({ min: 0, max: s.length - 1 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 }),
      ),
    );

  it('concat forward: webgpu matches cpu matches the reference (including empty pieces)', async () => {
    await fc.assert(
      fc.asyncProperty(concatArb, fc.integer({ min: 1, max: 1000 }), async ([s, axis, sizes], seed) => {
        const inputs = sizes.map((n, i) => {
          const shape = s.map((d, k) => (k === axis ? n : d));
          return { shape, data: f32Data(numel(shape), seed + i) };
        });
        const { cpu, shape } = await both((...xs) => mg.concat(xs, axis), inputs, `concat axis ${axis} of ${sizes}`);
        const total = sizes.reduce((a, b) => a + b, 0);
        expect(shape).toEqual(s.map((d, k) => (k === axis ? total : d)));
        const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
        const ref = Array.from({ length: numel(shape) }, (_, i) => {
          const c = unravel(i, shape);
          let which = -1;
          starts.forEach((st, k) => {
            if (sizes[k] > 0 && c[axis] >= st) which = k;
          });
          const local = c.map((v, k) => (k === axis ? v - starts[which] : v));
          return inputs[which].data[ravel(local, inputs[which].shape)];
        });
        expect(cpu).toEqual(ref);
      }),
      { numRuns: 20 },
    );
  });

  it('stack forward over every axis (new axis in -(r+1)..r), webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(
        arb.shape({ minRank: 0, maxRank: 4, maxDim: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 1000 }),
        async (s, n, seed) => {
          const inputs = Array.from({ length: n }, (_, i) => ({ shape: s, data: f32Data(numel(s), seed + i) }));
          for (let axis = -(s.length + 1); axis <= s.length; axis++) {
            const ax = axis < 0 ? axis + s.length + 1 : axis;
            const { cpu, shape } = await both((...xs) => mg.stack(xs, axis), inputs, `stack ${s} axis ${axis}`);
            expect(shape).toEqual([...s.slice(0, ax), n, ...s.slice(ax)]);
            const ref = Array.from({ length: numel(shape) }, (_, i) => {
              const c = unravel(i, shape);
              const which = c[ax];
              return inputs[which].data[ravel([...c.slice(0, ax), ...c.slice(ax + 1)], s)];
            });
            expect(cpu).toEqual(ref);
          }
        },
      ),
      { numRuns: 10 },
    );
  });

  it('one copy dispatch per input; gradients are slices of g (cpu and webgpu)', async () => {
    const xs = [mg.zeros([2, 3]), mg.zeros([2, 1]), mg.zeros([2, 4])];
    const p = await mg.profile(() => mg.concat(xs, 1));
    expect(p.kernels.map((k) => k.shader)).toEqual(['copy', 'copy', 'copy']);
    expect(p.result.shape).toEqual([2, 8]);
    for (const backend of ['cpu', 'webgpu'] as const) {
      const a = mg.randn([2, 3], { seed: 7, backend });
      const b = mg.randn([2, 1], { seed: 8, backend });
      await gradcheck((u, v) => mg.concat([u, v, u], -1), [a, b], tolFor(backend));
      await gradcheck((u, v) => mg.concat([u, v.expand([1, 3])], 0), [a, mg.randn([1], { seed: 9, backend })], tolFor(backend));
      await gradcheck((u, v) => mg.stack([u, v.expand([2, 3]), u], 1), [a, b], tolFor(backend));
    }
    // only inputs that require grad get one
    const u = mg.tensor([1, 2], [2], { requiresGrad: true });
    const v = mg.tensor([3], [1]);
    mg.concat([v, u], 0)
      .mul(mg.tensor([5, 6, 7], [3]))
      .sum()
      .backward();
    expect(Array.from(await u.grad!.data())).toEqual([6, 7]);
    expect(v.grad).toBeNull();
  });

  it('errors', () => {
    const a = mg.zeros([2, 3]);
    expect(() => mg.concat([], 0)).toThrow(/concat: expects a non-empty array of tensors/);
    expect(() => mg.concat([a, mg.zeros([3, 3])], 1)).toThrow(/concat: shapes \[2, 3\], \[3, 3\] differ outside axis 1/);
    expect(() => mg.concat([a, mg.zeros([2])], 0)).toThrow(/concat: shapes \[2, 3\], \[2\] differ outside axis 0/);
    expect(() => mg.concat([a, mg.zeros([2, 3], { dtype: 'int32' })], 0)).toThrow(/concat: tensors have different dtypes/);
    expect(() => mg.concat([a, mg.zeros([2, 3], { backend: 'cpu' })], 0)).toThrow(/concat: tensors live on different backends/);
    expect(() => mg.concat([a], 2)).toThrow(/concat: axis 2 is out of range for a tensor of rank 2/);
    expect(() => mg.concat([a, 'x' as never], 0)).toThrow(/concat: tensors\[1\] must be a Tensor/);
    expect(() => mg.stack([a, mg.zeros([3, 2])], 0)).toThrow(/stack: all tensors must have one shape, got \[2, 3\], \[3, 2\]/);
    expect(() => mg.stack([a], 3)).toThrow(/stack: axis 3 is out of range for a tensor of rank 3/);
  });
});

// ---- gather, indexSelect, scatter-add --------------------------------------------------------------------

/** torch.gather reference. */
function refGather(x: ArrayLike<number>, xs: number[], axis: number, index: number[], is: number[]): number[] {
  return Array.from({ length: numel(is) }, (_, i) => {
    const c = unravel(i, is);
    c[axis] = index[i];
    return x[ravel(c, xs)];
  });
}
/** The gather adjoint: dx[c with c_axis = index[c]] += g[c]. */
function refGatherBack(g: ArrayLike<number>, is: number[], axis: number, index: number[], xs: number[]): number[] {
  const dx = new Array<number>(numel(xs)).fill(0);
  for (let i = 0; i < numel(is); i++) {
    const c = unravel(i, is);
    c[axis] = index[i];
    dx[ravel(c, xs)] += g[i];
  }
  return dx;
}

const gatherArb = arb.shape({ minRank: 1, maxRank: 4, maxDim: 5 }).chain((xs) =>
  fc.integer({ min: 0, max: xs.length - 1 }).chain((axis) =>
    fc.tuple(
      fc.constant(xs),
      fc.constant(axis),
      // index shape: <= x outside the axis, anything (0..6) along it
      fc.tuple(...xs.map((d, i) => (i === axis ? fc.integer({ min: 0, max: 6 }) : fc.integer({ min: 1, max: d })))),
    ),
  ),
);

describe('gather / indexSelect', () => {
  it('gather forward and backward: cpu matches the reference, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(gatherArb, fc.integer({ min: 1, max: 1000 }), async ([xs, axis, is], seed) => {
        const x = f32Data(numel(xs), seed);
        const index = intIndex(numel(is), xs[axis], seed + 1);
        const { cpu } = await both(
          (t, i) => t.gather(axis, i),
          [
            { data: x, shape: xs },
            { data: index, shape: is, dtype: 'int32' },
          ],
          `gather ${xs} axis ${axis} index ${is}`,
        );
        expect(cpu).toEqual(refGather(x, xs, axis, index, is));
        const g = f32Data(numel(is), seed + 2);
        const back = await both(
          (gt, i) => scatterAdd(gt, axis, i, xs),
          [
            { data: g, shape: is },
            { data: index, shape: is, dtype: 'int32' },
          ],
          'gather backward',
          { rtol: 1e-6, atol: 1e-6 },
        );
        expectClose(back.cpu, refGatherBack(g, is, axis, index, xs), { rtol: 1e-12, atol: 1e-12 }, 'gather backward vs reference');
      }),
      { numRuns: 20 },
    );
  });

  it('indexSelect forward and backward (many repeated indices): reference and parity', async () => {
    await fc.assert(
      fc.asyncProperty(
        arb.shape({ minRank: 1, maxRank: 4, maxDim: 5 }),
        fc.nat(),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 1000 }),
        async (xs, a, n, seed) => {
          const axis = a % xs.length;
          const index = intIndex(n, xs[axis], seed + 1);
          const x = f32Data(numel(xs), seed);
          const os = xs.map((d, i) => (i === axis ? n : d));
          const { cpu, shape } = await both(
            (t, i) => t.indexSelect(axis, i),
            [
              { data: x, shape: xs },
              { data: index, shape: [n], dtype: 'int32' },
            ],
            `indexSelect ${xs} axis ${axis}`,
          );
          expect(shape).toEqual(os);
          expect(cpu).toEqual(remap(x, xs, os, (c) => c.map((v, i) => (i === axis ? index[v] : v))));
          const g = f32Data(numel(os), seed + 2);
          const back = await both(
            (gt, i) => scatterAdd(gt, axis, i, xs),
            [
              { data: g, shape: os },
              { data: index, shape: [n], dtype: 'int32' },
            ],
            'indexSelect backward',
            { rtol: 1e-6, atol: 1e-6 },
          );
          const ref = new Array<number>(numel(xs)).fill(0);
          for (let i = 0; i < numel(os); i++) {
            const c = unravel(i, os);
            c[axis] = index[c[axis]];
            ref[ravel(c, xs)] += g[i];
          }
          expectClose(back.cpu, ref, { rtol: 1e-12, atol: 1e-12 }, 'indexSelect backward vs reference');
        },
      ),
      { numRuns: 20 },
    );
  });

  it('the chain scatter-add and its naive twin agree bit for bit (webgpu) and with float64 (cpu)', async () => {
    const cases: [number[], number, number[], number][] = [
      // x shape, axis, index shape, index range (small range -> many repeats)
      [[7, 5], 0, [13], 3],
      [[4, 11, 3], 1, [40], 11],
      [[4, 11, 3], 1, [4, 9, 3], 2],
      [[6, 2], 0, [6, 2], 1],
      [[17], 0, [50], 17],
    ];
    for (const [xs, axis, is, range] of cases) {
      const index = intIndex(numel(is), range, xs.length + is.length);
      const gShape = is.length === 1 && xs.length > 1 ? xs.map((d, i) => (i === axis ? is[0] : d)) : is;
      const g = f32Data(numel(gShape), 11);
      const out: Record<string, number[]> = {};
      for (const backend of ['cpu', 'webgpu'] as const) {
        for (const impl of ['chain', 'naive'] as const) {
          const gt = mg.tensor(g, gShape, { backend });
          const it = mg.tensor(index, is, { backend, dtype: 'int32' });
          out[`${backend}-${impl}`] = Array.from(await scatterAdd(gt, axis, it, xs, { impl }).data());
        }
      }
      expect(out['webgpu-chain'], `${xs} ${is}`).toEqual(out['webgpu-naive']);
      expectClose(out['cpu-chain'], out['cpu-naive'], { rtol: 1e-12, atol: 1e-12 }, 'cpu chain vs naive');
      expectClose(out['webgpu-chain'], out['cpu-chain'], { rtol: 1e-5, atol: 1e-5 }, 'webgpu vs cpu');
    }
  });

  it('gradients (cpu and webgpu), including repeated indices', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([4, 3], { seed: 10, backend });
      const idx = mg.tensor([2, 0, 2, 3, 2], [5], { backend, dtype: 'int32' });
      await gradcheck((t, i) => t.indexSelect(0, i), [x, idx], tolFor(backend));
      const idx1 = mg.tensor([1, 1, 0, 2], [4], { backend, dtype: 'int32' });
      await gradcheck((t, i) => t.indexSelect(1, i), [x, idx1], tolFor(backend));
      const gi = mg.tensor([0, 2, 2, 1, 1, 1, 2, 0], [4, 2], { backend, dtype: 'int32' });
      await gradcheck((t, i) => t.gather(1, i), [x, gi], tolFor(backend));
      const g0 = mg.tensor([3, 3, 0, 1, 1, 1], [2, 3], { backend, dtype: 'int32' });
      await gradcheck((t, i) => t.gather(0, i), [x, g0], tolFor(backend));
    }
  });

  it('cross-entropy-style pick and an embedding lookup (1000 x 64, 3000 indices) on webgpu match cpu', async () => {
    const V = 1000;
    const C = 64;
    const N = 3000;
    const table = f32Data(V * C, 21);
    const index = intIndex(N, V / 10, 22).map((v, i) => (i % 3 === 0 ? v * 10 + 7 : v)); // repeats and spread
    const g = f32Data(N * C, 23);
    const fwd = await both(
      (t, i) => t.indexSelect(0, i),
      [
        { data: table, shape: [V, C] },
        { data: index, shape: [N], dtype: 'int32' },
      ],
      'embedding',
    );
    expect(fwd.shape).toEqual([N, C]);
    await both(
      (gt, i) => scatterAdd(gt, 0, i, [V, C]),
      [
        { data: g, shape: [N, C] },
        { data: index, shape: [N], dtype: 'int32' },
      ],
      'embedding backward',
      { rtol: 1e-5, atol: 1e-5 },
    );
    const logits = f32Data(64 * 257, 24);
    const targets = intIndex(64, 257, 25);
    const pick = await both(
      (t, i) => t.gather(1, i),
      [
        { data: logits, shape: [64, 257] },
        { data: targets, shape: [64, 1], dtype: 'int32' },
      ],
      'pick',
    );
    expect(pick.cpu).toEqual(targets.map((t, r) => logits[r * 257 + t]));
  });

  it('out-of-range indices: cpu throws naming the op and the value; webgpu at the next readback; checkIndex at once', async () => {
    const data = [1, 2, 3, 4, 5, 6];
    const xc = mg.tensor(data, [2, 3], { backend: 'cpu' });
    const bad = mg.tensor([0, 3], [2], { backend: 'cpu', dtype: 'int32' });
    expect(() => xc.indexSelect(1, bad)).toThrow(
      /indexSelect: index value 3 at flat position 1 of index \[2\] is out of range for axis 1 of size 3 \(x \[2, 3\]; expected 0\.\.2\)/,
    );
    expect(() => xc.gather(0, mg.tensor([[0, -1, 1]], [1, 3], { backend: 'cpu', dtype: 'int32' }))).toThrow(
      /gather: index value -1 at flat position 1 .* out of range for axis 0 of size 2/,
    );
    const xg = mg.tensor(data, [2, 3], { requiresGrad: true });
    const badg = mg.tensor([0, 3, 3], [3], { dtype: 'int32' });
    const y = xg.indexSelect(1, badg);
    await expect(y.data()).rejects.toThrow(
      /indexSelect: index value 3 at flat position 1 of index \[3\] is out of range for axis 1 of size 3/,
    );
    y.sum().backward(); // no stray writes: the scatter drops the bad entries and reports them again
    await expect(xg.grad!.data()).rejects.toThrow(
      /scatterAdd: index value 3 at flat position 1 of index \[3\] is out of range for axis 1 of size 3/,
    );
    expect(Array.from(await xg.grad!.data())).toEqual([1, 0, 0, 1, 0, 0]);
    await expect(checkIndex(xg, 1, badg, 'embedding')).rejects.toThrow(/embedding: index value 3 at flat position 1/);
    await expect(checkIndex(xg, 0, mg.tensor([1, 0], [2], { dtype: 'int32' }))).resolves.toBeUndefined();
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    const i = mg.tensor([0, 1], [2], { dtype: 'int32' });
    expect(() => x.gather(0, mg.tensor([0, 1], [2]))).toThrow(/gather: index must be an int32 tensor, got tensor #\d+ \[2\] float32/);
    expect(() => x.gather(0, i)).toThrow(/gather: index \[2\] must have the rank of x \[2, 3\]/);
    expect(() => x.gather(0, mg.zeros([1, 4], { dtype: 'int32' }))).toThrow(
      /gather: index \[1, 4\] must have the rank of x \[2, 3\] and no larger size outside axis 0/,
    );
    expect(() => x.gather(2, mg.zeros([1, 1], { dtype: 'int32' }))).toThrow(/gather: axis 2 is out of range/);
    expect(() => x.indexSelect(0, mg.zeros([1, 1], { dtype: 'int32' }))).toThrow(
      /indexSelect: index must be 1-D, got tensor #\d+ \[1, 1\] int32/,
    );
    expect(() => x.indexSelect(0, mg.zeros([1], { dtype: 'int32', backend: 'cpu' }))).toThrow(
      /indexSelect: tensors live on different backends/,
    );
    expect(() => mg.zeros([]).indexSelect(0, i)).toThrow(/indexSelect: tensor #\d+ \[\] float32 has no axes to index/);
    expect(() => x.indexSelect(0, 'i' as never)).toThrow(/indexSelect: index must be a Tensor/);
  });
});

describe('stridedCopy', () => {
  it('reads through strides and offsets, writes into regions, rejects views that leave the storage', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.arange(0, 12, 1, { backend }).reshape([3, 4]);
      // every other column, from column 1
      const y = stridedCopy(x, { shape: [3, 2], strides: [4, 2], offset: 1 });
      expect(Array.from(await y.data())).toEqual([1, 3, 5, 7, 9, 11]);
      const z = mg.zeros([2, 5], { backend });
      stridedCopy(y, { shape: [2, 2], strides: [2, 1] }, { tensor: z, strides: [5, 2], offset: 1 });
      expect(Array.from(await z.data())).toEqual([0, 1, 0, 3, 0, 0, 5, 0, 7, 0]);
      expect(() => stridedCopy(x, { shape: [3, 4], strides: [4, 1], offset: 1 })).toThrow(
        /stridedCopy: the source view .* reaches element 12 of tensor #\d+ \[3, 4\] float32 \(12 elements\)/,
      );
      expect(() => stridedCopy(y, { shape: [2, 3], strides: [3, 1] }, { tensor: z, strides: [5, 2], offset: 1 })).toThrow(
        /stridedCopy: the destination view/,
      );
      // negative strides walk backwards (flip); a view that walks off the front is rejected too
      const back = stridedCopy(x, { shape: [3, 2], strides: [-4, -1], offset: 11 });
      expect(Array.from(await back.data())).toEqual([11, 10, 7, 6, 3, 2]);
      expect(() => stridedCopy(x, { shape: [3], strides: [-4], offset: 7 })).toThrow(
        /stridedCopy: the source view \(shape \[3\], strides \[-4\], offset 7\) reaches element -1 of tensor/,
      );
      // 10 dims merge to one contiguous run: fits the 8-dim kernel
      const ten = Array(10).fill(2);
      const big = mg.arange(0, 1024, 1, { backend });
      const w = stridedCopy(big, { shape: ten, strides: [512, 256, 128, 64, 32, 16, 8, 4, 2, 1] });
      expect(Array.from(await w.data())).toEqual([...Array(1024).keys()]);
      const swapped = [512, 256, 128, 64, 32, 16, 8, 4, 1, 2]; // the first 8 dims merge: 3 dims remain
      const sw = Array.from(await stridedCopy(big, { shape: ten, strides: swapped }).data());
      expect(sw.slice(0, 8)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
      expect(() => stridedCopy(big, { shape: [4], strides: [1] }, { tensor: big.reshape([1024]), strides: [2] })).toThrow(
        /stridedCopy: cannot copy .* into a tensor sharing its storage/,
      );
    }
    const p = await mg.profile(() => mg.zeros([3, 4]).transpose());
    expect(p.kernels.map((k) => k.kernel)).toEqual(['fill', 'copy:transpose']);
  });
});
