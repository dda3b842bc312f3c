// checkOp: an op checked the three ways the engine's own ops are (over fast-check shapes):
//
//   1. webgpu against cpu: the output and every input gradient of the float32 GPU run against the
//      float64 cpu run of the same data;
//   2. gradcheck: the cpu (float64) analytic gradients against central finite differences;
//   3. a naive twin (the same function composed from primitive ops), when given: output and
//      gradients on cpu (float64, tight) and on webgpu.
//
// Gradients are those of L = Σ op(x)·W for fixed random weights W, so every output element counts.
// The report holds the worst error of each check over all runs; checkOp throws when one exceeds
// its tolerance, naming the check, the input shapes, the element and both values.
import fc from 'fast-check';
import { MoragradError, fail, fmtShape } from '../errors.js';
import { randn, tensor } from '../ops/creation.js';
import { tidy, webgpu, type BackendName } from '../runtime.js';
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { gradcheck } from './gradcheck.js';

/** Data for a tensor argument of the given shape. */
export type DataArbitrary = (shape: readonly number[]) => fc.Arbitrary<number[]>;

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

export interface CheckOpOptions {
  /** The shapes of one call's tensor arguments, one array per argument. */
  shapes: fc.Arbitrary<readonly (readonly number[])[]>;
  /** Data of the arguments: one maker for all, or one per argument (default: uniform in [-2, 2], see uniformData). */
  arbitraries?: DataArbitrary | (DataArbitrary | undefined)[];
  /** The same function from primitive ops, to compare against. */
  twin?: (...xs: Tensor[]) => Tensor;
  /** Samples of shapes and data (default 8). */
  numRuns?: number;
  /** fast-check seed (default fixed, so a failure reproduces). */
  seed?: number;
  /** Per argument: 'float32' (default) or 'int32' (indices: give integer data in `arbitraries`). */
  dtypes?: DType[];
  /** Which arguments get gradients checked (default: every float32 one). */
  wrt?: number[];
  /** Backends to compare: default both when webgpu is initialised; ['cpu'] runs checks 2 and 3 on cpu only. */
  backends?: BackendName[];
  /** webgpu vs cpu (default rtol 1e-4, atol 1e-4), gradcheck (1e-3, 1e-5), twin on cpu (1e-8, 1e-9; webgpu uses gpu's). */
  tol?: { gpu?: Tolerance; grad?: Tolerance; twin?: Tolerance };
}

/** The worst element of one check over all runs. */
export interface CheckStat {
  /** Largest |actual - expected| seen. */
  maxAbsErr: number;
  /** Largest |actual - expected| / max(|expected|, 1e-6·max|expected|, 1e-30). */
  maxRelErr: number;
  /** The element furthest beyond its tolerance (null: nothing compared). */
  worst: { shapes: number[][]; what: string; index: number; actual: number; expected: number } | null;
  ok: boolean;
  /** Elements compared. */
  compared: number;
}

export interface CheckOpReport {
  op: string;
  runs: number;
  /** 1. webgpu against cpu (null when not run). */
  gpu: CheckStat | null;
  /** 2. float64 analytic gradients against finite differences. */
  gradcheck: CheckStat;
  /** 3. the op against its naive twin on cpu (null without a twin). */
  twin: CheckStat | null;
  /** 3. the op against its naive twin on webgpu. */
  twinGpu: CheckStat | null;
  ok: boolean;
}

interface Result {
  out: Float64Array;
  grads: (Float64Array | null)[];
}

class Stat implements CheckStat {
  maxAbsErr = 0;
  maxRelErr = 0;
  worst: CheckStat['worst'] = null;
  ok = true;
  compared = 0;
  private worstExcess = -Infinity;
  constructor(private readonly tol: Required<Tolerance>) {}

