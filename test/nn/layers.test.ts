// nn layers: forward against independent float64 hand computations (Linear, LayerNorm, RMSNorm,
// rotary), webgpu against the cpu run of the same seeded module, gradcheck of every layer w.r.t. its
// input and its parameters (cpu float64 and webgpu), init statistics, dropout masks, errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { expectClose, setupBackends, withParams } from '../helpers.js';

setupBackends();
const { gradcheck } = mg.testing;
type B = 'cpu' | 'webgpu';
const BACKENDS: B[] = ['cpu', 'webgpu'];
const GC_TOL: Record<B, { atol: number; rtol: number }> = { cpu: { atol: 1e-7, rtol: 1e-6 }, webgpu: { atol: 5e-4, rtol: 5e-3 } };

/** gradcheck of `forward` w.r.t. the input and every parameter of `m`. */
async function gradcheckModule(m: nn.Module, x: mg.Tensor, forward: (x: mg.Tensor) => mg.Tensor, tol: { atol: number; rtol: number }) {
  const params = m.parameters();
  return gradcheck((xi, ...ps) => withParams(m, ps, () => forward(xi)), [x, ...params], {
    ...tol,
    wrt: x.dtype === 'float32' ? undefined : params.map((_, i) => i + 1),
  });
}

/** The same module (same seed) on cpu and webgpu, run on the same input: webgpu ≈ cpu. */
async function moduleParity(
  make: (backend: B) => nn.Module & { forward(x: mg.Tensor): mg.Tensor },
  xData: ArrayLike<number>,
  shape: number[],
  tol = { rtol: 1e-4, atol: 1e-5 },
  dtype: mg.DType = 'float32',
) {
  const out: ArrayLike<number>[] = [];
  for (const b of BACKENDS) {
    const m = make(b);
    const x = mg.tensor(xData, shape, { backend: b, dtype });
    const y = m.forward(x);
    out.push(await y.data());
    for (const t of [x, y]) t.dispose();
    m.dispose();
  }
  expectClose(out[1], out[0], tol, 'webgpu vs cpu');
  return out[0];
}

const randData = (n: number, seed: number, scale = 1) => {
  const r = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
};

