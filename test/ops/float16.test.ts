// float16 tensors: each op that takes them, on the cpu backend (float64 loops, outputs rounded to
// half) against the float64 answer rounded to half, and on webgpu (half storage, f32 accumulation)
// against the cpu backend; casts both ways with their gradient; a GPT training step in float16
// against float32; and the loud errors (mixed dtypes, kernels without float16, no shader-f16).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { WebGpuBackend } from '../../src/backend/webgpu/webgpu.js';
import { wgslSource } from '../../src/backend/webgpu/shaders.js';
import { f16round } from '../../src/dtype.js';
import { expectClose, randData, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb } = mg.testing;

type In = { data: ArrayLike<number>; shape: number[]; dtype?: mg.DType };
/** Half's unit roundoff is 2^-11 ≈ 4.9e-4: a few of them relative, plus an absolute floor for cancellation. */
const HALF = { rtol: 4e-3, atol: 4e-3 };

/**
 * Runs `fn` three ways on inputs already rounded to half: float32 on cpu (float64, the reference,
 * rounded to half), float16 on cpu, float16 on webgpu. Checks the outputs are float16 and close.
 */
async function check16(fn: (...xs: mg.Tensor[]) => mg.Tensor, inputs: In[], tol = HALF, label = ''): Promise<void> {
  const make = (backend: 'cpu' | 'webgpu', half: boolean) =>
    inputs.map((i) =>
      mg.tensor(
        Array.from(i.data, (v) => (i.dtype === 'int32' ? v : f16round(v))),
        i.shape,
        {
          backend,
          dtype: i.dtype ?? (half ? 'float16' : 'float32'),
        },
      ),
    );
  const run = async (backend: 'cpu' | 'webgpu', half: boolean) => {
    const xs = make(backend, half);
    const y = fn(...xs);
    expect(y.dtype, `${label} ${backend} dtype`).toBe(half ? 'float16' : 'float32');
    const d = Array.from(await y.data());
    for (const t of [...xs, y]) t.dispose();
    return d;
  };
  const ref = (await run('cpu', false)).map(f16round);
  const cpu = await run('cpu', true);
  expectClose(cpu, ref, tol, `${label} cpu float16 vs float64`);
  const gpu = await run('webgpu', true);
  expectClose(gpu, cpu, tol, `${label} webgpu vs cpu float16`);
}

