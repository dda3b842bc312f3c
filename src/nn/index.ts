// The `nn` namespace: modules, layers and models.
export { Module, Parameter, copyInto, subSeed, type ModuleOptions, type LoadResult } from './module.js';
export * as init from './init.js';
export { Linear, Conv1D, type LinearOptions } from './linear.js';
export {
  Embedding,
  BlockedEmbedding,
  EmbeddingBlock,
  embeddingTable,
  tableBlockRows,
  projectOnto,
  type EmbeddingOptions,
} from './embedding.js';
export { LayerNorm, RMSNorm, type NormOptions } from './norm.js';
export { Dropout } from './dropout.js';
export { applyRotary, rotaryTables, clearRotaryCache } from './rotary.js';
export {
  MultiHeadAttention,
  attendHeads,
  repeatKvHeads,
  type AttentionOptions,
  type AttentionCallOptions,
  type HeadLayout,
} from './attention.js';
export { MLP, swiglu, type MLPOptions, type Activation } from './mlp.js';
export { TransformerBlock, type BlockOptions, type NormKind } from './block.js';
export {
  GPT,
  sample,
  generate,
  lmLoss,
  checkLmInput,
  cacheOffset,
  checkLogitsFit,
  lastPosition,
  type CausalLM,
  type LmForwardOptions,
  type GPTConfig,
  type GPTOutput,
  type GenerateOptions,
} from './gpt.js';
export { Encoder, type EncoderConfig } from './encoder.js';
export { KVCache, LayerKVCache } from './kv-cache.js';
