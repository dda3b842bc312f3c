// Adam, AdamW, RMSprop and Adagrad against PyTorch 1.13 (test/ops/fixtures/losses_optim.py wrote
// losses-optim.json): 10-step trajectories of a parameter whose gradient is g = a·p + n_t, for each
// option combination, fused and naive, on cpu (float64, to 1e-10) and webgpu (float32 tolerance),
// plus the final state under torch's buffer names and clipGradValue.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

interface OptCase {
  name: string;
  optimizer: 'Adam' | 'AdamW' | 'RMSprop' | 'Adagrad';
  opts: Record<string, unknown>;
  trajectory: number[][];
  state: Record<string, number[]>;
  step: number;
}
const fixture = JSON.parse(readFileSync(new URL('../ops/fixtures/losses-optim.json', import.meta.url), 'utf8')) as {
  optim: { p0: number[]; a: number[]; noise: number[][]; cases: OptCase[] };
  clipGradValue: { grad: number[]; value: number; clipped: number[] };
};
const { p0, a, noise, cases } = fixture.optim;
const MAKE = {
  Adam: (ps: mg.Tensor[], o: object) => new mg.optim.Adam(ps, o),
  AdamW: (ps: mg.Tensor[], o: object) => new mg.optim.AdamW(ps, o),
  RMSprop: (ps: mg.Tensor[], o: object) => new mg.optim.RMSprop(ps, o),
  Adagrad: (ps: mg.Tensor[], o: object) => new mg.optim.Adagrad(ps, o),
};
const TOL = { cpu: { rtol: 1e-10, atol: 1e-12 }, webgpu: { rtol: 2e-4, atol: 2e-5 } };

async function trajectory(c: OptCase, backend: mg.BackendName, impl: 'fused' | 'naive') {
  const p = mg.tensor(p0, [p0.length], { backend, requiresGrad: true });
  const at = mg.tensor(a, [a.length], { backend });
  const opt = MAKE[c.optimizer]([p], { ...c.opts, impl });
  const traj: number[][] = [];
  for (const n of noise) {
    const nt = mg.tensor(n, [n.length], { backend });
    p.grad = mg.noGrad(() => mg.add(mg.mul(p, at), nt)); // g = a·p + n_t
    opt.step();
    opt.zeroGrad();
    nt.dispose();
    traj.push(Array.from(await p.data()));
  }
  const st = opt.stateOf(p)!;
  const state = Object.fromEntries(
    await Promise.all(Object.entries(st.buffers).map(async ([k, t]) => [k, Array.from(await t.data())] as const)),
  );
  opt.dispose();
  p.dispose();
  at.dispose();
  return { traj, state, step: st.step };
}

describe('optimizers against PyTorch 1.13 (10 steps, g = a·p + n_t)', () => {
  it('the fixture covers each optimizer and option', () => {
    expect(new Set(cases.map((c) => c.optimizer))).toEqual(new Set(['Adam', 'AdamW', 'RMSprop', 'Adagrad']));
    for (const k of ['amsgrad', 'weightDecay', 'momentum', 'centered', 'alpha', 'lrDecay', 'initialAccumulatorValue', 'eps', 'betas'])
      expect(
        cases.some((c) => k in c.opts),
        k,
      ).toBe(true);
  });
  for (const backend of ['cpu', 'webgpu'] as const) {
    for (const impl of ['fused', 'naive'] as const) {
      it(`${backend} ${impl}: trajectories, final state (torch's buffer names) and step count`, async () => {
        for (const c of cases) {
          const r = await trajectory(c, backend, impl);
          r.traj.forEach((p, t) => expectClose(p, c.trajectory[t], TOL[backend], `${backend} ${impl} ${c.name} step ${t + 1}`));
          expect(Object.keys(r.state).sort(), c.name).toEqual(Object.keys(c.state).sort());
          for (const [k, v] of Object.entries(c.state)) expectClose(r.state[k], v, TOL[backend], `${backend} ${impl} ${c.name} ${k}`);
          expect(r.step).toBe(c.step);
        }
      });
    }
  }
  it('clipGradValue clamps each gradient into [-value, value] (cpu and webgpu)', async () => {
    const { grad, value, clipped } = fixture.clipGradValue;
    for (const backend of ['cpu', 'webgpu'] as const) {
      const p = mg.zeros([grad.length], { backend, requiresGrad: true });
      const q = mg.zeros([2], { backend, requiresGrad: true }); // no gradient: skipped
      p.grad = mg.tensor(grad, [grad.length], { backend });
      mg.optim.clipGradValue([p, q], value);
      expectClose(await p.grad.data(), backend === 'cpu' ? clipped : clipped.map(Math.fround), { rtol: 0, atol: 0 }, backend);
      expect(q.grad).toBeNull();
    }
  });
});
