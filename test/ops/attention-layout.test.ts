// Attention's strided head layouts ('bthd' [B, T, nh, hs] read and written in place, 'bhtd'),
// grouped-query heads, the additive float mask (broadcast over batch and heads, differentiable),
// attention dropout (seeded, the mask of ops/dropout.ts) and Tq != Tk with the bottom-right causal
// offset: against an independent float64 loop, against finite differences, against the naive twin
// from primitive ops, and webgpu against cpu, over fast-check shapes (1, odd, prime); also that a
// MultiHeadAttention step makes no head permute copies.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { attention, attentionNaive, type AttentionLayout, scaledMaskedSoftmax } from '../../src/ops/attention.js';
import { streamKey, uniformAt } from '../../src/ops/random.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

afterEach(() => {
  mg.testing.resetKernels();
});

interface Case {
  B: number;
  Hkv: number;
  /** Query heads per key/value head. */
  G: number;
  tq: number;
  tk: number;
  hs: number;
  causal: boolean;
  layout: AttentionLayout;
  /** Shape of the additive mask (right-aligned against [B, H, Tq, Tk]), or none. */
  maskShape: number[] | null;
  pad: number[] | null;
  p: number;
  seed: number;
}

const heads = (c: Case) => c.Hkv * c.G;
/** Flat index of (b, h, t, d) of a [B, T, n, hs] ('bthd') or [B, n, T, hs] tensor. */
const at = (c: Case, T: number, n: number, b: number, h: number, t: number, d: number) =>
  c.layout === 'bthd' ? ((b * T + t) * n + h) * c.hs + d : ((b * n + h) * T + t) * c.hs + d;

function maskAt(c: Case, mask: ArrayLike<number>, b: number, h: number, i: number, j: number): number {
  if (!c.maskShape) return 0;
  const idx = [b, h, i, j].slice(4 - c.maskShape.length);
  let off = 0;
  c.maskShape.forEach((d, a) => {
    off = off * d + (d === 1 ? 0 : idx[a]);
  });
  return mask[off];
}

/** Float64 attention from the definition, in c.layout; a row with no visible key gives zeros. */
function attRef(c: Case, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, mask: ArrayLike<number>): number[] {
  const H = heads(c);
  const out = new Array<number>(c.B * H * c.tq * c.hs).fill(0);
  const key = streamKey(c.seed);
  const scale = 1 / Math.sqrt(c.hs);
  for (let b = 0; b < c.B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / c.G);
      for (let i = 0; i < c.tq; i++) {
        const z: number[] = [];
        for (let j = 0; j < c.tk; j++) {
          let d = 0;
          for (let e = 0; e < c.hs; e++) d += q[at(c, c.tq, H, b, h, i, e)] * k[at(c, c.tk, c.Hkv, b, hk, j, e)];
          const sees = (!c.causal || j <= i + c.tk - c.tq) && c.pad?.[b * c.tk + j] !== 0;
          z.push(sees ? d * scale + maskAt(c, mask, b, h, i, j) : -Infinity);
        }
        const m = Math.max(...z);
        const w = z.map((x) => (m === -Infinity || x === -Infinity ? 0 : Math.exp(x - m)));
        const sum = w.reduce((a, x) => a + x, 0);
        for (let j = 0; j < c.tk; j++) {
          const flat = ((b * H + h) * c.tq + i) * c.tk + j;
          const keep = c.p === 0 || uniformAt(key, flat) >= c.p;
          const y = sum === 0 || !keep ? 0 : w[j] / sum / (1 - c.p);
          for (let e = 0; e < c.hs; e++) out[at(c, c.tq, H, b, h, i, e)] += y * v[at(c, c.tk, c.Hkv, b, hk, j, e)];
        }
      }
    }
  }
  return out;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    B: fc.integer({ min: 1, max: 2 }),
    Hkv: fc.integer({ min: 1, max: 2 }),
    G: fc.constantFrom(1, 1, 2, 3),
    tq: arb.dimSize(13),
    tk: arb.dimSize(13),
    hs: fc.constantFrom(1, 3, 4, 8),
    causal: fc.boolean(),
    layout: fc.constantFrom<AttentionLayout>('bthd', 'bhtd'),
    maskKind: fc.constantFrom('none', 'tt', 'b1tt', 'bhtt', 't'),
    padded: fc.boolean(),
    p: fc.constantFrom(0, 0, 0.3),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ maskKind, padded, ...c }) => {
    const H = c.Hkv * c.G;
    const maskShape = { none: null, tt: [c.tq, c.tk], b1tt: [c.B, 1, c.tq, c.tk], bhtt: [c.B, H, c.tq, c.tk], t: [c.tk] }[maskKind];
    const rng = new mg.HostRng(c.seed);
    const pad = padded ? Array.from({ length: c.B * c.tk }, () => (rng.next() < 0.3 ? 0 : 1)) : null;
    return { ...c, maskShape, pad } as Case;
  });

