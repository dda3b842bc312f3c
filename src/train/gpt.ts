// Training a GPT on a corpus: the loop behind `moragrad train`. Reports progress through callbacks
// (the CLI renders them); nothing here prints. Resuming from a checkpoint restores the model, AdamW
// moments, step, batch sampler and dropout counters, so a resumed run continues bit for bit.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { BatchSampler, batchToTensors, sequentialBatches, splitTrainVal, type SamplerState } from '../data/batching.js';
import { loadMobyDick } from '../data/corpus.js';
import { Gpt2Tokenizer } from '../data/bpe.js';
import { CharTokenizer, tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../data/tokenizer.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import { Dropout } from '../nn/dropout.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { cosineLr } from '../optim/schedule.js';
import { noGrad } from '../autograd.js';
import { getBackend, tidy } from '../runtime.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { forwardBackward } from './step.js';

export interface ModelConfig {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  blockSize: number;
  dropout: number;
  positions: 'learned' | 'rotary';
  norm: 'layernorm' | 'rmsnorm';
  mlp: 'gelu' | 'swiglu';
  tiedHead: boolean;
}

export interface TrainConfig {
  model: ModelConfig;
  tokenizer: 'char' | 'gpt2';
  batchSize: number;
  steps: number;
  lr: number;
  minLr: number;
  warmup: number;
  weightDecay: number;
  gradClip: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  accum: number;
  evalEvery: number;
  evalBatches: number;
  valFraction: number;
  checkpointEvery: number;
  seed: number;
}

export const DEFAULT_TRAIN: TrainConfig = {
  model: {
    nLayer: 4,
    nHead: 4,
    nEmbd: 128,
    blockSize: 64,
    dropout: 0,
    positions: 'learned',
    norm: 'layernorm',
    mlp: 'gelu',
    tiedHead: true,
  },
  tokenizer: 'char',
  batchSize: 16,
  steps: 200,
  lr: 3e-3,
  minLr: 3e-4,
  warmup: 30,
  weightDecay: 0.1,
  gradClip: 1,
  accum: 1,
  evalEvery: 100,
  evalBatches: 8,
  valFraction: 0.1,
  checkpointEvery: 100,
  seed: 1337,
};

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  elapsedSec: number;
}

export interface EvalInfo {
  step: number;
  trainLoss: number;
  valLoss: number;
}

export interface TrainCallbacks {
  /** `steps`: the run's total (a resumed run's own, or the larger one it was asked to continue to). */
  onStart?(info: {
    params: number;
    trainTokens: number;
    valTokens: number;
    resumedAt: number;
    steps: number;
    adapter: string;
    tokenizer: string;
  }): void;
  onStep?(info: StepInfo): void;
  onEval?(info: EvalInfo): void;
  onCheckpoint?(path: string, step: number): void;
  /** Polled after every step: true stops the run (a checkpoint is written first). */
  shouldStop?(): boolean;
}

export interface TrainResult {
  checkpoint: string;
  step: number;
  stopped: boolean;
  history: { step: number; loss: number }[];
  evals: EvalInfo[];
}

/** The tokenizer a new pretraining run builds: the corpus's characters, or GPT-2's BPE. */
export function corpusTokenizer(kind: 'char' | 'gpt2', text?: string): Tokenizer {
  return kind === 'char' ? CharTokenizer.fromText(text ?? loadMobyDick()) : Gpt2Tokenizer.load();
}

/** Tokenizer + token stream of the corpus. */
export function prepareData(kind: 'char' | 'gpt2', tokJson?: TokenizerJSON): { tokenizer: Tokenizer; ids: Int32Array } {
  const text = loadMobyDick();
  const tokenizer = tokJson ? tokenizerFromJSON(tokJson) : corpusTokenizer(kind, text);
  return { tokenizer, ids: Int32Array.from(tokenizer.encode(text)) };
}

function dropoutModules(model: GPT): Dropout[] {
  return model
    .namedModules()
    .map(([, m]) => m)
    .filter((m): m is Dropout => m instanceof Dropout);
}