const data = (shape: number[], seed: number, scale = 1) => ({
  data: Array.from(
    randData(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    (v) => v * scale,
  ),
  shape,
});

describe('float16 ops: cpu (rounded float64) vs the float64 answer, webgpu vs cpu', () => {
  it('elementwise unary and binary ops with broadcasting', async () => {
    await fc.assert(
      fc.asyncProperty(arb.broadcastPair({ maxRank: 3, maxDim: 7 }), fc.integer({ min: 1, max: 1e6 }), async ([sa, sb], seed) => {
        const a = data(sa, seed, 2);
        const b = data(sb, seed + 1, 2);
        await check16((x) => x.exp(), [a], HALF, 'exp');
        await check16((x) => x.tanh(), [a], HALF, 'tanh');
        await check16((x) => x.gelu('tanh'), [a], HALF, 'gelu');
        await check16((x, y) => x.add(y), [a, b], HALF, 'add');
        await check16((x, y) => x.mul(y).sub(y), [a, b], HALF, 'mul sub');
        await check16((x, y) => mg.where(x.gt(y), x, y), [a, b], HALF, 'where gt');
        await check16((x) => x.mul(3).add(0.5), [a], HALF, 'scalar affine');
      }),
      { numRuns: 4 },
    );
  });

  it('matmul (odd and prime sizes, batched, transposed operand) accumulates in f32', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 11 }),
        fc.integer({ min: 1, max: 1e6 }),
        async (m, k, n, seed) => {
          // sums of k products of [-1, 1) values: the absolute error grows like √k half-ulps of the result
          const tol = { rtol: 4e-3, atol: 4e-3 * Math.sqrt(k) };
          await check16((a, b) => a.matmul(b), [data([m, k], seed), data([k, n], seed + 1)], tol, 'matmul');
          await check16((a, b) => a.matmul(b), [data([2, m, k], seed), data([k, n], seed + 2)], tol, 'batched matmul');
          await check16((a, b) => mg.ops.matmulT(a, b, { transB: true }), [data([m, k], seed), data([n, k], seed + 3)], tol, 'matmulT');
          await check16(
            (a, b) => mg.ops.matmulT(a, b, { transA: true }),
            [data([k, m], seed), data([k, n], seed + 4)],
            tol,
            'matmulT transA',
          );
        },
      ),
      { numRuns: 4 },
    );
  });

  it('every matmul kernel (scalar, vec4, tiled, naive) takes float16, transposed operands too', async () => {
    const tol = { rtol: 4e-3, atol: 2e-2 };
    for (const variant of ['scalar', 'vec4', 'tiled', 'naive']) {
      await mg.testing.withKernel('matmul', variant, async () => {
        await check16((a, b) => a.matmul(b), [data([12, 16], 1), data([16, 8], 2)], tol, `${variant}`);
        await check16(
          (a, b) => mg.ops.matmulT(a, b, { transA: true, transB: true }),
          [data([16, 12], 3), data([8, 16], 4)],
          tol,
          `${variant} tA tB`,
        );
        await check16((a, b) => a.matmul(b), [data([3, 5, 7], 5), data([7, 9], 6)], tol, `${variant} odd`);
      });
    }
  });

  it('a long float16 matmul is within f32 accumulation error, not half accumulation error', async () => {
    // k = 2048 products of 1·1: 2048 exactly. Accumulating in half would stop at 2048 only by luck of
    // exact steps; with 0.999 entries the half running sum drifts by many ulps, the f32 one does not.
    const k = 2048;
    const a = { data: new Array(k).fill(0.999), shape: [1, k] };
    const b = { data: new Array(k).fill(0.999), shape: [k, 1] };
    await check16((x, y) => x.matmul(y), [a, b], { rtol: 1e-3, atol: 0 }, 'long matmul');
  });

  it('sum and mean over axes, max, softmax and logSoftmax', async () => {
    await fc.assert(
      fc.asyncProperty(arb.shape({ minRank: 1, maxRank: 3, maxDim: 9 }), fc.integer({ min: 1, max: 1e6 }), async (shape, seed) => {
        const x = data(shape, seed, 3);
        const n = shape.reduce((a, b) => a * b, 1);
        await check16((t) => t.sum(), [x], { rtol: 4e-3, atol: 4e-3 * Math.sqrt(n) }, 'sum');
        await check16((t) => t.mean(-1), [x], HALF, 'mean(-1)');
        await check16((t) => t.max(0), [x], HALF, 'max(0)');
        await check16((t) => t.softmax(-1), [x], HALF, 'softmax');
        await check16((t) => t.logSoftmax(-1), [x], { rtol: 4e-3, atol: 1e-2 }, 'logSoftmax');
      }),
      { numRuns: 4 },
    );
  });

  it('a mean over many elements stays finite where their sum passes 65504', async () => {
    const x = { data: new Array(40000).fill(3), shape: [40000] };
    await check16((t) => t.mean(), [x], { rtol: 1e-3, atol: 0 }, 'mean of 40000 threes');
  });

  it('layerNorm and rmsNorm (f32 row statistics)', async () => {
    for (const [rows, C] of [
      [1, 1],
      [3, 7],
      [5, 64],
      [2, 301],
    ]) {
      const x = data([rows, C], rows * 31 + C, 2);
      const w = data([C], C + 1);
      const b = data([C], C + 2);
      await check16((t, tw, tb) => mg.layerNorm(t, tw, tb), [x, w, b], { rtol: 4e-3, atol: 1e-2 }, `layerNorm ${rows}x${C}`);
      await check16((t, tw) => mg.rmsNorm(t, tw), [x, w], { rtol: 4e-3, atol: 1e-2 }, `rmsNorm ${rows}x${C}`);
    }
  });

  it('crossEntropy on float16 logits (mean, sum, none)', async () => {
    const logits = data([6, 11], 5, 4);
    const targets = { data: [0, 10, 3, -100, 7, 2], shape: [6], dtype: 'int32' as const };
    for (const reduction of ['mean', 'sum', 'none'] as const)
      await check16((l, t) => mg.crossEntropy(l, t, { reduction }), [logits, targets], HALF, `crossEntropy ${reduction}`);
  });

  it('indexSelect (embedding), permute, slice, concat, reshape', async () => {
    const table = data([9, 5], 3);
    const ids = { data: [0, 8, 3, 3, 1], shape: [5], dtype: 'int32' as const };
    await check16((t, i) => mg.indexSelect(t, 0, i), [table, ids], HALF, 'indexSelect');
    const x = data([3, 4, 5], 7);
    await check16((t) => t.permute([2, 0, 1]), [x], HALF, 'permute');
    await check16((t) => mg.slice(t, 1, 1, 3), [x], HALF, 'slice');
    await check16((t) => mg.concat([t, t.mul(2)], 2), [x], HALF, 'concat');
    await check16((t) => t.reshape([5, 12]).add(1), [x], HALF, 'reshape');
  });

  it('gradients in float16 (f32 accumulation) match float64 gradients', async () => {
    const x0 = data([4, 6], 11);
    const w0 = data([6, 5], 12);
    const lossOf = (x: mg.Tensor, w: mg.Tensor) => x.matmul(w).gelu('tanh').softmax(-1).mul(x.matmul(w)).sum();
    const grads = async (backend: 'cpu' | 'webgpu', dtype: 'float32' | 'float16') => {
      const x = mg.tensor(x0.data.map(f16round), x0.shape, { backend, dtype, requiresGrad: true });
      const w = mg.tensor(w0.data.map(f16round), w0.shape, { backend, dtype, requiresGrad: true });
      lossOf(x, w).backward();
      expect(x.grad!.dtype).toBe(dtype);
      const out = [Array.from(await x.grad!.data()), Array.from(await w.grad!.data())];
      x.dispose();
      w.dispose();
      return out;
    };
    const ref = await grads('cpu', 'float32');
    for (const backend of ['cpu', 'webgpu'] as const) {
      const g = await grads(backend, 'float16');
      expectClose(g[0], ref[0], { rtol: 1e-2, atol: 1e-2 }, `${backend} dx`);
      expectClose(g[1], ref[1], { rtol: 1e-2, atol: 1e-2 }, `${backend} dw`);
    }
  });
});

