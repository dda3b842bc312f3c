// Dropout with a seeded keep-mask from the counter-based RNG (src/ops/random.ts, the pcg of
// kernels/random.wgsl): element i is kept iff uniform(seed, i) >= p, and kept elements are scaled by
// 1/(1 - p). The mask is never stored: the backward regenerates it from the seed (the same kernel,
// kernels/dropout.wgsl, run on the gradient). The cpu and webgpu backends draw identical masks.
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { ge, mul } from './binary.js';
import { rand } from './creation.js';
import { grid1d } from './grid.js';
import { bits, nextSeed, streamKey } from './random.js';

export interface DropoutOptions {
  /** Stream seed of the mask; the global sequence (mg.manualSeed) when absent. */
  seed?: number;
  /** false: identity (default true). */
  training?: boolean;
}

interface DropoutParams {
  n: number;
  key: number;
  /** Kept iff (bits >> 8) >= threshold = ceil(p·2^24), i.e. uniform = (bits >> 8)/2^24 >= p exactly. */
  threshold: number;
  scale: number;
  /** Trace label only: the backward runs the same kernel on the gradient. */
  backward?: boolean;
}

const dropoutKernel = defineKernel<DropoutParams>({
  name: 'dropout',
  label: (p) => (p.backward ? 'dropout.backward' : 'dropout'),
  cpu: ([x], [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = bits(p.key, i) >>> 8 >= p.threshold ? x[i] * p.scale : 0;
  },
  f16: 'alias',
  gpu: {
    shader: 'dropout',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.key],
      ['u32', p.threshold],
      ['f32', p.scale],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

function checkDropout(op: string, x: Tensor, p: number, opts: DropoutOptions): void {
  if (!x || typeof x !== 'object' || !('shape' in x)) fail(op, `expects a Tensor, got ${String(x)}`);
  if (x.dtype !== 'float32' && x.dtype !== 'float16') fail(op, `expects a float32 or float16 tensor, got ${x.describe()}`);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(op, `p must be a probability in [0, 1], got ${String(p)} (for ${x.describe()})`);
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(op, `seed must be an integer, got ${String(opts.seed)}`);
}

/**
 * Dropout: zeroes each element with probability p and scales the rest by 1/(1 - p). The mask is a
 * function of (seed, flat index) only: element i is kept iff uniform(seed, i) >= p, the same on cpu
 * and webgpu. `seed` defaults to the next of the global sequence (mg.manualSeed).
 * p = 0 or training = false: returns `x` itself (no dispatch, no copy, no tape node: disposing the
 * result disposes x). p = 1: zeros (gradient zeros). p outside [0, 1] throws.
 */
// y = x·m/(1 - p),  m_i = [uniform(seed, i) >= p]
// dy/dx = m/(1 - p)                      -> dx = g·m/(1 - p)   (m regenerated from the seed)
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  checkDropout('dropout', x, p, opts);
  if (p === 0 || opts.training === false) return x;
  const params: DropoutParams = {
    n: x.size,
    key: streamKey(opts.seed ?? nextSeed()),
    threshold: Math.ceil(p * 2 ** 24), // exact: p·2^24 only shifts the exponent
    scale: p === 1 ? 0 : 1 / (1 - p),
  };
  const y = run1('dropout', dropoutKernel, [x], { shape: x.shape }, params);
  return record(y, 'dropout', [x], (g) => [
    run1('dropout.backward', dropoutKernel, [g], { shape: g.shape }, { ...params, backward: true }),
  ]);
}

/**
 * Dropout from primitive ops: mask = rand(shape, { seed }) >= p, y = x·mask·(1/(1 - p)) (the same
 * uniform stream as `dropout`'s mask). The twin of the fused kernel. Exact only for p that float32
 * represents (the comparison runs in float32 on webgpu).
 */
export function dropoutNaive(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  checkDropout('dropoutNaive', x, p, opts);
  if (p === 0 || opts.training === false) return x;
  const u = rand(x.shape, { seed: opts.seed ?? nextSeed(), backend: x.backend.name });
  const mask = ge(u, p);
  return mul(mul(x, mask), p === 1 ? 0 : 1 / (1 - p));
}
