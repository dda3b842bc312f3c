// Pretrained models: Universal Sentence Encoder-lite (TensorFlow.js weights mapped onto our modules)
// and a sentence classifier on top of an encoder.
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
