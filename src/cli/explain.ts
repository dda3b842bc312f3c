// `moragrad explain`: what an adapter does to a layer, for people studying PEFT internals. Prints r̂,
// the trainable parameters against LoRA's at the same r, the rank of ΔW for a random M (or random
// A, B), which inputs and outputs each entry of M reaches, and writes a heatmap of ΔW as SVG.
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';
import { deltaWeight, type MoraType } from '../ops/mora.js';
import { rank as moraRank } from '../mora/index.js';
import { randn, zeros } from '../ops/creation.js';
import { matmul } from '../ops/matmul.js';
import { cpu } from '../runtime.js';
import { renderSvg } from '../experiments/plots.js';
import { singularValues } from '../experiments/rank.js';
import type { Tensor } from '../tensor.js';

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

/** Numerical rank: singular values above 1e-9 · the largest. */
function numericalRank(w: Float64Array, rows: number, cols: number): { rank: number; sv: number[] } {
  const sv = singularValues(w, rows, cols);
  const tol = 1e-9 * (sv[0] ?? 0);
  return { rank: sv.filter((s) => s > tol).length, sv };
}

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

export async function explain(o: ExplainOptions): Promise<string> {
  const { inFeatures: k, outFeatures: d, r } = o;
  const lines: string[] = [];
  const loraParams = (k + d) * r;
  let dW: Float64Array;
  if (o.adapter === 'mora') {
    const R = moraRank(k, d, r, o.type);
    const opts = { inFeatures: k, outFeatures: d, type: o.type };
    lines.push(`MoRA type ${o.type} on a ${k} -> ${d} layer at r = ${r}:`);
    lines.push(`  r̂ = floor(sqrt((k + d)·r) + 0.5)${o.type === 6 ? ' rounded down to even' : ''} = ${R}`);
    lines.push(`  trainable: r̂² = ${R * R} (LoRA at r = ${r}: (k + d)·r = ${loraParams}; ratio ${(R * R / loraParams).toFixed(3)})`);
    lines.push(`  chunks n = ceil(k / r̂) = ${Math.ceil(k / R)}, wrap-around padding = ${(R - (k % R)) % R}`);
    const M = randn([R, R], { seed: o.seed, backend: 'cpu' });
    const W = deltaWeight(M, opts); // (d, k)
    dW = Float64Array.from(host(W));
    const { rank } = numericalRank(dW, d, k);
    lines.push(`  rank of ΔW for a random M: ${rank} (max possible min(d, k) = ${Math.min(d, k)}; LoRA's is at most ${Math.min(r, d, k)})`);
    // Reach: ΔW for M = e_ab shows which outputs (rows) and inputs (columns) entry (a, b) touches.
    const show = Math.min(R * R, 16);
    lines.push(`  reach of M's entries (M[a,b] -> outputs <- inputs)${show < R * R ? `, first ${show} of ${R * R}` : ''}:`);
    let unused = 0;
    for (let e = 0; e < R * R; e++) {
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
      if (outs.size === 0) unused++;
      if (e < show) lines.push(`    M[${a},${b}]: outputs {${range(outs)}} <- inputs {${range(ins)}}`);
    }
    if (unused) lines.push(`  ${unused} entries of M reach no output (truncated chunks: type 6 with k > d, or empty groups)`);
  } else {
    const scale = 1; // α/r = 1 for the picture; the pattern does not depend on it
    const A = randn([r, k], { seed: o.seed, backend: 'cpu' });
    const B = randn([d, r], { seed: o.seed + 1, backend: 'cpu' });
    dW = Float64Array.from(host(matmul(B, A)), (v) => v * scale); // (d, k)
    const { rank } = numericalRank(dW, d, k);
    lines.push(`LoRA on a ${k} -> ${d} layer at r = ${r}:`);
    lines.push(`  trainable: (k + d)·r = ${loraParams}`);
    lines.push(`  rank of ΔW = B·A for random A, B: ${rank} (at most r = ${r})`);
    lines.push(`  every entry of A reaches every output; B[o, j] reaches output o from every input`);
  }
  const values = [];
  for (let o2 = 0; o2 < d; o2++) for (let i = 0; i < k; i++) values.push({ out: o2, in: i, w: dW[o2 * k + i] });
  const cell = Math.max(4, Math.min(20, Math.floor(480 / Math.max(k, d))));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: o.adapter === 'mora' ? `ΔW of MoRA type ${o.type} (${d} x ${k}, r = ${r}) for a random M` : `ΔW = B·A of LoRA (${d} x ${k}, r = ${r})`,
    data: { values },
    mark: 'rect',
    width: cell * k,
    height: cell * d,
    encoding: {
      x: { field: 'in', type: 'ordinal', title: 'input feature', axis: { labelOverlap: true } },
      y: { field: 'out', type: 'ordinal', title: 'output feature', axis: { labelOverlap: true } },
      color: { field: 'w', type: 'quantitative', scale: { scheme: 'redblue', domainMid: 0, reverse: true }, title: 'ΔW' },
    },
    config: { view: { stroke: null } },
  };
  await writeFileAtomic(o.svg, await renderSvg(spec));
  lines.push(`heatmap of ΔW written to ${o.svg}`);
  return lines.join('\n');
}
