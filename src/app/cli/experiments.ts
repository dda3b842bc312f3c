// `moragrad demo | finetune | compare | report | analyze | explain`: the experiments of the MoRA
// paper at small scale, and tools for studying PEFT internals.
// One file for the six experiment commands: they share the option parsers, the progress renderer and
// the grid reader; split, each command would import the same half of the file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { init } from '../../runtime.js';
import { DEMO, runExperiment, type ExperimentCallbacks, type ExperimentSpec } from '../experiments/demo.js';
import { DEFAULT_FORMAT_STAGE, type FormatStageConfig } from '../experiments/format.js';
import { DEFAULT_MECHANISM } from '../experiments/mechanism.js';
import type { MethodSpec } from '../experiments/finetune.js';
import { readMetrics } from '../experiments/metrics-file.js';
import { formatResultsTable, writeReport } from '../experiments/report.js';
import { analyzeDelta, hostWeights, isLinearWeight } from '../experiments/rank.js';
import { loadAdapter } from '../../adapters/peft-files.js';
import { loadGPT } from '../../train/gpt.js';
import { MORA_TYPES, type MoraType } from '../../ops/mora.js';
import { existingFile, existingPath, int, num, oneOf, runName } from './options.js';
import { checkExperiment } from './validate.js';
import { onInterrupt, progressBar, progressBars, type Bar } from './progress.js';
import { explain } from './explain.js';
import { runNameProblem } from '../../io/paths.js';

const list = (v: string): string[] => {
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) throw new InvalidArgumentError(`expected a comma-separated list, got '${v}'`);
  return items;
};
const moraType = (v: string): MoraType => {
  const t = /^\d+$/.test(v) ? Number(v) : v;
  if (!(MORA_TYPES as readonly unknown[]).includes(t))
    throw new InvalidArgumentError(`expected one of ${MORA_TYPES.join(', ')}, got '${v}'`);
  return t as MoraType;
};

/**
 * Renders experiment progress: a bar for the base and format stages, one per fine-tuning run (several
 * at once when runs go side by side), a line per accuracy checkpoint and per finished run.
 */
function renderer(stop: { requested(): boolean }, baseSteps: number): { callbacks: ExperimentCallbacks; close(): void } {
  let stage: Bar | null = null; // the base or format stage's bar
  let bars: ReturnType<typeof progressBars> | null = null; // the runs' bars, from the first run on
  const runs = new Map<string, { bar: Bar | null; total: number; phase: string }>(); // by `${method} · seed ${seed}`
  const label = (m: string, seed?: number) => (seed === undefined ? m : `${m} · seed ${seed}`);
  const run = (key: string) => {
    const r = runs.get(key) ?? { bar: null, total: 0, phase: '' };
    runs.set(key, r);
    return r;
  };
  const log = (line: string) => (bars ? bars.log(line) : console.error(line));
  const closeStage = () => {
    stage?.stop();
    stage = null;
  };
  const close = () => {
    closeStage();
    bars?.close();
    bars = null;
  };
  const callbacks: ExperimentCallbacks = {
    onBase: ({ cached, path }) =>
      console.error(cached ? `base model: cached ${path}` : `base model: pretraining on Moby Dick (cached afterwards at ${path})`),
    base: {
      onStart: (s) => {
        closeStage();
        stage = progressBar(baseSteps, s.resumedAt, 'pretrain loss {loss} | {tps} tok/s', { loss: '-', tps: '-' });
      },
      onStep: (s) => stage?.update(s.step, { loss: s.loss.toFixed(3), tps: Math.round(s.tokensPerSec) }),
      shouldStop: () => stop.requested(),
    },
    onFormatStage: ({ cached, path, steps }) =>
      console.error(
        cached
          ? `format stage: cached ${path}`
          : `format stage: ${steps} steps of full fine-tuning on random UUID pairs (cached afterwards at ${path})`,
      ),
    onMethodStart: (i, n, m, seed) => {
      closeStage();
      bars ??= progressBars();
      log(`[${i + 1}/${n}] ${m.name} · seed ${seed}`);
    },
    onPhase: (m, phase, seed) => {
      if (m === 'mechanism' || m === 'base' || m === 'kernels') return log(`${m}: ${phase}`);
      const key = label(m, seed);
      run(key).phase = phase;
      if (phase.startsWith('accuracy') || phase === 'rank analysis') log(`  ${key}: ${phase}`);
    },
    onStep: (m, step, steps, loss, seed) => {
      const shown = { loss: Number.isFinite(loss) ? loss.toFixed(3) : String(loss) };
      if (m === 'format stage') {
        if (step === 1 || !stage) stage = progressBar(steps, step - 1, 'format stage | loss {loss}', { loss: '-' });
        return stage.update(step, shown);
      }
      const key = label(m, seed);
      const r = run(key);
      if (step === 1 || !r.bar || r.total !== steps) {
        r.bar?.stop();
        r.total = steps;
        bars ??= progressBars();
        r.bar = bars.create(key, steps, step - 1, `${r.phase} | loss {loss}`, { loss: '-' });
      }
      r.bar.update(step, shown);
    },
    onMethodDone: (r) => {
      const key = label(r.name, r.seed);
      runs.get(key)?.bar?.stop();
      runs.delete(key);
      const last = r.accuracy[r.accuracy.length - 1];
      log(
        `  ${key} done: lr ${r.lr}, ${r.trainableParams} trainable, char accuracy ${last ? (100 * last.charAccuracy).toFixed(1) : '-'}% in ${r.wallTimeSec.toFixed(1)} s`,
      );
    },
    shouldStop: () => stop.requested(),
  };
  return { callbacks, close };
}

