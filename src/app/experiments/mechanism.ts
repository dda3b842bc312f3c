// Why MoRA: one linear layer asked to store N key -> value associations, with a LoRA update and a
// MoRA update of the same trainable budget. Seconds on the cpu backend, in float64.
//
// The layer must learn ΔW with ΔW k_i = v_i for N orthonormal keys k_i (d-dimensional) and random
// Gaussian values v_i; stacked, ΔW X = Y with X (d, N) orthonormal columns and Y (d, N). The fraction
// of ‖Y‖² an update cannot reach (the relative loss floor) is, for each adapter:
//
//   LoRA (rank r):   Σ_{i>r} σ_i(Y)² / Σ σ_i(Y)²        Eckart–Young: ΔW X can be any rank-r matrix
//   MoRA (r̂ × r̂ M):  min_M ‖ΔW(M) X − Y‖² / ‖Y‖²         least squares: ΔW(M) is linear in M
//
// A rank-r update can point its r output directions at the r largest singular directions of Y, but
// no more: once N > r the rest of Y is out of reach. MoRA's ΔW(M) spans a fixed r̂²-dimensional space
// of (mostly full-rank) matrices, so it stores up to about r̂²/d associations exactly and keeps a
// share of every further one. Between those two counts MoRA's floor is far below LoRA's; at N = d
// (a full-rank isotropic target) LoRA's freedom to choose its directions can win back the lead. Both
// adapters are also trained with Adam on the engine's own ops to show they reach their floors.
import { Matrix, QrDecomposition } from 'ml-matrix';
import { fail } from '../../errors.js';
import { HostRng } from '../../ops/random.js';
import { deltaWeight, mora, rank as moraRank, type MoraType } from '../../mora/index.js';
import { tensor, zeros } from '../../ops/creation.js';
import { AdamW } from '../../optim/adamw.js';
import { tidy } from '../../runtime.js';
import type { Tensor } from '../../tensor.js';
import { singularValues } from './rank.js';

export interface MechanismConfig {
  /** Width of the square layer (in = out = d). */
  d: number;
  /** LoRA rank; MoRA's r̂ comes from the same budget. */
  r: number;
  moraType: MoraType;
  /** Numbers of associations to store (the capacity curve). */
  counts: number[];
  /** Random (keys, values) draws per count; the floors are averaged over them. */
  draws: number;
  /** The count whose fits are trained (loss curves and spectra). */
  trainCount: number;
  trainSteps: number;
  seed: number;
}

export const DEFAULT_MECHANISM: MechanismConfig = {
  d: 64,
  r: 4,
  moraType: 6,
  counts: [1, 2, 4, 6, 7, 8, 12, 16, 24, 32, 48, 64],
  draws: 3,
  trainCount: 16,
  trainSteps: 400,
  seed: 0,
};

export interface FloorPoint {
  /** Associations N. */
  n: number;
  /** Mean relative loss floor over the draws, in [0, 1]. */
  lora: number;
  mora: number;
}

export interface TrainedFit {
  adapter: 'lora' | 'mora';
  /** The learning rate that reached the lowest loss. */
  lr: number;
  /** Relative loss ‖ΔW X − Y‖² / ‖Y‖² at every step. */
  loss: number[];
  /** The analytic floor for this draw. */
  floor: number;
  /** Singular values of the learned ΔW, largest first. */
  singularValues: number[];
}

export interface MechanismResult {
  config: MechanismConfig;
  /** MoRA's r̂ and both budgets (trainable numbers). */
  R: number;
  loraParams: number;
  moraParams: number;
  floors: FloorPoint[];
  /** A rank-r target (N = d keys, Y of rank r): LoRA reaches it exactly, MoRA does not. */
  lowRankTarget: { lora: number; mora: number };
  trained: TrainedFit[];
  /** Singular values of the target ΔW* = Y Xᵀ of the trained draw. */
  targetSpectrum: number[];
  wallTimeSec: number;
}

/** A (rows, cols) matrix of independent N(0, 1) draws. */
function gaussian(rng: HostRng, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, rng.normal());
  return m;
}

/** The first n columns of a random orthogonal (d, d) matrix: orthonormal keys. */
function orthonormalKeys(rng: HostRng, d: number, n: number): Matrix {
  const q = new QrDecomposition(gaussian(rng, d, d)).orthogonalMatrix;
  return q.subMatrix(0, d - 1, 0, n - 1);
}

const sq = (m: Matrix): number => m.to1DArray().reduce((s, v) => s + v * v, 0);

/** Eckart–Young: the share of ‖Y‖² outside Y's best rank-r approximation. */
export function loraFloor(Y: Matrix, r: number): number {
  const sv = singularValues(Y.to1DArray(), Y.rows, Y.columns);
  const total = sv.reduce((s, x) => s + x * x, 0);
  const kept = sv.slice(0, r).reduce((s, x) => s + x * x, 0);
  return total > 0 ? Math.max(0, 1 - kept / total) : 0;
}

