// Peak GPU memory of one default GPT training step against the analytic sum of parameters,
// gradients, AdamW state and activations.
//
// The peak is exact, not sampled: the bench wraps the backend instance's `alloc` (no change to src/)
// and records the largest `liveBytes` (bytes of buffers held by live tensors) right after every
// allocation during one step (after a warm-up step). Also reported: what the process holds on the
// device after the step, live + pooled (the pool keeps released buffers for reuse and never shrinks
// on its own; `trim()` frees it).
import { readFileSync } from 'node:fs';
import * as mg from '../src/index.js';
import { fmt, gpu, gpuSync } from './common.js';
import type { GptSetup, OursGpt } from './training.js';

export interface MemoryResult {
  config: string;
  /** Float32 counts. */
  params: number;
  /** Analytic bytes: parameters, their gradients, AdamW's two moments, saved activations. */
  analytic: { params: number; grads: number; optimizer: number; activations: number; total: number };
  /** How the activations were counted. */
  activationModel: string;
  /** Live bytes before the step (parameters + AdamW state + inputs). */
  liveBefore: number;
  /** Largest live bytes during the step. */
  peakLive: number;
  /** Live bytes right after the forward (inside the step's tidy scope): everything the forward made. */
  liveAfterForward: number;
  /** Largest live bytes during the forward / the backward / the optimizer step. */
  peakForward: number;
  peakBackward: number;
  peakOptimizer: number;
  /** Bytes allocated during the forward (sum of every new buffer, incl. ones already released). */
  allocatedForward: number;
  /** Tensors the forward left alive (the loss and what the tape saved for the backward). */
  liveTensorsAfterForward: number;
  /** Bytes of the distinct buffers the tape saved for the backward (walked from the loss): the measured activations. */
  savedBytes: number;
  /** liveBytes + pooledBytes after the step: device memory this process holds. */
  heldAfter: number;
  /** peakLive / analytic total (target <= 1.25). */
  ratio: number;
}

/**
 * Activations the backward needs, float32 elements, for the pre-norm GPT with 'softmax' attention
 * (N = B·T rows, C, H = 4C, nh heads): per layer the block input (LN1's x) and LN1's output, q, k, v,
 * the attention output (o's input), the residual h (LN2's x) and LN2's output: 8·N·C; the MLP's
 * pre-GELU and post-GELU: 2·N·H; the attention probabilities P: B·nh·T²; LN statistics (μ, rstd for
 * both norms): 4·N. After the blocks: the final norm's input and output (2·N·C, 2·N stats), the
 * logits N·V and the loss's log-sum-exp N, the int32 ids and targets (2·N).
 */
export function gptActivations(s: { B: number; T: number; C: number; nHead: number; nLayer: number; vocab: number }): number {
  const N = s.B * s.T;
  const H = 4 * s.C;
  const perLayer = 8 * N * s.C + 2 * N * H + s.B * s.nHead * s.T * s.T + 4 * N;
  return s.nLayer * perLayer + 2 * N * s.C + 2 * N + N * s.vocab + N + 2 * N;
}

/** Bytes of the distinct storages saved by the tape nodes reachable from `t` (parameters excluded). */
function savedBytesOf(t: mg.Tensor): number {
  const seen = new Set<mg.Tensor>();
  const storages = new Map<unknown, number>();
  const stack = [t];
  while (stack.length) {
    const u = stack.pop()!;
    if (seen.has(u) || !u.node) continue;
    seen.add(u);
    for (const sv of u.node.saved) if (sv.node || !sv.requiresGrad) storages.set(sv.storage, sv.storage.numel * 4);
    stack.push(...u.node.inputs);
  }
  let total = 0;
  for (const b of storages.values()) total += b;
  return total;
}

