// Text data: tokenizers, corpora and next-token batching.
export {
  CharTokenizer,
  tokenizerFromJSON,
  type Tokenizer,
  type TokenizerJSON,
  type CharTokenizerJSON,
  type CharTokenizerOptions,
} from './tokenizer.js';
export { Gpt2Tokenizer, bytesToUnicode, GPT2_PATTERN } from './bpe.js';
export { loadMobyDick } from './corpus.js';
export {
  splitTrainVal,
  BatchSampler,
  sequentialBatches,
  batchToTensors,
  type Batch,
  type SamplerState,
  type SamplerOptions,
} from './batching.js';
export { SentencePieceTokenizer, normalize, SPACE, type Piece } from './sentencepiece.js';
