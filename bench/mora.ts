// MoRA (src/ops/mora.ts) forward + backward: the fused op pair against its naive twin (moraNaive,
// primitive ops on the tape), against LoRA at the matched parameter budget (same r: R = r̂ with
// R² ≈ r·(in + out)), and against dense matmuls of the same shapes (the GFLOP/s the adapter could
// reach: the layer's own x Wᵀ, and a plain matmul of the fused op's inner shapes); then the adapted Linear layers (frozen base + adapter, MoRALinear vs LoRALinear).
//
// Multiply-adds (MACs) per forward + backward, T tokens, k = in, d = out:
//   MoRA types 1-4:  3·T·R²        (forward M·v; backward dM = Σ u vᵀ and Mᵀu), plus O(T·(k + d)) adds
//   MoRA type 6:     3·T·nc·R²     (nc = min(ceil(k/R), ceil(d/R)) chunks reach the output), plus the
//                                  rotation (2 MACs per input element) and the adds
//   LoRA:            3·T·r·(k + d) (forward x Aᵀ, h Bᵀ; backward dA, dB, dh, dx)
//   frozen base:     2·T·k·d       (forward x Wᵀ, backward dx = g W; no dW)
// x requires grad in every case (a layer inside a network).
import * as mg from '../src/index.js';
import { matmulT } from '../src/ops/matmul.js';
import { mora, moraGeometry, moraNaive, type MoraType } from '../src/ops/mora.js';
import { type Args, fmt, gpuSync, measure, type Timing } from './common.js';

export interface MoraCase {
  name: string;
  T: number;
  k: number;
  d: number;
  r: number;
  type: MoraType;
}

export const MORA_CASES: MoraCase[] = [
  { name: 'square, small r', T: 512, k: 1024, d: 1024, r: 8, type: 6 },
  { name: 'square, large r', T: 512, k: 1024, d: 1024, r: 64, type: 1 },
  { name: 'in != out (up-projection)', T: 512, k: 1024, d: 4096, r: 8, type: 6 },
];

export interface MoraEntry {
  what: string;
  macs: number;
  timing: Timing;
  gflops: number;
  /** mg.profile: dispatches per forward + backward. */
  dispatches: number;
  /** mg.profile of one call: GPU ms per kernel, largest first. */
  kernels: { kernel: string; gpuMs: number }[];
}

export interface MoraResult {
  case: string;
  shapes: string;
  R: number;
  /** Trainable scalars: MoRA R², LoRA r·(k + d). */
  moraParams: number;
  loraParams: number;
  fused: MoraEntry;
  naive: MoraEntry;
  lora: MoraEntry;
  /** The layer's dense product x Wᵀ (forward + dx + dW): the GFLOP/s reference of both adapters. */
  denseBase: MoraEntry;
  /** A plain matmul of the fused op's inner shapes ([T·nc, R] x [R, R]ᵀ, forward + both gradients). */
  denseForMora: MoraEntry;
  moraLinear: MoraEntry;
  loraLinear: MoraEntry;
  /** naive / fused time (target >= 3). */
  fusedSpeedup: number;
  /** MoRALinear / LoRALinear time (target <= 1.3). */
  linearRatio: number;
  /** Adapter GFLOP/s / the layer's dense matmul GFLOP/s (target >= 0.5 each). */
  moraEfficiency: number;
  loraEfficiency: number;
}

