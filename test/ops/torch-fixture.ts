// The golden-value fixtures of PyTorch 1.13 at IEEE special values (fixtures/special-values*.json,
// written by fixtures/special_values*.py): their format, and the check of one case on one backend
// (cpu float64 against torch float64, webgpu float32 against torch float32; forward and gradient).
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose } from '../helpers.js';

export type Num = number | 'nan' | 'inf' | '-inf';
export interface Result {
  y: Num[];
  shape: number[];
  grads?: (Num[] | null)[];
  w?: Num[];
}
export interface Case {
  inputs: Num[][];
  shapes: number[][];
  targets?: number[];
  f64: Result;
  f32: Result;
}
export type Op = (xs: mg.Tensor[], c: Case) => mg.Tensor;

/** The cases of fixtures/<file>. */
export function loadFixture(file: string): Record<string, Case> {
  return (JSON.parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as { cases: Record<string, Case> }).cases;
}

export const num = (v: Num): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);
export const nums = (a: Num[]): number[] => a.map(num);

/**
 * Runs `op` on the case's inputs on `backend` and compares the output and, where the fixture has them,
 * the gradients of Σ y·w (cpu: torch float64 to rounding; webgpu: torch float32 to the kernels'
 * approximations).
 */
export async function checkCase(name: string, c: Case, op: Op, backend: 'cpu' | 'webgpu'): Promise<void> {
  const tol = backend === 'cpu' ? { rtol: 1e-9, atol: 1e-12 } : { rtol: 1e-4, atol: 1e-5 };
  const want = backend === 'cpu' ? c.f64 : c.f32;
  const grad = want.grads !== undefined;
  const xs = c.inputs.map((d, i) => mg.tensor(nums(d), c.shapes[i], { backend, requiresGrad: grad }));
  const y = op(xs, c);
  expect(y.shape).toEqual(want.shape);
  expectClose(await y.data(), nums(want.y), tol, `${name} forward`);
  if (grad) {
    y.mul(mg.tensor(nums(want.w!), want.shape, { backend }))
      .sum()
      .backward();
    for (const [i, g] of want.grads!.entries()) {
      if (g) expectClose(await xs[i].grad!.data(), nums(g), tol, `${name} gradient of input ${i}`);
    }
  }
  for (const t of [...xs, y]) t.dispose();
}
