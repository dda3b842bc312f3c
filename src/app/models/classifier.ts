// A classification head on a sentence encoder: logits = head(dropout(scale · encoder(input))).
//
// The encoder is any module that maps its input to one vector per example, [B, D], and says D as
// `outDim` (UseLite on a token batch, UseTop on cached pooled states). The head is one Linear
// D -> classes named `head`, which inject()'s 'all-linear' leaves alone; after inject() (which
// freezes everything it does not adapt) call `unfreezeHead()` so the head trains with the adapters,
// as PEFT's modules_to_save does.
import { fail, fmtShape } from '../../errors.js';
import { mul } from '../../ops/binary.js';
import { crossEntropy } from '../../ops/loss.js';
import type { Tensor } from '../../tensor.js';
import { Dropout } from '../../nn/dropout.js';
import { Linear } from '../../nn/linear.js';
import { Module, type ModuleOptions, type Parameter, subSeed } from '../../nn/module.js';

/** What the classifier needs of its encoder. */
export interface SentenceEncoder<In> extends Module {
  readonly outDim: number;
  forward(input: In): Tensor;
}

export interface ClassifierOptions extends ModuleOptions {
  /** Dropout on the features before the head (default 0). */
  dropout?: number;
  /**
   * Multiplies the features before the head (default 1). L2-normalised embeddings have entries of
   * size ~1/√D; √D gives them unit RMS, so the head's learning rate reads like any layer's.
   */
  featureScale?: number;
}

export class SentenceClassifier<In = unknown> extends Module {
  encoder: SentenceEncoder<In>;
  drop: Dropout;
  head: Linear;
  readonly numClasses: number;
  readonly featureScale: number;

  constructor(encoder: SentenceEncoder<In>, numClasses: number, opts: ClassifierOptions = {}) {
    super();
    const op = 'SentenceClassifier';
    if (!(encoder instanceof Module) || !Number.isInteger(encoder.outDim) || encoder.outDim < 1)
      fail(op, `the encoder must be a Module with a positive integer outDim, got ${String(encoder?.constructor?.name ?? encoder)}`);
    if (!Number.isInteger(numClasses) || numClasses < 2) fail(op, `numClasses must be an integer >= 2, got ${String(numClasses)}`);
    this.encoder = encoder;
    this.numClasses = numClasses;
    this.featureScale = opts.featureScale ?? 1;
    this.drop = new Dropout(opts.dropout ?? 0, { seed: subSeed(opts.seed, 0) });
    this.head = new Linear(encoder.outDim, numClasses, { backend: opts.backend, seed: subSeed(opts.seed, 1) });
    this.nameParameters();
  }

  /** Logits [B, numClasses]. */
  forward(input: In): Tensor {
    let f = this.encoder.forward(input); // (B, D)
    if (f.ndim !== 2 || f.shape[1] !== this.encoder.outDim)
      fail('SentenceClassifier', `the encoder returned ${fmtShape(f.shape)}, expected [B, ${this.encoder.outDim}]`);
    if (this.featureScale !== 1) f = mul(f, this.featureScale);
    return this.head.forward(this.drop.forward(f));
  }

  /** Mean cross-entropy against int32 `labels` [B], with the logits. */
  loss(input: In, labels: Tensor): { loss: Tensor; logits: Tensor } {
    const logits = this.forward(input);
    if (labels.dtype !== 'int32' || labels.ndim !== 1 || labels.shape[0] !== logits.shape[0]) {
      fail('SentenceClassifier.loss', `labels must be int32 [${logits.shape[0]}] (one class per example), got ${labels.describe()}`);
    }
    return { loss: crossEntropy(logits, labels), logits };
  }

  /** Makes the head trainable again (after inject() froze it). */
  unfreezeHead(): this {
    this.head.unfreeze();
    return this;
  }

  /** The head's parameters. */
  headParameters(): Parameter[] {
    return this.head.parameters();
  }
}

/** Index of the largest logit per row of a row-major [B, C] array. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + classes <= logits.length; i += classes) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i + c] > logits[i + best]) best = c;
    out.push(best);
  }
  return out;
}
