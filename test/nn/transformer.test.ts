// Transformer models: a whole TransformerBlock gradcheck (dim 8, 2 heads, T = 3; GPT-2 and LLaMA-style
// variants), GPT and Encoder webgpu vs cpu, GPT-2 init, causality / bidirectionality / padding,
// generate, and a tiny GPT overfitting one batch on webgpu.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { AdamW } from '../../src/optim/index.js';
import { expectClose, setupBackends, withParams } from '../helpers.js';

setupBackends();
const { gradcheck } = mg.testing;
type B = 'cpu' | 'webgpu';

const randData = (n: number, seed: number, scale = 1) => {
  const r = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
};

const ids = (data: number[], shape: number[], backend?: B) => mg.tensor(data, shape, { dtype: 'int32', backend });

describe('TransformerBlock', () => {
  const variants: [string, nn.BlockOptions][] = [
    ['GPT-2 style (layernorm, gelu, causal)', {}],
    ['LLaMA style (rmsnorm, swiglu, rotary, no bias)', { norm: 'rmsnorm', mlp: 'swiglu', rotary: true, bias: false }],
  ];
  for (const [name, opts] of variants) {
    it(`${name}: gradients w.r.t. x and every parameter match finite differences (dim 8, 2 heads, T = 3)`, async () => {
      for (const b of ['cpu', 'webgpu'] as B[]) {
        const blk = new nn.TransformerBlock(8, 2, { ...opts, seed: 11, backend: b, mlpHidden: 12 });
        // non-trivial norm parameters (ones/zeros would hide mistakes in their gradients)
        for (const [n, p] of blk.namedParameters())
          if (n.startsWith('ln'))
            nn.copyInto(
              p,
              mg.tensor(
                randData(p.size, p.size + n.length, 0.5).map((v) => v + (n.endsWith('weight') ? 1 : 0)),
                p.shape,
                { backend: 'cpu' },
              ),
            );
        const x = mg.tensor(randData(2 * 3 * 8, 4), [2, 3, 8], { backend: b });
        const ps = blk.parameters();
        const tol = b === 'cpu' ? { atol: 1e-7, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-2 };
        const r = await gradcheck((xi, ...pp) => withParams(blk, pp, () => blk.forward(xi)), [x, ...ps], tol);
        expect(r.ok).toBe(true);
        expect(r.checked).toBe(x.size + blk.numParameters());
        blk.dispose();
      }
    });
  }

  it('bidirectional block with a padding mask: gradcheck (padded keys get no gradient through attention)', async () => {
    for (const b of ['cpu', 'webgpu'] as B[]) {
      const blk = new nn.TransformerBlock(8, 2, { causal: false, seed: 12, backend: b, mlpHidden: 8 });
      const x = mg.tensor(randData(2 * 3 * 8, 6), [2, 3, 8], { backend: b });
      const pad = mg.tensor([1, 1, 0, 1, 1, 1], [2, 3], { backend: b });
      const ps = blk.parameters();
      const tol = b === 'cpu' ? { atol: 1e-7, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-2 };
      const wrt = [0, ...ps.map((_, i) => i + 2)];
      const r = await gradcheck((xi, pi, ...pp) => withParams(blk, pp, () => blk.forward(xi, { keyPadding: pi })), [x, pad, ...ps], {
        ...tol,
        wrt,
      });
      expect(r.ok).toBe(true);
    }
  });
});