describe('Linear', () => {
  it('forward = x @ Wᵀ + b (hand-computed float64) for 1-D, 2-D and 3-D inputs; webgpu = cpu', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom([], [1], [5], [2, 3]),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e6 }),
        async (inF, outF, lead, bias, seed) => {
          const shape = [...lead, inF];
          const xd = randData(
            shape.reduce((a, b) => a * b, 1),
            seed,
          );
          const lin = new nn.Linear(inF, outF, { bias, seed, backend: 'cpu' });
          const W = await lin.weight.data();
          const b = bias ? await lin.bias!.data() : null;
          const rows = xd.length / inF;
          const ref: number[] = [];
          for (let r = 0; r < rows; r++) {
            for (let o = 0; o < outF; o++) {
              let s = b ? b[o] : 0;
              for (let i = 0; i < inF; i++) s += xd[r * inF + i] * W[o * inF + i];
              ref.push(s);
            }
          }
          const x = mg.tensor(xd, shape, { backend: 'cpu' });
          const y = lin.forward(x);
          expect(y.shape).toEqual([...lead, outF]);
          expectClose(await y.data(), ref, { rtol: 1e-12, atol: 1e-12 }, 'linear cpu');
          lin.dispose();
          await moduleParity((backend) => new nn.Linear(inF, outF, { bias, seed, backend }), xd, shape);
        },
      ),
      { numRuns: 10 },
    );
  });

  it("init is torch's: W and b ~ U(-1/√in, 1/√in); { std } gives N(0, std²) and zero bias", async () => {
    const lin = new nn.Linear(64, 48, { seed: 5 });
    const bound = 1 / 8;
    const w = Array.from(await lin.weight.data());
    const b = await lin.bias!.data();
    for (const v of [...w, ...b]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const variance = w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(variance).toBeCloseTo(bound ** 2 / 3, 3); // Var U(-a, a) = a²/3
    expect(lin.weight.shape).toEqual([48, 64]);
    const g = new nn.Linear(64, 48, { init: { std: 0.02 }, seed: 5 });
    const gw = Array.from(await g.weight.data());
    const gstd = Math.sqrt(gw.reduce((s, v) => s + v * v, 0) / gw.length);
    expect(gstd).toBeGreaterThan(0.018);
    expect(gstd).toBeLessThan(0.022);
    expect(Array.from(await g.bias!.data()).every((v) => v === 0)).toBe(true);
    // the same seed gives the same weights; another seed others
    const again = new nn.Linear(64, 48, { seed: 5 });
    expectClose(await again.weight.data(), w, { rtol: 0, atol: 0 });
    const other = new nn.Linear(64, 48, { seed: 6 });
    expect((await other.weight.data())[0]).not.toBe(w[0]);
    for (const m of [lin, g, again, other]) m.dispose();
  });

  it('gradients w.r.t. x, W and b match finite differences (cpu and webgpu)', async () => {
    for (const b of BACKENDS) {
      const lin = new nn.Linear(5, 3, { seed: 2, backend: b });
      const x = mg.tensor(randData(2 * 4 * 5, 9), [2, 4, 5], { backend: b });
      expect((await gradcheckModule(lin, x, (t) => lin.forward(t), GC_TOL[b])).ok).toBe(true);
      const nob = new nn.Linear(5, 3, { seed: 2, bias: false, backend: b });
      expect((await gradcheckModule(nob, x, (t) => nob.forward(t), GC_TOL[b])).ok).toBe(true);
      lin.dispose();
      nob.dispose();
      x.dispose();
    }
  });

  it('forward reads W transposed in place: one matmul dispatch, no copy', async () => {
    const lin = new nn.Linear(8, 4, { seed: 1 });
    const x = mg.randn([3, 8], { seed: 2 });
    const { kernels } = await mg.profile(() => lin.forward(x));
    expect(kernels.map((k) => k.shader).filter((s) => s === 'copy')).toEqual([]);
    expect(kernels.filter((k) => k.shader.startsWith('matmul')).length).toBe(1);
  });

  it('errors name the layer and the shapes', () => {
    const lin = new nn.Linear(4, 2, { backend: 'cpu' });
    expect(() => lin.forward(mg.zeros([3, 5], { backend: 'cpu' }))).toThrow(/Linear: expects input \[\.\.\., 4\], got \[3, 5\]/);
    expect(() => new nn.Linear(0, 2)).toThrow(/Linear: in features must be a positive integer, got 0/);
  });
});

describe('Embedding', () => {
  it('looks up rows for ids of any shape; N(0, 1) init or std; gradient scatter-adds repeated ids', async () => {
    for (const b of BACKENDS) {
      const emb = new nn.Embedding(7, 3, { seed: 4, backend: b });
      const W = await emb.weight.data();
      const idsData = [0, 6, 2, 2, 5, 0];
      const ids = mg.tensor(idsData, [2, 3], { dtype: 'int32', backend: b });
      const y = emb.forward(ids);
      expect(y.shape).toEqual([2, 3, 3]);
      expectClose(
        await y.data(),
        idsData.flatMap((i) => Array.from(W.subarray(i * 3, i * 3 + 3))),
        { rtol: 0, atol: 0 },
        'embedding rows',
      );
      const r = await gradcheckModule(emb, ids, (t) => emb.forward(t), GC_TOL[b]);
      expect(r.ok).toBe(true);
      emb.dispose();
    }
    const big = new nn.Embedding(100, 50, { seed: 1 });
    const d = Array.from(await big.weight.data());
    const std = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(std).toBeGreaterThan(0.95);
    expect(std).toBeLessThan(1.05);
    const small = new nn.Embedding(100, 50, { seed: 1, std: 0.02 });
    expectClose(
      await small.weight.data(),
      Array.from(d, (v) => v * 0.02),
      { rtol: 1e-6, atol: 1e-9 },
      'std scales the same draw',
    );
    expect(() => big.forward(mg.zeros([2]))).toThrow(/Embedding: expects int32 ids/);
    big.dispose();
    small.dispose();
  });
});