/** Mean loss over `n` batches in order from `ids` (no grad). */
export async function evaluate(model: GPT, ids: Int32Array, batchSize: number, blockSize: number, n: number): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let count = 0;
  try {
    for (const batch of sequentialBatches(ids, batchSize, blockSize, n)) {
      const loss = noGrad(() =>
        tidy(() => {
          const { x, y } = batchToTensors(batch);
          return model.forward(x, y).loss!;
        }),
      );
      total += await loss.item();
      loss.dispose();
      count++;
    }
  } finally {
    model.train(wasTraining);
  }
  if (count === 0) fail('evaluate', `the validation split (${ids.length} tokens) is shorter than one window of ${blockSize + 1}`);
  return total / count;
}

/** What a resumed run may change: how long it runs, and when it evaluates and saves (not the math of a step). */
export type ResumeOverrides = Partial<Pick<TrainConfig, 'steps' | 'evalEvery' | 'evalBatches' | 'checkpointEvery'>>;
export const RESUME_OVERRIDABLE: readonly (keyof ResumeOverrides)[] = ['steps', 'evalEvery', 'evalBatches', 'checkpointEvery'];

/**
 * Trains (or resumes) a GPT on Moby Dick. Writes `<outDir>/checkpoint.safetensors` every
 * `checkpointEvery` steps, when stopped, and at the end. A resumed run keeps the checkpoint's config
 * except for `overrides` (a larger `steps` continues the run; the cosine schedule stretches to it).
 */
