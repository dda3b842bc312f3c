// An experiment's fine-tuning runs, side by side. Every (method, task, seed) is one job; `runJobs`
// starts each as soon as it may on `slots` slots and returns the results in the jobs' order, whatever
// order they finished in. A method's later seeds reuse the rate its first seed swept, so they wait
// for that job; everything else is independent.
//
// A slot is this process (one slot: the runs go one after another, in order) or a child process of
// a `WorkerPool` (src/app/experiments/method-worker.ts), each with its own device. Why processes: one
// small-model training process leaves part of a CPU adapter idle (its kernels are too short to split
// evenly over lavapipe's threads, and they wait while the JavaScript records the next step); two
// processes keep the cores busy (docs/performance.md "Runs side by side" has the measurements).
//
// The numbers do not depend on the slots: every run is seeded, and a child runs the same kernels
// on the same shapes as this process would.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { MoragradError } from '../../errors.js';
import type { BackendName } from '../../runtime.js';
import type { FinetuneCallbacks, MethodSpec, RunMethodOptions } from './finetune.js';
import type { MechanismConfig, MechanismResult } from './mechanism.js';
import type { MethodResult } from './metrics.js';
import type { WarmRequest } from './warm.js';

/** One fine-tuning run of an experiment. */
export interface MethodJob {
  spec: MethodSpec;
  /** Everything but the callbacks and the rate (`lr` is filled in for a method's later seeds). */
  options: Omit<RunMethodOptions, 'callbacks' | 'lr'>;
  /** Jobs with the same key share a rate: the first one sweeps it, the others wait and reuse it. */
  rateKey: string;
}

/** Runs one job somewhere (this process or a child) with these callbacks. */
export type JobRunner = (job: MethodJob, lr: number | undefined, callbacks: FinetuneCallbacks) => Promise<MethodResult>;

export interface RunJobsOptions {
  slots: number;
  run: JobRunner;
  callbacks: FinetuneCallbacks;
  /**
   * A job's expected running time in any unit (`plannedCost`); `sweeps`: it will sweep its rate (the
   * first of its rateKey), not reuse one. Among the jobs that may start, the costliest starts first,
   * so the last run to end is a short one (longest-first scheduling). Absent: job order. Only the
   * order of starts depends on it, never a number.
   */
  cost?: (job: MethodJob, sweeps: boolean) => number;
  onStart?(job: MethodJob, index: number): void;
  onDone?(result: MethodResult, index: number): void;
}

/**
 * Relative time per training step at the demo's shapes on a CPU adapter (lavapipe, docs/performance.md
 * "Runs side by side" and "Kernels compiled ahead"): full fine-tuning also computes the weights'
 * gradients; MoRA's fused kernels take 1.2-1.4x LoRA's step when two runs share the machine, and with
 * a cold shader cache its first steps compile them unless the warm-up did (src/app/experiments/warm.ts);
 * DoRA's (not measured) sits between LoRA's and full fine-tuning's.
 */
const STEP_COST: Record<MethodJob['spec']['adapter'], number> = { full: 1.15, lora: 1, dora: 1.1, mora: 1.3 };

/**
 * A job's planned work in LoRA-step units: when it `sweeps` (a method's first seed), the sweep's
 * candidates (extensions not counted) for `sweepSteps` each, then the winner's remaining steps; else
 * its steps at the rate it is given.
 */
export function plannedCost(job: MethodJob, sweeps: boolean): number {
  const { steps, sweepSteps = 0 } = job.options;
  const swept = sweeps && job.spec.lrs.length > 1 && sweepSteps > 0;
  const planned = swept ? job.spec.lrs.length * sweepSteps + steps - sweepSteps : steps;
  return planned * STEP_COST[job.spec.adapter];
}

/**
 * Runs `jobs` on `slots` slots: a job starts when a slot is free and its rate is known (or it is the
 * first of its rateKey, which sweeps it), the costliest such job first (`cost`; else, and on ties,
 * the earliest). Stops starting jobs once one is
 * interrupted or fails; a failure is rethrown after the running jobs have stopped, with the results
 * so far on the error (`partial`). Results come back in the jobs' order.
 */
