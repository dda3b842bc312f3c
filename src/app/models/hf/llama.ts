// Hugging Face LlamaForCausalLM (SmolLM, TinyLlama and other LLaMA-layout checkpoints; also
// Qwen2ForCausalLM, the same tree with biases on q_proj, k_proj, v_proj) on moragrad modules. The module tree and parameter names are HF's, so checkpoints load by name and adapters
// target `q_proj`, `v_proj`, ... as in PEFT:
//
//   model.embed_tokens.weight                                  [V, C]
//   model.layers.<i>.input_layernorm.weight                    [C]        RMSNorm
//   model.layers.<i>.self_attn.{q,k,v,o}_proj.weight           q, o: [nH·hs, C] / [C, nH·hs]; k, v: [nKv·hs, C]
//   model.layers.<i>.post_attention_layernorm.weight           [C]
//   model.layers.<i>.mlp.{gate,up,down}_proj.weight            [I, C], [I, C], [C, I]
//   model.norm.weight                                          [C]
//   lm_head.weight                                             [V, C]  (absent when tied)
//
// A vocabulary table larger than one buffer binding of the adapter (lavapipe: 2^25 floats) is held
// as row blocks (nn.BlockedEmbedding; `model.embed_tokens.blocks.<i>.weight`, and the same for an
// untied lm_head); loadHF and saveHF map the blocks to and from the one HF tensor.
//
// Forward (modeling_llama.py): h = embed(ids); per layer h += o(attn(rope(q), rope(k), v)) on
// RMSNorm(h), then h += down(silu(gate(x))·up(x)) on RMSNorm(h); logits = lm_head(RMSNorm(h)).
// Rotary: rotate-half layout, θ_i = rope_theta^(-2i/hs); grouped-query attention by repeat_kv.
import { add } from '../../../ops/binary.js';
import type { Tensor } from '../../../tensor.js';
import { attendHeads, type HeadLayout } from '../../../nn/attention.js';
import { BlockedEmbedding, embeddingTable, projectOnto, tableBlockRows, type Embedding } from '../../../nn/embedding.js';
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
import { Linear } from '../../../nn/linear.js';
import { swiglu } from '../../../nn/mlp.js';
import { Module, subSeed, type ModuleOptions } from '../../../nn/module.js';
import { RMSNorm } from '../../../nn/norm.js';
import type { HfModelConfig } from './config.js';

const STD = 0.02; // HF initializer_range; loaded weights replace it

export class LlamaAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  readonly layout: HeadLayout;

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    const lin = (i: number, o: number, k: number, bias: boolean) =>
      new Linear(i, o, { bias, init: { std: STD }, backend: opts.backend, seed: subSeed(opts.seed, k) });
    const q = c.nHead * c.headSize;
    const kv = c.nKvHead * c.headSize;
    this.q_proj = lin(c.nEmbd, q, 0, c.qkvBias);
    this.k_proj = lin(c.nEmbd, kv, 1, c.qkvBias);
    this.v_proj = lin(c.nEmbd, kv, 2, c.qkvBias);
    this.o_proj = lin(q, c.nEmbd, 3, c.oBias);
    this.layout = { nHead: c.nHead, nKvHead: c.nKvHead, headSize: c.headSize, causal: true, rotary: true, rotaryBase: c.ropeTheta };
  }

  /** x [B, T, C] -> [B, T, C]; with `cache`, x holds the positions after the cached ones. */
  forward(x: Tensor, cache?: LayerKVCache): Tensor {
    const [q, k, v] = [this.q_proj.forward(x), this.k_proj.forward(x), this.v_proj.forward(x)];
    return this.o_proj.forward(attendHeads(q, k, v, this.layout, { cache }));
  }
}

export class LlamaMLP extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    const lin = (i: number, o: number, k: number) =>
      new Linear(i, o, { bias: c.mlpBias, init: { std: STD }, backend: opts.backend, seed: subSeed(opts.seed, k) });
    this.gate_proj = lin(c.nEmbd, c.intermediate, 0);
    this.up_proj = lin(c.nEmbd, c.intermediate, 1);
    this.down_proj = lin(c.intermediate, c.nEmbd, 2);
  }

  forward(x: Tensor): Tensor {
    return this.down_proj.forward(swiglu(this.gate_proj.forward(x), this.up_proj.forward(x)));
  }
}

export class LlamaDecoderLayer extends Module {
  self_attn: LlamaAttention;
  mlp: LlamaMLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;

