// Multi-head self-attention: four Linear layers named q, k, v, o (so adapters can wrap them by name),
// optional rotary positions on q and k, the fused attention op (src/ops/attention.ts) with a causal
// mask and/or a key-padding mask, and dropout on the output projection.
import { fail, fmtShape } from '../errors.js';
import { attention } from '../ops/attention.js';
import { permute, reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor.js';
import { Dropout } from './dropout.js';
import { Linear, type LinearOptions } from './linear.js';
import { Module, type ModuleOptions, subSeed } from './module.js';
import { applyRotary } from './rotary.js';

export interface AttentionOptions extends ModuleOptions {
  /** Mask future positions (default true: a decoder). */
  causal?: boolean;
  /** Rotate q and k by position (RoPE, base `rotaryBase` = 10000). Default false. */
  rotary?: boolean;
  rotaryBase?: number;
  /** Biases on q, k, v, o (default true). */
  bias?: boolean;
  /** Dropout probability on the output (after o). Default 0. */
  dropout?: number;
  /** Init of the Linear layers (default torch's kaiming); `oInit` overrides it for `o`. */
  init?: LinearOptions['init'];
  oInit?: LinearOptions['init'];
}

export interface AttentionCallOptions {
  /** [B, T] float, 1 = attend to this key, 0 = padding (ignored as a key). */
  keyPadding?: Tensor;
  /** Position of x's first token (rotary only; e.g. when decoding with a prefix). Default 0. */
  offset?: number;
}

export class MultiHeadAttention extends Module {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  drop: Dropout;
  readonly headSize: number;
  readonly causal: boolean;
  readonly rotary: boolean;
  readonly rotaryBase: number;

  constructor(
    readonly dim: number,
    readonly nHead: number,
    opts: AttentionOptions = {},
  ) {
    super();
    if (!Number.isInteger(nHead) || nHead <= 0 || !Number.isInteger(dim) || dim % nHead !== 0) {
      fail('MultiHeadAttention', `dim ${dim} must be a positive multiple of the number of heads ${nHead}`);
    }
    this.headSize = dim / nHead;
    this.causal = opts.causal ?? true;
    this.rotary = opts.rotary ?? false;
    this.rotaryBase = opts.rotaryBase ?? 10000;
    if (this.rotary && this.headSize % 2 !== 0) fail('MultiHeadAttention', `rotary needs an even head size, got ${this.headSize} (dim ${dim} / ${nHead} heads)`);
    const lin = (k: number, init = opts.init): LinearOptions => ({ bias: opts.bias, backend: opts.backend, seed: subSeed(opts.seed, k), init });
    this.q = new Linear(dim, dim, lin(0));
    this.k = new Linear(dim, dim, lin(1));
    this.v = new Linear(dim, dim, lin(2));
    this.o = new Linear(dim, dim, lin(3, opts.oInit ?? opts.init));
    this.drop = new Dropout(opts.dropout ?? 0, { seed: subSeed(opts.seed, 4) });
  }

  /** x [B, T, dim] -> [B, T, dim]. */
  forward(x: Tensor, opts: AttentionCallOptions = {}): Tensor {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) fail('MultiHeadAttention', `expects x [B, T, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [B, T] = x.shape;
    if (opts.keyPadding && (opts.keyPadding.ndim !== 2 || opts.keyPadding.shape[0] !== B || opts.keyPadding.shape[1] !== T)) {
      fail('MultiHeadAttention', `keyPadding must be [B, T] = [${B}, ${T}] (float, 1 = keep), got ${fmtShape(opts.keyPadding.shape)}`);
    }
    const heads = (t: Tensor) => permute(reshape(t, [B, T, this.nHead, this.headSize]), [0, 2, 1, 3]); // (B, nh, T, hs)
    let q = heads(this.q.forward(x));
    let k = heads(this.k.forward(x));
    const v = heads(this.v.forward(x));
    if (this.rotary) {
      q = applyRotary(q, opts.offset ?? 0, { base: this.rotaryBase });
      k = applyRotary(k, opts.offset ?? 0, { base: this.rotaryBase });
    }
    const y = attention(q, k, v, { causal: this.causal, keyPadding: opts.keyPadding }); // (B, nh, T, hs)
    const merged = reshape(permute(y, [0, 2, 1, 3]), [B, T, this.dim]); // (B, T, dim)
    return this.drop.forward(this.o.forward(merged));
  }
}
