// What a run record says, in numbers and in words: the LoRA-vs-MoRA comparison at each budget over
// the seeds, the ordering on each seed, the sweeps, the paper's table beside ours, and the summary
// paragraph. Pure functions (no I/O) shared by the markdown and HTML reports; the number formatters
// are in ./formatters.ts. Sentences mark emphasis with **…** (markdown as is; the HTML report turns
// it into <strong>). Every sentence is computed from the numbers in the record; none is fixed text
// about results.
// Longer than most: every sentence of the summary and every table of the report is computed here from
// the run record, so that what the report claims can be checked against its numbers in one place.
import {
  budgetPairs,
  groupMethods,
  groupStats,
  lastPoint,
  seedsOf,
  sweepOf,
  taskSizes,
  type BudgetPair,
  type GroupStats,
  type MethodGroup,
} from './aggregate.js';
import type { RunMetrics } from './metrics.js';
import { moduleKind } from './rank.js';
import { fmtBudget, fmtCount, fmtInt, fmtLoss, fmtLossSd, fmtLr, fmtPct, fmtPctSd, fmtRHat, fmtSec, fmtShare } from './formatters.js';

/**
 * Character accuracy of a model that knows only the uuid4 format and guesses the hex digits: the 4
 * dashes and the version '4' right, the variant nibble right 1 time in 4, the 30 other digits 1 in 16.
 */
export const UUID_FORMAT_BASELINE = (5 + 0.25 + 30 / 16) / 36;

/**
 * Loss per completion token (nats) of the same format-only model on "<value>\n": 30 hex digits at
 * ln 16, the variant nibble at ln 4, the dashes, version digit and newline free; 37 targets.
 */
export const UUID_FORMAT_LOSS = (30 * Math.log(16) + Math.log(4)) / 37;

/** Two accuracies (in [0, 1]) closer than this count as a tie in the summary. */
export const TIE = 0.005;

// ---------------------------------------------------------------------------------------------
// Statistics

/** Mean count of σ above the threshold per module kind: kind -> method name -> mean over layers and seeds. */
export function rankByKind(
  m: RunMetrics,
  field: 'rankAbove' | 'effectiveRank' | 'stableRank' = 'rankAbove',
): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const g of groupMethods(m)) {
    if (g.examples !== taskSizes(m)[0]) continue;
    const groups = new Map<string, number[]>();
    for (const r of g.runs.flatMap((x) => x.rank)) {
      const k = moduleKind(r.name);
      groups.set(k, [...(groups.get(k) ?? []), r[field]]);
    }
    for (const [k, xs] of groups) {
      if (!out.has(k)) out.set(k, new Map());
      out.get(k)!.set(g.name, xs.reduce((s, x) => s + x, 0) / xs.length);
    }
  }
  return out;
}

/** Mean over modules (and seeds) of the count of σ above the threshold (null without rank analysis). */
export function meanRank(g: MethodGroup, field: 'rankAbove' | 'effectiveRank' = 'rankAbove'): number | null {
  const xs = g.runs.flatMap((r) => r.rank.map((x) => x[field]));
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
}

/** The paper's UUID table (LLaMA-2 7B, 10,000 pairs, loss on the whole sequence), character accuracy %. */
export const PAPER_UUID = {
  steps: [300, 500, 700, 900],
  rows: [
    { name: 'Full fine-tuning', adapter: 'full', r: null, acc: [42.5, 100, 100, 100] },
    { name: 'LoRA r=8', adapter: 'lora', r: 8, acc: [9.9, 10.0, 10.7, 54.2] },
    { name: 'MoRA r=8', adapter: 'mora', r: 8, acc: [10.1, 15.7, 87.4, 100] },
    { name: 'LoRA r=256', adapter: 'lora', r: 256, acc: [9.9, 70.6, 100, 100] },
    { name: 'MoRA r=256', adapter: 'mora', r: 256, acc: [41.6, 100, 100, 100] },
  ],
} as const;

const list = (xs: string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);
const pts = (x: number): string => `${x >= 0 ? '+' : '−'}${(100 * Math.abs(x)).toFixed(1)}`;
const seedsWord = (n: number): string => `${n} seed${n === 1 ? '' : 's'}`;