function makeInputs(c: Case, backend: mg.BackendName, negInf: boolean) {
  const H = heads(c);
  const shape = (T: number, n: number) => (c.layout === 'bthd' ? [c.B, T, n, c.hs] : [c.B, n, T, c.hs]);
  const q = mg.randn(shape(c.tq, H), { seed: c.seed, backend });
  const k = mg.randn(shape(c.tk, c.Hkv), { seed: c.seed + 1, backend });
  const v = mg.randn(shape(c.tk, c.Hkv), { seed: c.seed + 2, backend });
  let mask: mg.Tensor | undefined;
  if (c.maskShape) {
    const n = c.maskShape.reduce((a, d) => a * d, 1);
    const rng = new mg.HostRng(c.seed + 3);
    const data = Array.from({ length: n }, () => (negInf && rng.next() < 0.2 ? -Infinity : 2 * rng.next() - 1));
    mask = mg.tensor(data, c.maskShape, { backend });
  }
  const pad = c.pad ? mg.tensor(c.pad, [c.B, c.tk], { backend }) : undefined;
  return { q, k, v, mask, pad };
}

const optsOf = (c: Case, mask?: mg.Tensor, pad?: mg.Tensor) => ({
  causal: c.causal,
  layout: c.layout,
  mask,
  keyPadding: pad,
  dropout: c.p,
  seed: c.seed,
});

describe('attention: layouts, GQA, additive mask, dropout, Tq != Tk', () => {
  it('cpu matches the float64 definition (-Infinity mask entries included); webgpu matches cpu', async () => {
    const cases = fc.sample(caseArb, { numRuns: 24, seed: 17 });
    for (const c of cases) {
      const outs: Record<string, ArrayLike<number>> = {};
      for (const backend of ['cpu', 'webgpu'] as const) {
        const { q, k, v, mask, pad } = makeInputs(c, backend, true);
        const y = attention(q, k, v, optsOf(c, mask, pad));
        outs[backend] = await y.data();
        if (backend === 'cpu') {
          const ref = attRef(c, await q.data(), await k.data(), await v.data(), mask ? await mask.data() : []);
          expectClose(outs.cpu, ref, { rtol: 1e-9, atol: 1e-10 }, `cpu ${JSON.stringify(c)}`);
        }
        for (const t of [q, k, v, mask, pad, y]) t?.dispose();
      }
      expectClose(outs.webgpu, outs.cpu, { rtol: 1e-4, atol: 2e-5 }, `webgpu ${JSON.stringify(c)}`);
    }
  });

  it('forward and gradients of q, k, v and the mask agree with the naive twin (permute, repeat, matmul, softmax, dropout) on webgpu', async () => {
    const cases = fc.sample(caseArb, { numRuns: 10, seed: 5 });
    for (const c of cases) {
      const run = async (fn: typeof attention) => {
        const { q, k, v, mask, pad } = makeInputs(c, 'webgpu', false);
        for (const t of [q, k, v, mask]) if (t) t.requiresGrad = true;
        const y = fn(q, k, v, optsOf(c, mask, pad));
        const g = mg.randn(y.shape, { seed: 99 });
        y.backward(g);
        const res = [await y.data(), ...(await Promise.all([q, k, v, mask].filter((t) => t).map((t) => t!.grad!.data())))];
        for (const t of [q, k, v, mask, pad, y, g]) t?.dispose();
        return res;
      };
      const fused = await run(attention);
      const naive = await run(attentionNaive);
      fused.forEach((f, i) =>
        expectClose(f, naive[i], { rtol: 2e-4, atol: 2e-5 }, `${['y', 'dq', 'dk', 'dv', 'dmask'][i]} ${JSON.stringify(c)}`),
      );
    }
  });

  it('gradients of q, k, v and a broadcast mask match finite differences (bthd, GQA, causal Tq < Tk, dropout; cpu float64 and webgpu)', async () => {
    const c: Case = {
      B: 2,
      Hkv: 1,
      G: 2,
      tq: 3,
      tk: 5,
      hs: 4,
      causal: true,
      layout: 'bthd',
      maskShape: [2, 1, 3, 5],
      pad: null,
      p: 0.25,
      seed: 7,
    };
    for (const backend of ['cpu', 'webgpu'] as const) {
      const { q, k, v, mask } = makeInputs(c, backend, false);
      const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 3e-4, rtol: 5e-3 };
      const r = await gradcheck((qt, kt, vt, mt) => attention(qt, kt, vt, optsOf(c, mt)), [q, k, v, mask!], tol);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      for (const t of [q, k, v, mask]) t?.dispose();
    }
  });

  it('dropout: training mask as ops/dropout.ts on the flat weights; about p of them dropped; p = 1 gives zeros', async () => {
    const c: Case = {
      B: 2,
      Hkv: 2,
      G: 1,
      tq: 16,
      tk: 16,
      hs: 4,
      causal: false,
      layout: 'bthd',
      maskShape: null,
      pad: null,
      p: 0.4,
      seed: 3,
    };
    const { q, k, v } = makeInputs(c, 'webgpu', false);
    const ones = mg.ones([2, 16, 2, 4]);
    // v = ones: each output is Σ_j Y_j, the kept weight mass of its row
    const y = await attention(q, k, ones, optsOf(c)).data();
    const kept = await attention(q, k, ones, { ...optsOf(c), dropout: 0 }).data();
    expect(Math.abs(kept[0] - 1)).toBeLessThan(1e-5);
    let mean = 0;
    for (let i = 0; i < y.length; i += 4) mean += y[i] / (y.length / 4);
    expect(Math.abs(mean - 1)).toBeLessThan(0.15); // E[Σ Y] = 1 (inverted dropout), 64 rows of 16
    expect(Array.from(await attention(q, k, v, { ...optsOf(c), dropout: 1 }).data()).every((x) => x === 0)).toBe(true);
    const again = await attention(q, k, ones, optsOf(c)).data();
    expect(Array.from(again)).toEqual(Array.from(y)); // the same seed, the same mask
  });
});

