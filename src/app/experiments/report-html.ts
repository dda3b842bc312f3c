// report.html: one self-contained page (inline CSS, inline SVG charts, no scripts, no external
// resources) that opens offline. Reading order: headline, the honest summary, one card per method
// with its final accuracy, the charts, then the tables, environment and exact configuration.
import { groupMethods, groupStats, seedsOf, taskSizes } from './aggregate.js';
import type { RunMetrics } from './metrics.js';
import { leadRuns, methodColors, type Plots } from './plots.js';
import { fmtBudget, fmtCount, fmtLoss, fmtLossSd, fmtLr, fmtPct, fmtPctSd, fmtSec, fmtShare } from './formatters.js';
import {
  capacityTable,
  environmentTable,
  mechanismTable,
  methodsTable,
  paperTable,
  rankTable,
  reportTitle,
  resultsTable,
  seedsTable,
  summarize,
  sweepTable,
  type Table,
} from './summary.js';
import { moduleKind } from './rank.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Escapes, then turns **bold** into <strong>. */
function inline(s: string): string {
  return escapeHtml(s).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
}

const CSS = `
:root { --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --bg: #f6f8fa; --card: #ffffff; --accent: #d94801; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 36px 28px 56px; }
header h1 { font-size: 30px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
header .meta { color: var(--muted); font-size: 13.5px; }
header .meta code { font-size: 12.5px; }
h2 { font-size: 19px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.summary { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--accent); border-radius: 8px; padding: 16px 22px; margin: 22px 0; font-size: 16px; }
.summary p { margin: 0; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #fff1e5; color: #953800; margin-left: 8px; vertical-align: middle; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 14px; margin: 18px 0 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px 14px; border-top: 5px solid var(--c); }
.card .name { font-weight: 600; font-size: 14.5px; }
.card .budget { color: var(--muted); font-size: 12.5px; min-height: 1.5em; }
.card .big { font-size: 32px; font-weight: 650; line-height: 1.15; margin-top: 6px; font-variant-numeric: tabular-nums; }
.card .big small { font-size: 14px; font-weight: 500; color: var(--muted); }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 8px 0 0; font-size: 12.5px; }
.card dt { color: var(--muted); }
.card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(500px, 1fr)); gap: 16px; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px; overflow-x: auto; }
figure.wide { grid-column: 1 / -1; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 8px; }
.table-wrap { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { padding: 7px 12px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; text-align: left; white-space: nowrap; }
tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.heat { font-weight: 600; }
td.nowrap { white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 8px; background: var(--c); }
.note { color: var(--muted); font-size: 13px; margin: 8px 2px 0; }
details { margin-top: 12px; }
summary { cursor: pointer; color: var(--muted); font-size: 13.5px; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; overflow-x: auto; font-size: 12.5px; line-height: 1.45; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { margin-top: 44px; color: var(--muted); font-size: 12.5px; }
`;

interface TableOptions {
  /** Colour of the method in row i (a swatch before the first cell). */
  rowColor?: (i: number) => string | undefined;
  /** An accuracy in [0, 1] for a cell, to shade it. */
  heat?: (i: number, j: number) => number | null;
  /** Columns whose cells do not wrap. */
  nowrap?: number[];
}

