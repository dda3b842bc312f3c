// Reductions: forward against an independent float64 loop, gradients against finite differences
// (cpu and webgpu), webgpu against cpu over random shapes and axes, every kernel strategy against
// the others (naive twin vs group vs split), NaN/-Inf/tie semantics, large cases, and errors.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { isCpuAdapter } from '../../src/backend/interface.js';
import { argmin, min, type ReduceStrategy } from '../../src/ops/reduce.js';
import { getBackend } from '../../src/runtime.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

type Op = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'argmin';

/**
 * Float64 reference written from the definition: visit every element in row-major order and fold it
 * into its output slot (the reduced coordinates zeroed). Visiting in order makes the first index win
 * ties; NaN wins over numbers (the first NaN).
 */
function reference(data: ArrayLike<number>, shape: readonly number[], axes: readonly number[] | undefined, op: Op): number[] {
  const rank = shape.length;
  const ax = axes === undefined ? [...Array(rank).keys()] : axes.map((a) => (a < 0 ? a + rank : a));
  const outDims = shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const nOut = outDims.reduce((a, b) => a * b, 1);
  const R = ax.reduce((a, i) => a * shape[i], 1);
  const vals = new Array<number>(nOut).fill(op === 'sum' || op === 'mean' ? 0 : NaN);
  const idx = new Array<number>(nOut).fill(-1);
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    let rem = i;
    const c = new Array<number>(rank);
    for (let d = rank - 1; d >= 0; d--) {
      c[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    let o = 0;
    let r = 0;
    for (let d = 0; d < rank; d++) {
      if (ax.includes(d)) r = r * shape[d] + c[d];
      else o = o * outDims[d] + c[d];
    }
    const v = data[i];
    if (op === 'sum' || op === 'mean') {
      vals[o] += v;
      continue;
    }
    const wantMax = op === 'max' || op === 'argmax';
    const cur = vals[o];
    const take = idx[o] < 0 || (!Number.isNaN(cur) && (Number.isNaN(v) || (wantMax ? v > cur : v < cur)));
    if (take) {
      vals[o] = v;
      idx[o] = r;
    }
  }
  if (op === 'mean') return vals.map((v) => v / R);
  if (op === 'argmax' || op === 'argmin') return idx;
  return vals;
}

function apply(x: mg.Tensor, op: Op, axes: number[] | undefined, keepdim: boolean): mg.Tensor {
  switch (op) {
    case 'sum':
      return x.sum(axes, keepdim);
    case 'mean':
      return x.mean(axes, keepdim);
    case 'max':
      return x.max(axes, keepdim);
    case 'min':
      return min(x, axes, keepdim);
    case 'argmax':
      return x.argmax(axes?.[0] as number, keepdim);
    case 'argmin':
      return argmin(x, axes?.[0], keepdim);
  }
}

function expectedShape(shape: readonly number[], axes: number[] | undefined, keepdim: boolean): number[] {
  const ax = axes === undefined ? [...shape.keys()] : axes.map((a) => (a < 0 ? a + shape.length : a));
  return shape.flatMap((d, i) => (ax.includes(i) ? (keepdim ? [1] : []) : [d]));
}

/** A shape with a set of its axes (sometimes negative, sometimes undefined = all). */
const shapeAndAxes = (opts: { maxRank: number; maxDim: number }) =>
  arb.shape({ minRank: 0, ...opts }).chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.option(
        fc
          .subarray([...shape.keys()])
          .chain((ax) => fc.tuple(fc.constant(ax), fc.array(fc.boolean(), { minLength: ax.length, maxLength: ax.length })))
          .map(([ax, neg]) => ax.map((a, i) => (neg[i] ? a - shape.length : a))),
        { nil: undefined, freq: 4 },
      ),
    ),
  );

/** Tolerance of a float32 reduction over R elements of magnitude <= 2. */
const tolFor = (op: Op, R: number) => (op === 'sum' ? { rtol: 1e-5, atol: 2e-6 * Math.max(R, 1) } : { rtol: 1e-5, atol: 1e-6 });

