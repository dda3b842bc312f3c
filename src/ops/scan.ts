// Scans along one axis: cumsum. kernels/scan.wgsl walks each line of the axis in one thread.
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { fail } from '../errors.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { grid1d } from './grid.js';

interface ScanParams {
  /** x seen as [outer, len, inner]: lines = outer · inner. */
  lines: number;
  len: number;
  inner: number;
  /** 1: sum from the end of each line (the gradient). */
  reverse: number;
}

const scanKernel = defineKernel<ScanParams>({
  name: 'scan',
  label: (p) => (p.reverse ? 'scan:cumsum_reverse' : 'scan:cumsum'),
  cpu: ([x], [y], { lines, len, inner, reverse }) => {
    for (let l = 0; l < lines; l++) {
      const base = Math.floor(l / inner) * len * inner + (l % inner);
      let s = 0;
      for (let k = 0; k < len; k++) {
        const i = base + (reverse ? len - 1 - k : k) * inner;
        s += x[i];
        y[i] = s;
      }
    }
  },
  gpu: {
    shader: 'scan',
    uniforms: (p) => [
      ['u32', p.lines],
      ['u32', p.len],
      ['u32', p.inner],
      ['u32', p.reverse],
    ],
    workgroups: (p) => grid1d(p.lines, 64),
  },
});

function scan(op: string, x: Tensor, axis: number, reverse: boolean): Tensor {
  if (x.ndim === 0) return run1(op, scanKernel, [x], { shape: x.shape }, { lines: 1, len: 1, inner: 1, reverse: +reverse });
  const a = normAxis(op, axis, x.ndim);
  const len = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  const lines = numel(x.shape.slice(0, a)) * inner;
  return run1(op, scanKernel, [x], { shape: x.shape }, { lines, len, inner: Math.max(inner, 1), reverse: +reverse });
}

/** Running sums along `axis` (negative counts from the end): y_i = Σ_{j <= i} x_j (torch.cumsum). */
// ∂y_i/∂x_j = [j <= i]                         -> dx_j = Σ_{i >= j} g_i (the reversed cumsum of g)
export function cumsum(x: Tensor, axis: number): Tensor {
  if (x.dtype !== 'float32') fail('cumsum', `expects a float32 tensor, got ${x.describe()}`);
  if (typeof axis !== 'number') fail('cumsum', `needs an axis (an integer), got ${String(axis)}`);
  if (x.ndim === 0) normAxis('cumsum', axis, 0);
  return record(scan('cumsum', x, axis, false), 'cumsum', [x], (g) => [scan('cumsum.backward', g, axis, true)]);
}
