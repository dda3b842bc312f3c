// Hugging Face causal LMs from local folders: loadHF / saveHF, the LLaMA and GPT-2 module trees with
// HF's names, the tokenizer.json tokenizer.
export {
  loadHF,
  saveHF,
  planMemory,
  type HfCausalLM,
  type LoadHFOptions,
  type LoadedHF,
  type SaveHFOptions,
  type MemoryPlan,
} from './load.js';
export { parseHfConfig, type HfModelConfig, type HfArchitecture } from './config.js';
export { LlamaForCausalLM, LlamaModel, LlamaDecoderLayer, LlamaAttention, LlamaMLP } from './llama.js';
export { GPT2LMHeadModel, GPT2Model, GPT2Block, GPT2Attention, GPT2MLP } from './gpt2.js';
export { HfTokenizer } from './tokenizer.js';
export { readWeightFiles, paramName } from './weights.js';
