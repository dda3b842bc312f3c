// Every loss and option combination against PyTorch 1.13 (test/ops/fixtures/losses_optim.py wrote
// losses-optim.json): the value and the gradients of L = Σ loss·W for fixed W, on cpu (float64, to
// 1e-10) and webgpu (float32 tolerance); the naive twins of the fused class losses on cpu as well.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { crossEntropyNaive, nllLossNaive } from '../../src/ops/loss.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

type Num = number | 'nan' | 'inf' | '-inf';
interface FixTensor {
  data: Num[];
  shape: number[];
  dtype?: 'int32';
}
interface LossCase {
  name: string;
  inputs: Record<string, FixTensor>;
  opts: Record<string, number | string>;
  out: FixTensor;
  W: FixTensor;
  grads: Record<string, Num[]>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/losses-optim.json', import.meta.url), 'utf8')) as { losses: LossCase[] };
const num = (v: Num): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);

type LossFn = (t: Record<string, mg.Tensor>, opts: Record<string, unknown>) => mg.Tensor;
const FNS: Record<string, LossFn> = {
  mseLoss: (t, o) => mg.mseLoss(t.input, t.target, o),
  l1Loss: (t, o) => mg.l1Loss(t.input, t.target, o),
  smoothL1Loss: (t, o) => mg.smoothL1Loss(t.input, t.target, o),
  bceWithLogits: (t, o) => mg.bceWithLogits(t.input, t.target, { ...o, weight: t.weight, posWeight: t.posWeight }),
  crossEntropy: (t, o) => mg.crossEntropy(t.logits, t.targets, { ...o, weight: t.weight }),
  nllLoss: (t, o) => mg.nllLoss(t.input, t.targets, { ...o, weight: t.weight }),
};
const TWINS: Record<string, LossFn> = {
  crossEntropy: (t, o) => crossEntropyNaive(t.logits, t.targets, { ...o, weight: t.weight }),
  nllLoss: (t, o) => nllLossNaive(t.input, t.targets, { ...o, weight: t.weight }),
};

async function runCase(c: LossCase, fn: LossFn, backend: mg.BackendName) {
  const ts: Record<string, mg.Tensor> = {};
  for (const [k, v] of Object.entries(c.inputs))
    ts[k] = mg.tensor(v.data.map(num), v.shape, { backend, dtype: v.dtype, requiresGrad: k in c.grads });
  const out = fn(ts, c.opts);
  const W = mg.tensor(c.W.data.map(num), c.W.shape, { backend });
  out.mul(W).sum().backward();
  const res = {
    shape: [...out.shape],
    out: await out.data(),
    grads: Object.fromEntries(await Promise.all(Object.keys(c.grads).map(async (k) => [k, await ts[k].grad!.data()] as const))),
  };
  for (const t of [...Object.values(ts), out, W]) t.dispose();
  return res;
}

const TOL = { cpu: { rtol: 1e-10, atol: 1e-12 }, webgpu: { rtol: 1e-4, atol: 2e-5 } };

describe('losses against PyTorch 1.13', () => {
  it('the fixture covers every loss and reduction', () => {
    const names = new Set(fixture.losses.map((c) => c.name.split(' ')[0]));
    expect([...names].sort()).toEqual(Object.keys(FNS).sort());
    expect(fixture.losses.length).toBeGreaterThan(80);
  });
  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`${backend}: value and input gradients of each case`, async () => {
      for (const c of fixture.losses) {
        const fn = FNS[c.name.split(' ')[0]];
        const r = await runCase(c, fn, backend);
        expect(r.shape, c.name).toEqual(c.out.shape);
        expectClose(r.out, c.out.data.map(num), TOL[backend], `${backend} ${c.name} value`);
        for (const [k, g] of Object.entries(c.grads)) expectClose(r.grads[k], g.map(num), TOL[backend], `${backend} ${c.name} d/d${k}`);
      }
    });
  }
  it('the naive twins of crossEntropy and nllLoss (cpu) match torch on class-index targets', async () => {
    for (const c of fixture.losses) {
      const twin = TWINS[c.name.split(' ')[0]];
      if (!twin || c.inputs.targets.dtype !== 'int32') continue;
      const r = await runCase(c, twin, 'cpu');
      expectClose(r.out, c.out.data.map(num), TOL.cpu, `twin ${c.name} value`);
      for (const [k, g] of Object.entries(c.grads)) expectClose(r.grads[k], g.map(num), TOL.cpu, `twin ${c.name} d/d${k}`);
    }
  });
});
