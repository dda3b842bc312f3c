// LayerNorm / RMSNorm: forward against an independent float64 loop, the fused kernels against the
// naive twins built from primitive ops (forward and gradients of x, weight, bias), gradients
// against finite differences (cpu float64 and webgpu), webgpu against cpu over random shapes
// (rows of length 1, primes, up to ~300, one long row), dispatch counts, stability, errors.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { layerNorm, layerNormNaive, rmsNorm, rmsNormNaive } from '../../src/ops/norm.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => {
  mg.testing.resetKernels();
});
const { arbitraries: arb, gradcheck } = mg.testing;

/** Float64 LayerNorm over the last dim, from the definition (biased variance). */
function lnRef(x: ArrayLike<number>, C: number, w: ArrayLike<number> | null, b: ArrayLike<number> | null, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / C; r++) {
    const row = Array.from({ length: C }, (_, c) => x[r * C + c]);
    const mu = row.reduce((s, v) => s + v, 0) / C;
    const va = row.reduce((s, v) => s + (v - mu) ** 2, 0) / C;
    row.forEach((v, c) => out.push(((v - mu) / Math.sqrt(va + eps)) * (w ? w[c] : 1) + (b ? b[c] : 0)));
  }
  return out;
}

/** Float64 RMSNorm over the last dim. */
function rmsRef(x: ArrayLike<number>, C: number, w: ArrayLike<number> | null, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / C; r++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[r * C + c] ** 2 / C;
    for (let c = 0; c < C; c++) out.push((x[r * C + c] / Math.sqrt(ms + eps)) * (w ? w[c] : 1));
  }
  return out;
}

/** Leading dims (rank 0-2) and a row length: 1, primes, powers of two ± 1, or anything up to 300. */
const normShape = fc.tuple(
  arb.shape({ minRank: 0, maxRank: 2, maxDim: 6 }),
  fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 31, 32, 33, 127, 128, 257, 300), fc.integer({ min: 1, max: 300 })),
);

type Variant = 'wb' | 'w' | 'none';

