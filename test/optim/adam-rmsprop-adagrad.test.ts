// Adam, RMSprop and Adagrad: the fused kernels' cpu loops against torch's update rules written out in
// float64 here, the naive twins (primitive ops) against the fused kernels, webgpu against cpu, over
// fast-check sizes and hyperparameters; one dispatch per parameter; state export/import continuing
// exactly (buffers under torch's names); options switched on mid-run; errors. 10-step trajectories
// against PyTorch itself: optim-torch.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';
type Make = (ps: mg.Tensor[], impl: 'fused' | 'naive') => mg.optim.Optimizer<mg.optim.BaseHyper>;

const randData = (n: number, seed: number, scale = 1) => {
  const r = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
};

/** The optimizers' rules in float64, one step over arrays, from torch's documentation. */
interface Hand {
  p: number[];
  s: Record<string, number[]>;
  t: number;
}
function adamHand(h: Hand, g0: number[], o: { lr: number; betas: [number, number]; eps: number; wd: number; amsgrad: boolean }) {
  h.t++;
  h.s.m ??= h.p.map(() => 0);
  h.s.v ??= h.p.map(() => 0);
  h.s.vmax ??= h.p.map(() => 0);
  h.p.forEach((p, i) => {
    const g = g0[i] + o.wd * p;
    h.s.m[i] = o.betas[0] * h.s.m[i] + (1 - o.betas[0]) * g;
    h.s.v[i] = o.betas[1] * h.s.v[i] + (1 - o.betas[1]) * g * g;
    h.s.vmax[i] = Math.max(h.s.vmax[i], h.s.v[i]);
    const vhat = (o.amsgrad ? h.s.vmax[i] : h.s.v[i]) / (1 - o.betas[1] ** h.t);
    h.p[i] = p - (o.lr * h.s.m[i]) / (1 - o.betas[0] ** h.t) / (Math.sqrt(vhat) + o.eps);
  });
}
function rmspropHand(
  h: Hand,
  g0: number[],
  o: { lr: number; alpha: number; eps: number; wd: number; momentum: number; centered: boolean },
) {
  h.t++;
  for (const k of ['sq', 'ga', 'buf']) h.s[k] ??= h.p.map(() => 0);
  h.p.forEach((p, i) => {
    const g = g0[i] + o.wd * p;
    h.s.sq[i] = o.alpha * h.s.sq[i] + (1 - o.alpha) * g * g;
    h.s.ga[i] = o.alpha * h.s.ga[i] + (1 - o.alpha) * g;
    const avg = Math.sqrt(o.centered ? h.s.sq[i] - h.s.ga[i] ** 2 : h.s.sq[i]) + o.eps;
    if (o.momentum > 0) {
      h.s.buf[i] = o.momentum * h.s.buf[i] + g / avg;
      h.p[i] = p - o.lr * h.s.buf[i];
    } else h.p[i] = p - (o.lr * g) / avg;
  });
}
function adagradHand(h: Hand, g0: number[], o: { lr: number; lrDecay: number; eps: number; wd: number; init: number }) {
  h.t++;
  h.s.sum ??= h.p.map(() => o.init);
  const clr = o.lr / (1 + (h.t - 1) * o.lrDecay);
  h.p.forEach((p, i) => {
    const g = g0[i] + o.wd * p;
    h.s.sum[i] += g * g;
    h.p[i] = p - (clr * g) / (Math.sqrt(h.s.sum[i]) + o.eps);
  });
}

async function run(make: Make, impl: 'fused' | 'naive', p0: number[], grads: number[][], backend: B) {
  const p = mg.tensor(p0, [p0.length], { backend, requiresGrad: true });
  const opt = make([p], impl);
  for (const g of grads) {
    p.grad = mg.tensor(g, [g.length], { backend });
    opt.step();
    opt.zeroGrad();
  }
  const out = Array.from(await p.data());
  opt.dispose();
  p.dispose();
  return out;
}

/** fused (cpu) = hand to 1e-12; naive (cpu) = fused to 1e-12; webgpu fused and naive = cpu (float32). */
async function threeWays(make: Make, hand: (h: Hand, g: number[]) => void, p0: number[], grads: number[][], label: string) {
  const h: Hand = { p: [...p0], s: {}, t: 0 };
  for (const g of grads) hand(h, g);
  const cpu = await run(make, 'fused', p0, grads, 'cpu');
  expectClose(cpu, h.p, { rtol: 1e-12, atol: 1e-14 }, `${label} cpu fused vs hand`);
  expectClose(await run(make, 'naive', p0, grads, 'cpu'), cpu, { rtol: 1e-12, atol: 1e-14 }, `${label} cpu naive vs fused`);
  const tol = { rtol: 1e-4, atol: 1e-5 };
  expectClose(await run(make, 'fused', p0, grads, 'webgpu'), cpu, tol, `${label} webgpu fused vs cpu`);
  expectClose(await run(make, 'naive', p0, grads, 'webgpu'), cpu, tol, `${label} webgpu naive vs cpu`);
}

