// Pretrained models: Universal Sentence Encoder-lite (TensorFlow.js weights mapped onto our modules),
// a sentence classifier on top of an encoder, and Hugging Face causal LMs (LLaMA, GPT-2) from local
// folders (loadHF / saveHF).
export {
  UseLite,
  UseTop,
  UseLayer,
  UseAttention,
  loadUseLite,
  encodeSentences,
  embedSentences,
  makeUseBatch,
  disposeUseBatch,
  lengthOrder,
  tanhL2,
  timingSignal,
  defaultInvTimescales,
  useLiteWeightMap,
  defaultUseLiteDir,
  USE_LITE_CONFIG,
  USE_LITE_SCALARS,
  type UseLiteConfig,
  type UseLiteOptions,
  type UseBatch,
  type LoadedUseLite,
  type LoadUseLiteOptions,
  type WeightMapping,
  type EncodeSentencesOptions,
} from './use-lite.js';
export { SentenceClassifier, argmaxRows, type SentenceEncoder, type ClassifierOptions } from './classifier.js';
export * from './hf/index.js';