describe('float16 special values', () => {
  it('NaN, ±Inf, ±0, ±65504 and a subnormal give the same answers on webgpu as on the cpu backend', async () => {
    const X = [NaN, Infinity, -Infinity, 0, -0, 65504, -65504, 1.5, -1.5, 0.25, 12, -12, 2 ** -24];
    const ops: [string, (t: mg.Tensor) => mg.Tensor][] = [
      ['exp', (t) => t.exp()],
      ['log', (t) => t.log()],
      ['rsqrt', (t) => t.rsqrt()],
      ['relu', (t) => t.relu()],
      ['tanh', (t) => t.tanh()],
      ['sigmoid', (t) => t.sigmoid()],
      ['pow(-1)', (t) => t.pow(-1)],
      ['square (overflows)', (t) => t.mul(t)],
      ['div by 0', (t) => t.div(mg.zeros([], { dtype: 'float16', backend: t.backend.name }))],
      ['max', (t) => t.max()],
      ['softmax', (t) => t.softmax(-1)],
      ['cast', (t) => t.cast('float32').mul(1e6).cast('float16')],
    ];
    for (const [name, f] of ops) {
      const [cpu, gpu] = await Promise.all(
        (['cpu', 'webgpu'] as const).map(async (backend) => {
          const x = mg.tensor(X, [X.length], { dtype: 'float16', backend });
          const y = f(x);
          const d = Array.from(await y.data());
          x.dispose();
          y.dispose();
          return d;
        }),
      );
      // within a few half ulps; a subnormal result may differ by one subnormal step (2^-24)
      expectClose(gpu, cpu, { rtol: 2e-3, atol: 2 ** -23 }, name);
    }
  });
});

