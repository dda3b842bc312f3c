// A GPT (decoder-only transformer, nanoGPT's layout): token embedding (+ learned positions, or rotary
// positions inside attention), dropout, nLayer pre-norm blocks, a final norm and the LM head
// (its own Linear, or tied to the token embedding: logits = x @ wteᵀ, read transposed in place).
//
// Parameter names: wte.weight, wpe.weight (learned positions), blocks.<i>.{ln1, attn.{q,k,v,o}, ln2,
// mlp.{up, down, gate}}.*, lnF.*, head.weight (untied).
//
// Init (GPT-2): every Linear and Embedding weight N(0, 0.02²), biases 0, norms 1/0, and the residual
// projections (attn.o, mlp.down) N(0, (0.02/√(2·nLayer))²).
import { noGrad } from '../autograd.js';
import { fail, fmtShape } from '../errors.js';
import { add } from '../ops/binary.js';
import { tensor } from '../ops/creation.js';
import { crossEntropy } from '../ops/loss.js';
import { matmulT } from '../ops/matmul.js';
import { HostRng } from '../ops/random.js';
import { reshape, slice } from '../ops/shape.js';
import { tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { TransformerBlock, makeNorm, type NormKind } from './block.js';
import { Dropout } from './dropout.js';
import { Embedding } from './embedding.js';
import { KVCache } from './kv-cache.js';
import { Linear } from './linear.js';
import type { Activation } from './mlp.js';
import { Module, type ModuleOptions, subSeed } from './module.js';
import type { LayerNorm, RMSNorm } from './norm.js';

export interface GPTConfig extends ModuleOptions {
  vocabSize: number;
  /** Longest sequence (the learned position table's size; a bound on T either way). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Dropout after the embeddings, on the attention output and after the MLP (default 0). */
  dropout?: number;
  /** 'learned' (default, GPT-2) or 'rotary' (RoPE on q and k). */
  positions?: 'learned' | 'rotary';
  /** Share the token embedding with the LM head (default true, as GPT-2). */
  tiedHead?: boolean;
  norm?: NormKind;
  mlp?: Activation;
  mlpHidden?: number;
  /** Biases in Linear layers and LayerNorms (default true). */
  bias?: boolean;
  /** Init std of weights (default 0.02). */
  initStd?: number;
}

export interface GPTOutput {
  /** [B, T, vocabSize]. */
  logits: Tensor;
  /** Mean cross-entropy over positions whose target is not -1; null without targets. */
  loss: Tensor | null;
}

export interface GenerateOptions {
  /** Divides the logits (default 1). 0: greedy (argmax). */
  temperature?: number;
  /** Sample among the k most likely tokens only. */
  topK?: number;
  /** Seed of the host sampler (default 0). */
  seed?: number;
  /**
   * Decode with a KV cache (each step runs the new token only). Default: when the model has one
   * (`createCache`); true on a model without one throws. The tokens are the same as without it.
   */
  cache?: boolean;
}

export class GPT extends Module {
  readonly config: Required<Omit<GPTConfig, 'seed' | 'backend' | 'mlpHidden'>> & { mlpHidden?: number };
  wte: Embedding;
  wpe: Embedding | null;
  drop: Dropout;
  blocks: TransformerBlock[];
  lnF: LayerNorm | RMSNorm;
  head: Linear | null;

  constructor(cfg: GPTConfig) {
    super();
    const op = 'GPT';
    for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) fail(op, `config.${k} must be a positive integer, got ${String(cfg[k])}`);
    }
    if (cfg.nEmbd % cfg.nHead !== 0) fail(op, `nEmbd ${cfg.nEmbd} must be a multiple of nHead ${cfg.nHead}`);
    this.config = {
      vocabSize: cfg.vocabSize,
      blockSize: cfg.blockSize,
      nLayer: cfg.nLayer,
      nHead: cfg.nHead,
      nEmbd: cfg.nEmbd,
      dropout: cfg.dropout ?? 0,
      positions: cfg.positions ?? 'learned',
      tiedHead: cfg.tiedHead ?? true,
      norm: cfg.norm ?? 'layernorm',
      mlp: cfg.mlp ?? 'gelu',
      mlpHidden: cfg.mlpHidden,
      bias: cfg.bias ?? true,
      initStd: cfg.initStd ?? 0.02,
    };
    const c = this.config;
    if (c.positions !== 'learned' && c.positions !== 'rotary')
      fail(op, `positions must be 'learned' or 'rotary', got '${String(c.positions)}'`);
    const std = c.initStd;
    const b = cfg.backend;
    const s = cfg.seed;
    this.wte = new Embedding(c.vocabSize, c.nEmbd, { std, backend: b, seed: subSeed(s, 0) });
    this.wpe = c.positions === 'learned' ? new Embedding(c.blockSize, c.nEmbd, { std, backend: b, seed: subSeed(s, 1) }) : null;
    this.drop = new Dropout(c.dropout, { seed: subSeed(s, 2) });
    this.blocks = Array.from(
      { length: c.nLayer },
      (_, i) =>
        new TransformerBlock(c.nEmbd, c.nHead, {
          causal: true,
          rotary: c.positions === 'rotary',
          norm: c.norm,
          mlp: c.mlp,
          mlpHidden: c.mlpHidden,
          bias: c.bias,
          dropout: c.dropout,
          backend: b,
          seed: subSeed(s, 100 + i),
          init: { std },
          residualInit: { std: std / Math.sqrt(2 * c.nLayer) },
        }),
    );
    this.lnF = makeNorm(c.norm, c.nEmbd, { backend: b, bias: c.bias });
    this.head = c.tiedHead ? null : new Linear(c.nEmbd, c.vocabSize, { bias: false, init: { std }, backend: b, seed: subSeed(s, 3) });
    this.nameParameters();
  }

  /**
   * idx: int32 [B, T] token ids (T <= blockSize); targets: int32 [B, T] next-token ids (-1 = ignore).
   * Returns the logits [B, T, V] and, with targets, the mean cross-entropy.
   */
  forward(idx: Tensor, targets?: Tensor, opts: LmForwardOptions = {}): GPTOutput {
    const op = 'GPT.forward';
    const cache = opts.cache;
    checkLmInput(op, idx, targets, this.config.blockSize, opts, this.config.vocabSize);
    const offset = cacheOffset(op, cache, this.blocks.length, idx.shape[1], this.config.blockSize); // idx[:, 0]'s position
    const T = idx.shape[1];
    let x = this.wte.forward(idx); // (B, T, C)
    if (this.wpe) {
      x = add(x, this.wpe.positions(offset, T)); // (B, T, C) + (T, C)
    }
    x = this.drop.forward(x);
    this.blocks.forEach((blk, i) => {
      x = blk.forward(x, cache ? { cache: cache.layers[i] } : {});
    });
    x = lastPosition(this.lnF.forward(x), opts); // (B, T, C), or (B, 1, C)
    const logits = this.head ? this.head.forward(x) : matmulT(x, this.wte.weight, { transB: true }); // (B, T, V)
    return { logits, loss: targets ? lmLoss(logits, targets) : null };
  }

  /**
   * Appends `n` sampled tokens to each row of idx (int32 [B, T]) and returns the new int32
   * [B, T + n] tensor (see `generate`).
   */
  generate(idx: Tensor, n: number, opts: GenerateOptions = {}): Promise<Tensor> {
    return generate(this, idx, n, opts);
  }

  /** An empty KV cache for `forward(idx, undefined, { cache })` (one layer cache per block). */
  createCache(): KVCache {
    return new KVCache(this.blocks.length);
  }
}

