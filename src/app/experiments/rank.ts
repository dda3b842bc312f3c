// Rank analysis of weight updates (MoRA paper, section 6.1). For each adapted module, the merged
// update ΔW = W_final - W_base (d x k); its singular values σ_1 >= σ_2 >= ... >= 0 say how many
// independent directions the update uses. The paper counts σ_i > 0.1 per module: LoRA's count is
// capped at r (ΔW = B A has rank <= r), MoRA's and full fine-tuning's are not. Two scale-free
// summaries are reported as well, because at small scale every σ can sit below 0.1:
//
//   stable rank     ||ΔW||_F² / σ_1²              (in [1, rank]; insensitive to tiny σ)
//   effective rank  exp(H(p)), p_i = σ_i / Σ σ_j  (Roy & Vetterli 2007; in [1, rank])
//
// Singular values come from ml-matrix's SVD (JAMA's Golub-Kahan bidiagonalisation and implicit-shift QR), on the
// CPU in float64.
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { fail, fmtShape } from '../../errors.js';
import type { Module } from '../../nn/module.js';

/** The paper's threshold on singular values of ΔW. */
export const RANK_THRESHOLD = 0.1;

/** A host copy of a 2-D weight (row-major). */
export interface HostMatrix {
  data: ArrayLike<number>;
  shape: readonly number[];
}

export type WeightMap = Record<string, HostMatrix> | Map<string, HostMatrix>;

/** Singular values of the row-major (rows x cols) matrix W, largest first (min(rows, cols) of them). */
export function singularValues(W: ArrayLike<number>, rows: number, cols: number): number[] {
  const op = 'singularValues';
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1)
    fail(op, `rows and cols must be positive integers, got ${rows} x ${cols}`);
  if (!W || typeof W.length !== 'number') fail(op, 'W must be a Float32Array, Float64Array or number[]');
  if (W.length !== rows * cols) fail(op, `W has ${W.length} values; a ${rows} x ${cols} matrix needs ${rows * cols}`);
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = Number(W[i * cols + j]);
      if (!Number.isFinite(v)) fail(op, `W[${i}, ${j}] = ${v} is not finite; the SVD of a ${rows} x ${cols} matrix needs finite values`);
      m.set(i, j, v);
    }
  }
  const svd = new SingularValueDecomposition(m, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  return svd.diagonal
    .map((s) => Math.abs(s))
    .sort((a, b) => b - a)
    .slice(0, Math.min(rows, cols));
}

/** How many singular values exceed `threshold` (default 0.1, the paper's). */
export function rankAbove(sv: ArrayLike<number>, threshold = RANK_THRESHOLD): number {
  if (!(threshold >= 0)) fail('rankAbove', `threshold must be a non-negative number, got ${threshold}`);
  let n = 0;
  for (let i = 0; i < sv.length; i++) if (sv[i] > threshold) n++;
  return n;
}

/** ||W||_F = sqrt(Σ w²). */
export function frobeniusNorm(W: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < W.length; i++) s += W[i] * W[i];
  return Math.sqrt(s);
}

/** ||ΔW||_F² / σ_1² from the singular values (0 for a zero matrix). */
export function stableRank(sv: ArrayLike<number>): number {
  if (sv.length === 0 || !(sv[0] > 0)) return 0;
  let s = 0;
  for (let i = 0; i < sv.length; i++) s += sv[i] * sv[i];
  return s / (sv[0] * sv[0]);
}

