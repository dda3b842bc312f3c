// KV cache: incremental decoding gives the logits of the full forward (float64 on cpu, float32
// rounding on webgpu) for learned and rotary positions, grouped-query heads and chunked feeding;
// GPT.generate with and without the cache gives the same tokens, also past blockSize (sliding
// window); errors.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

type Cfg = Partial<mg.nn.GPTConfig>;
const CONFIGS: [string, Cfg][] = [
  ['learned positions', {}],
  ['rotary', { positions: 'rotary' }],
  ['rotary, rmsnorm, swiglu, untied head, no bias', { positions: 'rotary', norm: 'rmsnorm', mlp: 'swiglu', tiedHead: false, bias: false }],
  ['learned, 3 heads of 5', { nHead: 3, nEmbd: 15 }],
];

function makeGpt(cfg: Cfg, backend: mg.BackendName): mg.nn.GPT {
  // a large init std: distinct logits, so greedy choices are not near-ties
  return new mg.nn.GPT({ vocabSize: 11, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 16, initStd: 0.4, seed: 3, backend, ...cfg });
}

const ids = (rows: number[][], backend: mg.BackendName) =>
  mg.tensor(rows.flat(), [rows.length, rows[0].length], { dtype: 'int32', backend });

describe('KV cache: logits', () => {
  for (const [name, cfg] of CONFIGS) {
    it(`${name}: prompt, then chunks of 1, 3 and 2 tokens through the cache give the full forward's logits (cpu 1e-10, webgpu float32)`, async () => {
      const seq = [
        [1, 5, 2, 9, 0, 3, 7, 7, 4, 10, 6, 2],
        [4, 4, 8, 1, 6, 2, 0, 9, 3, 5, 1, 10],
      ];
      for (const backend of ['cpu', 'webgpu'] as const) {
        const model = makeGpt(cfg, backend);
        model.eval();
        const full = mg.noGrad(() => model.forward(ids(seq, backend)).logits); // (2, 12, V)
        const cache = model.createCache();
        const parts: Float64Array[] = [];
        for (const [a, b] of [
          [0, 6],
          [6, 7],
          [7, 10],
          [10, 12],
        ]) {
          const chunk = seq.map((r) => r.slice(a, b));
          const y = mg.noGrad(() => model.forward(ids(chunk, backend), undefined, { cache }).logits); // (2, b - a, V)
          parts.push(Float64Array.from(await y.data()));
          expect(cache.length).toBe(b);
          y.dispose();
        }
        // reassemble (B, T, V) from the chunks
        const V = 11;
        const got: number[] = [];
        for (let r = 0; r < 2; r++) {
          parts.forEach((p) => {
            const T = p.length / (2 * V);
            got.push(...p.subarray(r * T * V, (r + 1) * T * V));
          });
        }
        const tol = backend === 'cpu' ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-4 };
        expectClose(got, await full.data(), tol, `${name} ${backend}`);
        expect(() => model.forward(ids([[1], [2]], backend), undefined, { cache })).toThrow(
          /GPT.forward: the KV cache's 12 positions and 1 new tokens exceed blockSize 12/,
        );
        cache.dispose();
        full.dispose();
        model.dispose();
      }
    });
  }

  it('MultiHeadAttention with grouped-query heads and rotary: cached chunks equal the full forward', async () => {
    const mha = new mg.nn.MultiHeadAttention(16, 4, { nKvHead: 2, rotary: true, seed: 2, backend: 'cpu' });
    const x = mg.randn([2, 7, 16], { seed: 4, backend: 'cpu' });
    const full = await mha.forward(x).data();
    const cache = new mg.nn.LayerKVCache();
    const outs: number[][] = [[], []];
    for (const [a, b] of [
      [0, 3],
      [3, 4],
      [4, 7],
    ]) {
      const y = await mha.forward(mg.slice(x, 1, a, b), { cache }).data();
      const T = b - a;
      for (let r = 0; r < 2; r++) outs[r].push(...y.subarray(r * T * 16, (r + 1) * T * 16));
    }
    expect(cache.length).toBe(7);
    expect(cache.k!.shape).toEqual([2, 7, 2, 4]);
    expectClose(outs.flat(), full, { rtol: 1e-10, atol: 1e-12 });
    expect(() => mha.forward(x, { cache, offset: 2 })).toThrow(/offset 2 disagrees with the KV cache's length 7/);
    cache.dispose();
  });
});

describe('KV cache: GPT.generate', () => {
  for (const [name, cfg] of CONFIGS) {
    it(`${name}: greedy tokens with and without the cache are identical, up to and past blockSize`, async () => {
      const model = makeGpt(cfg, 'webgpu');
      for (const [prompt, n] of [
        [[[3, 1, 4]], 6], // stays inside blockSize 12
        [
          [
            [3, 1, 4, 1, 5],
            [9, 2, 6, 5, 3],
          ],
          14, // reaches 12, then slides
        ],
      ] as [number[][], number][]) {
        const idx = ids(prompt, 'webgpu');
        const a = await model.generate(idx, n, { temperature: 0, cache: true });
        const b = await model.generate(idx, n, { temperature: 0, cache: false });
        expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
        expect(a.shape).toEqual([prompt.length, prompt[0].length + n]);
        for (const t of [idx, a, b]) t.dispose();
      }
      // sampling at temperature 1 with the same seed: the same draws
      const idx = ids([[2, 7]], 'webgpu');
      const s1 = await model.generate(idx, 5, { temperature: 1, seed: 9 });
      const s2 = await model.generate(idx, 5, { temperature: 1, seed: 9, cache: false });
      expect(Array.from(await s1.data())).toEqual(Array.from(await s2.data()));
      model.dispose();
    });
  }

  it('cache: true on a model without createCache names the model', async () => {
    const gpt = makeGpt({}, 'cpu');
    // a causal LM without createCache (as the Hugging Face ports)
    class NoCacheLM {
      readonly config = gpt.config;
      training = false;
      forward(idx: mg.Tensor, targets?: mg.Tensor, opts?: mg.nn.LmForwardOptions) {
        return gpt.forward(idx, targets, opts);
      }
      eval() {}
      train() {}
    }
    const bare = new NoCacheLM() as unknown as mg.nn.CausalLM;
    await expect(mg.nn.generate(bare, ids([[1]], 'cpu'), 2, { cache: true })).rejects.toThrow(
      /NoCacheLM.generate: NoCacheLM has no KV cache \(createCache\); pass cache: false/,
    );
    const out = await mg.nn.generate(bare, ids([[1]], 'cpu'), 2, { temperature: 0 }); // uncached
    const ref = await gpt.generate(ids([[1]], 'cpu'), 2, { temperature: 0 });
    expect(Array.from(await out.data())).toEqual(Array.from(await ref.data()));
  });
});
