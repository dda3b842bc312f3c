// DoRA (Liu et al. 2024, arXiv 2402.09353) as HF PEFT implements it (tuners/lora/dora.py,
// DoraLinearLayer), written with mg.customOp the way a user would write their own PEFT method:
//
//   W' = m ⊙ (W + s·B A) / ‖W + s·B A‖_row        y = x W'ᵀ + bias
//
// W [out, in] the frozen base weight, A [r, in] and B [out, r] LoRA's factors, s = α/r (α/√r with
// rsLoRA), m [out] the trained magnitude (`lora_magnitude_vector`). The norm is PEFT's
// `torch.linalg.norm(W + s·B A, dim=1)`: for a Linear weight [out, in] one value per OUTPUT feature,
// over the input dim (the paper's "column" norm, its weights being [in, out]). As in the paper
// (section 4.3) and PEFT, the norm is detached: it follows ΔW in the forward but gets no gradient.
//
// Pieces:
//   doraNorm       the custom op ‖W + s·B A‖_row: one fused dispatch (kernels/dora_norm.wgsl, never
//                  forming B A), a float64 cpu loop, and its full backward (for detachNorm: false)
//   doraNormNaive  the same from primitive ops (its twin in the tests)
//   dora           the DoRA linear map for a given (or computed, detached) norm, composed
//   DoRALinear     the adapter layer: LoRA's A, B and init plus m = ‖W‖_row, PEFT's forward (with
//                  dropout the base path sees x, the DoRA path dropout(x)), merge / unmerge as PEFT
import { noGrad } from '../autograd.js';
import { fail, fmtShape } from '../errors.js';
import { customOp } from '../custom/op.js';
import { add, div, mul, sub } from '../ops/binary.js';
import { grid1d } from '../ops/grid.js';
import { matmul, matmulT } from '../ops/matmul.js';
import { sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { sqrt } from '../ops/unary.js';
import { keep, tidy } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import type { Linear } from '../nn/linear.js';
import { Parameter, copyInto } from '../nn/module.js';
import { LoRALinear, type LoRAOptions } from './lora.js';

function checkFactors(op: string, W: Tensor, A: Tensor, B: Tensor, scaling: number): void {
  for (const [n, t] of [
    ['W', W],
    ['A', A],
    ['B', B],
  ] as const) {
    if (!t || typeof t !== 'object' || !('shape' in t)) fail(op, `${n} must be a Tensor, got ${String(t)}`);
    if (t.ndim !== 2 || t.dtype !== 'float32') fail(op, `${n} must be a 2-D float32 tensor, got ${t.describe()}`);
  }
  const [out, inF] = W.shape;
  if (A.shape[1] !== inF || B.shape[0] !== out || B.shape[1] !== A.shape[0]) {
    fail(op, `expects W [out, in], A [r, in], B [out, r]; got W ${fmtShape(W.shape)}, A ${fmtShape(A.shape)}, B ${fmtShape(B.shape)}`);
  }
  if (typeof scaling !== 'number' || !Number.isFinite(scaling)) fail(op, `scaling must be a finite number, got ${String(scaling)}`);
}

/**
 * ‖W + s·B A‖₂ per row (per output feature): [out]. One fused dispatch; differentiable in W, A and B.
 */
// V = W + s·B A,  n = √(Σ_i V²)
// dV = (g / n)[:, None] ⊙ V;   dW = dV,   dA = s·Bᵀ dV,   dB = s·dV Aᵀ
export const doraNorm = customOp({
  name: 'dora.norm',
  wgsl: { norm: new URL('../../kernels/dora_norm.wgsl', import.meta.url) },
  cpu: {
    norm: ([w, a, b], [n], p) => {
      const [rows, cols, rank, s] = [p.rows, p.cols, p.rank, p.scaling] as number[];
      for (let o = 0; o < rows; o++) {
        let acc = 0;
        for (let i = 0; i < cols; i++) {
          let d = 0;
          for (let k = 0; k < rank; k++) d += b[o * rank + k] * a[k * cols + i];
          const v = w[o * cols + i] + s * d;
          acc += v * v;
        }
        n[o] = Math.sqrt(acc);
      }
    },
  },
  forward(ctx, W: Tensor, A: Tensor, B: Tensor, scaling: number) {
    checkFactors('dora.norm', W, A, B, scaling);
    const [out, inF] = W.shape;
    const [n] = ctx.kernel('norm', {
      inputs: [W, A, B],
      outputs: [{ shape: [out] }],
      params: { rows: ['u32', out], cols: ['u32', inF], rank: ['u32', A.shape[0]], scaling: ['f32', scaling] },
      workgroups: grid1d(out, 64),
    });
    ctx.save(W, A, B, n);
    return n;
  },
  backward(ctx, g) {
    const [W, A, B, n] = ctx.saved;
    const s = ctx.args[3] as number;
    const V = add(W, mul(matmul(B, A), s)); // (out, in)
    const dV = mul(V, reshape(div(g, n), [n.size, 1])); // (out, in)
    const [needW, needA, needB] = ctx.needsInputGrad;
    return [
      needW ? dV : null,
      needA ? mul(matmulT(B, dV, { transA: true }), s) : null,
      needB ? mul(matmulT(dV, A, { transB: true }), s) : null,
      null,
    ];
  },
});

/** ‖W + s·B A‖₂ per row from primitive ops (matmul, mul, add, sum, sqrt): the twin of doraNorm. */
export function doraNormNaive(W: Tensor, A: Tensor, B: Tensor, scaling: number): Tensor {
  checkFactors('dora.normNaive', W, A, B, scaling);
  const V = add(W, mul(matmul(B, A), scaling)); // (out, in)
  return sqrt(sum(mul(V, V), -1)); // (out)
}

export interface DoraOptions {
  /** LoRA's scaling s (α/r). */
  scaling: number;
  /** The base layer's bias [out], added after scaling (as the Linear does). */
  bias?: Tensor | null;
  /**
   * The row norm ‖W + s·B A‖ to use, treated as a constant (the detached norm of the paper). Default:
   * computed here by doraNorm, detached, or differentiated when detachNorm is false.
   */
  norm?: Tensor;
  /** Default true (paper section 4.3, PEFT). False: the gradient also flows through the norm. */
  detachNorm?: boolean;
}

/**
 * The DoRA linear map, x [..., in] -> [..., out]: (m / n) ⊙ (x Wᵀ + s·(x Aᵀ) Bᵀ) + bias with
 * n = ‖W + s·B A‖_row, i.e. x W'ᵀ + bias for W' = m ⊙ (W + s·B A) / n. Composed from ops; the
 * norm is the fused doraNorm.
 */
export function dora(x: Tensor, W: Tensor, m: Tensor, A: Tensor, B: Tensor, opts: DoraOptions): Tensor {
  const op = 'dora';
  checkFactors(op, W, A, B, opts.scaling);
  const [out, inF] = W.shape;
  if (m.ndim !== 1 || m.shape[0] !== out) fail(op, `the magnitude m must have shape [${out}] (W's rows), got ${fmtShape(m.shape)}`);
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inF) fail(op, `x ${fmtShape(x.shape)} must end in W's input dim ${inF}`);
  if (opts.norm && (opts.norm.ndim !== 1 || opts.norm.shape[0] !== out))
    fail(op, `norm must have shape [${out}], got ${fmtShape(opts.norm.shape)}`);
  const x2 = x.ndim === 1 ? reshape(x, [1, inF]) : x; // (rows..., in)
  const h = matmulT(x2, W, { transB: true }); // (rows..., out)
  let y = mul(add(h, loraPath(x2, A, B, opts.scaling)), magnitudeScale(W, m, A, B, opts)); // (rows..., out)
  if (opts.bias) y = add(y, opts.bias);
  return x.ndim === 1 ? reshape(y, [out]) : y;
}

