// MoRALinear: a frozen Linear plus the MoRA update (shared/reference/mora-spec.md, the reference
// code is the contract):
//
//   y = base(x) + f_decomp(M · f_comp(dropout(x)))  =  base(x) + dropout(x) · ΔWᵀ
//
// M is square [R, R] with R = r̂ = mg.mora.rank(in, out, r, type) (LoRA's budget for the same r),
// starts at zero, and has NO alpha / scaling (factor 1; the learning rate is the only knob). The
// fused op (src/ops/mora.ts) does the compression, rotation, product and decompression in one
// dispatch. merge() folds ΔW (mg.mora.deltaWeight, closed form) into base.weight; this works for
// in <= R as well (wrap-around padding continues cyclically), where the reference's merge crashes.
//
// `type` may change between restarts (ReMoRA switches the grouping 1 -> 2 -> 3 -> 4); R stays fixed.
import { noGrad } from '../autograd.js';
import { fail } from '../errors.js';
import { zerosLike } from '../ops/creation.js';
import { deltaWeight, mora } from '../ops/mora.js';
import { checkEvenR, checkType, rank, typeName, type MoraType } from '../mora/rules.js';
import { tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { constant } from '../nn/init.js';
import type { Linear } from '../nn/linear.js';
import { type Parameter, copyInto } from '../nn/module.js';
import { AdapterLinear } from './lora.js';

export interface MoRAOptions {
  /** The LoRA rank whose budget M gets: R = round(√((in + out)·r)), even for type 6. Default 8. */
  r?: number;
  /** Compression / decompression type (default 6: rotation, the authors' choice for small r). */
  type?: MoraType;
  /** Dropout on x before compression. Default 0. */
  dropout?: number;
  /** Seed of the dropout masks (M starts at zero, so nothing else is random). */
  seed?: number;
}

export class MoRALinear extends AdapterLinear {
  readonly kind = 'mora' as const;
  /** [R, R], zero at init. Stored by PEFT-MoRA files under both lora_A.weight and lora_B.weight. */
  M: Parameter;
  /** The LoRA rank R was derived from (the `r` of adapter_config.json). */
  readonly r: number;
  /** r̂, the side of M. */
  readonly R: number;
  #type: MoraType;

  constructor(base: Linear, opts: MoRAOptions = {}) {
    super('MoRALinear', base, opts);
    const r = opts.r ?? 8;
    const type = checkType('MoRALinear', opts.type ?? 6);
    this.r = r;
    this.R = rank(base.inFeatures, base.outFeatures, r, type);
    this.#type = type;
    this.M = constant([this.R, this.R], 0, { backend: base.weight.backend.name });
    base.freeze();
  }

  /** The current compression / decompression type. */
  get type(): MoraType {
    return this.#type;
  }

  /**
   * Switches the type (R stays). Only while the adapter adds nothing or is merged would this keep
   * the function unchanged; `restart({ type })` is the safe way (fold ΔW first, zero M, switch).
   */
  set type(t: MoraType) {
    const op = 'MoRALinear.type';
    checkEvenR(op, checkType(op, t), this.R, `R = ${this.R} in this layer (${this.describeLayer()})`);
    if (this.merged)
      fail(op, `cannot change the type of a merged layer (${this.describeLayer()}): ΔW of the old type is in the weight; unmerge() first`);
    this.#type = t;
  }

  adapterParameters(): Parameter[] {
    return [this.M];
  }

  get adapterSize(): number {
    return this.R * this.R;
  }

  private opts() {
    return { inFeatures: this.inFeatures, outFeatures: this.outFeatures, type: this.#type };
  }

  protected adapterForward(x: Tensor): Tensor {
    return mora(x, this.M, this.opts()); // (..., in) -> (..., out)
  }

  /** ΔW [out, in] with mora(x) = x · ΔWᵀ (closed form, one dispatch). */
  deltaWeight(): Tensor {
    return noGrad(() => deltaWeight(this.M, this.opts()));
  }

  /**
   * ReMoRA restart: W += ΔW (current type) permanently, M = 0 in place (same Parameter), then the
   * type switches to `opts.type` when given.
   */
  restart(opts: { type?: MoraType } = {}): void {
    const next = opts.type;
    if (next !== undefined) {
      checkEvenR(
        'MoRALinear.restart',
        checkType('MoRALinear.restart', next),
        this.R,
        `R = ${this.R} in this layer (${this.describeLayer()})`,
      );
    }
    this.foldAndReset('MoRALinear.restart', () => {
      noGrad(() => tidy(() => copyInto(this.M, zerosLike(this.M))));
      if (next !== undefined) this.#type = next;
    });
  }

  override describeLayer(): string {
    return `mora adapter type ${typeName(this.#type)}, R = ${this.R} on Linear(${this.inFeatures} -> ${this.outFeatures})`;
  }
}
