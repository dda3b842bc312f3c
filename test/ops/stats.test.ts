// prod, logsumexp, var, std, norm, cumsum, all, any: cpu against float64 definitions written here
// (over random shapes and axes, keepdim), webgpu against cpu, gradients against finite differences in
// float64 with webgpu's against cpu's (mg.testing.checkOp, axes trailing or not), the gradients torch
// defines at zeros and ties, torch's special values, and errors.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { isCpuAdapter } from '../../src/backend/interface.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;

/** The groups of a reduction from the definition: the values of each output, in output order. */
function groups(data: ArrayLike<number>, shape: readonly number[], axes: readonly number[] | undefined): number[][] {
  const rank = shape.length;
  const ax = axes === undefined ? [...shape.keys()] : axes.map((a) => (a < 0 ? a + rank : a));
  const outDims = shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out: number[][] = Array.from({ length: outDims.reduce((a, b) => a * b, 1) }, () => []);
  for (let i = 0; i < data.length; i++) {
    let rem = i;
    let o = 0;
    let stride = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (!ax.includes(d)) o += c * stride;
      stride *= outDims[d];
    }
    out[o].push(data[i]);
  }
  return out;
}

const total = (g: number[]) => g.reduce((a, b) => a + b, 0);
const varOf = (g: number[], c: number) => {
  const m = total(g) / g.length;
  return total(g.map((v) => (v - m) ** 2)) / Math.max(g.length - c, 0);
};

type Red = (x: mg.Tensor, axes: number[] | undefined, keepdim: boolean) => mg.Tensor;
/** Op and its definition on one group. */
const REDUCTIONS: Record<string, [Red, (g: number[]) => number]> = {
  prod: [(x, a, k) => x.prod(a, k), (g) => g.reduce((p, v) => p * v, 1)],
  logsumexp: [(x, a, k) => x.logsumexp(a, k), (g) => Math.log(total(g.map(Math.exp)))],
  var: [(x, a, k) => x.var(a, { keepdim: k }), (g) => varOf(g, 1)],
  'var (correction 0)': [(x, a, k) => mg.var(x, a, { keepdim: k, correction: 0 }), (g) => varOf(g, 0)],
  std: [(x, a, k) => x.std(a, { keepdim: k }), (g) => Math.sqrt(varOf(g, 1))],
  'norm (p = 2)': [(x, a, k) => x.norm(2, a, k), (g) => Math.sqrt(total(g.map((v) => v * v)))],
  'norm (p = 1)': [(x, a, k) => x.norm(1, a, k), (g) => total(g.map(Math.abs))],
  'norm (p = Infinity)': [(x, a, k) => x.norm(Infinity, a, k), (g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)],
  'norm (p = 3)': [(x, a, k) => x.norm(3, a, k), (g) => total(g.map((v) => Math.abs(v) ** 3)) ** (1 / 3)],
  'norm (p = 0.5)': [(x, a, k) => x.norm(0.5, a, k), (g) => total(g.map((v) => Math.abs(v) ** 0.5)) ** 2],
  all: [(x, a, k) => x.gt(0).all(a, k), (g) => +g.every((v) => v > 0)],
  any: [(x, a, k) => x.gt(1).any(a, k), (g) => +g.some((v) => v > 1)],
};

