// One fine-tuning run from a base (a checkpoint or HF folder): adapt it (LoRA / MoRA / full),
// sweep the learning rate, train on a task for a number of steps, measure accuracy at checkpoints,
// merge, and analyse the rank of ΔW = W_final - W_base per adapted module. Nothing here prints;
// progress goes to callbacks.
import { fail } from '../../errors.js';
import { batchToTensors } from '../../data/batching.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { inject, type ModuleBudget, type PeftModel } from '../../adapters/inject.js';
import { ReLoRA, ReMoRA, type MergeRestarts } from '../../adapters/remora.js';
import { saveAdapter } from '../../adapters/peft-files.js';
import type { MoraType } from '../../mora/index.js';
import { AdamW } from '../../optim/adamw.js';
import { constantLr, LrScheduler } from '../../optim/schedule.js';
import { clipGradNorm } from '../../optim/clip.js';
import { evaluateTask } from './accuracy.js';
import { loadBase, type BaseLM } from './base.js';
import type { AccuracyPoint, AdapterKind, LrTrial, MethodResult, MoraShape } from './metrics.js';
import { fmtLr } from './formatters.js';
import { analyzeDelta, hostWeights, isLinearWeight, type HostMatrix } from './rank.js';
import { tailLoss } from './aggregate.js';
import { bracketedSweep } from './sweep.js';
import { TaskBatcher, type Task } from './task.js';
import { forwardBackward } from '../../train/step.js';

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
  /** How often a sweep may extend its grid past a winning end (default 2). */
  maxExtend?: number;
  /** Write the adapter files (adapter_model.safetensors + adapter_config.json) here. */
  saveAdapterDir?: string;
  callbacks?: FinetuneCallbacks;
}

/** Progress of a run; `seed` tells apart a method's seeds when an experiment runs them side by side. */
export interface FinetuneCallbacks {
  onStep?(method: string, step: number, steps: number, loss: number, seed?: number): void;
  onPhase?(method: string, phase: string, seed?: number): void;
  /** Polled after every step; true stops the method (what ran is recorded as 'interrupted'). */
  shouldStop?(): boolean;
}

export interface Adapted {
  model: BaseLM;
  tokenizer: Tokenizer;
  peft: PeftModel<BaseLM> | null;
  params: ReturnType<BaseLM['parameters']>;
  baseWeights: Map<string, HostMatrix>;
  totalParams: number;
}

async function prepare(spec: MethodSpec, o: FinetuneOptions): Promise<Adapted> {
  const { model, tokenizer } = await loadBase(o.basePath);
  return adapt(spec, model, tokenizer, o, await hostWeights(model, isLinearWeight));
}

/**
 * `model` made trainable as `spec` asks: full fine-tuning unfreezes it, an adapter method injects
 * its adapters into `o.targets`. `baseWeights`: the weights ΔW is measured from (`finish`).
 */
export function adapt(
  spec: MethodSpec,
  model: BaseLM,
  tokenizer: Tokenizer,
  o: Pick<FinetuneOptions, 'targets' | 'seed'>,
  baseWeights: Map<string, HostMatrix>,
): Adapted {
  model.train();
  const totalParams = model.numParameters();
  if (spec.adapter === 'full') {
    model.unfreeze();
    return { model, tokenizer, peft: null, params: model.parameters(), baseWeights, totalParams };
  }
  const peft = inject(model, { adapter: spec.adapter, targets: o.targets, r: spec.r, type: spec.type, alpha: spec.alpha, seed: o.seed });
  return { model, tokenizer, peft, params: peft.adapterParameters(), baseWeights, totalParams };
}

/**
 * One adapted model in training: advances step by step, measures accuracy at the checkpoints it
 * reaches, and keeps its loss curve, so a sweep can stop several candidates part-way, keep the best
 * and carry on with it.
 */
export class Trainer {
  readonly lr: number;
  readonly loss: (number | null)[] = [];
  readonly accuracy: AccuracyPoint[] = [];
  step = 0;
  status: 'complete' | 'interrupted' | 'diverged' = 'complete';
  private trainMs = 0;
  private readonly batcher: TaskBatcher;
  private readonly opt: AdamW;
  private readonly restarts: MergeRestarts | null;
  private readonly sched: LrScheduler;

