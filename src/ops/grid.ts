// Workgroup counts. WebGPU caps each dispatch dimension at 65535 workgroups, so 1-D work spreads over
// x and y; kernels recover the linear index with `linear_id` (kernels/common.wgsl). Also the threads
// per row of the row kernels.
import { fail } from '../errors.js';
import type { KernelSwitch } from '../kernel-switches.js';

const MAX_X = 65535;

export function grid1d(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= MAX_X) return [groups, 1, 1];
  return [MAX_X, Math.ceil(groups / MAX_X), 1];
}

/** The variants of a row kernel's switch (layerNorm/rmsNorm, crossEntropy, scaledMaskedSoftmax). */
export const ROW_VARIANTS = {
  thread: { about: 'one thread per row, 64 rows per workgroup, no barriers' },
  split: { knobs: ['tpr'], about: 'each row split over tpr lanes (default 32) with a workgroup reduction' },
} as const;

/**
 * Threads per row of a row kernel (TPR in its WGSL): forced by its switch, else one thread per row
 * (no barriers, which CPU adapters run slowly) except for few long rows, which split over 32 threads.
 */
export function threadsPerRow(sw: KernelSwitch<keyof typeof ROW_VARIANTS>, rows: number, len: number): number {
  const f = sw.forced();
  if (!f) return rows < 128 && len > 1024 ? 32 : 1;
  const tpr = f.variant === 'thread' ? 1 : (f.params.tpr ?? 32);
  if (tpr < 1 || tpr > 256 || (tpr & (tpr - 1)) !== 0)
    fail(sw.name, `threads per row must be a power of two in 1..256 (a workgroup), got tpr = ${tpr}`);
  return tpr;
}

/** Threads per workgroup of a row kernel running `tpr` threads per row: whole rows, at least 64 threads. */
export const rowWorkgroup = (tpr: number): number => Math.max(64, tpr);

/** A row kernel's mapping: threads per row (`threadsPerRow`) and per workgroup (`rowWorkgroup`). */
export function rowMapping(sw: KernelSwitch<keyof typeof ROW_VARIANTS>, rows: number, len: number): { tpr: number; wg: number } {
  const tpr = threadsPerRow(sw, rows, len);
  return { tpr, wg: rowWorkgroup(tpr) };
}