/**
 * The absolute position of the first new token: the cache's length (0 without a cache), after
 * checking that the cache has one layer per block and that the new tokens fit in blockSize.
 */
export function cacheOffset(op: string, cache: KVCache | undefined, nLayer: number, T: number, blockSize: number): number {
  if (!cache) return 0;
  if (cache.layers.length !== nLayer)
    fail(op, `the KV cache has ${cache.layers.length} layers, the model ${nLayer} (make it with createCache())`);
  if (cache.length + T > blockSize) fail(op, `the KV cache's ${cache.length} positions and ${T} new tokens exceed blockSize ${blockSize}`);
  return cache.length;
}

export interface LmForwardOptions {
  /** Logits of the last position only ([B, 1, V]): what generation reads. Not with targets. */
  lastOnly?: boolean;
  /**
   * Keys and values of the positions before idx (from createCache()): idx's tokens sit at positions
   * cache.length.., their keys and values are appended, and cache.length + T <= blockSize.
   */
  cache?: KVCache;
}

/** What `generate` needs: a causal LM mapping int32 ids [B, T] to logits [B, T, vocabSize]. */
export interface CausalLM extends Module {
  forward(idx: Tensor, targets?: Tensor, opts?: LmForwardOptions): GPTOutput;
  readonly config: { readonly blockSize: number; readonly vocabSize: number };
  /** A KV cache that forward's `cache` option fills (models that support incremental decoding). */
  createCache?(): KVCache;
}

