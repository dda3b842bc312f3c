// What a run record says, in numbers and in words: per-method statistics, the LoRA-vs-MoRA
// comparison at each budget, the formatters the report uses, and the summary paragraph. Pure
// functions (no I/O) shared by the markdown and HTML reports. Sentences mark emphasis with **…**
// (markdown as is; the HTML report turns it into <strong>).
import type { AccuracyPoint, MethodResult, RunMetrics } from './metrics.js';
import { moduleKind } from './rank.js';

/**
 * Character accuracy of a model that knows only the uuid4 format and guesses the hex digits: the 4
 * dashes and the version '4' right, the variant nibble right 1 time in 4, the 30 other digits 1 in 16.
 */
export const UUID_FORMAT_BASELINE = (5 + 0.25 + 30 / 16) / 36;

/** Two accuracies (in [0, 1]) closer than this count as a tie in the summary. */
export const TIE = 0.005;

// ---------------------------------------------------------------------------------------------
// Formatters

/** 1234567 -> '1,234,567'. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1234567 -> '1.23M', 74210 -> '74.2K', 512 -> '512'. */
export function fmtCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toPrecision(3)}B`;
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(n / 1e3).toPrecision(3)}K`;
  return fmtInt(n);
}

/** 0.0003 -> '3e-4', 0.00025 -> '2.5e-4', 0.01 -> '1e-2'. */
export function fmtLr(lr: number): string {
  if (!Number.isFinite(lr)) return String(lr);
  const [mant, exp] = lr.toExponential(3).split('e');
  return `${String(Number(mant))}e${Number(exp)}`;
}

/** An accuracy in [0, 1] as a percentage with one decimal ('42.5'). */
export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(1);
}

/** Seconds as '4.2 s', '1 m 05 s', '1 h 02 m'. */
export function fmtSec(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

/** A loss with 3 significant digits ('2.34'), '–' when missing. */
export function fmtLoss(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x < 0.01 ? x.toExponential(2) : x.toPrecision(3);
}

/** A share in [0, 1] as a percentage with 2-3 significant digits: '6.1%', '48%', '100%', '0.052%'. */
export function fmtShare(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const p = 100 * x;
  if (p >= 99.95) return '100%';
  if (p >= 10) return `${p.toFixed(0)}%`;
  return `${Number(p.toPrecision(2))}%`;
}

/** 'r=8', 'r=8, r̂=38, type 6', '' for full fine-tuning. */
export function fmtBudget(m: Pick<MethodResult, 'adapter' | 'r' | 'R' | 'type' | 'alpha'>): string {
  if (m.adapter === 'lora') return `r=${m.r}${m.alpha !== null ? `, α=${m.alpha}` : ''}`;
  if (m.adapter === 'mora') return `r=${m.r}, r̂=${m.R}, type ${String(m.type)}`;
  return m.r !== null ? `r=${m.r}` : '';
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Every checkpoint step that appears in any method, ascending. */
export function checkpointSteps(m: RunMetrics): number[] {
  return [...new Set(m.methods.flatMap((x) => x.accuracy.map((a) => a.step)))].sort((a, b) => a - b);
}

export function accuracyAt(method: MethodResult, step: number): AccuracyPoint | undefined {
  return method.accuracy.find((a) => a.step === step);
}

/** Mean of the last `k` finite losses (null if none). */
export function finalLoss(loss: readonly (number | null)[], k = 10): number | null {
  const tail = loss.filter((l): l is number => l !== null && Number.isFinite(l)).slice(-k);
  return tail.length === 0 ? null : tail.reduce((s, l) => s + l, 0) / tail.length;
}

export interface MethodStats {
  name: string;
  method: MethodResult;
  /** The last checkpoint (null without any). */
  last: AccuracyPoint | null;
  /** The best character accuracy and the first step that reached it. */
  best: AccuracyPoint | null;
  /** First checkpoint where every key was generated exactly (null if never). */
  perfectAt: number | null;
  finalLoss: number | null;
  /** Mean over modules of the count of σ above the threshold (null without rank analysis). */
  meanRankAbove: number | null;
  meanEffectiveRank: number | null;
  meanStableRank: number | null;
  /** Trainable share of all parameters, in [0, 1]. */
  trainableShare: number;
}

const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length);

export function methodStats(method: MethodResult): MethodStats {
  const acc = method.accuracy;
  let best: AccuracyPoint | null = null;
  for (const a of acc) if (!best || a.charAccuracy > best.charAccuracy + 1e-12) best = a;
  return {
    name: method.name,
    method,
    last: acc.length ? acc[acc.length - 1] : null,
    best,
    perfectAt: acc.find((a) => a.exactMatch >= 1 - 1e-9)?.step ?? null,
    finalLoss: finalLoss(method.loss),
    meanRankAbove: mean(method.rank.map((r) => r.rankAbove)),
    meanEffectiveRank: mean(method.rank.map((r) => r.effectiveRank)),
    meanStableRank: mean(method.rank.map((r) => r.stableRank)),
    trainableShare: method.totalParams > 0 ? method.trainableParams / method.totalParams : 0,
  };
}

/** Mean count of σ above the threshold per module kind: kind -> method name -> mean over layers. */
export function rankByKind(m: RunMetrics, field: 'rankAbove' | 'effectiveRank' | 'stableRank' = 'rankAbove'): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const method of m.methods) {
    const groups = new Map<string, number[]>();
    for (const r of method.rank) {
      const k = moduleKind(r.name);
      groups.set(k, [...(groups.get(k) ?? []), r[field]]);
    }
    for (const [k, xs] of groups) {
      if (!out.has(k)) out.set(k, new Map());
      out.get(k)!.set(method.name, xs.reduce((s, x) => s + x, 0) / xs.length);
    }
  }
  return out;
}