/** The display title of a run: 'MoRA vs LoRA vs full fine-tuning on UUID memorisation'. */
export function reportTitle(m: RunMetrics): string {
  const kinds = new Set(m.methods.map((x) => x.adapter));
  const names = [kinds.has('mora') && 'MoRA', kinds.has('lora') && 'LoRA', kinds.has('full') && 'full fine-tuning'].filter(
    Boolean,
  ) as string[];
  const task = m.task.name === 'uuid' ? 'UUID memorisation' : m.task.name;
  return `${names.length ? names.join(' vs ') : 'Fine-tuning'} on ${task}`;
}

/** For each seed: did full > MoRA > LoRA hold at this budget (final accuracy, strictly by more than TIE)? */
export function orderingBySeed(
  m: RunMetrics,
  pair: BudgetPair,
): { seed: number; holds: boolean; full: number | null; mora: number; lora: number }[] {
  const groups = groupMethods(m);
  const full = groups.find((g) => g.lead.adapter === 'full' && g.examples === pair.examples);
  const out: { seed: number; holds: boolean; full: number | null; mora: number; lora: number }[] = [];
  for (const { seed } of pair.gaps) {
    const mo = lastPoint(pair.mora.runs.find((r) => r.seed === seed)!)!.charAccuracy;
    const lo = lastPoint(pair.lora.runs.find((r) => r.seed === seed)!)!.charAccuracy;
    const fr = full?.runs.find((r) => r.seed === seed);
    const fu = fr ? (lastPoint(fr)?.charAccuracy ?? null) : null;
    out.push({ seed, full: fu, mora: mo, lora: lo, holds: mo - lo > TIE && (fu === null || fu - mo > TIE) });
  }
  return out;
}

/**
 * The honest summary, as sentences computed from the numbers: the setting, who led, MoRA against
 * LoRA at each budget over the seeds (plainly, also when it did not win), the ordering per seed, the
 * format-only level, full fine-tuning, the rank analysis, the sweeps, the paper beside it, the
 * mechanism, and the caveats of the scale.
 */
