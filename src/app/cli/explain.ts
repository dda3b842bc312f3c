// `moragrad explain`: what an adapter does to a layer, for people studying PEFT internals. Prints r̂,
// the trainable parameters against LoRA's at the same r, the rank of ΔW for a random M (or random
// A, B), which inputs and outputs each entry of M reaches, and writes a heatmap of ΔW as SVG.
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../../io/atomic.js';
import { deltaWeight, mora, type MoraType } from '../../ops/mora.js';
import { rank as moraRank } from '../../mora/index.js';
import { rand, randn, zeros } from '../../ops/creation.js';
import { matmul } from '../../ops/matmul.js';
import { slice } from '../../ops/shape.js';
import { cpu } from '../../runtime.js';
import { renderSvg } from '../experiments/plots.js';
import { singularValues } from '../experiments/rank.js';
import type { Tensor } from '../../tensor.js';

export interface ExplainOptions {
  adapter: 'mora' | 'lora';
  type: MoraType;
  inFeatures: number;
  outFeatures: number;
  r: number;
  svg: string;
  seed: number;
}

const host = (t: Tensor): Float64Array => cpu().readSync(t.storage) as Float64Array;

/** Largest ΔW (rows · cols) whose singular values are computed: an SVD of 512 x 512 takes about a second, the time grows with the cube. */
const MAX_SVD_ENTRIES = 512 * 512;
/** Largest heatmap drawn (cells); bigger layers show their top-left corner. */
const MAX_HEATMAP = 256;

/** Numerical rank: singular values above 1e-9 · the largest; null beyond MAX_SVD_ENTRIES. */
function numericalRank(w: Float64Array, rows: number, cols: number): { rank: number | null } {
  if (rows * cols > MAX_SVD_ENTRIES) return { rank: null };
  const sv = singularValues(w, rows, cols);
  const tol = 1e-9 * (sv[0] ?? 0);
  return { rank: sv.filter((s) => s > tol).length };
}

const rankText = (rank: number | null, d: number, k: number): string =>
  rank === null ? `not computed (ΔW is ${d} x ${k}; the SVD is bounded to ${MAX_SVD_ENTRIES} entries)` : String(rank);

