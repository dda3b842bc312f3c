// ReMoRA / ReLoRA restarts: every T steps W += ΔW exactly (backend float), M = 0 / (A re-drawn, B = 0),
// the type cycles 1 -> 2 -> 3 -> 4 -> 1 (or 1 <-> 2, or a given list), the adapter optimizer state is
// dropped, the model's function is unchanged by a restart, the re-warm / jagged schedules, state
// dicts and errors.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { AdamW, LrScheduler, constantLr, cosineLr } from '../../src/optim/index.js';
import { type LoRALinear, MoRALinear, ReLoRA, ReMoRA, inject, type AdapterLinear, type PeftModel } from '../../src/adapters/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';

const tinyGPT = (backend: B) => new nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, seed: 7, backend });
const ids = (backend: B) => mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], [2, 6], { dtype: 'int32', backend });
const targets = (backend: B) => mg.tensor([2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2], [2, 6], { dtype: 'int32', backend });

interface Snapshot {
  W: number[];
  dW: number[];
}
const snap = async (layers: [string, AdapterLinear][]): Promise<Snapshot[]> =>
  Promise.all(layers.map(async ([, l]) => ({ W: Array.from(await l.weight.data()), dW: Array.from(await l.deltaWeight().data()) })));

/** Trains `steps` AdamW steps, calling the controller after each; checks every restart. */
async function trainAndCheck(
  b: B,
  peft: PeftModel<nn.GPT>,
  ctl: ReMoRA | ReLoRA,
  opt: AdamW,
  steps: number,
  onRestart: (k: number) => Promise<void>,
) {
  const round = b === 'cpu' ? (v: number) => v : Math.fround;
  const layers = peft.layers;
  for (let s = 1; s <= steps; s++) {
    mg.tidy(() => peft.model.forward(ids(b), targets(b)).loss!.backward());
    opt.step();
    opt.zeroGrad();
    const before = await snap(layers);
    const yBefore = await peft.model.forward(ids(b)).logits.data();
    const restarted = ctl.step();
    expect(restarted, `step ${s}`).toBe(s % ctl.every === 0);
    if (!restarted) {
      expect(opt.stateOf(layers[0][1].adapterParameters()[0])?.step).toBe(s - Math.floor(s / ctl.every) * ctl.every);
      continue;
    }
    // W changed by exactly ΔW (rounded once, in the backend's float); optimizer state dropped
    for (const [i, [name, l]] of layers.entries()) {
      const W = Array.from(await l.weight.data());
      expect(W, name).toEqual(before[i].W.map((w, j) => round(w + before[i].dW[j])));
      for (const p of l.adapterParameters()) expect(opt.stateOf(p), `${name} optimizer state`).toBeUndefined();
      expect(l.merged).toBe(false);
    }
    // the model computes the same function right after the restart
    expectClose(await peft.model.forward(ids(b)).logits.data(), yBefore, { rtol: 1e-5, atol: 1e-6 }, `step ${s} function kept`);
    await onRestart(s / ctl.every);
  }
}

