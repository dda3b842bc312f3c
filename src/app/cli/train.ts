// `moragrad train` and `moragrad sample`.
import { InvalidArgumentError, type Command } from 'commander';
import { join } from 'node:path';
import { DEFAULT_TRAIN, RESUME_OVERRIDABLE, trainGPT, type ResumeOverrides, type TrainConfig } from '../../train/gpt.js';
import { readCheckpointMeta } from '../../train/checkpoint.js';
import { loadBase } from '../experiments/base.js';
import { loadAdapter } from '../../adapters/peft-files.js';
import { HfTokenizer } from '../models/hf/tokenizer.js';
import { init } from '../../runtime.js';
import { tensor } from '../../ops/creation.js';
import { existingFile, existingPath, int, num, oneOf } from './options.js';
import { onInterrupt, progressBar, type Bar } from './progress.js';

export function registerTrain(program: Command): void {
  const d = DEFAULT_TRAIN;
  program
    .command('train')
    .description('train a small GPT on Moby Dick (defaults finish in a few minutes on lavapipe)')
    .option('--layers <n>', 'transformer blocks', int(1, 64), d.model.nLayer)
    .option('--heads <n>', 'attention heads', int(1, 64), d.model.nHead)
    .option('--width <n>', 'embedding width (multiple of --heads)', int(1, 4096), d.model.nEmbd)
    .option('--context <n>', 'context length in tokens', int(2, 4096), d.model.blockSize)
    .option('--dropout <p>', 'dropout probability', num(0, 0.99), d.model.dropout)
    .option('--positions <kind>', 'learned | rotary', oneOf('learned', 'rotary'), d.model.positions)
    .option('--norm <kind>', 'layernorm | rmsnorm', oneOf('layernorm', 'rmsnorm'), d.model.norm)
    .option('--mlp <kind>', 'gelu | swiglu', oneOf('gelu', 'swiglu'), d.model.mlp)
    .option('--untied-head', 'a separate LM head instead of the tied token embedding')
    .option('--tokenizer <kind>', 'char | gpt2', oneOf('char', 'gpt2'), d.tokenizer)
    .option('--batch <n>', 'sequences per micro-batch', int(1, 4096), d.batchSize)
    .option('--accum <n>', 'micro-batches per step (gradient accumulation)', int(1, 1024), d.accum)
    .option('--steps <n>', 'optimizer steps', int(1), d.steps)
    .option('--lr <x>', 'peak learning rate', num(0, 10), d.lr)
    .option('--min-lr <x>', 'final learning rate of the cosine schedule', num(0, 10), d.minLr)
    .option('--warmup <n>', 'linear warm-up steps', int(0), d.warmup)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (matrices only)', num(0, 10), d.weightDecay)
    .option('--grad-clip <x>', 'clip the global gradient norm (0: off)', num(0), d.gradClip)
    .option('--eval-every <n>', 'validation loss every n steps', int(1), d.evalEvery)
    .option('--eval-batches <n>', 'validation batches per evaluation', int(1), d.evalBatches)
    .option('--checkpoint-every <n>', 'write the checkpoint every n steps', int(1), d.checkpointEvery)
    .option('--seed <n>', 'seed of init, data split and batches', int(0), d.seed)
    .option('--out <dir>', 'output directory', 'runs/gpt')
    .option('--resume <checkpoint>', 'continue a run from its checkpoint (its config; --steps may extend it)', existingFile)
    .action(async (o, cmd: Command) => {
      const cfg: TrainConfig = {
        model: {
          nLayer: o.layers,
          nHead: o.heads,
          nEmbd: o.width,
          blockSize: o.context,
          dropout: o.dropout,
          positions: o.positions,
          norm: o.norm,
          mlp: o.mlp,
          tiedHead: !o.untiedHead,
        },
        tokenizer: o.tokenizer,
        batchSize: o.batch,
        steps: o.steps,
        lr: o.lr,
        minLr: Math.min(o.minLr, o.lr),
        warmup: o.warmup,
        weightDecay: o.weightDecay,
        gradClip: o.gradClip,
        accum: o.accum,
        evalEvery: o.evalEvery,
        evalBatches: o.evalBatches,
        valFraction: d.valFraction,
        checkpointEvery: o.checkpointEvery,
        seed: o.seed,
      };
      if (cfg.model.nEmbd % cfg.model.nHead !== 0)
        throw new InvalidArgumentError(`--width ${cfg.model.nEmbd} must be a multiple of --heads ${cfg.model.nHead}`);
      const overrides = o.resume ? await resumeOverrides(o.resume, cfg, (k) => cmd.getOptionValueSource(k) === 'cli') : undefined;
      await init();
      const stop = onInterrupt();
      const ui: { bar: Bar | null } = { bar: null };
      try {
        const r = await trainGPT(cfg, {
          outDir: o.out,
          resume: o.resume,
          overrides,
          callbacks: {
            onStart: (s) => {
              console.error(
                `moragrad train: ${(s.params / 1e6).toFixed(2)}M parameters, ${s.tokenizer} tokens: ${s.trainTokens} train / ${s.valTokens} val, on ${s.adapter}`,
              );
              if (s.resumedAt) console.error(`  resumed at step ${s.resumedAt}`);
              ui.bar = progressBar(s.steps, s.resumedAt, 'loss {loss} | {tps} tok/s', { loss: '-', tps: '-' });
            },
            onStep: (s) => ui.bar?.update(s.step, { loss: s.loss.toFixed(4), tps: Math.round(s.tokensPerSec) }),
            onEval: (e) => ui.bar?.log(`  step ${e.step}: train loss ${e.trainLoss.toFixed(4)}, val loss ${e.valLoss.toFixed(4)}`),
            shouldStop: () => stop.requested(),
          },
        });
        ui.bar?.stop();
        console.error(`${r.stopped ? 'stopped' : 'done'} at step ${r.step}; checkpoint: ${r.checkpoint}`);
        if (r.evals.length) {
          const e = r.evals[r.evals.length - 1];
          console.log(`final: step ${e.step}, train loss ${e.trainLoss.toFixed(4)}, val loss ${e.valLoss.toFixed(4)}`);
        }
      } finally {
        ui.bar?.stop();
        stop.dispose();
      }
    });

  program
    .command('sample')
    .description('generate text from a training checkpoint or a Hugging Face model folder, optionally with an adapter')
    .option('--checkpoint <path>', 'checkpoint.safetensors written by train', existingFile)
    .option('--base <path>', 'a checkpoint, or a Hugging Face model folder (LLaMA / GPT-2, safetensors)', existingPath)
    .option('--adapter <dir>', 'apply this adapter (adapter_model.safetensors + adapter_config.json) to the base')
    .option('--allow-non-finite', 'load weights holding NaN / Inf (to inspect a broken run)')
    .option('--prompt <text>', 'text to continue', '\n')
    .option('--tokens <n>', 'tokens to generate', int(1, 100000), 200)
    .option('--temperature <x>', 'sampling temperature (0: greedy)', num(0, 100), 0.8)
    .option('--top-k <n>', 'sample among the k most likely tokens', int(1))
    .option('--seed <n>', 'sampling seed', int(0), 0)
    .action(async (o) => {
      const path: string | undefined = o.base ?? o.checkpoint;
      if (!path || (o.base && o.checkpoint))
        throw new InvalidArgumentError('give the model with --base <checkpoint or HF folder> (or --checkpoint <file>), once');
      if (o.adapter) existingFile(join(o.adapter, 'adapter_config.json'));
      await init();
      const { model, tokenizer } = await loadBase(path, { allowNonFinite: o.allowNonFinite === true });
      if (o.adapter) await loadAdapter(o.adapter, model, { allowNonFinite: o.allowNonFinite === true });
      // an HF tokenizer adds what its post-processor adds to a prompt (LLaMA's <s>), as transformers does
      const ids = tokenizer instanceof HfTokenizer ? tokenizer.encode(o.prompt, { addSpecialTokens: true }) : tokenizer.encode(o.prompt);
      if (ids.length === 0) throw new InvalidArgumentError('--prompt encodes to no tokens');
      const idx = tensor(ids, [1, ids.length], { dtype: 'int32' });
      const out = await model.generate(idx, o.tokens, { temperature: o.temperature, topK: o.topK, seed: o.seed });
      const all = Array.from(await out.data());
      console.log(tokenizer instanceof HfTokenizer ? tokenizer.decode(all, { skipSpecialTokens: true }) : tokenizer.decode(all));
    });
}