/** exp(entropy of σ / Σσ) (0 for a zero matrix). */
export function effectiveRank(sv: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < sv.length; i++) total += sv[i];
  if (!(total > 0)) return 0;
  let h = 0;
  for (let i = 0; i < sv.length; i++) {
    const p = sv[i] / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** The rank statistics of one module's ΔW. */
export interface ModuleRank {
  /** The weight's parameter name, e.g. 'blocks.0.attn.q.weight'. */
  name: string;
  /** [rows, cols] = [out_features, in_features]. */
  shape: [number, number];
  /** The largest singular values of ΔW, largest first (at most `topK`). */
  singularValues: number[];
  /** How many of all min(rows, cols) singular values exceed `threshold`. */
  rankAbove: number;
  threshold: number;
  frobenius: number;
  stableRank: number;
  effectiveRank: number;
}

export interface AnalyzeOptions {
  /** Count singular values above this (default 0.1). */
  threshold?: number;
  /** Keep this many leading singular values per module (default: all). */
  topK?: number;
  /** Which weights to analyse (default: every 2-D weight whose name ends in '.weight' except embeddings). */
  include?: (name: string, shape: readonly number[]) => boolean;
}

/** The default module filter: 2-D '.weight' tensors other than token/position embeddings and the LM head. */
export function isLinearWeight(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && name.endsWith('.weight') && !/(^|\.)(wte|wpe|head)\./.test(name);
}

const entries = (w: WeightMap): [string, HostMatrix][] => (w instanceof Map ? [...w.entries()] : Object.entries(w));

/** The statistics of ΔW = final - base for one (rows x cols) matrix. */
export function analyzeMatrix(
  name: string,
  base: ArrayLike<number>,
  final: ArrayLike<number>,
  shape: readonly number[],
  opts: Omit<AnalyzeOptions, 'include'> = {},
): ModuleRank {
  const op = 'analyzeMatrix';
  if (shape.length !== 2) fail(op, `${name}: ΔW must be 2-D, got shape ${fmtShape(shape)}`);
  const [rows, cols] = shape;
  if (base.length !== rows * cols || final.length !== rows * cols) {
    fail(op, `${name}: shape ${fmtShape(shape)} needs ${rows * cols} values, base has ${base.length} and final ${final.length}`);
  }
  const threshold = opts.threshold ?? RANK_THRESHOLD;
  const topK = opts.topK ?? Infinity;
  if (!(topK >= 1)) fail(op, `topK must be a positive integer, got ${topK}`);
  const delta = new Float64Array(rows * cols);
  for (let i = 0; i < delta.length; i++) delta[i] = final[i] - base[i];
  const sv = singularValues(delta, rows, cols);
  return {
    name,
    shape: [rows, cols],
    singularValues: sv.slice(0, topK),
    rankAbove: rankAbove(sv, threshold),
    threshold,
    frobenius: frobeniusNorm(delta),
    stableRank: stableRank(sv),
    effectiveRank: effectiveRank(sv),
  };
}

/**
 * Per-module rank statistics of ΔW = final - base, for every weight in `final` that `include` accepts
 * (in `final`'s order). Every analysed weight must exist in `base` with the same shape.
 */
export function analyzeDelta(base: WeightMap, final: WeightMap, opts: AnalyzeOptions = {}): ModuleRank[] {
  const op = 'analyzeDelta';
  const include = opts.include ?? isLinearWeight;
  const baseMap = new Map(entries(base));
  const out: ModuleRank[] = [];
  for (const [name, f] of entries(final)) {
    if (!include(name, f.shape)) continue;
    const b = baseMap.get(name);
    if (!b)
      fail(
        op,
        `'${name}' is in the final weights but not in the base weights (base has ${[...baseMap.keys()].slice(0, 6).join(', ')}${baseMap.size > 6 ? ', …' : ''})`,
      );
    if (b.shape.join() !== f.shape.join())
      fail(op, `'${name}': base shape ${fmtShape(b.shape)} differs from final shape ${fmtShape(f.shape)}`);
    out.push(analyzeMatrix(name, b.data, f.data, f.shape, opts));
  }
  if (out.length === 0) fail(op, `no weights selected: final has ${entries(final).length} tensors and the filter accepted none`);
  return out;
}

/**
 * Host copies of a module's parameters (float64 where the backend stores float64), for analyzeDelta:
 * snapshot the base before fine-tuning and the merged model after.
 */
export async function hostWeights(
  module: Module,
  include: (name: string, shape: readonly number[]) => boolean = () => true,
): Promise<Map<string, HostMatrix>> {
  const out = new Map<string, HostMatrix>();
  for (const [name, p] of module.namedParameters()) {
    if (!include(name, p.shape)) continue;
    const data = await p.data();
    out.set(name, { data: Float64Array.from(data as ArrayLike<number>), shape: [...p.shape] });
  }
  return out;
}

/**
 * The short module kind of a parameter name, for grouping across layers: the last path component
 * before '.weight' (e.g. 'blocks.3.attn.q.weight' -> 'q', 'blocks.0.mlp.down.weight' -> 'down').
 */
export function moduleKind(name: string): string {
  const parts = name.replace(/\.weight$/, '').split('.');
  return parts[parts.length - 1] || name;
}

/** The layer index in a parameter name ('blocks.3.attn.q.weight' -> 3), or null. */
export function layerIndex(name: string): number | null {
  const m = /(?:^|\.)(?:blocks|layers|h)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}