export function summarize(m: RunMetrics): string[] {
  const out: string[] = [];
  const groups = groupMethods(m);
  const stats = groups.map(groupStats);
  const seeds = seedsOf(m);
  const sizes = taskSizes(m);
  if (m.status !== 'complete') out.push(`This run is **${m.status}**: the numbers below cover only what finished.`);
  const failed = m.methods.filter((x) => x.status === 'failed');
  if (failed.length) out.push(`${list(failed.map((x) => x.name))} failed (${failed.map((x) => x.error ?? 'no message').join('; ')}).`);
  const floor = m.task.floor;
  const nSeeds = seeds.length;
  out.push(
    `Every method ran on ${seedsWord(nSeeds)}${nSeeds > 1 ? ` (${seeds.join(', ')}); figures are mean ± standard deviation over them` : ''}${m.methods.some((x) => x.lrSweep.length) ? `, at the learning rate its own sweep chose on seed ${seeds[0]}` : ''}.`,
  );

  const withAcc = stats.filter((s) => s.acc.n > 0 && s.group.examples === sizes[0]);
  if (withAcc.length === 0) {
    out.push('No method recorded an accuracy checkpoint, so there is nothing to compare yet.');
  } else {
    const sorted = [...withAcc].sort((a, b) => b.acc.mean - a.acc.mean);
    out.push(
      `Final character accuracy${sizes.length > 1 ? ` on ${sizes[0]} pairs` : ''}: ${list(sorted.map((s) => `${s.group.name} **${fmtPctSd(s.acc)}%**`))}.`,
    );
  }

  const pairs = budgetPairs(groups).filter((p) => p.examples === sizes[0]);
  for (const p of pairs) {
    const mora = `MoRA (type ${String(p.mora.lead.type)}, r̂ = ${fmtRHat(p.mora.lead.R)})`;
    if (p.gaps.length === 0) {
      out.push(`At r = ${p.r} there is no seed on which both ${mora} and LoRA have a final checkpoint.`);
      continue;
    }
    const ahead = p.gaps.filter((x) => x.gap > TIE).length;
    const behind = p.gaps.filter((x) => x.gap < -TIE).length;
    const verdict =
      ahead === p.gaps.length
        ? `**beat LoRA${p.gaps.length > 1 ? ' on every seed' : ''}**`
        : behind === p.gaps.length
          ? `**did not beat LoRA${p.gaps.length > 1 ? ' on any seed' : ''}**`
          : `was ahead on ${ahead} and behind on ${behind} of ${seedsWord(p.gaps.length)}`;
    const gap = p.gaps.length > 1 ? `${pts(p.gap.mean)} ± ${(100 * p.gap.sd).toFixed(1)} points` : `${pts(p.gap.mean)} points`;
    out.push(
      `At r = ${p.r}, ${mora} ${verdict}: ${fmtPctSd(groupStats(p.mora).acc)}% against LoRA's ${fmtPctSd(groupStats(p.lora).acc)}% (${gap}).`,
    );
    const order = orderingBySeed(m, p);
    if (order.some((o) => o.full !== null)) {
      const held = order.filter((o) => o.holds).length;
      out.push(
        `The ordering full fine-tuning > MoRA > LoRA at r = ${p.r} held on ${held} of ${seedsWord(order.length)}${held < order.length ? ` (not on seed ${list(order.filter((o) => !o.holds).map((o) => String(o.seed)))})` : ''}.`,
      );
    }
  }

  if (floor) {
    const adapters = groups.filter((g) => g.lead.adapter !== 'full' && g.examples === sizes[0]);
    const below = adapters.flatMap((g) =>
      g.runs.filter((r) => (lastPoint(r)?.charAccuracy ?? 0) <= floor.charAccuracy + TIE).map((r) => `${g.name} (seed ${r.seed})`),
    );
    const base = m.task.baseAccuracy !== null ? ` (the base measured ${fmtPct(m.task.baseAccuracy)}% before fine-tuning)` : '';
    out.push(
      below.length === 0
        ? `Every adapter run ended above the format-only level of ${fmtPct(floor.charAccuracy)}%${base}: what they add is memorised values, not the format.`
        : `${list(below)} ended at or below the format-only level of ${fmtPct(floor.charAccuracy)}%${base}: there the adapter memorised nothing beyond the format.`,
    );
  }

  const full = stats.find((s) => s.group.lead.adapter === 'full' && s.acc.n > 0 && s.group.examples === sizes[0]);
  const adapterStats = stats.filter((s) => s.group.lead.adapter !== 'full' && s.acc.n > 0 && s.group.examples === sizes[0]);
  if (full && adapterStats.length) {
    const best = adapterStats.reduce((a, b) => (b.acc.mean > a.acc.mean ? b : a));
    const share = fmtShare(best.group.lead.totalParams > 0 ? best.group.lead.trainableParams / best.group.lead.totalParams : 0);
    const d = full.acc.mean - best.acc.mean;
    if (d > TIE) out.push(`Full fine-tuning stayed ahead of the best adapter, ${best.group.name} (${share} of the parameters trainable).`);
    else if (d < -TIE)
      out.push(`The best adapter, ${best.group.name} (${share} of the parameters trainable), ended ahead of full fine-tuning.`);
    else out.push(`The best adapter, ${best.group.name}, matched full fine-tuning with ${share} of the parameters trainable.`);
  }

  const ranked = groups.filter((g) => meanRank(g) !== null && g.examples === sizes[0]);
  if (ranked.length) {
    const th = m.config.rankThreshold;
    const fmtR = (x: number) => x.toFixed(1);
    if (ranked.every((g) => meanRank(g) === 0)) {
      out.push(
        `No update had a singular value above ${th}, so the paper's rank count says nothing here; the mean effective rank of ΔW per module was ${list(ranked.map((g) => `${g.name} ${fmtR(meanRank(g, 'effectiveRank')!)}`))}.`,
      );
    } else {
      const cmp = pairs.filter((p) => meanRank(p.mora) !== null && meanRank(p.lora) !== null);
      const fullG = ranked.find((g) => g.lead.adapter === 'full');
      const fullPart = fullG ? `; full fine-tuning's had ${fmtR(meanRank(fullG)!)}` : '';
      const more = cmp.filter((p) => meanRank(p.mora)! > meanRank(p.lora)!);
      const notMore = cmp.filter((p) => !more.includes(p));
      const fmtP = (ps: BudgetPair[]) => list(ps.map((p) => `r = ${p.r} (${fmtR(meanRank(p.mora)!)} vs ${fmtR(meanRank(p.lora)!)})`));
      if (cmp.length === 0)
        out.push(
          `On average ΔW had ${list(ranked.map((g) => `${fmtR(meanRank(g)!)} (${g.name})`))} singular values above ${th} per module.`,
        );
      else if (notMore.length === 0)
        out.push(`As in the paper, MoRA's ΔW had more singular values above ${th} per module than LoRA's at ${fmtP(more)}${fullPart}.`);
      else if (more.length === 0)
        out.push(
          `Unlike the paper, MoRA's ΔW did not have more singular values above ${th} per module than LoRA's at ${fmtP(notMore)}${fullPart}.`,
        );
      else
        out.push(
          `MoRA's ΔW had more singular values above ${th} per module than LoRA's at ${fmtP(more)}, but not at ${fmtP(notMore)}${fullPart}.`,
        );
    }
  }

  const edge = groups.filter((g) => sweepOf(g).bracketed === false);
  if (edge.length)
    out.push(
      `The sweep's chosen rate sat at the edge of its grid for ${list(edge.map((g) => g.name))} even after extending it: a better rate may lie beyond.`,
    );

  if (m.task.name === 'uuid' && pairs.length) out.push(paperComparison(m, pairs));

  const mech = m.mechanism;
  if (mech) {
    const exact = (k: 'lora' | 'mora') => Math.max(0, ...mech.floors.filter((f) => f[k] < 1e-6).map((f) => f.n));
    const win = mech.floors.filter((f) => f.mora < f.lora - 1e-3).map((f) => f.n);
    const lose = mech.floors.filter((f) => f.lora < f.mora - 1e-3).map((f) => f.n);
    out.push(
      `The mechanism, one ${mech.config.d}×${mech.config.d} layer storing N key→value pairs with ${mech.loraParams} (LoRA r = ${mech.config.r}) or ${mech.moraParams} (MoRA r̂ = ${mech.R}) trainable numbers: ` +
        `LoRA stores ${exact('lora')} pairs exactly, MoRA ${exact('mora')}; ` +
        (win.length ? `MoRA's loss floor is lower for N in ${win[0]}..${win[win.length - 1]}` : 'MoRA is never lower') +
        (lose.length
          ? `, LoRA's for N in ${lose[0]}..${lose[lose.length - 1]}, where its freedom to pick its ${mech.config.r} directions captures more of a random target.`
          : '.'),
    );
  }

  const scale = `a model of ${fmtCount(m.base.params)} parameters and ${fmtInt(m.task.examples)} ${m.task.name === 'uuid' ? 'pairs' : 'examples'}${m.task.name === 'uuid' ? ' (the paper: LLaMA-2 7B, 10,000 pairs)' : ''}`;
  out.push(
    nSeeds > 1
      ? `Scale: ${scale}.`
      : `This is one seed and ${scale}, so differences of a few points may be noise; \`--seeds 3\` gives the spread.`,
  );
  return out;
}

