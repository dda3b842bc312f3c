// `moragrad demo | finetune | compare | report | analyze | explain`: the experiments of the MoRA
// paper at small scale, and tools for studying PEFT internals.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { init } from '../runtime.js';
import { DEMO, runExperiment, type ExperimentCallbacks, type ExperimentSpec } from '../experiments/demo.js';
import type { MethodSpec } from '../experiments/finetune.js';
import { readMetrics } from '../experiments/metrics.js';
import { formatResultsTable, writeReport } from '../experiments/report.js';
import { analyzeDelta, hostWeights, isLinearWeight } from '../experiments/rank.js';
import { loadAdapter } from '../adapters/peft-files.js';
import { loadGPT } from '../train/gpt.js';
import { MORA_TYPES, type MoraType } from '../ops/mora.js';
import { existingFile, int, num, oneOf } from './options.js';
import { onInterrupt, progressBar, type Bar } from './progress.js';
import { explain } from './explain.js';

const list = (v: string): string[] => {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new InvalidArgumentError(`expected a comma-separated list, got '${v}'`);
  return items;
};
const moraType = (v: string): MoraType => {
  const t = /^\d+$/.test(v) ? Number(v) : v;
  if (!(MORA_TYPES as readonly unknown[]).includes(t)) throw new InvalidArgumentError(`expected one of ${MORA_TYPES.join(', ')}, got '${v}'`);
  return t as MoraType;
};

/** Renders experiment progress: one bar per phase, a line per finished method. */
function renderer(stop: { requested(): boolean }, baseSteps: number): { callbacks: ExperimentCallbacks; close(): void } {
  const ui: { bar: Bar | null; phase: string } = { bar: null, phase: '' };
  const close = () => {
    ui.bar?.stop();
    ui.bar = null;
  };
  const callbacks: ExperimentCallbacks = {
    onBase: ({ cached, path }) => console.error(cached ? `base model: cached ${path}` : `base model: pretraining on Moby Dick (cached afterwards at ${path})`),
    base: {
      onStart: (s) => {
        close();
        ui.bar = progressBar(baseSteps, s.resumedAt, 'pretrain loss {loss} | {tps} tok/s', { loss: '-', tps: '-' });
      },
      onStep: (s) => ui.bar?.update(s.step, { loss: s.loss.toFixed(3), tps: Math.round(s.tokensPerSec) }),
      shouldStop: () => stop.requested(),
    },
    onMethodStart: (i, n, m) => {
      close();
      console.error(`\n[${i + 1}/${n}] ${m.name}`);
    },
    onPhase: (_m, phase) => {
      ui.phase = phase;
      if (phase.startsWith('accuracy') || phase === 'rank analysis') ui.bar?.log(`  ${phase}`);
    },
    onStep: (_m, step, steps, loss) => {
      if (step === 1) {
        close();
        ui.bar = progressBar(steps, 0, `${ui.phase} | loss {loss}`, { loss: '-' });
      }
      ui.bar?.update(step, { loss: Number.isFinite(loss) ? loss.toFixed(3) : String(loss) });
    },
    onMethodDone: (r) => {
      close();
      const last = r.accuracy[r.accuracy.length - 1];
      console.error(`  done: lr ${r.lr}, ${r.trainableParams} trainable, char accuracy ${last ? (100 * last.charAccuracy).toFixed(1) : '-'}% in ${r.wallTimeSec.toFixed(1)} s`);
    },
    shouldStop: () => stop.requested(),
  };
  return { callbacks, close };
}

async function runAndReport(spec: ExperimentSpec, runsDir: string): Promise<void> {
  await init();
  const stop = onInterrupt();
  const ui = renderer(stop, spec.base.steps);
  try {
    const { table, dir, metrics } = await runExperiment(spec, { runsDir, callbacks: ui.callbacks });
    ui.close();
    console.log(`\n${table}`);
    console.log(`\n${metrics.status === 'interrupted' ? 'interrupted: partial ' : ''}report: ${join(dir, 'report.html')} (and report.md, metrics.json)`);
  } finally {
    ui.close();
    stop.dispose();
  }
}

