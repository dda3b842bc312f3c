// The tape: accumulation, retainGraph, detach, noGrad, and the README example end to end.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

describe('autograd', () => {
  it('the README example: relu(x @ w).sum() gives w.grad = xᵀ · [xw > 0] on webgpu, matching cpu', async () => {
    const run = async (backend: 'cpu' | 'webgpu') => {
      const x = mg.randn([64, 128], { seed: 1, requiresGrad: true, backend });
      const w = mg.randn([128, 32], { seed: 2, requiresGrad: true, backend });
      const loss = x.matmul(w).relu().sum();
      loss.backward();
      return { w: await w.grad!.data(), x: await x.grad!.data(), loss: await loss.item() };
    };
    const g = await run('webgpu');
    const c = await run('cpu');
    expect(g.loss).toBeCloseTo(c.loss, 0);
    expectClose(g.w, c.w, { rtol: 1e-4, atol: 1e-3 }, 'w.grad');
    expectClose(g.x, c.x, { rtol: 1e-4, atol: 1e-3 }, 'x.grad');
  });

  it('gradients accumulate across backward calls and through shared inputs', async () => {
    const x = mg.tensor([1, 2, 3], [3], { requiresGrad: true });
    // y = x·x + x  ->  dy/dx = 2x + 1, x used three times
    x.mul(x).add(x).sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([3, 5, 7]);
    x.mul(2).sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([5, 7, 9]);
  });

  it('a + a passes the same gradient tensor twice without double-freeing it', async () => {
    const a = mg.tensor([1, 2], [2], { requiresGrad: true });
    const b = mg.tensor([3, 4], [2], { requiresGrad: true });
    a.add(b).add(a).sum().backward();
    expect(Array.from(await a.grad!.data())).toEqual([2, 2]);
    expect(Array.from(await b.grad!.data())).toEqual([1, 1]);
    a.grad!.dispose();
    expect(Array.from(await b.grad!.data())).toEqual([1, 1]); // b's grad is its own tensor
  });

  it('backward twice needs retainGraph', async () => {
    const x = mg.tensor([1, 2], [2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expectClose(await x.grad!.data(), [2 * Math.E, 2 * Math.E ** 2], { rtol: 1e-6 });
    expect(() => y.backward()).toThrow(/backward: the graph through 'sum' was already freed/);
  });

  it('detach and noGrad cut the tape', async () => {
    const x = mg.tensor([1, 2], [2], { requiresGrad: true });
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    const y = mg.noGrad(() => x.mul(3));
    expect(y.requiresGrad).toBe(false);
    expect(() => y.sum().backward()).toThrow(/does not require grad/);
    const z = x.mul(d).sum(); // d is a constant: dz/dx = d
    z.backward();
    expect(Array.from(await x.grad!.data())).toEqual([1, 2]);
  });

  it('a non-scalar backward needs an explicit gradient of the right shape', async () => {
    const x = mg.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/is not a scalar/);
    expect(() => y.backward(mg.ones([2]))).toThrow(/gradient shape \[2\] does not match the output's \[3\]/);
    y.backward(mg.tensor([1, 0, -1], [3]));
    expect(Array.from(await x.grad!.data())).toEqual([2, 0, -2]);
  });

  it('a deep chain (5,000 ops) backpropagates without recursion limits', async () => {
    const x = mg.tensor([0.5], [1], { backend: 'cpu', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 5000; i++) y = y.mul(1.0001);
    y.sum().backward();
    expect(await x.grad!.item()).toBeCloseTo(1.0001 ** 5000, 8);
  });
});