describe('GPT', () => {
  const cfg = { vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 };

  it('GPT-2 init: weights N(0, 0.02²), residual projections 0.02/√(2·nLayer), biases 0, norms 1', async () => {
    const m = new nn.GPT({ ...cfg, nEmbd: 64, nLayer: 3, nHead: 4, vocabSize: 97, seed: 1, backend: 'cpu' });
    const std = async (n: string) => {
      const d = Array.from(await m.getParameter(n).data());
      return Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    };
    expect(await std('wte.weight')).toBeCloseTo(0.02, 2);
    expect(await std('blocks.0.attn.q.weight')).toBeCloseTo(0.02, 2);
    expect(await std('blocks.2.mlp.up.weight')).toBeCloseTo(0.02, 2);
    const scaled = 0.02 / Math.sqrt(6);
    for (const n of ['blocks.0.attn.o.weight', 'blocks.1.mlp.down.weight']) {
      const s = await std(n);
      expect(s).toBeGreaterThan(scaled * 0.9);
      expect(s).toBeLessThan(scaled * 1.1);
    }
    expect(Array.from(await m.getParameter('blocks.1.attn.k.bias').data()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await m.getParameter('blocks.1.ln2.weight').data()).every((v) => v === 1)).toBe(true);
    m.dispose();
  });

  for (const [name, extra] of [
    ['learned positions, layernorm, gelu, tied head', {}],
    ['rotary, rmsnorm, swiglu, untied head', { positions: 'rotary', norm: 'rmsnorm', mlp: 'swiglu', tiedHead: false }],
  ] as [string, Partial<nn.GPTConfig>][]) {
    it(`${name}: logits, loss and gradients on webgpu match the cpu run of the same seed`, async () => {
      const B = 2;
      const T = 5;
      const x = randData(B * T, 3).map((v) => Math.floor((v + 1) * 5.5));
      const y = randData(B * T, 4).map((v) => Math.floor((v + 1) * 5.5));
      y[3] = -1; // ignored position
      const out: Record<B, { logits: ArrayLike<number>; loss: number; grads: ArrayLike<number>[] }> = {} as never;
      for (const b of ['cpu', 'webgpu'] as B[]) {
        const m = new nn.GPT({ ...cfg, ...extra, seed: 9, backend: b });
        const r = m.forward(ids(x, [B, T], b), ids(y, [B, T], b));
        expect(r.logits.shape).toEqual([B, T, 11]);
        r.loss!.backward();
        out[b] = {
          logits: await r.logits.data(),
          loss: await r.loss!.item(),
          grads: await Promise.all(m.parameters().map((p) => p.grad!.data())),
        };
        m.dispose();
      }
      expectClose(out.webgpu.logits, out.cpu.logits, { rtol: 1e-4, atol: 1e-5 }, 'logits');
      expect(out.webgpu.loss).toBeCloseTo(out.cpu.loss, 5);
      expect(out.cpu.loss).toBeGreaterThan(Math.log(11) - 0.3); // near-uniform predictions at init
      expect(out.cpu.loss).toBeLessThan(Math.log(11) + 0.3);
      out.cpu.grads.forEach((g, i) => expectClose(out.webgpu.grads[i], g, { rtol: 2e-3, atol: 2e-5 }, `grad ${i}`));
    });
  }

  it('loss = mean cross-entropy of the logits over non-ignored targets; the tied head sends gradient into wte', async () => {
    const m = new nn.GPT({ ...cfg, seed: 2, backend: 'cpu' });
    const x = [1, 2, 3, 4];
    const y = [2, 3, -1, 5];
    const { logits, loss } = m.forward(ids(x, [1, 4], 'cpu'), ids(y, [1, 4], 'cpu'));
    const L = await logits.data();
    let ref = 0;
    for (const t of [0, 1, 3]) {
      const row = Array.from(L.subarray(t * 11, t * 11 + 11));
      const mx = Math.max(...row);
      ref += mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0)) - row[y[t]];
    }
    expect(await loss!.item()).toBeCloseTo(ref / 3, 12);
    loss!.backward();
    // rows of wte for tokens never in the input still get gradient through the tied head
    const g = await m.getParameter('wte.weight').grad!.data();
    expect(g.subarray(9 * 16, 10 * 16).some((v) => v !== 0)).toBe(true);
    expect(() => m.forward(ids(Array(9).fill(0), [1, 9], 'cpu'))).toThrow(/GPT.forward: sequence length 9 exceeds blockSize 8/);
    expect(() => m.forward(mg.zeros([1, 3], { backend: 'cpu' }))).toThrow(/GPT.forward: idx must be int32 \[B, T\]/);
  });

  it('is causal: changing a later token leaves earlier logits unchanged', async () => {
    const m = new nn.GPT({ ...cfg, seed: 4, backend: 'cpu' });
    const a = await m.forward(ids([1, 2, 3, 4], [1, 4], 'cpu')).logits.data();
    const b = await m.forward(ids([1, 2, 3, 9], [1, 4], 'cpu')).logits.data();
    expectClose(b.subarray(0, 33), a.subarray(0, 33), { rtol: 1e-12, atol: 1e-14 }, 'positions 0..2');
    expect(b[40]).not.toBeCloseTo(a[40], 6);
  });

  it('dropout: training forwards differ, eval forwards repeat', async () => {
    const m = new nn.GPT({ ...cfg, dropout: 0.2, seed: 4, backend: 'cpu' });
    const x = ids([1, 2, 3, 4], [1, 4], 'cpu');
    const t1 = await m.forward(x).logits.data();
    const t2 = await m.forward(x).logits.data();
    expect(Array.from(t1)).not.toEqual(Array.from(t2));
    m.eval();
    expect(Array.from(await m.forward(x).logits.data())).toEqual(Array.from(await m.forward(x).logits.data()));
  });

  it('generate: appends n tokens; greedy is deterministic and equals topK = 1; crops to blockSize; seeded sampling repeats', async () => {
    const m = new nn.GPT({ ...cfg, seed: 6 });
    const start = ids([1, 2, 3, 4, 5, 6], [2, 3]);
    const g = await m.generate(start, 7, { temperature: 0 });
    expect(g.shape).toEqual([2, 10]); // 3 + 7 > blockSize 8: the context is cropped
    const gd = Array.from(await g.data());
    expect(gd.slice(0, 3)).toEqual([1, 2, 3]);
    expect(Array.from(await (await m.generate(start, 7, { topK: 1, seed: 5 })).data())).toEqual(gd);
    // the greedy continuation is the argmax of the model's own logits
    const first = await m.forward(ids([1, 2, 3], [1, 3])).logits.data();
    const last = Array.from(first.subarray(2 * 11, 3 * 11));
    expect(gd[3]).toBe(last.indexOf(Math.max(...last)));
    const s1 = Array.from(await (await m.generate(start, 5, { temperature: 1.5, seed: 1 })).data());
    const s2 = Array.from(await (await m.generate(start, 5, { temperature: 1.5, seed: 1 })).data());
    expect(s1).toEqual(s2);
    for (const v of s1) expect(v >= 0 && v < 11).toBe(true);
    expect(m.training).toBe(true); // restored after generate
    await expect(m.generate(start, 1, { topK: 0 })).rejects.toThrow(/GPT.generate: topK must be a positive integer, got 0/);
  });

  it('a tiny GPT (vocab 11, dim 16, 2 layers) overfits one batch to loss < 0.05 on webgpu', async () => {
    const m = new nn.GPT({ ...cfg, seed: 1 });
    const rng = new mg.HostRng(3);
    const B = 4;
    const T = 8;
    const seq = Array.from({ length: B * (T + 1) }, () => rng.int(11));
    const x = ids(
      Array.from({ length: B * T }, (_, i) => seq[Math.floor(i / T) * (T + 1) + (i % T)]),
      [B, T],
    );
    const y = ids(
      Array.from({ length: B * T }, (_, i) => seq[Math.floor(i / T) * (T + 1) + (i % T) + 1]),
      [B, T],
    );
    const opt = new AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0 });
    const firstLoss = mg.tidy(() => m.forward(x, y).loss!);
    const first = await firstLoss.item();
    firstLoss.dispose();
    const live = mg.memory().liveTensors;
    let loss = Infinity;
    for (let step = 0; step < 200 && loss >= 0.05; step++) {
      const l = mg.tidy(() => {
        const r = m.forward(x, y);
        r.loss!.backward();
        return r.loss!;
      });
      opt.step();
      opt.zeroGrad();
      if (step % 20 === 19) loss = await l.item();
      l.dispose();
    }
    expect(first).toBeGreaterThan(2);
    expect(loss).toBeLessThan(0.05);
    // no tensors leak per step (the optimizer's moments were created once)
    expect(mg.memory().liveTensors).toBe(live + 2 * m.parameters().length);
    opt.dispose();
    m.dispose();
  });
});