  compare(shapes: number[][], what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
    if (actual.length !== expected.length)
      fail('checkOp', `${what}: ${actual.length} elements against ${expected.length} (shapes ${shapes.map(fmtShape).join(', ')})`);
    let scale = 0;
    for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
    for (let i = 0; i < expected.length; i++) {
      const a = actual[i];
      const e = expected[i];
      const err = Number.isNaN(a) !== Number.isNaN(e) || !Number.isFinite(a - e) ? (a === e ? 0 : Infinity) : Math.abs(a - e);
      const excess = err - (this.tol.atol + this.tol.rtol * Math.abs(e));
      this.compared++;
      this.maxAbsErr = Math.max(this.maxAbsErr, err);
      this.maxRelErr = Math.max(this.maxRelErr, err / Math.max(Math.abs(e), 1e-6 * scale, 1e-30));
      if (excess > this.worstExcess) {
        this.worstExcess = excess;
        this.worst = { shapes, what, index: i, actual: a, expected: e };
      }
      if (excess > 0) this.ok = false;
    }
  }

  describe(name: string): string {
    const w = this.worst;
    if (!w) return `${name}: nothing compared`;
    return (
      `${name}: ${w.what} at flat index ${w.index} for input shapes ${w.shapes.map(fmtShape).join(', ')}: got ${w.actual}, expected ${w.expected} ` +
      `(|diff| ${Math.abs(w.actual - w.expected).toExponential(3)} > atol ${this.tol.atol} + rtol ${this.tol.rtol}·|expected|)`
    );
  }

  summary(): string {
    return `max abs ${this.maxAbsErr.toExponential(2)}, max rel ${this.maxRelErr.toExponential(2)}`;
  }
}

/** Runs fn on fresh tensors of `backend` and returns the output and dL/d(inputs) for L = Σ out·W. */
async function runOn(
  fn: (...xs: Tensor[]) => Tensor,
  data: number[][],
  shapes: number[][],
  dtypes: DType[],
  wrt: number[],
  backend: BackendName,
  seed: number,
): Promise<Result> {
  const xs = data.map((d, i) => tensor(d, shapes[i], { backend, dtype: dtypes[i] }));
  wrt.forEach((i) => (xs[i].requiresGrad = true));
  try {
    // The forward in its own scope, as training loops run it (mg.forwardBackward): a backward that
    // reads a tensor it did not save fails here.
    const out = tidy(() => fn(...xs));
    const outHost = Float64Array.from(await out.data());
    let grads: (Float64Array | null)[] = wrt.map(() => null);
    if (out.requiresGrad) {
      tidy(() => out.mul(randn(out.shape, { seed, backend })).sum().backward());
      grads = await Promise.all(wrt.map(async (i) => (xs[i].grad ? Float64Array.from(await xs[i].grad!.data()) : null)));
    }
    out.dispose();
    return { out: outHost, grads };
  } finally {
    for (const x of xs) x.dispose();
  }
}

function compareResults(stat: Stat, shapes: number[][], wrt: number[], actual: Result, expected: Result): void {
  stat.compare(shapes, 'output', actual.out, expected.out);
  wrt.forEach((inp, k) => {
    // A missing gradient (null from backward, or no path) counts as zeros.
    const [a, e] = [actual.grads[k], expected.grads[k]];
    if (a || e) stat.compare(shapes, `gradient of input ${inp}`, a ?? new Float64Array(e!.length), e ?? new Float64Array(a!.length));
  });
}

/**
 * The default data: uniform in [-2, 2] on a grid of 2^-19 (fast-check's doubles favour zeros and
 * denormals, which hide wrong gradients).
 */
const uniformData: DataArbitrary = (shape) => {
  const n = shape.reduce((p, d) => p * d, 1);
  return fc.array(
    fc.noBias(fc.integer({ min: -(2 ** 20), max: 2 ** 20 })).map((v) => v / 2 ** 19),
    { minLength: n, maxLength: n },
  );
};

const defTol = (t: Tolerance | undefined, rtol: number, atol: number): Required<Tolerance> => ({
  rtol: t?.rtol ?? rtol,
  atol: t?.atol ?? atol,
});

/**
 * Checks `op` three ways over `opts.shapes` (see the file comment) and returns the worst errors;
 * throws a MoragradError naming the check, shapes, element and values when a tolerance is exceeded.
 */