/** The paper's verdict at each budget beside this run's, in plain words. */
function paperComparison(m: RunMetrics, pairs: BudgetPair[]): string {
  const small = pairs[0];
  const large = pairs.length > 1 ? pairs[pairs.length - 1] : null;
  const verdict = (p: BudgetPair) => {
    const ahead = p.gaps.filter((x) => x.gap > TIE).length;
    return ahead === p.gaps.length && p.gaps.length > 0 ? 'reproduced' : ahead === 0 ? 'not reproduced' : 'reproduced on some seeds only';
  };
  const parts = [`the paper has MoRA ahead of LoRA at r = 8 (87.4% vs 10.7% at step 700) and at r = 256 (41.6% vs 9.9% at step 300)`];
  parts.push(`here MoRA ahead at the small budget (r = ${small.r}) is **${verdict(small)}**`);
  if (large) parts.push(`at the large budget (r = ${large.r}) **${verdict(large)}**`);
  return `Against the paper's table (LLaMA-2 7B, loss on the whole sequence${m.task.lossOn === 'completion' ? '; this run puts the loss on the completion' : ''}): ${parts.join('; ')}.`;
}

// ---------------------------------------------------------------------------------------------
// Tables (as rows of cells; the markdown and HTML reports lay them out)

export interface Table {
  header: string[];
  rows: string[][];
  /** Per column: right-align numbers. */
  align: ('left' | 'right')[];
}

