// The report: every file is written, the HTML is self-contained with the charts inline and the
// results table, the markdown carries the paper-shaped table, and the summary says plainly who won
// (also when MoRA did not beat LoRA).
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatResultsTable, writeReport, REPORT_FILES } from '../../src/experiments/report.js';
import { readMetrics, type RunMetrics } from '../../src/experiments/metrics.js';
import { rankChartSpec, renderPlots, renderSvg } from '../../src/experiments/plots.js';
import { budgetComparisons, fmtLr, fmtSec, fmtShare, summarize, UUID_FORMAT_BASELINE } from '../../src/experiments/summary.js';
import { escapeHtml } from '../../src/experiments/report-html.js';
import { syntheticMetrics } from './fixtures.js';

const setAcc = (m: RunMetrics, name: string, xs: number[]) => {
  const method = m.methods.find((x) => x.name === name)!;
  method.accuracy = method.accuracy.map((a, i) => ({ ...a, charAccuracy: xs[i], exactMatch: 0 }));
};

describe('writeReport', () => {
  it('writes metrics.json, report.md and a self-contained report.html with the charts and tables', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-report-'));
    try {
      const m = syntheticMetrics();
      const runDir = join(dir, 'runs', 'demo');
      const table = await writeReport(runDir, m);
      expect((await readdir(runDir)).sort()).toEqual([REPORT_FILES.metrics, REPORT_FILES.markdown, REPORT_FILES.html].sort());
      expect(await readMetrics(join(runDir, 'metrics.json'))).toEqual(JSON.parse(JSON.stringify(m)));

      // The table the terminal prints: the paper's shape, every method, every checkpoint.
      expect(table).toBe(formatResultsTable(m));
      const lines = table.split('\n');
      expect(lines).toHaveLength(2 + m.methods.length);
      expect(lines[0]).toMatch(/^\| Method +\| Trainable \| +lr \| step 50 \| step 100 \| step 150 \| step 200 \|/);
      for (const x of m.methods) expect(table).toContain(`| ${x.name} `);
      expect(lines[2]).toMatch(/\|\s+31\.0 \|\s+74\.0 \|\s+97\.0 \|\s+100\.0 \|/);
      expect(new Set(lines.map((l) => l.length)).size).toBe(1); // padded columns

      const md = await readFile(join(runDir, 'report.md'), 'utf8');
      expect(md).toMatch(/^# MoRA vs LoRA vs full fine-tuning on UUID memorisation\n/);
      expect(md).toContain(table);
      expect(md).toContain('## Rank of ΔW');
      expect(md).toContain('"rankThreshold": 0.1');
      expect(md).toContain('llvmpipe');

      const html = await readFile(join(runDir, 'report.html'), 'utf8');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain('<h1>MoRA vs LoRA vs full fine-tuning on UUID memorisation</h1>');
      expect(html.match(/<svg[\s>]/g)?.length).toBe(4); // loss, accuracy, spectra, rank counts
      expect(html).toContain('Training loss');
      expect(html).toContain('Singular-value spectra');
      expect(html).toContain('<th class="num">step 200</th>');
      for (const x of m.methods) expect(html).toContain(escapeHtml(x.name));
      expect(html).toContain('did not beat LoRA');
      // Self-contained: no scripts, no external stylesheets, images or fonts.
      expect(html).not.toMatch(/<script|<link|<img|@import|src="http|href="http|url\(http/i);
      const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((x) => x[1]);
      expect(new Set(ids).size).toBe(ids.length);
      for (const ref of html.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(ref[1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('renders without rank analysis or accuracy, marks an interrupted run, and rejects an invalid record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-report-'));
    try {
      const m = syntheticMetrics({ steps: 20, withRank: false });
      m.status = 'interrupted';
      m.methods[4].status = 'interrupted';
      m.methods[4].loss = m.methods[4].loss.slice(0, 7);
      m.methods[4].accuracy = [];
      m.methods[0].name = 'Full <all> & "more"';
      await writeReport(dir, m);
      const html = await readFile(join(dir, 'report.html'), 'utf8');
      expect(html.match(/<svg[\s>]/g)?.length).toBe(2);
      expect(html).not.toContain('Singular-value spectra');
      expect(html).toContain('<span class="status">interrupted</span>');
      expect(html).toContain('Full &lt;all&gt; &amp; &quot;more&quot;');
      expect(html).not.toContain('Full <all>');
      const md = await readFile(join(dir, 'report.md'), 'utf8');
      expect(md).toContain('This run is **interrupted**');
      expect(md).toContain('| MoRA r=64 (type 1) (interrupted) |');
      m.methods[0].lr = -1;
      await expect(writeReport(dir, m)).rejects.toThrow(/not a valid run record .*\n {2}methods\[0\]\.lr: expected a finite number > 0, got -1/s);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('summarize', () => {
  it('says plainly where MoRA beat LoRA and where it did not', () => {
    const m = syntheticMetrics();
    const s = summarize(m).join(' ');
    expect(s).toContain('**Full fine-tuning** reached the highest character accuracy, **100.0%** at step 200');
    expect(s).toContain('At r = 8, MoRA (type 6, r̂ = 44) **beat LoRA**: 58.0% vs LoRA\'s 41.0% at step 200 (ahead at all 4 checkpoints).');
    expect(s).toContain('At r = 64, MoRA (type 1, r̂ = 124) **did not beat LoRA**: 97.0% vs LoRA\'s 99.5% at step 200 (behind at all 4 checkpoints).');
    expect(s).toContain('Overall MoRA beat LoRA at 1 of 2 budgets.');
    expect(s).toContain(`about ${(100 * UUID_FORMAT_BASELINE).toFixed(1)}%`);
    expect(s).toMatch(/MoRA's ΔW had more singular values above 0\.1 per module than LoRA's at r = 8 \(\d+\.\d vs 5\.0\) and r = 64/);
  });

  it('reports a clean sweep for LoRA, ties, and updates too small for the threshold honestly', () => {
    const m = syntheticMetrics();
    setAcc(m, 'MoRA r=8 (type 6)', [0.2, 0.21, 0.25, 0.3]);
    setAcc(m, 'LoRA r=64', [0.3, 0.5, 0.7, 0.8]);
    setAcc(m, 'MoRA r=64 (type 1)', [0.3, 0.52, 0.69, 0.8]);
    for (const x of m.methods) for (const r of x.rank) r.rankAbove = 0;
    const s = summarize(m).join(' ');
    expect(s).toContain('**did not beat LoRA**: 30.0% vs LoRA\'s 41.0%');
    expect(s).toContain('At r = 64, MoRA (type 1, r̂ = 124) and LoRA **tied**: 80.0% vs LoRA\'s 80.0% at step 200 (ahead at 1, behind at 1 of 4 checkpoints).');
    expect(s).toContain('No update had a singular value above 0.1');
    expect(budgetComparisons(m).map((c) => c.verdict)).toEqual(['lora', 'tie']);
    for (const x of m.methods.filter((y) => y.adapter === 'mora')) setAcc(m, x.name, [0.1, 0.1, 0.1, 0.1]);
    expect(summarize(m).join(' ')).toContain('MoRA did not beat LoRA at any budget in this run, unlike the paper.');
  });

  it('formats numbers for people', () => {
    expect(fmtLr(0.0003)).toBe('3e-4');
    expect(fmtLr(0.00025)).toBe('2.5e-4');
    expect(fmtSec(4.24)).toBe('4.2 s');
    expect(fmtSec(65.3)).toBe('1 m 05 s');
    expect(fmtSec(3725)).toBe('1 h 02 m');
    expect(fmtShare(1)).toBe('100%');
    expect(fmtShare(0.0606)).toBe('6.1%');
    expect(fmtShare(0.485)).toBe('49%');
  });
});

describe('plots', () => {
  it('renders every chart to SVG with Vega-Lite', async () => {
    const p = await renderPlots(syntheticMetrics({ steps: 40 }));
    for (const svg of [p.loss, p.accuracy, p.spectra, p.ranks]) expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 \d+(\.\d+)? \d+(\.\d+)?"/);
    expect(p.accuracy).toContain('LoRA r=8');
    expect(p.ranks).toContain('Singular values of ΔW above 0.1');
  });

  it('shows the effective rank when no singular value passes the threshold', async () => {
    const m = syntheticMetrics({ steps: 20 });
    for (const x of m.methods) for (const r of x.rank) r.rankAbove = 0;
    const svg = await renderSvg(rankChartSpec(m));
    expect(svg).toContain('Effective rank of ΔW');
  });
});
