// Creation, random streams, profiling, batching, the finite checks, and bad-input errors.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

describe('creation and random streams', () => {
  it('tensor/zeros/ones/full/arange on both backends', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      expect(
        await mg
          .tensor(
            [
              [1, 2],
              [3, 4],
            ],
            undefined,
            { backend },
          )
          .toArray(),
      ).toEqual([
        [1, 2],
        [3, 4],
      ]);
      expect(Array.from(await mg.zeros([3], { backend }).data())).toEqual([0, 0, 0]);
      expect(Array.from(await mg.ones([2], { backend }).data())).toEqual([1, 1]);
      expect(Array.from(await mg.full([2], -2.5, { backend }).data())).toEqual([-2.5, -2.5]);
      expect(Array.from(await mg.full([2], 7, { backend, dtype: 'int32' }).data())).toEqual([7, 7]);
      expect(Array.from(await mg.arange(5, undefined, 1, { backend }).data())).toEqual([0, 1, 2, 3, 4]);
      expect(Array.from(await mg.arange(1, 2, 0.25, { backend }).data())).toEqual([1, 1.25, 1.5, 1.75]);
      expect(Array.from(await mg.arange(3, undefined, 1, { backend, dtype: 'int32' }).data())).toEqual([0, 1, 2]);
      expect(await mg.tensor(3, undefined, { backend }).item()).toBe(3);
      expect(Array.from(await mg.tensor([1.7, -1.7, 2], [3], { backend }).cast('int32').data())).toEqual([1, -1, 2]);
    }
  });

  it('rand/randn streams are identical on webgpu and cpu for a seed (randn to float32 rounding, near zero too)', async () => {
    const u = await mg.rand([1000], { seed: 42, backend: 'cpu' }).data();
    expect(Array.from(await mg.rand([1000], { seed: 42 }).data())).toEqual(Array.from(u, Math.fround));
    // 2^20 normals reach u1 near 1 and u2 near a quarter, where WGSL's own log() and cos() would err
    // in the third significant digit: every value must agree relatively, however small
    const n = 1 << 20;
    const g = await mg.randn([n], { seed: 42 }).data();
    const c = await mg.randn([n], { seed: 42, backend: 'cpu' }).data();
    expectClose(g, c, { rtol: 1e-6, atol: 1e-12 }, 'randn stream');
  });

  it('randn has mean 0 and std 1; rand is uniform; seeds differ; manualSeed repeats', async () => {
    const d = Array.from(await mg.randn([100000], { seed: 9 }).data());
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    const u = Array.from(await mg.rand([100000], { seed: 10, low: -1, high: 3 }).data());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    expect(Math.abs(u.reduce((s, v) => s + v, 0) / u.length - 1)).toBeLessThan(0.02);
    expect(Array.from(await mg.rand([4], { seed: 1 }).data())).not.toEqual(Array.from(await mg.rand([4], { seed: 2 }).data()));
    mg.manualSeed(5);
    const a = await mg.randn([4]).data();
    mg.manualSeed(5);
    expect(Array.from(await mg.randn([4]).data())).toEqual(Array.from(a));
  });

  it('to() moves tensors between backends', async () => {
    const g = mg.randn([3, 2], { seed: 1 });
    const c = await g.to('cpu');
    expect(c.backend.name).toBe('cpu');
    expect(Array.from(await c.data())).toEqual(Array.from(await g.data()));
  });

  it('bad creation input gets clear errors', () => {
    expect(() => mg.tensor([1, 2, 3], [2, 2])).toThrow(/tensor: 3 values do not fill shape \[2, 2\] \(4 elements\)/);
    expect(() => mg.zeros([2, -1])).toThrow(/full: shape \[2, -1\] must hold non-negative integers/);
    expect(() => mg.tensor([1.5], [1], { dtype: 'int32' })).toThrow(/tensor: element 0 = 1.5 is not an int32/);
    expect(() => mg.zeros([2], { dtype: 'float64' as never })).toThrow(/unknown dtype 'float64'/);
    expect(() => mg.arange(0, 5, 0)).toThrow(/arange: step must be a non-zero/);
    expect(() => mg.zeros([2], { dtype: 'int32', requiresGrad: true })).toThrow(/only float32 and float16 tensors can require grad/);
  });
});

describe('profiling and batching', () => {
  it('profile lists each dispatched kernel with workgroups, shapes and GPU times', async () => {
    const x = mg.randn([32, 32], { seed: 1 });
    const p = await mg.profile(async () => {
      const y = x.exp().add(x);
      return y.data();
    });
    expect(p.kernels.map((k) => k.kernel)).toEqual(['unary:exp', 'binary:add']);
    expect(p.kernels[0].shapes).toEqual([[32, 32]]);
    expect(p.kernels[0].workgroups[0]).toBeGreaterThan(0);
    expect(p.kernels.every((k) => typeof k.gpuMs === 'number' && k.gpuMs >= 0)).toBe(true);
    expect(p.gpuMs).not.toBeNull();
  });

  it('many ops are one submission until a readback', async () => {
    const x = mg.randn([16], { seed: 1 });
    await x.data();
    const before = mg.memory();
    let y = x;
    for (let i = 0; i < 50; i++) y = y.add(1);
    await y.data();
    const after = mg.memory();
    expect(after.dispatches - before.dispatches).toBe(50);
    expect(after.submits - before.submits).toBe(1);
  });
});

describe('non-finite detection', () => {
  it('checkFinite names the tensor, the count and the first bad index', async () => {
    const x = mg.tensor([1, -1, 0], [3]);
    await mg.checkFinite(x);
    await expect(mg.checkFinite(x.log(), 'log(x)')).rejects.toThrow(
      /checkFinite: log\(x\) holds 2 non-finite value\(s\); the first at flat index 1 is NaN/,
    );
  });

  it('the opt-in check after every op names the first op that produced NaN/Inf', async () => {
    mg.setCheckFinite(true);
    try {
      for (const backend of ['cpu', 'webgpu'] as const) {
        const x = mg.tensor([1, -1], [2], { backend });
        if (backend === 'cpu') {
          expect(() => x.sqrt()).toThrow(/sqrt: produced NaN or Inf in its output \[2\]/);
        } else {
          const y = x.exp().sqrt().log().neg(); // sqrt is fine; log(…) is fine; test a real offender:
          await y.data();
          const z = x.sub(1).log().mul(2); // log(0) = -Inf, log(-2) = NaN
          await expect(z.data()).rejects.toThrow(/log: produced NaN or Inf in its output \[2\]/);
        }
      }
    } finally {
      mg.setCheckFinite(false);
    }
  });
});