afterEach(() => mg.testing.resetKernels());
const forceReduce = ({ variant, ...knobs }: ReduceStrategy) => mg.testing.forceKernel('reduce', variant, knobs);

describe('reductions: forward', () => {
  it('hand-computed values: sum, mean, max, min, argmax over axes, keepdim, negative axes', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(
        [
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          [
            [-1, 7, 0],
            [2, 2, -8],
          ],
        ],
        undefined,
        { backend },
      ); // (2, 2, 3)
      expect(x.sum().shape).toEqual([]);
      expect(await x.sum().item()).toBe(23);
      expect(await x.sum(-1).toArray()).toEqual([
        [6, 15],
        [6, -4],
      ]);
      expect(x.sum(-1, true).shape).toEqual([2, 2, 1]);
      expect(await x.sum([0, 2], true).toArray()).toEqual([[[12], [11]]]); // (1, 2, 1)
      expect(await x.mean(1).toArray()).toEqual([
        [2.5, 3.5, 4.5],
        [0.5, 4.5, -4],
      ]);
      expect(await x.max(2).toArray()).toEqual([
        [3, 6],
        [7, 2],
      ]);
      expect(await min(x, [1, 2]).toArray()).toEqual([1, -8]);
      expect(await x.argmax(2).toArray()).toEqual([
        [2, 2],
        [1, 0],
      ]); // [2, 2, -8]: the first 2
      expect(await x.argmax(0, true).toArray()).toEqual([
        [
          [0, 1, 0],
          [0, 0, 0],
        ],
      ]);
      expect(x.argmax(1).dtype).toBe('int32');
      expect(await mg.argmax(x).item()).toBe(7); // flat index of 7
      expect(await argmin(x, -1).toArray()).toEqual([
        [0, 0],
        [0, 2],
      ]);
      expect(await x.max(undefined, true).toArray()).toEqual([[[7]]]);
      expect(await x.sum([]).toArray()).toEqual(await x.toArray()); // no axes: a copy, as NumPy
    }
  });

  it('an axis of size 1, a 0-d tensor, zero-size axes', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([3, -1, 4], [3, 1], { backend });
      expect(await x.sum(1).toArray()).toEqual([3, -1, 4]);
      expect(await x.max(-1, true).toArray()).toEqual([[3], [-1], [4]]);
      expect(await x.argmax(1).toArray()).toEqual([0, 0, 0]);
      const s = mg.tensor(5, [], { backend });
      expect(await s.sum().item()).toBe(5);
      expect(await s.max().item()).toBe(5);
      const e = mg.zeros([0, 3], { backend });
      expect(await e.sum(0).toArray()).toEqual([0, 0, 0]);
      expect((await e.mean(0).data()).every(Number.isNaN)).toBe(true); // 0/0, as torch
      expect(e.sum(1).shape).toEqual([0]);
    }
  });

  it('NaN propagates through max/min/sum; argmax points at the first NaN; -Inf is an ordinary value', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, NaN, 5, NaN, -Infinity, -Infinity, -Infinity, -Infinity, 2, -Infinity, 2, 0], [3, 4], { backend });
      expectClose(await x.max(1).data(), [NaN, -Infinity, 2], {}, 'max');
      expectClose(await min(x, 1).data(), [NaN, -Infinity, -Infinity], {}, 'min');
      expectClose(await x.sum(1).data(), [NaN, -Infinity, -Infinity], {}, 'sum');
      expect(Array.from(await x.argmax(1).data())).toEqual([1, 0, 0]);
      expect(Array.from(await argmin(x, 1).data())).toEqual([1, 0, 1]);
      expect(Array.from(await x.argmax(0).data())).toEqual([2, 0, 0, 0]); // NaN at (0,1) and (0,3)
    }
  });

  it('cpu matches the float64 definition; webgpu matches cpu (random shapes, axes, keepdim)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeAndAxes({ maxRank: 4, maxDim: 9 }),
        fc.boolean(),
        fc.constantFrom<Op>('sum', 'mean', 'max', 'min', 'argmax', 'argmin'),
        fc.integer({ min: 1, max: 1e6 }),
        async ([shape, axes0], keepdim, op, seed) => {
          let axes = axes0;
          if (op === 'argmax' || op === 'argmin') axes = axes && axes.length > 0 ? [axes[0]] : undefined;
          const n = shape.reduce((a, b) => a * b, 1);
          const ax = axes ?? [...shape.keys()];
          const R = ax.reduce((a, i) => a * shape[i < 0 ? i + shape.length : i], 1);
          if (R === 0 && n === 0 && op !== 'sum' && op !== 'mean') return; // covered by the error test
          const x = mg.rand(shape, { seed, low: -2, high: 2, backend: 'cpu' });
          const data = await x.data();
          const y = apply(x, op, axes, keepdim);
          expect(y.shape).toEqual(expectedShape(shape, axes, keepdim));
          expectClose(await y.data(), reference(data, shape, axes, op), { rtol: 1e-12, atol: 1e-12 }, `${op} cpu`);
          await parity(
            (t) => apply(t, op, axes, keepdim),
            [{ data, shape }],
            tolFor(op, R),
            `${op} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`,
          );
          x.dispose();
          y.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('reductions: every strategy agrees (naive twin vs rows vs group vs split)', () => {
  const strategies: ReduceStrategy[] = [
    { variant: 'naive' },
    { variant: 'rows' },
    { variant: 'rows', splits: 3 },
    { variant: 'group', wg: 32, opw: 1 },
    { variant: 'group', wg: 64, opw: 8, splits: 3 },
    { variant: 'group', wg: 256, opw: 64, splits: 2 },
    { variant: 'group', wg: 128, opw: 1, splits: 7 },
  ];

  it('on random shapes, with ties, NaN and -Inf (indices must match exactly)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeAndAxes({ maxRank: 3, maxDim: 65 }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.boolean(),
        async ([shape, axes], seed, specials) => {
          const n = shape.reduce((a, b) => a * b, 1);
          const rng = new mg.HostRng(seed);
          // small integers: many ties; optionally a few NaN / -Inf
          const data = Array.from({ length: n }, () => {
            const u = rng.next();
            if (specials && u < 0.02) return NaN;
            if (specials && u < 0.06) return -Infinity;
            return rng.int(5) - 2;
          });
          const x = mg.tensor(data, shape, { backend: 'webgpu' });
          for (const op of ['sum', 'mean', 'max', 'min', 'argmax', 'argmin'] as const) {
            const ax = op === 'argmax' || op === 'argmin' ? (axes && axes.length > 0 ? [axes[0]] : undefined) : axes;
            const R = (ax ?? [...shape.keys()]).reduce((a, i) => a * shape[i < 0 ? i + shape.length : i], 1);
            const want = reference(data, shape, ax, op);
            for (const s of strategies) {
              const restore = forceReduce(s);
              const y = apply(x, op, ax, false);
              expectClose(
                await y.data(),
                want,
                tolFor(op, R),
                `${op} ${JSON.stringify(s)} ${JSON.stringify(shape)} axes ${JSON.stringify(ax)}`,
              );
              y.dispose();
              restore();
            }
          }
          x.dispose();
        },
      ),
      { numRuns: 15 },
    );
  });

  it('ties: the first maximum wins in every strategy, also when a later lane or split holds it first', async () => {
    // rows of 0s then 1s from position p: the first maximum sits in lane p % lanes, later ones in lane 0
    const L = 3000;
    const starts = [5, 37, 255, 1000, 2999];
    const data = starts.flatMap((p) => Array.from({ length: L }, (_, i) => (i >= p ? 1 : 0)));
    const x = mg.tensor(data, [starts.length, L], { requiresGrad: true });
    const xt = mg.tensor(data, [starts.length, L]).reshape([starts.length, L, 1]); // (5, L, 1): reduce axis 1, innermost kept
    for (const s of [...strategies, null]) {
      mg.testing.resetKernels();
      if (s) forceReduce(s);
      expect(Array.from(await x.argmax(1).data()), JSON.stringify(s)).toEqual(starts);
      expect(Array.from(await argmin(x, 1).data()), JSON.stringify(s)).toEqual(starts.map(() => 0));
      expect(Array.from(await xt.argmax(1).data()), JSON.stringify(s)).toEqual(starts);
      const y = x.max(1);
      y.backward(mg.onesLike(y));
      const g = await x.grad!.data();
      expect(
        starts.map((p, r) => g[r * L + p]),
        JSON.stringify(s),
      ).toEqual(starts.map(() => 1));
      expect(Array.from(g).reduce((a, b) => a + b, 0)).toBe(starts.length);
      x.grad!.dispose();
      x.grad = null;
    }
  });

  it('the automatic choice covers naive, rows, group and split kernels', async () => {
    const lavapipe = isCpuAdapter(getBackend('webgpu').description);
    const cases: [number[], number[], RegExp][] = [
      [[500, 7], [1], /reduce:sum:naive$/],
      [[20, 300], [1], /reduce:sum:group$/],
      ...(lavapipe ? [] : ([[[3, 40000], [1], /reduce:sum:group\/\d+$/]] as [number[], number[], RegExp][])),
      [[4000, 70], [0], /reduce:sum:group\/\d+$/],
      // CPU adapters: a thread per row once 256 rows fill the lanes, vec4 loads where rows allow
      ...(lavapipe
        ? ([
            [[300, 64], [1], /reduce:sum:rows$/],
            [[300, 65], [1], /reduce:sum:naive$/],
            [[3, 40000], [1], /reduce:sum:rows\/\d+$/],
          ] as [number[], number[], RegExp][])
        : []),
    ];
    for (const [shape, axes, pattern] of cases) {
      const x = mg.rand(shape, { seed: 3 });
      const { result: y, kernels } = await mg.profile(() => x.sum(axes));
      expect(kernels[0].kernel, JSON.stringify(shape)).toMatch(pattern);
      await parity((t) => t.sum(axes), [{ data: await x.data(), shape }], { rtol: 1e-5, atol: 1e-4 }, JSON.stringify(shape));
      x.dispose();
      y.dispose();
    }
  });
});

