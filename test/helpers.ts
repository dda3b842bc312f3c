// Shared test setup. WebGPU tests never skip silently: with MORAGRAD_REQUIRE_GPU=1 (set by .ci/run)
// a missing adapter fails the run; elsewhere the gpu suites are skipped with a loud warning.
import { beforeAll, expect } from 'vitest';
import * as mg from '../src/index.js';

let gpuReady: Promise<boolean> | null = null;

async function initGpu(): Promise<boolean> {
  try {
    await mg.init();
    return true;
  } catch (e) {
    if (process.env.MORAGRAD_REQUIRE_GPU === '1' || process.env.CI) throw e;
    console.warn(`\n*** WebGPU tests skipped: ${(e as Error).message}\n`);
    return false;
  }
}

/** Initialises webgpu (default backend) once per test file. */
export function setupBackends(): void {
  beforeAll(async () => {
    gpuReady ??= initGpu();
    await gpuReady;
  });
}

/** True once setupBackends' hook has run and an adapter exists. */
export async function hasGpu(): Promise<boolean> {
  gpuReady ??= initGpu();
  return gpuReady;
}

export interface Tol {
  rtol?: number;
  atol?: number;
}

/** Elementwise |a - e| <= atol + rtol·|e|, reporting the worst index. NaNs must match. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol = {}, label = ''): void {
  const { rtol = 1e-5, atol = 1e-6 } = tol;
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label} mismatch at flat index ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/**
 * Runs `fn` on cpu (float64) and webgpu copies of the same inputs and compares the outputs.
 * Inputs are given as host data + shape (+ dtype).
 */
export async function parity(
  fn: (...xs: mg.Tensor[]) => mg.Tensor,
  inputs: { data: ArrayLike<number>; shape: number[]; dtype?: mg.DType }[],
  tol: Tol = { rtol: 1e-4, atol: 1e-5 },
  label = '',
): Promise<{ cpu: ArrayLike<number>; gpu: ArrayLike<number> }> {
  const run = async (backend: 'cpu' | 'webgpu') => {
    const xs = inputs.map((i) => mg.tensor(i.data, i.shape, { backend, dtype: i.dtype }));
    const y = fn(...xs);
    const d = await y.data();
    for (const t of [...xs, y]) t.dispose();
    return d;
  };
  const c = await run('cpu');
  const g = await run('webgpu');
  expectClose(g, c, tol, `${label} webgpu vs cpu`);
  return { cpu: c, gpu: g };
}

/** Deterministic data in [-1, 1) (mulberry32). */
export function randData(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

/** Runs fn with the module's parameters replaced (by field) by `tensors`, in namedParameters order. */
export function withParams<T>(m: mg.nn.Module, tensors: mg.Tensor[], fn: () => T): T {
  const owners = m.namedParameters().map(([n]) => {
    const parts = n.split('.');
    const key = parts.pop()!;
    return [m.getModule(parts.join('.')) as unknown as Record<string, unknown>, key] as const;
  });
  const saved = owners.map(([o, k]) => o[k]);
  owners.forEach(([o, k], i) => (o[k] = tensors[i]));
  try {
    return fn();
  } finally {
    owners.forEach(([o, k], i) => (o[k] = saved[i]));
  }
}
