// Binary ops with broadcasting, and where: forward vs float64 reference, gradcheck, parity.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { broadcastShapes, broadcastStrides, numel } from '../../src/shape.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

/** Reference broadcasting by explicit index arithmetic (independent of the kernels' code). */
function refBinary(a: ArrayLike<number>, as: number[], b: ArrayLike<number>, bs: number[], f: (x: number, y: number) => number) {
  const out = broadcastShapes('ref', as, bs);
  const sa = broadcastStrides(as, out);
  const sb = broadcastStrides(bs, out);
  const res: number[] = [];
  for (let i = 0; i < numel(out); i++) {
    let rem = i;
    let ia = 0;
    let ib = 0;
    for (let d = out.length - 1; d >= 0; d--) {
      const c = rem % out[d];
      rem = Math.floor(rem / out[d]);
      ia += c * sa[d];
      ib += c * sb[d];
    }
    res.push(f(a[ia], b[ib]));
  }
  return res;
}

const OPS: [string, (a: mg.Tensor, b: mg.Tensor) => mg.Tensor, (x: number, y: number) => number][] = [
  ['add', (a, b) => a.add(b), (x, y) => x + y],
  ['sub', (a, b) => a.sub(b), (x, y) => x - y],
  ['mul', (a, b) => a.mul(b), (x, y) => x * y],
  ['div', (a, b) => a.div(b), (x, y) => x / y],
  ['maximum', (a, b) => a.maximum(b), Math.max],
  ['minimum', (a, b) => a.minimum(b), Math.min],
  ['lt', (a, b) => a.lt(b), (x, y) => +(x < y)],
  ['le', (a, b) => a.le(b), (x, y) => +(x <= y)],
  ['gt', (a, b) => a.gt(b), (x, y) => +(x > y)],
  ['ge', (a, b) => a.ge(b), (x, y) => +(x >= y)],
  ['eq', (a, b) => a.eq(b), (x, y) => +(x === y)],
  ['ne', (a, b) => a.ne(b), (x, y) => +(x !== y)],
];

// float32-representable values (the GPU compares float32s, the oracle float64s), away from 0 (div),
// with some exact ties (comparisons, maximum).
const val = fc
  .oneof(fc.double({ min: 0.2, max: 2, noNaN: true }), fc.double({ min: -2, max: -0.2, noNaN: true }), fc.constantFrom(1, -1, 0.5))
  .map(Math.fround);

describe('binary ops with broadcasting', () => {
  for (const [name, op, f] of OPS) {
    it(`${name}: forward (cpu vs reference, webgpu vs cpu) over broadcast shapes`, async () => {
      await fc.assert(
        fc.asyncProperty(
          arb
            .broadcastPair({ maxRank: 4, maxDim: 7 })
            .chain(([as, bs]) =>
              fc.tuple(
                fc.constant(as),
                fc.constant(bs),
                fc.array(val, { minLength: numel(as), maxLength: numel(as) }),
                fc.array(val, { minLength: numel(bs), maxLength: numel(bs) }),
              ),
            ),
          async ([as, bs, ad, bd]) => {
            const { cpu } = await parity(
              op,
              [
                { data: ad, shape: as },
                { data: bd, shape: bs },
              ],
              { rtol: 1e-6, atol: 1e-6 },
              name,
            );
            expectClose(cpu, refBinary(ad, as, bd, bs, f), { rtol: 1e-12, atol: 0 }, name);
          },
        ),
        { numRuns: 12 },
      );
    });
  }

  for (const [name, op] of OPS.slice(0, 6)) {
    it(`${name}: gradients of both operands, broadcast back to their shapes`, async () => {
      const cases: [number[], number[]][] = [
        [
          [2, 3],
          [2, 3],
        ],
        [[2, 3], [3]],
        [
          [4, 1, 3],
          [2, 1],
        ],
        [[1], [2, 3]],
      ];
      for (const [as, bs] of cases) {
        for (const backend of ['cpu', 'webgpu'] as const) {
          const a = mg.rand(as, { seed: 3, low: 0.5, high: 2, backend });
          const b = mg.rand(bs, { seed: 4, low: -2, high: -0.5, backend });
          await gradcheck(op, [a, b], backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-3, rtol: 3e-3 });
        }
      }
    });
  }

  it('maximum splits the gradient at ties like torch', async () => {
    const a = mg.tensor([1, 2, 3], [3], { requiresGrad: true });
    const b = mg.tensor([1, 5, 0], [3], { requiresGrad: true });
    a.maximum(b).sum().backward();
    expect(Array.from(await a.grad!.data())).toEqual([0.5, 0, 1]);
    expect(Array.from(await b.grad!.data())).toEqual([0.5, 1, 0]);
  });

  it('number operands: x + 2, x * 3, x / 4, maximum(x, 0)', async () => {
    const x = mg.tensor([-1, 2, 3.5], [3], { requiresGrad: true });
    expect(Array.from(await x.add(2).data())).toEqual([1, 4, 5.5]);
    expect(Array.from(await x.sub(2).data())).toEqual([-3, 0, 1.5]);
    expect(Array.from(await x.mul(3).data())).toEqual([-3, 6, 10.5]);
    expect(Array.from(await x.div(4).data())).toEqual([-0.25, 0.5, 0.875]);
    expect(Array.from(await x.maximum(0).data())).toEqual([0, 2, 3.5]);
    x.mul(3).add(1).sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([3, 3, 3]);
  });

  it('where: forward, broadcasting, gradients to both branches', async () => {
    const c = [1, 0, 1, 0, 0, 1];
    const { cpu } = await parity(
      (cond, a, b) => mg.where(cond, a, b),
      [
        { data: c, shape: [2, 3] },
        { data: [1, 2, 3], shape: [3] },
        { data: [9], shape: [1] },
      ],
    );
    expect(Array.from(cpu)).toEqual([1, 9, 3, 9, 9, 3]);
    for (const backend of ['cpu', 'webgpu'] as const) {
      const cond = mg.tensor(c, [2, 3], { backend });
      const a = mg.randn([3], { seed: 1, backend });
      const b = mg.randn([2, 1], { seed: 2, backend });
      await gradcheck((k, x, y) => mg.where(k, x, y), [cond, a, b], {
        wrt: [1, 2],
        ...(backend === 'cpu' ? {} : { atol: 1e-3, rtol: 1e-3 }),
      });
    }
    const x = mg.tensor([-1, 2], [2]);
    expect(Array.from(await mg.where(x.gt(0), x, 0).data())).toEqual([0, 2]);
  });

  it('NaN propagates through maximum/minimum', async () => {
    await parity(
      (a, b) => a.maximum(b),
      [
        { data: [NaN, 1, 2], shape: [3] },
        { data: [0, NaN, 1], shape: [3] },
      ],
    );
  });

  it('errors name the op and both shapes', () => {
    const a = mg.zeros([2, 3]);
    const b = mg.zeros([4]);
    expect(() => a.add(b)).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => a.mul(mg.zeros([2, 3], { backend: 'cpu' }))).toThrow(/mul: tensors live on different backends \(webgpu and cpu\)/);
    expect(() => a.add('x' as never)).toThrow(/add: expects a Tensor or a number/);
    expect(() => mg.where(mg.zeros([2], { dtype: 'int32' }), a, a)).toThrow(/where: cond must be a float32 or float16 mask/);
  });
});
