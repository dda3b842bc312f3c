// inject on a tiny GPT: which layers get adapters (default targets, names, dotted suffixes, regex,
// 'all-linear'), freezing, the trainableParameters numbers checked by hand, output == base at step 0,
// one training step moves only the adapters, mergeAll / unmergeAll / mergeAndUnload, 'full', errors.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { AdamW } from '../../src/optim/index.js';
import { LoRALinear, inject } from '../../src/adapters/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';

// vocab 11, block 8, 2 layers, 2 heads, C = 8, gelu MLP (hidden 32), learned positions, tied head.
const tinyGPT = (backend: B, extra: Partial<nn.GPTConfig> = {}) =>
  new nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, seed: 7, backend, ...extra });

// The base count by hand: wte 11·8 = 88, wpe 8·8 = 64; per block ln1 16 + q,k,v,o 4·(64 + 8) = 288
// + ln2 16 + up 8·32 + 32 = 288 + down 32·8 + 8 = 264 -> 872; two blocks 1744; lnF 16. Total 1912.
const BASE_TOTAL = 88 + 64 + 2 * (16 + 288 + 16 + 288 + 264) + 16;

const ids = (backend: B) => mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], [2, 6], { dtype: 'int32', backend });

describe('inject', () => {
  it('LoRA r = 2 on the default targets: layers, freezing and the budget by hand', () => {
    const model = tinyGPT('cpu');
    expect(model.numParameters()).toBe(BASE_TOTAL);
    const peft = inject(model, { adapter: 'lora', r: 2 });
    const names = peft.layers.map(([n]) => n);
    expect(names).toEqual([
      'blocks.0.attn.q',
      'blocks.0.attn.k',
      'blocks.0.attn.v',
      'blocks.0.attn.o',
      'blocks.0.mlp.up',
      'blocks.0.mlp.down',
      'blocks.1.attn.q',
      'blocks.1.attn.k',
      'blocks.1.attn.v',
      'blocks.1.attn.o',
      'blocks.1.mlp.up',
      'blocks.1.mlp.down',
    ]);
    expect(peft.layers.every(([, l]) => l instanceof LoRALinear)).toBe(true);
    expect(model.getModule('blocks.1.attn.v')).toBeInstanceOf(LoRALinear);
    // only adapter parameters train
    const trainable = model
      .namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map(([n]) => n);
    expect(trainable).toEqual(names.flatMap((n) => [`${n}.lora_A`, `${n}.lora_B`]));
    expect(peft.adapterParameters().length).toBe(24);
    const rep = peft.trainableParameters();
    // q/k/v/o: 2·(8 + 8) = 32 each; up: 2·(8 + 32) = 80; down: 2·(32 + 8) = 80 -> 288 per block
    expect(rep.perModule[0]).toEqual({ name: 'blocks.0.attn.q', kind: 'lora', in: 8, out: 8, r: 2, params: 32 });
    expect(rep.perModule[4]).toEqual({ name: 'blocks.0.mlp.up', kind: 'lora', in: 8, out: 32, r: 2, params: 80 });
    expect(rep.perModule[5]).toEqual({ name: 'blocks.0.mlp.down', kind: 'lora', in: 32, out: 8, r: 2, params: 80 });
    expect(rep.total).toBe(576);
    expect(rep.baseTotal).toBe(BASE_TOTAL);
    expect(rep.allTotal).toBe(BASE_TOTAL + 576);
    expect(rep.percent).toBeCloseTo((100 * 576) / (1912 + 576), 10);
    // parameter names follow the module tree
    expect(model.getParameter('blocks.0.attn.q.lora_A').name).toBe('blocks.0.attn.q.lora_A');
  });

  it('MoRA r = 2 at the matched budget: R per module by hand (type 1: 6 and 9; type 6: 6 and 8)', () => {
    const t1 = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1 }).trainableParameters();
    // q: R = floor(√((8 + 8)·2) + 0.5) = floor(5.66 + 0.5) = 6 -> 36; up/down: floor(√(40·2) + 0.5) = 9 -> 81
    expect(t1.perModule[0]).toEqual({ name: 'blocks.0.attn.q', kind: 'mora', in: 8, out: 8, r: 2, R: 6, type: 1, params: 36 });
    expect(t1.perModule[4]).toEqual({ name: 'blocks.0.mlp.up', kind: 'mora', in: 8, out: 32, r: 2, R: 9, type: 1, params: 81 });
    expect(t1.total).toBe(2 * (4 * 36 + 2 * 81));
    const t6 = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2 }).trainableParameters(); // type 6 default: R even
    expect(t6.perModule.map((m) => m.R)).toEqual([6, 6, 6, 6, 8, 8, 6, 6, 6, 6, 8, 8]);
    expect(t6.total).toBe(2 * (4 * 36 + 2 * 64));
    expect(t6.baseTotal).toBe(BASE_TOTAL);
  });

  it('targets: names, dotted suffixes, a regular expression, all-linear, swiglu gate', () => {
    const only = (targets: string[] | string, extra: Partial<nn.GPTConfig> = {}) =>
      inject(tinyGPT('cpu', extra), { adapter: 'mora', type: 1, r: 1, targets }).layers.map(([n]) => n);
    expect(only(['q', 'v'])).toEqual(['blocks.0.attn.q', 'blocks.0.attn.v', 'blocks.1.attn.q', 'blocks.1.attn.v']);
    expect(only(['1.attn.o'])).toEqual(['blocks.1.attn.o']);
    expect(only('blocks\\.0\\.mlp\\..*')).toEqual(['blocks.0.mlp.up', 'blocks.0.mlp.down']);
    expect(only(['gate'], { mlp: 'swiglu' })).toEqual(['blocks.0.mlp.gate', 'blocks.1.mlp.gate']);
    expect(only('all-linear', { tiedHead: false, nLayer: 1 })).toEqual([
      'blocks.0.attn.q',
      'blocks.0.attn.k',
      'blocks.0.attn.v',
      'blocks.0.attn.o',
      'blocks.0.mlp.up',
      'blocks.0.mlp.down',
    ]);
  });

  it('step 0 output == base output; one AdamW step changes only the adapters (webgpu)', async () => {
    for (const adapter of ['lora', 'mora'] as const) {
      const model = tinyGPT('webgpu');
      const before = model.stateDict({ clone: true });
      const base = await model.forward(ids('webgpu')).logits.data();
      const peft = inject(model, { adapter, r: 2, seed: 3 });
      const targets = mg.tensor([2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2], [2, 6], { dtype: 'int32', backend: 'webgpu' });
      const { logits, loss } = model.forward(ids('webgpu'), targets);
      expect(Array.from(await logits.data())).toEqual(Array.from(base));
      const opt = new AdamW(peft.adapterParameters(), { lr: 1e-2 });
      loss!.backward();
      opt.step();
      for (const [n, t] of Object.entries(before)) {
        const name = n.replace(/\.(weight|bias)$/, (m) => (peft.layers.some(([ln]) => n.startsWith(`${ln}.`)) ? `.base${m}` : m));
        expect(Array.from(await model.getParameter(name).data()), name).toEqual(Array.from(await t.data()));
      }
      const moved = await Promise.all(peft.adapterParameters().map(async (p) => Array.from(await p.data()).some((v) => v !== 0)));
      expect(moved.some((m) => m)).toBe(true);
      const after = await model.forward(ids('webgpu')).logits.data();
      expect(Array.from(after)).not.toEqual(Array.from(base));
    }
  });

  it('mergeAll / unmergeAll / mergeAndUnload keep the outputs', async () => {
    for (const adapter of ['lora', 'mora'] as const) {
      const model = tinyGPT('cpu');
      const peft = inject(model, { adapter, r: 2, type: 1, seed: 5 });
      peft.adapterParameters().forEach((p, i) => nn.copyInto(p, mg.randn(p.shape, { seed: 100 + i, std: 0.1, backend: 'cpu' })));
      const y = await model.forward(ids('cpu')).logits.data();
      peft.mergeAll();
      expect(peft.layers.every(([, l]) => l.merged)).toBe(true);
      expectClose(await model.forward(ids('cpu')).logits.data(), y, { rtol: 1e-9, atol: 1e-10 }, `${adapter} merged`);
      peft.unmergeAll();
      expect(peft.layers.some(([, l]) => l.merged)).toBe(false);
      expectClose(await model.forward(ids('cpu')).logits.data(), y, { rtol: 1e-9, atol: 1e-10 }, `${adapter} unmerged`);
      const plain = peft.mergeAndUnload();
      expect(plain.getModule('blocks.0.attn.q')).toBeInstanceOf(nn.Linear);
      expect(plain.numParameters()).toBe(BASE_TOTAL);
      expect(plain.getParameter('blocks.0.attn.q.weight').name).toBe('blocks.0.attn.q.weight');
      expectClose(await plain.forward(ids('cpu')).logits.data(), y, { rtol: 1e-9, atol: 1e-10 }, `${adapter} unloaded`);
      // a fresh injection works again on the unloaded model
      expect(inject(plain, { adapter: 'lora', r: 1 }).layers.length).toBe(12);
    }
  });

  it("'full': unfreezes everything, no adapters, same report shape", () => {
    const model = tinyGPT('cpu');
    model.freeze();
    const peft = inject(model, { adapter: 'full' });
    expect(peft.layers).toEqual([]);
    expect(model.numParameters({ trainableOnly: true })).toBe(BASE_TOTAL);
    expect(peft.adapterParameters().length).toBe(model.parameters().length);
    expect(peft.trainableParameters()).toEqual({
      perModule: [],
      total: BASE_TOTAL,
      baseTotal: BASE_TOTAL,
      allTotal: BASE_TOTAL,
      percent: 100,
    });
  });

  it('errors: no match (lists the Linear names), bad adapter, already injected, a layer too small for the type', () => {
    const model = tinyGPT('cpu');
    expect(() => inject(model, { adapter: 'lora', targets: ['q_proj', 'v_proj'] })).toThrow(
      /inject: no Linear layer matches targets \["q_proj","v_proj"\]; the model's Linear layers are: blocks\.0\.attn\.q, blocks\.0\.attn\.k, .*blocks\.1\.mlp\.down$/,
    );
    expect(() => inject(model, { adapter: 'ia3' as never })).toThrow(/adapter must be 'mora', 'lora', 'dora' or 'full', got 'ia3'/);
    expect(() => inject(model, { adapter: 'lora', targets: '(' })).toThrow(/not a valid regular expression/);
    expect(model.numParameters({ trainableOnly: true })).toBe(BASE_TOTAL); // nothing was touched
    inject(model, { adapter: 'lora', targets: ['q'] });
    expect(() => inject(model, { adapter: 'mora' })).toThrow(/already has adapters \(blocks\.0\.attn\.q, blocks\.1\.attn\.q\)/);
    // type 6 needs R >= 2: a 1 -> 1 Linear with r = 1 gives R = 1
    class Tiny extends nn.Module {
      a = new nn.Linear(4, 4, { backend: 'cpu' });
      b = new nn.Linear(1, 1, { backend: 'cpu' });
      forward(x: mg.Tensor) {
        return x;
      }
    }
    const tiny = new Tiny();
    expect(() => inject(tiny, { adapter: 'mora', r: 1, targets: ['a', 'b'] })).toThrow(
      /inject: cannot adapt 'b' \(Linear 1 -> 1\): mora\.rank: .*too small for type 6/,
    );
    expect(tiny.a).toBeInstanceOf(nn.Linear); // nothing swapped in
    expect(tiny.numParameters({ trainableOnly: true })).toBe(tiny.numParameters());
  });
});
