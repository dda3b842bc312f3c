// The `nn` namespace: modules, layers and models.
export { Module, Parameter, copyInto, subSeed, type ModuleOptions, type LoadResult } from './module.js';
export * as init from './init.js';
export { Linear, type LinearOptions } from './linear.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { LayerNorm, RMSNorm, type NormOptions } from './norm.js';
export { Dropout } from './dropout.js';
export { applyRotary, rotaryTables, clearRotaryCache } from './rotary.js';
export { MultiHeadAttention, type AttentionOptions, type AttentionCallOptions } from './attention.js';
export { MLP, type MLPOptions, type Activation } from './mlp.js';
export { TransformerBlock, type BlockOptions, type NormKind } from './block.js';
export { GPT, sample, type GPTConfig, type GPTOutput, type GenerateOptions } from './gpt.js';
export { Encoder, type EncoderConfig } from './encoder.js';
