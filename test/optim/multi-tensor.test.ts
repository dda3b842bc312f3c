// The multi-tensor paths of clipGradNorm and Adam/AdamW (src/optim/multi-tensor.ts,
// kernels/clip_norm.wgsl, kernels/adamw_multi.wgsl): against their per-parameter twins (the
// composed clipGradNormNaive, the 'naive' AdamW) on the float64 cpu backend and on webgpu, over
// random lists of shapes (empty tensors, sizes across the 1024-element workgroup chunks, more tensors
// than one dispatch's slots), and the slot planning itself.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { MULTI_CHUNK, slotBatches } from '../../src/optim/multi-tensor.js';
import { expectClose, hasGpu, randData, setupBackends } from '../helpers.js';

setupBackends();

const sizes = fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(1023, 1024, 1025, 2049)), { minLength: 1, maxLength: 20 });

afterEach(() => mg.testing.resetKernels());

/** cpu, and webgpu with the multi-tensor kernels' small (8 buffers) and large (16) entry points. */
async function backends(): Promise<('cpu' | 'webgpu')[]> {
  return (await hasGpu()) ? ['cpu', 'webgpu', 'webgpu'] : ['cpu'];
}
let gpuRuns = 0;
/** Forces the small entry points on every other webgpu run. */
function entryFor(backend: 'cpu' | 'webgpu'): void {
  mg.testing.resetKernels();
  if (backend === 'webgpu' && gpuRuns++ % 2 === 0) mg.testing.forceKernel('multiTensor', 'small');
}

const params = (ns: number[], backend: 'cpu' | 'webgpu', seed: number) =>
  ns.map((n, i) => {
    const p = mg.tensor(randData(n, seed + i), [n], { backend });
    p.grad = mg.tensor(randData(n, seed + 100 + i), [n], { backend });
    return p;
  });

describe('multi-tensor slots', () => {
  it('slotBatches covers every non-empty tensor once, in order, with chunk-sized workgroup ranges', () => {
    fc.assert(
      fc.property(sizes, fc.constantFrom(2, 4, 7, 15), (ns, slots) => {
        const batches = slotBatches(ns, slots);
        expect(batches.flatMap((b) => b.items)).toEqual(ns.flatMap((n, i) => (n > 0 ? [i] : [])));
        for (const b of batches) {
          expect(b.items.length).toBeLessThanOrEqual(slots);
          expect(b.start).toHaveLength(slots + 1);
          b.items.forEach((i, s) => expect(b.start[s + 1] - b.start[s]).toBe(Math.ceil(ns[i] / MULTI_CHUNK)));
          expect(b.workgroups).toBe(b.start[slots]);
        }
      }),
    );
  });
});

describe('clipGradNorm, fused', () => {
  it('matches the per-parameter twin (norm and clipped gradients) on cpu and webgpu', async () => {
    for (const backend of await backends()) {
      entryFor(backend);
      await fc.assert(
        fc.asyncProperty(sizes, fc.constantFrom(0.5, 3, 1e3), fc.nat(99), async (ns, maxNorm, seed) => {
          const [a, b] = [params(ns, backend, seed), params(ns, backend, seed)];
          const na = mg.optim.clipGradNorm(a, maxNorm);
          const nb = mg.optim.clipGradNormNaive(b, maxNorm);
          const tol = backend === 'cpu' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 2e-5, atol: 1e-6 };
          expectClose([await na.item()], [await nb.item()], tol, `${backend} norm`);
          for (let i = 0; i < ns.length; i++) expectClose(await a[i].grad!.data(), await b[i].grad!.data(), tol, `${backend} grad ${i}`);
          for (const t of [...a, ...b, na, nb]) t.dispose();
        }),
        { numRuns: 6 },
      );
    }
  });

  it('propagates a NaN gradient to every gradient, as torch (coef NaN)', async () => {
    for (const backend of await backends()) {
      const ps = params([3, 5], backend, 1);
      ps[1].grad!.dispose();
      ps[1].grad = mg.tensor([1, Number.NaN, 2, 3, 4], [5], { backend });
      const n = mg.optim.clipGradNorm(ps, 1);
      expect(Number.isNaN(await n.item())).toBe(true);
      expect(Array.from(await ps[0].grad!.data()).every(Number.isNaN)).toBe(true);
      for (const t of [...ps, n]) t.dispose();
    }
  });
});

describe('Adam / AdamW, multi-tensor', () => {
  it('matches the per-parameter naive twin over steps, with parameters skipped and a partial state reset', async () => {
    for (const backend of await backends()) {
      entryFor(backend);
      for (const Opt of [mg.optim.AdamW, mg.optim.Adam]) {
        await fc.assert(
          fc.asyncProperty(sizes, fc.nat(99), async (ns, seed) => {
            const [a, b] = [params(ns, backend, seed), params(ns, backend, seed)];
            const hyper = { lr: 0.01, weightDecay: 0.1, betas: [0.8, 0.99] as [number, number] };
            const [oa, ob] = [new Opt(a, hyper), new Opt(b, { ...hyper, impl: 'naive' })];
            for (let step = 0; step < 3; step++) {
              if (step === 2) for (const o of [oa, ob]) o.resetState([o.params[0]]); // its step count restarts
              for (const ps of [a, b]) {
                ps.forEach((p, i) => {
                  p.grad?.dispose();
                  p.grad = step === 1 && i % 3 === 1 ? null : mg.tensor(randData(p.size, 7 * step + i), [p.size], { backend });
                });
              }
              oa.step();
              ob.step();
            }
            const tol = backend === 'cpu' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
            for (let i = 0; i < ns.length; i++) expectClose(await a[i].data(), await b[i].data(), tol, `${backend} ${Opt.name} param ${i}`);
            for (const t of [...a, ...b]) t.dispose();
            for (const o of [oa, ob]) o.resetState();
          }),
          { numRuns: 4 },
        );
      }
    }
  });
});
