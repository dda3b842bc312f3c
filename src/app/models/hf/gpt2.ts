// Hugging Face GPT2LMHeadModel (GPT-2 and its small relatives) on moragrad modules, with HF's module
// tree and parameter names:
//
//   transformer.wte.weight [V, C], transformer.wpe.weight [P, C]   learned positions
//   transformer.h.<i>.ln_1.{weight,bias}                           LayerNorm
//   transformer.h.<i>.attn.c_attn.{weight,bias}                    Conv1D C -> 3C (q | k | v)
//   transformer.h.<i>.attn.c_proj.{weight,bias}                    Conv1D C -> C
//   transformer.h.<i>.ln_2.{weight,bias}
//   transformer.h.<i>.mlp.c_fc.{weight,bias}                       Conv1D C -> I
//   transformer.h.<i>.mlp.c_proj.{weight,bias}                     Conv1D I -> C
//   transformer.ln_f.{weight,bias}
//   lm_head: the token embedding (tied)
//
// A token table larger than one buffer binding is held as row blocks (see llama.ts).
//
// Conv1D weights are [in, out] in the files and [out, in] here (nn.Conv1D); the loader and saver
// transpose them. Forward (modeling_gpt2.py): h = wte(ids) + wpe(pos); per block h += c_proj(attn)
// on ln_1(h) with q, k, v split from c_attn's output, then h += c_proj(gelu(c_fc(x))) on ln_2(h);
// logits = ln_f(h) @ wteᵀ.
import { add } from '../../../ops/binary.js';
import { arange } from '../../../ops/creation.js';
import { slice } from '../../../ops/shape.js';
import { gelu } from '../../../ops/unary.js';
import type { Tensor } from '../../../tensor.js';
import { attendHeads, type HeadLayout } from '../../../nn/attention.js';
import { Embedding, embeddingTable, projectOnto, type BlockedEmbedding } from '../../../nn/embedding.js';
import { KVCache, type LayerKVCache } from '../../../nn/kv-cache.js';
import {
  cacheOffset,
  checkLmInput,
  generate,
  lastPosition,
  lmLoss,
  type GenerateOptions,
  type GPTOutput,
  type LmForwardOptions,
} from '../../../nn/gpt.js';
import { Conv1D } from '../../../nn/linear.js';
import { Module, subSeed, type ModuleOptions } from '../../../nn/module.js';
import { LayerNorm } from '../../../nn/norm.js';
import type { HfModelConfig } from './config.js';
import type { HfModelOptions } from './llama.js';

const STD = 0.02;

const conv = (i: number, o: number, opts: ModuleOptions) =>
  new Conv1D(i, o, { init: { std: STD }, backend: opts.backend, seed: opts.seed });

export class GPT2Attention extends Module {
  c_attn: Conv1D;
  c_proj: Conv1D;
  readonly layout: HeadLayout;

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    this.c_attn = conv(c.nEmbd, 3 * c.nEmbd, { backend: opts.backend, seed: subSeed(opts.seed, 0) });
    this.c_proj = conv(c.nEmbd, c.nEmbd, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.layout = { nHead: c.nHead, nKvHead: c.nHead, headSize: c.headSize, causal: true, rotary: false, rotaryBase: 10000 };
  }

  /** x [B, T, C] -> [B, T, C]; with `cache`, x holds the positions after the cached ones. */
  forward(x: Tensor, cache?: LayerKVCache): Tensor {
    const C = x.shape[2];
    const qkv = this.c_attn.forward(x); // (B, T, 3C)
    const [q, k, v] = [slice(qkv, -1, 0, C), slice(qkv, -1, C, 2 * C), slice(qkv, -1, 2 * C, 3 * C)]; // (B, T, C) each
    const y = attendHeads(q, k, v, this.layout, { cache }); // (B, T, C)
    return this.c_proj.forward(y);
  }
}

export class GPT2MLP extends Module {
  c_fc: Conv1D;
  c_proj: Conv1D;
  readonly approximate: 'tanh' | 'none';

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    this.c_fc = conv(c.nEmbd, c.intermediate, { backend: opts.backend, seed: subSeed(opts.seed, 0) });
    this.c_proj = conv(c.intermediate, c.nEmbd, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.approximate = c.geluApproximate;
  }

