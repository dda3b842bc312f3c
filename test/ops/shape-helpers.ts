// Shared by the shape and indexing tests: row-major index arithmetic written out (not shared with
// src/), float32-representable seeded data, and the cpu/webgpu runner that compares the two results.
import { expect } from 'vitest';
import * as mg from '../../src/index.js';
import { numel } from '../../src/shape.js';
import { expectClose } from '../helpers.js';

export type Backend = 'cpu' | 'webgpu';
export type Input = { data: ArrayLike<number>; shape: number[]; dtype?: mg.DType };

/** Row-major multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}
export function ravel(c: readonly number[], shape: readonly number[]): number {
  let o = 0;
  for (let d = 0; d < shape.length; d++) o = o * shape[d] + c[d];
  return o;
}
/** out[i] = data[ravel(srcCoords(unravel(i, outShape)))] */
export function remap(data: ArrayLike<number>, shape: number[], outShape: number[], srcCoords: (c: number[]) => number[]): number[] {
  return Array.from({ length: numel(outShape) }, (_, i) => data[ravel(srcCoords(unravel(i, outShape)), shape)]);
}
/** Seeded float32-representable data (so cpu float64 and webgpu float32 hold the same values). */
export function f32Data(n: number, seed: number): number[] {
  let s = seed * 2654435761 + 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return Math.fround((s / 2 ** 32) * 4 - 2);
  });
}
export const intIndex = (n: number, size: number, seed: number): number[] =>
  f32Data(n, seed).map((v) => Math.min(size - 1, Math.floor(((v + 2) / 4) * size)));

/** Runs fn on cpu and webgpu copies of the inputs; the results must be bit-identical (pure data movement). */
export async function both(
  fn: (...xs: mg.Tensor[]) => mg.Tensor,
  inputs: Input[],
  label: string,
  tol?: { rtol: number; atol: number },
): Promise<{ cpu: number[]; gpu: number[]; shape: readonly number[] }> {
  const out: Record<Backend, number[]> = { cpu: [], webgpu: [] };
  let shape: readonly number[] = [];
  for (const backend of ['cpu', 'webgpu'] as const) {
    const xs = inputs.map((i) => mg.tensor(i.data, i.shape, { backend, dtype: i.dtype }));
    const y = fn(...xs);
    shape = y.shape;
    out[backend] = Array.from(await y.data());
    for (const t of [...xs, y]) t.dispose();
  }
  if (tol) expectClose(out.webgpu, out.cpu, tol, `${label} webgpu vs cpu`);
  else expect(out.webgpu, `${label} webgpu vs cpu`).toEqual(out.cpu);
  return { cpu: out.cpu, gpu: out.webgpu, shape };
}
