// A smoke run of the whole demo pipeline with a tiny config: every report file is written,
// metrics.json validates, the table has every method; and the CLI around it.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DEMO, runExperiment, type ExperimentSpec } from '../../src/experiments/demo.js';
import { validateMetrics } from '../../src/experiments/metrics.js';
import { gridSpec } from '../../src/cli/experiments.js';
import { main } from '../../src/cli/main.js';
import { setupBackends } from '../helpers.js';

setupBackends();

const tiny: ExperimentSpec = {
  ...DEMO,
  name: 'smoke',
  base: { ...DEMO.base, model: { ...DEMO.base.model, nLayer: 1, nHead: 2, nEmbd: 16 }, steps: 6, batchSize: 2, evalEvery: 6, evalBatches: 1, warmup: 2 },
  pairs: 3,
  steps: 4,
  batchSize: 3,
  sweepSteps: 2,
  methods: [
    { name: 'Full fine-tuning', adapter: 'full', lrs: [1e-3, 3e-3] },
    { name: 'LoRA r=2', adapter: 'lora', r: 2, alpha: 4, lrs: [3e-3] },
    { name: 'MoRA r=2 (type 6)', adapter: 'mora', r: 2, type: 6, lrs: [3e-3, 1e-2] },
    { name: 'MoRA r=4 (type 1)', adapter: 'mora', r: 4, type: 1, lrs: [3e-3] },
  ],
};

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  let out = '';
  let err = '';
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...a) => void (out += `${a.join(' ')}\n`)),
    vi.spyOn(console, 'error').mockImplementation((...a) => void (err += `${a.join(' ')}\n`)),
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true)),
  ];
  try {
    return { value: await fn(), out, err };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe('the demo pipeline', () => {
  it('runs every method from a cached base and writes a valid, complete report', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'mg-demo-'));
    const phases: string[] = [];
    const { metrics, table, dir } = await runExperiment(tiny, { runsDir: runs, callbacks: { onPhase: (_m, p) => phases.push(p) } });
    for (const f of ['metrics.json', 'report.md', 'report.html']) expect(existsSync(join(dir, f)), f).toBe(true);
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(validateMetrics(json)).toEqual([]);
    expect(metrics.status).toBe('complete');
    expect(metrics.base.cached).toBe(false);
    for (const m of tiny.methods) expect(table).toContain(m.name);
    // accuracy at 0 and at 25/50/75/100% of the steps; loss every step; a sweep where two lrs were given
    for (const m of metrics.methods) {
      expect(m.accuracy.map((a) => a.step)).toEqual([0, 1, 2, 3, 4]);
      expect(m.loss).toHaveLength(4);
      expect(m.rank.length).toBeGreaterThan(0);
    }
    expect(metrics.methods[0].lrSweep.map((t) => t.lr)).toEqual([1e-3, 3e-3]);
    expect(metrics.methods[1].lrSweep).toEqual([]);
    // MoRA's ΔW has higher rank than LoRA's at these budgets (LoRA r=2 is capped at 2)
    expect(Math.max(...metrics.methods[1].rank.map((r) => r.rankAbove))).toBeLessThanOrEqual(2);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(phases).toContain('rank analysis');
    // the second run loads the cached base instead of pretraining again
    const again = await runExperiment({ ...tiny, name: 'smoke2', methods: tiny.methods.slice(1, 2) }, { runsDir: runs });
    expect(again.metrics.base.cached).toBe(true);
    // `moragrad report` rebuilds the report from metrics.json
    const r = await quiet(() => main(['report', dir]));
    expect(r.value).toBe(0);
    expect(r.out).toContain('LoRA r=2');
  });

  it('compare grids expand methods x ranks x lrs and reject bad grids with the file name', () => {
    const s = gridSpec({ methods: ['lora', 'mora', 'full'], ranks: [4, 8], lrs: [1e-3, 2e-3], steps: 10 }, 'g.json');
    expect(s.methods.map((m) => m.name)).toEqual([
      'LoRA r=4 lr=0.001', 'LoRA r=4 lr=0.002', 'LoRA r=8 lr=0.001', 'LoRA r=8 lr=0.002',
      'MoRA r=4 (type 6) lr=0.001', 'MoRA r=4 (type 6) lr=0.002', 'MoRA r=8 (type 6) lr=0.001', 'MoRA r=8 (type 6) lr=0.002',
      'Full lr=0.001', 'Full lr=0.002',
    ]);
    expect(s.steps).toBe(10);
    expect(() => gridSpec({ methods: ['dora'], lrs: [1] }, 'g.json')).toThrow(/g.json: unknown method 'dora'/);
    expect(() => gridSpec({ methods: ['lora'] }, 'g.json')).toThrow(/g.json: 'lrs' must be a non-empty array/);
  });

  it('CLI: explain prints r̂, the budget, the rank and writes the SVG; bad input is one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-explain-'));
    const svg = join(dir, 'dw.svg');
    const r = await quiet(() => main(['explain', '--adapter', 'mora', '--type', '6', '--in', '24', '--out', '16', '--r', '2', '--svg', svg]));
    expect(r.value).toBe(0);
    expect(r.out).toContain('r̂ = floor(sqrt((k + d)·r) + 0.5) rounded down to even = 8');
    expect(r.out).toContain('rank of ΔW for a random M: 16');
    expect(r.out).toContain('M[0,0]: outputs {0,8} <- inputs {0,8,12}');
    expect(readFileSync(svg, 'utf8')).toContain('<svg');
    const bad = await quiet(() => main(['explain', '--type', '5']));
    expect(bad.value).toBe(1);
    expect(bad.err).toMatch(/expected one of 1, 2, 3, 4, 6, truncation, decoupling, got '5'/);
    const grid = join(dir, 'grid.json');
    writeFileSync(grid, '{ not json');
    await expect(main(['compare', grid])).rejects.toThrow(/grid.json: not valid JSON/);
    const ft = await quiet(() => main(['finetune', '--base', '/nope.safetensors']));
    expect(ft.value).toBe(1);
    expect(ft.err).toMatch(/no such file: \/nope.safetensors/);
  });
});