/**
 * Fine-tuning runs side by side by default: two processes keep a CPU adapter's cores busy where one
 * leaves part of them idle (src/app/experiments/jobs.ts); --jobs 1 runs them one by one in this process.
 */
const JOBS_HELP = 'fine-tuning runs side by side, each in its own process (1: one by one, in this process)';
const DEFAULT_JOBS = 2;

async function runAndReport(spec: ExperimentSpec, runsDir: string, jobs: number): Promise<void> {
  await checkExperiment(spec); // every argument, before any work
  await init();
  const stop = onInterrupt();
  const ui = renderer(stop, spec.base.steps);
  try {
    const { table, dir, metrics } = await runExperiment(spec, { runsDir, callbacks: ui.callbacks, jobs });
    ui.close();
    console.log(`\n${table}`);
    console.log(
      `\n${metrics.status === 'interrupted' ? 'interrupted: partial ' : ''}report: ${join(dir, 'report.html')} (and report.md, metrics.json)`,
    );
  } finally {
    ui.close();
    stop.dispose();
  }
}

export function registerExperiments(program: Command): void {
  program
    .command('demo')
    .description(
      "the paper's UUID memorisation experiment at small scale: full vs LoRA vs MoRA on every seed, learning rates swept, the mechanism, a report (~6-8 min on a 2-core lavapipe)",
    )
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--name <name>', 'run name (folder under --out)', runName, DEMO.name)
    .option('--seed <n>', 'first seed (task pairs, init and batch order)', int(0, 2 ** 31 - 1), DEMO.seeds[0])
    .option(
      '--seeds <n>',
      'run every method on this many seeds (seed, seed + 1, ...); the report gives mean ± sd',
      int(1, 100),
      DEMO.seeds.length,
    )
    .option(
      '--loss-on <part>',
      "completion (default) | all (the paper's literal setting: loss on the key too)",
      oneOf('completion', 'all'),
      DEMO.lossOn,
    )
    .option('--steps <n>', 'fine-tuning steps per method', int(1, 100_000), DEMO.steps)
    .option('--jobs <n>', JOBS_HELP, int(1, 64), DEFAULT_JOBS)
    .action(async (o) => {
      const sweepSteps = Math.min(DEMO.sweepSteps, o.steps);
      await runAndReport(
        { ...DEMO, name: o.name, seeds: seedList(o.seed, o.seeds), lossOn: o.lossOn, steps: o.steps, sweepSteps },
        o.out,
        o.jobs,
      );
    });

  program
    .command('finetune')
    .description(
      'fine-tune a base (a GPT checkpoint or a Hugging Face folder) with one method and write its report (--model use-lite: see finetune-use --help)',
    )
    .option(
      '--model <name>',
      'gpt (a --base checkpoint) | use-lite (the pretrained sentence encoder; flags in finetune-use --help)',
      oneOf('gpt', 'use-lite'),
      'gpt',
    )
    .requiredOption(
      '--base <path>',
      'base: a checkpoint from moragrad train, or a Hugging Face model folder (LLaMA / Qwen2 / GPT-2, safetensors)',
      existingPath,
    )
    .option('--adapter <kind>', 'mora | lora | dora | full', oneOf('mora', 'lora', 'dora', 'full'), 'mora')
    .option('--r <n>', 'budget rank (LoRA r; MoRA derives r̂ from it)', int(1, 4096), 8)
    .option('--type <t>', `MoRA type: ${MORA_TYPES.join(', ')}`, moraType, 6 as MoraType)
    .option('--alpha <x>', 'LoRA alpha', num(0), 16)
    .option('--targets <list>', 'module names to adapt (HF models: q_proj,k_proj,v_proj,o_proj,... / c_attn,...)', list, DEMO.targets)
    .option(
      '--lr <list>',
      'learning rate, or 3+ rates to sweep (each trained --sweep-steps, the best carries on)',
      (v) => list(v).map(num(0, 10)),
      [2e-3],
    )
    .option('--sweep-steps <n>', 'steps each swept rate trains before the best is kept (default: a third of --steps)', int(1))
    .option('--steps <n>', 'fine-tuning steps', int(1, 1_000_000), DEMO.steps)
    .option('--batch <n>', 'sequences per batch', int(1, 65_536), DEMO.batchSize)
    .option('--task <task>', 'uuid | corpus | <file.jsonl> ({"prompt","completion"} per line)', 'uuid')
    .option('--pairs <n>', 'examples of the uuid/corpus task', int(1, 1_000_000), DEMO.pairs)
    .option('--loss-on <part>', 'completion | all', oneOf('completion', 'all'), DEMO.lossOn)
    .option(
      '--format-steps <n>',
      'first train the base on disjoint random UUID pairs for n steps (cached; 0: no format stage)',
      int(0, 1_000_000),
      0,
    )
    .option('--remora-every <n>', 'merge and re-init every n steps (ReMoRA for MoRA, ReLoRA for LoRA)', int(0), 0)
    .option('--seed <n>', 'first seed', int(0, 2 ** 31 - 1), 0)
    .option('--seeds <n>', 'number of seeds', int(1, 100), 1)
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--name <name>', 'run name (folder under --out)', runName, 'finetune')
    .option('--save-adapter <dir>', 'write the adapter (PEFT layout: adapter_model.safetensors + adapter_config.json) here')
    .option('--jobs <n>', JOBS_HELP, int(1, 64), DEFAULT_JOBS)
    .action(async (o) => {
      if (o.task !== 'uuid' && o.task !== 'corpus') existingFile(o.task);
      const label = methodLabel(o.adapter, o.r, o.type);
      const method: MethodSpec = { name: label, adapter: o.adapter, r: o.r, type: o.type, alpha: o.alpha, lrs: o.lr };
      await runAndReport(
        {
          ...DEMO,
          name: o.name,
          seeds: seedList(o.seed, o.seeds),
          basePath: o.base,
          saveAdapterDir: o.saveAdapter,
          formatStage: o.formatSteps > 0 ? { ...DEFAULT_FORMAT_STAGE, steps: o.formatSteps } : null,
          task: o.task,
          pairs: o.pairs,
          lossOn: o.lossOn,
          steps: o.steps,
          batchSize: o.batch,
          targets: o.targets,
          methods: [method],
          sweepSteps: o.lr.length > 1 ? (o.sweepSteps ?? Math.max(1, Math.round(o.steps / 3))) : 0,
          restartEvery: o.remoraEvery,
          mechanism: null,
        },
        o.out,
        o.jobs,
      );
    });

  program
    .command('compare')
    .argument(
      '<grid.json>',
      'the grid (see docs/experiments.md): methods x ranks x lrs, or a list of method objects; every demo setting',
      existingFile,
    )
    .description('fine-tune a grid of methods from one base (capacity views: "pairs": [8, 16, 32, ...])')
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--jobs <n>', JOBS_HELP, int(1, 64), DEFAULT_JOBS)
    .action(async (file: string, o) => {
      let g: unknown;
      try {
        g = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new InvalidArgumentError(`${file}: not valid JSON (${(e as Error).message})`);
      }
      await runAndReport(gridSpec(g, file), o.out, o.jobs);
    });

  program
    .command('report')
    .argument('<run-dir>', 'a run directory holding metrics.json')
    .description('rebuild report.md and report.html from metrics.json')
    .action(async (dir: string) => {
      const m = await readMetrics(join(dir, 'metrics.json'));
      await writeReport(dir, m, { metrics: false });
      console.log(formatResultsTable(m));
      console.log(`\nreport: ${join(dir, 'report.html')}`);
    });

  program
    .command('analyze')
    .description("per-module rank statistics of an adapter's ΔW")
    .requiredOption('--base <checkpoint>', 'base checkpoint', existingFile)
    .requiredOption('--adapter <dir>', 'adapter directory (adapter_model.safetensors + adapter_config.json)')
    .option('--threshold <x>', 'count singular values above this', num(0), 0.1)
    .action(async (o) => {
      existingFile(join(o.adapter, 'adapter_config.json'));
      await init();
      const { model } = await loadGPT(o.base);
      const before = await hostWeights(model, isLinearWeight);
      const peft = await loadAdapter(o.adapter, model);
      const names = peft.layers.map(([n]) => `${n}.weight`);
      peft.mergeAndUnload();
      const after = await hostWeights(model, isLinearWeight);
      const rows = analyzeDelta(before, after, { threshold: o.threshold, include: (n) => names.includes(n) });
      console.log(`module                         shape       rank>${o.threshold}  stable rank  ‖ΔW‖_F`);
      for (const r of rows)
        console.log(
          `${r.name.padEnd(30)} ${`[${r.shape.join('x')}]`.padEnd(11)} ${String(r.rankAbove).padStart(8)}  ${r.stableRank.toFixed(2).padStart(11)}  ${r.frobenius.toExponential(3)}`,
        );
    });

  program
    .command('explain')
    .description('how an adapter maps inputs to outputs: r̂, budget vs LoRA, rank of ΔW, reach of M, an SVG heatmap')
    .option('--adapter <kind>', 'mora | lora', oneOf('mora', 'lora'), 'mora')
    .option('--type <t>', `MoRA type: ${MORA_TYPES.join(', ')}`, moraType, 6 as MoraType)
    .option('--in <n>', 'in_features', int(1, 4096), 24)
    .option('--out <n>', 'out_features', int(1, 4096), 16)
    .option('--r <n>', 'budget rank', int(1, 1024), 2)
    .option('--svg <file>', 'where to write the ΔW heatmap', 'delta-w.svg')
    .option('--seed <n>', 'seed of the random M (or A, B)', int(0), 0)
    .action(async (o) => {
      await init({ backend: 'cpu' });
      console.log(
        await explain({ adapter: o.adapter, type: o.type, inFeatures: o.in, outFeatures: o.out, r: o.r, svg: o.svg, seed: o.seed }),
      );
    });
}

