// Optimizers, schedules, clipping, gradient accumulation: AdamW's fused kernel against a hand-computed
// float64 step, against its naive twin (primitive ops) and webgpu against cpu; SGD (momentum,
// nesterov, dampening, weight decay) against hand computation; parameter groups; state export /
// import and reset; schedules at known steps; clipGradNorm; accumulation = full-batch gradient.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';

const randData = (n: number, seed: number, scale = 1) => {
  const r = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
};

/** A parameter with a fixed gradient (set directly, as backward would). */
function paramWithGrad(p0: number[], g: number[], shape: number[], backend: B): mg.Tensor {
  const p = mg.tensor(p0, shape, { backend, requiresGrad: true });
  p.grad = mg.tensor(g, shape, { backend });
  return p;
}

/** torch.optim.AdamW, written out in float64 from its documentation. */
function adamwHand(p0: number[], grads: number[][], h: { lr: number; betas: [number, number]; eps: number; wd: number }) {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] -= h.lr * h.wd * p[i];
      m[i] = h.betas[0] * m[i] + (1 - h.betas[0]) * g[i];
      v[i] = h.betas[1] * v[i] + (1 - h.betas[1]) * g[i] ** 2;
      const mHat = m[i] / (1 - h.betas[0] ** t);
      const vHat = v[i] / (1 - h.betas[1] ** t);
      p[i] -= (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
  });
  return { p, m, v };
}

/** torch.optim.SGD in float64. */
function sgdHand(p0: number[], grads: number[][], h: { lr: number; momentum: number; dampening: number; wd: number; nesterov: boolean }) {
  const p = [...p0];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + h.wd * p[i]);
    let step = d;
    if (h.momentum > 0) {
      buf = buf ? buf.map((b, i) => h.momentum * b + (1 - h.dampening) * d[i]) : [...d];
      step = h.nesterov ? d.map((di, i) => di + h.momentum * buf![i]) : buf;
    }
    for (let i = 0; i < p.length; i++) p[i] -= h.lr * step[i];
  }
  return { p, buf };
}

/** Runs `steps` updates with per-step gradients on a fresh parameter; returns p and the state. */
async function runOpt(make: (ps: mg.Tensor[]) => optim.Optimizer<optim.BaseHyper>, p0: number[], grads: number[][], backend: B) {
  const p = mg.tensor(p0, [p0.length], { backend, requiresGrad: true });
  const opt = make([p]);
  for (const g of grads) {
    p.grad = mg.tensor(g, [g.length], { backend });
    opt.step();
    opt.zeroGrad();
  }
  const st = opt.stateOf(p)!;
  const buffers = Object.fromEntries(
    await Promise.all(Object.entries(st.buffers).map(async ([k, t]) => [k, Array.from(await t.data())] as const)),
  );
  const res = { p: Array.from(await p.data()), step: st.step, buffers };
  opt.dispose();
  p.dispose();
  return res;
}

