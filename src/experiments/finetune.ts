// One fine-tuning run from a base checkpoint: load the base GPT, adapt it (LoRA / MoRA / full),
// train on a task for a number of steps, measure accuracy at checkpoints, merge, and analyse the
// rank of ΔW = W_final - W_base per adapted module. Nothing here prints; progress goes to callbacks.
import { fail } from '../errors.js';
import { batchToTensors } from '../data/batching.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { inject, type PeftModel } from '../adapters/inject.js';
import { ReLoRA, ReMoRA, type MergeRestarts } from '../adapters/remora.js';
import { saveAdapter } from '../adapters/peft-files.js';
import type { MoraType } from '../ops/mora.js';
import { rank as moraRank } from '../mora/index.js';
import { AdamW } from '../optim/adamw.js';
import { constantLr, LrScheduler } from '../optim/schedule.js';
import { clipGradNorm } from '../optim/clip.js';
import { loadGPT } from '../train/gpt.js';
import type { GPT } from '../nn/gpt.js';
import { tidy } from '../runtime.js';
import { evaluateTask } from './accuracy.js';
import type { AccuracyPoint, AdapterKind, LrTrial, MethodResult } from './metrics.js';
import { analyzeDelta, hostWeights, isLinearWeight, type HostMatrix } from './rank.js';
import { TaskBatcher, type Task } from './task.js';

export interface MethodSpec {
  /** Display name, e.g. 'MoRA r=8 (type 6)'. */
  name: string;
  adapter: AdapterKind;
  /** Budget rank (LoRA r; MoRA's R is derived from it). Ignored for full. */
  r?: number;
  type?: MoraType;
  alpha?: number;
  /** Learning rates to sweep (the first is used when there is no sweep). */
  lrs: number[];
}

export interface FinetuneOptions {
  basePath: string;
  task: Task;
  steps: number;
  batchSize: number;
  /** Steps after which accuracy is measured (0 = before training). */
  evalSteps: number[];
  targets: string[];
  seed: number;
  rankThreshold: number;
  /** Merge-and-reinit every T steps (ReMoRA for MoRA, ReLoRA for LoRA); 0 = off. */
  restartEvery?: number;
  /** Write the adapter files (adapter_model.safetensors + adapter_config.json) here. */
  saveAdapterDir?: string;
  callbacks?: FinetuneCallbacks;
}

export interface FinetuneCallbacks {
  onStep?(method: string, step: number, steps: number, loss: number): void;
  onPhase?(method: string, phase: string): void;
  /** Polled after every step; true stops the method (what ran is recorded as 'interrupted'). */
  shouldStop?(): boolean;
}

interface Adapted {
  model: GPT;
  tokenizer: Tokenizer;
  peft: PeftModel<GPT> | null;
  params: ReturnType<GPT['parameters']>;
  baseWeights: Map<string, HostMatrix>;
  totalParams: number;
}

async function prepare(spec: MethodSpec, o: FinetuneOptions): Promise<Adapted> {
  const { model, tokenizer } = await loadGPT(o.basePath);
  model.train();
  const baseWeights = await hostWeights(model, isLinearWeight);
  const totalParams = model.numParameters();
  if (spec.adapter === 'full') {
    model.unfreeze();
    return { model, tokenizer, peft: null, params: model.parameters(), baseWeights, totalParams };
  }
  const peft = inject(model, { adapter: spec.adapter, targets: o.targets, r: spec.r, type: spec.type, alpha: spec.alpha, seed: o.seed });
  return { model, tokenizer, peft, params: peft.adapterParameters(), baseWeights, totalParams };
}

interface TrainOutcome {
  loss: (number | null)[];
  accuracy: AccuracyPoint[];
  wallTimeSec: number;
  status: 'complete' | 'interrupted';
}

