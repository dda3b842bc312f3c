// DoRA: the fused weight norm (checkOp: webgpu vs cpu, float64 gradcheck, the naive twin) and
// against a float64 loop; the DoRA map exact to W' = m ⊙ (W + s·B A) / ‖W + s·B A‖_row; gradients
// with the norm detached (paper section 4.3, PEFT) against finite differences with the norm held
// constant, and the full gradient (detachNorm: false) three ways; DoRALinear (init, PEFT's dropout
// path, merge / unmerge); inject, and the adapter files in PEFT's DoRA layout read back.
import fs from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { readSafetensorsHeader } from '../../src/io/index.js';
import { DoRALinear, dora, doraNorm, doraNormNaive, inject, loadAdapter, saveAdapter } from '../../src/adapters/index.js';
import { Dropout } from '../../src/nn/dropout.js';
import { subSeed } from '../../src/nn/module.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';
const tmp = await fs.mkdtemp(join(os.tmpdir(), 'moragrad-dora-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

/** Float64 W' = m ⊙ (W + s·B A) / ‖W + s·B A‖_row, W [out, in], A [r, in], B [out, r]. */
function mergedRef(
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  Bm: ArrayLike<number>,
  m: ArrayLike<number>,
  out: number,
  inF: number,
  r: number,
  s: number,
): { Wp: number[]; n: number[] } {
  const Wp: number[] = [];
  const n: number[] = [];
  for (let o = 0; o < out; o++) {
    const row = Array.from({ length: inF }, (_, i) => {
      let d = 0;
      for (let k = 0; k < r; k++) d += Bm[o * r + k] * A[k * inF + i];
      return W[o * inF + i] + s * d;
    });
    const norm = Math.sqrt(row.reduce((t, v) => t + v * v, 0));
    n.push(norm);
    for (const v of row) Wp.push((m[o] * v) / norm);
  }
  return { Wp, n };
}

/** y = x W'ᵀ + bias in float64. */
function linearRef(x: ArrayLike<number>, Wp: number[], bias: ArrayLike<number> | null, rows: number, out: number, inF: number): number[] {
  const y: number[] = [];
  for (let t = 0; t < rows; t++)
    for (let o = 0; o < out; o++) {
      let v = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) v += x[t * inF + i] * Wp[o * inF + i];
      y.push(v);
    }
  return y;
}

/** Dims [out, in, r]: 1, primes, non-multiples of the 64-row workgroup. */
const dims = fc.tuple(fc.constantFrom(1, 2, 3, 7, 13, 65), fc.constantFrom(1, 3, 5, 8, 17), fc.constantFrom(1, 2, 4));

describe('doraNorm: the fused column-norm step', () => {
  it('checkOp: webgpu vs cpu, float64 gradcheck, and the naive twin (random out, in, r)', async () => {
    const s = 1.75;
    const report = await mg.testing.checkOp((W, A, Bm) => doraNorm(W, A, Bm, s), {
      shapes: dims.map(([out, inF, r]) => [
        [out, inF],
        [r, inF],
        [out, r],
      ]),
      twin: (W, A, Bm) => doraNormNaive(W, A, Bm, s),
      numRuns: 6,
    });
    expect(report.ok).toBe(true);
    expect(report.twin!.maxAbsErr).toBeLessThan(1e-12);
  });

  it('matches a float64 loop of ‖W + s·B A‖ per output row; profile shows one dora.norm dispatch', async () => {
    const [out, inF, r, s] = [70, 9, 3, 0.5];
    const W = mg.randn([out, inF], { seed: 1, backend: 'cpu' });
    const A = mg.randn([r, inF], { seed: 2, backend: 'cpu' });
    const Bm = mg.randn([out, r], { seed: 3, backend: 'cpu' });
    const [wd, ad, bd] = await Promise.all([W.data(), A.data(), Bm.data()]);
    const { n } = mergedRef(wd, ad, bd, new Float64Array(out).fill(1), out, inF, r, s);
    expectClose(await doraNorm(W, A, Bm, s).data(), n, { rtol: 1e-13, atol: 0 }, 'cpu');
    const g = await Promise.all([W, A, Bm].map((t) => mg.to(t, 'webgpu')));
    const { result, kernels } = await mg.profile(() => doraNorm(g[0], g[1], g[2], s));
    expectClose(await result.data(), n, { rtol: 1e-5, atol: 1e-6 }, 'webgpu');
    expect(kernels.map((k) => k.kernel)).toEqual(['dora.norm.norm']);
    expect(() => doraNorm(W, Bm, A, s)).toThrow(
      /dora\.norm: expects W \[out, in\], A \[r, in\], B \[out, r\]; got W \[70, 9\], A \[70, 3\], B \[3, 9\]/,
    );
  });
});

describe('dora: the DoRA linear map', () => {
  const [rows, out, inF, r, s] = [4, 6, 5, 2, 1.5];
  const make = (backend: B) => ({
    x: mg.randn([rows, inF], { seed: 11, backend }),
    W: mg.randn([out, inF], { seed: 12, backend }),
    m: mg.rand([out], { seed: 13, low: 0.5, high: 2, backend }),
    A: mg.randn([r, inF], { seed: 14, backend }),
    B: mg.randn([out, r], { seed: 15, backend }),
    bias: mg.randn([out], { seed: 16, backend }),
  });

  it('forward is exactly x W′ᵀ + bias with W′ = m ⊙ (W + s·B A) / ‖W + s·B A‖_row (cpu float64, webgpu)', async () => {
    const c = make('cpu');
    const [xd, wd, md, ad, bd, biasd] = await Promise.all([c.x, c.W, c.m, c.A, c.B, c.bias].map((t) => t.data()));
    const { Wp } = mergedRef(wd, ad, bd, md, out, inF, r, s);
    const ref = linearRef(xd, Wp, biasd, rows, out, inF);
    expectClose(await dora(c.x, c.W, c.m, c.A, c.B, { scaling: s, bias: c.bias }).data(), ref, { rtol: 1e-12, atol: 1e-12 }, 'cpu');
    const g = make('webgpu');
    expectClose(await dora(g.x, g.W, g.m, g.A, g.B, { scaling: s, bias: g.bias }).data(), ref, { rtol: 1e-4, atol: 1e-5 }, 'webgpu');
    // a 1-D x
    expectClose(
      await dora(mg.tensor(Array.from(xd).slice(0, inF), [inF], { backend: 'cpu' }), c.W, c.m, c.A, c.B, {
        scaling: s,
        bias: c.bias,
      }).data(),
      ref.slice(0, out),
      { rtol: 1e-12, atol: 1e-12 },
      '1-D',
    );
  });

  it('detached norm: gradients of x, m, A, B equal finite differences with the norm held constant', async () => {
    const c = make('cpu');
    const n0 = mg.noGrad(() => doraNorm(c.W, c.A, c.B, s));
    // x and m: the norm does not depend on them, so the plain gradcheck applies
    const r1 = await mg.testing.gradcheck((x, m) => dora(x, c.W, m, c.A, c.B, { scaling: s }), [c.x, c.m]);
    expect(r1.ok).toBe(true);
    // A and B: the paper's gradient is the derivative with ‖·‖ a constant
    const r2 = await mg.testing.gradcheck((x, m, A, Bm) => dora(x, c.W, m, A, Bm, { scaling: s, norm: n0 }), [c.x, c.m, c.A, c.B]);
    expect(r2.ok).toBe(true);
    // ... which is what the detached op computes (and on webgpu too)
    const grads = async (backend: B, norm: 'given' | 'detached') => {
      const t = make(backend);
      for (const p of [t.x, t.m, t.A, t.B]) p.requiresGrad = true;
      const n = backend === 'cpu' ? n0 : await mg.to(n0, 'webgpu');
      mg.tidy(() =>
        mg
          .mul(
            dora(t.x, t.W, t.m, t.A, t.B, { scaling: s, norm: norm === 'given' ? n : undefined }),
            mg.randn([rows, out], { seed: 99, backend }),
          )
          .sum()
          .backward(),
      );
      return Promise.all([t.x, t.m, t.A, t.B].map(async (p) => Array.from(await p.grad!.data())));
    };
    const want = await grads('cpu', 'given');
    const cpuDetached = await grads('cpu', 'detached');
    const gpuDetached = await grads('webgpu', 'detached');
    want.forEach((w, i) => {
      expectClose(cpuDetached[i], w, { rtol: 1e-12, atol: 1e-12 }, `cpu grad ${i}`);
      expectClose(gpuDetached[i], w, { rtol: 1e-3, atol: 1e-4 }, `webgpu grad ${i}`);
    });
    // the norm is really detached: A's gradient differs from the full one
    const full = await mg.testing.gradcheck((A) => dora(c.x, c.W, c.m, A, c.B, { scaling: s }), [c.A], { throwOnFail: false });
    expect(full.ok).toBe(false);
  });

  it('detachNorm: false — the full gradient (through the fused norm), checked three ways', async () => {
    const twin = (x: mg.Tensor, W: mg.Tensor, m: mg.Tensor, A: mg.Tensor, Bm: mg.Tensor) =>
      mg.mul(
        mg.add(
          mg.ops.matmulT(x, W, { transB: true }),
          mg.ops.matmulT(mg.mul(mg.ops.matmulT(x, A, { transB: true }), 0.5), Bm, { transB: true }),
        ),
        mg.div(m, doraNormNaive(W, A, Bm, 0.5)),
      );
    const report = await mg.testing.checkOp((x, W, m, A, Bm) => dora(x, W, m, A, Bm, { scaling: 0.5, detachNorm: false }), {
      shapes: fc.tuple(fc.constantFrom(1, 3), dims).map(([t, [o, i, k]]) => [[t, i], [o, i], [o], [k, i], [o, k]]),
      arbitraries: [
        undefined,
        undefined,
        (sh) => fc.array(fc.double({ min: 0.5, max: 2, noNaN: true }), { minLength: sh[0], maxLength: sh[0] }),
      ],
      twin,
      numRuns: 4,
      tol: { gpu: { rtol: 1e-3, atol: 1e-4 } },
    });
    expect(report.ok).toBe(true);
  });
});

describe('DoRALinear', () => {
  const mkLinear = (backend: B) => new nn.Linear(5, 6, { seed: 3, backend });

  it('starts as the base layer (m = ‖W‖_row, B = 0); the budget is r(in + out) + out', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const lin = mkLinear(backend);
      const x = mg.randn([3, 5], { seed: 4, backend });
      const base = await lin.forward(x).data();
      const layer = new DoRALinear(lin, { r: 2, alpha: 4, seed: 1 });
      const wd = await lin.weight.data();
      const norms = Array.from({ length: 6 }, (_, o) => Math.sqrt(Array.from(wd.slice(o * 5, o * 5 + 5)).reduce((t, v) => t + v * v, 0)));
      expectClose(await layer.lora_magnitude_vector.data(), norms, { rtol: 1e-6 }, `${backend} m`);
      expectClose(await layer.forward(x).data(), base, { rtol: 1e-5, atol: 1e-6 }, `${backend} step 0`);
      expect(layer.adapterSize).toBe(2 * (5 + 6) + 6);
      expect(layer.adapterParameters()).toEqual([layer.lora_A, layer.lora_B, layer.lora_magnitude_vector]);
      expect(layer.scaling).toBe(2);
      expect(lin.weight.requiresGrad).toBe(false);
    }
  });

  it('merge / unmerge as PEFT: W ← W′, the outputs kept; unmerge restores W', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const lin = mkLinear(backend);
      const layer = new DoRALinear(lin, { r: 2, alpha: 3, seed: 1 });
      for (const [i, p] of layer.adapterParameters().entries())
        nn.copyInto(p, mg.add(mg.randn(p.shape, { seed: 20 + i, std: 0.5, backend }), i === 2 ? 1 : 0));
      const x = mg.randn([3, 5], { seed: 4, backend });
      const y = await layer.forward(x).data();
      const W0 = await lin.weight.data();
      const [ad, bd, md] = await Promise.all([layer.lora_A.data(), layer.lora_B.data(), layer.lora_magnitude_vector.data()]);
      const { Wp } = mergedRef(W0, ad, bd, md, 6, 5, 2, 1.5);
      const tol = backend === 'cpu' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-5 };
      const dW = await layer.deltaWeight().data();
      expectClose(
        Array.from(dW).map((v, i) => v + W0[i]),
        Wp,
        tol,
        `${backend} ΔW`,
      );
      layer.merge();
      expectClose(await lin.weight.data(), Wp, tol, `${backend} merged W`);
      expectClose(await layer.forward(x).data(), y, tol, `${backend} merged forward`);
      expect(() => layer.deltaWeight()).toThrow(/DoRALinear\.deltaWeight: the layer is merged/);
      layer.unmerge();
      expectClose(await lin.weight.data(), W0, backend === 'cpu' ? tol : { rtol: 1e-5, atol: 1e-5 }, `${backend} unmerged W`);
      expectClose(await layer.forward(x).data(), y, tol, `${backend} unmerged forward`);
    }
  });

  it("with dropout: PEFT's base(x) + (m/n - 1)·dropout(x) Wᵀ + (m/n)·s·B A dropout(x); eval mode is the plain map", async () => {
    const lin = mkLinear('cpu');
    const layer = new DoRALinear(lin, { r: 2, alpha: 2, dropout: 0.3, seed: 5 });
    for (const [i, p] of layer.adapterParameters().entries())
      nn.copyInto(p, mg.add(mg.randn(p.shape, { seed: 30 + i, std: 0.5, backend: 'cpu' }), i === 2 ? 1 : 0));
    layer.train(true);
    const x = mg.randn([4, 5], { seed: 6, backend: 'cpu' });
    const y = await layer.forward(x).data();
    const xd = new Dropout(0.3, { seed: subSeed(5, 1) }).train(true) as Dropout;
    const xdd = await xd.forward(x).data();
    const [xv, W, ad, bd, md, biasd] = await Promise.all([
      x.data(),
      lin.weight.data(),
      layer.lora_A.data(),
      layer.lora_B.data(),
      layer.lora_magnitude_vector.data(),
      lin.bias!.data(),
    ]);
    const { Wp } = mergedRef(W, ad, bd, md, 6, 5, 2, 1);
    const base = linearRef(xv, Array.from(W), biasd, 4, 6, 5);
    const dor = linearRef(xdd, Wp, null, 4, 6, 5);
    const xdW = linearRef(xdd, Array.from(W), null, 4, 6, 5);
    expectClose(
      y,
      base.map((v, i) => v + dor[i] - xdW[i]),
      { rtol: 1e-12, atol: 1e-12 },
      'dropout path',
    );
    layer.train(false);
    expectClose(await layer.forward(x).data(), linearRef(xv, Wp, biasd, 4, 6, 5), { rtol: 1e-12, atol: 1e-12 }, 'eval');
  });
});

