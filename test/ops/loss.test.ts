// Cross-entropy: forward against an independent float64 loop, the fused kernels against the naive
// twin built from primitive ops (forward and gradient), gradients against finite differences (cpu
// float64 and webgpu), webgpu against cpu over random shapes (rows of length 1, primes, C up to
// 300, C = 50257 with few rows), ignored rows, reductions, dispatch counts, logits of ±80, errors.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { crossEntropy, crossEntropyNaive, type Reduction } from '../../src/ops/loss.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => {
  mg.testing.resetKernels();
});
const { arbitraries: arb, gradcheck } = mg.testing;

/** Float64 cross-entropy from the definition: per row log Σ exp(x) - x[t] (0 for ignored rows). */
function ceRef(x: ArrayLike<number>, t: ArrayLike<number>, C: number, ignore: number, reduction: Reduction): number[] {
  const rows: number[] = [];
  let count = 0;
  for (let r = 0; r < t.length; r++) {
    if (t[r] === ignore) {
      rows.push(0);
      continue;
    }
    count++;
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - m);
    rows.push(m + Math.log(s) - x[r * C + t[r]]);
  }
  const total = rows.reduce((a, b) => a + b, 0);
  return reduction === 'none' ? rows : [reduction === 'sum' ? total : total / count];
}

/** Random targets in [0, C) with about a quarter of the rows set to `ignore`. */
function targetsFor(n: number, C: number, seed: number, ignore: number): number[] {
  const rng = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (rng.next() < 0.25 ? ignore : rng.int(C)));
}

const ceShape = fc.tuple(
  arb.shape({ minRank: 0, maxRank: 2, maxDim: 6 }),
  fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 31, 33, 127, 257, 300), fc.integer({ min: 1, max: 300 })),
);