/** m / n [out] with n = opts.norm, or ‖W + s·B A‖_row by doraNorm (detached unless detachNorm is false). */
function magnitudeScale(W: Tensor, m: Tensor, A: Tensor, B: Tensor, opts: DoraOptions): Tensor {
  const n = opts.norm ?? (opts.detachNorm === false ? doraNorm(W, A, B, opts.scaling) : noGrad(() => doraNorm(W, A, B, opts.scaling))); // (out)
  return div(m, n);
}

/** s·(x Aᵀ) Bᵀ: (rows..., in) -> (rows..., out), the scaling on the narrow side. */
function loraPath(x: Tensor, A: Tensor, B: Tensor, s: number): Tensor {
  return matmulT(mul(matmulT(x, A, { transB: true }), s), B, { transB: true });
}

export interface DoRAOptions extends LoRAOptions {
  /** Differentiate through the weight norm instead of detaching it (default false: paper, PEFT). */
  detachNorm?: boolean;
}

/**
 * A DoRA-adapted Linear: LoRA's A [r, in] (Kaiming-uniform) and B [out, r] (zero), plus the
 * magnitude m [out] = ‖W‖_row (so the layer starts as the base layer); A, B and m train.
 */
export class DoRALinear extends LoRALinear {
  override readonly kind = 'dora' as const;
  /** [out] (PEFT's lora_magnitude_vector; saved under that key). */
  lora_magnitude_vector: Parameter;
  readonly detachNorm: boolean;
  /** The norm at merge time, for unmerge (PEFT caches it too: W' no longer gives it). */
  private mergedNorm: Tensor | null = null;