/** Every checkpoint step that appears in any run, ascending. */
export function checkpointSteps(m: RunMetrics): number[] {
  return [...new Set(m.methods.flatMap((x) => x.accuracy.map((a) => a.step)))].sort((a, b) => a - b);
}

const groupLabel = (g: MethodGroup, sizes: number[]): string => (sizes.length > 1 ? `${g.name} · ${g.examples} pairs` : g.name);

/** Method x checkpoint step -> character accuracy % (mean ± sd over seeds), the paper's table shape, with the format-only level as a row. */
export function resultsTable(m: RunMetrics): Table {
  const steps = checkpointSteps(m);
  const sizes = taskSizes(m);
  const rows = groupMethods(m).map((g) => {
    const s = groupStats(g);
    const x = g.lead;
    const failed = g.runs.find((r) => r.status !== 'complete');
    return [
      groupLabel(g, sizes) + (failed ? ` (${failed.status})` : ''),
      fmtCount(x.trainableParams),
      fmtLr(x.lr),
      ...steps.map((st) => fmtPctSd(s.accAt.get(st) ?? { mean: NaN, sd: NaN, n: 0 })),
      s.exact.n ? `${fmtPctSd(s.exact)}%` : '–',
      fmtLossSd(s.loss),
      fmtSec(s.wallTimeSec.mean),
    ];
  });
  const floor = m.task.floor;
  if (floor)
    rows.push([
      'Format-only level',
      '–',
      '–',
      ...steps.map(() => fmtPct(floor.charAccuracy)),
      '0%',
      m.task.lossOn === 'completion' ? fmtLoss(floor.completionLoss) : '–',
      '–',
    ]);
  return {
    header: ['Method', 'Trainable', 'lr', ...steps.map((s) => (s === 0 ? 'base' : `step ${s}`)), 'Exact', 'Final loss', 'Time / seed'],
    align: ['left', 'right', 'right', ...steps.map(() => 'right' as const), 'right', 'right', 'right'],
    rows,
  };
}

/** Method x seed -> final character accuracy %, and per budget whether full > MoRA > LoRA held on that seed. */
export function seedsTable(m: RunMetrics): Table {
  const seeds = seedsOf(m);
  const sizes = taskSizes(m);
  const groups = groupMethods(m);
  const rows = groups.map((g) => [
    groupLabel(g, sizes),
    ...seeds.map((sd) => fmtPct(g.runs.find((r) => r.seed === sd) ? lastPoint(g.runs.find((r) => r.seed === sd)!)?.charAccuracy : null)),
    fmtPctSd(groupStats(g).acc),
  ]);
  for (const p of budgetPairs(groups)) {
    const order = orderingBySeed(m, p);
    rows.push([
      `MoRA − LoRA, r = ${p.r}${sizes.length > 1 ? ` · ${p.examples} pairs` : ''}`,
      ...seeds.map((sd) => {
        const x = p.gaps.find((q) => q.seed === sd);
        return x ? pts(x.gap) : '–';
      }),
      p.gap.n > 1 ? `${pts(p.gap.mean)} ± ${(100 * p.gap.sd).toFixed(1)}` : p.gap.n ? pts(p.gap.mean) : '–',
    ]);
    if (order.some((o) => o.full !== null))
      rows.push([
        `full > MoRA > LoRA, r = ${p.r}${sizes.length > 1 ? ` · ${p.examples} pairs` : ''}`,
        ...seeds.map((sd) => {
          const o = order.find((q) => q.seed === sd);
          return o ? (o.holds ? 'yes' : 'no') : '–';
        }),
        `${order.filter((o) => o.holds).length}/${order.length}`,
      ]);
  }
  return {
    header: ['Method', ...seeds.map((s) => `seed ${s}`), 'mean ± sd'],
    align: ['left', ...seeds.map(() => 'right' as const), 'right'],
    rows,
  };
}

