// A smoke run of the whole demo pipeline with a tiny config (base, format stage, two seeds, a sweep,
// the mechanism): every report file is written, metrics.json validates, the summary's sentences follow
// from its numbers; and the CLI around it.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DEMO, runExperiment, validateSpec, type ExperimentSpec } from '../../src/app/experiments/demo.js';
import { summarize } from '../../src/app/experiments/summary.js';
import { validateMetrics } from '../../src/app/experiments/metrics-file.js';
import type { MethodResult } from '../../src/app/experiments/metrics.js';
import { gridSpec } from '../../src/app/cli/experiments.js';
import { main } from '../../src/app/cli/main.js';
import { setupBackends } from '../helpers.js';

setupBackends();

const tiny: ExperimentSpec = {
  ...DEMO,
  name: 'smoke',
  seeds: [0, 1],
  base: {
    ...DEMO.base,
    model: { ...DEMO.base.model, nLayer: 1, nHead: 2, nEmbd: 16 },
    steps: 6,
    batchSize: 2,
    evalEvery: 6,
    evalBatches: 1,
    warmup: 2,
  },
  formatStage: { pairs: 64, steps: 3, batchSize: 4, lr: 3e-3, seed: 0 },
  pairs: 3,
  steps: 6,
  batchSize: 3,
  evalAt: [0.5, 1],
  sweepSteps: 2,
  maxExtend: 1,
  methods: [
    { name: 'Full fine-tuning', adapter: 'full', lrs: [1e-3] },
    { name: 'LoRA r=2', adapter: 'lora', r: 2, alpha: 4, lrs: [1e-3, 3e-3, 1e-2] },
    { name: 'MoRA r=2 (type 6)', adapter: 'mora', r: 2, type: 6, lrs: [3e-3] },
  ],
  mechanism: { d: 8, r: 1, moraType: 6, counts: [1, 2, 4, 8], draws: 1, trainCount: 4, trainSteps: 8, seed: 0 },
};

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  let out = '';
  let err = '';
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...a) => {
      out += `${a.join(' ')}\n`;
    }),
    vi.spyOn(console, 'error').mockImplementation((...a) => {
      err += `${a.join(' ')}\n`;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err += String(s);
      return true;
    }),
  ];
  try {
    return { value: await fn(), out, err };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe('the demo pipeline', () => {
  it('runs every method on every seed from a cached base and format stage, and writes a valid report whose summary follows from its numbers', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'mg-demo-'));
    const phases: string[] = [];
    const { metrics, table, dir } = await runExperiment(tiny, { runsDir: runs, callbacks: { onPhase: (_m, p) => phases.push(p) } });
    for (const f of ['metrics.json', 'report.md', 'report.html']) expect(existsSync(join(dir, f)), f).toBe(true);
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(validateMetrics(json)).toEqual([]);
    expect(metrics.status).toBe('complete');
    expect(metrics.base.cached).toBe(false);
    expect(metrics.base.formatStage).toMatchObject({ pairs: 64, steps: 3, cached: false });
    expect(metrics.task.lossOn).toBe('completion');
    expect(metrics.task.floor!.charAccuracy).toBeCloseTo(0.19792, 4);
    for (const m of tiny.methods) expect(table).toContain(m.name);
    // every method on both seeds; accuracy at 0, 3 and 6; one loss per step
    expect(metrics.methods.map((m) => `${m.name}/${m.seed}`)).toEqual(tiny.seeds.flatMap((s) => tiny.methods.map((m) => `${m.name}/${s}`)));
    for (const m of metrics.methods) {
      expect(m.accuracy.map((a) => a.step)).toEqual([0, 3, 6]);
      expect(m.loss).toHaveLength(6);
      expect(m.rank.length).toBeGreaterThan(0);
    }
    // step 0 is the base, measured once per seed and shared by every method
    for (const s of tiny.seeds)
      expect(new Set(metrics.methods.filter((m) => m.seed === s).map((m) => m.accuracy[0].charAccuracy)).size).toBe(1);
    // LoRA swept 3 rates (plus at most one extension) on seed 0; seed 1 reused the choice
    const lora0 = metrics.methods.find((m) => m.name === 'LoRA r=2' && m.seed === 0)!;
    const lora1 = metrics.methods.find((m) => m.name === 'LoRA r=2' && m.seed === 1)!;
    expect(lora0.lrSweep.length).toBeGreaterThanOrEqual(3);
    expect(lora0.lrSweep.map((t) => t.lr)).toEqual([...lora0.lrSweep.map((t) => t.lr)].sort((a, b) => a - b));
    expect(lora1.lrSweep).toEqual([]);
    expect(lora1.lr).toBe(lora0.lr);
    const best = lora0.lrSweep.reduce((a, b) => (b.finalLoss !== null && (a.finalLoss === null || b.finalLoss < a.finalLoss) ? b : a));
    expect(lora0.lr).toBe(best.lr);
    // MoRA's r̂ per module shape: 16->16 attention, 16->64 up, 64->16 down
    const mora = metrics.methods.find((m) => m.adapter === 'mora')!;
    expect(mora.R!.map((x) => `${x.in}->${x.out}:${x.R}`)).toEqual(['16->16:8', '16->64:12', '64->16:12']);
    // LoRA's ΔW has rank <= 2
    expect(Math.max(...lora0.rank.map((r) => r.rankAbove))).toBeLessThanOrEqual(2);
    expect(metrics.mechanism!.floors.map((f) => f.n)).toEqual([1, 2, 4, 8]);
    // the summary's claims follow from the numbers
    const summary = summarize(metrics).join(' ');
    const gaps = tiny.seeds.map((s) => {
      const fin = (name: string) => metrics.methods.find((m) => m.name === name && m.seed === s)!.accuracy.at(-1)!.charAccuracy;
      return fin('MoRA r=2 (type 6)') - fin('LoRA r=2');
    });
    const ahead = gaps.filter((g) => g > 0.005).length;
    const behind = gaps.filter((g) => g < -0.005).length;
    if (ahead === 2) expect(summary).toContain('**beat LoRA on every seed**');
    else if (behind === 2) expect(summary).toContain('**did not beat LoRA on any seed**');
    else expect(summary).toContain(`was ahead on ${ahead} and behind on ${behind} of 2 seeds`);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html.match(/<svg[\s>]/g)!.length).toBeGreaterThanOrEqual(6); // accuracy, loss, mechanism x2, spectra, ranks
    expect(html).toContain('Per seed');
    expect(phases).toContain('rank analysis');
    // the second run loads the cached base and format stage, runs the mechanism in one of two child
    // processes and the methods side by side in both (LoRA's seed 1 waiting for its seed 0's sweep,
    // the costliest runs first): the same numbers
    const again = await runExperiment({ ...tiny, name: 'smoke2' }, { runsDir: runs, jobs: 2 });
    expect(again.metrics.base.cached).toBe(true);
    expect(again.metrics.base.formatStage!.cached).toBe(true);
    const numbers = (ms: MethodResult[]) => ms.map((m) => ({ ...m, wallTimeSec: 0 }));
    expect(numbers(again.metrics.methods)).toEqual(numbers(metrics.methods));
    expect({ ...again.metrics.mechanism!, wallTimeSec: 0 }).toEqual({ ...metrics.mechanism!, wallTimeSec: 0 });
    // with a fresh cache the base trains again (the same seeded base), and meanwhile a worker trains
    // one step of each adapter method to compile their kernels: it changes no number either
    const warmPhases: string[] = [];
    const fresh = await runExperiment(
      { ...tiny, name: 'smoke3', mechanism: null },
      { runsDir: runs, cacheDir: join(runs, 'fresh-cache'), jobs: 2, callbacks: { onPhase: (m, p) => warmPhases.push(`${m}: ${p}`) } },
    );
    expect(fresh.metrics.base.cached).toBe(false);
    expect(warmPhases).toContain("kernels: compiling the fine-tuning runs' kernels in a worker while the base trains");
    expect(numbers(fresh.metrics.methods)).toEqual(numbers(metrics.methods));
    await expect(runExperiment(tiny, { runsDir: runs, jobs: 0 })).rejects.toThrow(/jobs must be an integer >= 1 .*got 0/);
    // `moragrad report` rebuilds the report from metrics.json
    const r = await quiet(() => main(['report', dir]));
    expect(r.value).toBe(0);
    expect(r.out).toContain('LoRA r=2');
  });

  it('a stop reaches the runs side by side: each worker ends after its step and the report keeps what ran', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'mg-demo-stop-'));
    let steps = 0;
    const { metrics } = await runExperiment(
      {
        ...tiny,
        name: 'stopped',
        seeds: [0],
        steps: 500,
        sweepSteps: 0,
        mechanism: null,
        methods: tiny.methods.map((m) => ({ ...m, lrs: [m.lrs[0]] })),
      },
      { runsDir: runs, jobs: 2, callbacks: { onStep: () => void steps++, shouldStop: () => steps >= 6 } },
    );
    expect(metrics.status).toBe('interrupted');
    // the two runs that had started stopped early; the third never started
    expect(metrics.methods.map((m) => m.status)).toEqual(['interrupted', 'interrupted']);
    for (const m of metrics.methods) expect(m.loss.length).toBeLessThan(50);
  });

  it('compare grids set every demo setting, expand methods x ranks, and reject bad grids with the file name', () => {
    const s = gridSpec(
      {
        methods: ['lora', 'mora', 'full'],
        ranks: [4, 8],
        lrs: [1e-3, 3e-3, 1e-2],
        steps: 90,
        seeds: 3,
        pairs: [8, 16],
        lossOn: 'all',
        alpha: 16,
        formatStage: false,
        sweepSteps: 30,
      },
      'g.json',
    );
    expect(s.methods.map((m) => m.name)).toEqual(['LoRA r=4', 'LoRA r=8', 'MoRA r=4 (type 6)', 'MoRA r=8 (type 6)', 'Full fine-tuning']);
    expect(s.methods[0]).toMatchObject({ alpha: 16, lrs: [1e-3, 3e-3, 1e-2] });
    expect(s).toMatchObject({ steps: 90, seeds: [0, 1, 2], pairsList: [8, 16], lossOn: 'all', formatStage: null, sweepSteps: 30 });
    const o = gridSpec(
      {
        methods: [
          { adapter: 'lora', r: 2, lrs: [1e-2] },
          { name: 'M', adapter: 'mora', r: 2, type: 1, lrs: [3e-3] },
        ],
        seeds: [4, 5],
      },
      'g.json',
    );
    expect(o.methods.map((m) => [m.name, m.alpha, m.type])).toEqual([
      ['LoRA r=2', 4, 6],
      ['M', undefined, 1],
    ]);
    expect(o.sweepSteps).toBe(0);
    expect(o.seeds).toEqual([4, 5]);
    expect(() => gridSpec({ methods: ['ia3'], lrs: [1] }, 'g.json')).toThrow(
      /g.json: unknown method 'ia3' \(expected full, lora, dora, mora\)/,
    );
    expect(gridSpec({ methods: ['dora'], ranks: [4], lrs: [1e-3] }, 'g.json').methods[0]).toMatchObject({
      name: 'DoRA r=4',
      adapter: 'dora',
      alpha: 8,
    });
    expect(() => gridSpec({ methods: ['lora'] }, 'g.json')).toThrow(/g.json: 'lrs' must be a non-empty array/);
    expect(() => gridSpec({ methods: ['lora'], lrs: [1e-3], target: ['q'] }, 'g.json')).toThrow(/g.json: unknown key 'target'/);
    expect(() => gridSpec({ methods: [{ adapter: 'lora', lrs: [1e-3], rank: 4 }] }, 'g.json')).toThrow(/methods\[0\]: unknown key 'rank'/);
    expect(() => gridSpec({ methods: ['lora'], lrs: [1e-3], lossOn: 'key' }, 'g.json')).toThrow(/'lossOn' must be "completion" or "all"/);
    expect(() => validateSpec({ ...s, methods: [{ ...s.methods[0], lrs: [1e-3, 2e-3] }] })).toThrow(/at least 3 learning rates/);
    expect(() => validateSpec({ ...s, sweepSteps: 500 })).toThrow(/sweepSteps \(500\) cannot exceed steps \(90\)/);
    expect(() => validateSpec({ ...s, mechanism: { ...DEMO.mechanism!, r: 64 } })).toThrow(
      /mechanism: r must be an integer in \[1, d\), got 64/,
    );
  });

  it('CLI: explain prints r̂, the budget, the rank and writes the SVG; bad input is one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-explain-'));
    const svg = join(dir, 'dw.svg');
    const r = await quiet(() =>
      main(['explain', '--adapter', 'mora', '--type', '6', '--in', '24', '--out', '16', '--r', '2', '--svg', svg]),
    );
    expect(r.value).toBe(0);
    expect(r.out).toContain('r̂ = floor(sqrt((k + d)·r) + 0.5) rounded down to even = 8');
    expect(r.out).toContain('rank of ΔW for a random M: 16');
    expect(r.out).toContain('M[0,0]: outputs {0,8} <- inputs {0,8,12}');
    expect(readFileSync(svg, 'utf8')).toContain('<svg');
    const bad = await quiet(() => main(['explain', '--type', '5']));
    expect(bad.value).toBe(2); // usage errors exit 2
    expect(bad.err).toMatch(/expected one of 1, 2, 3, 4, 6, truncation, decoupling, got '5'/);
    const grid = join(dir, 'grid.json');
    writeFileSync(grid, '{ not json');
    const g = await quiet(() => main(['compare', grid]));
    expect(g.value).toBe(2);
    expect(g.err).toMatch(/grid.json: not valid JSON/);
    const ft = await quiet(() => main(['finetune', '--base', '/nope.safetensors']));
    expect(ft.value).toBe(2);
    expect(ft.err).toMatch(/no such file or directory: \/nope.safetensors/);
  });
});
