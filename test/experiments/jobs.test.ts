// The scheduler of an experiment's fine-tuning runs (src/app/experiments/jobs.ts) with a fake runner:
// results in the jobs' order, never more than `slots` at once, a method's later seeds wait for its
// first seed's swept rate and get it, and a failure or interruption stops new starts. The real
// child processes are compared with in-process runs in demo.test.ts.
import { describe, expect, it } from 'vitest';
import { partialResults, plannedCost, runJobs, type JobRunner, type MethodJob } from '../../src/app/experiments/jobs.js';
import type { MethodResult } from '../../src/app/experiments/metrics.js';

const job = (name: string, seed: number, lrs: number[]): MethodJob => ({
  spec: { name, adapter: 'lora', r: 2, lrs },
  rateKey: name,
  options: {
    basePath: '',
    task: { name: 't', examples: [], eos: '', lossOn: 'all' },
    steps: 1,
    batchSize: 1,
    evalSteps: [],
    targets: [],
    seed,
    rankThreshold: 0.1,
  },
});

const result = (j: MethodJob, lr: number, status: MethodResult['status'] = 'complete'): MethodResult =>
  ({ name: j.spec.name, seed: j.options.seed, lr, status }) as MethodResult;

/** A runner whose jobs finish after `ms(job)` milliseconds; records starts and the peak concurrency. */
function fakeRunner(ms: (j: MethodJob) => number, opts: { sweep?: (j: MethodJob) => number; fail?: string; interrupt?: string } = {}) {
  const log: string[] = [];
  let running = 0;
  let peak = 0;
  const run: JobRunner = async (j, lr) => {
    const id = `${j.spec.name}/${j.options.seed}`;
    log.push(`start ${id} lr=${lr ?? '-'}`); // '-': the job's own (first seed: swept)
    peak = Math.max(peak, ++running);
    await new Promise((r) => setTimeout(r, ms(j)));
    running--;
    log.push(`end ${id}`);
    if (opts.fail === id) throw new Error(`${id} broke`);
    const chosen = lr ?? (j.spec.lrs.length > 1 ? opts.sweep?.(j) : undefined) ?? j.spec.lrs[0];
    return result(j, chosen, opts.interrupt === id ? 'interrupted' : 'complete');
  };
  return { run, log, peak: () => peak };
}

