// Learning-rate schedules: pure functions of the step (`lrAt(step)`, step 0 = the first update), and
// a scheduler that writes them into an optimizer's groups.
//
//   warmup:  lrAt(s) = lr·(s + 1)/warmup                          for s < warmup
//   constant: lr;   linear: lr → minLr at `total`;   cosine: minLr + (lr - minLr)·½(1 + cos(π·progress))
//   progress = (s - warmup)/(total - warmup), clamped to [0, 1] (minLr from `total` on)
//
// Jagged cosine (ReLoRA / ReMoRA restarts): `restarts: { every, warmup }` multiplies the cosine by a
// re-warm ramp (k + 1)/warmup for the first `warmup` steps after each restart at every, 2·every, ...
import { fail } from '../errors.js';
import type { BaseHyper, Optimizer } from './optimizer.js';

export interface Schedule {
  /** The peak learning rate (what a group with this lr follows exactly). */
  readonly lr: number;
  lrAt(step: number): number;
}

export interface ScheduleOptions {
  /** Peak learning rate (default 1: the schedule is then a factor). */
  lr?: number;
  /** Linear warmup steps from lr/warmup to lr (default 0). */
  warmup?: number;
}

export interface DecayOptions extends ScheduleOptions {
  /** Step at which the decay reaches minLr. */
  total: number;
  /** Final learning rate (default 0). */
  minLr?: number;
}

export interface CosineOptions extends DecayOptions {
  /** Jagged restarts: every `every` steps, re-warm over `warmup` steps back to the cosine envelope. */
  restarts?: { every: number; warmup: number };
}

function checkStep(op: string, step: number): void {
  if (!Number.isInteger(step) || step < 0) fail(op, `step must be a non-negative integer, got ${step}`);
}

function base(op: string, o: ScheduleOptions): { lr: number; warmup: number } {
  const lr = o.lr ?? 1;
  const warmup = o.warmup ?? 0;
  if (!(lr >= 0)) fail(op, `lr must be >= 0, got ${lr}`);
  if (!Number.isInteger(warmup) || warmup < 0) fail(op, `warmup must be a non-negative integer, got ${warmup}`);
  return { lr, warmup };
}

function decay(op: string, o: DecayOptions): { lr: number; warmup: number; total: number; minLr: number } {
  const b = base(op, o);
  if (!Number.isInteger(o.total) || o.total < b.warmup) fail(op, `total must be an integer >= warmup (${b.warmup}), got ${o.total}`);
  const minLr = o.minLr ?? 0;
  if (!(minLr >= 0 && minLr <= b.lr)) fail(op, `minLr must be in [0, lr = ${b.lr}], got ${minLr}`);
  return { ...b, total: o.total, minLr };
}

const ramp = (s: number, warmup: number): number => (s < warmup ? (s + 1) / warmup : 1);
const progress = (s: number, warmup: number, total: number): number =>
  total <= warmup ? 1 : Math.min(1, Math.max(0, (s - warmup) / (total - warmup)));

/** lr (after the warmup). */
export function constantLr(o: ScheduleOptions = {}): Schedule {
  const { lr, warmup } = base('constantLr', o);
  return {
    lr,
    lrAt: (s) => {
      checkStep('constantLr', s);
      return lr * ramp(s, warmup);
    },
  };
}

/** Warmup, then a straight line from lr to minLr at `total`. */
export function linearLr(o: DecayOptions): Schedule {
  const { lr, warmup, total, minLr } = decay('linearLr', o);
  return {
    lr,
    lrAt: (s) => {
      checkStep('linearLr', s);
      if (s < warmup) return lr * ramp(s, warmup);
      return lr + (minLr - lr) * progress(s, warmup, total);
    },
  };
}

/** Warmup, then a half cosine from lr to minLr at `total`; optionally with jagged restarts. */
export function cosineLr(o: CosineOptions): Schedule {
  const { lr, warmup, total, minLr } = decay('cosineLr', o);
  const r = o.restarts;
  if (r && (!Number.isInteger(r.every) || r.every <= 0 || !Number.isInteger(r.warmup) || r.warmup < 0 || r.warmup > r.every)) {
    fail('cosineLr', `restarts must be { every > 0, warmup in [0, every] } (integers), got ${JSON.stringify(r)}`);
  }
  return {
    lr,
    lrAt: (s) => {
      checkStep('cosineLr', s);
      if (s < warmup) return lr * ramp(s, warmup);
      const env = minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress(s, warmup, total)));
      if (!r || s < r.every) return env;
      return env * ramp(s % r.every, r.warmup);
    },
  };
}

/**
 * Sets each group's lr from a schedule: group i gets lrAt(step)·(its lr at construction / schedule.lr),
 * so a group whose lr equals the schedule's follows it exactly and others keep their ratio. Call
 * `step()` after each optimizer step (as torch); the constructor applies step 0.
 */
export class LrScheduler {
  private readonly baseLrs: number[];
  private current = 0;

  constructor(
    readonly optimizer: Optimizer<BaseHyper>,
    readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.groups.map((g) => g.lr);
    this.apply();
  }

  /** The step whose lr is in the groups now. */
  get lastStep(): number {
    return this.current;
  }

  /** Advances one step and writes the new lrs; returns the first group's lr. */
  step(): number {
    this.current++;
    return this.apply();
  }

  stateDict(): { step: number; baseLrs: number[] } {
    return { step: this.current, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(sd: { step: number; baseLrs?: number[] }): void {
    checkStep('LrScheduler.loadStateDict', sd.step);
    if (sd.baseLrs) {
      if (sd.baseLrs.length !== this.baseLrs.length)
        fail('LrScheduler.loadStateDict', `the checkpoint has ${sd.baseLrs.length} groups, the optimizer ${this.baseLrs.length}`);
      this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    }
    this.current = sd.step;
    this.apply();
  }

  private apply(): number {
    const at = this.schedule.lrAt(this.current);
    const peak = this.schedule.lr;
    this.optimizer.groups.forEach((g, i) => (g.lr = peak === 0 ? 0 : (this.baseLrs[i] * at) / peak));
    return this.optimizer.groups[0].lr;
  }
}

/** The cosine-with-warmup lr at `step` as one pure call (cosineLr's lrAt with lr = maxLr). */
export function cosineWithWarmup(step: number, o: { warmup?: number; total: number; maxLr: number; minLr?: number }): number {
  return cosineLr({ lr: o.maxLr, warmup: o.warmup, total: o.total, minLr: o.minLr }).lrAt(step);
}