/** The r̂² basis matrices ΔW(E_ab), each (d, d) row-major, from the engine's closed-form deltaWeight. */
export async function moraBasis(d: number, R: number, type: MoraType): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let k = 0; k < R * R; k++) {
    const e = new Float64Array(R * R);
    e[k] = 1;
    const M = tensor(e, [R, R], { backend: 'cpu' });
    const dW = deltaWeight(M, { inFeatures: d, outFeatures: d, type });
    out.push(Float64Array.from(await dW.data()));
    M.dispose();
    dW.dispose();
  }
  return out;
}

/**
 * Solves the symmetric positive semi-definite system A x = b (A n×n row-major) by Cholesky with a
 * tiny ridge (1e-10 of the mean diagonal), so rank-deficient Gram matrices still give a least-squares
 * solution. Returns x.
 */
function cholSolve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  let tr = 0;
  for (let i = 0; i < n; i++) tr += A[i * n + i];
  const ridge = (1e-10 * tr) / n + 1e-300;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j] + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = i === j ? Math.sqrt(Math.max(s, ridge)) : s / L[j * n + j];
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * z[k];
    z[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/**
 * min over M of ‖ΔW(M) X − Y‖² / ‖Y‖², by least squares on the basis: G (d·N, r̂²) holds vec(ΔW(E_k) X)
 * in column k; the residual is y − G m with (GᵀG) m = Gᵀy when G is tall, or y − GGᵀz with
 * (GGᵀ) z = y when it is wide (then the fit is exact unless G loses rank).
 */
export function moraFloor(basis: readonly Float64Array[], X: Matrix, Y: Matrix): number {
  const d = X.rows;
  const n = X.columns;
  const rows = d * n;
  const cols = basis.length;
  const x = X.to1DArray(); // (d, N) row-major
  const y = Float64Array.from(Y.to1DArray()); // vec(Y), (d·N)
  const G = new Float64Array(rows * cols); // (d·N, r̂²), row-major
  basis.forEach((b, k) => {
    for (let i = 0; i < d; i++) {
      for (let l = 0; l < d; l++) {
        const w = b[i * d + l];
        if (w === 0) continue;
        for (let j = 0; j < n; j++) G[(i * n + j) * cols + k] += w * x[l * n + j];
      }
    }
  });
  const fit = new Float64Array(rows);
  if (rows >= cols) {
    const gtg = new Float64Array(cols * cols);
    const gty = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let a = 0; a < cols; a++) {
        const ga = G[o + a];
        if (ga === 0) continue;
        gty[a] += ga * y[r];
        for (let c = 0; c <= a; c++) gtg[a * cols + c] += ga * G[o + c];
      }
    }
    for (let a = 0; a < cols; a++) for (let c = 0; c < a; c++) gtg[c * cols + a] = gtg[a * cols + c];
    const m = cholSolve(gtg, gty, cols);
    for (let r = 0; r < rows; r++) for (let a = 0; a < cols; a++) fit[r] += G[r * cols + a] * m[a];
  } else {
    const ggt = new Float64Array(rows * rows);
    for (let a = 0; a < rows; a++)
      for (let c = 0; c <= a; c++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += G[a * cols + k] * G[c * cols + k];
        ggt[a * rows + c] = s;
        ggt[c * rows + a] = s;
      }
    const z = cholSolve(ggt, y, rows);
    for (let a = 0; a < rows; a++) for (let c = 0; c < rows; c++) fit[a] += ggt[a * rows + c] * z[c];
  }
  let res = 0;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    res += (fit[r] - y[r]) ** 2;
    total += y[r] ** 2;
  }
  return total > 0 ? Math.min(1, Math.max(0, res / total)) : 0;
}

/** Relative loss ‖ΔW X − Y‖² / ‖Y‖² as a tensor, from the update applied to the keys (rows xᵢᵀ). */
function relLoss(out: Tensor, target: Tensor, norm: number): Tensor {
  const e = out.sub(target); // (N, d)
  return e.mul(e).sum().div(norm);
}