const sizes = fc.constantFrom(1, 2, 5, 31, 256, 257, 1000);
const seeds = fc.integer({ min: 1, max: 1e6 });
const gradsFor = (n: number, seed: number) => [randData(n, seed + 1), randData(n, seed + 2, 0.01), randData(n, seed + 3, 3)];

describe('Adam, RMSprop, Adagrad: fused = hand = naive, webgpu = cpu (fast-check sizes and hyperparameters)', () => {
  it('Adam (coupled weight decay, amsgrad)', async () => {
    await fc.assert(
      fc.asyncProperty(
        sizes,
        fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.double({ min: 0.9, max: 0.999, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.boolean(),
        seeds,
        async (n, lr, b1, b2, wd, amsgrad, seed) => {
          const o = { lr, betas: [b1, b2] as [number, number], eps: 1e-6, wd, amsgrad };
          const make: Make = (ps, impl) => new mg.optim.Adam(ps, { lr, betas: o.betas, eps: o.eps, weightDecay: wd, amsgrad, impl });
          await threeWays(make, (h, g) => adamHand(h, g, o), randData(n, seed), gradsFor(n, seed), `Adam ${JSON.stringify(o)}`);
        },
      ),
      { numRuns: 8 },
    );
  });

  it('RMSprop (alpha, eps, weight decay, momentum, centered)', async () => {
    await fc.assert(
      fc.asyncProperty(
        sizes,
        fc.double({ min: 1e-4, max: 0.05, noNaN: true }),
        fc.double({ min: 0.5, max: 0.999, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.constantFrom(0, 0.5, 0.9),
        fc.boolean(),
        seeds,
        async (n, lr, alpha, wd, momentum, centered, seed) => {
          const o = { lr, alpha, eps: 1e-6, wd, momentum, centered };
          const make: Make = (ps, impl) => new mg.optim.RMSprop(ps, { lr, alpha, eps: o.eps, weightDecay: wd, momentum, centered, impl });
          await threeWays(make, (h, g) => rmspropHand(h, g, o), randData(n, seed), gradsFor(n, seed), `RMSprop ${JSON.stringify(o)}`);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('Adagrad (lrDecay, weight decay, initialAccumulatorValue, eps)', async () => {
    await fc.assert(
      fc.asyncProperty(
        sizes,
        fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        seeds,
        async (n, lr, lrDecay, wd, init, seed) => {
          const o = { lr, lrDecay, eps: 1e-8, wd, init };
          const make: Make = (ps, impl) =>
            new mg.optim.Adagrad(ps, { lr, lrDecay, eps: o.eps, weightDecay: wd, initialAccumulatorValue: init, impl });
          await threeWays(make, (h, g) => adagradHand(h, g, o), randData(n, seed), gradsFor(n, seed), `Adagrad ${JSON.stringify(o)}`);
        },
      ),
      { numRuns: 8 },
    );
  });
});

describe('Adam, RMSprop, Adagrad: dispatches, state, errors', () => {
  const MAKERS: [string, (ps: mg.Tensor[]) => mg.optim.Optimizer<mg.optim.BaseHyper>, string[], string][] = [
    [
      'Adam amsgrad',
      (ps) => new mg.optim.Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.1 }),
      ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'],
      'adamw:amsgrad',
    ],
    ['RMSprop', (ps) => new mg.optim.RMSprop(ps), ['square_avg'], 'rmsprop:plain'],
    [
      'RMSprop centered momentum',
      (ps) => new mg.optim.RMSprop(ps, { centered: true, momentum: 0.9, weightDecay: 0.01 }),
      ['grad_avg', 'momentum_buffer', 'square_avg'],
      'rmsprop:centered_momentum',
    ],
    ['Adagrad', (ps) => new mg.optim.Adagrad(ps, { lrDecay: 0.1, initialAccumulatorValue: 0.2 }), ['sum'], 'adagrad'],
  ];

  for (const [name, make, buffers, kernel] of MAKERS) {
    it(`${name}: one fused dispatch per parameter; export/import continues exactly (buffers ${buffers.join(', ')})`, async () => {
      const a = mg.tensor([1, 2, 3], [3], { requiresGrad: true });
      const opt0 = make([a]);
      a.grad = mg.tensor([0.1, -0.2, 0.3], [3]);
      opt0.step();
      const { kernels } = await mg.profile(() => opt0.step());
      expect(kernels.map((k) => k.kernel)).toEqual([kernel]);
      opt0.dispose();

      const p0 = randData(6, 7);
      const grads = [randData(6, 8), randData(6, 9), randData(6, 10), randData(6, 11)];
      const p = mg.tensor(p0, [6], { backend: 'cpu', requiresGrad: true });
      const opt = make([p]);
      const step = (o: mg.optim.Optimizer<mg.optim.BaseHyper>, g: number[]) => {
        p.grad = mg.tensor(g, [6], { backend: 'cpu' });
        o.step();
      };
      for (const g of grads) step(opt, g);
      const straight = Array.from(await p.data());
      // again: two steps, a snapshot, two more in a NEW optimizer loaded from it
      const q = mg.tensor(p0, [6], { backend: 'cpu', requiresGrad: true });
      const o1 = make([q]);
      for (const g of grads.slice(0, 2)) {
        q.grad = mg.tensor(g, [6], { backend: 'cpu' });
        o1.step();
      }
      const sd = o1.stateDict({ clone: true });
      expect(Object.keys(sd.tensors).sort()).toEqual(buffers.map((b) => `0.${b}`).sort());
      expect(sd.steps).toEqual({ 0: 2 });
      JSON.stringify(sd.groups); // hyperparameters are JSON-safe
      o1.dispose();
      const o2 = make([q]);
      o2.groups[0].lr = 123; // overwritten by the load
      o2.loadStateDict(sd);
      expect(o2.groups[0].lr).toBe(sd.groups[0].lr);
      for (const g of grads.slice(2)) {
        q.grad = mg.tensor(g, [6], { backend: 'cpu' });
        o2.step();
      }
      expectClose(await q.data(), straight, { rtol: 1e-14, atol: 1e-15 }, `${name} resumed`);
      // a cpu state loads into a webgpu optimizer
      const pg = mg.tensor(p0, [6], { requiresGrad: true });
      const og = make([pg]);
      og.loadStateDict(sd);
      expect(Object.keys(og.stateOf(pg)!.buffers).sort()).toEqual([...buffers].sort());
      og.dispose();
    });
  }

  it('amsgrad, momentum or centering switched on mid-run start their buffers at zero (as a fresh torch state would)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const p = mg.tensor([1, -2, 3], [3], { backend, requiresGrad: true });
      const adam = new mg.optim.Adam([p], { lr: 0.1 });
      p.grad = mg.tensor([0.5, 0.5, -1], [3], { backend });
      adam.step();
      adam.groups[0].amsgrad = true;
      adam.step();
      expect(Object.keys(adam.stateOf(p)!.buffers).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
      // max(0, v) = v: the amsgrad buffer holds v after its first use
      expectClose(
        await adam.stateOf(p)!.buffers.max_exp_avg_sq.data(),
        await adam.stateOf(p)!.buffers.exp_avg_sq.data(),
        { rtol: 0 },
        backend,
      );
      const rms = new mg.optim.RMSprop([p]);
      rms.step();
      Object.assign(rms.groups[0], { momentum: 0.9, centered: true });
      rms.step();
      expect(Object.keys(rms.stateOf(p)!.buffers).sort()).toEqual(['grad_avg', 'momentum_buffer', 'square_avg']);
    }
  });

  it('errors name the optimizer, the group and what was expected', () => {
    const p = mg.tensor([1, 2], [2], { backend: 'cpu', requiresGrad: true });
    expect(() => new mg.optim.Adam([p], { betas: [1, 0.9] })).toThrow(/Adam: group 0: beta1 must be in \[0, 1\), got 1/);
    expect(() => new mg.optim.Adam([p], { amsgrad: 1 as unknown as boolean })).toThrow(/Adam: group 0: amsgrad must be a boolean, got 1/);
    expect(() => new mg.optim.Adam([p], { impl: 'fast' as 'fused' })).toThrow(/Adam: impl must be 'fused' or 'naive', got 'fast'/);
    expect(() => new mg.optim.RMSprop([p], { alpha: 1.5 })).toThrow(/RMSprop: group 0: alpha must be in \[0, 1\], got 1.5/);
    expect(() => new mg.optim.RMSprop([p], { momentum: -1 })).toThrow(/RMSprop: group 0: momentum must be in \[0, Infinity\), got -1/);
    expect(() => new mg.optim.Adagrad([p], { lrDecay: -0.1 })).toThrow(/Adagrad: group 0: lrDecay must be in \[0, Infinity\), got -0.1/);
    expect(() => new mg.optim.Adagrad([p], { initialAccumulatorValue: -1 })).toThrow(
      /Adagrad: group 0: initialAccumulatorValue must be in/,
    );
    expect(() => mg.optim.clipGradValue([p], -1)).toThrow(/clipGradValue: value must be a number >= 0, got -1/);
    const opt = new mg.optim.Adagrad([p]);
    opt.groups[0].eps = -1;
    p.grad = mg.tensor([1, 1], [2], { backend: 'cpu' });
    expect(() => opt.step()).toThrow(/Adagrad: group 0: eps must be in \[0, Infinity\), got -1/);
  });
});
