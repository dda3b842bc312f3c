// addScaled: a + α·b (+ bias along the last dim), the fused sum of a LoRA layer; forward against a
// float64 reference, gradients against finite differences, webgpu (both memory paths) against cpu,
// the composed twin, and that frozen operands cost no gradient work.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { addScaled, addScaledNaive } from '../../src/ops/add-scaled.js';
import { expectClose, hasGpu, randData, setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => mg.testing.resetKernels());
const { arbitraries: arb, gradcheck } = mg.testing;

const cases = fc.record({
  // random shapes, and some that take the vec4 path with a bias (n and C multiples of 4)
  shape: fc.oneof(arb.shape({ minRank: 1, maxRank: 3, maxDim: 9 }), fc.constantFrom<number[]>([5, 8], [2, 3, 4], [16], [3, 12])),
  alpha: fc.constantFrom(1, 2, -0.5, 0.25),
  bias: fc.boolean(),
  seed: fc.nat(1000),
});

function reference(a: ArrayLike<number>, b: ArrayLike<number>, alpha: number, bias: ArrayLike<number> | null): number[] {
  const c = bias?.length ?? 1;
  return Array.from(a, (x, i) => x + alpha * b[i] + (bias ? bias[i % c] : 0));
}

describe('addScaled', () => {
  it('forward: cpu against the float64 reference, webgpu (vec4 and scalar paths) against cpu, the composed twin alike', async () => {
    const gpu = await hasGpu();
    await fc.assert(
      fc.asyncProperty(cases, async ({ shape, alpha, bias, seed }) => {
        const n = shape.reduce((x, y) => x * y, 1);
        const C = shape[shape.length - 1];
        const [ad, bd, cd] = [randData(n, seed), randData(n, seed + 1), randData(C, seed + 2)];
        const run = (backend: 'cpu' | 'webgpu', f = addScaled) => {
          const t = (d: Float64Array, s: number[]) => mg.tensor(d, s, { backend });
          return mg.tidy(() => f(t(ad, shape), t(bd, shape), alpha, bias ? t(cd, [C]) : null));
        };
        const want = reference(ad, bd, alpha, bias ? cd : null);
        const cpu = run('cpu');
        expectClose(await cpu.data(), want, { rtol: 1e-12, atol: 1e-12 }, 'cpu');
        if (!gpu) return;
        for (const path of ['scalar', 'vec4'] as const) {
          const y = mg.testing.withKernel('elementwise', path, () => run('webgpu'));
          expectClose(await y.data(), want, { rtol: 1e-5, atol: 1e-6 }, `webgpu ${path}`);
          y.dispose();
        }
        const twin = run('webgpu', addScaledNaive);
        expectClose(await twin.data(), want, { rtol: 1e-5, atol: 1e-6 }, 'twin');
        cpu.dispose();
        twin.dispose();
      }),
      { numRuns: 12 },
    );
  });

  it('gradients of a, b and the bias against finite differences (cpu, float64) and on webgpu', async () => {
    const gpu = await hasGpu();
    for (const [shape, alpha] of [
      [[3, 5], 2],
      [[2, 3, 4], -0.5],
      [[1, 7], 1],
    ] as [number[], number][]) {
      const n = shape.reduce((x, y) => x * y, 1);
      const C = shape[shape.length - 1];
      for (const backend of gpu ? (['cpu', 'webgpu'] as const) : (['cpu'] as const)) {
        const mk = (d: Float64Array, s: number[]) => mg.tensor(d, s, { backend, requiresGrad: true });
        const xs = [mk(randData(n, 1), shape), mk(randData(n, 2), shape), mk(randData(C, 3), [C])];
        await gradcheck(
          (a, b, c) => addScaled(a, b, alpha, c).mul(addScaled(a, b, alpha, c)),
          xs,
          backend === 'cpu' ? {} : { atol: 1e-3, rtol: 3e-3 },
        );
        for (const x of xs) x.dispose();
      }
    }
  });

  it('a frozen bias or operand gets no gradient and costs no reduction', async () => {
    if (!(await hasGpu())) return;
    const a = mg.randn([40, 8], { seed: 1, requiresGrad: true });
    const b = mg.randn([40, 8], { seed: 2 });
    const bias = mg.randn([8], { seed: 3 });
    const before = mg.memory().dispatches;
    mg.forwardBackward(() => addScaled(a, b, 2, bias).sum()).dispose();
    // forward: addScaled, sum (reduce passes); backward: the sum's gradient only (a takes g as is)
    const withFrozen = mg.memory().dispatches - before;
    a.grad?.dispose();
    a.grad = null;
    bias.requiresGrad = true;
    const before2 = mg.memory().dispatches;
    mg.forwardBackward(() => addScaled(a, b, 2, bias).sum()).dispose();
    expect(mg.memory().dispatches - before2).toBeGreaterThan(withFrozen);
    expect(bias.grad).not.toBeNull();
    expect(b.grad).toBeNull();
    for (const t of [a, b, bias]) t.dispose();
  });

  it('rejects mismatched shapes, a wrong bias and a non-finite alpha, naming the op', () => {
    const a = mg.zeros([2, 3], { backend: 'cpu' });
    expect(() => addScaled(a, mg.zeros([3, 2], { backend: 'cpu' }), 1)).toThrow(/addScaled: a and b must have one shape/);
    expect(() => addScaled(a, a, 1, mg.zeros([2], { backend: 'cpu' }))).toThrow(/addScaled: the bias must be \[3\]/);
    expect(() => addScaled(a, a, Number.NaN)).toThrow(/addScaled: alpha must be a finite number/);
  });
});