describe('reductions: large cases', () => {
  it('sum and mean over 1e6 elements (relative tolerance)', async () => {
    const x = mg.rand([1_000_000], { seed: 11 });
    const d = await x.data();
    let s = 0;
    for (const v of d) s += v;
    const got = await x.sum().item();
    expect(Math.abs(got - s) / s).toBeLessThan(1e-6);
    expect(Math.abs((await x.mean().item()) - s / 1e6)).toBeLessThan(1e-6);
    x.dispose();
  });

  it('argmax over long rows (split + combine) keeps the first of tied maxima; max backward on it', async () => {
    const L = 100_000;
    const data = new Float32Array(3 * L);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
    const plant = [
      [0, 70_001, 90_000],
      [1, 5, 99_999],
      [2, 42_000, 42_001],
    ];
    for (const [row, a, b] of plant) data[row * L + a] = data[row * L + b] = 7;
    const x = mg.tensor(data, [3, L], { requiresGrad: true });
    expect(Array.from(await x.argmax(1).data())).toEqual([70_001, 5, 42_000]);
    const y = x.max(1);
    expect(Array.from(await y.data())).toEqual([7, 7, 7]);
    y.backward(mg.tensor([1, 2, 3], [3]));
    const g = await x.grad!.data();
    const nz: [number, number][] = [];
    g.forEach((v, i) => v !== 0 && nz.push([i, v]));
    expect(nz).toEqual([
      [70_001, 1],
      [L + 5, 2],
      [2 * L + 42_000, 3],
    ]);
    x.dispose();
    y.dispose();
  });

  it('a column sum (4000, 70) -> (70) (the bias-gradient shape)', async () => {
    const x = mg.rand([4000, 70], { seed: 5, low: -1, high: 1 });
    const d = await x.data();
    const want = reference(d, [4000, 70], [0], 'sum');
    expectClose(await mg.sumTo(x, [70]).data(), want, { rtol: 1e-5, atol: 1e-4 }, 'column sum');
    x.dispose();
  });

  it('more outputs than 65535 workgroups in x: one workgroup per row over a 2-D grid', async () => {
    const x = mg.rand([70_000, 33], { seed: 8, low: -1, high: 1 });
    mg.testing.forceKernel('reduce', 'group');
    const { result: y, kernels } = await mg.profile(() => x.sum(1));
    expect(kernels[0].kernel).toBe('reduce:sum:group');
    expect(kernels[0].workgroups[1]).toBeGreaterThan(1);
    expectClose(await y.data(), reference(await x.data(), [70_000, 33], [1], 'sum'), { rtol: 1e-5, atol: 1e-5 }, 'many rows');
    x.dispose();
    y.dispose();
  });

  it('split reductions free their partials', async () => {
    const x = mg.rand([2, 50_000], { seed: 1 });
    const before = mg.memory('webgpu').liveBuffers;
    const y = x.max(1);
    await y.data();
    expect(mg.memory('webgpu').liveBuffers).toBe(before + 1);
    x.dispose();
    y.dispose();
  });
});

