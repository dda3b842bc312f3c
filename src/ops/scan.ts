// Scans along one axis: cumsum. kernels/scan.wgsl walks each line of the axis in one thread, or for
// few long lines in a workgroup's lanes, a chunk each (switch `scan`).
import { record } from '../autograd.js';
import { type Backend, defineKernel, isCpuAdapter } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, run1 } from './apply.js';
import { grid1d, ROW_VARIANTS, rowWorkgroup, threadsPerRow } from './grid.js';

interface ScanParams {
  /** x seen as [outer, len, inner]: lines = outer · inner. */
  lines: number;
  len: number;
  inner: number;
  /** 1: sum from the end of each line (the gradient). */
  reverse: number;
  /** Threads per line (TPR in the WGSL) and per workgroup. */
  tpr: number;
  wg: number;
}

/** `mg.testing.forceKernel('scan', 'thread' | 'split', { tpr })`: threads per line of kernels/scan.wgsl. */
const scanSwitch = defineKernelSwitch('scan', ROW_VARIANTS);

/**
 * Threads per line: the row kernels' rule (one, but 32 chunks for few long lines), except on CPU
 * adapters, where a thread per line measured faster even for four lines of 2^18 (docs/performance.md).
 */
function mapping(b: Backend, lines: number, len: number): { tpr: number; wg: number } {
  const tpr = !scanSwitch.forced() && isCpuAdapter(b.description) ? 1 : threadsPerRow(scanSwitch, lines, len);
  return { tpr, wg: rowWorkgroup(tpr) };
}

const scanKernel = defineKernel<ScanParams>({
  name: 'scan',
  label: (p) => `scan:cumsum${p.reverse ? '_reverse' : ''}${p.tpr > 1 ? `/split${p.tpr}` : ''}`,
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
    constants: (p) => ({ WG: p.wg, TPR: p.tpr }),
    uniforms: (p) => [
      ['u32', p.lines],
      ['u32', p.len],
      ['u32', p.inner],
      ['u32', p.reverse],
    ],
    workgroups: (p) => grid1d(Math.ceil(p.lines / (p.wg / p.tpr)), 1),
  },
});

function scan(op: string, x: Tensor, axis: number, reverse: boolean): Tensor {
  const a = x.ndim === 0 ? 0 : normAxis(op, axis, x.ndim);
  const len = x.shape[a] ?? 1;
  const inner = numel(x.shape.slice(a + 1));
  const lines = numel(x.shape.slice(0, a)) * inner;
  const p = { lines, len, inner: Math.max(inner, 1), reverse: +reverse, ...mapping(backendOf(op, [x]), lines, len) };
  return run1(op, scanKernel, [x], { shape: x.shape }, p);
}

/** Running sums along `axis` (negative counts from the end): y_i = Σ_{j <= i} x_j (torch.cumsum). */
// ∂y_i/∂x_j = [j <= i]                         -> dx_j = Σ_{i >= j} g_i (the reversed cumsum of g)
export function cumsum(x: Tensor, axis: number): Tensor {
  if (x.dtype !== 'float32') fail('cumsum', `expects a float32 tensor, got ${x.describe()}`);
  if (typeof axis !== 'number') fail('cumsum', `needs an axis (an integer), got ${String(axis)}`);
  if (x.ndim === 0) normAxis('cumsum', axis, 0);
  return record(scan('cumsum', x, axis, false), 'cumsum', [x], (g) => [scan('cumsum.backward', g, axis, true)]);
}
