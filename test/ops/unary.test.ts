// Unary ops: forward vs float64 reference, gradcheck (cpu and webgpu), webgpu vs cpu parity.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { erf } from '../../src/ops/special.js';
import { expectClose, parity, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, gradcheck } = mg.testing;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
// Independent float64 references (written from the definitions, not shared with the op file).
const REF: Record<string, [(t: mg.Tensor) => mg.Tensor, (v: number) => number, { min: number; max: number }]> = {
  neg: [(t) => t.neg(), (v) => -v, { min: -3, max: 3 }],
  exp: [(t) => t.exp(), Math.exp, { min: -3, max: 3 }],
  log: [(t) => t.log(), Math.log, { min: 0.1, max: 5 }],
  sqrt: [(t) => t.sqrt(), Math.sqrt, { min: 0.1, max: 5 }],
  rsqrt: [(t) => t.rsqrt(), (v) => v ** -0.5, { min: 0.1, max: 5 }],
  abs: [(t) => t.abs(), Math.abs, { min: -3, max: 3 }],
  // biome-ignore lint/complexity/useMathMinMax: the reference is relu's definition, not Math.max's NaN and -0 rules
  relu: [(t) => t.relu(), (v) => (v > 0 ? v : 0), { min: -3, max: 3 }],
  gelu_tanh: [(t) => t.gelu('tanh'), (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))), { min: -4, max: 4 }],
  gelu_erf: [(t) => t.gelu('none'), (v) => v * 0.5 * (1 + erf(v / Math.SQRT2)), { min: -4, max: 4 }],
  silu: [(t) => t.silu(), (v) => v / (1 + Math.exp(-v)), { min: -6, max: 6 }],
  sigmoid: [(t) => t.sigmoid(), (v) => 1 / (1 + Math.exp(-v)), { min: -8, max: 8 }],
  tanh: [(t) => t.tanh(), Math.tanh, { min: -4, max: 4 }],
  pow3: [(t) => t.pow(3), (v) => v * v * v, { min: -2, max: 2 }],
  pow_half: [(t) => t.pow(0.5), Math.sqrt, { min: 0.1, max: 4 }],
};

describe('unary ops', () => {
  for (const [name, [op, ref, range]] of Object.entries(REF)) {
    it(`${name}: cpu forward matches the float64 definition, webgpu matches cpu`, async () => {
      await fc.assert(
        fc.asyncProperty(arb.shape({ maxRank: 4, maxDim: 9 }), fc.integer({ min: 1, max: 1000 }), async (shape, seed) => {
          const x = mg.rand(shape, { seed, low: range.min, high: range.max, backend: 'cpu' });
          const data = await x.data();
          const y = op(x);
          expectClose(await y.data(), Array.from(data, ref), { rtol: 1e-12, atol: 1e-12 }, name);
          await parity(op, [{ data, shape }], { rtol: 2e-5, atol: 2e-6 }, name);
          x.dispose();
          y.dispose();
        }),
        { numRuns: 8 },
      );
    });

    it(`${name}: gradient matches finite differences (cpu float64 and webgpu)`, async () => {
      // Keep away from kinks (relu/abs at 0) so central differences are valid.
      const vals = [range.min + 0.05, -0.73, 0.41, 1.37, range.max - 0.05, 0.93].map((v) =>
        Math.min(Math.max(v, range.min + 0.05), range.max - 0.05),
      );
      for (const backend of ['cpu', 'webgpu'] as const) {
        const x = mg.tensor(vals, [2, 3], { backend });
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 2e-4, rtol: 2e-3 };
        const r = await gradcheck(op, [x], tol);
        expect(r.ok).toBe(true);
        x.dispose();
      }
    });
  }

  it('a large tensor (300k elements) over the 2-D dispatch grid', async () => {
    const shape = [300, 1001];
    const x = mg.randn(shape, { seed: 7 });
    const y = x.tanh();
    const xd = await x.data();
    expectClose(await y.data(), Array.from(xd, Math.tanh), { rtol: 1e-5, atol: 1e-6 }, 'tanh large');
  });

  it('stable at extremes: sigmoid/tanh/silu/gelu of ±80 are finite', async () => {
    const x = mg.tensor([-80, -20, 20, 80], [4]);
    for (const f of [
      (t: mg.Tensor) => t.sigmoid(),
      (t: mg.Tensor) => t.tanh(),
      (t: mg.Tensor) => t.silu(),
      (t: mg.Tensor) => t.gelu('tanh'),
      (t: mg.Tensor) => t.gelu(),
    ]) {
      const d = await f(x).data();
      for (const v of d) expect(Number.isFinite(v)).toBe(true);
    }
    expectClose(await x.sigmoid().data(), [0, 2.06e-9, 1, 1], { atol: 1e-7 }, 'sigmoid extremes');
  });

  it('errors name the op and the tensor', () => {
    const i = mg.tensor([1, 2], [2], { dtype: 'int32' });
    expect(() => i.exp()).toThrow(/exp: expects a float32 or float16 tensor, got tensor #\d+ \[2\] int32/);
    expect(() => mg.randn([2]).pow(NaN)).toThrow(/pow: the exponent must be a finite number/);
    expect(() => mg.randn([2]).gelu('fast' as never)).toThrow(/gelu: approximate must be/);
  });
});