describe('reductions: gradients', () => {
  const cases: [string, (t: mg.Tensor) => mg.Tensor][] = [
    ['sum()', (t) => t.sum()],
    ['sum(1, keepdim)', (t) => t.sum(1, true)],
    ['sum([0, 2])', (t) => t.sum([0, 2])],
    ['mean(-1)', (t) => t.mean(-1)],
    ['mean()', (t) => t.mean()],
    ['max(1)', (t) => t.max(1)],
    ['max([0, 2], keepdim)', (t) => t.max([0, 2], true)],
    ['min(-1)', (t) => min(t, -1)],
    ['max()', (t) => t.max()],
    ['sumTo([3, 1])', (t) => mg.sumTo(t, [3, 1])],
    ['sumTo([1, 4])', (t) => mg.sumTo(t, [1, 4])],
  ];
  for (const [name, f] of cases) {
    it(`${name}: gradient matches finite differences (cpu float64 and webgpu)`, async () => {
      for (const backend of ['cpu', 'webgpu'] as const) {
        // distinct values (no ties, so max is differentiable at the point)
        const x = mg.tensor(
          Array.from({ length: 24 }, (_, i) => Math.sin(i * 2.1) * 2 + i * 0.01),
          [2, 3, 4],
          { backend },
        );
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-4, rtol: 1e-3 };
        expect((await gradcheck(f, [x], tol)).ok).toBe(true);
        x.dispose();
      }
    });
  }

  it('max sends the whole gradient to the first of tied maxima (as torch.max(dim))', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(
        [
          [1, 3, 3],
          [2, 2, 0],
        ],
        undefined,
        { backend, requiresGrad: true },
      );
      x.max(1).backward(mg.tensor([10, 20], [2], { backend }));
      expect(await x.grad!.toArray()).toEqual([
        [0, 10, 0],
        [20, 0, 0],
      ]);
      const z = mg.tensor(
        [
          [4, 1],
          [1, 4],
        ],
        undefined,
        { backend, requiresGrad: true },
      );
      z.max().backward();
      expect(await z.grad!.toArray()).toEqual([
        [1, 0],
        [0, 0],
      ]);
    }
  });

  it('backward of sum, mean and max is one dispatch each; forward without grad skips the index', async () => {
    const x = mg.randn([6, 33], { seed: 2, requiresGrad: true });
    for (const [f, name] of [
      [(t: mg.Tensor) => t.sum(1), 'reduce:expand'],
      [(t: mg.Tensor) => t.mean(0, true), 'reduce:expand'],
      [(t: mg.Tensor) => t.max(1), 'reduce:expand_arg'],
    ] as const) {
      const y = f(x);
      const g = mg.onesLike(y);
      const { kernels } = await mg.profile(() => y.backward(g));
      expect(kernels.map((k) => k.kernel)).toEqual([name]);
      x.grad!.dispose();
      x.grad = null;
    }
    const { kernels } = await mg.profile(() => mg.noGrad(() => x.max(1)));
    expect(kernels.map((k) => k.kernel)).toEqual(['reduce:max:group']);
  });
});

