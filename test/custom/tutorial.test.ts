// The code of docs/custom-ops.md (examples/custom-op/) as a test: the three SwiGLU ops agree with the
// float64 definition and with each other, checkOp passes for the fused op against its twin, and the
// profile shows the user's kernels by name.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { swiglu, swigluComposed, swigluNaive } from '../../examples/custom-op/swiglu.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb } = mg.testing;

describe('tutorial: SwiGLU as a custom op', () => {
  it('forward matches the float64 definition on both backends', async () => {
    const a = [-3, -0.5, 0, 0.25, 2, 40];
    const b = [1, -2, 3, 0.5, -1, 2];
    const ref = a.map((v, i) => (v / (1 + Math.exp(-v))) * b[i]);
    for (const backend of ['cpu', 'webgpu'] as const) {
      for (const op of [swigluNaive, swigluComposed, swiglu]) {
        const y = op(mg.tensor(a, [2, 3], { backend }), mg.tensor(b, [2, 3], { backend }));
        expectClose(
          await y.data(),
          ref,
          backend === 'cpu' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 },
          `${op.name} ${backend}`,
        );
      }
    }
  });

  it('checkOp: fused and composed ops against the twin, gradcheck, webgpu against cpu', async () => {
    const shapes = arb.shape({ minRank: 1, maxRank: 3, maxDim: 9 }).map((s) => [s, s]);
    for (const op of [swigluComposed, swiglu]) {
      const report = await mg.testing.checkOp(op, { shapes, twin: swigluNaive, numRuns: 5 });
      expect(report.ok).toBe(true);
      expect(report.gpu!.compared).toBeGreaterThan(0);
      expect(report.gradcheck.compared).toBeGreaterThan(0);
      expect(report.twin!.maxAbsErr).toBeLessThan(1e-12);
      expect(report.twinGpu!.maxAbsErr).toBeLessThan(1e-4);
    }
  });

  it('checkOp catches a wrong backward, naming the check and the element', async () => {
    const wrong = mg.customOp({
      name: 'swigluWrong',
      forward: (ctx, a: mg.Tensor, b: mg.Tensor) => {
        ctx.save(a, b);
        return swigluNaive(a, b);
      },
      backward: (ctx, g) => [mg.mul(g, ctx.saved[1]), mg.mul(g, mg.silu(ctx.saved[0]))], // da misses σ terms
    });
    const shapes = fc.constant([[3], [3]]);
    await expect(mg.testing.checkOp(wrong, { shapes, twin: swigluNaive, numRuns: 2, backends: ['cpu'] })).rejects.toThrow(
      /swigluWrong failed gradcheck, twin.*gradient of input 0/s,
    );
  });

  it('profile lists the fused kernels by name with their GPU times', async () => {
    const a = mg.randn([256], { seed: 1, requiresGrad: true });
    const b = mg.randn([256], { seed: 2, requiresGrad: true });
    const { kernels } = await mg.profile(() => {
      const y = swiglu(a, b);
      y.sum().backward();
    });
    const names = kernels.map((k) => k.kernel);
    expect(names).toContain('swiglu.forward');
    expect(names).toContain('swiglu.backward');
    const fwd = kernels.find((k) => k.kernel === 'swiglu.forward')!;
    expect(fwd.workgroups).toEqual([4, 1, 1]);
    expect(fwd.shapes).toEqual([[256], [256]]);
    if ((mg.getBackend() as unknown as { hasTimestamps: boolean }).hasTimestamps) expect(fwd.gpuMs).toBeGreaterThanOrEqual(0);
  });
});

describe('docs/custom-ops.md shows the code that runs here', () => {
  it("every line of steps 1-3's code blocks is in examples/custom-op", async () => {
    const { readFileSync } = await import('node:fs');
    const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
    const doc = read('../../docs/custom-ops.md');
    const steps = doc.slice(doc.indexOf('## Step 1'), doc.indexOf('### When the WGSL is wrong'));
    const blocks = [...steps.matchAll(/```(ts|wgsl)\n([\s\S]*?)```/g)];
    expect(blocks.length).toBe(4);
    const code = `${read('../../examples/custom-op/swiglu.ts')}\n${read('../../examples/custom-op/swiglu.wgsl')}`
      .split('\n')
      .map((l) => l.trim());
    for (const [, , body] of blocks) {
      for (const line of body.split('\n').map((l) => l.trim())) {
        if (line === '' || line.startsWith('import ') || line.startsWith('const y = ')) continue;
        expect(code, `doc line not in the example: ${line}`).toContain(line);
      }
    }
  });
});
