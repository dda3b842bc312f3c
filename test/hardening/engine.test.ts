// Hardening of the engine under bad input: out-of-range indices on both backends (the GPU raises at
// the next readback), tidy when its function throws, creation-time checks, the mapping-limit guard,
// and stale temporary files of killed writers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { scatterAdd } from '../../src/ops/gather.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/webgpu.js';
import { hasGpu, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';
const backends = async (): Promise<B[]> => ((await hasGpu()) ? ['cpu', 'webgpu'] : ['cpu']);
const ids = (v: number[], backend: B) => mg.tensor(v, [v.length], { dtype: 'int32', backend });

/** Runs `f` and reads its result back (the GPU reports index errors at the readback). */
async function settle(f: () => mg.Tensor): Promise<void> {
  const t = f();
  try {
    await t.data();
  } finally {
    t.dispose();
  }
}

describe('out-of-range indices raise the same error on cpu and webgpu', () => {
  it('indexSelect, gather, scatterAdd (both impls), Embedding, GPT, crossEntropy', async () => {
    for (const b of await backends()) {
      const x = mg.ones([4, 3], { backend: b });
      const expectIndex = async (f: () => mg.Tensor, re: RegExp) => {
        await expect(settle(f), b).rejects.toThrow(re);
        await settle(() => mg.indexSelect(x, 0, ids([1, 2], b))); // the error is reported once; later work is clean
      };
      await expectIndex(
        () => mg.indexSelect(x, 0, ids([0, 7], b)),
        /indexSelect: index value 7 at flat position 1 of index \[2\] is out of range for axis 0 of size 4 \(x \[4, 3\]; expected 0\.\.3\)/,
      );
      await expectIndex(
        () => mg.indexSelect(x, 1, ids([-1], b)),
        /indexSelect: index value -1 at flat position 0 of index \[1\] is out of range for axis 1 of size 3/,
      );
      const gi = mg.tensor([0, 1, 2, 5, 0, 1], [2, 3], { dtype: 'int32', backend: b });
      await expectIndex(
        () => mg.gather(x, 0, gi),
        /gather: index value 5 at flat position 3 of index \[2, 3\] is out of range for axis 0 of size 4/,
      );
      const src = mg.ones([2, 3], { backend: b });
      for (const impl of ['chain', 'naive'] as const) {
        await expectIndex(
          () => scatterAdd(src, 0, ids([0, 9], b), [4, 3], { impl }),
          /scatterAdd: index value 9 at flat position 1 of index \[2\] is out of range for axis 0 of size 4/,
        );
      }
      const emb = new mg.nn.Embedding(8, 4, { backend: b, seed: 1 });
      await expectIndex(
        () => emb.forward(ids([3, 100], b)),
        /indexSelect: index value 100 at flat position 1 of index \[2\] is out of range for axis 0 of size 8/,
      );
      const blocked = new mg.nn.BlockedEmbedding(8, 4, 3, { backend: b, seed: 1 }); // blocks of 3 rows clamp their ids
      await expectIndex(
        () => blocked.forward(ids([7, -1], b)),
        /indexSelect: index value -1 at flat position 1 of index \[2\] is out of range for axis 0 of size 8/,
      );
      blocked.dispose();
      const gpt = new mg.nn.GPT({ vocabSize: 8, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 8, backend: b, seed: 1 });
      await expectIndex(
        () => mg.noGrad(() => gpt.forward(mg.tensor([1, 200], [1, 2], { dtype: 'int32', backend: b })).logits),
        /index value 200 .* axis 0 of size 8/,
      );
      const logits = mg.randn([3, 4], { backend: b, seed: 2 });
      await expectIndex(
        () => mg.crossEntropy(logits, ids([0, 9, 1], b)),
        /crossEntropy: target 9 at row 1 is out of range \[0, 4\) for logits \[3, 4\]/,
      );
      await expectIndex(() => mg.crossEntropy(logits, ids([0, 1, -2], b)), /crossEntropy: target -2 at row 2 is out of range \[0, 4\)/);
      for (const t of [x, gi, src, logits]) t.dispose();
      emb.dispose();
      gpt.dispose();
    }
  });
});

describe('tidy', () => {
  it('disposes the scope when its function throws, and re-throws', () => {
    const before = mg.memory().liveTensors;
    for (let i = 0; i < 100; i++) {
      expect(() =>
        mg.tidy(() => {
          mg.ones([2], { backend: 'cpu' }).add(1);
          throw new Error('boom');
        }),
      ).toThrow('boom');
    }
    expect(mg.memory().liveTensors).toBe(before);
  });
});

describe('creation rejects what it would store wrongly', () => {
  it('non-numbers, out-of-range int32 and float32, sizes beyond the backend', () => {
    for (const backend of ['cpu'] as const) {
      expect(() => mg.tensor(['a', 'b'] as unknown as number[], [2], { backend })).toThrow(
        /tensor: element 0 must be a number, got string "a"/,
      );
      expect(() => mg.tensor([1, null] as unknown as number[], [2], { backend })).toThrow(/element 1 must be a number/);
      expect(() => mg.tensor([3e9], [1], { dtype: 'int32', backend })).toThrow(/tensor: element 0 = 3000000000 is not an int32/);
      expect(() => mg.tensor(new Float64Array([1e39]), [1], { backend })).toThrow(/element 0 = 1e\+39 is outside float32 range/);
      expect(() => mg.full([2], 2 ** 31, { dtype: 'int32', backend })).toThrow(/full: value = 2147483648 is not an int32/);
      expect(() => mg.zeros([2 ** 31], { backend })).toThrow(
        /alloc: 2147483648 elements exceed the cpu backend's limit of 268435456 per tensor/,
      );
    }
    // what is representable still goes through
    expect(mg.tensor([-(2 ** 31), 2 ** 31 - 1], [2], { dtype: 'int32', backend: 'cpu' }).size).toBe(2);
    expect(mg.tensor([NaN, Infinity, 3.4e38], [3], { backend: 'cpu' }).size).toBe(3);
  });
});

describe('the mapping-limit guard', () => {
  it('fails with a clear error naming the limit before the process would crash', async () => {
    if (!(await hasGpu())) return;
    const b = mg.getBackend('webgpu') as WebGpuBackend;
    const saved = b.mapLimit;
    const held: mg.Tensor[] = [];
    b.mapLimit = 1; // every look now finds the process at the bound
    try {
      expect(() => {
        for (let i = 0; i < 600; i++) held.push(mg.zeros([i + 1, 7]));
      }).toThrow(/alloc: the process holds \d+ memory mappings, at moragrad's bound of 1 \(90% of the kernel's vm.max_map_count/);
    } finally {
      b.mapLimit = saved;
      for (const t of held) t.dispose();
    }
  });
});

describe('atomic writes', () => {
  it("remove the temporary files of killed writers, not a live one's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-stale-'));
    const target = join(dir, 'checkpoint.safetensors');
    // a pid that certainly exited: a child that has finished
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid;
    const stale = join(dir, `.checkpoint.safetensors.${dead}.0123456789ab.tmp`);
    const live = join(dir, `.checkpoint.safetensors.${process.ppid}.0123456789ab.tmp`);
    writeFileSync(stale, 'x'.repeat(1000));
    writeFileSync(live, 'y');
    await writeFileAtomic(target, 'new');
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([`.checkpoint.safetensors.${process.ppid}.0123456789ab.tmp`, 'checkpoint.safetensors']);
  });
});
