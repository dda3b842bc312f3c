// The elementwise ops of issue 15 (sin cos erf log1p expm1 square sign floor round clamp softplus
// leakyRelu elu, pow with a tensor exponent): cpu forward against float64 definitions written here,
// webgpu against cpu over random shapes (values and gradients), gradients against finite differences
// in float64 (mg.testing.checkOp), hand-checked values at torch's edge cases, and errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { erf } from '../../src/ops/special.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;

/** Round half to even, from the definition. */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

const softplusRef = (beta: number, th: number) => (v: number) => (beta * v > th ? v : Math.log(1 + Math.exp(beta * v)) / beta);

/**
 * Op, its float64 definition, the data range, and the points the gradient check keeps away from
 * (kinks and jumps: finite differences across them are meaningless).
 */
const REF: Record<string, [(t: mg.Tensor) => mg.Tensor, (v: number) => number, [number, number], number[]]> = {
  sin: [(t) => t.sin(), Math.sin, [-20, 20], []],
  cos: [(t) => t.cos(), Math.cos, [-20, 20], []],
  erf: [(t) => t.erf(), erf, [-3.5, 3.5], []],
  log1p: [(t) => t.log1p(), (v) => Math.log(1 + v), [-0.9, 4], []],
  // tiny arguments: log1p and expm1 keep their relative accuracy where log(1 + v) would not
  'log1p (tiny)': [(t) => t.log1p(), (v) => v - (v * v) / 2 + v ** 3 / 3, [-1e-4, 1e-4], []],
  expm1: [(t) => t.expm1(), (v) => Math.exp(v) - 1, [-3, 3], []],
  'expm1 (tiny)': [(t) => t.expm1(), (v) => v + (v * v) / 2 + v ** 3 / 6, [-1e-4, 1e-4], []],
  square: [(t) => t.square(), (v) => v * v, [-3, 3], []],
  sign: [(t) => t.sign(), (v) => (v > 0 ? 1 : v < 0 ? -1 : 0), [-2, 2], [0]],
  floor: [(t) => t.floor(), (v) => v - (((v % 1) + 1) % 1), [-4, 4], [-4, -3, -2, -1, 0, 1, 2, 3, 4]],
  round: [(t) => t.round(), roundEven, [-4, 4], [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]],
  'clamp(-1, 1.5)': [(t) => t.clamp(-1, 1.5), (v) => Math.min(Math.max(v, -1), 1.5), [-3, 3], [-1, 1.5]],
  'clamp(min 0.25)': [(t) => t.clamp(0.25), (v) => Math.max(v, 0.25), [-3, 3], [0.25]],
  'clamp(max -0.5)': [(t) => mg.clamp(t, undefined, -0.5), (v) => Math.min(v, -0.5), [-3, 3], [-0.5]],
  softplus: [(t) => t.softplus(), softplusRef(1, 20), [-25, 25], [20]],
  'softplus(2, 5)': [(t) => t.softplus(2, 5), softplusRef(2, 5), [-6, 6], [2.5]],
  leakyRelu: [(t) => t.leakyRelu(), (v) => (v > 0 ? v : 0.01 * v), [-3, 3], [0]],
  'leakyRelu(0.2)': [(t) => t.leakyRelu(0.2), (v) => (v > 0 ? v : 0.2 * v), [-3, 3], [0]],
  elu: [(t) => t.elu(), (v) => (v > 0 ? v : Math.exp(v) - 1), [-4, 3], [0]],
  'elu(0.5)': [(t) => t.elu(0.5), (v) => (v > 0 ? v : 0.5 * (Math.exp(v) - 1)), [-4, 3], [0]],
};

/** Uniform data in [lo, hi] on a fine grid, nudged 0.02 away from `avoid`. */
const dataIn =
  (lo: number, hi: number, avoid: number[]): mg.testing.DataArbitrary =>
  (shape) =>
    fc.array(
      fc.noBias(fc.integer({ min: 0, max: 2 ** 20 })).map((k) => {
        const v = lo + ((hi - lo) * k) / 2 ** 20;
        const near = avoid.find((a) => Math.abs(v - a) < 0.02);
        return near === undefined ? v : near + (v < near ? -0.02 : 0.02);
      }),
      { minLength: shape.reduce((p, d) => p * d, 1), maxLength: shape.reduce((p, d) => p * d, 1) },
    );

