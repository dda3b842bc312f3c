// LoRA (Hu et al. 2021) as PEFT implements it, and the base class both adapter layers share.
//
//   y = base(x) + (α/r) · B A dropout(x)        A [r, in] Kaiming-uniform, B [out, r] zero
//
// The wrapped Linear `base` is frozen; A and B train. At step 0 the adapter adds exactly 0 (B = 0)
// while B already gets a gradient. merge() folds ΔW = (α/r)·B A into base.weight in place
// (W += ΔW) and from then on forward() is base(x) alone; unmerge() subtracts the same ΔW again.
//
// Field names follow PEFT where they exist (lora_A, lora_B), so the adapter file keys
// `<path>.lora_A.weight` / `<path>.lora_B.weight` read like the module tree.
import { noGrad } from '../autograd.js';
import { fail, fmtShape } from '../errors.js';
import { addScaled } from '../ops/add-scaled.js';
import { add, mul, sub } from '../ops/binary.js';
import { rand, zerosLike } from '../ops/creation.js';
import { matmul, matmulT } from '../ops/matmul.js';
import { reshape } from '../ops/shape.js';
import { tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { Dropout } from '../nn/dropout.js';
import { constant, uniform } from '../nn/init.js';
import { Linear, checkInput } from '../nn/linear.js';
import { Module, type Parameter, copyInto, subSeed } from '../nn/module.js';

/**
 * What LoRALinear and MoRALinear share: the frozen `base` Linear, the merged flag, merge / unmerge
 * through `deltaWeight()`, and the Linear-like surface (inFeatures, outFeatures, weight, bias) so an
 * adapter is a drop-in replacement wherever the Linear was.
 */
export abstract class AdapterLinear extends Module {
  /** The wrapped layer (weight [out, in], frozen by the adapter's constructor). */
  base: Linear;
  /** Adapter dropout, applied to x before the adapter path (identity for p = 0 or in eval mode). */
  dropout: Dropout;
  /** True while ΔW is folded into base.weight (forward then skips the adapter). */
  #merged = false;

  constructor(op: string, base: Linear, opts: { dropout?: number; seed?: number }) {
    super();
    if ((base as unknown) instanceof AdapterLinear)
      fail(op, `the layer is already an adapter (${(base as unknown as AdapterLinear).describeLayer()}); wrap its .base instead`);
    if (!(base instanceof Linear)) fail(op, `expects the nn.Linear to wrap, got ${describe(base)}`);
    const p = opts.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) fail(op, `dropout must be a probability in [0, 1), got ${String(p)}`);
    if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(op, `seed must be an integer, got ${String(opts.seed)}`);
    this.base = base; // frozen by the subclass once its own options are checked
    this.dropout = new Dropout(p, { seed: subSeed(opts.seed, 1) });
    this.train(base.training);
  }

  /** Which adapter this is. */
  abstract readonly kind: 'lora' | 'mora' | 'dora';

  /** The adapter's trainable parameters (LoRA: [A, B]; MoRA: [M]). */
  abstract adapterParameters(): Parameter[];

  /**
   * ΔW [out, in] with adapter(x) = x · ΔWᵀ (scaling included), from the current adapter parameters.
   * A fresh tensor owned by the caller; not recorded on the tape.
   */
  abstract deltaWeight(): Tensor;

  /** The adapter path alone, on an already dropped-out x: [..., in] -> [..., out]. */
  protected abstract adapterForward(x: Tensor): Tensor;

  /** Number of trainable scalars the adapter adds. */
  abstract get adapterSize(): number;

  /** Frees the adapter's tensors (its parameters; what it cached) once it is unloaded. */
  releaseAdapter(): void {
    for (const p of this.adapterParameters()) p.dispose();
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }

  get outFeatures(): number {
    return this.base.outFeatures;
  }

  /** base.weight ([out, in]); holds W0 + ΔW while merged. */
  get weight(): Parameter {
    return this.base.weight;
  }

  get bias(): Parameter | null {
    return this.base.bias;
  }

  get merged(): boolean {
    return this.#merged;
  }

  /** x [..., in] -> [..., out]: base(x) + adapter(dropout(x)), or base(x) alone while merged. */
  forward(x: Tensor): Tensor {
    const y = this.base.forward(x);
    if (this.#merged) return y;
    return add(y, this.adapterForward(this.dropout.forward(x)));
  }

  /**
   * Folds ΔW into base.weight in place (W += ΔW, in the backend's float precision: float32 on
   * webgpu). forward() then runs the base layer alone. Throws when already merged.
   */
  merge(): void {
    if (this.#merged) fail(`${this.constructor.name}.merge`, `already merged (${this.describeLayer()}); call unmerge() first`);
    this.addDelta(1);
    this.#merged = true;
  }

  /** Subtracts the same ΔW again (W -= ΔW). Throws when not merged. */
  unmerge(): void {
    if (!this.#merged) fail(`${this.constructor.name}.unmerge`, `not merged (${this.describeLayer()})`);
    this.addDelta(-1);
    this.#merged = false;
  }

  /** W += sign·ΔW in place (the Parameter object stays the same, so optimizers keep pointing at it). */
  protected addDelta(sign: 1 | -1): void {
    const W = this.base.weight;
    noGrad(() =>
      tidy(() => {
        const dW = this.deltaWeight(); // (out, in)
        if (dW.shape[0] !== W.shape[0] || dW.shape[1] !== W.shape[1]) {
          fail(`${this.constructor.name}.merge`, `ΔW ${fmtShape(dW.shape)} does not match the weight ${fmtShape(W.shape)}`);
        }
        copyInto(W, sign > 0 ? add(W, dW) : sub(W, dW));
      }),
    );
  }

  /**
   * For restart schemes (ReLoRA / ReMoRA): folds ΔW into W permanently (W += ΔW, not marked merged),
   * then runs `reset`, which must re-initialise the adapter so that it adds 0 again (each subclass's
   * `restart()`).
   */
  protected foldAndReset(op: string, reset: () => void): void {
    if (this.#merged) fail(op, `the layer is merged (${this.describeLayer()}); unmerge() it before a restart`);
    this.addDelta(1);
    reset();
  }

  describeLayer(): string {
    return `${this.kind} adapter on Linear(${this.inFeatures} -> ${this.outFeatures})`;
  }
}

export interface LoRAOptions {
  /** Rank r of A [r, in] and B [out, r] (default 8, PEFT's). */
  r?: number;
  /** α: the adapter output is scaled by α/r (default 8, PEFT's lora_alpha; α = r gives scale 1). */
  alpha?: number;
  /** rsLoRA scaling α/√r instead of α/r (PEFT's use_rslora). Default false. */
  rslora?: boolean;
  /** Dropout on x before A (PEFT's lora_dropout). Default 0. */
  dropout?: number;
  /** Seed of A's init (sub-stream 0) and the dropout masks (sub-stream 1); global stream when absent. */
  seed?: number;
}

/**
 * A LoRA-adapted Linear: y = base(x) + (α/r)·B A dropout(x). A [r, in] ~ U(-1/√in, 1/√in) (PEFT's
 * `kaiming_uniform_(a=√5)`), B [out, r] = 0; base frozen.
 */
export class LoRALinear extends AdapterLinear {
  readonly kind: 'lora' | 'dora' = 'lora';
  /** [r, in] (PEFT's lora_A.weight). */
  lora_A: Parameter;
  /** [out, r] (PEFT's lora_B.weight). */
  lora_B: Parameter;
  readonly r: number;
  readonly alpha: number;
  readonly rslora: boolean;
  /** α/r (or α/√r with rslora). */
  readonly scaling: number;
  /** Seed of the last init of A (restarts re-draw A from a fresh one). */
  private initSeed: number | undefined;

  /** `op`: the class name in errors (subclasses: DoRALinear). */
  constructor(base: Linear, opts: LoRAOptions = {}, op = 'LoRALinear') {
    super(op, base, opts);
    const r = opts.r ?? 8;
    const alpha = opts.alpha ?? 8;
    if (!Number.isInteger(r) || r < 1) fail(op, `r must be a positive integer, got ${String(r)}`);
    // ΔW = B·A has rank <= min(in, out): a larger r only adds parameters that cannot add rank
    const most = Math.min(base.inFeatures, base.outFeatures);
    if (r > most)
      fail(
        op,
        `r = ${r} exceeds min(in, out) = ${most} of Linear ${base.inFeatures} -> ${base.outFeatures} (ΔW = B·A has rank at most ${most}); use r <= ${most}`,
      );
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(op, `alpha must be a finite number, got ${String(alpha)}`);
    this.r = r;
    this.alpha = alpha;
    this.rslora = opts.rslora ?? false;
    this.scaling = this.rslora ? alpha / Math.sqrt(r) : alpha / r;
    const backend = base.weight.backend.name;
    const bound = 1 / Math.sqrt(base.inFeatures);
    this.initSeed = subSeed(opts.seed, 0);
    this.lora_A = uniform([r, base.inFeatures], -bound, bound, { backend, seed: this.initSeed });
    this.lora_B = constant([base.outFeatures, r], 0, { backend });
    base.freeze();
  }

  adapterParameters(): Parameter[] {
    return [this.lora_A, this.lora_B];
  }

  get adapterSize(): number {
    return this.r * (this.inFeatures + this.outFeatures);
  }

  /**
   * x [..., in] -> [..., out]: x Wᵀ, the adapter path h Bᵀ with h = dropout(x) Aᵀ, then
   * x Wᵀ + s·h Bᵀ + b in one dispatch (addScaled), or base(x) alone while merged.
   */
  override forward(x: Tensor): Tensor {
    if (this.merged) return this.base.forward(x);
    checkInput(this, x);
    const x2 = x.ndim === 1 ? reshape(x, [1, this.inFeatures]) : x; // (rows..., in)
    const xd = this.dropout.forward(x2);
    const base = matmulT(x2, this.base.weight, { transB: true }); // (rows..., out)
    const h = matmulT(xd, this.lora_A, { transB: true }); // (rows..., r)
    const z = matmulT(h, this.lora_B, { transB: true }); // (rows..., out)
    const y = addScaled(base, z, this.scaling, this.base.bias);
    return x.ndim === 1 ? reshape(y, [this.outFeatures]) : y;
  }

  // h = x Aᵀ · s (..., r);  out = h Bᵀ (..., out)        (s = α/r, applied on the narrow side)
  protected adapterForward(x: Tensor): Tensor {
    const x2 = x.ndim === 1 ? reshape(x, [1, this.inFeatures]) : x; // (rows..., in)
    const h = mul(matmulT(x2, this.lora_A, { transB: true }), this.scaling); // (rows..., r)
    const y = matmulT(h, this.lora_B, { transB: true }); // (rows..., out)
    return x.ndim === 1 ? reshape(y, [this.outFeatures]) : y;
  }

  /** ΔW = (α/r)·B A  [out, in]. */
  deltaWeight(): Tensor {
    return noGrad(() => mul(matmul(this.lora_B, this.lora_A), this.scaling)); // (out, r) @ (r, in)
  }

  /**
   * ReLoRA restart: W += ΔW permanently, then A is re-drawn (Kaiming-uniform from `seed`, or a
   * sub-stream of the previous init seed) and B zeroed, in place (same Parameter objects).
   */
  restart(opts: { seed?: number } = {}): void {
    this.foldAndReset('LoRALinear.restart', () => {
      const seed = opts.seed ?? (this.initSeed === undefined ? undefined : subSeed(this.initSeed, 1));
      this.initSeed = seed;
      const bound = 1 / Math.sqrt(this.inFeatures);
      noGrad(() =>
        tidy(() => {
          copyInto(this.lora_A, rand(this.lora_A.shape, { seed, backend: this.lora_A.backend.name, low: -bound, high: bound }));
          copyInto(this.lora_B, zerosLike(this.lora_B));
        }),
      );
    });
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}