  constructor(c: HfModelConfig, opts: ModuleOptions) {
    super();
    this.self_attn = new LlamaAttention(c, { backend: opts.backend, seed: subSeed(opts.seed, 0) });
    this.mlp = new LlamaMLP(c, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.input_layernorm = new RMSNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
    this.post_attention_layernorm = new RMSNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
  }

  forward(x: Tensor, cache?: LayerKVCache): Tensor {
    const h = add(x, this.self_attn.forward(this.input_layernorm.forward(x), cache));
    return add(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

/** Model options: the backend, the init seed, and the largest table held in one block (tests). */
export interface HfModelOptions extends ModuleOptions {
  /** Elements of the largest embedding table held unsplit (default: the backend's per-binding limit). */
  maxTableElements?: number;
}

export class LlamaModel extends Module {
  embed_tokens: Embedding | BlockedEmbedding;
  layers: LlamaDecoderLayer[];
  norm: RMSNorm;

  constructor(c: HfModelConfig, opts: HfModelOptions) {
    super();
    this.embed_tokens = embeddingTable(c.vocabSize, c.nEmbd, {
      std: STD,
      backend: opts.backend,
      seed: subSeed(opts.seed, 0),
      maxElements: opts.maxTableElements,
    });
    this.layers = Array.from(
      { length: c.nLayer },
      (_, i) => new LlamaDecoderLayer(c, { backend: opts.backend, seed: subSeed(opts.seed, 100 + i) }),
    );
    this.norm = new RMSNorm(c.nEmbd, { eps: c.normEps, backend: opts.backend });
  }

  /** ids [B, T] -> final hidden states [B, T, C] (positions from the cache's length). */
  forward(idx: Tensor, cache?: KVCache): Tensor {
    let h = this.embed_tokens.forward(idx);
    this.layers.forEach((layer, i) => {
      h = layer.forward(h, cache?.layers[i]);
    });
    return this.norm.forward(h);
  }
}

export class LlamaForCausalLM extends Module {
  model: LlamaModel;
  /** null when tied to model.embed_tokens (tie_word_embeddings); row blocks when too large for one binding. */
  lm_head: Linear | BlockedEmbedding | null;
  /** Where the weights came from (config _name_or_path or the folder name); adapter files record it. */
  nameOrPath: string | null = null;

  constructor(
    readonly config: HfModelConfig,
    opts: HfModelOptions = {},
  ) {
    super();
    this.model = new LlamaModel(config, { ...opts, seed: subSeed(opts.seed, 0) });
    if (config.tiedHead) this.lm_head = null;
    else {
      // a bias-free Linear [V, C] is x @ Wᵀ, what a table's projection computes
      const [V, C, backend, seed] = [config.vocabSize, config.nEmbd, opts.backend, subSeed(opts.seed, 1)];
      const rows = tableBlockRows(V, C, { backend, maxElements: opts.maxTableElements });
      this.lm_head =
        rows === null
          ? new Linear(C, V, { bias: false, init: { std: STD }, backend, seed })
          : new BlockedEmbedding(V, C, rows, { std: STD, backend, seed });
    }
    this.nameParameters();
  }

  /** idx int32 [B, T] -> logits [B, T, V] (lastOnly: [B, 1, V]); with targets (-1 = ignore) the mean cross-entropy. */
  forward(idx: Tensor, targets?: Tensor, opts: LmForwardOptions = {}): GPTOutput {
    const op = 'LlamaForCausalLM.forward';
    checkLmInput(op, idx, targets, this.config.blockSize, opts, this.config.vocabSize);
    cacheOffset(op, opts.cache, this.model.layers.length, idx.shape[1], this.config.blockSize);
    const h = lastPosition(this.model.forward(idx, opts.cache), opts); // (B, T, C), or (B, 1, C)
    const head = this.lm_head;
    const logits = head instanceof Linear ? head.forward(h) : projectOnto(head ?? this.model.embed_tokens, h); // (B, T, V)
    return { logits, loss: targets ? lmLoss(logits, targets) : null };
  }

  generate(idx: Tensor, n: number, opts: GenerateOptions = {}): Promise<Tensor> {
    return generate(this, idx, n, opts);
  }

  /** An empty KV cache for `forward(idx, undefined, { cache })` (one layer cache per decoder layer). */
  createCache(): KVCache {
    return new KVCache(this.model.layers.length);
  }
}