  constructor(
    readonly adapted: Adapted,
    readonly spec: MethodSpec,
    lr: number,
    readonly o: FinetuneOptions,
  ) {
    this.lr = lr;
    const a = adapted;
    // Rows as long as the task's longest sequence (not the model's context): padding is never a target.
    this.batcher = new TaskBatcher(o.task, a.tokenizer, { batchSize: o.batchSize, seed: o.seed });
    if (this.batcher.blockSize > a.model.config.blockSize)
      fail(
        'finetune',
        `task '${o.task.name}' needs ${this.batcher.blockSize + 1}-token sequences; the model's context is ${a.model.config.blockSize}`,
      );
    this.opt = new AdamW(a.params, { lr, betas: [0.9, 0.999], weightDecay: 0 });
    const warm = Math.min(10, Math.max(1, Math.floor(o.steps / 10)));
    this.restarts =
      o.restartEvery && a.peft
        ? spec.adapter === 'mora'
          ? new ReMoRA(a.peft, this.opt, { every: o.restartEvery, seed: o.seed })
          : new ReLoRA(a.peft, this.opt, { every: o.restartEvery, seed: o.seed })
        : null;
    const base = constantLr({ lr, warmup: warm });
    this.sched = new LrScheduler(this.opt, this.restarts ? this.restarts.schedule(base) : base);
  }

  /** Measures accuracy now (greedy completion of every prompt) and records it at the current step. */
  async evaluate(): Promise<AccuracyPoint> {
    this.o.callbacks?.onPhase?.(this.spec.name, `accuracy at step ${this.step}`, this.o.seed);
    const e = await evaluateTask(this.adapted.model, this.adapted.tokenizer, this.o.task, { batchSize: 64 });
    const point = { step: this.step, charAccuracy: e.charAccuracy, exactMatch: e.exactMatch };
    this.accuracy.push(point);
    this.adapted.model.train();
    return point;
  }

  /**
   * Trains up to step `until` (or until stopped or diverged), measuring accuracy at every step of
   * `evalSteps` it passes. Returns false when the run cannot go on.
   */
  async advance(until: number, evalSteps: readonly number[] = []): Promise<boolean> {
    const cb = this.o.callbacks ?? {};
    const a = this.adapted;
    while (this.step < until && this.status === 'complete') {
      const t0 = performance.now();
      const l = forwardBackward(() => {
        const { x, y } = batchToTensors(this.batcher.next());
        return a.model.forward(x, y).loss!;
      });
      clipGradNorm(a.params, 1).dispose();
      this.opt.step();
      this.opt.zeroGrad();
      this.restarts?.step();
      this.sched.step();
      const v = await l.item();
      l.dispose();
      this.step++;
      this.trainMs += performance.now() - t0;
      this.loss.push(Number.isFinite(v) ? v : null);
      cb.onStep?.(this.spec.name, this.step, until, v, this.o.seed);
      if (!Number.isFinite(v)) this.status = 'diverged';
      else if (evalSteps.includes(this.step)) await this.evaluate();
      if (cb.shouldStop?.()) this.status = 'interrupted';
    }
    return this.status === 'complete';
  }

  /** Training time so far, seconds (evaluation excluded). */
  get wallTimeSec(): number {
    return this.trainMs / 1000;
  }

  /** Mean of the last k losses (null once the run diverged). */
  tailLoss(k = 10): number | null {
    return this.status === 'diverged' ? null : tailLoss(this.loss, k);
  }

  /** Saves the adapter if asked, merges, analyses ΔW's rank, and returns the run's record. */
  async finish(sweep: { trials: LrTrial[]; bracketed: boolean | null }): Promise<MethodResult> {
    const { spec, o, adapted: a } = this;
    if (o.saveAdapterDir && a.peft) await saveAdapter(o.saveAdapterDir, a.peft);
    o.callbacks?.onPhase?.(spec.name, 'rank analysis', o.seed);
    const budget = a.peft ? a.peft.trainableParameters() : null;
    if (a.peft) a.peft.mergeAndUnload();
    const finalWeights = await hostWeights(a.model, isLinearWeight);
    const targetsRe = new RegExp(`\\.(${o.targets.join('|')})\\.weight$`);
    const rank = analyzeDelta(a.baseWeights, finalWeights, {
      threshold: o.rankThreshold,
      include: (name, shape) => isLinearWeight(name, shape) && (spec.adapter === 'full' || targetsRe.test(name)),
    });
    return {
      name: spec.name,
      seed: o.seed,
      examples: o.task.examples.length,
      adapter: spec.adapter,
      r: spec.adapter === 'full' ? null : (spec.r ?? 8),
      R: budget && spec.adapter === 'mora' ? moraShapes(budget.perModule) : null,
      type: spec.adapter === 'mora' ? (spec.type ?? 6) : null,
      alpha: spec.adapter === 'lora' || spec.adapter === 'dora' ? (spec.alpha ?? 8) : null,
      targets: spec.adapter === 'full' ? ['all'] : o.targets,
      trainableParams: budget ? budget.total : a.totalParams,
      totalParams: a.totalParams,
      lr: this.lr,
      lrSweep: sweep.trials,
      sweepBracketed: sweep.bracketed,
      steps: o.steps,
      loss: this.loss,
      accuracy: this.accuracy,
      wallTimeSec: this.wallTimeSec,
      rank,
      status: this.status === 'diverged' ? 'complete' : this.status,
    };
  }

