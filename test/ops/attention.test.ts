// Attention: both fused paths ('flash': one kernel; 'softmax': matmulT -> scaledMaskedSoftmax ->
// matmul) and scaledMaskedSoftmax on its own, against an independent float64 loop, against the naive
// twin from primitive ops (forward and gradients of q, k, v), against finite differences (cpu float64
// and webgpu), webgpu against cpu over random shapes and masks, fully masked rows (zeros, not NaN),
// dispatch counts, large scores, errors.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { attention, attentionNaive, scaledMaskedSoftmax, type AttentionImpl } from '../../src/ops/attention.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

afterEach(() => {
  mg.testing.resetKernels();
});

interface Case {
  B: number;
  H: number;
  tq: number;
  tk: number;
  hs: number;
  causal: boolean;
  pad: number[] | null;
}

/** Key j visible to query i (bottom-right aligned causal cut, key padding). */
const sees = (c: Case, b: number, i: number, j: number): boolean => (!c.causal || j <= i + c.tk - c.tq) && c.pad?.[b * c.tk + j] !== 0;

/** Float64 attention from the definition; a query row with no visible key gives zeros. */
function attRef(c: Case, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, scale = 1 / Math.sqrt(c.hs)): number[] {
  const out: number[] = [];
  for (let b = 0; b < c.B; b++) {
    for (let h = 0; h < c.H; h++) {
      const bh = b * c.H + h;
      for (let i = 0; i < c.tq; i++) {
        const s: number[] = [];
        for (let j = 0; j < c.tk; j++) {
          let d = 0;
          for (let e = 0; e < c.hs; e++) d += q[(bh * c.tq + i) * c.hs + e] * k[(bh * c.tk + j) * c.hs + e];
          s.push(sees(c, b, i, j) ? d * scale : -Infinity);
        }
        const m = Math.max(...s);
        const p = s.map((x) => (m === -Infinity ? 0 : Math.exp(x - m)));
        const z = p.reduce((a, x) => a + x, 0);
        for (let e = 0; e < c.hs; e++) {
          let acc = 0;
          for (let j = 0; j < c.tk; j++) acc += z === 0 ? 0 : (p[j] / z) * v[(bh * c.tk + j) * c.hs + e];
          out.push(acc);
        }
      }
    }
  }
  return out;
}

/** A case: small sizes that include 1, primes and non-multiples of 4 (hs 3/5/6 take the 'softmax' path). */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    B: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 3 }),
    tq: arb.dimSize(17),
    tk: arb.dimSize(17),
    hs: fc.constantFrom(1, 3, 4, 5, 8, 32),
    causal: fc.boolean(),
    padded: fc.boolean(),
    padSeed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ padded, padSeed, ...c }) => {
    const rng = new mg.HostRng(padSeed);
    // about a third of the keys padded; the last batch entry sometimes fully padded
    const pad = padded
      ? Array.from({ length: c.B * c.tk }, (_, i) => (rng.next() < 0.35 || (padSeed % 3 === 0 && i >= (c.B - 1) * c.tk) ? 0 : 1))
      : null;
    return { ...c, pad };
  });

function makeQKV(c: Case, seed: number, backend: mg.BackendName, requiresGrad = false, std = 1) {
  const q = mg.randn([c.B, c.H, c.tq, c.hs], { seed, std, backend, requiresGrad });
  const k = mg.randn([c.B, c.H, c.tk, c.hs], { seed: seed + 1, std, backend, requiresGrad });
  const v = mg.randn([c.B, c.H, c.tk, c.hs], { seed: seed + 2, backend, requiresGrad });
  const pad = c.pad ? mg.tensor(c.pad, [c.B, c.tk], { backend }) : undefined;
  return { q, k, v, pad };
}

const IMPLS: AttentionImpl[] = ['flash', 'softmax'];
/**
 * Head sizes the tests run 'flash' at. Each head size compiles its own flash pipelines, which takes
 * seconds on lavapipe (tens of seconds for hs = 32), so the tests keep to two small ones; the code
 * path is the same for every head size.
 */
