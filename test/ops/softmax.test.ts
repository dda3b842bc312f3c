// Softmax / log-softmax: forward against an independent float64 loop, the fused kernels against the
// naive twin built from primitive ops (forward and gradient), gradients against finite differences
// (cpu and webgpu), webgpu against cpu over random shapes and axes, stability at ±80, errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { softmaxNaive } from '../../src/ops/softmax.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

/** Float64 softmax / log-softmax along `axis`, written from the definition (shift by the row max). */
function reference(data: ArrayLike<number>, shape: readonly number[], axis: number, log: boolean): number[] {
  const a = axis < 0 ? axis + shape.length : axis;
  const L = shape[a] ?? 1;
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const out = new Array<number>(data.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const at = (l: number) => o * L * inner + l * inner + k;
      let m = -Infinity;
      for (let l = 0; l < L; l++) m = Math.max(m, data[at(l)]);
      let s = 0;
      for (let l = 0; l < L; l++) s += Math.exp(data[at(l)] - m);
      for (let l = 0; l < L; l++) out[at(l)] = log ? data[at(l)] - m - Math.log(s) : Math.exp(data[at(l)] - m) / s;
    }
  }
  return out;
}

const shapeAndAxis = (opts: { maxRank: number; maxDim: number }) =>
  arb
    .shape({ minRank: 1, ...opts })
    .chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: -shape.length, max: shape.length - 1 })));

const fns = {
  softmax: (t: mg.Tensor, axis: number) => t.softmax(axis),
  logSoftmax: (t: mg.Tensor, axis: number) => t.logSoftmax(axis),
};

describe('softmax / logSoftmax: forward', () => {
  it('hand-computed values, rows along the last and a middle axis', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(
        [
          [0, Math.log(3)],
          [1000, 1000],
        ],
        undefined,
        { backend },
      );
      expectClose(await x.softmax().data(), [0.25, 0.75, 0.5, 0.5], { rtol: 1e-6, atol: 1e-7 }, 'softmax');
      expectClose(
        await x.logSoftmax().data(),
        [Math.log(0.25), Math.log(0.75), -Math.LN2, -Math.LN2],
        { rtol: 1e-6, atol: 1e-6 },
        'logSoftmax',
      );
      expectClose(
        await x.softmax(0).data(),
        [1 / (1 + Math.exp(1000)), 1 / (1 + Math.exp(1000 - Math.log(3))), 1, 1],
        { atol: 1e-7 },
        'softmax(0)',
      );
      // -Inf entries (masks) get 0; a row of length 1 is 1; a 0-d tensor is 1
      const m = mg.tensor([0, -Infinity, 0], [3], { backend });
      expectClose(await m.softmax().data(), [0.5, 0, 0.5], { rtol: 1e-6 }, 'masked');
      expectClose(await m.logSoftmax().data(), [-Math.LN2, -Infinity, -Math.LN2], { rtol: 1e-6 }, 'masked log');
      expect(
        Array.from(
          await mg
            .tensor([[3], [-7]], undefined, { backend })
            .softmax(-1)
            .data(),
        ),
      ).toEqual([1, 1]);
      expect(await mg.tensor(4, [], { backend }).softmax().item()).toBe(1);
    }
  });

  it('cpu matches the float64 definition; webgpu matches cpu (random shapes and axes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeAndAxis({ maxRank: 4, maxDim: 9 }),
        fc.constantFrom<keyof typeof fns>('softmax', 'logSoftmax'),
        fc.constantFrom(3, 30),
        fc.integer({ min: 1, max: 1e6 }),
        async ([shape, axis], name, scale, seed) => {
          const x = mg.rand(shape, { seed, low: -scale, high: scale, backend: 'cpu' });
          const data = await x.data();
          const y = fns[name](x, axis);
          expectClose(await y.data(), reference(data, shape, axis, name === 'logSoftmax'), { rtol: 1e-12, atol: 1e-12 }, `${name} cpu`);
          await parity(
            (t) => fns[name](t, axis),
            [{ data, shape }],
            { rtol: 2e-5, atol: 2e-6 },
            `${name} ${JSON.stringify(shape)} axis ${axis}`,
          );
          x.dispose();
          y.dispose();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a row of 1000 with inputs in ±80 is finite, sums to 1, matches cpu', async () => {
    const x = mg.rand([3, 1000], { seed: 9, low: -80, high: 80 });
    const data = await x.data();
    const y = x.softmax();
    const d = await y.data();
    for (const v of d) expect(Number.isFinite(v)).toBe(true);
    for (let r = 0; r < 3; r++)
      expect(Math.abs(Array.from(d.subarray(r * 1000, (r + 1) * 1000)).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    expectClose(d, reference(data, [3, 1000], -1, false), { rtol: 1e-4, atol: 1e-7 }, 'softmax ±80');
    const ls = await x.logSoftmax().data();
    for (const v of ls) expect(Number.isFinite(v)).toBe(true);
    expectClose(ls, reference(data, [3, 1000], -1, true), { rtol: 1e-5, atol: 2e-4 }, 'logSoftmax ±80');
    // the same along a non-last axis
    const xt = mg.tensor(data, [1000, 3]);
    expectClose(await xt.softmax(0).data(), reference(data, [1000, 3], 0, false), { rtol: 1e-4, atol: 1e-7 }, 'softmax(0) ±80');
  });

  it('many rows (70000 > 65535 workgroups in x)', async () => {
    const x = mg.rand([70_000, 2], { seed: 4, low: -3, high: 3 });
    const data = await x.data();
    expectClose(await x.softmax().data(), reference(data, [70_000, 2], -1, false), { rtol: 1e-5, atol: 1e-6 }, 'softmax many rows');
  });
});