/** A shape with a set of its axes (sometimes negative, sometimes undefined = all). */
const shapeAndAxes = arb.shape({ minRank: 0, maxRank: 4, maxDim: 9 }).chain((shape) =>
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

const expectedShape = (shape: readonly number[], axes: number[] | undefined, keepdim: boolean) => {
  const ax = axes === undefined ? [...shape.keys()] : axes.map((a) => (a < 0 ? a + shape.length : a));
  return shape.flatMap((d, i) => (ax.includes(i) ? (keepdim ? [1] : []) : [d]));
};

/** Axes for the gradient checks, from the input's rank: all, the last, or the first and last (not trailing: a permute). */
const AXES: Record<string, (rank: number) => number[] | undefined> = {
  all: () => undefined,
  last: (r) => (r === 0 ? undefined : [-1]),
  'first and last': (r) => (r < 3 ? undefined : [0, r - 1]),
};

describe('reductions: prod logsumexp var std norm all any', () => {
  for (const [name, [op, def]] of Object.entries(REDUCTIONS)) {
    it(`${name}: cpu matches the definition, webgpu matches cpu (random shapes, axes, keepdim)`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeAndAxes, fc.boolean(), fc.integer({ min: 1, max: 1e6 }), async ([shape, axes], keepdim, seed) => {
          const x = mg.rand(shape, { seed, low: name === 'prod' ? 0.5 : -2, high: name === 'prod' ? 1.5 : 2, backend: 'cpu' });
          const data = await x.data();
          const y = op(x, axes, keepdim);
          expect(y.shape).toEqual(expectedShape(shape, axes, keepdim));
          expectClose(await y.data(), groups(data, shape, axes).map(def), { rtol: 1e-10, atol: 1e-12 }, `${name} cpu`);
          await parity(
            (t) => op(t, axes, keepdim),
            [{ data, shape }],
            { rtol: 1e-4, atol: 1e-5 },
            `${name} ${JSON.stringify(shape)} ${JSON.stringify(axes)}`,
          );
          x.dispose();
          y.dispose();
        }),
        { numRuns: 12 },
      );
    });

    if (name === 'all' || name === 'any') continue;
    for (const [which, axesOf] of Object.entries(AXES)) {
      it(`${name} over ${which} axes: gradients (float64 finite differences; webgpu against cpu)`, async () => {
        const f = (x: mg.Tensor) => op(x, axesOf(x.ndim), false);
        // prod over many elements of [-2, 2] spans orders of magnitude: keep its data near 1
        const data: mg.testing.DataArbitrary | undefined = name === 'prod' ? (s) => arb.tensorData(s, { min: 0.6, max: 1.4 }) : undefined;
        const r = await checkOp(f, {
          shapes: arb.shape({ minRank: 1, maxRank: 3, maxDim: 7 }).map((s) => [s]),
          arbitraries: data,
          numRuns: 4,
          tol: { grad: { rtol: 1e-5, atol: 1e-7 } },
        });
        expect(r.gradcheck.compared).toBeGreaterThan(0);
      });
    }
  }

  it('prod: zero-size groups give 1; gradient exact with zeros (one zero, two zeros), as torch', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      expect(Array.from(await mg.zeros([0, 3], { backend }).prod(0).data())).toEqual([1, 1, 1]);
      const x = mg.tensor([2, 0, 3, 0, 0, 5, 1, 2, 3], [3, 3], { backend, requiresGrad: true });
      const y = x.prod(1);
      expect(Array.from(await y.data())).toEqual([0, 0, 6]);
      y.sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 6, 0, 0, 0, 0, 6, 3, 2]);
    }
    const r = await mg.testing.gradcheck(
      (t) => t.prod(0),
      [
        mg.tensor(
          [
            [0, 2],
            [3, 0],
            [0.5, 4],
          ],
          undefined,
          { backend: 'cpu' },
        ),
      ],
    );
    expect(r.ok).toBe(true);
  });

  it("logsumexp: stable for large values; torch's answers for -Inf rows, +Inf and NaN", async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1000, 1000, -Infinity, -Infinity, Infinity, 1, NaN, Infinity, -1000, -Infinity], [5, 2], { backend });
      expectClose(await x.logsumexp(1).data(), [1000 + Math.LN2, -Infinity, Infinity, NaN, -1000], { rtol: 1e-6 }, 'logsumexp');
      expect(await mg.zeros([0], { backend }).logsumexp().item()).toBe(-Infinity);
    }
  });

  it('var/std: correction, single elements (NaN, as torch), std gradient 0 on a constant group', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, 2, 3, 4], [4], { backend });
      expectClose(await x.var().data(), [5 / 3], { rtol: 1e-6 }, 'var');
      expectClose(await x.var(0, { correction: 0 }).data(), [1.25], { rtol: 1e-6 }, 'var c=0');
      expectClose(await x.std(undefined, { keepdim: true, correction: 2 }).data(), [Math.sqrt(2.5)], { rtol: 1e-6 }, 'std c=2');
      expect(Number.isNaN(await mg.tensor([3], [1], { backend }).var().item())).toBe(true);
      expect(await mg.tensor([Infinity, 1], [2], { backend }).var().item()).toBeNaN();
      // one-pass on the GPU: no overflow of a running sum
      expectClose(await mg.tensor([3e38, 3e38], [2], { backend }).var().data(), [0], {}, 'var of huge equal values');
      const c = mg.tensor([2, 2, 2, 1, 3, 5], [2, 3], { backend, requiresGrad: true });
      c.std(1).sum().backward();
      const s = Math.sqrt(4);
      expectClose(await c.grad!.data(), [0, 0, 0, -2 / (2 * s), 0, 2 / (2 * s)], { rtol: 1e-6 }, 'std grad');
    }
  });

  it('norm: gradient 0 at a zero vector (p = 2), ties of the max share the gradient (p = Infinity), huge values do not overflow', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const z = mg.zeros([3], { backend, requiresGrad: true });
      z.norm().backward();
      expect(Array.from(await z.grad!.data())).toEqual([0, 0, 0]);
      const t = mg.tensor([3, -3, 1], [3], { backend, requiresGrad: true });
      t.norm(Infinity).backward();
      expect(Array.from(await t.grad!.data())).toEqual([0.5, -0.5, 0]);
      expectClose(await mg.tensor([3e30, 4e30], [2], { backend }).norm().data(), [5e30], { rtol: 1e-6 }, 'no overflow in squares');
      expectClose(await mg.tensor([1e-30, 1e-30], [2], { backend }).norm(3).data(), [1e-30 * 2 ** (1 / 3)], { rtol: 1e-5 }, 'no underflow');
      expectClose(
        await mg.tensor([NaN, Infinity, 1, Infinity, 0, 0], [3, 2], { backend }).norm(2, 1).data(),
        [NaN, Infinity, 0],
        {},
        'specials',
      );
    }
  });

  it('all/any: masks of comparisons; NaN counts as nonzero; over zero elements all = 1, any = 0', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const m = mg.tensor([1, 0, 1, 1, NaN, 0], [2, 3], { backend });
      expect(await m.all(1).toArray()).toEqual([0, 0]);
      expect(await m.any(1, true).toArray()).toEqual([[1], [1]]);
      expect(await mg.tensor([NaN, 2], [2], { backend }).all().item()).toBe(1);
      expect(await mg.zeros([0, 2], { backend }).all(0).toArray()).toEqual([1, 1]);
      expect(await mg.zeros([0, 2], { backend }).any(0).toArray()).toEqual([0, 0]);
      const x = mg.randn([3], { backend, requiresGrad: true });
      expect(x.gt(0).any().requiresGrad).toBe(false);
    }
  });
});