const flashTested = (hs: number): boolean => hs === 4 || hs === 8;

describe('attention: forward', () => {
  it('hand-computed: one key gives v; equal scores average v; causal row 0 sees key 0 only', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const impl of IMPLS) {
        const q = mg.tensor([1, 0, 0, 0, 0, 1, 0, 0], [1, 1, 2, 4], { backend });
        const k = mg.tensor([0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 2, 4], { backend });
        const v = mg.tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 2, 4], { backend });
        expectClose(await attention(q, k, v, { impl }).data(), [3, 4, 5, 6, 3, 4, 5, 6], { rtol: 1e-6 }, `${impl} average`);
        expectClose(await attention(q, k, v, { impl, causal: true }).data(), [1, 2, 3, 4, 3, 4, 5, 6], { rtol: 1e-6 }, `${impl} causal`);
        const pad = mg.tensor([0, 1], [1, 2], { backend });
        expectClose(await attention(q, k, v, { impl, keyPadding: pad }).data(), [5, 6, 7, 8, 5, 6, 7, 8], { rtol: 1e-6 }, `${impl} pad`);
      }
    }
  });

  it('cpu matches the float64 definition; webgpu matches cpu (random shapes, causal, padding; both paths)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
        const { q, k, v, pad } = makeQKV(c, seed, 'cpu');
        const [qd, kd, vd] = await Promise.all([q.data(), k.data(), v.data()]);
        const ref = attRef(c, qd, kd, vd);
        const inputs = [
          { data: qd, shape: q.shape as number[] },
          { data: kd, shape: k.shape as number[] },
          { data: vd, shape: v.shape as number[] },
          { data: c.pad ?? [0], shape: c.pad ? [c.B, c.tk] : [1] },
        ];
        for (const impl of IMPLS) {
          if (impl === 'flash' && !flashTested(c.hs)) continue;
          expectClose(
            await attention(q, k, v, { causal: c.causal, keyPadding: pad, impl }).data(),
            ref,
            { rtol: 1e-11, atol: 1e-12 },
            `${impl} cpu`,
          );
          const f = (qt: mg.Tensor, kt: mg.Tensor, vt: mg.Tensor, pt: mg.Tensor) =>
            attention(qt, kt, vt, { causal: c.causal, keyPadding: c.pad ? pt : undefined, impl });
          await parity(f, inputs, { rtol: 1e-4, atol: 2e-5 * Math.sqrt(c.hs) }, `${impl} ${JSON.stringify(c)}`);
        }
        expectClose(
          await attentionNaive(q, k, v, { causal: c.causal, keyPadding: pad }).data(),
          ref,
          { rtol: 1e-11, atol: 1e-12 },
          'naive cpu',
        );
        for (const t of [q, k, v, pad]) t?.dispose();
      }),
      { numRuns: 20 },
    );
  });

  it('the GPT default size (B=8, nh=4, T=64, causal) matches float64: default path at hs=32, flash at hs=8', async () => {
    for (const [hs, impl] of [
      [32, undefined],
      [8, 'flash'],
    ] as const) {
      const c: Case = { B: 8, H: 4, tq: 64, tk: 64, hs, causal: true, pad: null };
      const { q, k, v } = makeQKV(c, 11, 'webgpu');
      const ref = attRef(c, await q.data(), await k.data(), await v.data());
      expectClose(await attention(q, k, v, { causal: true, impl }).data(), ref, { rtol: 1e-4, atol: 2e-5 }, `hs=${hs} ${impl}`);
    }
  });

  it('a fully masked query row gives zeros, not NaN, and zero gradients (both paths, both backends)', async () => {
    // Tq > Tk with causal: query 0 sees no key (bottom-right alignment); batch 1 is fully padded
    const c: Case = { B: 2, H: 2, tq: 5, tk: 3, hs: 4, causal: true, pad: [1, 1, 0, 0, 0, 0] };
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const impl of IMPLS) {
        const { q, k, v, pad } = makeQKV(c, 3, backend, true);
        const o = attention(q, k, v, { causal: true, keyPadding: pad, impl });
        const d = await o.data();
        expect(Array.from(d).every((x) => Number.isFinite(x))).toBe(true);
        expectClose(d, attRef(c, await q.data(), await k.data(), await v.data()), { rtol: 1e-4, atol: 1e-6 }, `${backend} ${impl}`);
        expect(Array.from(d.subarray(0, 4))).toEqual([0, 0, 0, 0]); // b0 h0 query 0
        expect(Array.from(d.subarray(40)).every((x) => x === 0)).toBe(true); // batch 1
        o.mul(mg.randn(o.shape, { seed: 9, backend }))
          .sum()
          .backward();
        for (const t of [q, k, v]) expect(Array.from(await t.grad!.data()).every((x) => Number.isFinite(x))).toBe(true);
        const gq = await q.grad!.data();
        expect(Array.from(gq.subarray(0, 4))).toEqual([0, 0, 0, 0]);
        expect(Array.from(gq.subarray(40)).every((x) => x === 0)).toBe(true);
        expect(Array.from((await v.grad!.data()).subarray(24)).every((x) => x === 0)).toBe(true);
      }
    }
  });

  it('large scores (q·k·scale up to ±80) stay finite and match float64', async () => {
    const c: Case = { B: 1, H: 2, tq: 9, tk: 13, hs: 8, causal: false, pad: null };
    const { q, k, v } = makeQKV(c, 5, 'webgpu', false, 4.5);
    const ref = attRef(c, await q.data(), await k.data(), await v.data());
    for (const impl of IMPLS) {
      const d = await attention(q, k, v, { impl }).data();
      expect(Array.from(d).every((x) => Number.isFinite(x))).toBe(true);
      expectClose(d, ref, { rtol: 1e-3, atol: 1e-4 }, impl);
    }
  });
});