describe('layerNorm / rmsNorm: forward', () => {
  it('hand-computed values', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(
        [
          [1, 2, 3, 4],
          [5, 7, 11, 13],
        ],
        undefined,
        { backend },
      );
      const w = mg.tensor([1, 2, 3, 4], [4], { backend });
      const b = mg.tensor([0.5, 0, 0, -1], [4], { backend });
      // row 0: μ = 2.5, var = 1.25
      const s = 1 / Math.sqrt(1.25 + 1e-5);
      const row0 = [-1.5 * s + 0.5, -0.5 * s * 2, 0.5 * s * 3, 1.5 * s * 4 - 1];
      expectClose((await layerNorm(x, w, b).data()).subarray(0, 4), row0, { rtol: 1e-5 }, 'layerNorm');
      // rms of row 0: √(30/4)
      const r = 1 / Math.sqrt(7.5 + 1e-6);
      expectClose((await rmsNorm(x, w).data()).subarray(0, 4), [r, 4 * r, 9 * r, 16 * r], { rtol: 1e-5 }, 'rmsNorm');
      // a row of length 1 normalises to 0 (LayerNorm: y = b) and to sign(x)·(almost 1) (RMSNorm)
      const one = mg.tensor([[3], [-2]], undefined, { backend });
      expect(Array.from(await layerNorm(one, null, mg.tensor([0.25], [1], { backend })).data())).toEqual([0.25, 0.25]);
      expectClose(await rmsNorm(one).data(), [3 / Math.sqrt(9 + 1e-6), -2 / Math.sqrt(4 + 1e-6)], { rtol: 1e-6 }, 'rms C=1');
    }
  });

  it('cpu matches the float64 definition; webgpu matches cpu (random shapes, with and without affine, threads per row)', async () => {
    await fc.assert(
      fc.asyncProperty(
        normShape,
        fc.constantFrom<Variant>('wb', 'w', 'none'),
        fc.constantFrom(null, 1, 4, 32, 256),
        fc.integer({ min: 1, max: 1e6 }),
        async ([lead, C], variant, tpr, seed) => {
          mg.testing.resetKernels();
          if (tpr !== null) mg.testing.forceKernel('norm', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
          const shape = [...lead, C];
          const x = mg.randn(shape, { seed, mean: 0.5, std: 2, backend: 'cpu' });
          const w = mg.randn([C], { seed: seed + 1, backend: 'cpu' });
          const b = mg.randn([C], { seed: seed + 2, backend: 'cpu' });
          const [xd, wd, bd] = await Promise.all([x.data(), w.data(), b.data()]);
          const W = variant === 'none' ? null : wd;
          const Bv = variant === 'wb' ? bd : null;
          expectClose(await layerNorm(x, W && w, Bv && b).data(), lnRef(xd, C, W, Bv, 1e-5), { rtol: 1e-12, atol: 1e-12 }, 'layerNorm cpu');
          expectClose(await rmsNorm(x, W && w).data(), rmsRef(xd, C, W, 1e-6), { rtol: 1e-12, atol: 1e-12 }, 'rmsNorm cpu');
          const inputs = [
            { data: xd, shape },
            { data: wd, shape: [C] },
            { data: bd, shape: [C] },
          ];
          const tol = { rtol: 1e-4, atol: 2e-5 * Math.sqrt(C) };
          await parity(
            (xt, wt, bt) => layerNorm(xt, variant === 'none' ? null : wt, variant === 'wb' ? bt : null),
            inputs,
            tol,
            `layerNorm ${JSON.stringify(shape)} ${variant}`,
          );
          await parity(
            (xt, wt) => rmsNorm(xt, variant === 'none' ? null : wt),
            inputs.slice(0, 2),
            tol,
            `rmsNorm ${JSON.stringify(shape)} ${variant}`,
          );
          for (const t of [x, w, b]) t.dispose();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a long row (C = 4099, split over 32 threads), many rows (70000), stability at large offsets and ±80', async () => {
    const long = mg.randn([2, 4099], { seed: 3, std: 3 });
    const ld = await long.data();
    expectClose(await layerNorm(long).data(), lnRef(ld, 4099, null, null, 1e-5), { rtol: 1e-4, atol: 1e-4 }, 'long layerNorm');
    expectClose(await rmsNorm(long).data(), rmsRef(ld, 4099, null, 1e-6), { rtol: 1e-4, atol: 1e-4 }, 'long rmsNorm');
    const many = mg.rand([70_000, 2], { seed: 4, low: -3, high: 3 });
    const md = await many.data();
    expectClose(await layerNorm(many).data(), lnRef(md, 2, null, null, 1e-5), { rtol: 1e-4, atol: 1e-3 }, 'many rows');
    // x = 1000 + small: the two-pass variance keeps the f32 result accurate (E[x²] - μ² would not)
    const off = mg.tensor(
      Array.from({ length: 64 }, (_, i) => 1000 + Math.sin(i)),
      [1, 64],
    );
    expectClose(await layerNorm(off).data(), lnRef(await off.data(), 64, null, null, 1e-5), { rtol: 1e-3, atol: 2e-3 }, 'offset 1000');
    const big = mg.rand([3, 97], { seed: 5, low: -80, high: 80 });
    const bdat = await big.data();
    for (const [y, ref] of [
      [layerNorm(big), lnRef(bdat, 97, null, null, 1e-5)],
      [rmsNorm(big), rmsRef(bdat, 97, null, 1e-6)],
    ] as const) {
      const d = await y.data();
      for (const v of d) expect(Number.isFinite(v)).toBe(true);
      expectClose(d, ref, { rtol: 1e-4, atol: 1e-5 }, '±80');
    }
  });
});

describe('layerNorm / rmsNorm: fused kernels vs naive twins from primitive ops', () => {
  it('forward and gradients of x, weight, bias agree (random shapes, both backends)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(
          arb.shape({ minRank: 0, maxRank: 2, maxDim: 5 }),
          fc.oneof(fc.constantFrom(1, 2, 3, 7, 33), fc.integer({ min: 1, max: 70 })),
        ),
        fc.constantFrom<Variant>('wb', 'w', 'none'),
        fc.integer({ min: 1, max: 1e6 }),
        fc.constantFrom<mg.BackendName>('cpu', 'webgpu'),
        async ([lead, C], variant, seed, backend) => {
          const shape = [...lead, C];
          const run = async (kind: 'ln' | 'rms', fused: boolean) => {
            const x = mg.randn(shape, { seed, std: 2, backend, requiresGrad: true });
            const w = mg.randn([C], { seed: seed + 1, backend, requiresGrad: true });
            const b = mg.randn([C], { seed: seed + 2, backend, requiresGrad: true });
            const gw = mg.randn(shape, { seed: seed + 3, backend });
            const W = variant === 'none' ? null : w;
            const B = variant === 'wb' ? b : null;
            const y = kind === 'ln' ? (fused ? layerNorm : layerNormNaive)(x, W, B) : (fused ? rmsNorm : rmsNormNaive)(x, W);
            y.mul(gw).sum().backward();
            const out = {
              y: await y.data(),
              gx: await x.grad!.data(),
              gw: W ? await w.grad!.data() : [],
              gb: B && kind === 'ln' ? await b.grad!.data() : [],
            };
            for (const t of [x, w, b, gw, y]) t.dispose();
            return out;
          };
          for (const kind of ['ln', 'rms'] as const) {
            const f = await run(kind, true);
            const n = await run(kind, false);
            // webgpu: the two compute in float32 in different orders; the gradient sums run over rows
            const tol = backend === 'cpu' ? { rtol: 1e-9, atol: 1e-10 } : { rtol: 2e-4, atol: 1e-4 * Math.sqrt(C) };
            const gtol = backend === 'cpu' ? tol : { rtol: 2e-4, atol: 2e-4 * Math.sqrt(C * (f.y.length / C)) };
            expectClose(f.y, n.y, tol, `${kind} forward`);
            expectClose(f.gx, n.gx, tol, `${kind} dx`);
            expectClose(f.gw, n.gw, gtol, `${kind} dweight`);
            expectClose(f.gb, n.gb, gtol, `${kind} dbias`);
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('fused forward is one dispatch; backward is dx + one params dispatch (none when only x needs grad)', async () => {
    const leaves = () => [
      mg.randn([4, 6, 10], { seed: 1, requiresGrad: true }),
      mg.randn([10], { seed: 2, requiresGrad: true }),
      mg.randn([10], { seed: 3, requiresGrad: true }),
    ];
    const g = mg.randn([4, 6, 10], { seed: 4 });
    let [x, w, b] = leaves();
    const ln = await mg.profile(() => layerNorm(x, w, b));
    expect(ln.kernels.map((k) => k.kernel)).toEqual(['layerNorm']);
    const lnB = await mg.profile(() => ln.result.backward(g));
    expect(lnB.kernels.map((k) => k.kernel)).toEqual(['layerNorm.backward', 'layerNorm.params']);
    [x, w, b] = leaves();
    const rms = await mg.profile(() => rmsNorm(x, w));
    expect(rms.kernels.map((k) => k.kernel)).toEqual(['rmsNorm']);
    const rmsB = await mg.profile(() => rms.result.backward(g));
    expect(rmsB.kernels.map((k) => k.kernel)).toEqual(['rmsNorm.backward', 'rmsNorm.params']);
    [x, w, b] = leaves();
    const frozen = mg.randn([10], { seed: 5 });
    const only = layerNorm(x, frozen, frozen);
    expect((await mg.profile(() => only.backward(g))).kernels.map((k) => k.kernel)).toEqual(['layerNorm.backward']);
    // the naive twin takes many dispatches
    expect((await mg.profile(() => layerNormNaive(x, w, b))).kernels.length).toBeGreaterThan(5);
  });
});

describe('layerNorm / rmsNorm: gradients', () => {
  for (const variant of ['wb', 'w', 'none'] as const) {
    it(`match finite differences (${variant}; cpu float64 and webgpu)`, async () => {
      for (const backend of ['cpu', 'webgpu'] as const) {
        const x = mg.tensor(
          Array.from({ length: 3 * 7 }, (_, i) => Math.sin(i * 1.3) * 2 + (i % 3)),
          [3, 7],
          { backend },
        );
        const w = mg.tensor(
          Array.from({ length: 7 }, (_, i) => 0.5 + Math.cos(i)),
          [7],
          { backend },
        );
        const b = mg.tensor(
          Array.from({ length: 7 }, (_, i) => i / 7 - 0.3),
          [7],
          { backend },
        );
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 2e-4, rtol: 2e-3 };
        const W = (t: mg.Tensor) => (variant === 'none' ? null : t);
        const B = (t: mg.Tensor) => (variant === 'wb' ? t : null);
        expect((await gradcheck((xt, wt, bt) => layerNorm(xt, W(wt), B(bt)), [x, w, b], tol)).ok).toBe(true);
        expect((await gradcheck((xt, wt) => rmsNorm(xt, W(wt)), [x, w], tol)).ok).toBe(true);
        for (const t of [x, w, b]) t.dispose();
      }
    });
  }
});

describe('layerNorm / rmsNorm: errors', () => {
  it('bad shapes and dtypes name the op and the shapes', () => {
    const x = mg.randn([2, 5]);
    expect(() => layerNorm(x, mg.randn([4]))).toThrow(/layerNorm: weight must have shape \[5\] \(the last dim of x \[2, 5\]\), got \[4\]/);
    expect(() => layerNorm(x, null, mg.randn([5, 1]))).toThrow(/layerNorm: bias must have shape \[5\].*got \[5, 1\]/);
    expect(() => rmsNorm(x, mg.randn([2, 5]))).toThrow(/rmsNorm: weight must have shape \[5\]/);
    expect(() => rmsNorm(mg.tensor([1, 2], [2], { dtype: 'int32' }))).toThrow(
      /rmsNorm: expects a float32 or float16 tensor, got tensor #\d+ \[2\] int32/,
    );
    expect(() => layerNorm(mg.tensor(3, []))).toThrow(/layerNorm: normalises over the last dim; got a 0-d tensor/);
    expect(() => layerNorm(x, null, null, -1)).toThrow(/layerNorm: eps must be a non-negative number, got -1/);
  });
});