export async function trainGPT(
  cfg: TrainConfig,
  opts: { outDir: string; resume?: string; overrides?: ResumeOverrides; callbacks?: TrainCallbacks },
): Promise<TrainResult> {
  const cb = opts.callbacks ?? {};
  let startStep = 0;
  let samplerState: SamplerState | null = null;
  let history: { step: number; loss: number }[] = [];
  let evals: EvalInfo[] = [];
  let resumed: Awaited<ReturnType<typeof loadCheckpoint>> | null = null;
  if (opts.resume) {
    resumed = await loadCheckpoint(opts.resume);
    const m = resumed.meta;
    cfg = { ...(m.config as TrainConfig) };
    for (const k of RESUME_OVERRIDABLE) if (opts.overrides?.[k] !== undefined) cfg[k] = opts.overrides[k]!;
    startStep = m.step;
    if (!m.sampler || !m.dropoutCalls) {
      for (const t of [...Object.values(resumed.model), ...Object.values(resumed.optimizer.tensors)]) t.dispose();
      fail(
        'train',
        `${opts.resume} holds no batch-sampler or dropout state (it was not written by a training run), so a run cannot resume from it; fine-tune from it instead`,
      );
    }
    if (cfg.steps < startStep) {
      for (const t of [...Object.values(resumed.model), ...Object.values(resumed.optimizer.tensors)]) t.dispose();
      fail(
        'train',
        `${opts.resume} is at step ${startStep}; steps ${cfg.steps} would not continue it (ask for more steps, or leave them as they are: ${m.config.steps})`,
      );
    }
    samplerState = m.sampler as SamplerState;
    history = (m.history as typeof history) ?? [];
    evals = (m.evals as EvalInfo[]) ?? [];
  }
  const { tokenizer, ids } = prepareData(cfg.tokenizer, resumed ? (resumed.meta.tokenizer as TokenizerJSON) : undefined);
  const { train, val } = splitTrainVal(ids, cfg.valFraction, cfg.seed);
  const modelCfg: GPTConfig = { ...cfg.model, vocabSize: tokenizer.vocabSize, seed: cfg.seed };
  const model = new GPT(modelCfg);
  const params = model.parameters();
  // No weight decay for biases and norm gains (1-D parameters), as in nanoGPT.
  const decay = params.filter((p) => p.ndim >= 2);
  const noDecay = params.filter((p) => p.ndim < 2);
  const optimizer = new AdamW(
    [
      { params: decay, weightDecay: cfg.weightDecay },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: cfg.lr, betas: [0.9, 0.95], eps: 1e-8 },
  );
  const sampler = new BatchSampler(train, { batchSize: cfg.batchSize, blockSize: cfg.model.blockSize, seed: cfg.seed });
  const drops = dropoutModules(model);
  if (resumed) {
    model.loadStateDict(resumed.model);
    optimizer.loadStateDict(resumed.optimizer);
    sampler.state = samplerState!;
    const calls = resumed.meta.dropoutCalls as number[];
    drops.forEach((d, i) => (d.calls = calls[i] ?? 0));
    for (const t of [...Object.values(resumed.model), ...Object.values(resumed.optimizer.tensors)]) t.dispose();
  }
  mkdirSync(opts.outDir, { recursive: true });
  const ckptPath = join(opts.outDir, 'checkpoint.safetensors');
  cb.onStart?.({
    params: model.numParameters(),
    trainTokens: train.length,
    valTokens: val.length,
    resumedAt: startStep,
    steps: cfg.steps,
    adapter: getBackend().description,
    tokenizer: tokenizer.name,
  });

  const save = async (step: number) => {
    await saveCheckpoint(ckptPath, {
      model: model.stateDict(),
      optimizer: optimizer.stateDict(),
      meta: {
        config: cfg,
        step,
        sampler: sampler.state,
        dropoutCalls: drops.map((d) => d.calls),
        tokenizer: tokenizer.toJSON(),
        history,
        evals,
      },
    });
    cb.onCheckpoint?.(ckptPath, step);
  };

  const schedule = cosineLr({ lr: cfg.lr, warmup: Math.min(cfg.warmup, cfg.steps), total: cfg.steps, minLr: cfg.minLr });
  const tokensPerStep = cfg.batchSize * cfg.model.blockSize * cfg.accum;
  const t0 = performance.now();
  let step = startStep;
  let stopped = false;
  model.train();
  while (step < cfg.steps) {
    const lr = schedule.lrAt(step);
    for (const g of optimizer.groups) g.lr = lr;
    let lossSum = 0;
    for (let a = 0; a < cfg.accum; a++) {
      // grads accumulate across micro-batches; scale so the step sees their mean
      const loss = forwardBackward(
        () => {
          const { x, y } = batchToTensors(sampler.next());
          return model.forward(x, y).loss!;
        },
        { scale: 1 / cfg.accum },
      );
      lossSum += await loss.item();
      loss.dispose();
    }
    let gradNorm = NaN;
    if (cfg.gradClip > 0) {
      const norm = clipGradNorm(params, cfg.gradClip);
      gradNorm = await norm.item();
      norm.dispose();
    }
    optimizer.step();
    optimizer.zeroGrad();
    step++;
    const loss = lossSum / cfg.accum;
    if (!Number.isFinite(loss)) fail('train', `the loss became ${loss} at step ${step} (lr ${lr}); lower --lr or check the data`);
    history.push({ step, loss });
    const elapsedSec = (performance.now() - t0) / 1000;
    cb.onStep?.({
      step,
      steps: cfg.steps,
      loss,
      lr,
      gradNorm,
      tokensPerSec: ((step - startStep) * tokensPerStep) / elapsedSec,
      elapsedSec,
    });
    if (step % cfg.evalEvery === 0 || step === cfg.steps) {
      const e = {
        step,
        trainLoss: history.slice(-Math.min(20, history.length)).reduce((s, h) => s + h.loss, 0) / Math.min(20, history.length),
        valLoss: await evaluate(model, val, cfg.batchSize, cfg.model.blockSize, cfg.evalBatches),
      };
      evals.push(e);
      cb.onEval?.(e);
    }
    if (cb.shouldStop?.()) {
      stopped = true;
      break;
    }
    if (step % cfg.checkpointEvery === 0 && step < cfg.steps) await save(step);
  }
  await save(step);
  model.dispose();
  optimizer.dispose();
  return { checkpoint: ckptPath, step, stopped, history, evals };
}

/** Loads a GPT and its tokenizer from a training checkpoint (for sampling and fine-tuning). */
export async function loadGPT(
  path: string,
  opts: { allowNonFinite?: boolean } = {},
): Promise<{ model: GPT; tokenizer: Tokenizer; config: TrainConfig; step: number }> {
  const c = await loadCheckpoint(path, { allowNonFinite: opts.allowNonFinite });
  const config = c.meta.config as TrainConfig;
  let model: GPT | null = null;
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(c.meta.tokenizer as TokenizerJSON);
    model = new GPT({ ...config.model, vocabSize: tokenizer.vocabSize, seed: config.seed });
    model.loadStateDict(c.model);
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    for (const t of [...Object.values(c.model), ...Object.values(c.optimizer.tensors)]) t.dispose();
  }
  model.eval();
  return { model, tokenizer, config, step: c.meta.step as number };
}