describe('attention: fused paths vs naive twin from primitive ops', () => {
  it('forward and gradients of q, k, v agree (random shapes and masks, both backends)', async () => {
    await fc.assert(
      fc.asyncProperty(
        caseArb,
        fc.integer({ min: 1, max: 1e6 }),
        fc.constantFrom<mg.BackendName>('cpu', 'webgpu'),
        async (c, seed, backend) => {
          const run = async (f: (q: mg.Tensor, k: mg.Tensor, v: mg.Tensor, p?: mg.Tensor) => mg.Tensor) => {
            const { q, k, v, pad } = makeQKV(c, seed, backend, true);
            const o = f(q, k, v, pad);
            const w = mg.randn(o.shape, { seed: seed + 7, backend });
            o.mul(w).sum().backward();
            const out = { o: await o.data(), gq: await q.grad!.data(), gk: await k.grad!.data(), gv: await v.grad!.data() };
            for (const t of [q, k, v, pad, o, w]) t?.dispose();
            return out;
          };
          const naive = await run((q, k, v, pad) => attentionNaive(q, k, v, { causal: c.causal, keyPadding: pad }));
          for (const impl of IMPLS) {
            if (impl === 'flash' && !flashTested(c.hs)) continue;
            const fused = await run((q, k, v, pad) => attention(q, k, v, { causal: c.causal, keyPadding: pad, impl }));
            const tol =
              backend === 'cpu' ? { rtol: 1e-9, atol: 1e-11 } : { rtol: 1e-4, atol: 3e-5 * Math.sqrt(c.hs * Math.max(c.tq, c.tk)) };
            for (const key of ['o', 'gq', 'gk', 'gv'] as const)
              expectClose(fused[key], naive[key], tol, `${impl} ${key} ${JSON.stringify(c)}`);
          }
        },
      ),
      { numRuns: 14, endOnFailure: true },
    );
  });

  it('dispatches: the default path is the head product, one fused softmax, the head product; flash is one kernel forward and two backward', async () => {
    const c: Case = { B: 2, H: 2, tq: 8, tk: 8, hs: 8, causal: true, pad: [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1] };
    const { q, k, v, pad } = makeQKV(c, 1, 'webgpu', true);
    const g = mg.randn([2, 2, 8, 8], { seed: 5 });
    const s = await mg.profile(() => attention(q, k, v, { causal: true, keyPadding: pad }));
    const names = s.kernels.map((x) => x.kernel);
    expect(names.length).toBe(3);
    expect(names[0]).toMatch(/^attention\.product/);
    expect(names[1]).toBe('scaledMaskedSoftmax');
    expect(names[2]).toMatch(/^attention\.product/);
    const sb = await mg.profile(() => s.result.backward(g));
    expect(sb.kernels.filter((x) => x.kernel === 'scaledMaskedSoftmax.backward').length).toBe(1);
    expect(sb.kernels.length).toBe(5);
    const fresh = makeQKV(c, 1, 'webgpu', true); // leaves without .grad: no accumulation dispatches
    const f = await mg.profile(() => attention(fresh.q, fresh.k, fresh.v, { causal: true, keyPadding: pad, impl: 'flash' }));
    expect(f.kernels.map((x) => x.kernel)).toEqual(['attention.flash']);
    const fb = await mg.profile(() => f.result.backward(g));
    expect(fb.kernels.map((x) => x.kernel)).toEqual(['attention.flash.bwd_q', 'attention.flash.bwd_kv']);
    // flash made the default for every call; hs = 6 (not a multiple of 4) falls back to the softmax path
    mg.testing.forceKernel('attention', 'flash');
    expect((await mg.profile(() => attention(q, k, v))).kernels.map((x) => x.kernel)).toEqual(['attention.flash']);
    const q6 = mg.randn([1, 1, 3, 6], { seed: 2 });
    expect((await mg.profile(() => attention(q6, q6, q6))).kernels.map((x) => x.kernel)).toContain('scaledMaskedSoftmax');
  });
});

