// Small tensors share slabs (src/backend/webgpu/slabs.ts): tens of thousands of live tensors cost a
// few device buffers (memory mappings on lavapipe), the usage-scope conflicts of a shared slab
// (one buffer read-only and writable in one dispatch) compute right, and disposed tensors give
// their slabs back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GpuStorage, WebGpuBackend } from '../../src/backend/webgpu/webgpu.js';
import * as mg from '../../src/index.js';
import { expectClose, hasGpu, setupBackends } from '../helpers.js';

setupBackends();

const gpu = () => mg.getBackend('webgpu') as WebGpuBackend;
const slabOf = (t: mg.Tensor) => (t.storage as GpuStorage).slab;

function mappings(): number | null {
  try {
    return readFileSync('/proc/self/maps', 'latin1').split('\n').length;
  } catch {
    return null;
  }
}

describe('slabs', () => {
  it('70,000 live [4] tensors take a few device buffers and keep their own values; disposing them gives the slabs back', async () => {
    if (!(await hasGpu())) return;
    const b = gpu();
    b.trim();
    const before = b.memory();
    const mapsBefore = mappings();
    const N = 70_000;
    const held: mg.Tensor[] = [];
    for (let i = 0; i < N; i++) held.push(mg.full([4], i % 9973));
    const m = b.memory();
    expect(m.liveBuffers - before.liveBuffers).toBe(N);
    // 70,000 slots of 256 bytes: 18 slabs of 1 MiB (one buffer per tensor would be 70,000)
    expect(m.deviceBuffers - before.deviceBuffers).toBeLessThanOrEqual(20);
    const mapsAfter = mappings();
    if (mapsBefore !== null && mapsAfter !== null) expect(mapsAfter - mapsBefore).toBeLessThan(1000);
    // every 499th tensor (and the last) holds its own value
    for (let i = 0; i < N; i += Math.min(499, Math.max(1, N - 1 - i)))
      expect(Array.from(await held[i].data())).toEqual(Array(4).fill(i % 9973));
    for (const t of held) t.dispose();
    b.flush();
    const freed = b.memory();
    expect(freed.liveBuffers).toBe(before.liveBuffers);
    expect(freed.deviceBuffers - before.deviceBuffers).toBeLessThanOrEqual(2); // empty slabs kept for reuse
    b.trim();
    expect(b.memory().deviceBuffers).toBeLessThanOrEqual(before.deviceBuffers);
    expect(b.memory().pooledBytes).toBe(0);
  });

  it("an op's output is placed outside its inputs' slabs", async () => {
    if (!(await hasGpu())) return;
    const x = mg.tensor([1, 2, 3, 4, 5], [5]);
    const w = mg.tensor([0.5, -1, 2, 0, 3], [5]);
    expect(slabOf(w)).toBe(slabOf(x)); // uploaded one after the other: the same slab
    const y = mg.tidy(() => x.mul(w).add(x).sub(w.exp()));
    expect(slabOf(y)).not.toBeNull();
    const [xs, ws] = [await x.data(), await w.data()];
    expectClose(
      await y.data(),
      Array.from(xs, (v, i) => v * ws[i] + v - Math.exp(ws[i])),
      { rtol: 1e-5, atol: 1e-5 },
    );
    for (const t of [x, w, y]) t.dispose();
  });

  it('in-place optimizer steps whose gradient shares a slab with the parameter and moments match cpu', async () => {
    if (!(await hasGpu())) return;
    const p0 = [0.3, -1.2, 2.5, 0, 0.7, -0.1, 1.9];
    const grads = [
      [0.1, -0.4, 0.9, 1.5, -2, 0.05, 0.3],
      [-0.2, 0.3, 0.1, -1, 0.5, 0.5, -0.7],
      [0.6, 0.1, -0.3, 0.2, 0.2, -0.9, 1.1],
    ];
    const run = async (backend: 'cpu' | 'webgpu', make: (ps: mg.Tensor[]) => { step(): void; zeroGrad(): void }) => {
      const ps = [mg.tensor(p0, [7], { backend, requiresGrad: true }), mg.tensor(p0.slice(0, 3), [3], { backend, requiresGrad: true })];
      const opt = make(ps);
      for (const g of grads) {
        ps[0].grad = mg.tensor(g, [7], { backend });
        ps[1].grad = mg.tensor(g.slice(0, 3), [3], { backend });
        if (backend === 'webgpu') for (const p of ps) expect(slabOf(p.grad!)).toBe(slabOf(p)); // the conflict under test
        opt.step();
        opt.zeroGrad();
      }
      const out = [Array.from(await ps[0].data()), Array.from(await ps[1].data())];
      for (const p of ps) p.dispose();
      return out;
    };
    for (const make of [
      (ps: mg.Tensor[]) => new mg.optim.AdamW(ps, { lr: 0.1, weightDecay: 0.01 }),
      (ps: mg.Tensor[]) => new mg.optim.SGD(ps, { lr: 0.1, momentum: 0.9 }),
    ]) {
      const want = await run('cpu', make);
      const got = await run('webgpu', make);
      for (let i = 0; i < want.length; i++) expectClose(got[i], want[i], { rtol: 1e-5, atol: 1e-6 });
    }
  });
});