  constructor(base: Linear, opts: DoRAOptions = {}) {
    super(base, opts, 'DoRALinear');
    this.detachNorm = opts.detachNorm ?? true;
    this.lora_magnitude_vector = noGrad(() => new Parameter(doraNorm(base.weight, this.lora_A, this.lora_B, this.scaling)));
  }

  override adapterParameters(): Parameter[] {
    return [this.lora_A, this.lora_B, this.lora_magnitude_vector];
  }

  override get adapterSize(): number {
    return this.r * (this.inFeatures + this.outFeatures) + this.outFeatures;
  }

  override releaseAdapter(): void {
    super.releaseAdapter();
    this.mergedNorm?.dispose();
    this.mergedNorm = null;
  }

  /** The row norm ‖W + s·B A‖ for the current (unmerged) weight, detached. */
  weightNorm(): Tensor {
    return noGrad(() => doraNorm(this.base.weight, this.lora_A, this.lora_B, this.scaling));
  }

  /**
   * PEFT's forward. Without dropout (p = 0 or eval): dora(x) = x W'ᵀ + bias. With dropout:
   * base(x) + (m/n - 1) ⊙ dropout(x) Wᵀ + (m/n) ⊙ s·B A dropout(x).
   */
  override forward(x: Tensor): Tensor {
    if (this.merged) return this.base.forward(x);
    const opts = { scaling: this.scaling, detachNorm: this.detachNorm };
    const xd = this.dropout.forward(x);
    if (xd === x) return dora(x, this.base.weight, this.lora_magnitude_vector, this.lora_A, this.lora_B, { ...opts, bias: this.base.bias });
    const W = this.base.weight;
    const xd2 = xd.ndim === 1 ? reshape(xd, [1, this.inFeatures]) : xd; // (rows..., in)
    const scale = magnitudeScale(W, this.lora_magnitude_vector, this.lora_A, this.lora_B, opts); // (out)
    const h = matmulT(xd2, W, { transB: true }); // (rows..., out)
    const term = add(mul(h, sub(scale, 1)), mul(loraPath(xd2, this.lora_A, this.lora_B, this.scaling), scale)); // (rows..., out)
    return add(this.base.forward(x), xd.ndim === 1 ? reshape(term, [this.outFeatures]) : term);
  }

  /** The additive ΔW = W' - W [out, in] with forward(x) = x (W + ΔW)ᵀ + bias. Needs the layer unmerged. */
  override deltaWeight(): Tensor {
    if (this.merged) fail('DoRALinear.deltaWeight', `the layer is merged (${this.describeLayer()}); W already holds W'`);
    return noGrad(() => tidy(() => sub(this.mergedWeight(this.weightNorm()), this.base.weight)));
  }

  /** W' = (m / n) ⊙ (W + s·B A) for the norm n. */
  private mergedWeight(n: Tensor): Tensor {
    const W = this.base.weight;
    const V = add(W, mul(matmul(this.lora_B, this.lora_A), this.scaling)); // (out, in)
    return mul(V, reshape(div(this.lora_magnitude_vector, n), [this.outFeatures, 1])); // (out, in)
  }

  /**
   * PEFT's merge and unmerge: W ← (m/n) ⊙ (W + s·B A), caching n; unmerge W ← W / (m/n) - s·B A with
   * the cached n. Also what a ReLoRA restart folds (W' keeps row norms |m|, so m stays valid).
   */
  protected override addDelta(sign: 1 | -1): void {
    const W = this.base.weight;
    noGrad(() =>
      tidy(() => {
        if (sign > 0) {
          const n = keep(this.weightNorm()); // (out), owned by the layer until unmerge
          this.mergedNorm?.dispose();
          this.mergedNorm = n;
          copyInto(W, this.mergedWeight(n));
          return;
        }
        if (!this.mergedNorm) fail('DoRALinear.unmerge', `no norm cached by merge() (${this.describeLayer()})`);
        const factor = reshape(div(this.lora_magnitude_vector, this.mergedNorm), [this.outFeatures, 1]); // (out, 1)
        copyInto(W, sub(div(W, factor), mul(matmul(this.lora_B, this.lora_A), this.scaling)));
        this.mergedNorm.dispose();
        this.mergedNorm = null;
      }),
    );
  }

  override describeLayer(): string {
    return `dora adapter r = ${this.r} on Linear(${this.inFeatures} -> ${this.outFeatures})`;
  }
}
