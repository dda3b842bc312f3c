// Pre-norm transformer block (GPT-2 / LLaMA): x + attn(ln1(x)), then x + mlp(ln2(x)).
import type { Tensor } from '../tensor.js';
import { add } from '../ops/binary.js';
import { tidy } from '../runtime.js';
import { MultiHeadAttention, type AttentionCallOptions } from './attention.js';
import type { LinearOptions } from './linear.js';
import { MLP, type Activation } from './mlp.js';
import { Module, type ModuleOptions, subSeed } from './module.js';
import { LayerNorm, RMSNorm } from './norm.js';

export type NormKind = 'layernorm' | 'rmsnorm';

export interface BlockOptions extends ModuleOptions {
  causal?: boolean;
  rotary?: boolean;
  rotaryBase?: number;
  /** 'layernorm' (default) or 'rmsnorm'. */
  norm?: NormKind;
  normEps?: number;
  /** 'gelu' (default) or 'swiglu'. */
  mlp?: Activation;
  /** MLP hidden size: 4·dim by default (gelu), 8·dim/3 rounded up to a multiple of 8 (swiglu). */
  mlpHidden?: number;
  bias?: boolean;
  dropout?: number;
  /** Dropout on the attention weights (MultiHeadAttention's attnDropout). Default 0. */
  attnDropout?: number;
  /** Linear init; `residualInit` overrides it for the residual projections (attn.o, mlp.down). */
  init?: LinearOptions['init'];
  residualInit?: LinearOptions['init'];
}

export function makeNorm(
  kind: NormKind,
  dim: number,
  opts: { eps?: number; backend?: ModuleOptions['backend']; bias?: boolean },
): LayerNorm | RMSNorm {
  return kind === 'rmsnorm' ? new RMSNorm(dim, opts) : new LayerNorm(dim, opts);
}

export function defaultHidden(dim: number, mlp: Activation): number {
  return mlp === 'swiglu' ? Math.ceil((8 * dim) / 3 / 8) * 8 : 4 * dim;
}

export class TransformerBlock extends Module {
  ln1: LayerNorm | RMSNorm;
  attn: MultiHeadAttention;
  ln2: LayerNorm | RMSNorm;
  mlp: MLP;

  constructor(
    readonly dim: number,
    readonly nHead: number,
    opts: BlockOptions = {},
  ) {
    super();
    const norm = opts.norm ?? 'layernorm';
    const nopts = { eps: opts.normEps, backend: opts.backend, bias: opts.bias };
    const act = opts.mlp ?? 'gelu';
    this.ln1 = makeNorm(norm, dim, nopts);
    this.attn = new MultiHeadAttention(dim, nHead, {
      causal: opts.causal,
      rotary: opts.rotary,
      rotaryBase: opts.rotaryBase,
      bias: opts.bias,
      dropout: opts.dropout,
      attnDropout: opts.attnDropout,
      backend: opts.backend,
      seed: subSeed(opts.seed, 0),
      init: opts.init,
      oInit: opts.residualInit,
    });
    this.ln2 = makeNorm(norm, dim, nopts);
    this.mlp = new MLP(dim, opts.mlpHidden ?? defaultHidden(dim, act), {
      activation: act,
      bias: opts.bias,
      dropout: opts.dropout,
      backend: opts.backend,
      seed: subSeed(opts.seed, 1),
      init: opts.init,
      downInit: opts.residualInit,
    });
  }

  /**
   * x [B, T, dim] -> [B, T, dim]. Each sublayer runs in its own tidy scope: what its backward needs
   * goes to the tape, its other temporaries are freed before the next sublayer runs, so the
   * forward's peak memory is the saved activations plus one sublayer's temporaries.
   */
  forward(x: Tensor, opts: AttentionCallOptions = {}): Tensor {
    const h = tidy(() => add(x, this.attn.forward(this.ln1.forward(x), opts))); // (B, T, dim)
    return tidy(() => add(h, this.mlp.forward(this.ln2.forward(h)))); // (B, T, dim)
  }
}
