// Training steps side by side: the MLP (batch 64, 512-2048-512) and the default GPT of
// src/train/gpt.ts (DEFAULT_TRAIN.model, batch 16 x 64 tokens, the char vocabulary of the corpus),
// moragrad against tfjs-webgpu / tfjs-wasm / tfjs-cpu (bench/tfmodels.ts: the same model in tfjs ops).
//
// A step is forward + backward + AdamW update, then a sync (moragrad: gpuSync; tfjs-webgpu: submit and
// onSubmittedWorkDone; wasm / cpu are synchronous). No loss readback and no gradient clipping on
// either side (the CLI's loop adds both: one readback round trip and a norm per step).
//
// Steps take seconds on lavapipe, so the contenders are timed round-robin: round i runs one step of
// each in turn, so a burst of load from other processes hits all of them alike; each contender's
// median over the rounds is reported. Also here: mg.profile's per-kernel breakdown of one GPT step.
import * as mg from '../src/index.js';
import { DEFAULT_TRAIN, prepareData } from '../src/train/gpt.js';
import { type Args, fmt, gpuSync, median, timingOf, type Timing } from './common.js';
import { type PeerName, type PeerResult, type Peers, TF_PEERS, type TfPeer } from './peers.js';
import { type GptShape, gptFlops, type MlpShape, mlpFlops, tfGpt, tfMlp, type TfStep } from './tfmodels.js';

export interface TrainingRow {
  case: string;
  shapes: string;
  /** Matmul FLOPs per step (bench/tfmodels.ts). */
  flops: number;
  /** Tokens (GPT) or samples (MLP) per step. */
  items: number;
  itemName: 'tokens' | 'samples';
  ours: Timing;
  peers: Partial<Record<PeerName, PeerResult>>;
  /** GPT: the loss of each contender's freshly initialised model on the same batch (≈ ln vocab). */
  initialLoss: Record<string, number>;
}

interface Contender {
  name: 'moragrad' | TfPeer;
  /** Runs one step and waits for it. */
  step(): Promise<void>;
  /** The loss at the initial parameters, where the model offers it (checks the models agree). */
  lossValue?(): Promise<number>;
  dispose(): void;
}

/** Warm-up step each, then `rounds` rounds of one step per contender; per-contender timings. */
async function roundRobin(
  cs: Contender[],
  rounds: number,
  warmup: number,
  log: (s: string) => void,
): Promise<Map<string, Timing | { skipped: string }>> {
  const samples = new Map<string, number[]>(cs.map((c) => [c.name, []]));
  const failed = new Map<string, string>();
  for (let r = -warmup; r < rounds; r++) {
    for (const c of cs) {
      if (failed.has(c.name)) continue;
      try {
        const t0 = performance.now();
        await c.step();
        const dt = (performance.now() - t0) / 1e3;
        if (r >= 0) samples.get(c.name)!.push(dt);
        else log(`    ${c.name} warm-up step ${fmt(dt * 1e3, 0)} ms`);
      } catch (e) {
        failed.set(c.name, `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}`);
      }
    }
  }
  const out = new Map<string, Timing | { skipped: string }>();
  for (const c of cs) out.set(c.name, failed.has(c.name) ? { skipped: failed.get(c.name)! } : timingOf(samples.get(c.name)!));
  return out;
}

/** A tfjs contender: builds its model on its backend; each step switches to it first (untimed). */
function tfContender(peers: Peers, p: TfPeer, build: () => TfStep): Contender & { init(): Promise<void> } {
  let s: TfStep | null = null;
  return {
    name: p,
    init: async () => {
      await peers.use(p);
      s = build();
    },
    step: async () => {
      await peers.use(p);
      peers.tf!.tidy(() => s!.step());
      await peers.sync(p);
    },
    lossValue: async () => {
      await peers.use(p);
      return s!.lossValue ? s!.lossValue() : NaN;
    },
    dispose: () => s?.dispose(),
  };
}

async function sideBySide(
  ours: Contender,
  peers: Peers,
  build: (p: TfPeer) => () => TfStep,
  opts: { rounds: number; skip: TfPeer[]; skipWhy: string },
  log: (s: string) => void,
): Promise<{ ours: Timing; peers: Partial<Record<PeerName, PeerResult>>; initialLoss: Record<string, number> }> {
  const cs: Contender[] = [ours];
  const res: Partial<Record<PeerName, PeerResult>> = {};
  for (const p of TF_PEERS) {
    if (!peers.available(p) || !peers.tf) res[p] = { skipped: 'not loaded' };
    else if (opts.skip.includes(p)) res[p] = { skipped: opts.skipWhy };
    else {
      const c = tfContender(peers, p, build(p));
      try {
        await c.init();
        cs.push(c);
      } catch (e) {
        res[p] = { skipped: `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}` };
      }
    }
  }
  const initialLoss: Record<string, number> = {};
  for (const c of cs) if (c.lossValue) initialLoss[c.name] = await c.lossValue().catch(() => NaN);
  const t = await roundRobin(cs, opts.rounds, 1, log);
  for (const c of cs.slice(1)) c.dispose(); // the caller owns `ours`
  const o = t.get('moragrad')!;
  if (!('median' in o)) throw new Error(`bench: moragrad's step failed: ${o.skipped}`);
  for (const c of cs.slice(1)) res[c.name as TfPeer] = t.get(c.name)!;
  return { ours: o, peers: res, initialLoss };
}

