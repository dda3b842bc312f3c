// Dropout: the keep-mask against an independent evaluation of the counter-based stream, identical
// masks on cpu and webgpu, the fused kernel against the naive twin (rand >= p, mul), gradients
// against finite differences (cpu float64 and webgpu), the mask regenerated (not saved) in backward,
// dispatch counts, the identity and p = 1 cases, statistics, errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { dropout, dropoutNaive } from '../../src/ops/dropout.js';
import { streamKey, uniformAt } from '../../src/ops/random.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

/** Float64 dropout from the definition: x_i / (1 - p) where uniform(seed, i) >= p, else 0. */
function dropRef(x: ArrayLike<number>, p: number, seed: number): number[] {
  const key = streamKey(seed);
  return Array.from(x, (v, i) => (uniformAt(key, i) >= p ? v / (1 - p) : 0));
}

describe('dropout: forward', () => {
  it('cpu matches the definition; webgpu draws the identical mask (random shapes, p, seeds)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arb.shape({ minRank: 0, maxRank: 4, maxDim: 9 }),
        fc.constantFrom(0.1, 0.25, 0.5, 0.9, 1e-3, 0.999),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        async (shape, p, seed) => {
          const x = mg.rand(shape, { seed: 1, low: 0.5, high: 2, backend: 'cpu' }); // nonzero: zeros in y mark dropped elements
          const xd = await x.data();
          const ref = dropRef(xd, p, seed);
          const yc = await dropout(x, p, { seed }).data();
          expectClose(yc, ref, { rtol: 1e-14, atol: 0 }, 'cpu');
          const xg = mg.tensor(xd, shape);
          const yg = await dropout(xg, p, { seed }).data();
          expect(Array.from(yg, (v) => v === 0)).toEqual(Array.from(yc, (v) => v === 0));
          expectClose(yg, yc, { rtol: 1e-6, atol: 0 }, 'webgpu');
          for (const t of [x, xg]) t.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps about 1 - p of the elements and preserves the mean; seeds give different masks', async () => {
    const x = mg.ones([200_000]);
    for (const p of [0.1, 0.5, 0.8]) {
      const d = await dropout(x, p, { seed: 42 }).data();
      const kept = Array.from(d).filter((v) => v !== 0).length / d.length;
      expect(Math.abs(kept - (1 - p))).toBeLessThan(0.005);
      expect(Math.abs(Array.from(d).reduce((a, b) => a + b, 0) / d.length - 1)).toBeLessThan(0.02);
    }
    const a = await dropout(x, 0.5, { seed: 1 }).data();
    const b = await dropout(x, 0.5, { seed: 2 }).data();
    const c = await dropout(x, 0.5, { seed: 1 }).data();
    expect(Array.from(a)).toEqual(Array.from(c));
    expect(Array.from(a).filter((v, i) => v !== b[i]).length).toBeGreaterThan(50_000);
    // without a seed: the global sequence (mg.manualSeed makes it reproducible)
    mg.manualSeed(7);
    const u1 = await dropout(x, 0.5).data();
    const u2 = await dropout(x, 0.5).data();
    mg.manualSeed(7);
    expect(Array.from(await dropout(x, 0.5).data())).toEqual(Array.from(u1));
    expect(Array.from(u1)).not.toEqual(Array.from(u2));
  });

  it('p = 0 or training = false returns x itself (no dispatch); p = 1 gives zeros and zero gradients', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([3, 4], { seed: 1, backend, requiresGrad: true });
      const id = await mg.profile(() => [dropout(x, 0, { seed: 1 }), dropout(x, 0.5, { seed: 1, training: false })], backend);
      expect(id.result[0]).toBe(x);
      expect(id.result[1]).toBe(x);
      expect(id.kernels).toEqual([]);
      const y = dropout(x, 1, { seed: 3 });
      expect(Array.from(await y.data()).every((v) => v === 0)).toBe(true);
      y.sum().backward();
      expect(Array.from(await x.grad!.data()).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('dropout: fused kernel vs naive twin, gradients', () => {
  it('forward and gradient agree with rand(seed) >= p, mul (both backends)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const p of [0.1, 0.25, 0.5, 0.9]) {
        const out = [];
        for (const f of [dropout, dropoutNaive]) {
          const x = mg.randn([5, 37], { seed: 3, backend, requiresGrad: true });
          const w = mg.randn([5, 37], { seed: 4, backend });
          const y = f(x, p, { seed: 99 });
          y.mul(w).sum().backward();
          out.push({ y: await y.data(), g: await x.grad!.data() });
        }
        const tol = backend === 'cpu' ? { rtol: 1e-14, atol: 0 } : { rtol: 1e-6, atol: 1e-7 };
        expectClose(out[0].y, out[1].y, tol, `${backend} p=${p} forward`);
        expectClose(out[0].g, out[1].g, tol, `${backend} p=${p} gradient`);
      }
    }
  });

  it('matches finite differences (cpu float64 and webgpu)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.randn([4, 9], { seed: 5, backend });
      const tol = backend === 'cpu' ? { atol: 1e-8, rtol: 1e-7 } : { atol: 1e-4, rtol: 1e-3 };
      expect((await gradcheck((t) => dropout(t, 0.3, { seed: 1234 }), [x], tol)).ok).toBe(true);
    }
  });

  it('one dispatch forward, one backward, and no saved mask: the backward regenerates it from the seed', async () => {
    const x = mg.randn([6, 7], { seed: 1, requiresGrad: true });
    const f = await mg.profile(() => dropout(x, 0.4, { seed: 5 }));
    expect(f.kernels.map((k) => k.kernel)).toEqual(['dropout']);
    expect(f.result.node!.saved).toEqual([]);
    const g = mg.randn([6, 7], { seed: 2 });
    const b = await mg.profile(() => f.result.backward(g));
    expect(b.kernels.map((k) => k.kernel)).toEqual(['dropout.backward']);
    // dx = g·mask/(1 - p): zero exactly where y is zero
    const [y, gx, gd] = await Promise.all([f.result.data(), x.grad!.data(), g.data()]);
    expectClose(
      gx,
      Array.from(gd, (v, i) => (y[i] === 0 ? 0 : v / 0.6)),
      { rtol: 1e-6 },
      'dx',
    );
  });
});

describe('dropout: errors', () => {
  it('p outside [0, 1], non-float input and a non-integer seed name the op', () => {
    const x = mg.randn([2, 3]);
    expect(() => dropout(x, 1.5)).toThrow(/dropout: p must be a probability in \[0, 1\], got 1.5 \(for tensor #\d+ \[2, 3\] float32\)/);
    expect(() => dropout(x, -0.1)).toThrow(/dropout: p must be a probability in \[0, 1\], got -0.1/);
    expect(() => dropout(x, NaN)).toThrow(/dropout: p must be a probability in \[0, 1\], got NaN/);
    expect(() => dropout(mg.tensor([1, 2], [2], { dtype: 'int32' }), 0.5)).toThrow(
      /dropout: expects a float32 or float16 tensor, got tensor #\d+ \[2\] int32/,
    );
    expect(() => dropout(x, 0.5, { seed: 1.5 })).toThrow(/dropout: seed must be an integer, got 1.5/);
  });
});