describe('sumTo', () => {
  it('sums a broadcast result back to each operand shape (random broadcast pairs), webgpu vs cpu', async () => {
    await fc.assert(
      fc.asyncProperty(arb.broadcastPair({ maxRank: 4, maxDim: 7 }), fc.integer({ min: 1, max: 1e6 }), async ([a, b], seed) => {
        // the broadcast shape of a and b, then reduce it to a
        const n = Math.max(a.length, b.length);
        const out = Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
        const x = mg.rand(out, { seed, low: -1, high: 1, backend: 'cpu' });
        const data = await x.data();
        const y = mg.sumTo(x, a);
        expect(y.shape).toEqual(a);
        // reference: sum over leading dims and over dims where a has 1
        const off = n - a.length;
        const axes = out.map((_d, i) => i).filter((i) => i < off || (a[i - off] === 1 && out[i] !== 1));
        expectClose(await y.data(), reference(data, out, axes, 'sum'), { rtol: 1e-12, atol: 1e-12 }, 'sumTo cpu');
        await parity(
          (t) => mg.sumTo(t, a),
          [{ data, shape: out }],
          { rtol: 1e-5, atol: 1e-5 },
          `sumTo ${JSON.stringify(out)} -> ${JSON.stringify(a)}`,
        );
        x.dispose();
        y.dispose();
      }),
      { numRuns: 20 },
    );
  });

  it('returns its own copy when the shapes already match', async () => {
    const x = mg.tensor([1, 2, 3], [3]);
    const y = mg.sumTo(x, [3]);
    expect(y).not.toBe(x);
    expect(y.storage).not.toBe(x.storage);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
  });
});