// ---- the MLP ---------------------------------------------------------------------------------------

export const MLP_SHAPE: MlpShape = { B: 64, inF: 512, hidden: 2048 };

function oursMlp(s: MlpShape): Contender {
  const l1 = new mg.nn.Linear(s.inF, s.hidden, { seed: 1 });
  const l2 = new mg.nn.Linear(s.hidden, s.inF, { seed: 2 });
  const params = [...l1.parameters(), ...l2.parameters()];
  const opt = new mg.optim.AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
  const x = mg.randn([s.B, s.inF], { seed: 3 });
  const target = mg.randn([s.B, s.inF], { seed: 4 });
  return {
    name: 'moragrad',
    step: async () => {
      mg.tidy(() => {
        const y = l2.forward(mg.relu(l1.forward(x))); // (B, in)
        const d = mg.sub(y, target);
        mg.mean(mg.mul(d, d)).backward();
      });
      opt.step();
      opt.zeroGrad();
      await gpuSync();
    },
    dispose: () => {
      opt.dispose();
      for (const t of [x, target, ...params]) t.dispose();
    },
  };
}

export async function benchMlp(args: Args, peers: Peers, log: (s: string) => void = () => {}): Promise<TrainingRow> {
  const s = MLP_SHAPE;
  const ours = oursMlp(s);
  const r = await sideBySide(
    ours,
    peers,
    (p) => () => tfMlp(peers.tf!, s, 7 + TF_PEERS.indexOf(p)),
    { rounds: args.quick ? 5 : 8, skip: args.quick ? ['tfjs-cpu'] : [], skipWhy: 'skipped in --quick (~3 s per step)' },
    log,
  );
  ours.dispose();
  const row: TrainingRow = {
    case: 'MLP training step',
    shapes: `x [${s.B}, ${s.inF}] -> ${s.hidden} -> ${s.inF}, relu, MSE, AdamW`,
    flops: mlpFlops(s),
    items: s.B,
    itemName: 'samples',
    ...r,
  };
  logRow(row, log);
  return row;
}

// ---- the default GPT -------------------------------------------------------------------------------

export interface GptSetup {
  shape: GptShape;
  ids: Int32Array;
  params: number;
}

export function gptSetup(): GptSetup {
  const m = DEFAULT_TRAIN.model;
  const { tokenizer, ids } = prepareData('char');
  const shape: GptShape = {
    vocab: tokenizer.vocabSize,
    C: m.nEmbd,
    nHead: m.nHead,
    nLayer: m.nLayer,
    T: m.blockSize,
    B: DEFAULT_TRAIN.batchSize,
  };
  return { shape, ids, params: 0 };
}

export type OursGpt = Contender & {
  model: mg.nn.GPT;
  opt: mg.optim.AdamW;
  /** The batch's loss (recorded on the tape; call inside mg.tidy). */
  forwardLoss(): mg.Tensor;
  /** forward + backward + AdamW + zeroGrad, no sync. */
  stepOnly(): void;
};

/**
 * moragrad's GPT step as src/train/gpt.ts runs it (AdamW groups: decay on matrices), minus clip and
 * readback. One instance serves the side-by-side timing, the profile and the memory measurement.
 */
export function oursGpt(setup: GptSetup): OursGpt {
  const m = DEFAULT_TRAIN.model;
  const { shape: s, ids } = setup;
  const model = new mg.nn.GPT({ ...m, vocabSize: s.vocab, seed: DEFAULT_TRAIN.seed });
  setup.params = model.numParameters();
  const params = model.parameters();
  const opt = new mg.optim.AdamW(
    [
      { params: params.filter((p) => p.ndim >= 2), weightDecay: DEFAULT_TRAIN.weightDecay },
      { params: params.filter((p) => p.ndim < 2), weightDecay: 0 },
    ],
    { lr: DEFAULT_TRAIN.lr, betas: [0.9, 0.95], eps: 1e-8 },
  );
  const n = s.B * s.T;
  const x = mg.tensor(Array.from(ids.subarray(0, n)), [s.B, s.T], { dtype: 'int32' });
  const y = mg.tensor(Array.from(ids.subarray(1, n + 1)), [s.B, s.T], { dtype: 'int32' });
  const forwardLoss = () => model.forward(x, y).loss!;
  const stepOnly = () => {
    mg.forwardBackward(forwardLoss).dispose();
    opt.step();
    opt.zeroGrad();
  };
  return {
    name: 'moragrad',
    model,
    opt,
    forwardLoss,
    stepOnly,
    lossValue: async () => {
      const l = mg.noGrad(() => mg.tidy(() => model.forward(x, y).loss!));
      const v = await l.item();
      l.dispose();
      return v;
    },
    step: async () => {
      stepOnly();
      await gpuSync();
    },
    dispose: () => {
      opt.dispose();
      model.dispose();
      x.dispose();
      y.dispose();
    },
  };
}