/** Per method: every swept rate with its final sweep loss; ✓ the chosen, + a grid extension. */
export function sweepTable(m: RunMetrics): Table {
  const groups = groupMethods(m).filter((g) => g.lead.lrSweep.length > 0);
  const sizes = taskSizes(m);
  return {
    header: ['Method', 'Sweep steps', 'Rates tried: loss at the end of the sweep (✓ chosen, + added past the grid)', 'Bracketed'],
    align: ['left', 'right', 'left', 'left'],
    rows: groups.map((g) => {
      const sw = sweepOf(g);
      return [
        groupLabel(g, sizes),
        String(sw.trials[0]?.steps ?? '–'),
        sw.trials
          .map(
            (t) =>
              `${fmtLr(t.lr)}${t.extension ? '+' : ''}: ${t.finalLoss === null ? 'diverged' : fmtLoss(t.finalLoss)}${t.lr === sw.chosen ? ' ✓' : ''}`,
          )
          .join(' · '),
        sw.bracketed === null ? '–' : sw.bracketed ? 'yes' : 'no (at the edge)',
      ];
    }),
  };
}

/** Per method: adapter, budget (r̂ per module shape), trainable parameters (share), the rate used, steps. */
export function methodsTable(m: RunMetrics): Table {
  const sizes = taskSizes(m);
  return {
    header: ['Method', 'Adapter', 'Budget', 'Targets', 'Trainable params', 'Share', 'lr', 'Steps'],
    align: ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right'],
    rows: groupMethods(m).map((g) => {
      const x = g.lead;
      return [
        groupLabel(g, sizes),
        x.adapter,
        fmtBudget(x) || '–',
        x.targets.join(', ') || '–',
        fmtInt(x.trainableParams),
        fmtShare(x.totalParams > 0 ? x.trainableParams / x.totalParams : 0),
        fmtLr(x.lr),
        String(x.steps),
      ];
    }),
  };
}

/** Module kind x method -> mean count of σ above the threshold (and effective rank), over layers and seeds. */
export function rankTable(m: RunMetrics): Table {
  const counts = rankByKind(m, 'rankAbove');
  const eff = rankByKind(m, 'effectiveRank');
  const groups = groupMethods(m).filter((g) => g.examples === taskSizes(m)[0] && g.runs.some((r) => r.rank.length > 0));
  const shapeOf = (kind: string) => m.methods.flatMap((x) => x.rank).find((r) => moduleKind(r.name) === kind)?.shape;
  return {
    header: ['Module', 'Shape', ...groups.map((g) => g.name)],
    align: ['left', 'left', ...groups.map(() => 'right' as const)],
    rows: [...counts.keys()].map((kind) => {
      const sh = shapeOf(kind);
      return [
        kind,
        sh ? `${sh[0]}×${sh[1]}` : '',
        ...groups.map((g) => {
          const c = counts.get(kind)?.get(g.name);
          const e = eff.get(kind)?.get(g.name);
          return c === undefined ? '–' : `${c.toFixed(1)} (eff. ${e!.toFixed(1)})`;
        }),
      ];
    }),
  };
}

/** The capacity view: method x task size -> final character accuracy % (mean ± sd); null with one size. */
export function capacityTable(m: RunMetrics): Table | null {
  const sizes = taskSizes(m);
  if (sizes.length < 2) return null;
  const names = [...new Set(m.methods.map((x) => x.name))];
  const groups = groupMethods(m);
  return {
    header: ['Method', ...sizes.map((n) => `${n} pairs`)],
    align: ['left', ...sizes.map(() => 'right' as const)],
    rows: names.map((name) => [
      name,
      ...sizes.map((n) => {
        const g = groups.find((x) => x.name === name && x.examples === n);
        return g ? fmtPctSd(groupStats(g).acc) : '–';
      }),
    ]),
  };
}