describe('reductions: errors', () => {
  it('bad axes, dtypes and shapes name the op and the shapes', () => {
    const x = mg.randn([2, 3]);
    expect(() => x.sum(2)).toThrow(/sum: axis 2 is out of range for a tensor of rank 2/);
    expect(() => x.mean(-3)).toThrow(/mean: axis -3 is out of range/);
    expect(() => x.sum([0, -2])).toThrow(/sum: axes \[0, -2\] repeat an axis/);
    expect(() => x.max(0.5)).toThrow(/max: axis 0.5 is out of range/);
    expect(() => x.argmax(2)).toThrow(/argmax: axis 2 is out of range/);
    expect(() => mg.tensor([1, 2], [2], { dtype: 'int32' }).sum()).toThrow(
      /sum: expects a float32 or float16 tensor, got tensor #\d+ \[2\] int32/,
    );
    expect(() => mg.zeros([2, 0]).max(1)).toThrow(/max: cannot reduce tensor #\d+ \[2, 0\] float32 over axes \[1\]/);
    expect(() => mg.zeros([0]).argmax(0)).toThrow(/argmax: cannot reduce/);
    expect(() => mg.sumTo(x, [4])).toThrow(/sumTo: cannot sum tensor #\d+ \[2, 3\] float32 to shape \[4\]: dim 1 is 3, the target's is 4/);
    expect(() => mg.sumTo(x, [1, 2, 3])).toThrow(/sumTo: .* the target must not have more dims/);
  });
});
