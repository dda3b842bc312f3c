// Fine-tuning a real pretrained encoder (Universal Sentence Encoder-lite) for sentiment, comparing
// a linear probe, full fine-tuning, LoRA and MoRA (types 1 and 6) at matched budgets.
//
// Data: the UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015) as shipped in the npm package
// `sentiment` (test/fixtures/{imdb,yelp,amazon}.json: 1,000 sentences each, 500 positive, 500
// negative; the trailing { text: '', class: null } is dropped). Train on Yelp + Amazon (2,000
// reviews of restaurants and products), test on IMDB (1,000 movie reviews): a domain shift.
//
// Two depths:
//   'pooler' (default; minutes on lavapipe): the encoder's two transformer layers stay frozen, so
//            the mean-pooled token states are computed once (and cached in the output folder);
//            the methods differ in how they train the last stage, the 512x512 tanh layer:
//              probe  the tanh layer frozen too, only the head trains
//              full   tanh layer + head train (262,656 + 1,026 parameters)
//              lora   LoRA r on the tanh layer (r·1,024) + head
//              mora1  MoRA type 1 (sharing) at LoRA r's budget: r̂² ≈ r·1,024, + head
//              mora6  MoRA type 6 (rotation), likewise
//   'encoder' (slow on lavapipe: every step runs the whole encoder forward and backward): adapters
//            on every Linear of the encoder (q, k, v, o, residual, up, down, pooler), full
//            fine-tuning of all 7M parameters; the probe still uses the cached features (the same
//            numbers: a frozen encoder computes them either way).
// Every method sees the same batches in the same order (one seed) and the same head init.
//
//   data.ts    the UCI sentences
//   config.ts  configuration, defaults, checks and the result types
//   run.ts     the training run
//   report.ts  table, charts, report.md
export { SENTIMENT_SOURCES, defaultSentimentDir, loadUciSentiment, type SentimentSource, type LabelledSentence } from './data.js';
export {
  SENTIMENT_METHODS,
  DEFAULT_SENTIMENT,
  sentimentTargets,
  type SentimentMethod,
  type SentimentDepth,
  type SentimentConfig,
  type EvalPoint,
  type SentimentMethodResult,
  type SentimentResult,
  type SentimentCallbacks,
  type RunSentimentOptions,
} from './config.js';
export { runSentiment, scoreLogits } from './run.js';
export { sentimentTable, sentimentLossSpec, sentimentAccuracySpec, renderSentimentMarkdown, writeSentimentReport } from './report.js';