describe('softmax: fused kernel vs naive twin from primitive ops', () => {
  it('forward and gradient agree (random shapes and axes, both backends)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeAndAxis({ maxRank: 3, maxDim: 13 }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.constantFrom<mg.BackendName>('cpu', 'webgpu'),
        async ([shape, axis], seed, backend) => {
          const run = async (f: (t: mg.Tensor, a: number) => mg.Tensor) => {
            const x = mg.rand(shape, { seed, low: -4, high: 4, backend, requiresGrad: true });
            const w = mg.rand(shape, { seed: seed + 1, backend });
            const y = f(x, axis);
            y.mul(w).sum().backward();
            const out = { y: await y.data(), g: await x.grad!.data() };
            x.dispose();
            return out;
          };
          const fused = await run((t, a) => t.softmax(a));
          const naive = await run(softmaxNaive);
          const tol = backend === 'cpu' ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
          expectClose(fused.y, naive.y, tol, 'forward');
          expectClose(fused.g, naive.g, tol, 'gradient');
        },
      ),
      { numRuns: 12 },
    );
  });

  it('every threads-per-row variant (thread: vec4 and strided rows; split) agrees with the twin, forward and gradient', async () => {
    // [rows, len] with len % 4 == 0 (the vec4 entries), len % 4 != 0, a middle axis (strided rows),
    // more rows than one workgroup holds and not a multiple of it
    const cases: [number[], number][] = [
      [[67, 12], -1],
      [[67, 13], -1],
      [[5, 9, 8], 1],
      [[3, 300], -1],
    ];
    const variants: [string, Record<string, number>][] = [
      ['thread', {}],
      ['split', { tpr: 4 }],
      ['split', { tpr: 64 }],
      ['split', { tpr: 256 }],
    ];
    for (const [shape, axis] of cases) {
      for (const name of ['softmax', 'logSoftmax'] as const) {
        const run = async (f: (t: mg.Tensor) => mg.Tensor) => {
          const x = mg.rand(shape, { seed: 5, low: -6, high: 6, requiresGrad: true });
          const w = mg.rand(shape, { seed: 6 });
          const y = f(x);
          y.mul(w).sum().backward();
          const out = { y: await y.data(), g: await x.grad!.data() };
          x.dispose();
          return out;
        };
        const twin = await run((t) => (name === 'softmax' ? softmaxNaive(t, axis) : softmaxNaive(t, axis).log()));
        for (const [variant, knobs] of variants) {
          const got = await mg.testing.withKernel('softmax', variant, () => run((t) => fns[name](t, axis)), knobs);
          const label = `${name} ${JSON.stringify(shape)} axis ${axis} ${variant} ${JSON.stringify(knobs)}`;
          expectClose(got.y, twin.y, { rtol: 2e-5, atol: 2e-6 }, `${label} forward`);
          expectClose(got.g, twin.g, { rtol: 2e-4, atol: 2e-5 }, `${label} gradient`);
        }
      }
    }
  });

  it('the fused forward and backward are one dispatch each', async () => {
    for (const name of ['softmax', 'logSoftmax'] as const) {
      const x = mg.randn([4, 7, 5], { seed: 1, requiresGrad: true });
      const { result: y, kernels } = await mg.profile(() => fns[name](x, 1));
      expect(kernels.map((k) => k.kernel)).toEqual([name]);
      const g = mg.onesLike(y);
      const back = await mg.profile(() => y.backward(g));
      expect(back.kernels.map((k) => k.kernel)).toEqual([`${name}.backward`]);
    }
  });
});

describe('softmax / logSoftmax: gradients', () => {
  for (const name of ['softmax', 'logSoftmax'] as const) {
    for (const axis of [-1, 0, 1]) {
      it(`${name}(axis ${axis}) matches finite differences (cpu float64 and webgpu)`, async () => {
        for (const backend of ['cpu', 'webgpu'] as const) {
          const x = mg.tensor(
            Array.from({ length: 30 }, (_, i) => Math.sin(i * 1.7) * 3),
            [2, 3, 5],
            { backend },
          );
          const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-4, rtol: 2e-3 };
          expect((await gradcheck((t) => fns[name](t, axis), [x], tol)).ok).toBe(true);
          x.dispose();
        }
      });
    }
  }

  it('gradient through a length-1 axis is zero; through -Inf entries it is finite', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([[1], [2]], undefined, { backend, requiresGrad: true });
      x.softmax(1).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 0]);
      const m = mg.tensor([0, -Infinity, 1], [3], { backend, requiresGrad: true });
      m.logSoftmax().backward(mg.tensor([1, 0, 0], [3], { backend }));
      const g = await m.grad!.data();
      expectClose(g, [1 - 1 / (1 + Math.E), 0, -Math.E / (1 + Math.E)], { rtol: 1e-5, atol: 1e-6 }, 'masked grad');
    }
  });
});

describe('softmax: errors', () => {
  it('bad axes and dtypes name the op', () => {
    const x = mg.randn([2, 3]);
    expect(() => x.softmax(2)).toThrow(/softmax: axis 2 is out of range for a tensor of rank 2/);
    expect(() => x.logSoftmax(-3)).toThrow(/logSoftmax: axis -3 is out of range/);
    expect(() => mg.tensor([1, 2], [2], { dtype: 'int32' }).softmax()).toThrow(
      /softmax: expects a float32 or float16 tensor, got tensor #\d+ \[2\] int32/,
    );
    expect(() => mg.tensor(1, []).softmax(1)).toThrow(/softmax: axis 1 is out of range for a tensor of rank 0/);
  });
});