/** Checks a causal LM's int32 ids [B, T] (T <= blockSize), optional targets of the same shape, and that the logits fit one buffer. */
export function checkLmInput(
  op: string,
  idx: Tensor,
  targets: Tensor | undefined,
  blockSize: number,
  opts: LmForwardOptions = {},
  vocabSize?: number,
): void {
  if (idx.dtype !== 'int32' || idx.ndim !== 2) fail(op, `idx must be int32 [B, T], got ${idx.describe()}`);
  const T = idx.shape[1];
  if (T > blockSize) fail(op, `sequence length ${T} exceeds blockSize ${blockSize} (idx ${fmtShape(idx.shape)})`);
  if (targets && (targets.dtype !== 'int32' || targets.shape.join() !== idx.shape.join())) {
    fail(op, `targets must be int32 ${fmtShape(idx.shape)} like idx, got ${targets.describe()}`);
  }
  if (targets && opts.lastOnly)
    fail(op, "lastOnly gives the last position's logits only; the loss needs every position (drop targets or lastOnly)");
  if (vocabSize !== undefined) checkLogitsFit(op, [idx.shape[0], opts.lastOnly ? 1 : T, vocabSize], idx.backend.maxElements);
}

/** Logits [B, T, V] must fit one buffer of the adapter (maxElements); the error says how many tokens do. */
export function checkLogitsFit(op: string, shape: [number, number, number], maxElements: number): void {
  const n = shape[0] * shape[1] * shape[2];
  if (n > maxElements) {
    fail(
      op,
      `the logits ${fmtShape(shape)} would hold ${n} elements, more than one buffer of this adapter (${maxElements}); use at most ${Math.floor(maxElements / shape[2])} tokens per batch`,
    );
  }
}

/** Hidden states [B, T, C], or with lastOnly the last position's [B, 1, C] (the head then runs once per row). */
export function lastPosition(h: Tensor, opts: LmForwardOptions): Tensor {
  const T = h.shape[1];
  return opts.lastOnly ? slice(h, 1, T - 1, T) : h;
}

/** Mean next-token cross-entropy of logits [B, T, V] against int32 targets [B, T] (-1 = ignored). */
export function lmLoss(logits: Tensor, targets: Tensor): Tensor {
  const [B, T, V] = logits.shape;
  return crossEntropy(reshape(logits, [B * T, V]), reshape(targets, [B * T]), { ignoreIndex: -1, reduction: 'mean' });
}

