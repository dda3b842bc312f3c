// The report: every file is written, the HTML is self-contained with the charts inline and the
// results table, the markdown carries the paper-shaped table, and the summary says plainly who won
// (also when MoRA did not beat LoRA).
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatResultsTable, writeReport, REPORT_FILES } from '../../src/app/experiments/report.js';
import type { RunMetrics } from '../../src/app/experiments/metrics.js';
import { readMetrics } from '../../src/app/experiments/metrics-file.js';
import { rankChartSpec, renderPlots, renderSvg } from '../../src/app/experiments/plots.js';
import { resultsTable, seedsTable, summarize, sweepTable } from '../../src/app/experiments/summary.js';
import { fmtLr, fmtSec, fmtShare } from '../../src/app/experiments/formatters.js';
import { escapeHtml } from '../../src/app/experiments/report-html.js';
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
      expect(lines).toHaveLength(2 + m.methods.length + 1); // + the format-only row
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
      expect(html).toContain('did not beat LoRA</strong>');
      expect(html).toContain('Learning-rate sweeps');
      expect(html).toContain('Against the paper');
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
      await expect(writeReport(dir, m)).rejects.toThrow(
        /not a valid run record .*\n {2}methods\[0\]\.lr: expected a finite number > 0, got -1/s,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const finalAcc = (m: RunMetrics, name: string, seed: number) => {
  const r = m.methods.find((x) => x.name === name && x.seed === seed)!;
  return r.accuracy[r.accuracy.length - 1].charAccuracy;
};

describe('summarize', () => {
  it('says plainly where MoRA beat LoRA and where it did not', () => {
    const m = syntheticMetrics();
    const s = summarize(m).join(' ');
    expect(s).toContain('Every method ran on 1 seed, at the learning rate its own sweep chose on seed 0.');
    expect(s).toContain(
      'Final character accuracy: Full fine-tuning **100.0%**, LoRA r=64 **99.5%**, MoRA r=64 (type 1) **97.0%**, MoRA r=8 (type 6) **58.0%** and LoRA r=8 **41.0%**.',
    );
    expect(s).toContain(
      "At r = 8, MoRA (type 6, r̂ = 44 (128→128), 80 (128→512, 512→128)) **beat LoRA**: 58.0% against LoRA's 41.0% (+17.0 points).",
    );
    expect(s).toContain("At r = 64, MoRA (type 1, r̂ = 124 (128→128)) **did not beat LoRA**: 97.0% against LoRA's 99.5% (−2.5 points).");
    expect(s).toContain('The ordering full fine-tuning > MoRA > LoRA at r = 8 held on 1 of 1 seed.');
    expect(s).toContain('The ordering full fine-tuning > MoRA > LoRA at r = 64 held on 0 of 1 seed (not on seed 0).');
    expect(s).toContain('Every adapter run ended above the format-only level of 19.8% (the base measured 19.0% before fine-tuning)');
    expect(s).toContain('here MoRA ahead at the small budget (r = 8) is **reproduced**; at the large budget (r = 64) **not reproduced**');
    expect(s).toMatch(
      /As in the paper, MoRA's ΔW had more singular values above 0\.1 per module than LoRA's at r = 8 \(\d+\.\d vs 5\.0\) and r = 64/,
    );
    expect(s).toContain('`--seeds 3` gives the spread');
  });

  it('aggregates seeds: mean ± sd, per-seed ordering computed from each seed, no claim the numbers do not show', () => {
    const m = syntheticMetrics({ seeds: 3 });
    const s = summarize(m).join(' ');
    const gaps = [0, 1, 2].map((sd) => finalAcc(m, 'MoRA r=8 (type 6)', sd) - finalAcc(m, 'LoRA r=8', sd));
    const mean = gaps.reduce((a, b) => a + b, 0) / 3;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / 2);
    expect(s).toContain(`(+${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)} points)`);
    expect(s).toContain('figures are mean ± standard deviation over them');
    expect(summarize(m).join(' ')).not.toContain('--seeds 3');
    // make seed 1 break the ordering at r = 8: LoRA above MoRA there
    const lora1 = m.methods.find((x) => x.name === 'LoRA r=8' && x.seed === 1)!;
    lora1.accuracy[lora1.accuracy.length - 1].charAccuracy = 0.9;
    const s2 = summarize(m).join(' ');
    expect(s2).toContain('was ahead on 2 and behind on 1 of 3 seeds');
    expect(s2).toContain('The ordering full fine-tuning > MoRA > LoRA at r = 8 held on 2 of 3 seeds (not on seed 1).');
    expect(s2).toContain('reproduced on some seeds only');
    const per = seedsTable(m);
    expect(per.header).toEqual(['Method', 'seed 0', 'seed 1', 'seed 2', 'mean ± sd']);
    expect(per.rows.find((r) => r[0] === 'full > MoRA > LoRA, r = 8')!.slice(1)).toEqual(['yes', 'no', 'yes', '2/3']);
    const res = resultsTable(m);
    expect(res.rows.at(-1)![0]).toBe('Format-only level');
    expect(res.rows[0][3]).toMatch(/^\d+\.\d ± \d+\.\d$/);
  });

  it('names runs at the format-only level and sweeps that stayed at the edge of their grid', () => {
    const m = syntheticMetrics();
    setAcc(m, 'LoRA r=8', [0.2, 0.19, 0.19, 0.19]);
    m.methods.find((x) => x.name === 'MoRA r=8 (type 6)')!.sweepBracketed = false;
    const s = summarize(m).join(' ');
    expect(s).toContain('LoRA r=8 (seed 0) ended at or below the format-only level of 19.8%');
    expect(s).toContain("The sweep's chosen rate sat at the edge of its grid for MoRA r=8 (type 6)");
    expect(sweepTable(m).rows.find((r) => r[0] === 'MoRA r=8 (type 6)')![3]).toBe('no (at the edge)');
    for (const x of m.methods) for (const r of x.rank) r.rankAbove = 0;
    expect(summarize(m).join(' ')).toContain('No update had a singular value above 0.1');
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