export async function benchGpt(
  args: Args,
  peers: Peers,
  setup: GptSetup,
  ours: OursGpt,
  log: (s: string) => void = () => {},
): Promise<TrainingRow> {
  const s = setup.shape;
  const r = await sideBySide(
    ours,
    peers,
    (p) => () => tfGpt(peers.tf!, s, setup.ids, 11 + TF_PEERS.indexOf(p)),
    // tfjs-cpu takes tens of seconds per GPT step here
    { rounds: args.quick ? 2 : 4, skip: ['tfjs-cpu'], skipWhy: 'too slow (tens of s per step)' },
    log,
  );
  const row: TrainingRow = {
    case: 'GPT training step (default config)',
    shapes: `B ${s.B} x T ${s.T}, ${s.nLayer} layers, C ${s.C}, ${s.nHead} heads, vocab ${s.vocab}, ${setup.params} params`,
    flops: gptFlops(s),
    items: s.B * s.T,
    itemName: 'tokens',
    ...r,
  };
  logRow(row, log);
  return row;
}

function logRow(row: TrainingRow, log: (s: string) => void): void {
  const per = (t: Timing) => `${fmt(row.items / t.median, 0)} ${row.itemName}/s`;
  log(
    `  ${row.case}: moragrad ${fmt(row.ours.median * 1e3, 0)} ms (${per(row.ours)})` +
      Object.entries(row.peers)
        .map(([p, t]) =>
          'median' in t! ? `, ${p} ${fmt(t.median * 1e3, 0)} ms (x${fmt(t.median / row.ours.median, 2)})` : `, ${p} ${t!.skipped}`,
        )
        .join(''),
  );
}

// ---- where the time goes: mg.profile of one GPT step --------------------------------------------------

export interface KernelShare {
  kernel: string;
  /** Family: matmul, elementwise, reduction, copy, fused (norm / attention / loss), optimizer, other. */
  family: string;
  count: number;
  gpuMs: number;
}

export interface StepProfile {
  /** Median wall time of the profiled steps (timestamps on). */
  wallMs: number;
  /** Sum of the per-kernel medians. */
  gpuMs: number;
  steps: number;
  dispatches: number;
  kernels: KernelShare[];
  families: { family: string; count: number; gpuMs: number }[];
}

function familyOf(kernel: string): string {
  if (kernel.startsWith('matmul')) return 'matmul';
  if (/^(binary|unary|where|fill|cast|arange)/.test(kernel)) return 'elementwise';
  if (kernel.startsWith('reduce')) return 'reduction';
  if (/^(copy|indexSelect|scatterAdd|gather)/.test(kernel)) return 'copy / gather / scatter';
  if (/^(layerNorm|rmsNorm|scaledMaskedSoftmax|softmax|crossEntropy|attention|flash|dropout|mora)/.test(kernel)) return 'fused';
  if (/^(adamw|sgd)/.test(kernel)) return 'optimizer';
  return 'other';
}

/**
 * Default GPT steps under mg.profile (after a warm-up step), aggregated per kernel: each kernel's
 * GPU time is the median over `steps` profiled steps of its per-step total (timestamps on lavapipe
 * include time the worker threads lost to other processes; the median drops one-off bursts).
 */
export async function profileGptStep(ours: OursGpt, steps = 3): Promise<StepProfile> {
  await ours.step(); // warm-up: pipelines compiled, pools filled
  const walls: number[] = [];
  const perStep: Map<string, KernelShare>[] = [];
  let dispatches = 0;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const p = await mg.profile(async () => {
      ours.stepOnly();
      await gpuSync();
    });
    walls.push(performance.now() - t0);
    dispatches = p.kernels.length;
    const by = new Map<string, KernelShare>();
    for (const k of p.kernels) {
      const e = by.get(k.kernel) ?? { kernel: k.kernel, family: familyOf(k.kernel), count: 0, gpuMs: 0 };
      e.count++;
      e.gpuMs += k.gpuMs ?? 0;
      by.set(k.kernel, e);
    }
    perStep.push(by);
  }
  const wallMs = median(walls);
  const kernels = [...perStep[0].values()]
    .map((k) => ({ ...k, gpuMs: median(perStep.map((m) => m.get(k.kernel)?.gpuMs ?? 0)) }))
    .sort((a, b) => b.gpuMs - a.gpuMs);
  const fam = new Map<string, { family: string; count: number; gpuMs: number }>();
  for (const k of kernels) {
    const f = fam.get(k.family) ?? { family: k.family, count: 0, gpuMs: 0 };
    f.count += k.count;
    f.gpuMs += k.gpuMs;
    fam.set(k.family, f);
  }
  const gpuMs = kernels.reduce((a, k) => a + k.gpuMs, 0);
  return { wallMs, gpuMs, dispatches, steps, kernels, families: [...fam.values()].sort((a, b) => b.gpuMs - a.gpuMs) };
}