describe('attention in float16', () => {
  it("'bthd', GQA, an additive mask and dropout: webgpu float16 matches cpu float16 (f32 accumulation), gradients too", async () => {
    const c: Case = {
      B: 2,
      Hkv: 1,
      G: 2,
      tq: 5,
      tk: 7,
      hs: 8,
      causal: true,
      layout: 'bthd',
      maskShape: [5, 7],
      pad: null,
      p: 0.2,
      seed: 12,
    };
    const res: Record<string, ArrayLike<number>[]> = {};
    for (const backend of ['cpu', 'webgpu'] as const) {
      const { q, k, v, mask } = makeInputs(c, backend, false);
      const h = [q, k, v, mask!].map((t) => {
        const x = t.cast('float16');
        x.requiresGrad = true;
        return x;
      });
      const y = attention(h[0], h[1], h[2], optsOf(c, h[3]));
      expect(y.dtype).toBe('float16');
      y.backward(mg.onesLike(y));
      res[backend] = [await y.data(), ...(await Promise.all(h.map((t) => t.grad!.data())))];
    }
    res.webgpu.forEach((g, i) => expectClose(g, res.cpu[i], { rtol: 1e-2, atol: 1e-2 }, ['y', 'dq', 'dk', 'dv', 'dmask'][i]));
  });
});