describe('cast', () => {
  it('float32 -> float16 rounds to nearest even, float16 -> float32 is exact, on both backends', async () => {
    const vals = [
      0,
      -0,
      1,
      -2.5,
      0.1,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -25,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      65504,
      65519,
      65520,
      -1e6,
      NaN,
      Infinity,
      -Infinity,
    ];
    const want = vals.map(f16round);
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(vals, [vals.length], { backend });
      const h = x.cast('float16');
      const back = h.cast('float32');
      expect(h.dtype).toBe('float16');
      expect(back.dtype).toBe('float32');
      const got = Array.from(await back.data());
      got.forEach((v, i) =>
        expect(Object.is(v, want[i]) || (Number.isNaN(v) && Number.isNaN(want[i])), `${backend} ${vals[i]} -> ${v}`).toBe(true),
      );
      expect(Array.from(await h.data())).toEqual(got);
      for (const t of [x, h, back]) t.dispose();
    }
  });

  it('int32 <-> float16 (through float32), and float16 clones', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const i = mg.tensor([0, -7, 2049, 70000], [4], { dtype: 'int32', backend });
      const h = i.cast('float16');
      expect(Array.from(await h.data())).toEqual([0, -7, 2048, Infinity]);
      expect(Array.from(await h.cast('int32').data())).toEqual([0, -7, 2048, 2147483647]);
      const odd = mg.tensor([1, 2, 3], [3], { dtype: 'float16', backend });
      expect(Array.from(await mg.clone(odd).data())).toEqual([1, 2, 3]);
      expect(Array.from(await mg.full([5], 0.1, { dtype: 'float16', backend }).data())).toEqual(new Array(5).fill(f16round(0.1)));
    }
  });

  it('the gradient of a cast is cast back (master weights in float32)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const w = mg.tensor([0.1, -2, 3.3], [3], { backend, requiresGrad: true });
      const y = w
        .cast('float16')
        .mul(mg.tensor([1, 2, 0.5], [3], { backend, dtype: 'float16' }))
        .sum();
      expect(y.dtype).toBe('float16');
      y.backward();
      expect(w.grad!.dtype).toBe('float32');
      expect(Array.from(await w.grad!.data())).toEqual([1, 2, 0.5]);
      w.dispose();
    }
  });
});

describe('a GPT training step in float16', () => {
  it('forward, backward and AdamW steps: finite, and the loss within tolerance of float32', async () => {
    const cfg = { vocabSize: 17, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, seed: 3 };
    const ids = [
      [1, 5, 9, 2, 7, 3, 3, 8],
      [4, 4, 0, 16, 2, 11, 6, 1],
    ];
    const run = async (backend: 'cpu' | 'webgpu', dtype: 'float32' | 'float16') => {
      const model = new mg.nn.GPT({ ...cfg, backend });
      if (dtype === 'float16') model.cast('float16');
      expect(model.parameters().every((p) => p.dtype === dtype)).toBe(true);
      const opt = new mg.optim.AdamW(model.parameters(), { lr: 3e-3 });
      const idx = mg.tensor(
        ids.map((r) => r.slice(0, 7)),
        [2, 7],
        { dtype: 'int32', backend },
      );
      const tgt = mg.tensor(
        ids.map((r) => r.slice(1)),
        [2, 7],
        { dtype: 'int32', backend },
      );
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        const loss = mg.tidy(() => {
          const { loss } = model.forward(idx, tgt);
          loss!.backward();
          return loss!;
        });
        expect(loss.dtype).toBe(dtype);
        losses.push(await loss.item());
        loss.dispose();
        opt.step();
        model.zeroGrad();
      }
      for (const p of model.parameters()) for (const v of await p.data()) expect(Number.isFinite(v)).toBe(true);
      if (dtype === 'float16')
        expect(Object.values(opt.stateOf(model.parameters()[0])?.buffers ?? {}).every((t) => t.dtype === 'float32')).toBe(true);
      model.dispose();
      opt.resetState();
      idx.dispose();
      tgt.dispose();
      return losses;
    };
    const ref = await run('cpu', 'float32');
    for (const backend of ['cpu', 'webgpu'] as const) {
      const half = await run(backend, 'float16');
      half.forEach((l, i) => expect(Math.abs(l - ref[i]), `${backend} step ${i}: ${l} vs ${ref[i]}`).toBeLessThan(0.02));
      expect(half[2]).toBeLessThan(half[0]); // it trains
    }
  });
});

describe('optimizers on float16 parameters', () => {
  it('Adam (amsgrad) and AdamW, fused and naive: float32 moments, updates within half rounding of float32', async () => {
    const w0 = [0.5, -1.25, 2, 0.001, -3];
    const g0 = [0.1, -0.2, 0.3, 1e-4, 0];
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const [Opt, opts] of [
        [mg.optim.Adam, { lr: 0.1, amsgrad: true, weightDecay: 0.01 }],
        [mg.optim.AdamW, { lr: 0.1, impl: 'naive' as const }],
        [mg.optim.AdamW, { lr: 0.1 }],
      ] as const) {
        const result = async (dtype: 'float32' | 'float16') => {
          const p = new mg.nn.Parameter(mg.tensor(w0, [5], { backend, dtype }));
          const opt = new Opt([p], opts);
          for (let s = 0; s < 2; s++) {
            p.grad = mg.tensor(g0, [5], { backend, dtype });
            opt.step();
          }
          expect(p.dtype).toBe(dtype);
          for (const t of Object.values(opt.stateOf(p)!.buffers)) expect(t.dtype).toBe('float32');
          const d = Array.from(await p.data());
          opt.resetState();
          p.dispose();
          return d;
        };
        const ref = (await result('float32')).map(f16round);
        expectClose(await result('float16'), ref, { rtol: 2e-3, atol: 1e-4 }, `${backend} ${Opt.name}`);
      }
    }
  });
});