describe('LayerNorm and RMSNorm', () => {
  const lnRef = (x: ArrayLike<number>, C: number, w: ArrayLike<number> | null, b: ArrayLike<number> | null, eps: number) => {
    const out: number[] = [];
    for (let r = 0; r < x.length / C; r++) {
      const row = Array.from({ length: C }, (_, i) => x[r * C + i]);
      const mu = row.reduce((s, v) => s + v, 0) / C;
      const v = row.reduce((s, u) => s + (u - mu) ** 2, 0) / C;
      row.forEach((u, i) => out.push(((u - mu) / Math.sqrt(v + eps)) * (w ? w[i] : 1) + (b ? b[i] : 0)));
    }
    return out;
  };
  const rmsRef = (x: ArrayLike<number>, C: number, w: ArrayLike<number> | null, eps: number) => {
    const out: number[] = [];
    for (let r = 0; r < x.length / C; r++) {
      const row = Array.from({ length: C }, (_, i) => x[r * C + i]);
      const ms = row.reduce((s, v) => s + v * v, 0) / C;
      row.forEach((u, i) => out.push((u / Math.sqrt(ms + eps)) * (w ? w[i] : 1)));
    }
    return out;
  };

  it('forward matches the hand computation (float64), with and without affine; webgpu = cpu', async () => {
    const C = 6;
    const xd = randData(4 * C, 3, 2);
    const w = randData(C, 4);
    const bb = randData(C, 5);
    const ln = new nn.LayerNorm(C, { backend: 'cpu', eps: 1e-5 });
    // non-trivial affine parameters, loaded through the state dict
    ln.loadStateDict({ weight: mg.tensor(w, [C], { backend: 'cpu' }), bias: mg.tensor(bb, [C], { backend: 'cpu' }) });
    const y = ln.forward(mg.tensor(xd, [2, 2, C], { backend: 'cpu' }));
    expectClose(await y.data(), lnRef(xd, C, w, bb, 1e-5), { rtol: 1e-12, atol: 1e-12 }, 'layernorm');
    const plain = new nn.LayerNorm(C, { affine: false, backend: 'cpu' });
    expect(plain.parameters()).toEqual([]);
    expectClose(
      await plain.forward(mg.tensor(xd, [4, C], { backend: 'cpu' })).data(),
      lnRef(xd, C, null, null, 1e-5),
      { rtol: 1e-12, atol: 1e-12 },
      'layernorm no affine',
    );
    const rms = new nn.RMSNorm(C, { backend: 'cpu' });
    rms.loadStateDict({ weight: mg.tensor(w, [C], { backend: 'cpu' }) });
    expectClose(
      await rms.forward(mg.tensor(xd, [4, C], { backend: 'cpu' })).data(),
      rmsRef(xd, C, w, 1e-6),
      { rtol: 1e-12, atol: 1e-12 },
      'rmsnorm',
    );
    expect(new nn.LayerNorm(C, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
    await moduleParity((backend) => new nn.LayerNorm(C, { backend }), xd, [4, C]);
    await moduleParity((backend) => new nn.RMSNorm(C, { backend }), xd, [4, C]);
  });

  it('gradients w.r.t. x, weight and bias match finite differences (cpu and webgpu)', async () => {
    for (const b of BACKENDS) {
      const x = mg.tensor(randData(3 * 5, 11, 2), [3, 5], { backend: b });
      for (const m of [new nn.LayerNorm(5, { backend: b }), new nn.RMSNorm(5, { backend: b })]) {
        expect((await gradcheckModule(m, x, (t) => m.forward(t), GC_TOL[b])).ok).toBe(true);
        m.dispose();
      }
      x.dispose();
    }
  });

  it('errors name the layer and the shapes', () => {
    expect(() => new nn.LayerNorm(4).forward(mg.zeros([2, 3]))).toThrow(/LayerNorm: expects input \[\.\.\., 4\], got \[2, 3\]/);
    expect(() => new nn.RMSNorm(4).forward(mg.zeros([3]))).toThrow(/RMSNorm: expects input \[\.\.\., 4\], got \[3\]/);
  });
});

describe('Dropout', () => {
  it('training: a new mask each call, deterministic from the module seed, the same on cpu and webgpu; eval: identity', async () => {
    const masks: Record<B, number[][]> = { cpu: [], webgpu: [] };
    for (const b of BACKENDS) {
      const d = new nn.Dropout(0.5, { seed: 42 });
      const x = mg.ones([64], { backend: b });
      for (let i = 0; i < 3; i++) masks[b].push(Array.from(await d.forward(x).data()));
      d.eval();
      expect(d.forward(x)).toBe(x);
    }
    expect(masks.webgpu).toEqual(masks.cpu);
    const [m0, m1] = masks.cpu;
    expect(m0).not.toEqual(m1);
    for (const v of m0) expect([0, 2]).toContain(v); // kept elements scaled by 1/(1-p)
    const kept = m0.filter((v) => v > 0).length;
    expect(kept).toBeGreaterThan(16);
    expect(kept).toBeLessThan(48);
    // a second module with the same seed replays the same masks
    const again = new nn.Dropout(0.5, { seed: 42 });
    expect(Array.from(await again.forward(mg.ones([64], { backend: 'cpu' })).data())).toEqual(m0);
    expect(new nn.Dropout(0).forward(mg.ones([3]))).toBeInstanceOf(mg.Tensor);
    expect(() => new nn.Dropout(1.5)).toThrow(/Dropout: p must be a probability in \[0, 1\], got 1.5/);
  });

  it('gradient: the same mask scaled by 1/(1 - p)', async () => {
    const d = new nn.Dropout(0.25, { seed: 3 });
    const x = mg.randn([40], { seed: 1, requiresGrad: true });
    const y = d.forward(x);
    y.sum().backward();
    const yd = await y.data();
    const xd = await x.data();
    const gd = await x.grad!.data();
    for (let i = 0; i < 40; i++) expect(gd[i]).toBeCloseTo(yd[i] === 0 && xd[i] !== 0 ? 0 : 1 / 0.75, 5);
  });
});

describe('rotary position embedding', () => {
  /** Pair (x_i, x_{i+hs/2}) rotated by (t + offset)·base^(-2i/hs), written from the definition. */
  const ropeRef = (x: ArrayLike<number>, shape: number[], offset: number, base = 10000) => {
    const hs = shape[shape.length - 1];
    const T = shape[shape.length - 2];
    const half = hs / 2;
    const out = new Array<number>(x.length);
    for (let r = 0; r < x.length / hs; r++) {
      const t = (r % T) + offset;
      for (let i = 0; i < half; i++) {
        const a = t / base ** ((2 * i) / hs);
        const x1 = x[r * hs + i];
        const x2 = x[r * hs + half + i];
        out[r * hs + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        out[r * hs + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
    return out;
  };

  it('matches the pairwise rotation (float64), with offsets; webgpu = cpu', async () => {
    for (const [shape, offset] of [
      [[2, 3, 5, 4], 0],
      [[1, 2, 7, 6], 3],
      [[1, 1, 1, 2], 40],
    ] as [number[], number][]) {
      const xd = randData(
        shape.reduce((a, b) => a * b, 1),
        shape[2] + offset,
      );
      const y = nn.applyRotary(mg.tensor(xd, shape, { backend: 'cpu' }), offset);
      expectClose(await y.data(), ropeRef(xd, shape, offset), { rtol: 1e-12, atol: 1e-12 }, `rope ${shape} +${offset}`);
      const g = nn.applyRotary(mg.tensor(xd, shape), offset);
      expectClose(await g.data(), ropeRef(xd, shape, offset), { rtol: 1e-5, atol: 1e-5 }, `rope webgpu ${shape} +${offset}`);
    }
  });

  it('q·k after rotation depends only on the distance between the positions', async () => {
    const hs = 8;
    const q = randData(hs, 1);
    const k = randData(hs, 2);
    const dot = async (m: number, n: number) => {
      const qr = Array.from(await nn.applyRotary(mg.tensor(q, [1, 1, 1, hs], { backend: 'cpu' }), m).data());
      const kr = await nn.applyRotary(mg.tensor(k, [1, 1, 1, hs], { backend: 'cpu' }), n).data();
      return qr.reduce((s, v, i) => s + v * kr[i], 0);
    };
    expect(await dot(5, 2)).toBeCloseTo(await dot(13, 10), 10);
    expect(await dot(0, 0)).toBeCloseTo(
      q.reduce((s, v, i) => s + v * k[i], 0),
      10,
    );
  });

  it('gradient matches finite differences (cpu and webgpu); odd head sizes are rejected', async () => {
    for (const b of BACKENDS) {
      const x = mg.tensor(randData(2 * 3 * 4, 8), [1, 2, 3, 4], { backend: b });
      expect((await gradcheck((t) => nn.applyRotary(t, 2), [x], GC_TOL[b])).ok).toBe(true);
    }
    expect(() => nn.applyRotary(mg.zeros([1, 1, 2, 3]))).toThrow(/applyRotary: the head size must be even, got 3/);
  });
});

describe('MultiHeadAttention', () => {
  /** Independent float64 attention from the module's weights: per head softmax(q·kᵀ/√hs + mask)·v, then o. */
  async function mhaRef(m: nn.MultiHeadAttention, x: number[], B: number, T: number, pad?: number[]) {
    const C = m.dim;
    const nh = m.nHead;
    const { nKvHead: nkv, headSize: hs } = m.layout;
    const Ckv = nkv * hs;
    const lin = async (l: nn.Linear, inp: number[]) => {
      const W = await l.weight.data();
      const b = l.bias ? await l.bias.data() : null;
      const [I, O] = [l.inFeatures, l.outFeatures];
      const out: number[] = [];
      for (let r = 0; r < inp.length / I; r++)
        for (let o = 0; o < O; o++)
          out.push((b ? b[o] : 0) + Array.from({ length: I }, (_, i) => inp[r * I + i] * W[o * I + i]).reduce((s, v) => s + v, 0));
      return out;
    };
    const q = await lin(m.q, x);
    const k = await lin(m.k, x);
    const v = await lin(m.v, x);
    const y = new Array<number>(B * T * C).fill(0);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < nh; h++)
        for (let i = 0; i < T; i++) {
          const kh = Math.floor(h / (nh / nkv)); // the key/value head query head h reads (GQA)
          const s: number[] = [];
          for (let j = 0; j < T; j++) {
            const masked = (m.layout.causal && j > i) || (pad && pad[b * T + j] === 0);
            let d = 0;
            for (let e = 0; e < hs; e++) d += q[(b * T + i) * C + h * hs + e] * k[(b * T + j) * Ckv + kh * hs + e];
            s.push(masked ? -Infinity : d / Math.sqrt(hs));
          }
          const mx = Math.max(...s);
          const p = s.map((u) => (u === -Infinity ? 0 : Math.exp(u - mx)));
          const z = p.reduce((a, c) => a + c, 0);
          for (let e = 0; e < hs; e++)
            y[(b * T + i) * C + h * hs + e] = p.reduce((a, pj, j) => a + (pj / z) * v[(b * T + j) * Ckv + kh * hs + e], 0);
        }
    return lin(m.o, y);
  }

  it('forward matches an independent float64 computation (causal, bidirectional with padding); webgpu = cpu', async () => {
    const B = 2;
    const T = 4;
    const C = 8;
    const x = randData(B * T * C, 21);
    const pad = [1, 1, 1, 1, 1, 1, 0, 0];
    for (const causal of [true, false]) {
      const m = new nn.MultiHeadAttention(C, 2, { causal, seed: 7, backend: 'cpu' });
      const kp = causal ? undefined : mg.tensor(pad, [B, T], { backend: 'cpu' });
      const y = m.forward(mg.tensor(x, [B, T, C], { backend: 'cpu' }), { keyPadding: kp });
      expectClose(await y.data(), await mhaRef(m, x, B, T, causal ? undefined : pad), { rtol: 1e-10, atol: 1e-12 }, `mha causal=${causal}`);
      const g = new nn.MultiHeadAttention(C, 2, { causal, seed: 7 });
      const yg = g.forward(mg.tensor(x, [B, T, C]), { keyPadding: causal ? undefined : mg.tensor(pad, [B, T]) });
      expectClose(await yg.data(), await y.data(), { rtol: 1e-4, atol: 1e-5 }, 'mha webgpu vs cpu');
    }
    const names = new nn.MultiHeadAttention(C, 2).namedParameters().map(([n]) => n);
    expect(names).toEqual(['q.weight', 'q.bias', 'k.weight', 'k.bias', 'v.weight', 'v.bias', 'o.weight', 'o.bias']);
  });

  it('gradients w.r.t. x and all weights match finite differences (causal + rotary, and padded)', async () => {
    for (const b of BACKENDS) {
      const x = mg.tensor(randData(2 * 3 * 4, 5), [2, 3, 4], { backend: b });
      const m = new nn.MultiHeadAttention(4, 2, { rotary: true, seed: 3, backend: b });
      expect((await gradcheckModule(m, x, (t) => m.forward(t), GC_TOL[b])).ok).toBe(true);
      const e = new nn.MultiHeadAttention(4, 2, { causal: false, bias: false, seed: 4, backend: b });
      const pad = mg.tensor([1, 1, 0, 1, 0, 1], [2, 3], { backend: b });
      // the mask is an input too (gradcheck evaluates on cpu copies of every input); not differentiated
      const ps = e.parameters();
      const wrt = [0, ...ps.map((_, i) => i + 2)];
      const r = await gradcheck((xi, pi, ...pp) => withParams(e, pp, () => e.forward(xi, { keyPadding: pi })), [x, pad, ...ps], {
        ...GC_TOL[b],
        wrt,
      });
      expect(r.ok).toBe(true);
    }
  });

  it('grouped-query attention (nKvHead < nHead): query head h reads kv head floor(h·nKv/nH); hand reference, webgpu = cpu, gradcheck', async () => {
    const [B, T, C] = [2, 5, 12];
    const x = randData(B * T * C, 41);
    for (const nKvHead of [1, 2]) {
      const m = new nn.MultiHeadAttention(C, 6, { nKvHead, seed: 8, backend: 'cpu' });
      expect(m.k.weight.shape).toEqual([nKvHead * 2, C]);
      const y = m.forward(mg.tensor(x, [B, T, C], { backend: 'cpu' }));
      expectClose(await y.data(), await mhaRef(m, x, B, T), { rtol: 1e-10, atol: 1e-12 }, `gqa nKv=${nKvHead}`);
      const g = new nn.MultiHeadAttention(C, 6, { nKvHead, seed: 8 });
      expectClose(await g.forward(mg.tensor(x, [B, T, C])).data(), await y.data(), { rtol: 1e-4, atol: 1e-5 }, 'gqa webgpu vs cpu');
    }
    for (const b of BACKENDS) {
      const xs = mg.tensor(randData(2 * 3 * 8, 6), [2, 3, 8], { backend: b });
      const m = new nn.MultiHeadAttention(8, 4, { nKvHead: 2, rotary: true, seed: 5, backend: b });
      expect((await gradcheckModule(m, xs, (t) => m.forward(t), GC_TOL[b])).ok).toBe(true);
    }
    expect(() => new nn.MultiHeadAttention(8, 4, { nKvHead: 3 })).toThrow(
      /MultiHeadAttention: the 4 query heads must be a multiple of the 3 key\/value heads/,
    );
  });

  it('errors name the module and the shapes', () => {
    expect(() => new nn.MultiHeadAttention(6, 4)).toThrow(/MultiHeadAttention: dim 6 must be a positive multiple of the number of heads 4/);
    const m = new nn.MultiHeadAttention(4, 2);
    expect(() => m.forward(mg.zeros([1, 3, 5]))).toThrow(/MultiHeadAttention: expects x \[B, T, 4\], got \[1, 3, 5\]/);
    expect(() => m.forward(mg.zeros([1, 3, 4]), { keyPadding: mg.ones([1, 2]) })).toThrow(/keyPadding must be \[B, T\] = \[1, 3\]/);
  });
});

describe('BlockedEmbedding', () => {
  it('lookup and projection equal an Embedding holding the same table (blocks of 3 rows of 8), gradients match finite differences', async () => {
    for (const b of BACKENDS) {
      const blocked = new nn.BlockedEmbedding(8, 4, 3, { seed: 2, backend: b });
      expect(blocked.namedParameters().map(([n, p]) => `${n}${JSON.stringify(p.shape)}`)).toEqual([
        'blocks.0.weight[3,4]',
        'blocks.1.weight[3,4]',
        'blocks.2.weight[2,4]',
      ]);
      const whole = new nn.Embedding(8, 4, { backend: b });
      mg.nn.copyInto(
        whole.weight,
        mg.concat(
          blocked.blocks.map((k) => k.weight),
          0,
        ),
      );
      const ids = mg.tensor([7, 0, 3, 2, 5, 6], [2, 3], { dtype: 'int32', backend: b });
      expect(Array.from(await blocked.forward(ids).data())).toEqual(Array.from(await whole.forward(ids).data()));
      const x = mg.tensor(randData(2 * 4, 9), [2, 4], { backend: b });
      expectClose(
        await nn.projectOnto(blocked, x).data(),
        await nn.projectOnto(whole, x).data(),
        { rtol: 1e-6, atol: 1e-7 },
        `project ${b}`,
      );
      // the ids are an input too (gradcheck evaluates on cpu copies of every input); not differentiated
      const ps = blocked.parameters();
      const wrt = [0, ...ps.map((_, i) => i + 2)];
      const r = await gradcheck(
        (xi, ii, ...pp) => withParams(blocked, pp, () => blocked.forward(ii).mul(nn.projectOnto(blocked, xi).sum())),
        [x, ids, ...ps],
        { ...GC_TOL[b], wrt },
      );
      expect(r.ok).toBe(true);
    }
    expect(nn.tableBlockRows(10, 4, { maxElements: 40 })).toBe(null);
    expect(nn.tableBlockRows(11, 4, { maxElements: 40 })).toBe(10);
    expect(nn.embeddingTable(11, 4, { maxElements: 40, backend: 'cpu' })).toBeInstanceOf(nn.BlockedEmbedding);
  });
});

describe('MLP', () => {
  it('gelu: down(gelu(up x)); swiglu: down(silu(gate x)·up x) — hand computation, webgpu = cpu, gradcheck', async () => {
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const silu = (v: number) => v / (1 + Math.exp(-v));
    const apply = async (l: nn.Linear, x: number[]) => {
      const y = l.forward(mg.tensor(x, [x.length / l.inFeatures, l.inFeatures], { backend: 'cpu' }));
      return Array.from(await y.data());
    };
    const x = randData(3 * 4, 17);
    for (const activation of ['gelu', 'swiglu'] as const) {
      const m = new nn.MLP(4, 6, { activation, seed: 9, backend: 'cpu' });
      const up = await apply(m.up, x);
      const h = activation === 'gelu' ? up.map(gelu) : (await apply(m.gate!, x)).map((g, i) => silu(g) * up[i]);
      const ref = await apply(m.down, h);
      expectClose(await m.forward(mg.tensor(x, [3, 4], { backend: 'cpu' })).data(), ref, { rtol: 1e-10, atol: 1e-12 }, activation);
      expect(m.namedParameters().map(([n]) => n.split('.')[0])).toEqual(
        activation === 'gelu' ? ['up', 'up', 'down', 'down'] : ['gate', 'gate', 'up', 'up', 'down', 'down'],
      );
      await moduleParity((backend) => new nn.MLP(4, 6, { activation, seed: 9, backend }), x, [3, 4]);
      for (const b of BACKENDS) {
        const mm = new nn.MLP(4, 5, { activation, seed: 2, backend: b });
        const xt = mg.tensor(randData(2 * 4, 3), [2, 4], { backend: b });
        expect((await gradcheckModule(mm, xt, (t) => mm.forward(t), GC_TOL[b])).ok).toBe(true);
      }
    }
  });
});