export async function runJobs(jobs: readonly MethodJob[], o: RunJobsOptions): Promise<MethodResult[]> {
  const results: (MethodResult | undefined)[] = new Array(jobs.length);
  const rate = new Map<string, number>();
  const started = new Set<string>();
  const waiting = jobs.map((_, i) => i);
  const running = new Map<number, Promise<void>>();
  let stopped = false;
  let failure: unknown = null;
  const cb: FinetuneCallbacks = { ...o.callbacks, shouldStop: () => stopped || (o.callbacks.shouldStop?.() ?? false) };
  const startable = (i: number) => {
    const j = jobs[i];
    return j.spec.lrs.length === 1 || rate.has(j.rateKey) || !started.has(j.rateKey);
  };
  while (waiting.length || running.size) {
    while (!stopped && running.size < o.slots) {
      const cost = (i: number) => o.cost?.(jobs[i], !rate.has(jobs[i].rateKey)) ?? 0;
      let w = -1;
      for (let k = 0; k < waiting.length; k++) if (startable(waiting[k]) && (w < 0 || cost(waiting[k]) > cost(waiting[w]))) w = k;
      if (w < 0) break;
      const i = waiting.splice(w, 1)[0];
      const job = jobs[i];
      const lr = rate.get(job.rateKey);
      started.add(job.rateKey);
      o.onStart?.(job, i);
      const p = o
        .run(job, lr, cb)
        .then((r) => {
          results[i] = r;
          if (!rate.has(job.rateKey)) rate.set(job.rateKey, r.lr);
          o.onDone?.(r, i);
          if (r.status !== 'complete') stopped = true;
        })
        .catch((e: unknown) => {
          failure ??= e;
          stopped = true;
        })
        .finally(() => running.delete(i));
      running.set(i, p);
    }
    if (!running.size) break; // stopped, or nothing left that can start
    await Promise.race(running.values());
  }
  const done = results.filter((r): r is MethodResult => r !== undefined);
  if (failure) throw Object.assign(failure instanceof Error ? failure : new Error(String(failure)), { partial: done });
  return done;
}

/** The results a failed `runJobs` had collected before it stopped. */
export function partialResults(e: unknown): MethodResult[] {
  return ((e as { partial?: MethodResult[] }).partial ?? []).slice();
}

/** What the parent asks of a worker: a fine-tuning job, the mechanism experiment, or the kernel warm-up. */
export type WorkerRequest =
  | { type: 'run'; spec: MethodSpec; options: RunMethodOptions }
  | { type: 'mechanism'; config: MechanismConfig }
  | { type: 'warm'; request: WarmRequest };

/** Messages from the parent to a worker: a request with its id, or 'stop' for the running job. */
export type ToWorker = (WorkerRequest & { id: number }) | { type: 'stop' };

/** Messages from a worker to the parent. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'step'; id: number; method: string; step: number; steps: number; loss: number; seed?: number }
  | { type: 'phase'; id: number; method: string; phase: string; seed?: number }
  | { type: 'done'; id: number; result: MethodResult | MechanismResult | string[] } // the request's answer
  | { type: 'error'; id: number; message: string };

/** The worker's file beside this one (.ts under tsx and vitest, .js in dist/). */
function workerEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  return { file: join(dirname(here), ts ? 'method-worker.ts' : 'method-worker.js'), execArgv: ts ? ['--import', 'tsx'] : [] };
}

/** Dawn's note on every device created on lavapipe (scripts/setup.sh hides it too). */
const DAWN_LIMIT_NOTE = /artificially reduced/;

/**
 * `size` child processes, each with its own device on `backend`, running one job at a time. Their
 * progress reaches the callbacks of the job they run; `close()` ends them.
 */
export class WorkerPool {
  private readonly idle: ChildProcess[] = [];
  private readonly queue: ((w: ChildProcess) => void)[] = [];
  private readonly all: ChildProcess[] = [];
  private readonly ready: Promise<void>;
  private nextId = 0;

