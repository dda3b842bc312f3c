// The report of a run, written to runs/<name>/:
//
//   metrics.json   every number (the run record; validated before writing)
//   report.md      summary and tables in the paper's shape, environment, exact config
//   report.html    the same with the charts, self-contained (inline CSS and SVG; opens offline)
//
// `writeReport` writes all three atomically and returns the results table the terminal prints;
// `moragrad report <run dir>` calls it again on the metrics.json it reads back.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { metricsToJSON, type RunMetrics } from './metrics.js';
import { assertValidMetrics } from './metrics-file.js';
import { renderPlots, type Plots } from './plots.js';
import { renderHtml } from './report-html.js';
import { seedsOf } from './aggregate.js';
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

export const REPORT_FILES = { metrics: 'metrics.json', markdown: 'report.md', html: 'report.html' } as const;

/**
 * Text quoted into report.md (names, task strings, adapter descriptions): markdown renders raw HTML,
 * so `&`, `<` and `>` become entities and a quoted `<script>` stays text.
 */
export const mdText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** A code fence (or inline code quote) longer than any run of backticks in `s`, so `s` cannot close it. */
const fenceFor = (s: string, min: number): string => '`'.repeat(Math.max(min, ...(s.match(/`+/g) ?? []).map((r) => r.length + 1)));
const cellText = (s: string): string => mdText(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
/** Display width: code points, not counting combining marks (r̂ is one column). */
const width = (s: string): number => [...s.replace(/[\u0300-\u036f]/g, '')].length;

/** A markdown table with columns padded to equal width (readable as plain text in a terminal too). */
export function markdownTable(t: Table): string {
  const cells = [t.header, ...t.rows].map((r) => r.map(cellText));
  const w = t.header.map((_, j) => Math.max(3, ...cells.map((r) => width(r[j] ?? ''))));
  const pad = (s: string, j: number) => (t.align[j] === 'right' ? ' '.repeat(w[j] - width(s)) + s : s + ' '.repeat(w[j] - width(s)));
  const line = (r: string[]) => `| ${r.map((c, j) => pad(c ?? '', j)).join(' | ')} |`;
  const rule = `|${w.map((n, j) => (t.align[j] === 'right' ? `${'-'.repeat(n + 1)}:` : `:${'-'.repeat(n + 1)}`)).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/**
 * The results table the terminal prints at the end of a run: method x checkpoint step -> character
 * accuracy (%), with trainable parameters, learning rate, exact-match rate, final loss and time.
 */
export function formatResultsTable(m: RunMetrics): string {
  return markdownTable(resultsTable(m));
}

/** The whole report.md. */
export function renderMarkdown(m: RunMetrics): string {
  const out: string[] = [];
  const seeds = seedsOf(m);
  const code = (v: string) => {
    const pad = /^`|`$/.test(v) ? ' ' : ''; // a backtick at an end needs a space before the fence
    return `${fenceFor(v, 1)}${pad}${v}${pad}${fenceFor(v, 1)}`;
  };
  out.push(`# ${mdText(reportTitle(m))}`, '');
  out.push(`Run ${code(m.name)} · ${mdText(m.createdAt)} · ${mdText(m.environment.adapter)}`, '');
  out.push('## Summary', '', mdText(summarize(m).join(' ')), '');
  out.push('## Character accuracy (%) by step', '', formatResultsTable(m), '');
  out.push(
    `Character accuracy: the share of the expected value's characters the greedy completion reproduces at the same position, averaged over all keys (the paper's metric)${seeds.length > 1 ? `; mean ± sd over ${seeds.length} seeds` : ''}. "Exact": share of keys whose whole value was right at the last checkpoint. Final loss: mean training loss over the last 10 steps${m.task.lossOn === 'completion' ? ', per completion token (the loss falls on the value only: the key is random and cannot be learned)' : ''}. The format-only row is what a model that knows the format but no value scores.`,
    '',
  );
  if (seeds.length > 1) out.push('## Per seed', '', markdownTable(seedsTable(m)), '');
  const capacity = capacityTable(m);
  if (capacity) out.push('## Capacity', '', markdownTable(capacity), '');
  const sweeps = sweepTable(m);
  if (sweeps.rows.length) {
    out.push('## Learning-rate sweeps', '', markdownTable(sweeps), '');
    out.push(
      `Each rate trained for the sweep's steps on seed ${seeds[0]}; the lowest mean loss over the last 10 steps won and carried on to the end. A winner at either end of the grid adds the next rate past it.`,
      '',
    );
  }
  const mech = mechanismTable(m);
  if (mech && m.mechanism) {
    out.push('## Why: one layer, N associations, the same budget', '');
    out.push(
      `One ${m.mechanism.config.d}×${m.mechanism.config.d} linear layer must map N orthonormal keys to N random values; the table gives the share of the values' energy each update cannot reach (LoRA: Eckart–Young; MoRA: least squares over M).`,
      '',
    );
    out.push(markdownTable(mech), '');
  }
  out.push('## Against the paper', '', markdownTable(paperTable()), '');
  out.push('## Methods', '', markdownTable(methodsTable(m)), '');
  if (m.methods.some((x) => x.rank.length > 0)) {
    out.push(`## Rank of ΔW = W_final − W_base`, '');
    out.push(
      `Mean count (over layers and seeds) of singular values above ${m.config.rankThreshold} per module; in brackets the effective rank exp(H(σ/Σσ)).`,
      '',
    );
    out.push(markdownTable(rankTable(m)), '');
  }
  out.push('## Environment', '', markdownTable(environmentTable(m)), '');
  if (m.task.samples.length) {
    const samples = m.task.samples.map((s) => s.replace(/\n$/, ''));
    const fence = fenceFor(samples.join('\n'), 3);
    out.push('## Task samples', '', fence, ...samples, fence, '');
  }
  const config = JSON.stringify(m.config, null, 2);
  const fence = fenceFor(config, 3);
  out.push('## Exact configuration', '', `${fence}json`, config, fence, '');
  out.push(`Every number is in \`${REPORT_FILES.metrics}\`; the charts are in \`${REPORT_FILES.html}\`.`, '');
  return out.join('\n');
}

export interface WriteReportOptions {
  /** Also (re)write metrics.json (default true). */
  metrics?: boolean;
  /** Charts already rendered (default: rendered here). */
  plots?: Plots;
}

/**
 * Validates `metrics` and writes metrics.json, report.md and report.html into `runDir` (created if
 * missing), each atomically. Returns the results table (formatResultsTable) for the terminal.
 */
export async function writeReport(runDir: string, metrics: RunMetrics, opts: WriteReportOptions = {}): Promise<string> {
  if (typeof runDir !== 'string' || runDir === '') fail('writeReport', `runDir must be a non-empty path, got ${String(runDir)}`);
  const json = metricsToJSON(metrics);
  const m = JSON.parse(json) as unknown; // what readers will see: non-finite numbers are null
  assertValidMetrics(m, 'the run record');
  await mkdir(runDir, { recursive: true });
  const plots = opts.plots ?? (await renderPlots(m));
  if (opts.metrics ?? true) await writeFileAtomic(join(runDir, REPORT_FILES.metrics), json);
  await writeFileAtomic(join(runDir, REPORT_FILES.markdown), renderMarkdown(m));
  await writeFileAtomic(join(runDir, REPORT_FILES.html), renderHtml(m, plots));
  return formatResultsTable(m);
}