describe('crossEntropy: forward', () => {
  it('hand-computed values, ignored rows, reductions; every row ignored: mean NaN (as torch), sum 0', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(
        [
          [0, Math.log(3)],
          [5, 5],
          [1, 2],
        ],
        undefined,
        { backend },
      );
      const t = mg.tensor([1, 0, -100], [3], { backend, dtype: 'int32' });
      const rows = [-Math.log(0.75), Math.LN2, 0];
      expectClose(await crossEntropy(x, t, { reduction: 'none' }).data(), rows, { rtol: 1e-6 }, 'none');
      expectClose(await crossEntropy(x, t, { reduction: 'sum' }).data(), [rows[0] + rows[1]], { rtol: 1e-6 }, 'sum');
      const mean = crossEntropy(x, t);
      expect(mean.shape).toEqual([]);
      expectClose(await mean.data(), [(rows[0] + rows[1]) / 2], { rtol: 1e-6 }, 'mean');
      // ignoreIndex may be a valid class
      const t0 = mg.tensor([1, 0, 1], [3], { backend, dtype: 'int32' });
      expectClose(
        await crossEntropy(x, t0, { ignoreIndex: 0 }).data(),
        [(rows[0] + Math.log(1 + Math.E) - 1) / 2],
        { rtol: 1e-6 },
        'ignore 0',
      );
      const all = mg.tensor([-100, -100, -100], [3], { backend, dtype: 'int32' });
      expect(Number.isNaN(await crossEntropy(x, all).item())).toBe(true);
      expect(await crossEntropy(x, all, { reduction: 'sum' }).item()).toBe(0);
      // one class: the loss is 0; logits [C] with a 0-d target
      expect(await crossEntropy(mg.tensor([[7]], undefined, { backend }), mg.tensor([0], [1], { backend, dtype: 'int32' })).item()).toBe(0);
      expectClose(
        await crossEntropy(mg.tensor([0, Math.log(3)], [2], { backend }), mg.tensor(1, [], { backend, dtype: 'int32' })).data(),
        [-Math.log(0.75)],
        { rtol: 1e-6 },
        '0-d',
      );
    }
  });

  it('cpu matches the float64 definition; webgpu matches cpu (random shapes, reductions, threads per row)', async () => {
    await fc.assert(
      fc.asyncProperty(
        ceShape,
        fc.constantFrom<Reduction>('mean', 'sum', 'none'),
        fc.constantFrom(3, 30),
        fc.constantFrom(null, 1, 4, 32, 256),
        fc.integer({ min: 1, max: 1e6 }),
        async ([lead, C], reduction, scale, tpr, seed) => {
          mg.testing.resetKernels();
          if (tpr !== null) mg.testing.forceKernel('crossEntropy', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
          const n = lead.reduce((a, b) => a * b, 1);
          const x = mg.rand([...lead, C], { seed, low: -scale, high: scale, backend: 'cpu' });
          const xd = await x.data();
          const td = targetsFor(n, C, seed, -100);
          const t = mg.tensor(td, lead, { backend: 'cpu', dtype: 'int32' });
          expectClose(
            await crossEntropy(x, t, { reduction }).data(),
            ceRef(xd, td, C, -100, reduction),
            { rtol: 1e-12, atol: 1e-12 },
            'cpu',
          );
          const tol = { rtol: 2e-5, atol: 2e-5 * (reduction === 'sum' ? n : 1) * (1 + Math.log(C)) };
          await parity(
            (xt, tt) => crossEntropy(xt, tt, { reduction }),
            [
              { data: xd, shape: [...lead, C] },
              { data: td, shape: lead, dtype: 'int32' },
            ],
            tol,
            `${JSON.stringify(lead)} C=${C} ${reduction}`,
          );
          x.dispose();
          t.dispose();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a GPT-2 vocabulary row (C = 50257) with few rows (split over 32 threads), and logits of ±80', async () => {
    const C = 50257;
    const x = mg.rand([3, C], { seed: 7, low: -80, high: 80 });
    const xd = await x.data();
    const td = [0, 50256, 12345];
    const t = mg.tensor(td, [3], { dtype: 'int32' });
    const rows = await crossEntropy(x, t, { reduction: 'none' }).data();
    for (const v of rows) expect(Number.isFinite(v)).toBe(true);
    expectClose(rows, ceRef(xd, td, C, -100, 'none'), { rtol: 1e-5, atol: 1e-4 }, 'C=50257 ±80');
    // the gradient: softmax - onehot, finite, each row sums to 0
    const xl = mg.tensor(xd, [3, C], { requiresGrad: true });
    crossEntropy(xl, t, { reduction: 'sum' }).backward();
    const g = await xl.grad!.data();
    for (let r = 0; r < 3; r++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        expect(Number.isFinite(g[r * C + c])).toBe(true);
        s += g[r * C + c];
      }
      expect(Math.abs(s)).toBeLessThan(1e-4);
      expect(g[r * C + td[r]]).toBeLessThanOrEqual(0);
    }
  });
});

/** Loss and dL/dlogits of `f` for the given data (L = Σ loss ⊙ W, W fixed). */
async function lossAndGrad(
  f: typeof crossEntropy,
  backend: mg.BackendName,
  xd: ArrayLike<number>,
  shape: number[],
  td: number[],
  opts: { reduction: Reduction; ignoreIndex: number },
  seed: number,
) {
  const x = mg.tensor(xd, shape, { backend, requiresGrad: true });
  const t = mg.tensor(td, shape.slice(0, -1), { backend, dtype: 'int32' });
  const y = f(x, t, opts);
  const gw = mg.rand(y.shape, { seed, backend });
  y.mul(gw).sum().backward();
  const out = { y: await y.data(), g: await x.grad!.data() };
  for (const v of [x, t, y, gw]) v.dispose();
  return out;
}

describe('crossEntropy: fused kernels vs naive twin from primitive ops', () => {
  it('forward and gradient agree for each reduction on both backends ([3, 4, 11], ignored rows)', async () => {
    const shape = [3, 4, 11];
    const xd = Array.from({ length: 132 }, (_, i) => Math.sin(i * 0.77) * 5);
    const td = targetsFor(12, 11, 3, -100);
    td[0] = -100;
    td[1] = 10;
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const opts = { reduction, ignoreIndex: -100 };
        const fused = await lossAndGrad(crossEntropy, backend, xd, shape, td, opts, 5);
        const naive = await lossAndGrad(crossEntropyNaive, backend, xd, shape, td, opts, 5);
        const tol = backend === 'cpu' ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
        expectClose(fused.y, naive.y, tol, `${backend} ${reduction} forward`);
        expectClose(fused.g, naive.g, tol, `${backend} ${reduction} gradient`);
      }
    }
  });

  it('forward and gradient agree (random shapes, reductions, ignored rows, both backends)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(
          arb.shape({ minRank: 0, maxRank: 2, maxDim: 5 }),
          fc.oneof(fc.constantFrom(1, 2, 3, 7, 33), fc.integer({ min: 1, max: 80 })),
        ),
        fc.constantFrom<Reduction>('mean', 'sum', 'none'),
        fc.constantFrom(-100, 0),
        fc.integer({ min: 1, max: 1e6 }),
        fc.constantFrom<mg.BackendName>('cpu', 'webgpu'),
        async ([lead, C], reduction, ignoreIndex, seed, backend) => {
          const n = lead.reduce((a, b) => a * b, 1);
          const td = targetsFor(n, C, seed, ignoreIndex);
          if (reduction === 'mean' && td.every((v) => v === ignoreIndex)) td[0] = C - 1 === ignoreIndex ? 0 : C - 1;
          if (reduction === 'mean' && td.every((v) => v === ignoreIndex)) return; // C = 1 and ignoreIndex 0: nothing to compare
          const xd = Array.from(await mg.rand([...lead, C], { seed, low: -6, high: 6, backend: 'cpu' }).data());
          const opts = { reduction, ignoreIndex };
          const fused = await lossAndGrad(crossEntropy, backend, xd, [...lead, C], td, opts, seed + 1);
          const naive = await lossAndGrad(crossEntropyNaive, backend, xd, [...lead, C], td, opts, seed + 1);
          const tol =
            backend === 'cpu'
              ? { rtol: 1e-10, atol: 1e-12 }
              : { rtol: 1e-4, atol: 2e-5 * (reduction === 'sum' ? n : 1) * (1 + Math.log(C)) };
          expectClose(fused.y, naive.y, tol, 'forward');
          expectClose(fused.g, naive.g, backend === 'cpu' ? tol : { rtol: 1e-4, atol: 1e-5 }, 'gradient');
        },
      ),
      { numRuns: 14 },
    );
  });

  it('the fused forward is one dispatch (+ one for mean/sum), the backward one', async () => {
    const t = mg.tensor([1, 0, -100, 4], [2, 2], { dtype: 'int32' });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const x = mg.randn([2, 2, 5], { seed: 1, requiresGrad: true });
      const { result: y, kernels } = await mg.profile(() => crossEntropy(x, t, { reduction }));
      expect(kernels.map((k) => k.kernel)).toEqual(reduction === 'none' ? ['crossEntropy'] : ['crossEntropy', `crossEntropy.${reduction}`]);
      const g = mg.onesLike(y);
      const back = await mg.profile(() => y.backward(g));
      expect(back.kernels.map((k) => k.kernel)).toEqual(['crossEntropy.backward']);
    }
  });
});