export function registerExperiments(program: Command): void {
  program
    .command('demo')
    .description("the paper's UUID memorisation experiment at small scale: full vs LoRA vs MoRA, with a report (~5 min on lavapipe)")
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--name <name>', 'run name (folder under --out)', DEMO.name)
    .option('--seed <n>', 'seed of the task, init and batches', int(0), DEMO.seed)
    .action(async (o) => runAndReport({ ...DEMO, name: o.name, seed: o.seed }, o.out));

  program
    .command('finetune')
    .description('fine-tune a base GPT checkpoint with one method and write its report (--model use-lite: see finetune-use --help)')
    .option('--model <name>', 'gpt (a --base checkpoint) | use-lite (the pretrained sentence encoder; flags in finetune-use --help)', oneOf('gpt', 'use-lite'), 'gpt')
    .requiredOption('--base <checkpoint>', 'base checkpoint (from moragrad train)', existingFile)
    .option('--adapter <kind>', 'mora | lora | full', oneOf('mora', 'lora', 'full'), 'mora')
    .option('--r <n>', 'budget rank (LoRA r; MoRA derives r̂ from it)', int(1, 4096), 8)
    .option('--type <t>', `MoRA type: ${MORA_TYPES.join(', ')}`, moraType, 6 as MoraType)
    .option('--alpha <x>', 'LoRA alpha', num(0), 16)
    .option('--targets <list>', 'module names to adapt', list, DEMO.targets)
    .option('--lr <list>', 'learning rate(s); several = a sweep', (v) => list(v).map(num(0, 10)), [2e-3])
    .option('--steps <n>', 'fine-tuning steps', int(1), DEMO.steps)
    .option('--batch <n>', 'sequences per batch', int(1), DEMO.batchSize)
    .option('--task <task>', 'uuid | corpus | <file.jsonl> ({"prompt","completion"} per line)', 'uuid')
    .option('--pairs <n>', 'examples of the uuid/corpus task', int(1), DEMO.pairs)
    .option('--remora-every <n>', 'merge and re-init every n steps (ReMoRA for MoRA, ReLoRA for LoRA)', int(0), 0)
    .option('--seed <n>', 'seed', int(0), 0)
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--name <name>', 'run name', 'finetune')
    .action(async (o) => {
      if (o.task !== 'uuid' && o.task !== 'corpus') existingFile(o.task);
      const label = o.adapter === 'full' ? 'Full fine-tuning' : o.adapter === 'lora' ? `LoRA r=${o.r}` : `MoRA r=${o.r} (type ${o.type})`;
      const method: MethodSpec = { name: label, adapter: o.adapter, r: o.r, type: o.type, alpha: o.alpha, lrs: o.lr };
      await runAndReport(
        { ...DEMO, name: o.name, seed: o.seed, basePath: o.base, task: o.task, pairs: o.pairs, steps: o.steps, batchSize: o.batch, targets: o.targets, methods: [method], sweepSteps: Math.max(1, Math.round(o.steps / 4)), restartEvery: o.remoraEvery },
        o.out,
      );
    });

  program
    .command('compare')
    .argument('<grid.json>', 'the grid: { base?, task?, pairs?, steps?, batchSize?, targets?, methods: [...], ranks: [...], lrs: [...], type? }', existingFile)
    .description('fine-tune a grid of methods x ranks x learning rates from one base')
    .option('--out <dir>', 'runs directory', 'runs')
    .action(async (file: string, o) => {
      let g: Record<string, unknown>;
      try {
        g = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
      }
      await runAndReport(gridSpec(g, file), o.out);
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
    .description('per-module rank statistics of an adapter\'s ΔW')
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
      for (const r of rows) console.log(`${r.name.padEnd(30)} ${`[${r.shape.join('x')}]`.padEnd(11)} ${String(r.rankAbove).padStart(8)}  ${r.stableRank.toFixed(2).padStart(11)}  ${r.frobenius.toExponential(3)}`);
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
      console.log(await explain({ adapter: o.adapter, type: o.type, inFeatures: o.in, outFeatures: o.out, r: o.r, svg: o.svg, seed: o.seed }));
    });
}

/** A compare grid -> an experiment: every (method, rank, lr) is one fine-tune. */
export function gridSpec(g: Record<string, unknown>, file: string): ExperimentSpec {
  const bad = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const arr = <T>(k: string, fallback?: T[]): T[] => {
    const v = g[k] ?? fallback;
    if (!Array.isArray(v) || v.length === 0) bad(`'${k}' must be a non-empty array`);
    return v as T[];
  };
  const methods = arr<string>('methods');
  for (const m of methods) if (!['full', 'lora', 'mora'].includes(m)) bad(`unknown method '${m}' (expected full, lora, mora)`);
  const ranks = arr<number>('ranks', [8]);
  const lrs = arr<number>('lrs');
  for (const v of [...ranks, ...lrs]) if (typeof v !== 'number' || !(v > 0)) bad(`ranks and lrs must be positive numbers, got ${JSON.stringify(v)}`);
  const type = (g.type ?? 6) as MoraType;
  if (!(MORA_TYPES as readonly unknown[]).includes(type)) bad(`unknown MoRA type ${JSON.stringify(g.type)}`);
  const specs: MethodSpec[] = [];
  for (const m of methods) {
    for (const r of m === 'full' ? [0] : ranks) {
      for (const lr of lrs) {
        const label = m === 'full' ? 'Full' : m === 'lora' ? `LoRA r=${r}` : `MoRA r=${r} (type ${type})`;
        specs.push({ name: `${label} lr=${lr}`, adapter: m as MethodSpec['adapter'], r: r || undefined, type, alpha: 2 * r, lrs: [lr] });
      }
    }
  }
  const num = (k: string, d: number): number => {
    const v = g[k] ?? d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(`'${k}' must be a positive integer`);
    return v as number;
  };
  return {
    ...DEMO,
    name: typeof g.name === 'string' ? g.name : 'compare',
    basePath: typeof g.base === 'string' ? g.base : undefined,
    task: typeof g.task === 'string' ? g.task : 'uuid',
    pairs: num('pairs', DEMO.pairs),
    steps: num('steps', DEMO.steps),
    batchSize: num('batchSize', DEMO.batchSize),
    targets: Array.isArray(g.targets) ? (g.targets as string[]) : DEMO.targets,
    methods: specs,
    sweepSteps: 0,
  };
}