const ADAPTERS = ['full', 'lora', 'dora', 'mora'];

/** 'Full fine-tuning', 'LoRA r=4', 'DoRA r=4', 'MoRA r=4 (type 6)'. */
export function methodLabel(adapter: string, r: number, type: MoraType): string {
  if (adapter === 'full') return 'Full fine-tuning';
  if (adapter === 'mora') return `MoRA r=${r} (type ${type})`;
  return `${adapter === 'lora' ? 'LoRA' : 'DoRA'} r=${r}`;
}

/** seed, seed + 1, ..., n of them. */
export function seedList(first: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => first + i);
}

const GRID_KEYS = [
  'name',
  'base',
  'formatStage',
  'task',
  'pairs',
  'lossOn',
  'seeds',
  'steps',
  'batchSize',
  'evalAt',
  'sweepSteps',
  'maxExtend',
  'targets',
  'methods',
  'ranks',
  'lrs',
  'type',
  'alpha',
  'restartEvery',
  'mechanism',
  'rankThreshold',
] as const;
const METHOD_KEYS = ['name', 'adapter', 'r', 'type', 'alpha', 'lrs'] as const;

/**
 * A compare grid -> an experiment. Every setting the demo has can be set (unknown keys are refused):
 *
 *   { "name": "capacity", "pairs": [8, 16, 32, 64, 128], "seeds": 3, "lossOn": "completion",
 *     "steps": 300, "sweepSteps": 100, "formatStage": { "steps": 150 } | false, "base": "<ckpt>",
 *     "methods": ["lora", "mora"], "ranks": [4], "lrs": [3e-3, 1e-2, 3e-2], "type": 6, "alpha": 8 }
 *
 * `methods` is either adapter kinds crossed with `ranks` (and `lrs`: one rate, or 3+ swept), or
 * explicit method objects { name?, adapter, r?, type?, alpha?, lrs }; adapters: full, lora, dora, mora. `pairs` as a list runs the
 * whole grid once per task size (the capacity view); `seeds` is a count or a list. `alpha` is LoRA's (and DoRA's)
 * alpha (a number), or "2r" (default) for twice the rank.
 */