describe('ReMoRA', () => {
  it('4-cycle (reference default): types 1 -> 2 -> 3 -> 4 -> 1, M = 0, W += ΔW, state reset (cpu)', async () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1, seed: 1 });
    const opt = new AdamW(peft.adapterParameters(), { lr: 1e-2, weightDecay: 0 });
    const remora = new ReMoRA(peft, opt, { every: 2, rewarm: 1 });
    expect(remora.cycle).toEqual([1, 2, 3, 4]);
    const seen: number[] = [];
    await trainAndCheck('cpu', peft, remora, opt, 8, async (k) => {
      for (const [, l] of peft.layers) {
        expect(Array.from(await (l as MoRALinear).M.data()).every((v) => v === 0)).toBe(true);
      }
      const types = new Set(peft.layers.map(([, l]) => (l as MoRALinear).type));
      expect(types.size).toBe(1);
      seen.push([...types][0] as number);
      expect(remora.restarts).toBe(k);
    });
    expect(seen).toEqual([2, 3, 4, 1]);
    expect(remora.stateDict()).toEqual({ step: 8, restarts: 4 });
  });

  it('2-cycle (the paper): 1 <-> 2, on webgpu (W += ΔW exact in float32)', async () => {
    const peft = inject(tinyGPT('webgpu'), { adapter: 'mora', r: 2, type: 1, targets: ['q', 'up'] });
    const opt = new AdamW(peft.adapterParameters(), { lr: 1e-2, weightDecay: 0 });
    const remora = new ReMoRA(peft, opt, { every: 1, rewarm: 1, cycle: 2 });
    const seen: number[] = [];
    await trainAndCheck('webgpu', peft, remora, opt, 3, async () => {
      seen.push((peft.layers[0][1] as MoRALinear).type as number);
    });
    expect(seen).toEqual([2, 1, 2]);
  });

  it('an explicit cycle with type 6 (even R), and restart() by hand', async () => {
    const layer = new MoRALinear(new nn.Linear(10, 6, { seed: 3, backend: 'cpu' }), { r: 2, type: 6 });
    nn.copyInto(layer.M, mg.randn(layer.M.shape, { seed: 4, backend: 'cpu' }));
    const remora = new ReMoRA([['layer', layer]], null, { every: 5, cycle: [6, 1], resetOptimizer: false });
    const x = mg.tensor(
      Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      [2, 10],
      { backend: 'cpu' },
    );
    const y = await layer.forward(x).data();
    remora.restart();
    expect(layer.type).toBe(1);
    expectClose(await layer.forward(x).data(), y, { rtol: 1e-12, atol: 1e-12 }, 'function kept');
    remora.restart();
    expect(layer.type).toBe(6);
  });

  it('re-warm schedule (50 steps like the paper) and the jagged cosine', () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1 });
    const opt = new AdamW(peft.adapterParameters(), { lr: 1 });
    const remora = new ReMoRA(peft, opt, { every: 100 });
    expect(remora.rewarm).toBe(50);
    const s = remora.schedule(constantLr({ lr: 2e-4 }));
    expect(s.lr).toBe(2e-4);
    const want = [1, 1, 1 / 50, 2 / 50, 1, 1, 1, 1 / 50];
    [0, 99, 100, 101, 149, 150, 199, 200].forEach((i, n) => expect(s.lrAt(i) / 2e-4).toBeCloseTo(want[n], 12));
    const j = remora.jaggedCosine({ lr: 1e-3, total: 1000, warmup: 10 });
    const ref = cosineLr({ lr: 1e-3, total: 1000, warmup: 10, restarts: { every: 100, warmup: 50 } });
    for (const i of [0, 5, 50, 99, 100, 120, 150, 599, 600, 999]) expect(j.lrAt(i)).toBe(ref.lrAt(i));
    // driven by the LrScheduler: the lr in the group drops right after each restart
    const sched = new LrScheduler(opt, s);
    for (let i = 0; i < 100; i++) sched.step();
    expect(opt.groups[0].lr).toBeCloseTo((1 / 50) * 1, 12);
  });

  it('state dict round trip; errors', () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1 });
    const opt = new AdamW(peft.adapterParameters());
    const a = new ReMoRA(peft, opt, { every: 3 });
    a.loadStateDict({ step: 7, restarts: 2 });
    expect([a.stepCount, a.restarts]).toEqual([7, 2]);
    expect(a.step()).toBe(false);
    expect(a.step()).toBe(true); // step 9
    expect(() => a.loadStateDict({ step: -1, restarts: 0 })).toThrow(/ReMoRA\.loadStateDict: step must be a non-negative integer, got -1/);
    expect(() => new ReMoRA(peft, opt, { every: 0 })).toThrow(/ReMoRA: every must be a positive integer, got 0/);
    expect(() => new ReMoRA(peft, opt, { every: 10, rewarm: 11 })).toThrow(/rewarm must be an integer in \[0, every = 10\]/);
    expect(() => new ReMoRA(peft, null)).toThrow(/resetOptimizer needs the optimizer/);
    const six = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2 });
    expect(() => new ReMoRA(six, null, { resetOptimizer: false })).toThrow(
      /'blocks\.0\.attn\.q' has type 6, which is not in the cycle \[1 -> 2 -> 3 -> 4\]; inject with type 1 or pass cycle: \[6, \.\.\.\]/,
    );
    const odd = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1, targets: ['up'] }); // R = 9
    expect(() => new ReMoRA(odd, null, { resetOptimizer: false, cycle: [1, 6] })).toThrow(
      /ReMoRA: type 6 .* needs an even R, got R = 9 in .*, and the cycle visits type 6/,
    );
    const lora = inject(tinyGPT('cpu'), { adapter: 'lora', r: 2 });
    expect(() => new ReMoRA(lora, null, { resetOptimizer: false })).toThrow(/ReMoRA: found no MoRA layers .* use ReLoRA/);
    expect(() => new ReLoRA(peft, null, { resetOptimizer: false })).toThrow(/ReLoRA: blocks\.0\.attn\.q, .* are not LoRA; use ReMoRA/);
    expect(() => new ReMoRA(inject(tinyGPT('cpu'), { adapter: 'full' }), null)).toThrow(/ReMoRA: found no adapter layers/);
    peft.mergeAll();
    expect(() => new ReMoRA(peft, null, { resetOptimizer: false }).restart()).toThrow(
      /ReMoRA: restart 1 of 'blocks\.0\.attn\.q': .*the layer is merged .*unmerge\(\) it before a restart/,
    );
  });
});

describe('ReLoRA', () => {
  it('merge, re-draw A (new seed, Kaiming bound), zero B, reset state; function kept (cpu and webgpu)', async () => {
    for (const b of ['cpu', 'webgpu'] as B[]) {
      const peft = inject(tinyGPT(b), { adapter: 'lora', r: 2, alpha: 4, seed: 2, targets: b === 'cpu' ? undefined : ['v'] });
      const opt = new AdamW(peft.adapterParameters(), { lr: 1e-2, weightDecay: 0 });
      const relora = new ReLoRA(peft, opt, { every: 2, seed: 9 });
      let prevA = await Promise.all(peft.layers.map(async ([, l]) => Array.from(await (l as LoRALinear).lora_A.data())));
      await trainAndCheck(b, peft, relora, opt, 4, async () => {
        const As = await Promise.all(peft.layers.map(async ([, l]) => Array.from(await (l as LoRALinear).lora_A.data())));
        for (const [i, [name, l]] of peft.layers.entries()) {
          const lo = l as LoRALinear;
          expect(
            Array.from(await lo.lora_B.data()).every((v) => v === 0),
            `${name} B`,
          ).toBe(true);
          expect(As[i]).not.toEqual(prevA[i]);
          const bound = 1 / Math.sqrt(lo.inFeatures);
          expect(As[i].every((v) => Math.abs(v) <= bound)).toBe(true);
        }
        prevA = As;
      });
      expect(relora.restarts).toBe(2);
    }
  });

  it('restarts are reproducible from the seed', async () => {
    const run = async () => {
      const peft = inject(tinyGPT('cpu'), { adapter: 'lora', r: 2, targets: ['q'], seed: 1 });
      new ReLoRA(peft, null, { resetOptimizer: false, seed: 5 }).restart();
      return Array.from(await (peft.layers[0][1] as LoRALinear).lora_A.data());
    };
    expect(await run()).toEqual(await run());
  });
});