describe('AdamW', () => {
  const h = { lr: 0.05, betas: [0.9, 0.99] as [number, number], eps: 1e-8, wd: 0.1 };
  const make = (impl: 'fused' | 'naive') => (ps: mg.Tensor[]) =>
    new optim.AdamW(ps, { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.wd, impl });

  it('fused kernel (cpu float64 loop) = the hand-computed float64 steps; webgpu fused and naive twins agree', async () => {
    const n = 37;
    const p0 = randData(n, 1);
    const grads = [randData(n, 2), randData(n, 3, 0.01), randData(n, 4, 5)];
    const ref = adamwHand(p0, grads, h);
    const cpu = await runOpt(make('fused'), p0, grads, 'cpu');
    expectClose(cpu.p, ref.p, { rtol: 1e-13, atol: 1e-15 }, 'cpu fused p');
    expectClose(cpu.buffers.exp_avg, ref.m, { rtol: 1e-13, atol: 1e-15 }, 'cpu m');
    expectClose(cpu.buffers.exp_avg_sq, ref.v, { rtol: 1e-13, atol: 1e-15 }, 'cpu v');
    expect(cpu.step).toBe(3);
    const naiveCpu = await runOpt(make('naive'), p0, grads, 'cpu');
    expectClose(naiveCpu.p, ref.p, { rtol: 1e-12, atol: 1e-14 }, 'cpu naive p');
    const gpu = await runOpt(make('fused'), p0, grads, 'webgpu');
    expectClose(gpu.p, ref.p, { rtol: 1e-5, atol: 1e-6 }, 'webgpu fused p');
    expectClose(gpu.buffers.exp_avg_sq, ref.v, { rtol: 1e-5, atol: 1e-9 }, 'webgpu fused v');
    const naive = await runOpt(make('naive'), p0, grads, 'webgpu');
    expectClose(naive.p, gpu.p, { rtol: 1e-5, atol: 1e-6 }, 'webgpu naive vs fused');
  });

  it('fused = naive = hand over random sizes and hyperparameters (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 5, 31, 256, 257, 1000),
        fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.double({ min: 0.9, max: 0.999, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 1, max: 1e6 }),
        async (n, lr, b1, b2, wd, seed) => {
          const hh = { lr, betas: [b1, b2] as [number, number], eps: 1e-6, wd };
          const p0 = randData(n, seed);
          const grads = [randData(n, seed + 1), randData(n, seed + 2)];
          const ref = adamwHand(p0, grads, hh);
          const mk = (impl: 'fused' | 'naive') => (ps: mg.Tensor[]) =>
            new optim.AdamW(ps, { lr, betas: hh.betas, eps: hh.eps, weightDecay: wd, impl });
          const fused = await runOpt(mk('fused'), p0, grads, 'webgpu');
          const naive = await runOpt(mk('naive'), p0, grads, 'webgpu');
          expectClose(fused.p, ref.p, { rtol: 1e-5, atol: 2e-6 }, 'fused vs hand');
          expectClose(naive.p, fused.p, { rtol: 1e-5, atol: 2e-6 }, 'naive vs fused');
        },
      ),
      { numRuns: 10 },
    );
  });

  it('one multi-tensor adamw dispatch for the parameters with a gradient; parameters without one are skipped', async () => {
    const a = paramWithGrad([1, 2, 3], [0.1, 0.2, 0.3], [3], 'webgpu');
    const b = paramWithGrad([1, 2], [0.5, 0.5], [2], 'webgpu');
    const c = mg.tensor([4, 5], [2], { requiresGrad: true }); // no grad
    const opt = new optim.AdamW([a, b, c], { lr: 0.1 });
    const first = await mg.profile(() => opt.step()); // creates the zero moments (2 fills each)
    expect(first.kernels.map((k) => k.kernel)).toEqual(['fill', 'fill', 'fill', 'fill', 'adamw.multi']);
    const { kernels } = await mg.profile(() => opt.step());
    expect(kernels.map((k) => k.kernel)).toEqual(['adamw.multi']);
    expect(Array.from(await c.data())).toEqual([4, 5]);
    expect(opt.stateOf(c)).toBeUndefined();
  });

  it('parameter groups have their own lr and weight decay (no decay for biases is a group)', async () => {
    const w = paramWithGrad([1, -1], [0, 0], [2], 'cpu');
    const bias = paramWithGrad([1, -1], [0, 0], [2], 'cpu');
    const opt = new optim.AdamW(
      [
        { params: [w], weightDecay: 0.5 },
        { params: [bias], weightDecay: 0, lr: 0.01 },
      ],
      { lr: 0.1 },
    );
    expect(opt.groups.map((g) => [g.lr, g.weightDecay, g.betas])).toEqual([
      [0.1, 0.5, [0.9, 0.999]],
      [0.01, 0, [0.9, 0.999]],
    ]);
    opt.step();
    // zero gradients: only decoupled decay moves the weights
    expectClose(await w.data(), [1 - 0.1 * 0.5, -(1 - 0.1 * 0.5)], { rtol: 1e-14 }, 'decayed');
    expect(Array.from(await bias.data())).toEqual([1, -1]);
  });

  it('state export/import continues training exactly; resetState restarts moments and bias correction', async () => {
    const p0 = randData(6, 7);
    const grads = [randData(6, 8), randData(6, 9), randData(6, 10), randData(6, 11)];
    const cont = await runOpt(make('fused'), p0, grads, 'cpu');
    // two steps, snapshot (params + optimizer), two more steps in a NEW optimizer from the snapshot
    const p = mg.tensor(p0, [6], { backend: 'cpu', requiresGrad: true });
    const opt = make('fused')([p]) as optim.AdamW;
    for (const g of grads.slice(0, 2)) {
      p.grad = mg.tensor(g, [6], { backend: 'cpu' });
      opt.step();
    }
    const sd = opt.stateDict({ clone: true });
    expect(Object.keys(sd.tensors).sort()).toEqual(['0.exp_avg', '0.exp_avg_sq']);
    expect(sd.steps).toEqual({ 0: 2 });
    expect(sd.groups).toEqual([{ lr: 0.05, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1, amsgrad: false, params: [0] }]);
    JSON.stringify({ steps: sd.steps, groups: sd.groups }); // metadata is JSON-safe
    opt.dispose();
    const opt2 = new optim.AdamW([p], { lr: 1 });
    opt2.loadStateDict(sd);
    expect(opt2.groups[0].lr).toBe(0.05);
    for (const g of grads.slice(2)) {
      p.grad = mg.tensor(g, [6], { backend: 'cpu' });
      opt2.step();
    }
    expectClose(await p.data(), cont.p, { rtol: 1e-14, atol: 1e-15 }, 'resumed');
    expect(opt2.stateOf(p)!.step).toBe(4);
    // reset: the next update is a first step again (from the current p, fresh zero moments)
    opt2.resetState([p]);
    expect(opt2.stateOf(p)).toBeUndefined();
    const now = Array.from(await p.data());
    p.grad = mg.tensor(grads[0], [6], { backend: 'cpu' });
    opt2.step();
    expectClose(await p.data(), adamwHand(now, [grads[0]], h).p, { rtol: 1e-14, atol: 1e-15 }, 'after reset');
    expect(opt2.stateOf(p)!.step).toBe(1);
    // a cpu state loads into a webgpu optimizer
    const pg = mg.tensor(p0, [6], { requiresGrad: true });
    const og = new optim.AdamW([pg]);
    og.loadStateDict(sd);
    expectClose(await og.stateOf(pg)!.buffers.exp_avg.data(), await sd.tensors['0.exp_avg'].data(), { rtol: 1e-6 }, 'cpu -> webgpu state');
  });

  it('errors: duplicates, non-leaves, bad hyperparameters, mismatched state dicts', () => {
    const p = mg.tensor([1, 2], [2], { backend: 'cpu', requiresGrad: true });
    const q = mg.tensor([1, 2, 3], [3], { backend: 'cpu', requiresGrad: true });
    expect(() => new optim.AdamW([{ params: [p] }, { params: [p] }])).toThrow(
      /AdamW: tensor #\d+ \[2\] float32 appears in group 0 and group 1/,
    );
    expect(() => new optim.AdamW([p.mul(2)])).toThrow(/AdamW: tensor #\d+ \[2\] float32 is not a leaf \(it was computed by 'mul'\)/);
    expect(() => new optim.AdamW([p], { betas: [0.9, 1] })).toThrow(/AdamW: group 0: beta2 must be in \[0, 1\), got 1/);
    expect(() => new optim.AdamW([p], { lr: -1 })).toThrow(/AdamW: group 0: lr must be >= 0, got -1/);
    expect(() => new optim.AdamW([])).toThrow(/AdamW: expects a non-empty array/);
    const opt = new optim.AdamW([p]);
    p.grad = mg.tensor([1, 1], [2], { backend: 'cpu' });
    opt.step();
    const sd = opt.stateDict();
    expect(() => new optim.AdamW([p, q]).loadStateDict(sd)).toThrow(
      /AdamW.loadStateDict: the checkpoint has groups of \[1\] parameters, this optimizer \[2\]/,
    );
    expect(() => new optim.AdamW([q]).loadStateDict(sd)).toThrow(
      /size mismatch for '0.exp_avg': the checkpoint has \[2\], the parameter \[3\]/,
    );
  });
});

