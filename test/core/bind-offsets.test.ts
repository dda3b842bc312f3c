// Bind-group offsets (WebGpuOptions.bindOffsets): CPU adapters bind static offsets (lavapipe copies
// the descriptor set on every dispatch with dynamic offsets), GPUs dynamic ones. This file runs the
// engine with dynamic offsets forced, so the path GPUs take is tested on lavapipe too: every engine
// kernel gets a dynamic layout, and slab-resident tensors (many per buffer) compute what the cpu
// backend does. The default suites run the static path.
process.env.MORAGRAD_BIND_OFFSETS = 'dynamic';

import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { isCpuAdapter } from '../../src/backend/interface.js';
import { WebGpuBackend } from '../../src/backend/webgpu/webgpu.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

type Inner = { bindOffsets: string; pipelines: { pipelines: Map<string, { dynamic: boolean }> } };

describe('bind-group offsets', () => {
  it("every engine kernel's entry point gets a layout with dynamic offsets when asked", async () => {
    // (the GPT kernels: a kernel left on 'auto' would still work, with more bind groups)
    const b = mg.getBackend('webgpu') as unknown as Inner;
    expect(b.bindOffsets).toBe('dynamic');
    const m = new mg.nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, seed: 1 });
    const ids = mg.tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'int32' });
    mg.tidy(() => m.forward(ids, ids).loss!.backward());
    const auto = [...b.pipelines.pipelines].filter(([, p]) => !p.dynamic).map(([k]) => k);
    expect(auto).toEqual([]);
    for (const p of m.parameters()) p.grad?.dispose();
    ids.dispose();
  });

  it('slab-resident tensors bound with dynamic offsets give the cpu backend’s values', async () => {
    // 200 small tensors share slabs; a chain of adds and products reads and writes many slots of
    // the same buffers, each bind group serving every slot
    const vals = Array.from({ length: 200 }, (_, i) => Array.from({ length: 5 }, (_, j) => Math.sin(i * 7 + j)));
    const run = (backend: 'cpu' | 'webgpu') =>
      mg.tidy(() => {
        const ts = vals.map((v) => mg.tensor(v, [5], { backend }));
        let acc = ts[0];
        for (let i = 1; i < ts.length; i++) acc = i % 3 === 0 ? acc.mul(ts[i]).add(ts[i - 1]) : acc.add(ts[i].mul(0.5));
        return acc;
      });
    const g = run('webgpu');
    const c = run('cpu');
    expectClose(await g.data(), await c.data(), { rtol: 1e-5, atol: 1e-5 });
    g.dispose();
    c.dispose();
  });

  it('a CPU adapter defaults to static offsets; a bad MORAGRAD_BIND_OFFSETS or bindOffsets is an error naming it', async () => {
    const saved = process.env.MORAGRAD_BIND_OFFSETS;
    try {
      delete process.env.MORAGRAD_BIND_OFFSETS;
      const b = await WebGpuBackend.create();
      const cpuAdapter = isCpuAdapter(`${b.adapterInfo.description} ${b.adapterInfo.device}`);
      expect(b.bindOffsets).toBe(cpuAdapter ? 'static' : 'dynamic');
      b.device.destroy();
      process.env.MORAGRAD_BIND_OFFSETS = 'sometimes';
      await expect(WebGpuBackend.create()).rejects.toThrow(/MORAGRAD_BIND_OFFSETS must be 'static' or 'dynamic', got 'sometimes'/);
      delete process.env.MORAGRAD_BIND_OFFSETS;
      await expect(WebGpuBackend.create({ bindOffsets: 'always' as 'static' })).rejects.toThrow(
        /bindOffsets must be 'static' or 'dynamic', got 'always'/,
      );
    } finally {
      process.env.MORAGRAD_BIND_OFFSETS = saved;
    }
  });
});