describe('scaledMaskedSoftmax: additive mask and dropout', () => {
  /** Float64 reference of scores [..., Tq, Tk] with mask broadcast (right-aligned) and dropout. */
  function smRef(
    shape: number[],
    s: ArrayLike<number>,
    maskShape: number[],
    mask: ArrayLike<number>,
    scale: number,
    p: number,
    seed: number,
  ) {
    const tk = shape[shape.length - 1];
    const rows = s.length / tk;
    const out: number[] = [];
    const key = streamKey(seed);
    const mstr = maskShape.map((_, i) => maskShape.slice(i + 1).reduce((a, d) => a * d, 1));
    for (let r = 0; r < rows; r++) {
      const z: number[] = [];
      for (let j = 0; j < tk; j++) {
        let rem = r * tk + j;
        const idx: number[] = [];
        for (let a = shape.length - 1; a >= 0; a--) {
          idx.unshift(rem % shape[a]);
          rem = Math.floor(rem / shape[a]);
        }
        const mi = idx.slice(shape.length - maskShape.length);
        const off = maskShape.reduce((o, d, a) => o + (d === 1 ? 0 : mi[a] * mstr[a]), 0);
        z.push(s[r * tk + j] * scale + mask[off]);
      }
      const m = Math.max(...z);
      const w = z.map((x) => (m === -Infinity || x === -Infinity ? 0 : Math.exp(x - m)));
      const sum = w.reduce((a, x) => a + x, 0);
      for (let j = 0; j < tk; j++) out.push(sum === 0 || uniformAt(key, r * tk + j) < p ? 0 : w[j] / sum / (1 - p));
    }
    return out;
  }

  it('matches float64 over scores of rank 2-4 and broadcast masks, for 1 and 4 threads per row; webgpu matches cpu; gradients of scores and mask match finite differences', async () => {
    const arbCase = fc.record({
      lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      tq: arb.dimSize(11),
      tk: arb.dimSize(13),
      maskDrop: fc.integer({ min: 0, max: 3 }),
      p: fc.constantFrom(0, 0.2),
      tpr: fc.constantFrom(1, 4),
      seed: fc.integer({ min: 1, max: 1e5 }),
    });
    for (const c of fc.sample(arbCase, { numRuns: 14, seed: 11 })) {
      const shape = [...c.lead, c.tq, c.tk];
      // mask: drop some leading dims, and set a dim to 1 (broadcast) from the seed
      const maskShape = shape.slice(Math.min(c.maskDrop, shape.length - 1)).map((d, i) => ((c.seed >> i) & 1 ? 1 : d));
      if (c.tpr > 1) mg.testing.forceKernel('scaledMaskedSoftmax', 'split', { tpr: c.tpr });
      const res: Record<string, ArrayLike<number>> = {};
      for (const backend of ['cpu', 'webgpu'] as const) {
        const s = mg.randn(shape, { seed: c.seed, backend, std: 2 });
        const m = mg.randn(maskShape, { seed: c.seed + 1, backend });
        const y = scaledMaskedSoftmax(s, { scale: 0.7, mask: m, dropout: c.p, seed: c.seed });
        res[backend] = await y.data();
        if (backend === 'cpu') {
          expectClose(
            res.cpu,
            smRef(shape, await s.data(), maskShape, await m.data(), 0.7, c.p, c.seed),
            { rtol: 1e-10, atol: 1e-12 },
            JSON.stringify(c),
          );
        }
        for (const t of [s, m, y]) t.dispose();
      }
      expectClose(res.webgpu, res.cpu, { rtol: 1e-5, atol: 1e-6 }, `webgpu ${JSON.stringify(c)}`);
      mg.testing.resetKernels();
    }
    for (const backend of ['cpu', 'webgpu'] as const) {
      const s = mg.randn([2, 3, 4, 5], { seed: 1, backend });
      const m = mg.randn([3, 1, 5], { seed: 2, backend });
      const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 3e-4, rtol: 5e-3 };
      const r = await gradcheck(
        (st, mt) => scaledMaskedSoftmax(st, { scale: 0.5, mask: mt, causal: true, dropout: 0.3, seed: 4 }),
        [s, m],
        tol,
      );
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });
});

describe('attention: no head copies in the transformer', () => {
  it("MultiHeadAttention forward + backward runs attention in 'bthd' with no permute / copy kernels", async () => {
    const mha = new mg.nn.MultiHeadAttention(16, 4, { seed: 1, attnDropout: 0.1 });
    const x = mg.randn([2, 5, 16], { seed: 2, requiresGrad: true });
    const s = await mg.profile(async () => {
      const y = mha.forward(x);
      y.backward(mg.onesLike(y));
    });
    const names = s.kernels.map((k) => k.kernel);
    expect(
      names.some((n) => /permute|copy/.test(n)),
      names.join(', '),
    ).toBe(false);
    expect(names).toContain('scaledMaskedSoftmax.dropout');
    expect(names.filter((n) => n.startsWith('attention.product')).length).toBe(6);
  });

  it('attnDropout: call c of a seeded module draws the stream subSeed(seed, c) (reproducible, fresh per call); none in eval mode', async () => {
    const make = () => new mg.nn.MultiHeadAttention(8, 2, { seed: 4, attnDropout: 0.5 });
    const x = mg.randn([1, 6, 8], { seed: 1 });
    const a = make();
    const b = make();
    const a1 = Array.from(await a.forward(x).data());
    expect(Array.from(await b.forward(x).data())).toEqual(a1);
    expect(Array.from(await a.forward(x).data())).not.toEqual(a1);
    a.eval();
    const e1 = Array.from(await a.forward(x).data());
    expect(Array.from(await a.forward(x).data())).toEqual(e1);
    const ref = mg.nn.attendHeads(a.q.forward(x), a.k.forward(x), a.v.forward(x), a.layout);
    expectClose(await a.o.forward(ref).data(), e1, { rtol: 1e-6, atol: 1e-7 });
  });
});