describe('SGD', () => {
  const cases = [
    { lr: 0.1, momentum: 0, dampening: 0, wd: 0, nesterov: false },
    { lr: 0.1, momentum: 0, dampening: 0, wd: 0.01, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, wd: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0.3, wd: 0.02, nesterov: false },
    { lr: 0.05, momentum: 0.8, dampening: 0, wd: 0.02, nesterov: true },
  ];
  for (const c of cases) {
    it(`matches the hand computation over 3 steps: ${JSON.stringify(c)} (cpu float64 and webgpu)`, async () => {
      const n = 29;
      const p0 = randData(n, 1);
      const grads = [randData(n, 2), randData(n, 3), randData(n, 4)];
      const ref = sgdHand(p0, grads, c);
      const mk = (ps: mg.Tensor[]) =>
        new optim.SGD(ps, { lr: c.lr, momentum: c.momentum, dampening: c.dampening, weightDecay: c.wd, nesterov: c.nesterov });
      for (const b of ['cpu', 'webgpu'] as B[]) {
        const r = await runOpt(mk, p0, grads, b);
        const tol = b === 'cpu' ? { rtol: 1e-14, atol: 1e-15 } : { rtol: 1e-5, atol: 1e-6 };
        expectClose(r.p, ref.p, tol, `${b} p`);
        if (c.momentum > 0) expectClose(r.buffers.momentum_buffer, ref.buf!, tol, `${b} buf`);
        else expect(r.buffers).toEqual({});
      }
    });
  }

  it('rejects nesterov without momentum', () => {
    const p = mg.tensor([1], [1], { backend: 'cpu', requiresGrad: true });
    expect(() => new optim.SGD([p], { nesterov: true })).toThrow(/SGD: group 0: nesterov needs momentum > 0 and dampening 0/);
  });
});