describe('attention: gradients', () => {
  for (const impl of IMPLS) {
    for (const causal of [false, true]) {
      it(`${impl}${causal ? ', causal' : ''}, with key padding: matches finite differences (cpu float64 and webgpu)`, async () => {
        const c: Case = { B: 2, H: 1, tq: 3, tk: 4, hs: 4, causal, pad: [1, 0, 1, 1, 1, 1, 1, 0] };
        for (const backend of ['cpu', 'webgpu'] as const) {
          const { q, k, v, pad } = makeQKV(c, 21, backend);
          const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 2e-4, rtol: 3e-3 };
          const r = await gradcheck((qt, kt, vt, pt) => attention(qt, kt, vt, { causal, keyPadding: pt, impl }), [q, k, v, pad!], {
            ...tol,
            wrt: [0, 1, 2],
          });
          expect(r.ok).toBe(true);
          for (const t of [q, k, v, pad]) t?.dispose();
        }
      });
    }
  }

  it('a custom scale and Tq != Tk (causal bottom-right) match finite differences', async () => {
    const c: Case = { B: 1, H: 2, tq: 2, tk: 5, hs: 4, causal: true, pad: null };
    for (const impl of IMPLS) {
      const { q, k, v } = makeQKV(c, 8, 'webgpu');
      const r = await gradcheck((qt, kt, vt) => attention(qt, kt, vt, { causal: true, scale: 0.3, impl }), [q, k, v], {
        atol: 2e-4,
        rtol: 3e-3,
      });
      expect(r.ok).toBe(true);
      expectClose(
        await attention(q, k, v, { causal: true, scale: 0.3, impl }).data(),
        attRef(c, await q.data(), await k.data(), await v.data(), 0.3),
        { rtol: 1e-4, atol: 1e-6 },
        impl,
      );
    }
  });
});