/** The train flags and where each lands in TrainConfig (for --resume's contradiction check). */
const FLAG_FIELDS: [string, string, (c: TrainConfig) => unknown][] = [
  ['layers', '--layers', (c) => c.model.nLayer],
  ['heads', '--heads', (c) => c.model.nHead],
  ['width', '--width', (c) => c.model.nEmbd],
  ['context', '--context', (c) => c.model.blockSize],
  ['dropout', '--dropout', (c) => c.model.dropout],
  ['positions', '--positions', (c) => c.model.positions],
  ['norm', '--norm', (c) => c.model.norm],
  ['mlp', '--mlp', (c) => c.model.mlp],
  ['untiedHead', '--untied-head', (c) => !c.model.tiedHead],
  ['tokenizer', '--tokenizer', (c) => c.tokenizer],
  ['batch', '--batch', (c) => c.batchSize],
  ['accum', '--accum', (c) => c.accum],
  ['lr', '--lr', (c) => c.lr],
  ['minLr', '--min-lr', (c) => c.minLr],
  ['warmup', '--warmup', (c) => c.warmup],
  ['weightDecay', '--weight-decay', (c) => c.weightDecay],
  ['gradClip', '--grad-clip', (c) => c.gradClip],
  ['seed', '--seed', (c) => c.seed],
];

/**
 * For `train --resume`: the flags a resumed run honours (--steps, --eval-every, --eval-batches,
 * --checkpoint-every), after refusing every other flag given on the command line whose value
 * contradicts the checkpoint's config. Reads the checkpoint's metadata only.
 */
async function resumeOverrides(path: string, cli: TrainConfig, given: (key: string) => boolean): Promise<ResumeOverrides> {
  const meta = await readCheckpointMeta(path);
  const saved = meta.config as TrainConfig;
  const conflicts = FLAG_FIELDS.filter(([key, , get]) => given(key) && get(cli) !== get(saved)).map(
    ([, flag, get]) => `${flag} ${String(get(cli))} (the checkpoint has ${String(get(saved))})`,
  );
  if (conflicts.length)
    throw new InvalidArgumentError(
      `--resume continues the checkpoint's run with its own config; these flags contradict it: ${conflicts.join(', ')}. Drop them, or start a new run in another --out`,
    );
  const out: ResumeOverrides = {};
  for (const k of RESUME_OVERRIDABLE) if (given(k)) out[k] = cli[k]; // option keys are the field names
  if (out.steps !== undefined && out.steps < meta.step)
    throw new InvalidArgumentError(
      `--steps ${out.steps} is below the checkpoint's step ${meta.step}; a resumed run continues to a larger --steps`,
    );
  return out;
}
