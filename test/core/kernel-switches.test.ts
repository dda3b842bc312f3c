// The kernel switches (src/kernel-switches.ts): one mechanism for every op's test/tuning variants,
// mg.testing.forceKernel / withKernel / MORAGRAD_KERNEL; unknown names, variants and knobs are
// errors that list what exists.
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => mg.testing.resetKernels());

describe('kernel switches', () => {
  it('every op with several kernels has a switch, with its variants', () => {
    const s = mg.testing.kernelSwitches();
    expect(Object.fromEntries(Object.entries(s).map(([n, v]) => [n, Object.keys(v)]))).toEqual({
      matmul: ['naive', 'fast', 'scalar', 'vec4', 'tiled', 'sg'],
      reduce: ['naive', 'rows', 'group'],
      norm: ['thread', 'split'],
      crossEntropy: ['thread', 'split'],
      attention: ['softmax', 'flash'],
      'attention.product': ['sg', 'block'],
      scaledMaskedSoftmax: ['thread', 'split'],
      mora: ['rows', 'sg', 'smem'],
      sort: ['rank', 'bitonic'],
      stats: ['thread', 'split'],
      scan: ['thread', 'split'],
      softmax: ['thread', 'split'],
      elementwise: ['scalar', 'vec4'],
      multiTensor: ['small', 'large'],
    });
  });

  it('unknown names, variants and knobs are clear errors', () => {
    expect(() => mg.testing.forceKernel('matmull', 'naive')).toThrow(
      /forceKernel: no kernel switch 'matmull'; the switches are attention, attention\.product, crossEntropy, elementwise, matmul, mora, multiTensor, norm, reduce, scaledMaskedSoftmax, scan, softmax, sort, stats/,
    );
    expect(() => mg.testing.forceKernel('reduce', 'split')).toThrow(/'reduce' has no variant 'split'; its variants are naive, rows, group/);
    expect(() => mg.testing.forceKernel('reduce', 'naive', { wg: 64 })).toThrow(
      /'reduce' variant 'naive' has no knob 'wg' \(it takes none\)/,
    );
    expect(() => mg.testing.forceKernel('norm', 'split', { tpr: 2.5 })).toThrow(/knob tpr must be a non-negative integer, got 2.5/);
    mg.testing.forceKernel('norm', 'split', { tpr: 3 });
    expect(() => mg.layerNorm(mg.ones([2, 4]), null, null)).toThrow(
      /norm: threads per row must be a power of two in 1..256 \(a workgroup\), got tpr = 3/,
    );
  });

  it('forceKernel returns a restore function; withKernel restores after fn, also when it throws', async () => {
    const x = mg.randn([3, 40], { seed: 1 });
    const labels = async (f: () => unknown) => (await mg.profile(f)).kernels.map((k) => k.kernel);
    const auto = await labels(() => x.sum(-1));
    const outer = mg.testing.forceKernel('reduce', 'group', { wg: 32 });
    const inner = mg.testing.forceKernel('reduce', 'naive');
    expect(await labels(() => x.sum(-1))).toEqual(['reduce:sum:naive']);
    inner();
    expect((await labels(() => x.sum(-1)))[0]).toMatch(/^reduce:sum:group/);
    outer();
    expect(await labels(() => x.sum(-1))).toEqual(auto);
    expect(() =>
      mg.testing.withKernel('reduce', 'group', () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(await labels(() => x.sum(-1))).toEqual(auto);
    const xt = x.transpose().clone();
    expect(await mg.testing.withKernel('matmul', 'naive', () => labels(() => x.matmul(xt)))).toEqual(['matmul:naive']);
    expect(await labels(() => x.sum(-1))).toEqual(auto);
  });
});
