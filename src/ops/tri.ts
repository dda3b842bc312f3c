// tril and triu: the lower / upper triangle of the last two dims (a batch of matrices), the rest
// zeroed (kernels/tri.wgsl). The gradient is the same triangle of g.
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { grid1d } from './grid.js';
import { checkTensor } from './shape.js';

interface TriParams {
  n: number;
  rows: number;
  cols: number;
  /** The diagonal: 0 the main one, > 0 above it, < 0 below it. */
  k: number;
  upper: boolean;
}

const triKernel = defineKernel<TriParams>({
  name: 'tri',
  label: (p) => (p.upper ? 'triu' : 'tril'),
  cpu: ([x], [y], p) => {
    for (let i = 0; i < p.n; i++) {
      const c = i % p.cols;
      const r = Math.floor(i / p.cols) % p.rows;
      y[i] = (p.upper ? c - r >= p.k : c - r <= p.k) ? x[i] : 0;
    }
  },
  gpu: {
    shader: 'tri',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.rows],
      ['u32', p.cols],
      ['i32', p.k],
      ['u32', p.upper ? 1 : 0],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});

function tri(op: 'tril' | 'triu', x: Tensor, k: number): Tensor {
  checkTensor(op, x);
  if (x.ndim < 2) fail(op, `${x.describe()} has fewer than 2 dims; expected a matrix or a batch of them [..., rows, cols]`);
  if (!Number.isInteger(k)) fail(op, `k must be an integer, got ${k}`);
  // |k| beyond the matrix keeps all or nothing; clamping keeps the uniform in i32 range.
  const kk = Math.max(-x.shape[x.ndim - 2] - 1, Math.min(k, x.shape[x.ndim - 1] + 1));
  const p: TriParams = { n: x.size, rows: x.shape[x.ndim - 2], cols: x.shape[x.ndim - 1], k: kk, upper: op === 'triu' };
  const y = run1(op, triKernel, [x], { shape: x.shape, dtype: x.dtype }, p);
  return record(y, op, [x], (g) => [tri(op, g, k)]);
}

/** torch.tril: keeps elements on and below diagonal k (c - r <= k) of the last two dims, zeroes the rest. */
// y_rc = x_rc if c - r <= k else 0              -> dx = tril(g, k)
export const tril = (x: Tensor, k = 0): Tensor => tri('tril', x, k);

/** torch.triu: keeps elements on and above diagonal k (c - r >= k) of the last two dims, zeroes the rest. */
// y_rc = x_rc if c - r >= k else 0              -> dx = triu(g, k)
export const triu = (x: Tensor, k = 0): Tensor => tri('triu', x, k);

/** Kernels, for tests and benchmarks. */
export const kernels = { tri: triKernel };