describe('stats kernels: a thread per row and split rows agree', () => {
  afterEach(() => mg.testing.resetKernels());

  it('every op, thread vs split over 2, 32 and 256 lanes, rows of length 1 to 3000 with NaN, ±Inf and ties', async () => {
    const ops = Object.entries(REDUCTIONS).filter(([n]) => n !== 'all' && n !== 'any');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.oneof(fc.constantFrom(1, 2, 31, 33, 257, 3000), fc.integer({ min: 1, max: 600 })),
        fc.integer({ min: 1, max: 1e6 }),
        fc.boolean(),
        async (rows, len, seed, specials) => {
          const rng = new mg.HostRng(seed);
          const data = Array.from({ length: rows * len }, () => {
            const v = rng.next();
            if (specials && v < 0.01) return NaN;
            if (specials && v < 0.02) return v < 0.015 ? Infinity : -Infinity;
            return specials && v < 0.3 ? 0.5 : 0.5 + rng.next(); // ties
          });
          const x = mg.tensor(data, [rows, len], { backend: 'webgpu' });
          for (const [name, [op]] of ops) {
            const cpu = await op(mg.tensor(data, [rows, len], { backend: 'cpu' }), [1], false).data();
            for (const tpr of [1, 2, 32, 256]) {
              mg.testing.forceKernel('stats', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
              const tol = name === 'prod' ? { rtol: 1e-4, atol: 1e-30 } : { rtol: 1e-4, atol: 1e-5 };
              expectClose(await op(x, [1], false).data(), Array.from(cpu, Math.fround), tol, `${name} tpr ${tpr} [${rows}, ${len}]`);
            }
          }
          x.dispose();
        },
      ),
      { numRuns: 10 },
    );
  });

  it("prod's gradient (prefix × suffix products), thread vs split, with zeros", async () => {
    for (const [rows, len] of [
      [3, 1],
      [2, 37],
      [4, 300],
      [1, 3001],
    ]) {
      const rng = new mg.HostRng(rows * len);
      const data = Array.from({ length: rows * len }, () => (rng.next() < 0.002 ? 0 : 0.999 + 0.002 * rng.next()));
      const grad = async (backend: 'cpu' | 'webgpu') => {
        const x = mg.tensor(data, [rows, len], { backend, requiresGrad: true });
        x.prod(1).sum().backward();
        return Array.from(await x.grad!.data());
      };
      const want = (await grad('cpu')).map(Math.fround);
      for (const tpr of [1, 4, 256]) {
        mg.testing.forceKernel('stats', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
        expectClose(await grad('webgpu'), want, { rtol: 1e-4, atol: 1e-6 }, `prod grad tpr ${tpr} [${rows}, ${len}]`);
      }
    }
  });

  it('few long rows split automatically', async () => {
    const x = mg.rand([2, 5000], { seed: 5 });
    const { kernels } = await mg.profile(() => x.norm(2, 1));
    expect(kernels.map((k) => k.kernel)).toEqual(['stats:norm/split32']);
    await parity((t) => t.norm(2, 1), [{ data: await x.data(), shape: [2, 5000] }], { rtol: 1e-5, atol: 1e-5 }, 'norm of long rows');
  });
});