describe("inject 'dora' and PEFT's DoRA files", () => {
  const tinyGPT = (backend: B) => new nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, seed: 7, backend });
  const ids = (backend: B) => mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], [2, 6], { dtype: 'int32', backend });

  it('inject: DoRALinear layers, the budget, and a save -> load round trip in PEFT layout (lora_magnitude_vector, use_dora)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const peft = inject(tinyGPT(backend), { adapter: 'dora', r: 2, alpha: 4, targets: ['q', 'v'], seed: 1 });
      const rep = peft.trainableParameters();
      expect(rep.perModule.map((m) => [m.name, m.kind, m.params])).toEqual([
        ['blocks.0.attn.q', 'dora', 2 * 16 + 8],
        ['blocks.0.attn.v', 'dora', 2 * 16 + 8],
        ['blocks.1.attn.q', 'dora', 2 * 16 + 8],
        ['blocks.1.attn.v', 'dora', 2 * 16 + 8],
      ]);
      expect(rep.total).toBe(4 * 40);
      for (const [i, p] of peft.adapterParameters().entries())
        nn.copyInto(p, mg.add(mg.randn(p.shape, { seed: 40 + i, std: 0.2, backend }), i % 3 === 2 ? 1 : 0));
      const dir = join(tmp, `dora-${backend}`);
      await mg.peft.saveAdapter(dir, peft);
      const cfg = JSON.parse(await fs.readFile(join(dir, 'adapter_config.json'), 'utf8'));
      expect(cfg.use_dora).toBe(true);
      expect(cfg.peft_type).toBe('LORA');
      expect(cfg.lora_alpha).toBe(4);
      expect(cfg.r).toBe(2);
      expect(cfg.use_mora).toBeUndefined();
      const header = (await readSafetensorsHeader(join(dir, 'adapter_model.safetensors'))).tensors;
      const keys = Object.keys(header).sort();
      expect(keys.slice(0, 3)).toEqual([
        'base_model.model.blocks.0.attn.q.lora_A.weight',
        'base_model.model.blocks.0.attn.q.lora_B.weight',
        'base_model.model.blocks.0.attn.q.lora_magnitude_vector',
      ]);
      expect(keys.length).toBe(12);
      expect(header['base_model.model.blocks.1.attn.v.lora_magnitude_vector'] as { shape: number[]; dtype: string }).toMatchObject({
        shape: [8],
        dtype: 'F32',
      });

      const want = await peft.forward(ids(backend)).logits.data();
      const again = await loadAdapter(dir, tinyGPT(backend));
      expect(again.config.adapter).toBe('dora');
      expect(again.layers.every(([, l]) => l instanceof DoRALinear)).toBe(true);
      expectClose(await again.forward(ids(backend)).logits.data(), want, { rtol: 1e-6, atol: 1e-6 }, `${backend} loaded`);
      again.mergeAll();
      expectClose(await again.forward(ids(backend)).logits.data(), want, { rtol: 1e-4, atol: 1e-5 }, `${backend} merged`);
    }
  });

  it('training: one AdamW step moves A, B and m only and lowers the loss; a ReLoRA restart keeps the function (webgpu)', async () => {
    const model = tinyGPT('webgpu');
    const peft = inject(model, { adapter: 'dora', r: 2, alpha: 4, targets: ['q', 'v', 'up'], seed: 3 });
    const frozen = model.parameters().filter((p) => !p.requiresGrad);
    const before = await Promise.all(frozen.map((p) => p.data()));
    const opt = new mg.optim.AdamW(peft.adapterParameters(), { lr: 1e-2 });
    const x = ids('webgpu');
    const lossOf = () => mg.crossEntropy(model.forward(x).logits.reshape([12, 11]), x.reshape([12]));
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      losses.push(
        await mg
          .tidy(() => {
            const l = lossOf();
            l.backward();
            return l;
          })
          .item(),
      );
      for (const p of peft.adapterParameters()) expect(p.grad, p.name).not.toBe(null);
      opt.step();
      opt.zeroGrad();
    }
    expect(losses[2]).toBeLessThan(losses[0]);
    const after = await Promise.all(frozen.map((p) => p.data()));
    after.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(before[i])));
    const y = await model.forward(x).logits.data();
    new mg.peft.ReLoRA(peft, opt, { every: 100, seed: 1 }).restart();
    for (const [, l] of peft.layers) expect(Array.from(await (l as DoRALinear).lora_B.data()).every((v) => v === 0)).toBe(true);
    expectClose(await model.forward(x).logits.data(), y, { rtol: 1e-4, atol: 1e-5 }, 'after the restart');
  });

  it('files: a DoRA file without magnitudes, a magnitude in a LoRA file, a wrong magnitude shape', async () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'dora', r: 2, targets: ['q'] });
    const dir = join(tmp, 'dora-bad');
    await saveAdapter(dir, peft);
    const cfgPath = join(dir, 'adapter_config.json');
    const cfg = JSON.parse(await fs.readFile(cfgPath, 'utf8'));
    await fs.writeFile(cfgPath, JSON.stringify({ ...cfg, use_dora: false }));
    await expect(loadAdapter(dir, tinyGPT('cpu'))).rejects.toThrow(
      /unexpected keys .*lora_magnitude_vector.* \(lora_magnitude_vector is DoRA's; the config does not say use_dora: true\)/,
    );
    const lora = inject(tinyGPT('cpu'), { adapter: 'lora', r: 2, targets: ['q'] });
    const dir2 = join(tmp, 'dora-missing');
    await saveAdapter(dir2, lora);
    const cfg2 = JSON.parse(await fs.readFile(join(dir2, 'adapter_config.json'), 'utf8'));
    await fs.writeFile(join(dir2, 'adapter_config.json'), JSON.stringify({ ...cfg2, use_dora: true }));
    await expect(loadAdapter(dir2, tinyGPT('cpu'))).rejects.toThrow(
      /blocks\.0\.attn\.q: missing lora_magnitude_vector \(use_dora is true\)/,
    );
  });
});
