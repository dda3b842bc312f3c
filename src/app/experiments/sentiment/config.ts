// The sentiment comparison's configuration (methods, depth, budgets, learning rates) with its
// defaults and checks, and the shape of its results (what metrics.json holds).
import { fail } from '../../../errors.js';
import type { BackendName } from '../../../runtime.js';
import type { MoraType } from '../../../ops/mora.js';
import type { Environment } from '../metrics.js';
import type { SentimentSource } from './data.js';

export type SentimentMethod = 'probe' | 'full' | 'lora' | 'mora1' | 'mora6';
export const SENTIMENT_METHODS: readonly SentimentMethod[] = ['probe', 'full', 'lora', 'mora1', 'mora6'];
export type SentimentDepth = 'pooler' | 'encoder';

export interface SentimentConfig {
  methods: SentimentMethod[];
  depth: SentimentDepth;
  /** LoRA rank; MoRA gets the same budget (r̂ = round(√((in + out)·r))). */
  r: number;
  /** LoRA α (scaling α/r). */
  alpha: number;
  epochs: number;
  batchSize: number;
  /** Learning rate of the head (every method). */
  lrHead: number;
  /** Learning rate of the LoRA / MoRA parameters. */
  lrAdapter: number;
  /** Learning rate of the pretrained weights under full fine-tuning. */
  lrFull: number;
  weightDecay: number;
  /** Dropout on the embedding before the head. */
  dropout: number;
  /** Features are multiplied by this before the head (1: the L2-normalised embedding as is). */
  featureScale: number;
  /** Linear warm-up steps, then cosine decay to 10 %. */
  warmup: number;
  seed: number;
  /** Use only the first n training / test sentences of each file (0: all). */
  limit: number;
  /** Sentences per forward pass when computing features and evaluating the encoder. */
  evalBatchSize: number;
  dataDir?: string;
  modelDir?: string;
}

export const DEFAULT_SENTIMENT: Readonly<SentimentConfig> = {
  methods: [...SENTIMENT_METHODS],
  depth: 'pooler',
  r: 8,
  alpha: 16,
  epochs: 5,
  batchSize: 32,
  lrHead: 1e-2,
  lrAdapter: 3e-4,
  lrFull: 1e-4,
  weightDecay: 0,
  dropout: 0.1,
  featureScale: 1,
  warmup: 20,
  seed: 0,
  limit: 0,
  evalBatchSize: 64,
};

export interface EvalPoint {
  epoch: number;
  /** Optimizer steps done. */
  step: number;
  testLoss: number;
  testAcc: number;
  /** Mean training loss over the epoch (null at epoch 0). */
  trainLoss: number | null;
}

export interface SentimentMethodResult {
  method: SentimentMethod;
  /** Display name, e.g. 'MoRA type 6 (r̂ = 90)'. */
  name: string;
  adapter: 'probe' | 'full' | 'lora' | 'mora';
  r: number | null;
  /** MoRA: r̂ of the first adapted layer (the name shows the range when layers differ). */
  R: number | null;
  type: MoraType | null;
  /** Adapted modules (LoRA / MoRA), e.g. ['pooler']. */
  targets: string[];
  /** Trainable scalars besides the head, and the head's. */
  trainableParams: number;
  headParams: number;
  /** Learning rate of the non-head parameters (null for the probe). */
  lr: number | null;
  steps: number;
  /** Training loss per step. */
  loss: number[];
  evals: EvalPoint[];
  finalAcc: number;
  bestAcc: number;
  wallTimeSec: number;
}

export interface SentimentResult {
  name: string;
  createdAt: string;
  status: 'complete' | 'interrupted';
  config: SentimentConfig;
  environment: Environment;
  data: {
    train: number;
    test: number;
    trainSources: SentimentSource[];
    testSources: SentimentSource[];
    meanTokens: number;
    maxTokens: number;
  };
  features: { cached: boolean; wallTimeSec: number };
  methods: SentimentMethodResult[];
  wallTimeSec: number;
}

export interface SentimentCallbacks {
  /** A phase starts: 'load', 'features' (total = sentences) or a method (total = steps). */
  onPhase?(phase: string, total: number): void;
  onProgress?(done: number, payload?: Record<string, string | number>): void;
  onEval?(method: string, e: EvalPoint): void;
  log?(line: string): void;
  /** Polled between steps: stop after the current one (what finished is reported). */
  shouldStop?(): boolean;
}

export interface RunSentimentOptions {
  /** Folder for the feature cache (features.safetensors); no caching without it. */
  outDir?: string;
  backend?: BackendName;
  callbacks?: SentimentCallbacks;
}

/** The adapter, MoRA type and display label of a method; unknown methods fail. */
export function methodInfo(m: SentimentMethod): { adapter: SentimentMethodResult['adapter']; type: MoraType | null; label: string } {
  switch (m) {
    case 'probe':
      return { adapter: 'probe', type: null, label: 'Linear probe' };
    case 'full':
      return { adapter: 'full', type: null, label: 'Full fine-tuning' };
    case 'lora':
      return { adapter: 'lora', type: null, label: 'LoRA' };
    case 'mora1':
      return { adapter: 'mora', type: 1, label: 'MoRA type 1' };
    case 'mora6':
      return { adapter: 'mora', type: 6, label: 'MoRA type 6' };
    default:
      return fail('sentiment', `unknown method '${String(m)}' (expected one of ${SENTIMENT_METHODS.join(', ')})`);
  }
}

/** The adapted Linear layers at each depth. */
export function sentimentTargets(depth: SentimentDepth): string[] {
  return depth === 'pooler' ? ['pooler'] : ['q', 'k', 'v', 'o', 'residual', 'up', 'down', 'pooler'];
}

/** Fails naming the first field out of range. */
export function checkSentimentConfig(cfg: SentimentConfig): void {
  const op = 'runSentiment';
  if (!Array.isArray(cfg.methods) || cfg.methods.length === 0)
    fail(op, `methods must list at least one of ${SENTIMENT_METHODS.join(', ')}`);
  for (const m of cfg.methods) methodInfo(m);
  if (cfg.depth !== 'pooler' && cfg.depth !== 'encoder') fail(op, `depth must be 'pooler' or 'encoder', got '${String(cfg.depth)}'`);
  for (const k of ['r', 'epochs', 'batchSize', 'evalBatchSize'] as const)
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) fail(op, `${k} must be a positive integer, got ${String(cfg[k])}`);
  for (const k of ['lrHead', 'lrAdapter', 'lrFull', 'featureScale'] as const)
    if (!(cfg[k] > 0)) fail(op, `${k} must be > 0, got ${String(cfg[k])}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) fail(op, `dropout must be in [0, 1), got ${cfg.dropout}`);
  if (!Number.isInteger(cfg.limit) || cfg.limit < 0) fail(op, `limit must be a non-negative integer, got ${cfg.limit}`);
}

/** Mean-pooled states of `texts`, from the cache in outDir when it holds exactly these. */
