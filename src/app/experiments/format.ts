// The format stage: full fine-tuning of the pretrained base on random UUID key:value pairs that are
// never task pairs, so the model knows what a UUID looks like before the memorisation task starts.
//
// Why: the paper fine-tunes LLaMA, which has seen hex strings; a small model pretrained on Moby Dick
// has not, and with its embeddings, final norm and tied head frozen, a LoRA or MoRA update on the
// attention and MLP projections cannot even learn the format (completion loss stuck far above the
// format-only floor of UUID_FORMAT_LOSS). After this stage the base scores the format-only level
// (UUID_FORMAT_BASELINE) and what the adapters add on top of it is memorised knowledge.
//
// The stage's pairs come from a seed stream apart from every task seed (formatSeed below), and
// `assertDisjoint` checks that no key or value of the task appears among them.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail } from '../../errors.js';
import { batchToTensors } from '../../data/batching.js';
import { AdamW } from '../../optim/adamw.js';
import { clipGradNorm } from '../../optim/clip.js';
import { cosineLr } from '../../optim/schedule.js';
import { loadGPT } from '../../train/gpt.js';
import { saveCheckpoint } from '../../train/checkpoint.js';
import { TaskBatcher } from './task.js';
import { makeUuidTask, type UuidTask } from './uuid.js';
import { forwardBackward } from '../../train/step.js';

export interface FormatStageConfig {
  /** Random UUID pairs to train on (none of them a task pair). */
  pairs: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

/** What `moragrad demo` runs: enough to reach the format-only floor at width 64 (about 30 s on lavapipe). */
export const DEFAULT_FORMAT_STAGE: FormatStageConfig = { pairs: 4096, steps: 150, batchSize: 32, lr: 3e-3, seed: 0 };

/**
 * The seed of the format stage's pair stream: far from the small seeds tasks use, so the two
 * HostRng streams are unrelated (disjointness is still checked, not assumed).
 */
export const formatSeed = (seed: number): number => (0x5eed_f0a7 ^ Math.imul(seed + 1, 0x9e3779b1)) >>> 0;

/** The format stage's pairs: a UUID task of `pairs` pairs drawn from the format seed stream. */
export function formatTask(cfg: Pick<FormatStageConfig, 'pairs' | 'seed'>): UuidTask {
  return makeUuidTask({ n: cfg.pairs, seed: formatSeed(cfg.seed) });
}

/** Throws if any key or value of `task` occurs among the format stage's keys or values. */
export function assertDisjoint(format: UuidTask, task: UuidTask): void {
  const seen = new Set<string>();
  for (const p of format.pairs) seen.add(p.key).add(p.value);
  for (const p of task.pairs) {
    for (const s of [p.key, p.value]) {
      if (seen.has(s))
        fail('formatStage', `the format stage's pairs contain ${s}, which the task memorises; the stage must never see task pairs`);
    }
  }
}

export interface FormatStageResult {
  checkpoint: string;
  /** Training loss per step. */
  loss: number[];
  wallTimeSec: number;
}

/**
 * Trains the base at `basePath` on the format task (loss on the whole sequence, every parameter
 * trained, cosine learning rate) and writes a training checkpoint at `outPath` that `loadGPT` reads
 * like any base. `onStep` sees every step's loss.
 */
export async function runFormatStage(
  basePath: string,
  outPath: string,
  cfg: FormatStageConfig,
  opts: { onStep?(step: number, steps: number, loss: number): void; shouldStop?(): boolean } = {},
): Promise<FormatStageResult | null> {
  const op = 'formatStage';
  for (const k of ['pairs', 'steps', 'batchSize'] as const) {
    if (!Number.isSafeInteger(cfg[k]) || cfg[k] < 1) fail(op, `${k} must be a positive integer, got ${String(cfg[k])}`);
  }
  if (!(cfg.lr > 0 && Number.isFinite(cfg.lr))) fail(op, `lr must be a positive number, got ${String(cfg.lr)}`);
  const { model, tokenizer, config } = await loadGPT(basePath);
  const task = formatTask(cfg);
  const params = model.parameters();
  const opt = new AdamW(params, { lr: cfg.lr, betas: [0.9, 0.99], weightDecay: 0 });
  const schedule = cosineLr({ lr: cfg.lr, warmup: Math.min(10, cfg.steps), total: cfg.steps, minLr: cfg.lr / 10 });
  const batcher = new TaskBatcher({ ...task, lossOn: 'all' }, tokenizer, {
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    blockSize: model.config.blockSize,
  });
  const loss: number[] = [];
  const t0 = performance.now();
  model.unfreeze();
  model.train();
  try {
    for (let step = 0; step < cfg.steps; step++) {
      for (const g of opt.groups) g.lr = schedule.lrAt(step);
      const l = forwardBackward(() => {
        const { x, y } = batchToTensors(batcher.next());
        return model.forward(x, y).loss!;
      });
      clipGradNorm(params, 1).dispose();
      opt.step();
      opt.zeroGrad();
      const v = await l.item();
      l.dispose();
      if (!Number.isFinite(v)) fail(op, `the loss became ${v} at step ${step + 1} (lr ${cfg.lr})`);
      loss.push(v);
      opts.onStep?.(step + 1, cfg.steps, v);
      if (opts.shouldStop?.()) return null;
    }
    mkdirSync(dirname(outPath), { recursive: true });
    await saveCheckpoint(outPath, {
      model: model.stateDict(),
      optimizer: { tensors: {}, steps: {}, groups: [] },
      meta: {
        config,
        step: cfg.steps,
        tokenizer: tokenizer.toJSON(),
        history: loss.map((v, i) => ({ step: i + 1, loss: v })),
        evals: [],
        formatStage: { base: basePath, ...cfg },
      },
    });
    return { checkpoint: outPath, loss, wallTimeSec: (performance.now() - t0) / 1000 };
  } finally {
    opt.dispose();
    model.dispose();
  }
}
