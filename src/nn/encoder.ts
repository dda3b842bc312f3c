// A bidirectional transformer encoder (BERT-like, pre-norm): every position attends to every
// non-padding key (no causal mask). With `vocabSize` it embeds int32 ids itself (wte, and wpe for
// learned positions); without, it takes embeddings [B, T, dim]. Ends with a final norm (lnF).
import { fail, fmtShape } from '../errors.js';
import { add } from '../ops/binary.js';
import type { Tensor } from '../tensor.js';
import { TransformerBlock, makeNorm, type NormKind } from './block.js';
import { Dropout } from './dropout.js';
import { Embedding } from './embedding.js';
import type { Activation } from './mlp.js';
import { Module, type ModuleOptions, subSeed } from './module.js';
import type { LayerNorm, RMSNorm } from './norm.js';

export interface EncoderConfig extends ModuleOptions {
  dim: number;
  nLayer: number;
  nHead: number;
  /** Embed int32 ids (adds wte). Without it, forward takes float embeddings [B, T, dim]. */
  vocabSize?: number;
  /** Longest sequence (size of the learned position table). Default 512. */
  maxLen?: number;
  /** 'learned' (default; only with vocabSize), 'rotary' or 'none'. */
  positions?: 'learned' | 'rotary' | 'none';
  norm?: NormKind;
  mlp?: Activation;
  mlpHidden?: number;
  bias?: boolean;
  dropout?: number;
  /** Init std of weights (default 0.02, GPT-2 style with scaled residual projections). */
  initStd?: number;
}

export class Encoder extends Module {
  wte: Embedding | null;
  wpe: Embedding | null;
  drop: Dropout;
  blocks: TransformerBlock[];
  lnF: LayerNorm | RMSNorm;
  readonly dim: number;
  readonly maxLen: number;
  readonly positions: 'learned' | 'rotary' | 'none';

  constructor(cfg: EncoderConfig) {
    super();
    const op = 'Encoder';
    for (const k of ['dim', 'nLayer', 'nHead'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) fail(op, `config.${k} must be a positive integer, got ${String(cfg[k])}`);
    }
    this.dim = cfg.dim;
    this.maxLen = cfg.maxLen ?? 512;
    this.positions = cfg.positions ?? (cfg.vocabSize ? 'learned' : 'none');
    if (this.positions === 'learned' && !cfg.vocabSize)
      fail(op, "learned positions need vocabSize (the encoder embeds ids); use positions 'rotary' or 'none' for embedding inputs");
    const std = cfg.initStd ?? 0.02;
    const b = cfg.backend;
    const s = cfg.seed;
    this.wte = cfg.vocabSize ? new Embedding(cfg.vocabSize, cfg.dim, { std, backend: b, seed: subSeed(s, 0) }) : null;
    this.wpe = this.positions === 'learned' ? new Embedding(this.maxLen, cfg.dim, { std, backend: b, seed: subSeed(s, 1) }) : null;
    this.drop = new Dropout(cfg.dropout ?? 0, { seed: subSeed(s, 2) });
    this.blocks = Array.from(
      { length: cfg.nLayer },
      (_, i) =>
        new TransformerBlock(cfg.dim, cfg.nHead, {
          causal: false,
          rotary: this.positions === 'rotary',
          norm: cfg.norm,
          mlp: cfg.mlp,
          mlpHidden: cfg.mlpHidden,
          bias: cfg.bias,
          dropout: cfg.dropout,
          backend: b,
          seed: subSeed(s, 100 + i),
          init: { std },
          residualInit: { std: std / Math.sqrt(2 * cfg.nLayer) },
        }),
    );
    this.lnF = makeNorm(cfg.norm ?? 'layernorm', cfg.dim, { backend: b, bias: cfg.bias });
    this.nameParameters();
  }

  /**
   * input: int32 ids [B, T] (with vocabSize) or float embeddings [B, T, dim]; keyPadding: [B, T]
   * float, 1 = token, 0 = padding (padding keys get no attention; padded positions still produce
   * outputs, which the caller ignores). Returns [B, T, dim].
   */
  forward(input: Tensor, opts: { keyPadding?: Tensor } = {}): Tensor {
    const op = 'Encoder.forward';
    let x: Tensor;
    if (this.wte) {
      if (input.dtype !== 'int32' || input.ndim !== 2) fail(op, `expects int32 ids [B, T], got ${input.describe()}`);
      x = this.wte.forward(input); // (B, T, dim)
    } else {
      if (input.dtype !== 'float32' || input.ndim !== 3 || input.shape[2] !== this.dim)
        fail(op, `expects embeddings [B, T, ${this.dim}], got ${input.describe()}`);
      x = input;
    }
    const T = x.shape[1];
    if (this.wpe) {
      if (T > this.maxLen) fail(op, `sequence length ${T} exceeds maxLen ${this.maxLen} (input ${fmtShape(input.shape)})`);
      x = add(x, this.wpe.positions(0, T)); // (B, T, dim) + (T, dim)
    }
    x = this.drop.forward(x);
    for (const blk of this.blocks) x = blk.forward(x, { keyPadding: opts.keyPadding });
    return this.lnF.forward(x);
  }
}