describe('scaledMaskedSoftmax', () => {
  /** Float64: softmax over visible keys of scale·s, 0 where masked or when the row sees nothing. */
  function smRef(s: ArrayLike<number>, c: Case, scale: number): number[] {
    const out: number[] = [];
    for (let b = 0; b < c.B; b++) {
      for (let r = 0; r < c.H * c.tq; r++) {
        const i = r % c.tq;
        const row = Array.from({ length: c.tk }, (_, j) => (sees(c, b, i, j) ? s[(b * c.H * c.tq + r) * c.tk + j] * scale : -Infinity));
        const m = Math.max(...row);
        const e = row.map((x) => (m === -Infinity ? 0 : Math.exp(x - m)));
        const z = e.reduce((a, x) => a + x, 0);
        out.push(...e.map((x) => (z === 0 ? 0 : x / z)));
      }
    }
    return out;
  }

  it('matches float64 for every threads-per-row choice (1, 4, 64; rows up to 600 keys); webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.constantFrom(1, 4, 64), fc.integer({ min: 1, max: 1e6 }), async (c0, tpr, seed) => {
        const c = seed % 5 === 0 ? { ...c0, tk: 600, pad: null } : c0;
        mg.testing.resetKernels();
        mg.testing.forceKernel('scaledMaskedSoftmax', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
        const s = mg.randn([c.B, c.H, c.tq, c.tk], { seed, std: 3, backend: 'cpu' });
        const sd = await s.data();
        const opts = (p?: mg.Tensor) => ({ scale: 0.7, causal: c.causal, keyPadding: p });
        const pad = c.pad ? mg.tensor(c.pad, [c.B, c.tk], { backend: 'cpu' }) : undefined;
        expectClose(await scaledMaskedSoftmax(s, opts(pad)).data(), smRef(sd, c, 0.7), { rtol: 1e-12, atol: 1e-14 }, 'cpu');
        const inputs = [
          { data: sd, shape: s.shape as number[] },
          { data: c.pad ?? [0], shape: c.pad ? [c.B, c.tk] : [1] },
        ];
        await parity(
          (st, pt) => scaledMaskedSoftmax(st, opts(c.pad ? pt : undefined)),
          inputs,
          { rtol: 1e-5, atol: 1e-6 },
          `tpr ${tpr} ${JSON.stringify({ ...c, pad: !!c.pad })}`,
        );
        s.dispose();
        pad?.dispose();
      }),
      { numRuns: 15 },
    );
  });

  it('gradient matches finite differences and the naive twin (where / softmax / where) on both backends', async () => {
    const c: Case = { B: 2, H: 1, tq: 3, tk: 5, hs: 1, causal: true, pad: [1, 1, 0, 1, 1, 0, 0, 0, 0, 0] };
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const tpr of [1, 4]) {
        mg.testing.resetKernels();
        mg.testing.forceKernel('scaledMaskedSoftmax', tpr === 1 ? 'thread' : 'split', tpr === 1 ? {} : { tpr });
        const s = mg.randn([2, 1, 3, 5], { seed: 4, backend });
        const pad = mg.tensor(c.pad!, [2, 5], { backend });
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-4, rtol: 2e-3 };
        expect(
          (
            await gradcheck((st, pt) => scaledMaskedSoftmax(st, { scale: 1.3, causal: true, keyPadding: pt }), [s, pad], {
              ...tol,
              wrt: [0],
            })
          ).ok,
        ).toBe(true);
        // the twin: where(mask, softmax(where(mask, 1.3·s, -inf)), 0)
        const mask = mg.tensor(
          Array.from({ length: 30 }, (_, n) => +sees(c, Math.floor(n / 15), Math.floor(n / 5) % 3, n % 5)),
          [2, 1, 3, 5],
          { backend },
        );
        const w = mg.randn([2, 1, 3, 5], { seed: 6, backend });
        const grads = [];
        for (const fused of [true, false]) {
          const sl = mg.tensor(await s.data(), [2, 1, 3, 5], { backend, requiresGrad: true });
          const y = fused
            ? scaledMaskedSoftmax(sl, { scale: 1.3, causal: true, keyPadding: pad })
            : mg.where(mask, mg.softmax(mg.where(mask, sl.mul(1.3), -Infinity)), 0);
          y.mul(w).sum().backward();
          grads.push({ y: await y.data(), g: await sl.grad!.data() });
        }
        const ttol = backend === 'cpu' ? { rtol: 1e-12, atol: 1e-14 } : { rtol: 1e-5, atol: 1e-6 };
        expectClose(grads[0].y, grads[1].y, ttol, 'twin forward');
        expectClose(grads[0].g, grads[1].g, ttol, 'twin gradient');
      }
    }
  });

  it('one dispatch forward and one backward; any rank >= 2 without padding', async () => {
    const s = mg.randn([3, 4, 5], { seed: 1, requiresGrad: true });
    const f = await mg.profile(() => scaledMaskedSoftmax(s, { causal: true }));
    expect(f.kernels.map((k) => k.kernel)).toEqual(['scaledMaskedSoftmax']);
    const g = mg.onesLike(f.result);
    const b = await mg.profile(() => f.result.backward(g));
    expect(b.kernels.map((k) => k.kernel)).toEqual(['scaledMaskedSoftmax.backward']);
  });
});