describe('crossEntropy: gradients', () => {
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`${reduction}: matches finite differences (cpu float64 and webgpu), ignored rows get 0`, async () => {
      for (const backend of ['cpu', 'webgpu'] as const) {
        const x = mg.tensor(
          Array.from({ length: 4 * 6 }, (_, i) => Math.sin(i * 1.7) * 3),
          [2, 2, 6],
          { backend },
        );
        const t = mg.tensor([5, -100, 0, 3], [2, 2], { backend, dtype: 'int32' });
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-4, rtol: 2e-3 };
        expect((await gradcheck((xt, tt) => crossEntropy(xt, tt, { reduction }), [x, t], tol)).ok).toBe(true);
        const xl = mg.tensor(await x.data(), [2, 2, 6], { backend, requiresGrad: true });
        crossEntropy(xl, t, { reduction }).sum().backward();
        expect(Array.from((await xl.grad!.data()).subarray(6, 12))).toEqual([0, 0, 0, 0, 0, 0]);
        for (const v of [x, t, xl]) v.dispose();
      }
    });
  }

  it('every row ignored: the gradient is 0 (not NaN)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([3, 4], { seed: 2, backend, requiresGrad: true });
      crossEntropy(x, mg.tensor([-100, -100, -100], [3], { backend, dtype: 'int32' })).backward();
      expect(Array.from(await x.grad!.data()).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('crossEntropy: errors', () => {
  it('out-of-range targets: cpu throws naming the op and the target; webgpu at the next readback (the row is NaN)', async () => {
    const x = mg.randn([3, 4], { seed: 1, backend: 'cpu' });
    expect(() => crossEntropy(x, mg.tensor([0, 4, 1], [3], { backend: 'cpu', dtype: 'int32' }))).toThrow(
      /crossEntropy: target 4 at row 1 is out of range \[0, 4\) for logits \[3, 4\] \(and is not ignoreIndex -100\)/,
    );
    expect(() => crossEntropy(x, mg.tensor([0, 1, -1], [3], { backend: 'cpu', dtype: 'int32' }))).toThrow(
      /target -1 at row 2 is out of range/,
    );
    const xg = mg.randn([3, 4], { seed: 1 });
    const rows = crossEntropy(xg, mg.tensor([0, 4, 1], [3], { dtype: 'int32' }), { reduction: 'none' });
    await expect(rows.data()).rejects.toThrow(
      /crossEntropy: target 4 at row 1 is out of range \[0, 4\) for logits \[3, 4\] \(and is not ignoreIndex -100\)/,
    );
    const after = await rows.data(); // reported once; the values stay readable
    expect([Number.isNaN(after[0]), Number.isNaN(after[1]), Number.isNaN(after[2])]).toEqual([false, true, false]);
    await expect(crossEntropy(xg, mg.tensor([0, 1, -1], [3], { dtype: 'int32' })).item()).rejects.toThrow(
      /target -1 at row 2 is out of range/,
    );
  });

  it('bad shapes, dtypes and options name the op and the shapes', () => {
    const x = mg.randn([2, 3, 5]);
    const t = mg.tensor([0, 1, 2, 3, 4, 0], [2, 3], { dtype: 'int32' });
    expect(() => crossEntropy(x, mg.tensor([0, 1], [2], { dtype: 'int32' }))).toThrow(
      /crossEntropy: targets \[2\] must have the leading shape \[2, 3\] of logits \[2, 3, 5\]/,
    );
    expect(() => crossEntropy(x, mg.zeros([2, 3]))).toThrow(
      /crossEntropy: targets must be int32 class indices of shape \[2, 3\] or float32 probabilities of shape \[2, 3, 5\], got tensor #\d+ \[2, 3\] float32/,
    );
    expect(() => crossEntropy(mg.tensor([1, 2], [2], { dtype: 'int32' }), t)).toThrow(/crossEntropy: logits must be float32 or float16/);
    expect(() => crossEntropy(x, t, { reduction: 'avg' as Reduction })).toThrow(
      /crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'/,
    );
    expect(() => crossEntropy(x, t, { ignoreIndex: 0.5 })).toThrow(/crossEntropy: ignoreIndex must be an integer, got 0.5/);
    expect(() => crossEntropy(mg.tensor(1, []), t)).toThrow(/crossEntropy: logits must have a class dim/);
  });
});