/** The mechanism experiment: N associations -> the relative loss floor of each adapter. */
export function mechanismTable(m: RunMetrics): Table | null {
  const mech = m.mechanism;
  if (!mech) return null;
  const f = (x: number) => (x < 1e-6 ? '0 (exact)' : x.toFixed(3));
  return {
    header: ['Target', `LoRA r=${mech.config.r} (${mech.loraParams} numbers)`, `MoRA r̂=${mech.R} (${mech.moraParams} numbers)`],
    align: ['left', 'right', 'right'],
    rows: [
      ...mech.floors.map((p) => [`${p.n} random pairs${p.n === mech.config.d ? ' (full-rank ΔW*)' : ''}`, f(p.lora), f(p.mora)]),
      [`rank-${mech.config.r} ΔW* on all ${mech.config.d} keys`, f(mech.lowRankTarget.lora), f(mech.lowRankTarget.mora)],
      ...mech.trained.map((t) => [
        `trained on ${mech.config.trainCount} pairs (${t.adapter === 'lora' ? 'LoRA' : 'MoRA'}, Adam lr ${fmtLr(t.lr)}, ${t.loss.length} steps)`,
        t.adapter === 'lora' ? `${f(t.loss[t.loss.length - 1])} (floor ${f(t.floor)})` : '',
        t.adapter === 'mora' ? `${f(t.loss[t.loss.length - 1])} (floor ${f(t.floor)})` : '',
      ]),
    ],
  };
}

/** The paper's table beside this run's (mean final accuracy per method). */
export function paperTable(): Table {
  return {
    header: ['Paper: LLaMA-2 7B, 10,000 pairs', ...PAPER_UUID.steps.map((s) => `step ${s}`)],
    align: ['left', ...PAPER_UUID.steps.map(() => 'right' as const)],
    rows: PAPER_UUID.rows.map((r) => [r.name, ...r.acc.map((a) => a.toFixed(1))]),
  };
}

/** Where and with what the run ran. */
export function environmentTable(m: RunMetrics): Table {
  const e = m.environment;
  const b = m.base;
  const model = Object.entries(b.model)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
  const f = b.formatStage;
  return {
    header: ['', ''],
    align: ['left', 'left'],
    rows: [
      ['Adapter', e.adapter],
      ['Backend', e.backend],
      ['Machine', `${e.platform}/${e.arch}, ${e.cpus} CPU${e.cpus === 1 ? '' : 's'}`],
      ['Node.js', e.node],
      ['moragrad', e.moragrad],
      ['Date', e.date],
      ['Run wall time', fmtSec(m.wallTimeSec)],
      ['Base model', `${fmtInt(b.params)} parameters (${model}); ${b.tokenizer} tokenizer, vocabulary ${b.vocabSize}`],
      [
        'Base training',
        `${b.corpus}, ${b.steps} steps, final loss ${fmtLoss(b.finalLoss)}${b.valLoss !== null ? `, validation loss ${fmtLoss(b.valLoss)}` : ''}, ${b.cached ? 'loaded from cache' : `trained in ${fmtSec(b.wallTimeSec)}`} (${b.checkpoint})`,
      ],
      ...(f
        ? [
            [
              'Format stage',
              `full fine-tuning on ${fmtInt(f.pairs)} random UUID pairs (none a task pair), ${f.steps} steps, batch ${f.batchSize}, lr ${fmtLr(f.lr)}, final loss ${fmtLoss(f.finalLoss)}, ${f.cached ? 'loaded from cache' : `trained in ${fmtSec(f.wallTimeSec)}`}`,
            ],
          ]
        : []),
      [
        'Task',
        `${m.task.name}: ${fmtInt(m.task.examples)} examples per seed, up to ${m.task.maxTokens} tokens, loss on ${m.task.lossOn === 'all' ? 'the whole sequence' : 'the completion'}`,
      ],
    ],
  };
}

export type { GroupStats, MethodGroup };
