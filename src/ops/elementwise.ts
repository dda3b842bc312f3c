// The memory path of the elementwise kernels (kernels/unary.wgsl, binary.wgsl): `main` handles one
// element per invocation, `main_vec4` four vec4s (vec4 loads and stores, one index computation per
// four elements; kernels/vec4_grid.wgsl) where the shapes allow it. The switch 'elementwise' forces
// one for tests and benchmarks (`scalar` is the twin); the automatic choice is vec4 wherever it
// applies, on every adapter (docs/performance.md "Kernel choices on lavapipe" has the measurements).
import type { KernelDef } from '../backend/interface.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { grid1d } from './grid.js';

export type ElementwisePath = 'scalar' | 'vec4';

/** `mg.testing.forceKernel('elementwise', 'scalar' | 'vec4')`. */
const elementwiseSwitch = defineKernelSwitch<ElementwisePath>('elementwise', {
  scalar: { about: 'one element per invocation (the twin)' },
  vec4: { about: 'four vec4s per invocation, vec4 loads and stores (scalar where the shapes do not allow it)' },
});

/** The path of one call: vec4 when `vec4ok` unless the switch forces scalar. */
export function elementwisePath(vec4ok: boolean): ElementwisePath {
  return vec4ok && elementwiseSwitch.forced()?.variant !== 'scalar' ? 'vec4' : 'scalar';
}

/** vec4s per invocation of `main_vec4` (VEC4_PER_THREAD in kernels/vec4_grid.wgsl). */
const VEC4_PER_THREAD = 4;

/** Both paths of an elementwise kernel: `main` and `main_vec4` (a thread per 16 of `p.n` elements). */
export function withVec4<P extends { n: number }>(k: KernelDef<P>, wg = 256): Record<ElementwisePath, KernelDef<P>> {
  return {
    scalar: k,
    vec4: { ...k, gpu: { ...k.gpu, entry: 'main_vec4', workgroups: (p) => grid1d(p.n / 4 / VEC4_PER_THREAD, wg) } },
  };
}
