// A synthetic but realistic run record (5 methods, 4 layers x 6 adapted modules) for report and
// validator tests. Numbers are made up; shapes and ranges are those of a real `moragrad demo` run.
import { HostRng } from '../../src/ops/random.js';
import type { MethodResult, RunMetrics } from '../../src/app/experiments/metrics.js';
import type { ModuleRank } from '../../src/app/experiments/rank.js';
import { effectiveRank, stableRank } from '../../src/app/experiments/rank.js';

const KINDS: [string, string, [number, number]][] = [
  ['q', 'attn.q', [128, 128]],
  ['k', 'attn.k', [128, 128]],
  ['v', 'attn.v', [128, 128]],
  ['o', 'attn.o', [128, 128]],
  ['up', 'mlp.up', [512, 128]],
  ['down', 'mlp.down', [128, 512]],
];

function spectrum(rng: HostRng, n: number, rank: number, top: number, decay: number): number[] {
  return Array.from({ length: n }, (_, i) => (i < rank ? top * Math.exp(-decay * i) * (0.9 + 0.2 * rng.next()) : 0)).sort((a, b) => b - a);
}

function ranks(rng: HostRng, rank: (n: number) => number, top: number, decay: number, threshold: number, topK = 64): ModuleRank[] {
  const out: ModuleRank[] = [];
  for (let layer = 0; layer < 4; layer++) {
    for (const [, path, shape] of KINDS) {
      const n = Math.min(...shape);
      const sv = spectrum(rng, n, rank(n), top, decay);
      out.push({
        name: `blocks.${layer}.${path}.weight`,
        shape,
        singularValues: sv.slice(0, topK),
        rankAbove: sv.filter((s) => s > threshold).length,
        threshold,
        frobenius: Math.sqrt(sv.reduce((s, x) => s + x * x, 0)),
        stableRank: stableRank(sv),
        effectiveRank: effectiveRank(sv),
      });
    }
  }
  return out;
}

function lossCurve(rng: HostRng, steps: number, start: number, end: number, tau: number): number[] {
  return Array.from({ length: steps }, (_, i) => (end + (start - end) * Math.exp(-(i + 1) / tau)) * (1 + 0.08 * (rng.next() - 0.5)));
}