function clearGrads(ts: mg.Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

async function timeFwdBwd(
  what: string,
  macs: number,
  leaves: mg.Tensor[],
  f: () => mg.Tensor,
  g: mg.Tensor,
  quick: boolean,
): Promise<MoraEntry> {
  const once = async () => {
    mg.tidy(() => f().backward(g));
    clearGrads(leaves);
    await gpuSync();
  };
  // the profiled call doubles as the warm-up (pipelines compile on the CPU, outside the GPU timestamps)
  const prof = await mg.profile(async () => {
    mg.tidy(() => f().backward(g));
    clearGrads(leaves);
    await gpuSync();
  });
  const timing = await measure(what, once, { maxTime: quick ? 0.3 : 1.5, minSamples: quick ? 2 : 4 });
  const by = new Map<string, number>();
  for (const k of prof.kernels) by.set(k.kernel, (by.get(k.kernel) ?? 0) + (k.gpuMs ?? 0));
  const kernels = [...by].map(([kernel, gpuMs]) => ({ kernel, gpuMs })).sort((a, b) => b.gpuMs - a.gpuMs);
  return { what, macs, timing, gflops: (2 * macs) / timing.median / 1e9, dispatches: prof.kernels.length, kernels };
}

export async function benchMora(args: Args, log: (s: string) => void = () => {}): Promise<MoraResult[]> {
  const out: MoraResult[] = [];
  for (const c0 of MORA_CASES) {
    // --quick: 128 tokens instead of 512 (same layer shapes, a quarter of the work)
    const c = args.quick ? { ...c0, T: 128 } : c0;
    const { T, k, d, r } = c;
    const R = mg.mora.rank(k, d, r, c.type);
    const geo = moraGeometry(k, d, R, c.type);
    const chunks = c.type === 6 ? geo.nc : 1;
    const moraMacs = 3 * T * chunks * R * R;
    const loraMacs = 3 * T * r * (k + d);
    const opts = { inFeatures: k, outFeatures: d, type: c.type };
    const x = mg.randn([T, k], { seed: 1, requiresGrad: true });
    const g = mg.randn([T, d], { seed: 2 });
    const M = mg.randn([R, R], { seed: 3, requiresGrad: true });
    const A = mg.randn([r, k], { seed: 4, requiresGrad: true });
    const B = mg.randn([d, r], { seed: 5, requiresGrad: true });

    const fused = await timeFwdBwd('mora fused', moraMacs, [x, M], () => mora(x, M, opts), g, args.quick);
    const naive = await timeFwdBwd('mora naive twin', moraMacs, [x, M], () => moraNaive(x, M, opts), g, args.quick);
    const lora = await timeFwdBwd(
      'lora (x Aᵀ) Bᵀ',
      loraMacs,
      [x, A, B],
      () => matmulT(matmulT(x, A, { transB: true }), B, { transB: true }),
      g,
      args.quick,
    );

    // dense references: the layer's own product x Wᵀ ([T, k] x [k, d], forward + dx + dW), and a plain
    // matmul of the fused op's inner shapes ([T·nc, R] x [R, R]ᵀ, forward + both gradients)
    const W = mg.randn([d, k], { seed: 6, requiresGrad: true });
    const denseBase = await timeFwdBwd('dense x Wᵀ', 3 * T * k * d, [x, W], () => matmulT(x, W, { transB: true }), g, args.quick);
    const v = mg.randn([T * chunks, R], { seed: 6, requiresGrad: true }); // (T·nc, R): the compressed tokens
    const gv = mg.randn([T * chunks, R], { seed: 7 });
    const denseForMora = await timeFwdBwd(
      'dense [T·nc, R] x [R, R]ᵀ',
      moraMacs,
      [v, M],
      () => matmulT(v, M, { transB: true }),
      gv,
      args.quick,
    );

    // adapted Linear layers: frozen base + adapter
    const base1 = new mg.nn.Linear(k, d, { seed: 8 });
    const base2 = new mg.nn.Linear(k, d, { seed: 8 });
    const ml = new mg.peft.MoRALinear(base1, { r, type: c.type });
    const ll = new mg.peft.LoRALinear(base2, { r });
    mg.noGrad(() =>
      mg.tidy(() => {
        // non-zero adapters (M = 0 and B = 0 at init cost the same, but keep it realistic)
        mg.nn.copyInto(ml.M, mg.randn(ml.M.shape, { seed: 9 }));
        mg.nn.copyInto(ll.lora_B, mg.randn(ll.lora_B.shape, { seed: 10 }));
      }),
    );
    const baseMacs = 2 * T * k * d;
    const moraLinear = await timeFwdBwd('MoRALinear', baseMacs + moraMacs, [x, ml.M], () => ml.forward(x), g, args.quick);
    const loraLinear = await timeFwdBwd('LoRALinear', baseMacs + loraMacs, [x, ll.lora_A, ll.lora_B], () => ll.forward(x), g, args.quick);

    const res: MoraResult = {
      case: c.name,
      shapes: `T ${T}, in ${k}, out ${d}, r ${r}, type ${c.type}`,
      R,
      moraParams: R * R,
      loraParams: r * (k + d),
      fused,
      naive,
      lora,
      denseBase,
      denseForMora,
      moraLinear,
      loraLinear,
      fusedSpeedup: naive.timing.median / fused.timing.median,
      linearRatio: moraLinear.timing.median / loraLinear.timing.median,
      moraEfficiency: fused.gflops / denseBase.gflops,
      loraEfficiency: lora.gflops / denseBase.gflops,
    };
    log(
      `  ${c.name} (R ${R}): fused ${fmt(fused.timing.median * 1e3, 1)} ms, naive ${fmt(naive.timing.median * 1e3, 1)} ms (x${fmt(res.fusedSpeedup, 1)}), ` +
        `LoRA ${fmt(lora.timing.median * 1e3, 1)} ms; MoRALinear/LoRALinear x${fmt(res.linearRatio, 2)}; ` +
        `efficiency MoRA ${fmt(100 * res.moraEfficiency, 0)}%, LoRA ${fmt(100 * res.loraEfficiency, 0)}%`,
    );
    out.push(res);
    for (const t of [x, g, M, A, B, W, v, gv]) t.dispose();
    ml.dispose();
    ll.dispose();
  }
  return out;
}