  forward(x: Tensor): Tensor {
    return this.c_proj.forward(gelu(this.c_fc.forward(x), this.approximate));
  }
}

export class GPT2Block extends Module {
  ln_1: LayerNorm;
  attn: GPT2Attention;
  ln_2: LayerNorm;
  mlp: GPT2MLP;

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    this.ln_1 = new LayerNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
    this.attn = new GPT2Attention(c, { backend: opts.backend, seed: subSeed(opts.seed, 0) });
    this.ln_2 = new LayerNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
    this.mlp = new GPT2MLP(c, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
  }

  forward(x: Tensor, cache?: LayerKVCache): Tensor {
    const h = add(x, this.attn.forward(this.ln_1.forward(x), cache));
    return add(h, this.mlp.forward(this.ln_2.forward(h)));
  }
}

export class GPT2Model extends Module {
  /** Row blocks when too large for one buffer binding (GPT-2's 50257 × 768 on lavapipe). */
  wte: Embedding | BlockedEmbedding;
  wpe: Embedding;
  h: GPT2Block[];
  ln_f: LayerNorm;

  constructor(c: HfModelConfig, opts: HfModelOptions) {
    super();
    this.wte = embeddingTable(c.vocabSize, c.nEmbd, {
      std: STD,
      backend: opts.backend,
      seed: subSeed(opts.seed, 0),
      maxElements: opts.maxTableElements,
    });
    this.wpe = new Embedding(c.blockSize, c.nEmbd, { std: STD, backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.h = Array.from({ length: c.nLayer }, (_, i) => new GPT2Block(c, { backend: opts.backend, seed: subSeed(opts.seed, 100 + i) }));
    this.ln_f = new LayerNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
  }

  /** ids [B, T] -> final hidden states [B, T, C]; with `cache`, ids sit at positions cache.length.. */
  forward(idx: Tensor, cache?: KVCache): Tensor {
    const T = idx.shape[1];
    const offset = cache?.length ?? 0;
    const pos = arange(offset, offset + T, 1, { dtype: 'int32', backend: idx.backend.name }); // (T,)
    let x = add(this.wte.forward(idx), this.wpe.forward(pos)); // (B, T, C) + (T, C)
    this.h.forEach((blk, i) => {
      x = blk.forward(x, cache?.layers[i]);
    });
    return this.ln_f.forward(x);
  }
}

export class GPT2LMHeadModel extends Module {
  transformer: GPT2Model;
  /** Where the weights came from (config _name_or_path or the folder name); adapter files record it. */
  nameOrPath: string | null = null;

  constructor(
    readonly config: HfModelConfig,
    opts: HfModelOptions = {},
  ) {
    super();
    this.transformer = new GPT2Model(config, opts);
    this.nameParameters();
  }

  /** idx int32 [B, T] -> logits [B, T, V] (lastOnly: [B, 1, V]); with targets (-1 = ignore) the mean cross-entropy. */
  forward(idx: Tensor, targets?: Tensor, opts: LmForwardOptions = {}): GPTOutput {
    const op = 'GPT2LMHeadModel.forward';
    checkLmInput(op, idx, targets, this.config.blockSize, opts, this.config.vocabSize);
    cacheOffset(op, opts.cache, this.transformer.h.length, idx.shape[1], this.config.blockSize);
    const h = lastPosition(this.transformer.forward(idx, opts.cache), opts); // (B, T, C), or (B, 1, C)
    const logits = projectOnto(this.transformer.wte, h); // (B, T, V)
    return { logits, loss: targets ? lmLoss(logits, targets) : null };
  }

  generate(idx: Tensor, n: number, opts: GenerateOptions = {}): Promise<Tensor> {
    return generate(this, idx, n, opts);
  }

  /** An empty KV cache for `forward(idx, undefined, { cache })` (one layer cache per block). */
  createCache(): KVCache {
    return new KVCache(this.transformer.h.length);
  }
}
