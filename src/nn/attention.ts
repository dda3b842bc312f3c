// Multi-head self-attention: four Linear layers named q, k, v, o (so adapters can wrap them by name),
// optional rotary positions on q and k, the fused attention op (src/ops/attention.ts) with a causal
// mask and/or a key-padding mask, attention dropout, and dropout on the output projection. The
// projections' [B, T, n·hs] outputs are read by attention as [B, T, n, hs] (a free reshape) and the
// output comes back so: no head split / merge copies. With a KV cache (src/nn/kv-cache.ts) the new
// tokens' keys and values are appended and the queries attend over the whole cache.
//
// Grouped-query attention (LLaMA 2/3, SmolLM, TinyLlama): k and v have nKvHead <= nHead heads and
// query head h reads key/value head floor(h / (nHead / nKvHead)) (HF's repeat_kv); nKvHead = nHead
// is plain multi-head attention, nKvHead = 1 multi-query. `attendHeads` is the part between the
// projections, shared with modules that name their projections differently (Hugging Face models).
import { fail, fmtShape } from '../errors.js';
import { attention } from '../ops/attention.js';
import { nextSeed } from '../ops/random.js';
import { expand, reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor.js';
import { Dropout } from './dropout.js';
import { Linear, type LinearOptions } from './linear.js';
import { Module, type ModuleOptions, subSeed } from './module.js';
import type { LayerKVCache } from './kv-cache.js';
import { applyRotary } from './rotary.js';

export interface AttentionOptions extends ModuleOptions {
  /** Mask future positions (default true: a decoder). */
  causal?: boolean;
  /** Rotate q and k by position (RoPE, base `rotaryBase` = 10000). Default false. */
  rotary?: boolean;
  rotaryBase?: number;
  /** Key/value heads (grouped-query attention): a divisor of nHead; default nHead. */
  nKvHead?: number;
  /** Biases on q, k, v, o (default true). */
  bias?: boolean;
  /** Dropout probability on the output (after o). Default 0. */
  dropout?: number;
  /** Dropout probability on the attention weights (training only). Default 0. */
  attnDropout?: number;
  /** Init of the Linear layers (default torch's kaiming); `oInit` overrides it for `o`. */
  init?: LinearOptions['init'];
  oInit?: LinearOptions['init'];
}

export interface AttentionCallOptions {
  /** [B, T] float, 1 = attend to this key, 0 = padding (ignored as a key). */
  keyPadding?: Tensor;
  /** Position of x's first token (rotary only; e.g. when decoding with a prefix). Default 0, or the cache's length. */
  offset?: number;
  /** Keys and values of the earlier positions: x's are appended and attended over with them. */
  cache?: LayerKVCache;
  /** Attention-weight dropout probability for this call (0 in eval), and the seed of its mask. */
  attnDropout?: number;
  attnSeed?: number;
}

/** How projected q, k, v split into heads and attend. */
export interface HeadLayout {
  nHead: number;
  /** Divides nHead. */
  nKvHead: number;
  headSize: number;
  causal: boolean;
  rotary: boolean;
  rotaryBase: number;
}

/** k or v heads (B, nKv, T, hs) -> (B, nKv·groups, T, hs), head h = input head floor(h / groups). */
// y[b, g·j + r] = x[b, j]                    -> dx[b, j] = Σ_r g[b, g·j + r] (expand's sumTo)
export function repeatKvHeads(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const [B, nKv, T, hs] = x.shape;
  const e = expand(reshape(x, [B, nKv, 1, T, hs]), [B, nKv, groups, T, hs]); // (B, nKv, groups, T, hs)
  return reshape(e, [B, nKv * groups, T, hs]); // (B, nH, T, hs)
}

/**
 * Attention between projections: q [B, T, nHead·hs], k and v [B, T, nKvHead·hs] -> [B, T, nHead·hs]
 * (heads merged, before the output projection). The heads are read in place as [B, T, n, hs] (query
 * head h uses key/value head floor(h / (nHead / nKvHead))). Rotary positions (rotate-half layout) on
 * q and k at offset..offset+T-1, scale 1/√hs. With `cache`, offset is the cache's length, and k, v
 * are appended to it before attending (Tk = length + T, causal bottom-right aligned).
 */
export function attendHeads(q: Tensor, k: Tensor, v: Tensor, l: HeadLayout, opts: AttentionCallOptions = {}): Tensor {
  const [B, T] = q.shape;
  const cache = opts.cache;
  if (cache && opts.keyPadding) fail('attention', 'keyPadding with a KV cache is not supported (the cache holds every position)');
  if (cache && opts.offset !== undefined && opts.offset !== cache.length)
    fail('attention', `offset ${opts.offset} disagrees with the KV cache's length ${cache.length}`);
  const offset = cache ? cache.length : (opts.offset ?? 0);
  const heads = (t: Tensor, n: number) => reshape(t, [B, T, n, l.headSize]); // (B, T, n, hs), a view
  let qh = heads(q, l.nHead);
  let kh = heads(k, l.nKvHead);
  let vh = heads(v, l.nKvHead);
  if (l.rotary) {
    qh = applyRotary(qh, offset, { base: l.rotaryBase, tokensFirst: true });
    kh = applyRotary(kh, offset, { base: l.rotaryBase, tokensFirst: true });
  }
  if (cache) ({ k: kh, v: vh } = cache.append(kh, vh)); // (B, length + T, nKv, hs)
  const y = attention(qh, kh, vh, {
    causal: l.causal,
    keyPadding: opts.keyPadding,
    layout: 'bthd',
    dropout: opts.attnDropout ?? 0,
    seed: opts.attnSeed,
  }); // (B, T, nH, hs)
  return reshape(y, [B, T, l.nHead * l.headSize]); // (B, T, nH·hs), a view
}

export class MultiHeadAttention extends Module {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  drop: Dropout;
  readonly layout: HeadLayout;
  /** Attention-weight dropout probability (applied in training mode). */
  readonly attnDropout: number;
  /** Training-mode calls with attention dropout so far: call c draws its mask from subSeed(attnSeed, c), as nn.Dropout. */
  attnCalls = 0;
  /** The attention-dropout mask streams' seed (from the module seed; else drawn from the global sequence at first use). */
  attnSeed: number | undefined;

  constructor(
    readonly dim: number,
    readonly nHead: number,
    opts: AttentionOptions = {},
  ) {
    super();
    if (!Number.isInteger(nHead) || nHead <= 0 || !Number.isInteger(dim) || dim % nHead !== 0) {
      fail('MultiHeadAttention', `dim ${dim} must be a positive multiple of the number of heads ${nHead}`);
    }
    const headSize = dim / nHead;
    this.layout = {
      nHead,
      nKvHead: opts.nKvHead ?? nHead,
      headSize,
      causal: opts.causal ?? true,
      rotary: opts.rotary ?? false,
      rotaryBase: opts.rotaryBase ?? 10000,
    };
    if (this.layout.rotary && headSize % 2 !== 0)
      fail('MultiHeadAttention', `rotary needs an even head size, got ${headSize} (dim ${dim} / ${nHead} heads)`);
    const nKv = this.layout.nKvHead;
    if (!Number.isInteger(nKv) || nKv <= 0 || nHead % nKv !== 0)
      fail('MultiHeadAttention', `the ${nHead} query heads must be a multiple of the ${nKv} key/value heads`);
    const kvDim = this.layout.nKvHead * headSize;
    const lin = (k: number, init = opts.init): LinearOptions => ({
      bias: opts.bias,
      backend: opts.backend,
      seed: subSeed(opts.seed, k),
      init,
    });
    this.q = new Linear(dim, dim, lin(0));
    this.k = new Linear(dim, kvDim, lin(1));
    this.v = new Linear(dim, kvDim, lin(2));
    this.o = new Linear(dim, dim, lin(3, opts.oInit ?? opts.init));
    this.drop = new Dropout(opts.dropout ?? 0, { seed: subSeed(opts.seed, 4) });
    this.attnDropout = opts.attnDropout ?? 0;
    this.attnSeed = subSeed(opts.seed, 5);
    if (!(this.attnDropout >= 0 && this.attnDropout <= 1))
      fail('MultiHeadAttention', `attnDropout must be in [0, 1], got ${this.attnDropout}`);
  }

  /** x [B, T, dim] -> [B, T, dim]. */
  forward(x: Tensor, opts: AttentionCallOptions = {}): Tensor {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) fail('MultiHeadAttention', `expects x [B, T, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [B, T] = x.shape;
    if (opts.keyPadding && (opts.keyPadding.ndim !== 2 || opts.keyPadding.shape[0] !== B || opts.keyPadding.shape[1] !== T)) {
      fail('MultiHeadAttention', `keyPadding must be [B, T] = [${B}, ${T}] (float, 1 = keep), got ${fmtShape(opts.keyPadding.shape)}`);
    }
    const attnDropout = opts.attnDropout ?? (this.training ? this.attnDropout : 0);
    let attnSeed = opts.attnSeed;
    if (attnDropout > 0 && attnSeed === undefined) {
      this.attnSeed ??= nextSeed();
      attnSeed = subSeed(this.attnSeed, this.attnCalls++);
    }
    const merged = attendHeads(this.q.forward(x), this.k.forward(x), this.v.forward(x), this.layout, { ...opts, attnDropout, attnSeed }); // (B, T, dim)
    return this.drop.forward(this.o.forward(merged));
  }
}