async function trainFit(
  adapter: 'lora' | 'mora',
  cfg: MechanismConfig,
  R: number,
  X: Matrix,
  Y: Matrix,
  lr: number,
  floor: number,
): Promise<TrainedFit> {
  const { d, r } = cfg;
  const n = X.columns;
  const keys = tensor(X.transpose().to1DArray(), [n, d], { backend: 'cpu' }); // (N, d): row i is kᵢᵀ
  const target = tensor(Y.transpose().to1DArray(), [n, d], { backend: 'cpu' }); // (N, d): row i is vᵢᵀ
  const norm = sq(Y);
  const rng = new HostRng(cfg.seed + 17);
  const params: Tensor[] = [];
  if (adapter === 'lora') {
    // LoRA init: A Kaiming-uniform-like, B zero (scale 1: the rate is the only knob, as for MoRA).
    const bound = 1 / Math.sqrt(d);
    params.push(
      tensor(
        Float64Array.from({ length: r * d }, () => (2 * rng.next() - 1) * bound),
        [r, d],
        { backend: 'cpu', requiresGrad: true },
      ),
    ); // A (r, d)
    params.push(zeros([d, r], { backend: 'cpu', requiresGrad: true })); // B (d, r)
  } else {
    params.push(zeros([R, R], { backend: 'cpu', requiresGrad: true })); // M (r̂, r̂)
  }
  const forward = (): Tensor =>
    adapter === 'lora'
      ? keys.matmul(params[0].transpose(0, 1)).matmul(params[1].transpose(0, 1)) // (N, d) · Aᵀ · Bᵀ = (ΔW X)ᵀ
      : mora(keys, params[0], { inFeatures: d, outFeatures: d, type: cfg.moraType }); // (N, d)
  const opt = new AdamW(params, { lr, betas: [0.9, 0.999], weightDecay: 0 });
  const loss: number[] = [];
  try {
    for (let s = 0; s < cfg.trainSteps; s++) {
      const l = tidy(() => {
        const v = relLoss(forward(), target, norm);
        v.backward();
        return v;
      });
      opt.step();
      opt.zeroGrad();
      loss.push(await l.item());
      l.dispose();
    }
    const dW = tidy(() =>
      adapter === 'lora' ? params[1].matmul(params[0]) : deltaWeight(params[0], { inFeatures: d, outFeatures: d, type: cfg.moraType }),
    );
    const sv = singularValues(await dW.data(), d, d);
    dW.dispose();
    return { adapter, lr, loss, floor, singularValues: sv };
  } finally {
    opt.dispose();
    for (const p of [...params, keys, target]) p.dispose();
  }
}

/** Throws on a configuration the experiment cannot run (an experiment checks it before anything trains). */
export function checkMechanism(cfg: MechanismConfig): void {
  const op = 'mechanism';
  const { d, r } = cfg;
  if (!Number.isInteger(d) || d < 2 || d > 256) fail(op, `d must be an integer in [2, 256], got ${d}`);
  if (!Number.isInteger(r) || r < 1 || r >= d) fail(op, `r must be an integer in [1, d), got ${r}`);
  for (const n of [...cfg.counts, cfg.trainCount])
    if (!Number.isInteger(n) || n < 1 || n > d) fail(op, `association counts must be integers in [1, ${d}], got ${n}`);
}

/** Runs the mechanism experiment (cpu backend, float64). */
export async function runMechanism(cfg: MechanismConfig = DEFAULT_MECHANISM): Promise<MechanismResult> {
  checkMechanism(cfg);
  const { d, r } = cfg;
  const t0 = performance.now();
  const R = moraRank(d, d, r, cfg.moraType);
  const basis = await moraBasis(d, R, cfg.moraType);
  const rng = new HostRng(cfg.seed);
  const floors: FloorPoint[] = [];
  for (const n of cfg.counts) {
    let lora = 0;
    let moraF = 0;
    for (let k = 0; k < cfg.draws; k++) {
      const X = orthonormalKeys(rng, d, n);
      const Y = gaussian(rng, d, n);
      lora += loraFloor(Y, r);
      moraF += moraFloor(basis, X, Y);
    }
    floors.push({ n, lora: lora / cfg.draws, mora: moraF / cfg.draws });
  }
  // A rank-r target over all d keys: Y = U Vᵀ with U (d, r), V (d, r).
  const Xd = orthonormalKeys(rng, d, d);
  const Ylow = gaussian(rng, d, r).mmul(gaussian(rng, r, d));
  const lowRankTarget = { lora: loraFloor(Ylow, r), mora: moraFloor(basis, Xd, Ylow) };
  // The trained fits, each at the best of a small bracket of rates.
  const X = orthonormalKeys(rng, d, cfg.trainCount);
  const Y = gaussian(rng, d, cfg.trainCount);
  const trained: TrainedFit[] = [];
  for (const adapter of ['lora', 'mora'] as const) {
    const floor = adapter === 'lora' ? loraFloor(Y, r) : moraFloor(basis, X, Y);
    let best: TrainedFit | null = null;
    for (const lr of [3e-3, 1e-2, 3e-2, 1e-1]) {
      const fit = await trainFit(adapter, cfg, R, X, Y, lr, floor);
      const last = fit.loss[fit.loss.length - 1];
      if (Number.isFinite(last) && (!best || last < best.loss[best.loss.length - 1])) best = fit;
    }
    if (best) trained.push(best);
  }
  const target = Y.mmul(X.transpose()); // ΔW* = Y Xᵀ (d, d)
  return {
    config: cfg,
    R,
    loraParams: 2 * d * r,
    moraParams: R * R,
    floors,
    lowRankTarget,
    trained,
    targetSpectrum: singularValues(target.to1DArray(), d, d),
    wallTimeSec: (performance.now() - t0) / 1000,
  };
}
