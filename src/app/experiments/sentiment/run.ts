// The sentiment comparison's run: load the sentences and USE-lite, compute (or read back) the
// mean-pooled states, then train every method on the same batches from the same head init and
// evaluate on the test sentences after every epoch. Configuration and result types: ./config.ts.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fail } from '../../../errors.js';
import { tensor } from '../../../ops/creation.js';
import { HostRng } from '../../../ops/random.js';
import { noGrad } from '../../../autograd.js';
import { tidy, type BackendName } from '../../../runtime.js';
import type { Tensor } from '../../../tensor.js';
import { AdamW } from '../../../optim/adamw.js';
import { cosineLr } from '../../../optim/schedule.js';
import { inject } from '../../../adapters/inject.js';
import { MoRALinear } from '../../../adapters/mora.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../../../io/safetensors.js';
import {
  encodeSentences,
  lengthOrder,
  loadUseLite,
  makeUseBatch,
  disposeUseBatch,
  UseLite,
  UseTop,
  type UseBatch,
} from '../../models/use-lite.js';
import { argmaxRows, SentenceClassifier } from '../../models/classifier.js';
import type { SentencePieceTokenizer } from '../../../data/sentencepiece.js';
import { runEnvironment } from '../environment.js';
import { permutation } from '../task.js';
import { loadUciSentiment, type LabelledSentence } from './data.js';
import {
  checkSentimentConfig,
  DEFAULT_SENTIMENT,
  methodInfo,
  sentimentTargets,
  type EvalPoint,
  type RunSentimentOptions,
  type SentimentCallbacks,
  type SentimentConfig,
  type SentimentMethod,
  type SentimentMethodResult,
  type SentimentResult,
} from './config.js';

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
    evalBatches: (bs) =>
      chunk(
        Array.from({ length: n }, (_, i) => i),
        Math.max(bs, 256),
      ),
  };
}

/** Token batches for the whole encoder: bucketed by length (shuffled pools of 50 batches). */
function tokenInputs(tokens: number[][], backend: BackendName): Inputs<UseBatch> {
  const n = tokens.length;
  return {
    n,
    make: (idx) =>
      makeUseBatch(
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

async function evaluate<In>(
  clf: SentenceClassifier<In>,
  inputs: Inputs<In>,
  labels: Int32Array,
  bs: number,
): Promise<{ loss: number; acc: number }> {
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

async function pooledFeatures(
  model: UseLite,
  tokenizer: SentencePieceTokenizer,
  texts: string[],
  cfg: SentimentConfig,
  opts: RunSentimentOptions,
): Promise<{ features: Float32Array; cached: boolean; seconds: number }> {
  const t0 = performance.now();
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, model: 'use-lite', texts }))
    .digest('hex');
  const file = opts.outDir ? path.join(opts.outDir, 'features.safetensors') : null;
  if (file) {
    try {
      const header = await readSafetensorsHeader(file);
      if (
        header.metadata.key === key &&
        header.tensors.features?.shape[0] === texts.length &&
        header.tensors.features.shape[1] === model.outDim
      ) {
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
  const features = await encodeSentences(model, tokenizer, texts, {
    batchSize: cfg.evalBatchSize,
    output: 'pooled',
    onProgress: (d) => opts.callbacks?.onProgress?.(d),
  });
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
  checkSentimentConfig(cfg);
  const cb = opts.callbacks ?? {};
  const backend: BackendName = opts.backend ?? 'webgpu';
  const t0 = performance.now();
  const createdAt = new Date().toISOString();

  cb.onPhase?.('load', 1);
  const data = await loadUciSentiment(cfg.dataDir);
  const { model, tokenizer } = await loadUseLite({ dir: cfg.modelDir, backend });
  const take = (xs: LabelledSentence[]) => (cfg.limit > 0 ? xs.slice(0, cfg.limit) : xs);
  const mk = (xs: LabelledSentence[]): Split => ({
    texts: xs.map((x) => x.text),
    labels: Int32Array.from(xs, (x) => x.label),
    tokens: xs.map((x) => tokenizer.encode(x.text)),
  });
  const train = mk([...take(data.yelp), ...take(data.amazon)]);
  const test = mk(take(data.imdb));
  const allLens = [...train.tokens, ...test.tokens].map((t) => t.length);

  const result: SentimentResult = {
    name: `use-lite-sentiment-${cfg.depth}`,
    createdAt,
    status: 'complete',
    config: cfg,
    environment: runEnvironment(backend),
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
    cb.log?.(
      `  pooled states of ${train.texts.length + test.texts.length} sentences ${feats.cached ? 'read from the cache' : 'computed'} in ${feats.seconds.toFixed(1)} s`,
    );
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
        : await trainMethod(
            method,
            cfg,
            () => freshEncoder(model),
            tokenInputs(train.tokens, backend),
            tokenInputs(test.tokens, backend),
            train.labels,
            test.labels,
            backend,
            cb,
          );
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
  const clf = new SentenceClassifier<In>(encoder as never, 2, {
    backend,
    seed: cfg.seed + 1,
    dropout: cfg.dropout,
    featureScale: cfg.featureScale,
  });
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
  const name =
    info.adapter === 'lora' ? `LoRA r=${cfg.r}` : info.adapter === 'mora' ? `MoRA type ${info.type} (r̂=${rHatLabel})` : info.label;
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