/** Running sums along an axis, from the definition. */
function cumsumRef(data: ArrayLike<number>, shape: readonly number[], axis: number): number[] {
  const a = axis < 0 ? axis + shape.length : axis;
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const len = shape[a];
  return Array.from(data, (_, i) => {
    const k = Math.floor(i / inner) % len;
    let s = 0;
    for (let j = 0; j <= k; j++) s += data[i - (k - j) * inner];
    return s;
  });
}

describe('cumsum', () => {
  it('cpu matches the definition, webgpu matches cpu (random shapes, every axis, negative axes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arb
          .shape({ minRank: 1, maxRank: 4, maxDim: 11 })
          .chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 }))),
        fc.integer({ min: 1, max: 1e6 }),
        async ([shape, axis], seed) => {
          const x = mg.rand(shape, { seed, low: -2, high: 2, backend: 'cpu' });
          const data = await x.data();
          expectClose(await x.cumsum(axis).data(), cumsumRef(data, shape, axis), { rtol: 1e-12, atol: 1e-12 }, 'cumsum cpu');
          await parity(
            (t) => t.cumsum(axis),
            [{ data, shape }],
            { rtol: 1e-5, atol: 1e-5 },
            `cumsum ${JSON.stringify(shape)} axis ${axis}`,
          );
          x.dispose();
        },
      ),
      { numRuns: 15 },
    );
  });

  it('gradients (float64 finite differences; webgpu against cpu), first and last axis', async () => {
    for (const axis of [0, -1]) {
      const r = await checkOp((x) => mg.cumsum(x, axis), {
        shapes: arb.shape({ minRank: 1, maxRank: 3, maxDim: 9 }).map((s) => [s]),
        numRuns: 4,
        tol: { grad: { rtol: 1e-6, atol: 1e-8 } },
      });
      expect(r.gradcheck.compared).toBeGreaterThan(0);
    }
  });

  it('a thread per line and split lines agree (forward and the reversed scan of the gradient)', async () => {
    for (const [shape, axis] of [
      [[3, 2000], 1],
      [[1, 4099], -1],
      [[2500, 3], 0],
      [[5, 7], 1],
    ] as [number[], number][]) {
      const x = mg.rand(shape, { seed: shape[0], low: -1, high: 1, backend: 'cpu' });
      const data = await x.data();
      const want = cumsumRef(data, shape, axis);
      const g = mg.rand(shape, { seed: 7, low: -1, high: 1, backend: 'cpu' });
      const gd = await g.data();
      for (const tpr of [1, 2, 32, 256]) {
        mg.testing.forceKernel('scan', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
        const xg = mg.tensor(data, shape, { backend: 'webgpu', requiresGrad: true });
        const y = xg.cumsum(axis);
        expectClose(await y.data(), want, { rtol: 1e-5, atol: 1e-4 }, `cumsum tpr ${tpr} ${JSON.stringify(shape)}`);
        y.backward(mg.tensor(gd, shape, { backend: 'webgpu' }));
        const flipped = cumsumRef(Array.from(gd).reverse(), shape, axis).reverse(); // valid: reversing all dims reverses each line
        expectClose(await xg.grad!.data(), flipped, { rtol: 1e-5, atol: 1e-4 }, `cumsum grad tpr ${tpr} ${JSON.stringify(shape)}`);
      }
      mg.testing.resetKernels();
    }
    // automatic: split on GPUs, a thread per line on CPU adapters (lavapipe), where that measured faster
    const { kernels } = await mg.profile(() => mg.zeros([2, 5000]).cumsum(1));
    const cpuLike = isCpuAdapter(mg.getBackend('webgpu').description);
    expect(kernels.map((k) => k.kernel)).toContain(cpuLike ? 'scan:cumsum' : 'scan:cumsum/split32');
  });

  it('0-d tensors, NaN and Inf propagate forward from their position', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      expect(await mg.tensor(4, [], { backend }).cumsum(0).item()).toBe(4);
      expectClose(await mg.tensor([1, NaN, 2, Infinity, 1], [5], { backend }).cumsum(0).data(), [1, NaN, NaN, NaN, NaN], {}, 'NaN');
      expectClose(await mg.tensor([1, Infinity, -1], [3], { backend }).cumsum(0).data(), [1, Infinity, Infinity], {}, 'Inf');
    }
  });
});

describe('errors name the op, the tensor and what was expected', () => {
  it('bad arguments', () => {
    const x = mg.randn([2, 3]);
    expect(() => x.norm(0)).toThrow(/norm: p must be a positive number or Infinity, got 0/);
    expect(() => x.norm(-Infinity)).toThrow(/norm: p must be a positive number/);
    expect(() => x.var(0, { correction: -1 })).toThrow(/var: correction must be a finite number >= 0, got -1/);
    expect(() => x.prod(2)).toThrow(/prod: axis 2 is out of range for a tensor of rank 2/);
    expect(() => x.logsumexp([0, 0])).toThrow(/logsumexp: axes \[0, 0\] repeat an axis/);
    expect(() => x.cumsum(undefined as never)).toThrow(/cumsum: needs an axis/);
    expect(() => x.cumsum(-3)).toThrow(/cumsum: axis -3 is out of range/);
    expect(() => mg.tensor([1], [1], { dtype: 'int32' }).std()).toThrow(/std: expects a float32 tensor, got tensor #\d+ \[1\] int32/);
  });
});