describe('runJobs', () => {
  const jobs = [job('A', 0, [1, 2, 3]), job('B', 0, [5]), job('A', 1, [1, 2, 3]), job('B', 1, [5]), job('A', 2, [1, 2, 3])];

  it('runs one by one in order on one slot, and later seeds reuse the first seed’s rate', async () => {
    const f = fakeRunner(() => 1, { sweep: () => 2 });
    const r = await runJobs(jobs, { slots: 1, run: f.run, callbacks: {} });
    expect(r.map((x) => `${x.name}/${x.seed}:${x.lr}`)).toEqual(['A/0:2', 'B/0:5', 'A/1:2', 'B/1:5', 'A/2:2']);
    expect(f.log.filter((l) => l.startsWith('start'))).toEqual([
      'start A/0 lr=-',
      'start B/0 lr=-',
      'start A/1 lr=2',
      'start B/1 lr=5',
      'start A/2 lr=2',
    ]);
    expect(f.peak()).toBe(1);
  });

  it('runs side by side on two slots, a later seed starting only once its rate is known, results in job order', async () => {
    // A/0 (the sweep) is slow: B/0 and B/1 run meanwhile; A/1 and A/2 wait for A/0 though a slot is free
    const f = fakeRunner((j) => (j.spec.name === 'A' && j.options.seed === 0 ? 60 : 5), { sweep: () => 3 });
    const r = await runJobs(jobs, { slots: 2, run: f.run, callbacks: {} });
    expect(r.map((x) => `${x.name}/${x.seed}:${x.lr}`)).toEqual(['A/0:3', 'B/0:5', 'A/1:3', 'B/1:5', 'A/2:3']);
    expect(f.peak()).toBe(2);
    const at = (l: string) => f.log.indexOf(l);
    expect(at('start A/1 lr=3')).toBeGreaterThan(at('end A/0'));
    expect(at('start A/2 lr=3')).toBeGreaterThan(at('end A/0'));
    expect(at('end B/1')).toBeLessThan(at('end A/0'));
  });

  it('stops starting jobs after a failure, lets the running ones end, and rethrows with the results so far', async () => {
    const f = fakeRunner((j) => (j.spec.name === 'B' ? 30 : 5), { fail: 'A/0' });
    const err = await runJobs(jobs, { slots: 2, run: f.run, callbacks: {} }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('A/0 broke');
    expect(partialResults(err).map((x) => `${x.name}/${x.seed}`)).toEqual(['B/0']); // B/0 was running and finished
    expect(f.log.filter((l) => l.startsWith('start')).length).toBe(2);
  });

  it('with a cost, the costliest job that may start starts first; results stay in job order', async () => {
    const named = ['A', 'B', 'C', 'D'].map((n) => job(n, 0, [1]));
    const cost: Record<string, number> = { A: 1, B: 3, C: 2, D: 5 };
    const f = fakeRunner(() => 5);
    const r = await runJobs(named, { slots: 2, run: f.run, callbacks: {}, cost: (j) => cost[j.spec.name] });
    expect(f.log.filter((l) => l.startsWith('start'))).toEqual(['start D/0 lr=-', 'start B/0 lr=-', 'start C/0 lr=-', 'start A/0 lr=-']);
    expect(r.map((x) => x.name)).toEqual(['A', 'B', 'C', 'D']);
    // a later seed still waits for its rate, however costly: A/1 and A/2 start after A/0 ends
    const g = fakeRunner(() => 5, { sweep: () => 2 });
    await runJobs(jobs, { slots: 2, run: g.run, callbacks: {}, cost: (j) => (j.spec.name === 'A' ? 10 : 1) });
    const at = (l: string) => g.log.indexOf(l);
    expect(g.log[0]).toBe('start A/0 lr=-');
    expect(at('start A/1 lr=2')).toBeGreaterThan(at('end A/0'));
  });

  it('plannedCost counts the sweep candidates of a first seed and weighs the adapter', () => {
    const base = job('L', 0, [1, 2, 3]);
    const j = { ...base, options: { ...base.options, steps: 450, sweepSteps: 100 } };
    const lora = plannedCost(j, true);
    expect(lora).toBe(3 * 100 + 350);
    expect(plannedCost(j, false)).toBe(450); // a later seed: its rate is given
    expect(plannedCost({ ...j, spec: { ...j.spec, lrs: [1] } }, true)).toBe(450); // one rate: nothing to sweep
    expect(plannedCost({ ...j, spec: { ...j.spec, adapter: 'mora' } }, true)).toBeGreaterThan(lora);
    expect(plannedCost({ ...j, spec: { ...j.spec, adapter: 'full' } }, true)).toBeGreaterThan(lora);
  });

  it('runJobs tells the cost whether a job sweeps: a later seed, once its rate is known, costs its steps only', async () => {
    // A sweeps (cost 10) on seed 0; once its rate is known, A/1 costs 1 and B/0 (5) goes before it
    const f = fakeRunner(() => 5, { sweep: () => 2 });
    const cost = (j: MethodJob, sweeps: boolean) => (j.spec.name === 'B' ? 5 : sweeps ? 10 : 1);
    await runJobs([job('A', 0, [1, 2, 3]), job('A', 1, [1, 2, 3]), job('B', 0, [5])], { slots: 1, run: f.run, callbacks: {}, cost });
    expect(f.log.filter((l) => l.startsWith('start'))).toEqual(['start A/0 lr=-', 'start B/0 lr=-', 'start A/1 lr=2']);
  });

  it('stops starting jobs once one is interrupted, and tells the running ones to stop', async () => {
    let stopSeen = false;
    const f = fakeRunner(() => 5, { interrupt: 'A/0' });
    const run: JobRunner = async (j, lr, cb) => {
      const r = await f.run(j, lr, cb);
      if (j.spec.name === 'B') stopSeen = cb.shouldStop!(); // B/0 ends after A/0 was interrupted
      return r;
    };
    const slow: JobRunner = async (j, lr, cb) => {
      if (j.spec.name === 'B') await new Promise((res) => setTimeout(res, 20));
      return run(j, lr, cb);
    };
    const r = await runJobs(jobs, { slots: 2, run: slow, callbacks: {} });
    expect(r.map((x) => `${x.name}/${x.seed}:${x.status}`)).toEqual(['A/0:interrupted', 'B/0:complete']);
    expect(stopSeen).toBe(true);
  });
});