/**
 * Appends `n` sampled tokens to each row of idx (int32 [B, T]) and returns the new int32
 * [B, T + n] tensor. Each step reads back the last position's logits and samples on the host
 * (HostRng, seeded). With a KV cache (`opts.cache`, default when the model has `createCache`) the
 * first step runs the prompt and every later step the newest token only, attending over the cached
 * keys and values. Without one, each step runs the model on the last blockSize tokens. At blockSize:
 * once the sequence is longer than blockSize, the context is the last blockSize tokens (a sliding
 * window, as without the cache); sliding shifts every position, so the cache is dropped and each
 * further step runs the whole window. Both paths give the same tokens (the logits agree to float32
 * rounding). Runs in eval mode (the previous mode is restored) and without recording the tape.
 */
export async function generate(model: CausalLM, idx: Tensor, n: number, opts: GenerateOptions = {}): Promise<Tensor> {
  const op = `${model.constructor.name}.generate`;
  if (idx.dtype !== 'int32' || idx.ndim !== 2) fail(op, `idx must be int32 [B, T], got ${idx.describe()}`);
  if (!Number.isInteger(n) || n < 0) fail(op, `n must be a non-negative integer, got ${n}`);
  const temperature = opts.temperature ?? 1;
  if (!(temperature >= 0)) fail(op, `temperature must be >= 0, got ${temperature}`);
  const topK = opts.topK;
  if (topK !== undefined && (!Number.isInteger(topK) || topK <= 0)) fail(op, `topK must be a positive integer, got ${topK}`);
  if (opts.cache === true && !model.createCache) fail(op, `${model.constructor.name} has no KV cache (createCache); pass cache: false`);
  const [B, T0] = idx.shape;
  const V = model.config.vocabSize;
  const blockSize = model.config.blockSize;
  const rows: number[][] = [];
  const flat = await idx.data();
  for (let b = 0; b < B; b++) rows.push(Array.from(flat.subarray(b * T0, (b + 1) * T0)));
  const rng = new HostRng(opts.seed ?? 0);
  let cache = opts.cache !== false && model.createCache ? model.createCache() : null;
  const wasTraining = model.training;
  model.eval();
  try {
    for (let step = 0; step < n; step++) {
      const len = rows[0].length;
      if (cache && len > blockSize) {
        cache.dispose(); // the window slides from here on: every cached position shifts
        cache = null;
      }
      // the tokens to run: those not cached yet, or (uncached) the last blockSize
      const from = cache ? cache.length : len - Math.min(len, blockSize);
      const ctx = rows.flatMap((r) => r.slice(from));
      const c = cache ?? undefined;
      const last = noGrad(() =>
        tidy(() => {
          const ids = tensor(ctx, [B, len - from], { dtype: 'int32', backend: idx.backend.name });
          return model.forward(ids, undefined, { lastOnly: true, cache: c }).logits; // (B, 1, V)
        }),
      );
      const data = await last.data();
      last.dispose();
      for (let b = 0; b < B; b++) rows[b].push(sample(data.subarray(b * V, (b + 1) * V), temperature, topK, rng));
    }
  } finally {
    cache?.dispose();
    model.train(wasTraining);
  }
  return tensor(rows.flat(), [B, T0 + n], { dtype: 'int32', backend: idx.backend.name });
}

/** One token from a row of logits: argmax at temperature 0, else softmax(logits/τ) over the top k. */
export function sample(logits: ArrayLike<number>, temperature: number, topK: number | undefined, rng: HostRng): number {
  const V = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order = Array.from({ length: V }, (_, i) => i);
  if (topK !== undefined && topK < V) order = order.sort((a, b) => logits[b] - logits[a] || a - b).slice(0, topK);
  let mx = -Infinity;
  for (const i of order) mx = Math.max(mx, logits[i] / temperature);
  const w = order.map((i) => Math.exp(logits[i] / temperature - mx));
  const total = w.reduce((s, x) => s + x, 0);
  let r = rng.next() * total;
  for (let j = 0; j < order.length; j++) {
    r -= w[j];
    if (r < 0) return order[j];
  }
  return order[order.length - 1];
}