describe('schedules', () => {
  it('constant, linear and cosine with warmup at known steps', () => {
    const c = optim.constantLr({ lr: 0.1, warmup: 4 });
    expect([0, 1, 3, 4, 100].map((s) => c.lrAt(s))).toEqual([0.025, 0.05, 0.1, 0.1, 0.1]);
    const l = optim.linearLr({ lr: 1, warmup: 2, total: 12, minLr: 0.1 });
    expect(l.lrAt(0)).toBe(0.5);
    expect(l.lrAt(2)).toBe(1);
    expect(l.lrAt(7)).toBeCloseTo(0.55, 15);
    expect(l.lrAt(12)).toBeCloseTo(0.1, 15);
    expect(l.lrAt(50)).toBeCloseTo(0.1, 15);
    const cos = optim.cosineLr({ lr: 1e-3, warmup: 10, total: 110, minLr: 1e-4 });
    expect(cos.lrAt(4)).toBeCloseTo(5e-4, 15);
    expect(cos.lrAt(10)).toBeCloseTo(1e-3, 15);
    expect(cos.lrAt(60)).toBeCloseTo(5.5e-4, 15); // halfway: (lr + minLr)/2
    expect(cos.lrAt(35)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(cos.lrAt(110)).toBeCloseTo(1e-4, 15);
    expect(cos.lrAt(1000)).toBeCloseTo(1e-4, 15);
    expect(optim.cosineWithWarmup(60, { warmup: 10, total: 110, maxLr: 1e-3, minLr: 1e-4 })).toBe(cos.lrAt(60));
    expect(() => cos.lrAt(-1)).toThrow(/cosineLr: step must be a non-negative integer, got -1/);
    expect(() => optim.cosineLr({ lr: 1, warmup: 5, total: 3 })).toThrow(/cosineLr: total must be an integer >= warmup \(5\), got 3/);
  });

  it('jagged cosine: re-warms after each restart back to the cosine envelope', () => {
    const env = optim.cosineLr({ lr: 1, warmup: 0, total: 100 });
    const j = optim.cosineLr({ lr: 1, warmup: 0, total: 100, restarts: { every: 30, warmup: 5 } });
    for (const s of [0, 10, 29, 35, 59, 65, 99]) expect(j.lrAt(s)).toBe(env.lrAt(s));
    expect(j.lrAt(30)).toBeCloseTo(env.lrAt(30) / 5, 15);
    expect(j.lrAt(32)).toBeCloseTo((env.lrAt(32) * 3) / 5, 15);
    expect(j.lrAt(60)).toBeCloseTo(env.lrAt(60) / 5, 15);
    expect(j.lrAt(34)).toBe(env.lrAt(34));
  });

  it("LrScheduler writes group lrs, keeping each group's ratio to the schedule's peak; its state round-trips", () => {
    const p = mg.tensor([1], [1], { backend: 'cpu', requiresGrad: true });
    const q = mg.tensor([1], [1], { backend: 'cpu', requiresGrad: true });
    const opt = new optim.SGD([{ params: [p] }, { params: [q], lr: 0.5 }], { lr: 1 });
    const sched = new optim.LrScheduler(opt, optim.linearLr({ lr: 1, warmup: 2, total: 10 }));
    expect(opt.groups.map((g) => g.lr)).toEqual([0.5, 0.25]);
    sched.step();
    expect(opt.groups.map((g) => g.lr)).toEqual([1, 0.5]);
    for (let i = 0; i < 4; i++) sched.step();
    expect(sched.lastStep).toBe(5);
    expect(opt.groups[0].lr).toBeCloseTo(5 / 8, 15);
    const saved = sched.stateDict();
    const opt2 = new optim.SGD([{ params: [p] }, { params: [q], lr: 0.5 }], { lr: 1 });
    const s2 = new optim.LrScheduler(opt2, optim.linearLr({ lr: 1, warmup: 2, total: 10 }));
    s2.loadStateDict(saved);
    expect(opt2.groups.map((g) => g.lr)).toEqual(opt.groups.map((g) => g.lr));
  });
});

describe('clipGradNorm', () => {
  it('returns the global L2 norm (a device scalar, no readback) and scales grads to maxNorm only when above it', async () => {
    for (const b of ['cpu', 'webgpu'] as B[]) {
      const g1 = randData(10, 1, 3);
      const g2 = randData(7, 2, 3);
      const norm = Math.sqrt([...g1, ...g2].reduce((s, v) => s + v * v, 0));
      const a = paramWithGrad(randData(10, 3), g1, [2, 5], b);
      const c = paramWithGrad(randData(7, 4), g2, [7], b);
      const none = mg.tensor([1], [1], { backend: b, requiresGrad: true });
      const tol = b === 'cpu' ? { rtol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
      const total = optim.clipGradNorm([a, c, none], 1);
      expect(total.shape).toEqual([]);
      expect(total.backend.name).toBe(b);
      expectClose([await total.item()], [norm], tol, 'norm');
      const scale = 1 / (norm + 1e-6);
      expectClose(
        await a.grad!.data(),
        g1.map((v) => v * scale),
        tol,
        'clipped a',
      );
      expectClose(
        await c.grad!.data(),
        g2.map((v) => v * scale),
        tol,
        'clipped c',
      );
      // below the threshold: unchanged
      const t2 = optim.clipGradNorm([a, c], 10);
      expectClose([await t2.item()], [1], { rtol: 1e-5 }, 'norm after clipping');
      expectClose(
        await c.grad!.data(),
        g2.map((v) => v * scale),
        tol,
        'unclipped',
      );
    }
    expect(() => optim.clipGradNorm([], 0)).toThrow(/clipGradNorm: maxNorm must be > 0, got 0/);
  });

  it('leaves no temporaries behind', () => {
    const a = paramWithGrad([1, 2], [3, 4], [2], 'webgpu');
    const before = mg.memory().liveTensors;
    const n = optim.clipGradNorm([a], 1);
    expect(mg.memory().liveTensors).toBe(before + 1); // the norm only (the old grad was replaced)
    n.dispose();
  });
});

describe('gradient accumulation', () => {
  it('micro-batch losses scaled by 1/accum accumulate to the full-batch gradient; one step then matches', async () => {
    for (const b of ['cpu', 'webgpu'] as B[]) {
      const make = () => new nn.Linear(4, 3, { seed: 3, backend: b });
      const x = randData(8 * 4, 5);
      const y = randData(8 * 3, 6);
      const mse = (m: nn.Linear, xs: number[], ys: number[], rows: number) =>
        m
          .forward(mg.tensor(xs, [rows, 4], { backend: b }))
          .sub(mg.tensor(ys, [rows, 3], { backend: b }))
          .pow(2)
          .mean();
      const full = make();
      mse(full, x, y, 8).backward();
      const acc = make();
      const accum = 4;
      for (let k = 0; k < accum; k++)
        mg.tidy(() =>
          mse(acc, x.slice(k * 8, (k + 1) * 8), y.slice(k * 6, (k + 1) * 6), 2)
            .mul(1 / accum)
            .backward(),
        );
      const tol = b === 'cpu' ? { rtol: 1e-12, atol: 1e-14 } : { rtol: 1e-5, atol: 1e-6 };
      for (const [n, p] of full.namedParameters())
        expectClose(await acc.getParameter(n).grad!.data(), await p.grad!.data(), tol, `grad ${n}`);
      const o1 = new optim.AdamW(full.parameters(), { lr: 0.1 });
      const o2 = new optim.AdamW(acc.parameters(), { lr: 0.1 });
      o1.step();
      o2.step();
      expectClose(await acc.weight.data(), await full.weight.data(), tol, 'weights after the step');
    }
  });
});