export interface BudgetComparison {
  r: number;
  lora: MethodResult;
  mora: MethodResult;
  /** The last checkpoint both have (null if none). */
  step: number | null;
  loraAcc: number | null;
  moraAcc: number | null;
  /** Who is ahead at `step`, by more than TIE. */
  verdict: 'mora' | 'lora' | 'tie' | 'unknown';
  /** Checkpoints both have, and at how many MoRA / LoRA was ahead. */
  shared: number;
  moraAhead: number;
  loraAhead: number;
}

/** LoRA vs MoRA at every budget r where both ran (each MoRA paired with the LoRA of the same r). */
export function budgetComparisons(m: RunMetrics): BudgetComparison[] {
  const out: BudgetComparison[] = [];
  for (const mora of m.methods.filter((x) => x.adapter === 'mora')) {
    const lora = m.methods.find((x) => x.adapter === 'lora' && x.r === mora.r);
    if (!lora || mora.r === null) continue;
    const steps = mora.accuracy.map((a) => a.step).filter((s) => accuracyAt(lora, s) !== undefined && s > 0);
    let moraAhead = 0;
    let loraAhead = 0;
    for (const s of steps) {
      const d = accuracyAt(mora, s)!.charAccuracy - accuracyAt(lora, s)!.charAccuracy;
      if (d > TIE) moraAhead++;
      else if (d < -TIE) loraAhead++;
    }
    const step = steps.length ? steps[steps.length - 1] : null;
    const moraAcc = step !== null ? accuracyAt(mora, step)!.charAccuracy : null;
    const loraAcc = step !== null ? accuracyAt(lora, step)!.charAccuracy : null;
    const verdict = moraAcc === null || loraAcc === null ? 'unknown' : moraAcc - loraAcc > TIE ? 'mora' : loraAcc - moraAcc > TIE ? 'lora' : 'tie';
    out.push({ r: mora.r, lora, mora, step, loraAcc, moraAcc, verdict, shared: steps.length, moraAhead, loraAhead });
  }
  return out.sort((a, b) => a.r - b.r);
}