function range(set: Set<number>): string {
  const v = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < v.length; ) {
    let j = i;
    while (j + 1 < v.length && v[j + 1] === v[j] + 1) j++;
    parts.push(i === j ? `${v[i]}` : `${v[i]}-${v[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Entries of M that reach no entry of ΔW, all at once: ΔW is linear in M, ΔW = Σ_ab M_ab·A_ab, and
 * for a random input x and output gradient g the gradient of gᵀ·ΔW·x with respect to M_ab is
 * gᵀ·A_ab·x, nonzero (almost surely) exactly when A_ab is: one forward and backward of mora on one row.
 */
function unusedEntries(M: Tensor, opts: { inFeatures: number; outFeatures: number; type: MoraType }, d: number, k: number): number {
  const Mg = M.detach();
  Mg.requiresGrad = true;
  const x = rand([1, k], { low: 1, high: 2, seed: 7, backend: 'cpu' });
  const g = rand([1, d], { low: 1, high: 2, seed: 8, backend: 'cpu' });
  const y = mora(x, Mg, opts); // (1, d) = x·ΔWᵀ
  const s = y.mul(g).sum();
  s.backward();
  const dM = host(Mg.grad!);
  let unused = 0;
  for (let i = 0; i < dM.length; i++) if (dM[i] === 0) unused++;
  for (const t of [Mg, x, g, y, s]) t.dispose();
  return unused;
}

export async function explain(o: ExplainOptions): Promise<string> {
  const { inFeatures: k, outFeatures: d, r } = o;
  const lines: string[] = [];
  const loraParams = (k + d) * r;
  /** ΔW's entry (output o, input i), for the heatmap. */
  let at: (o: number, i: number) => number;
  if (o.adapter === 'mora') {
    const R = moraRank(k, d, r, o.type);
    const opts = { inFeatures: k, outFeatures: d, type: o.type };
    lines.push(`MoRA type ${o.type} on a ${k} -> ${d} layer at r = ${r}:`);
    lines.push(`  r̂ = floor(sqrt((k + d)·r) + 0.5)${o.type === 6 ? ' rounded down to even' : ''} = ${R}`);
    lines.push(`  trainable: r̂² = ${R * R} (LoRA at r = ${r}: (k + d)·r = ${loraParams}; ratio ${((R * R) / loraParams).toFixed(3)})`);
    lines.push(`  chunks n = ceil(k / r̂) = ${Math.ceil(k / R)}, wrap-around padding = ${(R - (k % R)) % R}`);
    const M = randn([R, R], { seed: o.seed, backend: 'cpu' });
    const W = deltaWeight(M, opts); // (d, k)
    const dW = Float64Array.from(host(W));
    at = (o2, i) => dW[o2 * k + i];
    const { rank } = numericalRank(dW, d, k);
    lines.push(
      `  rank of ΔW for a random M: ${rankText(rank, d, k)} (max possible min(d, k) = ${Math.min(d, k)}; LoRA's is at most ${Math.min(r, d, k)})`,
    );
    // Reach: ΔW for M = e_ab shows which outputs (rows) and inputs (columns) entry (a, b) touches.
    const show = Math.min(R * R, 16);
    lines.push(`  reach of M's entries (M[a,b] -> outputs <- inputs)${show < R * R ? `, first ${show} of ${R * R}` : ''}:`);
    for (let e = 0; e < show; e++) {
      const a = Math.floor(e / R);
      const b = e % R;
      const one = zeros([R, R], { backend: 'cpu' });
      host(one)[e] = 1;
      const w = host(deltaWeight(one, opts));
      const outs = new Set<number>();
      const ins = new Set<number>();
      for (let i = 0; i < w.length; i++) {
        if (w[i] !== 0) {
          outs.add(Math.floor(i / k));
          ins.add(i % k);
        }
      }
      lines.push(`    M[${a},${b}]: outputs {${range(outs)}} <- inputs {${range(ins)}}`);
      one.dispose();
    }
    const unused = unusedEntries(M, opts, d, k);
    if (unused) lines.push(`  ${unused} entries of M reach no output (truncated chunks: type 6 with k > d, or empty groups)`);
  } else {
    const scale = 1; // α/r = 1 for the picture; the pattern does not depend on it
    const A = randn([r, k], { seed: o.seed, backend: 'cpu' });
    const B = randn([d, r], { seed: o.seed + 1, backend: 'cpu' });
    // the whole product only where its SVD is computed; otherwise the heatmap's corner alone (a float64
    // matmul of 4096 x 1024 x 4096 takes minutes)
    let rank: number | null = null;
    if (d * k <= MAX_SVD_ENTRIES) {
      const dW = Float64Array.from(host(matmul(B, A)), (v) => v * scale); // (d, k)
      at = (o2, i) => dW[o2 * k + i];
      rank = numericalRank(dW, d, k).rank;
    } else {
      const [hd, hk] = [Math.min(d, MAX_HEATMAP), Math.min(k, MAX_HEATMAP)];
      const corner = Float64Array.from(host(matmul(slice(B, 0, 0, hd), slice(A, 1, 0, hk))), (v) => v * scale); // (hd, hk)
      at = (o2, i) => corner[o2 * hk + i];
    }
    lines.push(`LoRA on a ${k} -> ${d} layer at r = ${r}:`);
    lines.push(`  trainable: (k + d)·r = ${loraParams}`);
    lines.push(`  rank of ΔW = B·A for random A, B: ${rankText(rank, d, k)} (at most r = ${r})`);
    lines.push(`  every entry of A reaches every output; B[o, j] reaches output o from every input`);
  }
  const values = [];
  const [hd, hk] = [Math.min(d, MAX_HEATMAP), Math.min(k, MAX_HEATMAP)]; // the drawn corner
  for (let o2 = 0; o2 < hd; o2++) for (let i = 0; i < hk; i++) values.push({ out: o2, in: i, w: at(o2, i) });
  const corner = hd < d || hk < k ? `, top-left ${hd} x ${hk}` : '';
  const cell = Math.max(4, Math.min(20, Math.floor(480 / Math.max(hk, hd))));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title:
      o.adapter === 'mora'
        ? `ΔW of MoRA type ${o.type} (${d} x ${k}, r = ${r}) for a random M${corner}`
        : `ΔW = B·A of LoRA (${d} x ${k}, r = ${r})${corner}`,
    data: { values },
    mark: 'rect',
    width: cell * hk,
    height: cell * hd,
    encoding: {
      x: { field: 'in', type: 'ordinal', title: 'input feature', axis: { labelOverlap: true } },
      y: { field: 'out', type: 'ordinal', title: 'output feature', axis: { labelOverlap: true } },
      color: { field: 'w', type: 'quantitative', scale: { scheme: 'redblue', domainMid: 0, reverse: true }, title: 'ΔW' },
    },
    config: { view: { stroke: null } },
  };
  await writeFileAtomic(o.svg, await renderSvg(spec));
  lines.push(`heatmap of ΔW${corner} written to ${o.svg}`);
  return lines.join('\n');
}
