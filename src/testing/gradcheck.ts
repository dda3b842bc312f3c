// Gradient checking: analytic gradients (from any backend) against central finite differences
// computed in float64 on the cpu backend.
//
//   L(x) = Σ fn(x) ⊙ W      (W: fixed random weights, so every output element is checked)
//   numeric dL/dx_j = (L(x + eps·e_j) - L(x - eps·e_j)) / (2 eps)
import type { CpuBackend } from '../backend/cpu/cpu.js';
import { noGrad } from '../autograd.js';
import { MoragradError } from '../errors.js';
import { cpu, tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { mul } from '../ops/binary.js';
import { randn, tensor } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';

export interface GradcheckOptions {
  /** Finite-difference step (float64). Default 1e-6. */
  eps?: number;
  /** |analytic - numeric| <= atol + rtol·|numeric|. Defaults 1e-5 / 1e-3 (loosen for float32 GPU grads). */
  atol?: number;
  rtol?: number;
  /** Seed of the output weights W. */
  seed?: number;
  /** Throw when a gradient is off (default true); else just report. */
  throwOnFail?: boolean;
  /** Which inputs to check (default: every float32 input). */
  wrt?: number[];
}

export interface GradcheckResult {
  ok: boolean;
  maxAbsErr: number;
  /** The worst element: input index, flat index, both gradients. */
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
  /** Number of gradient elements compared. */
  checked: number;
}

export async function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): Promise<GradcheckResult> {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const wrt = opts.wrt ?? inputs.map((t, i) => (t.dtype === 'float32' ? i : -1)).filter((i) => i >= 0);
  const host = await Promise.all(inputs.map((t) => t.data()));

  // Analytic: on the inputs' own backend.
  const leaves = inputs.map((t, i) => {
    const l = tensor(host[i], t.shape, { dtype: t.dtype, backend: t.backend.name });
    l.requiresGrad = wrt.includes(i);
    return l;
  });
  // The forward in its own scope, as training loops run it (mg.forwardBackward): its intermediates
  // go to the tape, so a backward that reads a tensor it did not save fails here.
  const out = tidy(() => fn(...leaves));
  const W = randn(out.shape, { seed: opts.seed ?? 1234, backend: out.backend.name });
  const Wcpu = Float64Array.from(await W.data());
  const L = sum(mul(out, W));
  L.backward();
  const analytic = await Promise.all(
    wrt.map((i) => (leaves[i].grad ? leaves[i].grad!.data() : Promise.resolve(new Float64Array(host[i].length)))),
  );
  for (const t of [...leaves, out, W, L]) t.dispose();

  // Numeric: float64 on cpu.
  const cb = cpu() as CpuBackend;
  const xs = inputs.map((t, i) => tensor(host[i], t.shape, { dtype: t.dtype, backend: 'cpu' }));
  const loss = (): number =>
    noGrad(() =>
      tidy(() => {
        const y = fn(...xs);
        const d = cb.readSync(y.storage);
        let s = 0;
        for (let k = 0; k < d.length; k++) s += d[k] * Wcpu[k];
        return s;
      }),
    );

  let maxAbsErr = 0;
  let worst: GradcheckResult['worst'] = null;
  let worstExcess = -Infinity;
  let checked = 0;
  wrt.forEach((inp, w) => {
    const x = cb.readSync(xs[inp].storage);
    for (let j = 0; j < x.length; j++) {
      const orig = x[j];
      x[j] = orig + eps;
      const lp = loss();
      x[j] = orig - eps;
      const lm = loss();
      x[j] = orig;
      const numeric = (lp - lm) / (2 * eps);
      const a = analytic[w][j];
      const err = Math.abs(a - numeric);
      const excess = err - (atol + rtol * Math.abs(numeric));
      checked++;
      if (err > maxAbsErr || Number.isNaN(err)) maxAbsErr = Number.isNaN(err) ? Infinity : err;
      if (excess > worstExcess || Number.isNaN(err)) {
        worstExcess = Number.isNaN(err) ? Infinity : excess;
        worst = { input: inp, index: j, analytic: a, numeric };
      }
    }
  });
  for (const t of xs) t.dispose();
  const ok = worstExcess <= 0;
  if (!ok && (opts.throwOnFail ?? true)) {
    const w = worst!;
    throw new MoragradError(
      'gradcheck',
      `gradient of input ${w.input} at flat index ${w.index}: analytic ${w.analytic} vs numeric ${w.numeric} ` +
        `(|diff| ${Math.abs(w.analytic - w.numeric).toExponential(3)} > atol ${atol} + rtol ${rtol}·|numeric|; ${checked} elements checked)`,
    );
  }
  return { ok, maxAbsErr, worst, checked };
}