describe('attention: errors', () => {
  it('bad shapes, dtypes and options name the op and the shapes', () => {
    const q = mg.randn([2, 3, 4, 8]);
    expect(() => attention(q, mg.randn([2, 2, 5, 8]), mg.randn([2, 2, 5, 8]))).toThrow(/nkv dividing the 3 query heads/);
    expect(() => attention(q, q, q, { mask: mg.zeros([3, 4]) })).toThrow(
      /attention: mask \[3, 4\] must broadcast to the scores \[B, nh, Tq, Tk\] = \[2, 3, 4, 4\]/,
    );
    expect(() => attention(q, q, q, { dropout: 1.5 })).toThrow(/attention: dropout must be a probability in \[0, 1\], got 1.5/);
    expect(() => attention(q, q, q, { layout: 'bht' as never })).toThrow(/attention: layout must be 'bhtd' or 'bthd'/);
    expect(() => attention(q, q, q, { dropout: 0.1, impl: 'flash' })).toThrow(/impl 'flash' supports .* got .*dropout/);
    const k = mg.randn([2, 3, 5, 8]);
    expect(() => attention(q, mg.randn([2, 3, 5, 7]), k)).toThrow(
      /attention: k and v must both have shape \[2, nkv, Tk, 8\] with nkv dividing the 3 query heads, to match q \[2, 3, 4, 8\] \(layout 'bhtd'\); got k \[2, 3, 5, 7\], v \[2, 3, 5, 8\]/,
    );
    expect(() => attention(mg.randn([3, 4, 8]), k, k)).toThrow(
      /attention: q must have shape \[B, nh, T, hs\] \(layout 'bhtd'\), got \[3, 4, 8\]/,
    );
    expect(() => attention(q, k, k, { keyPadding: mg.ones([2, 4]) })).toThrow(
      /attention: keyPadding must have shape \[2, 5\] \(\[B, Tk\] of k \[2, 3, 5, 8\]\), got \[2, 4\]/,
    );
    expect(() => attention(q, k, k, { keyPadding: mg.tensor([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [2, 5], { dtype: 'int32' }) })).toThrow(
      /attention: keyPadding must be a float32 \[B, Tk\] mask/,
    );
    expect(() => attention(q, k, k, { scale: NaN })).toThrow(/attention: scale must be a finite number, got NaN/);
    const q6 = mg.randn([1, 1, 2, 6]);
    expect(() => attention(q6, q6, q6, { impl: 'flash' })).toThrow(
      /attention: impl 'flash' supports layout 'bhtd', nkv = nh, no mask or dropout, and head sizes that are multiples of 4 up to 64; got q \[1, 1, 2, 6\]/,
    );
    expect(() => scaledMaskedSoftmax(mg.randn([3]))).toThrow(/scaledMaskedSoftmax: expects scores \[\.\.\., Tq, Tk\], got \[3\]/);
    expect(() => scaledMaskedSoftmax(mg.randn([3, 4]), { keyPadding: mg.ones([1, 4]) })).toThrow(
      /scaledMaskedSoftmax: keyPadding needs scores \[B, H, Tq, Tk\], got \[3, 4\]/,
    );
  });
});