const oneShape = arb.shape({ maxRank: 3, maxDim: 9 }).map((s) => [s]);

describe('elementwise ops', () => {
  for (const [name, [op, ref, [lo, hi], avoid]] of Object.entries(REF)) {
    it(`${name}: cpu matches the float64 definition, webgpu matches cpu`, async () => {
      const tiny = name.includes('tiny');
      await fc.assert(
        fc.asyncProperty(arb.shape({ maxRank: 4, maxDim: 9 }), fc.integer({ min: 1, max: 1000 }), async (shape, seed) => {
          const x = mg.rand(shape, { seed, low: lo, high: hi, backend: 'cpu' });
          const data = await x.data();
          const y = op(x);
          expectClose(await y.data(), Array.from(data, ref), { rtol: tiny ? 1e-10 : 1e-12, atol: tiny ? 0 : 1e-12 }, name);
          // tiny arguments: relative accuracy (no absolute slack)
          await parity(op, [{ data, shape }], tiny ? { rtol: 1e-5, atol: 0 } : { rtol: 2e-5, atol: 2e-6 }, name);
          x.dispose();
          y.dispose();
        }),
        { numRuns: 6 },
      );
    });

    if (name.includes('tiny')) continue;
    it(`${name}: gradients (float64 finite differences; webgpu against cpu)`, async () => {
      const r = await checkOp(op, {
        shapes: oneShape,
        arbitraries: dataIn(lo, hi, avoid),
        numRuns: 5,
        tol: { grad: { rtol: 1e-5, atol: 1e-7 } },
      });
      expect(r.ok).toBe(true);
      expect(r.gradcheck.compared).toBeGreaterThan(0);
    });
  }

  it('sign, floor and round pass no gradient (zeros, as torch); clamp passes it on [min, max], ends included', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const f of [mg.sign, mg.floor, mg.round]) {
        const x = mg.tensor([-1.5, 0, 0.5, 2.7], [4], { backend, requiresGrad: true });
        f(x).sum().backward();
        expect(Array.from(await x.grad!.data())).toEqual([0, 0, 0, 0]);
      }
      const x = mg.tensor([-2, -1, 0, 1.5, 3, NaN], [6], { backend, requiresGrad: true });
      x.clamp(-1, 1.5).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 1, 1, 1, 0, 0]);
    }
  });

  it("torch's values at the edges", async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const t = (v: number[]) => mg.tensor(v, [v.length], { backend });
      expectClose(await t([0.5, 1.5, 2.5, -0.5, -2.5, 3.7]).round().data(), [0, 2, 2, -0, -2, 4], {}, 'round halves to even');
      expectClose(await t([-Infinity, -1, NaN, Infinity]).log1p().data(), [NaN, -Infinity, NaN, Infinity], {}, 'log1p');
      expectClose(await t([-Infinity, NaN, Infinity, 100]).expm1().data(), [-1, NaN, Infinity, Infinity], {}, 'expm1');
      expectClose(await t([-Infinity, NaN, Infinity, 0]).erf().data(), [-1, NaN, 1, 0], {}, 'erf');
      expectClose(await t([Infinity, -Infinity, NaN]).sin().data(), [NaN, NaN, NaN], {}, 'sin');
      expectClose(
        await t([1e4, -3e3, 12345.677734375]).sin().data(),
        [Math.sin(1e4), Math.sin(-3e3), Math.sin(12345.677734375)],
        { atol: 2e-5 },
        'sin far out',
      );
      expectClose(await t([1e4, -3e3]).cos().data(), [Math.cos(1e4), Math.cos(-3e3)], { atol: 2e-5 }, 'cos far out');
      // huge arguments: webgpu's float32 reduction loses the phase but stays in [-1, 1], never NaN
      for (const f of [mg.sin, mg.cos]) {
        for (const v of await f(t([3e38, -3e38, 1e30, 3.4e38])).data()) expect(Math.abs(v)).toBeLessThanOrEqual(1);
      }
      expectClose(await t([100, -100, 20.5, NaN]).softplus().data(), [100, 0, 20.5, NaN], { rtol: 1e-6, atol: 1e-30 }, 'softplus');
      expectClose(await t([-Infinity, NaN, -1]).elu().data(), [-1, NaN, Math.exp(-1) - 1], { rtol: 1e-6 }, 'elu');
      expectClose(await t([-Infinity, NaN]).leakyRelu(0.1).data(), [-Infinity, NaN], {}, 'leakyRelu');
      expectClose(await t([NaN, -Infinity, 5]).clamp(0, 1).data(), [NaN, 0, 1], {}, 'clamp NaN');
      expectClose(await t([-3, 0, 3]).clamp(2, 1).data(), [1, 1, 1], {}, 'clamp min > max gives max');
      expectClose(await t([NaN, -0, 0, -2]).sign().data(), [0, 0, 0, -1], {}, 'sign');
    }
  });
});