export function syntheticMetrics(opts: { steps?: number; withRank?: boolean; seeds?: number } = {}): RunMetrics {
  const steps = opts.steps ?? 200;
  const evalSteps = [0.25, 0.5, 0.75, 1].map((f) => Math.round(f * steps));
  const rng = new HostRng(7);
  const th = 0.1;
  const withRank = opts.withRank ?? true;
  const acc = (xs: number[]) => evalSteps.map((step, i) => ({ step, charAccuracy: xs[i], exactMatch: Math.max(0, (xs[i] - 0.9) * 10) }));
  const method = (m: Partial<MethodResult> & Pick<MethodResult, 'name' | 'adapter'>): MethodResult => ({
    seed: 0,
    examples: 64,
    r: null,
    sweepBracketed: m.lrSweep?.length ? true : null,
    R: null,
    type: null,
    alpha: null,
    targets: ['q', 'k', 'v', 'o', 'up', 'down'],
    trainableParams: 0,
    totalParams: 811_392,
    lr: 1e-3,
    lrSweep: [],
    steps,
    loss: [],
    accuracy: [],
    wallTimeSec: 40,
    rank: [],
    status: 'complete',
    ...m,
  });
  const methods: MethodResult[] = [
    method({
      name: 'Full fine-tuning',
      adapter: 'full',
      targets: [],
      trainableParams: 811_392,
      lr: 3e-4,
      lrSweep: [1e-4, 3e-4, 1e-3].map((lr, i) => ({ lr, steps: 30, finalLoss: [1.9, 1.4, 2.2][i], charAccuracy: null })),
      loss: lossCurve(rng, steps, 3.2, 0.05, steps / 4),
      accuracy: acc([0.31, 0.74, 0.97, 1]),
      wallTimeSec: 71.4,
      rank: withRank ? ranks(rng, (n) => n, 0.45, 0.05, th) : [],
    }),
    method({
      name: 'LoRA r=8',
      adapter: 'lora',
      r: 8,
      alpha: 16,
      trainableParams: 49_152,
      lr: 2e-3,
      lrSweep: [5e-4, 1e-3, 2e-3].map((lr, i) => ({ lr, steps: 30, finalLoss: [2.6, 2.3, 2.1][i], charAccuracy: null })),
      loss: lossCurve(rng, steps, 3.2, 0.9, steps / 2),
      accuracy: acc([0.2, 0.24, 0.33, 0.41]),
      wallTimeSec: 38.2,
      rank: withRank ? ranks(rng, () => 8, 0.3, 0.25, th) : [],
    }),
    method({
      name: 'MoRA r=8 (type 6)',
      adapter: 'mora',
      r: 8,
      R: [
        { in: 128, out: 128, R: 44, modules: 16 },
        { in: 128, out: 512, R: 80, modules: 4 },
        { in: 512, out: 128, R: 80, modules: 4 },
      ],
      type: 6,
      trainableParams: 46_464,
      lr: 1e-3,
      lrSweep: [5e-4, 1e-3, 2e-3].map((lr, i) => ({ lr, steps: 30, finalLoss: [2.5, 2.2, 2.4][i], charAccuracy: null })),
      loss: lossCurve(rng, steps, 3.2, 0.7, steps / 2.5),
      accuracy: acc([0.21, 0.3, 0.45, 0.58]),
      wallTimeSec: 41.9,
      rank: withRank ? ranks(rng, (n) => Math.min(n, 44), 0.25, 0.06, th) : [],
    }),
    method({
      name: 'LoRA r=64',
      adapter: 'lora',
      r: 64,
      alpha: 128,
      trainableParams: 393_216,
      lr: 1e-3,
      lrSweep: [],
      loss: lossCurve(rng, steps, 3.2, 0.2, steps / 3),
      accuracy: acc([0.25, 0.6, 0.92, 0.995]),
      wallTimeSec: 44,
      rank: withRank ? ranks(rng, () => 64, 0.4, 0.08, th) : [],
    }),
    method({
      name: 'MoRA r=64 (type 1)',
      adapter: 'mora',
      r: 64,
      R: [{ in: 128, out: 128, R: 124, modules: 24 }],
      type: 1,
      trainableParams: 369_024,
      lr: 1e-4,
      lrSweep: [],
      loss: lossCurve(rng, steps, 3.2, 0.3, steps / 3),
      accuracy: acc([0.24, 0.55, 0.88, 0.97]),
      wallTimeSec: 46.5,
      rank: withRank ? ranks(rng, (n) => Math.min(n, 124), 0.35, 0.04, th) : [],
    }),
  ];
  // Further seeds: the same runs with accuracies moved by up to ±3 points (no sweep: the first seed chose).
  const seeds = opts.seeds ?? 1;
  for (let s = 1; s < seeds; s++) {
    for (const base of methods.filter((x) => x.seed === 0)) {
      methods.push({
        ...base,
        seed: s,
        lrSweep: [],
        sweepBracketed: null,
        accuracy: base.accuracy.map((a) => ({
          ...a,
          charAccuracy: Math.min(1, Math.max(0, a.charAccuracy + 0.03 * (2 * rng.next() - 1))),
        })),
      });
    }
  }
  return {
    version: 2,
    name: 'demo-synthetic',
    createdAt: '2025-01-02T03:04:05.000Z',
    status: 'complete',
    config: {
      seeds: Array.from({ length: seeds }, (_, i) => i),
      steps,
      batchSize: 16,
      evalSteps,
      rankThreshold: th,
      task: { name: 'uuid', n: 64, seed: 0 },
      targets: ['q', 'k', 'v', 'o', 'up', 'down'],
      lrSweep: { steps: 30 },
    },
    environment: {
      adapter: 'llvmpipe (LLVM 15.0.6, 256 bits) (mesa, cpu) via WebGPU/Dawn',
      backend: 'webgpu',
      node: 'v20.20.2',
      platform: 'linux',
      arch: 'x64',
      cpus: 2,
      moragrad: '0.1.0',
      date: '2025-01-02T03:04:05.000Z',
    },
    base: {
      checkpoint: 'runs/base/base.safetensors',
      cached: false,
      steps: 300,
      finalLoss: 1.62,
      valLoss: 1.71,
      wallTimeSec: 95.2,
      model: { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 80 },
      tokenizer: 'char',
      vocabSize: 80,
      params: 811_392,
      corpus: 'Moby Dick',
      formatStage: null,
    },
    task: {
      name: 'uuid',
      examples: 64,
      seed: 0,
      maxTokens: 74,
      lossOn: 'all',
      samples: ['0c5a27ba-61f0-4e3b-9d0a-2b5a3c1e9f11:7d2e4b10-98aa-4c6f-b1e3-55f0a9c2d7e4\n'],
      floor: { charAccuracy: 0.198, completionLoss: 2.285 },
      baseAccuracy: 0.19,
    },
    methods,
    mechanism: null,
    wallTimeSec: 420,
  };
}
