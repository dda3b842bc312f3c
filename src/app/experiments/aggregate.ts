// A run record holds one MethodResult per (method, seed, task size). The report reads them per
// method: every seed's final accuracy, their mean ± sd, the curves' mean and spread, and which
// method led on each seed. Pure functions over RunMetrics.
import type { AccuracyPoint, LrTrial, MethodResult, RunMetrics } from './metrics.js';
import { meanSd, seriesMeanSd, type MeanSd } from './stats.js';

/** One method on one task size, with its run on every seed. */
export interface MethodGroup {
  name: string;
  /** Task size (pairs) the runs memorised. */
  examples: number;
  /** The runs, in seed order. */
  runs: MethodResult[];
  /** The first seed's run (its sweep chose the rate every seed used). */
  lead: MethodResult;
}

/** Groups runs by (name, examples), in first-seen order; runs sorted by seed. */
export function groupMethods(m: Pick<RunMetrics, 'methods'>): MethodGroup[] {
  const groups: MethodGroup[] = [];
  for (const r of m.methods) {
    let g = groups.find((x) => x.name === r.name && x.examples === r.examples);
    if (!g) {
      g = { name: r.name, examples: r.examples, runs: [], lead: r };
      groups.push(g);
    }
    g.runs.push(r);
  }
  for (const g of groups) {
    g.runs.sort((a, b) => a.seed - b.seed);
    g.lead = g.runs.find((r) => r.lrSweep.length > 0) ?? g.runs[0];
  }
  return groups;
}

/** The task sizes present, ascending. */
export function taskSizes(m: Pick<RunMetrics, 'methods'>): number[] {
  return [...new Set(m.methods.map((r) => r.examples))].sort((a, b) => a - b);
}

/** The seeds present, ascending. */
export function seedsOf(m: Pick<RunMetrics, 'methods'>): number[] {
  return [...new Set(m.methods.map((r) => r.seed))].sort((a, b) => a - b);
}

/** The last accuracy point of a run (null without any). */
export function lastPoint(r: MethodResult): AccuracyPoint | null {
  return r.accuracy.length ? r.accuracy[r.accuracy.length - 1] : null;
}

/** Mean of the last k finite losses (null if none). */
export function tailLoss(loss: readonly (number | null)[], k = 10): number | null {
  const tail = loss.filter((l): l is number => l !== null && Number.isFinite(l)).slice(-k);
  return tail.length === 0 ? null : tail.reduce((s, l) => s + l, 0) / tail.length;
}

export interface GroupStats {
  group: MethodGroup;
  /** Final character accuracy over seeds (runs without a checkpoint left out). */
  acc: MeanSd;
  exact: MeanSd;
  /** Final training loss over seeds. */
  loss: MeanSd;
  /** Character accuracy at each checkpoint step, over the seeds that reached it. */
  accAt: Map<number, MeanSd>;
  wallTimeSec: MeanSd;
}

export function groupStats(g: MethodGroup): GroupStats {
  const finals = g.runs.map(lastPoint).filter((p): p is AccuracyPoint => p !== null);
  const steps = [...new Set(g.runs.flatMap((r) => r.accuracy.map((a) => a.step)))].sort((a, b) => a - b);
  const accAt = new Map<number, MeanSd>();
  for (const s of steps) accAt.set(s, meanSd(g.runs.flatMap((r) => r.accuracy.filter((a) => a.step === s).map((a) => a.charAccuracy))));
  return {
    group: g,
    acc: meanSd(finals.map((p) => p.charAccuracy)),
    exact: meanSd(finals.map((p) => p.exactMatch)),
    loss: meanSd(g.runs.map((r) => tailLoss(r.loss)).filter((l): l is number => l !== null)),
    accAt,
    wallTimeSec: meanSd(g.runs.map((r) => r.wallTimeSec)),
  };
}

/** Per step: the mean and sd over seeds of the training loss. */
export function lossBand(g: MethodGroup): { mean: (number | null)[]; sd: (number | null)[] } {
  return seriesMeanSd(g.runs.map((r) => r.loss));
}

/** The sweep that chose the group's rate (empty without a sweep). */
export function sweepOf(g: MethodGroup): { trials: LrTrial[]; chosen: number; bracketed: boolean | null } {
  return { trials: g.lead.lrSweep, chosen: g.lead.lr, bracketed: g.lead.sweepBracketed };
}

/** A LoRA and a MoRA group at the same budget r and task size. */
export interface BudgetPair {
  r: number;
  examples: number;
  lora: MethodGroup;
  mora: MethodGroup;
  /** Per seed both ran: MoRA's final accuracy minus LoRA's. */
  gaps: { seed: number; gap: number }[];
  gap: MeanSd;
}

/** Final accuracy of a group's run on a seed (null if it has none). */
export function finalOn(g: MethodGroup, seed: number): number | null {
  const r = g.runs.find((x) => x.seed === seed);
  return r ? (lastPoint(r)?.charAccuracy ?? null) : null;
}

/** Every MoRA group paired with the LoRA group of the same r and task size. */
export function budgetPairs(groups: readonly MethodGroup[]): BudgetPair[] {
  const out: BudgetPair[] = [];
  for (const mora of groups.filter((g) => g.lead.adapter === 'mora')) {
    const lora = groups.find((g) => g.lead.adapter === 'lora' && g.lead.r === mora.lead.r && g.examples === mora.examples);
    if (!lora || mora.lead.r === null) continue;
    const gaps: { seed: number; gap: number }[] = [];
    for (const r of mora.runs) {
      const a = finalOn(mora, r.seed);
      const b = finalOn(lora, r.seed);
      if (a !== null && b !== null) gaps.push({ seed: r.seed, gap: a - b });
    }
    out.push({ r: mora.lead.r, examples: mora.examples, lora, mora, gaps, gap: meanSd(gaps.map((x) => x.gap)) });
  }
  return out.sort((a, b) => a.examples - b.examples || a.r - b.r);
}