const list = (xs: string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** The display title of a run: 'MoRA vs LoRA vs full fine-tuning on UUID memorisation'. */
export function reportTitle(m: RunMetrics): string {
  const kinds = new Set(m.methods.map((x) => x.adapter));
  const names = [kinds.has('mora') && 'MoRA', kinds.has('lora') && 'LoRA', kinds.has('full') && 'full fine-tuning'].filter(Boolean) as string[];
  const task = m.task.name === 'uuid' ? 'UUID memorisation' : m.task.name;
  return `${names.length ? names.join(' vs ') : 'Fine-tuning'} on ${task}`;
}

/**
 * The honest summary, as sentences computed from the numbers: who reached the highest accuracy and
 * when, whether MoRA beat LoRA at each budget (plainly, also when it did not), how full
 * fine-tuning compares, what the rank analysis found, and the caveats of the scale.
 */
export function summarize(m: RunMetrics): string[] {
  const out: string[] = [];
  const stats = m.methods.map(methodStats);
  const withAcc = stats.filter((s) => s.last !== null);
  const totalSteps = m.config.steps;
  if (m.status !== 'complete') out.push(`This run is **${m.status}**: the numbers below cover only what finished.`);
  const failed = m.methods.filter((x) => x.status === 'failed');
  if (failed.length) out.push(`${list(failed.map((x) => x.name))} failed (${failed.map((x) => x.error ?? 'no message').join('; ')}).`);

  if (withAcc.length === 0) {
    out.push('No method recorded an accuracy checkpoint, so there is nothing to compare yet.');
  } else {
    const top = Math.max(...withAcc.map((s) => s.last!.charAccuracy));
    const leaders = withAcc.filter((s) => top - s.last!.charAccuracy <= TIE);
    const lead = leaders[0];
    const when = (s: MethodStats) => {
      if (s.perfectAt !== null) return `every key exact from step ${s.perfectAt}`;
      if (s.best && s.best.step < s.last!.step && s.best.charAccuracy >= s.last!.charAccuracy - TIE) return `first reached at step ${s.best.step}`;
      const noun = m.task.name === 'uuid' ? 'key' : 'example';
      return s.last!.exactMatch > 0 ? `${fmtPct(s.last!.exactMatch)}% of ${noun}s exact` : `no ${noun} exact yet`;
    };
    const at = lead.last!.step;
    if (leaders.length === 1) {
      out.push(`**${lead.name}** reached the highest character accuracy, **${fmtPct(lead.last!.charAccuracy)}%** at step ${at}${totalSteps && at !== totalSteps ? ` of ${totalSteps}` : ''} (${when(lead)}).`);
    } else {
      out.push(`${list(leaders.map((s) => `**${s.name}**`))} tied for the highest character accuracy, **${fmtPct(top)}%** at their last checkpoint (${leaders.map((s) => `${s.name}: ${when(s)}`).join('; ')}).`);
    }
    const rest = withAcc.filter((s) => !leaders.includes(s)).sort((a, b) => b.last!.charAccuracy - a.last!.charAccuracy);
    if (rest.length) out.push(`The others ended at ${list(rest.map((s) => `${s.name} ${fmtPct(s.last!.charAccuracy)}%`))}.`);
  }

  const comps = budgetComparisons(m);
  for (const c of comps) {
    const mora = `MoRA (type ${String(c.mora.type)}, r̂ = ${c.mora.R})`;
    if (c.verdict === 'unknown') {
      out.push(`At r = ${c.r} there is no shared checkpoint to compare ${mora} with LoRA.`);
      continue;
    }
    const nums = `${fmtPct(c.moraAcc)}% vs LoRA's ${fmtPct(c.loraAcc)}% at step ${c.step}`;
    let along = '';
    if (c.shared > 1) {
      if (c.moraAhead === c.shared) along = ` (ahead at all ${c.shared} checkpoints)`;
      else if (c.loraAhead === c.shared) along = ` (behind at all ${c.shared} checkpoints)`;
      else along = ` (ahead at ${c.moraAhead}, behind at ${c.loraAhead} of ${c.shared} checkpoints)`;
    }
    if (c.verdict === 'mora') out.push(`At r = ${c.r}, ${mora} **beat LoRA**: ${nums}${along}.`);
    else if (c.verdict === 'lora') out.push(`At r = ${c.r}, ${mora} **did not beat LoRA**: ${nums}${along}.`);
    else out.push(`At r = ${c.r}, ${mora} and LoRA **tied**: ${nums}${along}.`);
  }
  if (comps.length > 0) {
    const wins = comps.filter((c) => c.verdict === 'mora').length;
    const losses = comps.filter((c) => c.verdict === 'lora').length;
    if (comps.length > 1) {
      out.push(
        wins === comps.length
          ? 'MoRA beat LoRA at every budget, as in the paper.'
          : losses === comps.length
            ? 'MoRA did not beat LoRA at any budget in this run, unlike the paper.'
            : `Overall MoRA beat LoRA at ${wins} of ${comps.length} budgets.`,
      );
    }
  }

  const full = stats.find((s) => s.method.adapter === 'full' && s.last);
  const adapters = stats.filter((s) => s.method.adapter !== 'full' && s.last);
  if (full && adapters.length) {
    const bestAd = adapters.reduce((a, b) => (b.last!.charAccuracy > a.last!.charAccuracy ? b : a));
    const d = full.last!.charAccuracy - bestAd.last!.charAccuracy;
    const share = fmtShare(bestAd.trainableShare);
    if (d > TIE) out.push(`Full fine-tuning stayed ahead of the best adapter, ${bestAd.name} (${fmtPct(bestAd.last!.charAccuracy)}% with ${share} of the parameters trainable).`);
    else if (d < -TIE) out.push(`The best adapter, ${bestAd.name} (${share} of the parameters trainable), ended ahead of full fine-tuning (${fmtPct(bestAd.last!.charAccuracy)}% vs ${fmtPct(full.last!.charAccuracy)}%).`);
    else out.push(`The best adapter, ${bestAd.name}, matched full fine-tuning with ${share} of the parameters trainable.`);
  }

  const ranked = stats.filter((s) => s.meanRankAbove !== null);
  if (ranked.length) {
    const th = m.config.rankThreshold;
    if (ranked.every((s) => s.meanRankAbove === 0)) {
      const eff = ranked.filter((s) => s.meanEffectiveRank !== null).map((s) => `${s.name} ${s.meanEffectiveRank!.toFixed(1)}`);
      out.push(`No update had a singular value above ${th} (the updates are small at this scale), so the paper's rank count says nothing here; the mean effective rank of ΔW per module was ${list(eff)}.`);
    } else {
      const rankOf = (x: MethodResult) => ranked.find((s) => s.method === x)?.meanRankAbove ?? null;
      const pairs = comps.filter((c) => rankOf(c.lora) !== null && rankOf(c.mora) !== null);
      const fmtR = (x: number) => x.toFixed(1);
      const more = pairs.filter((c) => rankOf(c.mora)! > rankOf(c.lora)!);
      const notMore = pairs.filter((c) => !more.includes(c));
      const fullRank = ranked.find((s) => s.method.adapter === 'full')?.meanRankAbove;
      const fullPart = fullRank !== undefined && fullRank !== null ? `; full fine-tuning's had ${fmtR(fullRank)}` : '';
      const cmp = (cs: BudgetComparison[]) => list(cs.map((c) => `r = ${c.r} (${fmtR(rankOf(c.mora)!)} vs ${fmtR(rankOf(c.lora)!)})`));
      if (pairs.length === 0) {
        out.push(`On average ΔW had ${list(ranked.map((s) => `${fmtR(s.meanRankAbove!)} (${s.name})`))} singular values above ${th} per module.`);
      } else if (notMore.length === 0) {
        out.push(`MoRA's ΔW had more singular values above ${th} per module than LoRA's at ${cmp(more)}${fullPart}.`);
      } else if (more.length === 0) {
        out.push(`MoRA's ΔW did not have more singular values above ${th} per module than LoRA's at ${cmp(notMore)}${fullPart}.`);
      } else {
        out.push(`MoRA's ΔW had more singular values above ${th} per module than LoRA's at ${cmp(more)}, but not at ${cmp(notMore)}${fullPart}.`);
      }
    }
  }

  if (m.task.name === 'uuid') {
    out.push(`For scale: a model that only knows the uuid format and guesses the hex digits scores about ${fmtPct(UUID_FORMAT_BASELINE)}%. This is one seed, a model of ${fmtCount(m.base.params)} parameters and ${fmtInt(m.task.examples)} keys (the paper: LLaMA-2 7B, 10,000 keys), so differences of a few points may be noise.`);
  } else {
    out.push(`This is one seed and a model of ${fmtCount(m.base.params)} parameters, so differences of a few points may be noise.`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tables (as rows of cells; the markdown and HTML reports lay them out)

export interface Table {
  header: string[];
  rows: string[][];
  /** Per column: right-align numbers. */
  align: ('left' | 'right')[];
}

/** Method x checkpoint step -> character accuracy %, the paper's table shape. */
export function resultsTable(m: RunMetrics): Table {
  const steps = checkpointSteps(m);
  return {
    header: ['Method', 'Trainable', 'lr', ...steps.map((s) => (s === 0 ? 'base' : `step ${s}`)), 'Exact', 'Final loss', 'Wall time'],
    align: ['left', 'right', 'right', ...steps.map(() => 'right' as const), 'right', 'right', 'right'],
    rows: m.methods.map((x) => {
      const s = methodStats(x);
      return [
        x.name + (x.status === 'complete' ? '' : ` (${x.status})`),
        fmtCount(x.trainableParams),
        fmtLr(x.lr),
        ...steps.map((st) => fmtPct(accuracyAt(x, st)?.charAccuracy)),
        s.last ? `${fmtPct(s.last.exactMatch)}%` : '–',
        fmtLoss(s.finalLoss),
        fmtSec(x.wallTimeSec),
      ];
    }),
  };
}

/** Per method: adapter, budget, trainable parameters (share), chosen lr and the sweep, time. */
export function methodsTable(m: RunMetrics): Table {
  return {
    header: ['Method', 'Adapter', 'Budget', 'Targets', 'Trainable params', 'Share', 'lr (chosen)', 'lr sweep: final loss', 'Steps', 'Wall time'],
    align: ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'left', 'right', 'right'],
    rows: m.methods.map((x) => [
      x.name,
      x.adapter,
      fmtBudget(x) || '–',
      x.targets.join(', ') || '–',
      fmtInt(x.trainableParams),
      fmtShare(methodStats(x).trainableShare),
      fmtLr(x.lr),
      x.lrSweep.length ? x.lrSweep.map((t) => `${fmtLr(t.lr)}: ${fmtLoss(t.finalLoss)}${t.charAccuracy !== null ? ` (${fmtPct(t.charAccuracy)}%)` : ''}${t.lr === x.lr ? ' ✓' : ''}`).join(', ') : 'no sweep',
      String(x.steps),
      fmtSec(x.wallTimeSec),
    ]),
  };
}

/** Module kind x method -> mean count of σ above the threshold (and effective rank). */
export function rankTable(m: RunMetrics): Table {
  const counts = rankByKind(m, 'rankAbove');
  const eff = rankByKind(m, 'effectiveRank');
  const methods = m.methods.filter((x) => x.rank.length > 0);
  const shapeOf = (kind: string) => methods.flatMap((x) => x.rank).find((r) => moduleKind(r.name) === kind)?.shape;
  return {
    header: ['Module', 'Shape', ...methods.map((x) => x.name)],
    align: ['left', 'left', ...methods.map(() => 'right' as const)],
    rows: [...counts.keys()].map((kind) => {
      const sh = shapeOf(kind);
      return [
        kind,
        sh ? `${sh[0]}×${sh[1]}` : '',
        ...methods.map((x) => {
          const c = counts.get(kind)?.get(x.name);
          const e = eff.get(kind)?.get(x.name);
          return c === undefined ? '–' : `${c.toFixed(1)} (eff. ${e!.toFixed(1)})`;
        }),
      ];
    }),
  };
}

/** Where and with what the run ran. */
export function environmentTable(m: RunMetrics): Table {
  const e = m.environment;
  const b = m.base;
  const model = Object.entries(b.model)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
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
      ['Base training', `${b.corpus}, ${b.steps} steps, final loss ${fmtLoss(b.finalLoss)}${b.valLoss !== null ? `, validation loss ${fmtLoss(b.valLoss)}` : ''}, ${b.cached ? 'loaded from cache' : `trained in ${fmtSec(b.wallTimeSec)}`} (${b.checkpoint})`],
      ['Task', `${m.task.name}: ${fmtInt(m.task.examples)} examples${m.task.seed !== null ? `, seed ${m.task.seed}` : ''}, up to ${m.task.maxTokens} tokens, loss on ${m.task.lossOn === 'all' ? 'the whole sequence' : 'the completion'}`],
    ],
  };
}
