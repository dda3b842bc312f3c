// The tape owns what the backward needs (src/tape-hold.ts): a tidy scope returning a loss hands the
// saved activations to the tape and frees the rest; backward frees each saved activation after its
// last reader; disposing the loss frees whatever is left; gradients accumulate in place.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { record } from '../../src/autograd.js';
import { setupBackends } from '../helpers.js';

setupBackends();

const live = () => mg.memory('cpu').liveTensors;

/** x leaf [4]; y = exp(x) saves y; z = 2y saves nothing; L = Σz. */
function smallGraph(x: mg.Tensor): mg.Tensor {
  const y = mg.exp(x);
  const z = mg.mul(y, 2);
  return mg.sum(z);
}

describe('tape ownership', () => {
  it('keeps only the saved tensors after the forward and frees them during the backward', async () => {
    const x = mg.tensor([0.1, -0.2, 0.3, 0.5], [4], { backend: 'cpu', requiresGrad: true });
    const before = live();
    const L = mg.tidy(() => smallGraph(x));
    expect(live() - before).toBe(2); // L and exp's output (z's storage is freed, its node kept)
    L.backward();
    expect(live() - before).toBe(2); // L and x.grad: exp's output went with its node's backward
    const g = Array.from(await x.grad!.data());
    expect(g).toEqual([0.1, -0.2, 0.3, 0.5].map((v) => 2 * Math.exp(v)));
    L.dispose();
    expect(live() - before).toBe(1); // x.grad
    x.dispose();
    expect(live()).toBe(before - 1);
  });

  it('frees the whole graph when the loss is disposed without a backward', () => {
    const x = mg.tensor([1, 2, 3], [3], { backend: 'cpu', requiresGrad: true });
    const before = live();
    const L = mg.tidy(() => mg.sum(mg.mul(mg.exp(x), mg.sigmoid(x))));
    expect(live() - before).toBeGreaterThan(1);
    L.dispose();
    expect(live()).toBe(before);
    x.dispose();
  });

  it('keeps the saved tensors under retainGraph until the loss is disposed', async () => {
    const x = mg.tensor([0.5, 1.5], [2], { backend: 'cpu', requiresGrad: true });
    const before = live();
    const L = mg.tidy(() => smallGraph(x));
    L.backward(undefined, { retainGraph: true });
    const grad = x.grad!;
    const storage = grad.storage;
    L.backward();
    expect(x.grad).toBe(grad); // accumulated into the same tensor and buffer
    expect(x.grad!.storage).toBe(storage);
    expect(Array.from(await x.grad!.data())).toEqual([0.5, 1.5].map((v) => 4 * Math.exp(v)));
    L.dispose();
    expect(live() - before).toBe(1); // x.grad
    x.dispose();
  });

  it('chains through nested scopes (a block per scope) and frees everything', async () => {
    const w = mg.tensor([0.3, -0.7, 1.1, 0.2], [2, 2], { backend: 'cpu', requiresGrad: true });
    const x = mg.tensor([1, 2, 3, 4], [2, 2], { backend: 'cpu' });
    const block = (h: mg.Tensor) => mg.tidy(() => mg.add(h, mg.tanh(mg.matmul(h, w))));
    const run = (scoped: boolean) => {
      const f = () => mg.mean(mg.mul(block(block(x)), block(x)));
      return scoped
        ? mg.forwardBackward(f)
        : mg.tidy(() => {
            const L = f();
            L.backward();
            return L;
          });
    };
    const before = live();
    const L1 = run(false);
    const g1 = Array.from(await w.grad!.data());
    L1.dispose();
    w.grad!.dispose();
    w.grad = null;
    const L2 = run(true);
    expect(live() - before).toBe(2); // the loss and w.grad
    expect(Array.from(await w.grad!.data())).toEqual(g1);
    L2.dispose();
    expect(live() - before).toBe(1);
    w.dispose();
    x.dispose();
  });

  it('gives a GPT the same gradients and loss as one scope around forward and backward', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const make = () => new mg.nn.GPT({ vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, seed: 3, backend });
      const x = mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 6], { dtype: 'int32', backend });
      const y = mg.tensor([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0], [2, 6], { dtype: 'int32', backend });
      const a = make();
      const la = mg.tidy(() => {
        const l = a.forward(x, y).loss!;
        l.backward();
        return l;
      });
      const b = make();
      const lb = mg.forwardBackward(() => b.forward(x, y).loss!);
      expect(await lb.item()).toBe(await la.item());
      const pa = a.parameters();
      const pb = b.parameters();
      for (let i = 0; i < pa.length; i++) expect(Array.from(await pb[i].grad!.data())).toEqual(Array.from(await pa[i].grad!.data()));
      for (const t of [la, lb, x, y]) t.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('scales the backpropagated loss for gradient accumulation and returns the unscaled loss', async () => {
    const x = mg.tensor([0.2, 0.4], [2], { backend: 'cpu', requiresGrad: true });
    const L = mg.forwardBackward(() => smallGraph(x), { scale: 0.25 });
    expect(await L.item()).toBeCloseTo(2 * (Math.exp(0.2) + Math.exp(0.4)), 12);
    expect(Array.from(await x.grad!.data())).toEqual([0.2, 0.4].map((v) => 0.25 * 2 * Math.exp(v)));
    L.dispose();
    x.dispose();
  });

  it('fails loudly when a backward reads a tensor its node did not save', () => {
    const x = mg.tensor([1, 2], [2], { backend: 'cpu', requiresGrad: true });
    const L = mg.tidy(() => {
      const t = mg.neg(x); // neg saves nothing
      // A broken op: its backward reads t but lists nothing in `saved`.
      const y = record(
        mg.noGrad(() => mg.mul(t, 3)),
        'broken',
        [t],
        (g) => [mg.mul(g, t)],
      );
      return mg.sum(y);
    });
    expect(() => L.backward()).toThrow(/was disposed/);
    L.dispose();
    x.dispose();
  });
});

describe('in-place accumulation (kernels/accumulate.wgsl)', () => {
  it('acc += x on webgpu, vec4 and scalar paths, equals the cpu backend', async () => {
    for (const n of [1, 7, 16, 1000, 4099, 65536]) {
      const a = Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
      const b = Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
      const want = mg.tensor(a, [n], { backend: 'cpu' });
      mg.ops.accumulate(want, mg.tensor(b, [n], { backend: 'cpu' }));
      const expected = Float32Array.from(await want.data()); // float64 sums, rounded as float32 adds of float32 inputs
      for (const path of ['vec4', 'scalar'] as const) {
        const acc = mg.tensor(a, [n]);
        const x = mg.tensor(b, [n]);
        mg.testing.withKernel('elementwise', path, () => mg.ops.accumulate(acc, x));
        const got = await acc.data();
        for (let i = 0; i < n; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected[i])));
        acc.dispose();
        x.dispose();
      }
    }
  });
});