function htmlTable(t: Table, opts: TableOptions = {}): string {
  const cls = (j: number) => (t.align[j] === 'right' ? ' class="num"' : '');
  const head = t.header.every((h) => h === '')
    ? ''
    : `<thead><tr>${t.header.map((h, j) => `<th${cls(j)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
  const body = t.rows
    .map((r, i) => {
      const cells = r.map((c, j) => {
        const v = opts.heat?.(i, j);
        const style = v !== null && v !== undefined ? ` style="background: rgba(46, 160, 67, ${(0.06 + 0.42 * v).toFixed(3)})"` : '';
        const heat = style ? ' heat' : '';
        const classes = [t.align[j] === 'right' ? 'num' : '', heat.trim(), opts.nowrap?.includes(j) ? 'nowrap' : ''].filter(Boolean);
        const klass = classes.length ? ` class="${classes.join(' ')}"` : '';
        const color = j === 0 ? opts.rowColor?.(i) : undefined;
        const sw = color ? `<span class="swatch" style="--c: ${escapeHtml(color)}"></span>` : '';
        return `<td${klass}${style}>${sw}${escapeHtml(c)}</td>`;
      });
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<div class="table-wrap"><table>${head}<tbody>\n${body}\n</tbody></table></div>`;
}

function cards(m: RunMetrics, color: (name: string) => string): string {
  const sizes = taskSizes(m);
  return groupMethods(m)
    .filter((g) => g.examples === sizes[0])
    .map((g) => {
      const s = groupStats(g);
      const x = g.lead;
      const big = s.acc.n ? `${fmtPct(s.acc.mean)}<small>%${s.acc.n > 1 ? ` ± ${fmtPct(s.acc.sd)}` : ''}</small>` : '–';
      const failed = g.runs.find((r) => r.status !== 'complete');
      const status = failed ? `<span class="status">${escapeHtml(failed.status)}</span>` : '';
      const rows: [string, string][] = [
        ['exact', s.exact.n ? `${fmtPctSd(s.exact)}%` : '–'],
        ['trainable', `${fmtCount(x.trainableParams)} (${fmtShare(x.totalParams ? x.trainableParams / x.totalParams : 0)})`],
        ['lr', fmtLr(x.lr)],
        ['final loss', fmtLossSd(s.loss)],
        ['time / seed', fmtSec(s.wallTimeSec.mean)],
      ];
      return `<div class="card" style="--c: ${escapeHtml(color(g.name))}">
  <div class="name">${escapeHtml(g.name)}${status}</div>
  <div class="budget">${escapeHtml(fmtBudget(x) || (x.adapter === 'full' ? 'all parameters' : x.adapter))}</div>
  <div class="big">${big}</div>
  <div class="budget">final character accuracy${s.acc.n > 1 ? ` · ${s.acc.n} seeds` : ''}</div>
  <dl>${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
</div>`;
    })
    .join('\n');
}

function figure(svg: string, caption: string, wide = false): string {
  if (!svg) return '';
  return `<figure${wide ? ' class="wide"' : ''}>${svg}<figcaption>${inline(caption)}</figcaption></figure>`;
}

/** The whole report.html for a run record and its rendered charts. */
export function renderHtml(m: RunMetrics, plots: Plots): string {
  const title = reportTitle(m);
  const colors = methodColors(groupMethods(m).map((g) => g.lead));
  const color = (name: string) => colors.range[colors.domain.indexOf(name)] ?? '#888888';
  const groups = groupMethods(m);
  const rowColor = (i: number) => (groups[i] ? color(groups[i].name) : undefined);
  const results = resultsTable(m);
  const capacity = capacityTable(m);
  const mechanism = mechanismTable(m);
  const sweeps = sweepTable(m);
  const lead = leadRuns(m);
  const stepCols = new Set(results.header.map((h, j) => (h.startsWith('step ') || h === 'base' ? j : -1)).filter((j) => j >= 0));
  const heat = (i: number, j: number) => {
    if (!stepCols.has(j)) return null;
    const v = parseFloat(results.rows[i][j]);
    return Number.isFinite(v) ? v / 100 : null;
  };
  const hasRank = lead.some((x) => x.rank.length > 0);
  const th = m.config.rankThreshold;
  const statusBadge = m.status === 'complete' ? '' : `<span class="status">${escapeHtml(m.status)}</span>`;
  const meta = [
    `run <code>${escapeHtml(m.name)}</code>`,
    escapeHtml(
      new Date(m.createdAt)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC'),
    ),
    escapeHtml(m.environment.adapter),
    `${escapeHtml(String(m.config.steps))} steps · ${escapeHtml(fmtCount(m.task.examples))} ${m.task.name === 'uuid' ? 'keys' : 'examples'} · ${escapeHtml(String(seedsOf(m).length))} seed${seedsOf(m).length === 1 ? '' : 's'}`,
    `${escapeHtml(fmtCount(m.base.params))}-parameter base model`,
  ].join(' · ');

  const perModule = hasRank
    ? htmlTable(
        {
          header: ['Module', 'Shape', ...lead.filter((x) => x.rank.length).map((x) => x.name)],
          align: ['left', 'left', ...lead.filter((x) => x.rank.length).map(() => 'right' as const)],
          rows: [...new Set(lead.flatMap((x) => x.rank.map((r) => r.name)))].map((name) => {
            const some = lead.flatMap((x) => x.rank).find((r) => r.name === name)!;
            return [
              name,
              `${some.shape[0]}×${some.shape[1]}`,
              ...lead
                .filter((x) => x.rank.length)
                .map((x) => {
                  const r = x.rank.find((q) => q.name === name);
                  return r ? `${r.rankAbove} · ‖ΔW‖ ${r.frobenius.toPrecision(3)}` : '–';
                }),
            ];
          }),
        },
        { nowrap: [0] },
      )
    : '';

  const kinds = [...new Set(lead.flatMap((x) => x.rank.map((r) => moduleKind(r.name))))];
  const floorNote = m.task.floor
    ? ` Dashed: the format-only level (${fmtPct(m.task.floor.charAccuracy)}%), what a model that knows the UUID format but no value scores.`
    : '';
  const bands = seedsOf(m).length > 1 ? ' Lines: mean over seeds; bands: ± one standard deviation.' : '';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(m.name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}${statusBadge}</h1>
<div class="meta">${meta}</div>
</header>

<section class="summary"><p>${summarize(m).map(inline).join(' ')}</p></section>

<section class="cards">
${cards(m, color)}
</section>

<h2>Training and accuracy</h2>
<div class="charts">
${figure(plots.accuracy, `Greedy completion of every key at each checkpoint; character accuracy = share of the value's characters right at their position.${bands}${floorNote}`)}
${figure(plots.loss, `Cross-entropy per ${m.task.lossOn === 'completion' ? 'completion token (the loss falls on the value only: the key is random and cannot be learned, so training on it would add a constant the adapters cannot reduce)' : 'token of the whole key:value sequence'}, smoothed.${bands}${m.task.floor && m.task.lossOn === 'completion' ? ` Dashed: the format-only loss (${fmtLoss(m.task.floor.completionLoss)} nats).` : ''}`)}
${figure(plots.capacity, 'The capacity view: final character accuracy as the number of pairs to memorise grows, at a fixed budget.', true)}
</div>

${
  m.mechanism
    ? `<h2>Why: one layer, N associations, the same budget</h2>
<div class="charts">
${figure(plots.mechanism, `One ${m.mechanism.config.d}×${m.mechanism.config.d} linear layer must map N orthonormal keys to N random values. Lines: the lowest relative loss each update can reach (LoRA: Eckart–Young, the energy outside the best rank-${m.mechanism.config.r} approximation; MoRA: least squares over its r̂² = ${m.mechanism.moraParams} numbers). A rank-${m.mechanism.config.r} update stores ${m.mechanism.config.r} pairs exactly; MoRA's square matrix stores about r̂²/d.`)}
${figure(plots.mechanismFit, `Trained with Adam on ${m.mechanism.config.trainCount} pairs: both reach their floors (dashed). Right: singular values of the learned ΔW; LoRA's stop at its rank.`)}
</div>
${htmlTable(mechanism!)}`
    : ''
}

${
  hasRank
    ? `<h2>Rank of the updates</h2>
<div class="charts">
${figure(plots.spectra, `Singular values of ΔW for every adapted module (${kinds.join(', ')}), one line per layer. A LoRA line ends at its rank r: ΔW = BA has at most r non-zero singular values.`, true)}
${figure(plots.ranks, m.methods.every((x) => x.rank.every((r) => r.rankAbove === 0)) ? `No update had a singular value above ${th}, so the paper's count is zero everywhere; the effective rank shows how many directions each update spreads over.` : `The paper's measure: how many singular values of ΔW exceed ${th}, per module kind, averaged over layers.`, true)}
</div>`
    : ''
}

<h2>Character accuracy (%) by step</h2>
${htmlTable(results, { rowColor, heat, nowrap: [0] })}
<p class="note">Character accuracy of the generated value, averaged over all ${escapeHtml(String(m.task.examples))} keys, at each checkpoint (the paper's table shape)${seedsOf(m).length > 1 ? ', mean ± sd over seeds' : ''}. “Exact”: share of keys whose whole value was right at the last checkpoint. Final loss: mean training loss over the last 10 steps. The format-only row is what a model that knows the format but no value scores.</p>

${
  seedsOf(m).length > 1
    ? `<h2>Per seed</h2>
${htmlTable(seedsTable(m), { nowrap: [0] })}
<p class="note">Final character accuracy (%) of every run; the MoRA − LoRA rows are in points.</p>`
    : ''
}

${capacity ? `<h2>Capacity</h2>\n${htmlTable(capacity, { nowrap: [0] })}` : ''}

<h2>Learning-rate sweeps</h2>
${
  sweeps.rows.length
    ? `${htmlTable(sweeps, { nowrap: [0] })}
<p class="note">Each rate trained for the sweep's steps on seed ${escapeHtml(String(seedsOf(m)[0]))}; the lowest mean loss over the last 10 steps won and carried on to the end (the others stopped). A winner at either end of the grid adds the next rate past it.</p>`
    : '<p class="note">No sweep: each method ran at the one rate it was given.</p>'
}

<h2>Against the paper</h2>
${htmlTable(paperTable())}
<p class="note">The paper's UUID table (character accuracy %, loss on the whole sequence). Its models are 4 orders of magnitude larger and memorise 10,000 pairs; compare directions, not numbers.</p>

<h2>Methods</h2>
${htmlTable(methodsTable(m), { rowColor, nowrap: [0, 2] })}

${
  hasRank
    ? `<h2>Singular values of ΔW above ${escapeHtml(String(th))}</h2>
${htmlTable(rankTable(m))}
<p class="note">Mean over layers and seeds; in brackets the effective rank exp(H(σ/Σσ)), a scale-free count of the directions ΔW uses. The charts and the per-module table show seed ${escapeHtml(String(seedsOf(m)[0]))}.</p>
<details><summary>Per module: count above ${escapeHtml(String(th))} · Frobenius norm of ΔW</summary>
${perModule}
</details>`
    : ''
}

<h2>Environment</h2>
${htmlTable(environmentTable(m))}

${
  m.task.samples.length
    ? `<h2>Task samples</h2>
<pre>${escapeHtml(m.task.samples.map((s) => s.replace(/\n$/, '')).join('\n'))}</pre>`
    : ''
}

<h2>Exact configuration</h2>
<pre>${escapeHtml(JSON.stringify(m.config, null, 2))}</pre>

<footer>Generated by moragrad ${escapeHtml(m.environment.moragrad)} from <code>metrics.json</code>, which holds every number on this page.</footer>
</main>
</body>
</html>
`;
}