describe('pow with a tensor exponent', () => {
  it('C pow values at the edges (torch.pow of two tensors), both backends', async () => {
    const base = [0, 0, -2, -2, NaN, 1, -1, 0.5, 2, -Infinity, Infinity, -0, 4];
    const expo = [-1, 0, 3, 0.5, 0, NaN, Infinity, Infinity, -Infinity, 3, -2, -3, 0.5];
    const want = [Infinity, 1, -8, NaN, 1, 1, 1, 0, 0, -Infinity, 0, -Infinity, 2];
    for (const backend of ['cpu', 'webgpu'] as const) {
      const y = mg.pow(mg.tensor(base, [base.length], { backend }), mg.tensor(expo, [expo.length], { backend }));
      expectClose(await y.data(), want, { rtol: 1e-6 }, `pow ${backend}`);
    }
  });

  it('broadcasts; pow(x, number) is unchanged', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
      const p = mg.tensor([2, 0.5], [2, 1], { backend });
      expectClose(await x.pow(p).data(), [1, 4, 9, 2, Math.sqrt(5), Math.sqrt(6)], { rtol: 1e-6 }, 'broadcast');
      expect(x.pow(p).shape).toEqual([2, 3]);
      expectClose(await x.pow(2).data(), [1, 4, 9, 16, 25, 36], {}, 'number exponent');
    }
  });

  it('gradients for both operands over broadcast shapes (finite differences; webgpu against cpu)', async () => {
    const r = await checkOp((a, b) => mg.pow(a, b), {
      shapes: arb.broadcastPair({ maxRank: 3, maxDim: 6 }),
      arbitraries: [dataIn(0.3, 2.5, []), dataIn(-2, 2, [])],
      numRuns: 8,
      tol: { grad: { rtol: 1e-5, atol: 1e-7 } },
    });
    expect(r.ok).toBe(true);
  });

  it('gradient at zeros as torch: 0 for x^0 at x = 0, and for the exponent where x = 0 and p >= 0', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([0, 0, 0, 2, -2], [5], { backend, requiresGrad: true });
      const p = mg.tensor([0, 2, -1, 3, 2], [5], { backend, requiresGrad: true });
      mg.pow(x, p).sum().backward();
      expectClose(await x.grad!.data(), [0, 0, -Infinity, 12, -4], { rtol: 1e-6 }, 'd/dx');
      expectClose(await p.grad!.data(), [0, 0, -Infinity, 8 * Math.log(2), NaN], { rtol: 1e-6 }, 'd/dp');
    }
  });

  it('errors name the op and what was expected', () => {
    const x = mg.randn([2]);
    expect(() => x.pow('2' as never)).toThrow(/pow: the exponent must be a finite number or a Tensor, got 2/);
    expect(() => mg.pow(x, mg.randn([3]))).toThrow(/pow/);
    expect(() => x.clamp()).toThrow(/clamp: needs at least one of min and max/);
    expect(() => x.clamp(NaN, 1)).toThrow(/clamp: min must be a number \(not NaN\), got NaN/);
    expect(() => x.softplus(0)).toThrow(/softplus: beta must be a finite nonzero number, got 0/);
    expect(() => x.leakyRelu(Infinity)).toThrow(/leakyRelu: slope must be a finite number/);
    expect(() => mg.tensor([1], [1], { dtype: 'int32' }).sin()).toThrow(/sin: expects a float32 or float16 tensor/);
  });
});