  constructor(
    readonly size: number,
    backend: BackendName,
  ) {
    const { file, execArgv } = workerEntry();
    const starts: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      const w = fork(file, [backend], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
      // Forward the worker's stderr except Dawn's note on its device limits.
      createInterface({ input: w.stderr! }).on('line', (l) => {
        if (!DAWN_LIMIT_NOTE.test(l)) process.stderr.write(`${l}\n`);
      });
      this.all.push(w);
      starts.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: FromWorker) => {
            if (m.type !== 'ready') return;
            w.off('message', onMsg);
            w.off('exit', onExit);
            this.idle.push(w);
            resolve();
          };
          const onExit = (code: number | null) =>
            reject(new MoragradError('runExperiment', `a fine-tuning worker process exited (code ${code}) before it was ready`));
          w.on('message', onMsg);
          w.once('exit', onExit);
        }),
      );
    }
    this.ready = Promise.all(starts).then(() => undefined);
    this.ready.catch(() => this.close());
  }

  /** Runs one job in the next free worker. */
  readonly run: JobRunner = (job, lr, cb) =>
    this.call<MethodResult>(
      { type: 'run', spec: job.spec, options: { ...job.options, lr } },
      `'${job.spec.name}' (seed ${job.options.seed})`,
      cb,
    );

  /**
   * The mechanism experiment (cpu backend) in the next free worker: it runs there while this process
   * trains the base, on the core one training process leaves idle.
   */
  mechanism(config: MechanismConfig): Promise<MechanismResult> {
    return this.call<MechanismResult>({ type: 'mechanism', config }, 'the mechanism experiment', {});
  }

  /**
   * One training step of every adapter method in the next free worker (src/app/experiments/warm.ts):
   * it compiles the runs' kernels into the shader cache while this process trains the base.
   */
  warm(request: WarmRequest): Promise<string[]> {
    return this.call<string[]>({ type: 'warm', request }, 'the kernel warm-up', {});
  }

  /** Sends `request` to the next free worker and settles with its answer ('done'). */
  private async call<T>(request: WorkerRequest, what: string, cb: FinetuneCallbacks): Promise<T> {
    await this.ready;
    const w = this.idle.pop() ?? (await new Promise<ChildProcess>((res) => this.queue.push(res)));
    const id = this.nextId++;
    try {
      return await new Promise<T>((resolve, reject) => {
        let stopSent = false;
        const onMsg = (m: FromWorker) => {
          if (!('id' in m) || m.id !== id) return;
          if (m.type === 'step') cb.onStep?.(m.method, m.step, m.steps, m.loss, m.seed);
          else if (m.type === 'phase') cb.onPhase?.(m.method, m.phase, m.seed);
          else if (m.type === 'done') return finish(() => resolve(m.result as T));
          else if (m.type === 'error') return finish(() => reject(new MoragradError('runExperiment', `${what}: ${m.message}`)));
          if (!stopSent && cb.shouldStop?.()) {
            stopSent = true;
            w.send({ type: 'stop' } satisfies ToWorker);
          }
        };
        const onExit = (code: number | null, signal: string | null) =>
          finish(() =>
            reject(new MoragradError('runExperiment', `the worker process running ${what} died (${signal ?? `exit code ${code}`})`)),
          );
        const finish = (settle: () => void) => {
          w.off('message', onMsg);
          w.off('exit', onExit);
          settle();
        };
        w.on('message', onMsg);
        w.once('exit', onExit);
        w.send({ ...request, id } satisfies ToWorker);
      });
    } finally {
      if (w.exitCode === null && w.signalCode === null) {
        const next = this.queue.shift();
        if (next) next(w);
        else this.idle.push(w);
      }
    }
  }

  /** Ends every worker (they hold no state between jobs). */
  close(): void {
    for (const w of this.all) if (w.exitCode === null && w.signalCode === null) w.kill();
  }
}
