// Ownership: dispose, tidy scopes, the buffer pool, and a flat live-buffer count over a long loop.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { sizeClass } from '../../src/backend/webgpu/pool.js';
import { setupBackends } from '../helpers.js';

setupBackends();

describe('memory ownership', () => {
  it('tidy disposes intermediates and keeps what is returned', async () => {
    const before = mg.memory();
    const x = mg.randn([8, 8], { seed: 1 });
    const out = mg.tidy(() => {
      const a = x.mul(2);
      const b = a.exp();
      return { result: b.sum(), kept: mg.keep(a.add(1)) };
    });
    const after = mg.memory();
    // x, result, kept survive
    expect(after.liveTensors - before.liveTensors).toBe(3);
    expect(after.liveBuffers - before.liveBuffers).toBe(3);
    expect(await out.result.item()).toBeGreaterThan(0);
    for (const t of [x, out.result, out.kept]) t.dispose();
    expect(mg.memory().liveBuffers).toBe(before.liveBuffers);
  });

  it('1,000 forward+backward iterations inside tidy keep the live-buffer count flat', async () => {
    const w = mg.randn([16, 8], { seed: 2, requiresGrad: true });
    const x = mg.randn([4, 16], { seed: 3 });
    const counts: number[] = [];
    for (let i = 0; i < 1000; i++) {
      mg.tidy(() => {
        const loss = x.matmul(w).tanh().mul(x.sum(1, true)).mean();
        loss.backward();
        w.grad!.dispose();
        w.grad = null;
      });
      if (i % 100 === 99) {
        await x.data(); // let submitted work finish
        counts.push(mg.memory().liveBuffers);
      }
    }
    expect(new Set(counts).size).toBe(1);
    const m = mg.memory();
    expect(m.pooledBytes).toBeGreaterThan(0); // freed buffers went back to the pool
    expect(m.submits).toBeLessThan(m.dispatches / 4); // dispatches are batched, not submitted one by one
  });

  it('use after dispose names the tensor; dispose is idempotent; views share storage', async () => {
    const x = mg.randn([2, 3], { seed: 4 });
    const v = x.reshape([3, 2]);
    x.dispose();
    x.dispose();
    expect(() => x.exp()).toThrow(/use after dispose: tensor #\d+ \[2, 3\] float32 was disposed/);
    expect((await v.data()).length).toBe(6); // the view still holds the storage
    v.dispose();
  });

  it('pool size classes cover the request, waste at most a third, and are multiples of 16 bytes (vec4 views)', () => {
    for (let b = 1; b <= 70_000; b += b < 600 ? 1 : 97) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c % 16).toBe(0);
      if (b >= 16) expect(c).toBeLessThanOrEqual(Math.max(2 * b, 16));
    }
    expect(sizeClass(20)).toBe(32); // 24 would leave the 5th and 6th floats outside a vec4 view
    expect(sizeClass(48)).toBe(48);
  });

  it('buffers are reused from the pool', async () => {
    const a = mg.zeros([1000]);
    await a.data();
    const m1 = mg.memory();
    a.dispose();
    const m2 = mg.memory();
    expect(m2.pooledBytes).toBeGreaterThan(m1.pooledBytes);
    const b = mg.zeros([1000]);
    expect(mg.memory().pooledBytes).toBe(m1.pooledBytes);
    b.dispose();
  });

  it('an allocation over maxStorageBufferBindingSize is a clear error', () => {
    const max = mg.getBackend('webgpu').maxElements;
    expect(() => mg.zeros([max + 1])).toThrow(/alloc: \d+ elements \(\d+ bytes\) exceed the device's maxStorageBufferBindingSize/);
  });
});