describe('a LLaMA-style GPT in float16', () => {
  it('rotary positions, rmsNorm and SwiGLU: the forward loss and a gradient close to float32', async () => {
    const cfg = {
      vocabSize: 11,
      blockSize: 8,
      nLayer: 1,
      nHead: 2,
      nEmbd: 8,
      seed: 5,
      positions: 'rotary',
      norm: 'rmsnorm',
      mlp: 'swiglu',
      bias: false,
    } as const;
    const idx = [
      [1, 2, 3, 4, 5, 6],
      [6, 5, 4, 3, 2, 10],
    ];
    const run = async (backend: 'cpu' | 'webgpu', dtype: 'float32' | 'float16') => {
      const model = new mg.nn.GPT({ ...cfg, backend });
      model.cast(dtype);
      const ids = mg.tensor(idx, [2, 6], { dtype: 'int32', backend });
      const loss = model.forward(ids, ids).loss!;
      loss.backward();
      const out = { loss: await loss.item(), grad: Array.from(await model.wte.weight.grad!.data()) };
      for (const t of [loss, ids]) t.dispose();
      model.dispose();
      return out;
    };
    const ref = await run('cpu', 'float32');
    for (const backend of ['cpu', 'webgpu'] as const) {
      const half = await run(backend, 'float16');
      expect(Math.abs(half.loss - ref.loss), `${backend} loss ${half.loss} vs ${ref.loss}`).toBeLessThan(5e-3);
      expectClose(half.grad, ref.grad, { rtol: 2e-2, atol: 2e-3 }, `${backend} dL/dwte`);
    }
  });
});

describe('float16 errors', () => {
  it('mixing float16 and float32 fails naming the op (nothing is promoted silently)', () => {
    const a = mg.ones([2], { dtype: 'float16', backend: 'cpu' });
    const b = mg.ones([2], { backend: 'cpu' });
    expect(() => a.add(b)).toThrow(/add: mixes float dtypes.*float16.*float32/);
    expect(() => mg.ones([2, 2], { dtype: 'float16', backend: 'cpu' }).matmul(mg.ones([2, 2], { backend: 'cpu' }))).toThrow(
      /matmul: mixes float dtypes/,
    );
  });

  it('an op without a float16 kernel fails naming the op and the dtype, on both backends', () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const q = mg.ones([1, 1, 2, 4], { dtype: 'float16', backend });
      expect(() => mg.attention(q, q, q, { impl: 'flash' })).toThrow(/attention: the 'attention\.flash' kernel does not support float16/);
      const p = new mg.nn.Parameter(mg.ones([3], { dtype: 'float16', backend }));
      p.grad = mg.ones([3], { dtype: 'float16', backend });
      expect(() => new mg.optim.SGD([p], { lr: 0.1 }).step()).toThrow(/does not support float16/);
    }
  });

  it('values beyond float16 range are an error when creating a tensor', () => {
    expect(() => mg.tensor([1, 70000], [2], { dtype: 'float16', backend: 'cpu' })).toThrow(/70000 is outside float16 range/);
  });

  it('a kernel without an f16 specialisation cannot be built for float16', () => {
    expect(() => wgslSource('fill@f16')).toThrow(/declares no `alias T = f32;`/);
    expect(wgslSource('accumulate@f16')).toMatch(/^enable f16;[\s\S]*alias T = f16;/);
  });

  it("an adapter without 'shader-f16' refuses float16 tensors, naming the feature", async () => {
    const b = await WebGpuBackend.create({ withoutFeatures: ['shader-f16'] });
    expect(b.hasF16).toBe(false);
    expect(() => b.upload([1, 2], 'float16')).toThrow(/float16: this WebGPU device lacks the 'shader-f16' feature/);
    const f32 = b.upload([1, 2], 'float32'); // float32 still works
    expect(Array.from(await b.read(f32))).toEqual([1, 2]);
    b.release(f32);
    b.device.destroy();
  });
});