  dispose(): void {
    this.opt.dispose();
    this.adapted.model.dispose();
  }
}

/** MoRA's r̂ per distinct module shape: [{ in, out, R, modules }], in first-seen order. */
function moraShapes(perModule: readonly ModuleBudget[]): MoraShape[] {
  const out: MoraShape[] = [];
  for (const m of perModule) {
    if (m.R === undefined) continue;
    const s = out.find((x) => x.in === m.in && x.out === m.out);
    if (s) s.modules++;
    else out.push({ in: m.in, out: m.out, R: m.R, modules: 1 });
  }
  return out;
}

export interface RunMethodOptions extends FinetuneOptions {
  /** Steps each candidate rate trains before the sweep picks one (0 or absent: no sweep). */
  sweepSteps?: number;
  /** Use this rate instead of sweeping `spec.lrs`. */
  lr?: number;
  /** The step-0 accuracy point, measured once by the caller for every method of a task. */
  accuracy0?: AccuracyPoint;
}

/**
 * Runs one method on one seed. With several learning rates, the rates are swept on this seed
 * (bracketedSweep: each trained to `sweepSteps`, the grid extended past a winning end), the winner
 * keeps training to `steps` and the others are dropped: the sweep costs its candidates' first
 * `sweepSteps` steps (and any accuracy checkpoint within them), and the reported run is exactly the
 * winner's. `lr` fixes the rate instead (the
 * other seeds of an experiment reuse the first seed's choice). Accuracy is measured at `evalSteps`
 * (`accuracy0` is the step-0 point all methods share, measured once by the caller).
 */
export async function runMethod(spec: MethodSpec, o: RunMethodOptions): Promise<MethodResult> {
  if (spec.lrs.length === 0 && o.lr === undefined) fail('finetune', `method '${spec.name}' has no learning rate`);
  const start = async (lr: number): Promise<Trainer> => {
    const t = new Trainer(await prepare(spec, o), spec, lr, o);
    if (o.accuracy0) t.accuracy.push({ ...o.accuracy0 });
    else if (o.evalSteps.includes(0)) await t.evaluate();
    return t;
  };
  let trainer: Trainer;
  let sweep: { trials: LrTrial[]; bracketed: boolean | null } = { trials: [], bracketed: null };
  const sweepSteps = Math.min(o.sweepSteps ?? 0, o.steps);
  if (o.lr === undefined && spec.lrs.length > 1 && sweepSteps > 0) {
    // Only the best candidate so far stays in memory: a loser is disposed as soon as it has lost.
    let best: { lr: number; loss: number; trainer: Trainer } | null = null;
    try {
      const outcome = await bracketedSweep(
        spec.lrs,
        async (lr) => {
          o.callbacks?.onPhase?.(spec.name, `lr sweep ${fmtLr(lr)}`, o.seed);
          const t = await start(lr);
          await t.advance(sweepSteps, o.evalSteps);
          const loss = t.tailLoss();
          if (loss !== null && (!best || loss < best.loss)) {
            best?.trainer.dispose();
            best = { lr, loss, trainer: t };
          } else t.dispose();
          return loss;
        },
        { maxExtend: o.maxExtend ?? 2, shouldStop: o.callbacks?.shouldStop },
      );
      const kept = best as { lr: number; trainer: Trainer } | null;
      if (!kept) fail('finetune', `every learning rate of '${spec.name}' diverged in the sweep (${spec.lrs.join(', ')}); try lower rates`);
      if (kept.lr !== outcome.chosen)
        fail('finetune', `internal: the sweep chose ${outcome.chosen} but kept the run at ${kept.lr} (tied losses)`);
      trainer = kept.trainer;
      best = null;
      sweep = {
        trials: outcome.trials.map((t) => ({ lr: t.lr, steps: sweepSteps, finalLoss: t.loss, charAccuracy: null, extension: t.extension })),
        bracketed: outcome.bracketed,
      };
    } finally {
      (best as { trainer: Trainer } | null)?.trainer.dispose();
    }
  } else {
    if (o.lr === undefined && spec.lrs.length > 1)
      fail('finetune', `method '${spec.name}' lists ${spec.lrs.length} learning rates but sweepSteps is 0; give one rate or sweep`);
    trainer = await start(o.lr ?? spec.lrs[0]);
  }
  try {
    o.callbacks?.onPhase?.(spec.name, `training at lr ${fmtLr(trainer.lr)}`, o.seed);
    await trainer.advance(o.steps, o.evalSteps);
    return await trainer.finish(sweep);
  } finally {
    trainer.dispose();
  }
}