describe('Encoder', () => {
  it('is bidirectional: the first position sees later tokens; padded tokens do not affect the others', async () => {
    const enc = new nn.Encoder({ vocabSize: 11, dim: 8, nLayer: 2, nHead: 2, maxLen: 8, seed: 3, backend: 'cpu' });
    const a = await enc.forward(ids([1, 2, 3, 4], [1, 4], 'cpu')).data();
    const b = await enc.forward(ids([1, 2, 3, 9], [1, 4], 'cpu')).data();
    expect(b[0]).not.toBeCloseTo(a[0], 6);
    const pad = mg.tensor([1, 1, 1, 0], [1, 4], { backend: 'cpu' });
    const pa = await enc.forward(ids([1, 2, 3, 4], [1, 4], 'cpu'), { keyPadding: pad }).data();
    const pb = await enc.forward(ids([1, 2, 3, 9], [1, 4], 'cpu'), { keyPadding: pad }).data();
    expectClose(pb.subarray(0, 24), pa.subarray(0, 24), { rtol: 1e-12, atol: 1e-14 }, 'unpadded positions');
    expect(
      enc
        .namedParameters()
        .map(([n]) => n)
        .slice(0, 3),
    ).toEqual(['wte.weight', 'wpe.weight', 'blocks.0.ln1.weight']);
  });

  it('on embeddings (rotary positions): webgpu matches cpu, with a padding mask', async () => {
    const x = randData(2 * 5 * 8, 8);
    const pad = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    const out: ArrayLike<number>[] = [];
    for (const b of ['cpu', 'webgpu'] as B[]) {
      const enc = new nn.Encoder({ dim: 8, nLayer: 2, nHead: 2, positions: 'rotary', norm: 'rmsnorm', seed: 5, backend: b });
      out.push(await enc.forward(mg.tensor(x, [2, 5, 8], { backend: b }), { keyPadding: mg.tensor(pad, [2, 5], { backend: b }) }).data());
      expect(() => enc.forward(mg.zeros([2, 5, 7], { backend: b }))).toThrow(/Encoder.forward: expects embeddings \[B, T, 8\]/);
    }
    expectClose(out[1], out[0], { rtol: 1e-4, atol: 1e-5 }, 'encoder webgpu vs cpu');
  });
});