export async function checkOp(op: (...xs: Tensor[]) => Tensor, opts: CheckOpOptions): Promise<CheckOpReport> {
  const name = (op as { opName?: string }).opName ?? (op.name || 'op');
  if (typeof op !== 'function') fail('checkOp', `expects an op (a function of tensors), got ${String(op)}`);
  if (!opts || !(opts.shapes instanceof fc.Arbitrary))
    fail('checkOp', `${name}: options need shapes: a fast-check arbitrary of the input shapes (number[][])`);
  const backends = opts.backends ?? ['cpu', 'webgpu'];
  if (backends.includes('webgpu') && !webgpu()) {
    fail(
      'checkOp',
      `${name}: the webgpu backend is not initialised (await mg.init() first), or pass backends: ['cpu'] to check on cpu only`,
    );
  }
  const useGpu = backends.includes('webgpu');
  const tol = opts.tol ?? {};
  const gpuTol = defTol(tol.gpu, 1e-4, 1e-4);
  const gradTol = defTol(tol.grad, 1e-3, 1e-5);
  const stats = {
    gpu: useGpu ? new Stat(gpuTol) : null,
    gradcheck: new Stat(gradTol),
    twin: opts.twin ? new Stat(defTol(tol.twin, 1e-8, 1e-9)) : null,
    twinGpu: opts.twin && useGpu ? new Stat(gpuTol) : null,
  };
  const dataOf = (i: number): DataArbitrary => {
    const a = opts.arbitraries;
    return (Array.isArray(a) ? a[i] : a) ?? uniformData;
  };
  const samples = fc.sample(
    opts.shapes.chain((shapes) =>
      fc.tuple(
        fc.constant(shapes.map((s) => [...s])),
        fc.tuple(...shapes.map((s, i) => dataOf(i)(s))),
        fc.integer({ min: 1, max: 2 ** 30 }),
      ),
    ),
    { numRuns: opts.numRuns ?? 8, seed: opts.seed ?? 19 },
  );
  for (const [shapes, data, seed] of samples) {
    const dtypes = shapes.map((_, i) => opts.dtypes?.[i] ?? 'float32');
    const wrt = opts.wrt ?? dtypes.flatMap((d, i) => (d === 'float32' ? [i] : []));
    const run = (fn: (...xs: Tensor[]) => Tensor, backend: BackendName) => runOn(fn, data, shapes, dtypes, wrt, backend, seed);
    const ref = await run(op, 'cpu');
    if (stats.gpu) compareResults(stats.gpu, shapes, wrt, await run(op, 'webgpu'), ref);
    if (opts.twin) {
      compareResults(stats.twin!, shapes, wrt, ref, await run(opts.twin, 'cpu'));
      if (stats.twinGpu) compareResults(stats.twinGpu, shapes, wrt, await run(op, 'webgpu'), await run(opts.twin, 'webgpu'));
    }
    // Finite differences: gradcheck reports the worst element; record it (and the count) here.
    const xs = data.map((d, i) => tensor(d, shapes[i], { backend: 'cpu', dtype: dtypes[i] }));
    const g = await gradcheck(op, xs, { wrt, atol: gradTol.atol, rtol: gradTol.rtol, seed, throwOnFail: false });
    for (const x of xs) x.dispose();
    if (g.worst) {
      stats.gradcheck.compare(
        shapes,
        `gradient of input ${g.worst.input} (analytic vs finite differences)`,
        [g.worst.analytic],
        [g.worst.numeric],
      );
      stats.gradcheck.compared += g.checked - 1;
    }
  }
  const report: CheckOpReport = { op: name, runs: samples.length, ...stats, ok: Object.values(stats).every((s) => !s || s.ok) };
  if (!report.ok) {
    const failed = (Object.entries(stats) as [string, Stat | null][]).filter(([, s]) => s && !s.ok);
    const all = (Object.entries(stats) as [string, Stat | null][])
      .filter(([, s]) => s)
      .map(([k, s]) => `${k} ${s!.summary()}`)
      .join('; ');
    throw new MoragradError(
      'checkOp',
      `${name} failed ${failed.map(([k]) => k).join(', ')}. ${failed.map(([k, s]) => s!.describe(k)).join('. ')}. Worst errors over ${samples.length} runs: ${all}`,
    );
  }
  return report;
}