export async function benchMemory(setup: GptSetup, ours: OursGpt, log: (s: string) => void = () => {}): Promise<MemoryResult> {
  const b = gpu();
  b.trim(); // free what earlier bench sections left in the pool, so "held after" is this step's
  await ours.step(); // warm-up: AdamW state allocated, pools filled
  const P = setup.params;
  const s = setup.shape;
  const act = gptActivations(s);
  const analytic = { params: 4 * P, grads: 4 * P, optimizer: 8 * P, activations: 4 * act, total: 0 };
  analytic.total = analytic.params + analytic.grads + analytic.optimizer + analytic.activations;

  const liveBefore = b.memory().liveBytes;
  let peak = liveBefore;
  let allocated = 0;
  const inst = b as unknown as { alloc: typeof b.alloc };
  const orig = inst.alloc;
  inst.alloc = function (this: typeof b, numel, dtype) {
    const before = this.memory().liveBytes;
    const st = orig.call(this, numel, dtype);
    const now = this.memory().liveBytes;
    allocated += now - before;
    peak = Math.max(peak, now);
    return st;
  };
  let liveAfterForward = 0;
  let liveTensorsAfterForward = 0;
  let peakForward = 0;
  let peakBackward = 0;
  let allocatedForward = 0;
  let savedBytes = 0;
  const tensorsBefore = mg.memory('webgpu').liveTensors;
  try {
    // The training loops' pattern (mg.forwardBackward): the forward's scope hands what the backward
    // needs to the tape and frees the rest; the backward frees each activation after its last use.
    const loss = mg.tidy(() => ours.forwardLoss());
    liveAfterForward = b.memory().liveBytes;
    liveTensorsAfterForward = mg.memory('webgpu').liveTensors - tensorsBefore;
    savedBytes = savedBytesOf(loss);
    peakForward = peak;
    allocatedForward = allocated;
    peak = liveAfterForward;
    loss.backward();
    loss.dispose();
    peakBackward = peak;
    peak = b.memory().liveBytes;
    ours.opt.step();
    ours.opt.zeroGrad();
    await gpuSync();
  } finally {
    delete (inst as Partial<typeof inst>).alloc; // the prototype's method again
  }
  const peakOptimizer = peak;
  peak = Math.max(peakForward, peakBackward, peakOptimizer);
  const m = b.memory();
  const r: MemoryResult = {
    config: `${s.nLayer} layers, C ${s.C}, ${s.nHead} heads, B ${s.B} x T ${s.T}, vocab ${s.vocab}`,
    params: P,
    analytic,
    activationModel: 'per layer 8·N·C + 2·N·4C + B·nh·T² + 4·N; final norm 2·N·C + 2·N; logits N·V; lse N; ids, targets 2·N (N = B·T)',
    liveBefore,
    peakLive: peak,
    liveAfterForward,
    peakForward,
    peakBackward,
    peakOptimizer,
    allocatedForward,
    liveTensorsAfterForward,
    savedBytes,
    heldAfter: m.liveBytes + m.pooledBytes,
    ratio: peak / analytic.total,
  };
  log(
    `  forward: ${fmt(allocatedForward / 2 ** 20, 1)} MiB allocated, ${fmt((liveAfterForward - liveBefore) / 2 ** 20, 1)} MiB / ${liveTensorsAfterForward} tensors still live after it; peaks fwd ${fmt(peakForward / 2 ** 20, 1)} bwd ${fmt(peakBackward / 2 ** 20, 1)} opt ${fmt(peakOptimizer / 2 ** 20, 1)} MiB`,
  );
  log(
    `  peak live ${fmt(peak / 2 ** 20, 1)} MiB vs analytic ${fmt(analytic.total / 2 ** 20, 1)} MiB (x${fmt(r.ratio, 2)}); held after the step ${fmt(r.heldAfter / 2 ** 20, 1)} MiB`,
  );
  return r;
}

export interface FlatResult {
  config: string;
  steps: number;
  /** Every `every` steps: live tensors, live bytes and live + pooled bytes, after a device sync. */
  samples: { step: number; liveTensors: number; liveBytes: number; heldBytes: number }[];
  every: number;
  /** Memory mappings of the process at each sample (lavapipe maps buffers and descriptor pools). */
  mappings?: number[];
  /** Largest minus smallest over the samples after the first (warm-up: AdamW state, pool fill). */
  spread: { liveTensors: number; liveBytes: number; heldBytes: number };
  msPerStep: number;
}

/**
 * Memory over a long run: a small GPT trained `steps` steps the way src/train/gpt.ts does
 * (forwardBackward, clipGradNorm, AdamW, zeroGrad, the loss read back), sampling live and pooled memory every `every`
 * steps. Flat means the same numbers at every sample after the first.
 */
export async function benchFlat(vocab: number, ids: Int32Array, steps: number, every: number): Promise<FlatResult> {
  const [B, T] = [4, 16];
  const model = new mg.nn.GPT({ vocabSize: vocab, blockSize: T, nLayer: 2, nHead: 2, nEmbd: 32, seed: 5 });
  const params = model.parameters();
  const opt = new mg.optim.AdamW(params, { lr: 1e-3 });
  const n = B * T;
  const x = mg.tensor(Array.from(ids.subarray(0, n)), [B, T], { dtype: 'int32' });
  const y = mg.tensor(Array.from(ids.subarray(1, n + 1)), [B, T], { dtype: 'int32' });
  const samples: FlatResult['samples'] = [];
  const mappings: number[] = [];
  const b = gpu();
  const t0 = performance.now();
  try {
    for (let step = 1; step <= steps; step++) {
      const loss = mg.forwardBackward(() => model.forward(x, y).loss!);
      mg.optim.clipGradNorm(params, 1).dispose();
      opt.step();
      opt.zeroGrad();
      // Read the loss every step, as the training loops do: a loop that never waits for the device
      // queues work without bound, and lavapipe holds memory mappings for every queued submit.
      await loss.item();
      loss.dispose();
      if (step % every === 0) {
        await gpuSync();
        const m = b.memory();
        mappings.push(mappingCount());
        samples.push({
          step,
          liveTensors: mg.memory('webgpu').liveTensors,
          liveBytes: m.liveBytes,
          heldBytes: m.liveBytes + m.pooledBytes,
        });
      }
    }
  } finally {
    for (const t of [x, y]) t.dispose();
    opt.resetState();
    model.dispose();
  }
  const msPerStep = (performance.now() - t0) / steps;
  const rest = samples.slice(1);
  const spreadOf = (k: 'liveTensors' | 'liveBytes' | 'heldBytes') =>
    rest.length ? Math.max(...rest.map((s) => s[k])) - Math.min(...rest.map((s) => s[k])) : 0;
  return {
    config: `GPT 2 layers, C 32, 2 heads, B ${B} x T ${T}, vocab ${vocab}, AdamW + clipGradNorm`,
    steps,
    samples,
    mappings,
    every,
    spread: { liveTensors: spreadOf('liveTensors'), liveBytes: spreadOf('liveBytes'), heldBytes: spreadOf('heldBytes') },
    msPerStep,
  };
}

/** Lines of /proc/self/maps (0 where there is none). */
function mappingCount(): number {
  try {
    return readFileSync('/proc/self/maps', 'latin1').split('\n').length - 1;
  } catch {
    return 0;
  }
}