/** Trains an adapted model for `steps`, measuring accuracy at `evalSteps` (when given). */
async function trainLoop(a: Adapted, spec: MethodSpec, lr: number, steps: number, evalSteps: number[], o: FinetuneOptions): Promise<TrainOutcome> {
  const cb = o.callbacks ?? {};
  const batcher = new TaskBatcher(o.task, a.tokenizer, { batchSize: o.batchSize, seed: o.seed, blockSize: a.model.config.blockSize });
  const opt = new AdamW(a.params, { lr, betas: [0.9, 0.999], weightDecay: 0 });
  const warm = Math.min(10, Math.max(1, Math.floor(steps / 10)));
  const restarts: MergeRestarts | null =
    o.restartEvery && a.peft ? (spec.adapter === 'mora' ? new ReMoRA(a.peft, opt, { every: o.restartEvery, seed: o.seed }) : new ReLoRA(a.peft, opt, { every: o.restartEvery, seed: o.seed })) : null;
  const base = constantLr({ lr, warmup: warm });
  const sched = new LrScheduler(opt, restarts ? restarts.schedule(base) : base);
  const loss: (number | null)[] = [];
  const accuracy: AccuracyPoint[] = [];
  const evaluate = async (step: number) => {
    cb.onPhase?.(spec.name, `accuracy at step ${step}`);
    const e = await evaluateTask(a.model, a.tokenizer, o.task, { batchSize: 64 });
    accuracy.push({ step, charAccuracy: e.charAccuracy, exactMatch: e.exactMatch });
    a.model.train();
  };
  const t0 = performance.now();
  let evalTime = 0;
  let status: TrainOutcome['status'] = 'complete';
  try {
    if (evalSteps.includes(0)) {
      const e0 = performance.now();
      await evaluate(0);
      evalTime += performance.now() - e0;
    }
    for (let step = 1; step <= steps; step++) {
      const l = tidy(() => {
        const { x, y } = batchToTensors(batcher.next());
        const out = a.model.forward(x, y).loss!;
        out.backward();
        return out;
      });
      const norm = clipGradNorm(a.params, 1);
      norm.dispose();
      opt.step();
      opt.zeroGrad();
      restarts?.step();
      sched.step();
      const v = await l.item();
      l.dispose();
      loss.push(Number.isFinite(v) ? v : null);
      cb.onStep?.(spec.name, step, steps, v);
      if (!Number.isFinite(v)) break; // diverged: recorded as null, the sweep rejects it
      if (evalSteps.includes(step)) {
        const e0 = performance.now();
        await evaluate(step);
        evalTime += performance.now() - e0;
      }
      if (cb.shouldStop?.()) {
        status = 'interrupted';
        break;
      }
    }
  } finally {
    opt.dispose();
  }
  return { loss, accuracy, wallTimeSec: (performance.now() - t0 - evalTime) / 1000, status };
}

function dispose(a: Adapted): void {
  a.model.dispose();
}

/** Mean of the last k finite losses (null when the run diverged). */
function tailLoss(loss: (number | null)[], k = 5): number | null {
  if (loss.length === 0 || loss.some((v) => v === null)) return null;
  const tail = loss.slice(-k) as number[];
  return tail.reduce((s, v) => s + v, 0) / tail.length;
}

/**
 * Runs one method: an optional learning-rate sweep (each candidate trained for `sweepSteps`, the
 * lowest final loss wins), then the full run with the winner, accuracy at the checkpoints, merge and
 * rank analysis.
 */
export async function runMethod(spec: MethodSpec, o: FinetuneOptions & { sweepSteps?: number }): Promise<MethodResult> {
  if (spec.lrs.length === 0) fail('finetune', `method '${spec.name}' has no learning rate`);
  const cb = o.callbacks ?? {};
  const lrSweep: LrTrial[] = [];
  let lr = spec.lrs[0];
  if (spec.lrs.length > 1 && o.sweepSteps) {
    for (const cand of spec.lrs) {
      cb.onPhase?.(spec.name, `lr sweep ${cand}`);
      const a = await prepare(spec, o);
      try {
        const r = await trainLoop(a, spec, cand, o.sweepSteps, [], o);
        lrSweep.push({ lr: cand, steps: o.sweepSteps, finalLoss: tailLoss(r.loss), charAccuracy: null });
        if (r.status === 'interrupted') break;
      } finally {
        dispose(a);
      }
    }
    const ok = lrSweep.filter((t) => t.finalLoss !== null);
    if (ok.length) lr = ok.reduce((b, t) => (t.finalLoss! < b.finalLoss! ? t : b)).lr;
  }
  cb.onPhase?.(spec.name, `training at lr ${lr}`);
  const a = await prepare(spec, o);
  try {
    const trainable = a.peft ? a.peft.trainableParameters().total : a.totalParams;
    const r = await trainLoop(a, spec, lr, o.steps, o.evalSteps, o);
    if (o.saveAdapterDir && a.peft) await saveAdapter(o.saveAdapterDir, a.peft);
    cb.onPhase?.(spec.name, 'rank analysis');
    if (a.peft) a.peft.mergeAndUnload();
    const finalWeights = await hostWeights(a.model, isLinearWeight);
    const targetsRe = new RegExp(`\\.(${o.targets.join('|')})\\.weight$`);
    const rank = analyzeDelta(a.baseWeights, finalWeights, {
      threshold: o.rankThreshold,
      include: (name, shape) => isLinearWeight(name, shape) && (spec.adapter === 'full' || targetsRe.test(name)),
    });
    const R = spec.adapter === 'mora' ? moraRank(a.model.config.nEmbd, a.model.config.nEmbd, spec.r ?? 8, spec.type ?? 6) : null;
    return {
      name: spec.name,
      adapter: spec.adapter,
      r: spec.adapter === 'full' ? null : (spec.r ?? 8),
      R,
      type: spec.adapter === 'mora' ? (spec.type ?? 6) : null,
      alpha: spec.adapter === 'lora' || spec.adapter === 'dora' ? (spec.alpha ?? 8) : null,
      targets: spec.adapter === 'full' ? ['all'] : o.targets,
      trainableParams: trainable,
      totalParams: a.totalParams,
      lr,
      lrSweep,
      steps: o.steps,
      loss: r.loss,
      accuracy: r.accuracy,
      wallTimeSec: r.wallTimeSec,
      rank,
      status: r.status,
    };
  } finally {
    dispose(a);
  }
}