export function gridSpec(g: unknown, file: string): ExperimentSpec {
  const bad = (msg: string): never => {
    throw new InvalidArgumentError(`${file}: ${msg}`);
  };
  if (typeof g !== 'object' || g === null || Array.isArray(g)) bad('the grid must be a JSON object');
  const o = g as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(GRID_KEYS as readonly string[]).includes(k)) bad(`unknown key '${k}' (known: ${GRID_KEYS.join(', ')})`);
  const posInt = (k: string, v: unknown, min = 1): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`'${k}' must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const rates = (k: string, v: unknown): number[] => {
    if (!Array.isArray(v) || v.length === 0) bad(`'${k}' must be a non-empty array of learning rates`);
    for (const x of v as unknown[])
      if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x)) bad(`'${k}' must hold positive numbers, got ${JSON.stringify(x)}`);
    return v as number[];
  };
  const typeOf = (v: unknown): MoraType => {
    if (!(MORA_TYPES as readonly unknown[]).includes(v))
      bad(`unknown MoRA type ${JSON.stringify(v)} (expected one of ${MORA_TYPES.join(', ')})`);
    return v as MoraType;
  };
  const alphaFor = (v: unknown, r: number): number => {
    if (v === undefined || v === '2r') return 2 * r;
    if (typeof v !== 'number' || !(v > 0)) bad(`'alpha' must be a positive number or "2r", got ${JSON.stringify(v)}`);
    return v as number;
  };
  const methods: MethodSpec[] = [];
  if (!Array.isArray(o.methods) || o.methods.length === 0) bad("'methods' must be a non-empty array");
  for (const [i, m] of (o.methods as unknown[]).entries()) {
    if (typeof m === 'string') {
      if (!ADAPTERS.includes(m)) bad(`unknown method '${m}' (expected ${ADAPTERS.join(', ')})`);
      const ranks = o.ranks === undefined ? [8] : (o.ranks as unknown[]);
      if (!Array.isArray(ranks) || ranks.length === 0) bad("'ranks' must be a non-empty array of integers");
      const type = typeOf(o.type ?? 6);
      for (const r of m === 'full' ? [0] : ranks.map((r) => posInt('ranks', r))) {
        methods.push({
          name: methodLabel(m, r, type),
          adapter: m as MethodSpec['adapter'],
          r: r || undefined,
          type,
          alpha: m === 'lora' || m === 'dora' ? alphaFor(o.alpha, r) : undefined,
          lrs: rates('lrs', o.lrs),
        });
      }
    } else if (typeof m === 'object' && m !== null && !Array.isArray(m)) {
      const x = m as Record<string, unknown>;
      for (const k of Object.keys(x))
        if (!(METHOD_KEYS as readonly string[]).includes(k)) bad(`methods[${i}]: unknown key '${k}' (known: ${METHOD_KEYS.join(', ')})`);
      if (!ADAPTERS.includes(x.adapter as string))
        bad(`methods[${i}].adapter must be one of ${ADAPTERS.join(', ')}, got ${JSON.stringify(x.adapter)}`);
      const adapter = x.adapter as MethodSpec['adapter'];
      const r = adapter === 'full' ? 0 : posInt(`methods[${i}].r`, x.r ?? 8);
      const type = typeOf(x.type ?? 6);
      if (x.name !== undefined && (typeof x.name !== 'string' || x.name === '')) bad(`methods[${i}].name must be a non-empty string`);
      methods.push({
        name: (x.name as string | undefined) ?? methodLabel(adapter, r, type),
        adapter,
        r: r || undefined,
        type,
        alpha: adapter === 'lora' || adapter === 'dora' ? alphaFor(x.alpha, r) : undefined,
        lrs: rates(`methods[${i}].lrs`, x.lrs),
      });
    } else bad(`methods[${i}] must be a method kind or an object`);
  }
  const seeds =
    o.seeds === undefined
      ? DEMO.seeds
      : typeof o.seeds === 'number'
        ? seedList(0, posInt('seeds', o.seeds))
        : Array.isArray(o.seeds)
          ? (o.seeds as unknown[]).map((s) => posInt('seeds', s, 0))
          : bad("'seeds' must be a count or a list of integers");
  const pairs =
    o.pairs === undefined
      ? [DEMO.pairs]
      : Array.isArray(o.pairs)
        ? (o.pairs as unknown[]).map((p) => posInt('pairs', p))
        : [posInt('pairs', o.pairs)];
  if (pairs.length === 0) bad("'pairs' must be a count or a non-empty list");
  if (o.lossOn !== undefined && o.lossOn !== 'all' && o.lossOn !== 'completion')
    bad(`'lossOn' must be "completion" or "all", got ${JSON.stringify(o.lossOn)}`);
  const targets = o.targets === undefined ? DEMO.targets : o.targets;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' && t !== ''))
    bad("'targets' must be a non-empty array of module names");
  let formatStage = DEMO.formatStage;
  if (o.formatStage === false || o.formatStage === null) formatStage = null;
  else if (o.formatStage !== undefined) {
    if (typeof o.formatStage !== 'object' || Array.isArray(o.formatStage))
      bad("'formatStage' must be an object { pairs, steps, batchSize, lr, seed } or false");
    const f = o.formatStage as Record<string, unknown>;
    for (const k of Object.keys(f)) if (!Object.keys(DEFAULT_FORMAT_STAGE).includes(k)) bad(`formatStage: unknown key '${k}'`);
    formatStage = { ...DEFAULT_FORMAT_STAGE, ...(f as Partial<FormatStageConfig>) };
  }
  if (
    o.evalAt !== undefined &&
    (!Array.isArray(o.evalAt) || !(o.evalAt as unknown[]).every((f) => typeof f === 'number' && f > 0 && f <= 1))
  )
    bad("'evalAt' must be fractions of the steps in (0, 1]");
  if (o.name !== undefined && runNameProblem(o.name)) bad(`'name' ${JSON.stringify(o.name)}: ${runNameProblem(o.name)}`);
  if (o.base !== undefined && typeof o.base !== 'string') bad("'base' must be a checkpoint path");
  if (o.task !== undefined && typeof o.task !== 'string') bad("'task' must be uuid, corpus or a .jsonl path");
  const steps = o.steps === undefined ? DEMO.steps : posInt('steps', o.steps);
  const anySweep = methods.some((m) => m.lrs.length > 1);
  return {
    ...DEMO,
    name: (o.name as string | undefined) ?? 'compare',
    basePath: o.base as string | undefined,
    formatStage,
    task: (o.task as string | undefined) ?? 'uuid',
    pairs: pairs[0],
    pairsList: pairs.length > 1 ? pairs : undefined,
    lossOn: (o.lossOn as 'all' | 'completion' | undefined) ?? DEMO.lossOn,
    seeds,
    steps,
    batchSize: o.batchSize === undefined ? DEMO.batchSize : posInt('batchSize', o.batchSize),
    evalAt: (o.evalAt as number[] | undefined) ?? DEMO.evalAt,
    sweepSteps: o.sweepSteps !== undefined ? posInt('sweepSteps', o.sweepSteps, 0) : anySweep ? Math.min(DEMO.sweepSteps, steps) : 0,
    maxExtend: o.maxExtend === undefined ? DEMO.maxExtend : posInt('maxExtend', o.maxExtend, 0),
    targets: targets as string[],
    methods,
    restartEvery: o.restartEvery === undefined ? 0 : posInt('restartEvery', o.restartEvery, 0),
    rankThreshold:
      o.rankThreshold === undefined
        ? DEMO.rankThreshold
        : typeof o.rankThreshold === 'number' && o.rankThreshold >= 0
          ? o.rankThreshold
          : bad("'rankThreshold' must be a number >= 0"),
    mechanism: o.mechanism === true ? DEFAULT_MECHANISM : null,
  };
}
