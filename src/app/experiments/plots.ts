// The report's charts: Vega-Lite specs built from a run record, compiled by vega-lite and rendered to
// SVG strings by vega in Node (no browser, no canvas: `renderer: 'none'` + `toSVG()`). Both libraries
// are imported on first use.
//
//   loss       training loss per step, log y; moving average, mean over seeds with a ± sd band
//   accuracy   character accuracy (%) at the checkpoints, mean over seeds with a ± sd band, and the
//              format-only level as a dashed rule
//   capacity   final accuracy against the number of pairs (when the run varied it)
//   mechanism  the one-layer experiment: loss floors against N; trained fits and their spectra
//   spectra    singular values of ΔW per module kind (small multiples), log y, one line per layer
//              and method, with the rank threshold as a dashed rule
//   ranks      singular values above the threshold per module kind and method (mean over layers)
// One file for every chart of the reports: they share the colours, the chart config, the floor rule
// and the seed bands; each spec is short, there are many.
import type { TopLevelSpec } from 'vega-lite';
import { groupMethods, groupStats, seedsOf, taskSizes } from './aggregate.js';
import type { MechanismResult } from './mechanism.js';
import type { MethodResult, RunMetrics } from './metrics.js';
import { seriesMeanSd } from './stats.js';
import { moduleKind, layerIndex } from './rank.js';

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

const BLUES = ['#6baed6', '#2171b5', '#08306b', '#4292c6'];
const ORANGES = ['#fd8d3c', '#d94801', '#7f2704', '#f16913'];
const GREYS = ['#525252', '#969696', '#252525'];
const GREENS = ['#74c476', '#238b45', '#00441b', '#41ab5d'];
const OTHERS = ['#807dba', '#e7298a', '#66a61e', '#bcbd22'];

/**
 * A colour per method, stable across charts: full fine-tuning grey, LoRA blues, MoRA oranges, DoRA greens, light
 * for the smallest rank and darker as the budget grows.
 */
export function methodColors(methods: readonly Pick<MethodResult, 'name' | 'adapter' | 'r'>[]): { domain: string[]; range: string[] } {
  const byKind = (kind: string) => methods.filter((m) => m.adapter === kind).sort((a, b) => (a.r ?? 0) - (b.r ?? 0));
  const color = new Map<string, string>();
  byKind('full').forEach((m, i) => color.set(m.name, GREYS[i % GREYS.length]));
  byKind('lora').forEach((m, i) => color.set(m.name, BLUES[i % BLUES.length]));
  byKind('mora').forEach((m, i) => color.set(m.name, ORANGES[i % ORANGES.length]));
  byKind('dora').forEach((m, i) => color.set(m.name, GREENS[i % GREENS.length]));
  let k = 0;
  for (const m of methods) if (!color.has(m.name)) color.set(m.name, OTHERS[k++ % OTHERS.length]);
  return { domain: methods.map((m) => m.name), range: methods.map((m) => color.get(m.name)!) };
}

/** The look of every chart (the demo's and the sentiment run's): font, axes, legend, titles. */
export const CHART_CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#e5e5e5' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#eeeeee', domainColor: '#999999', tickColor: '#999999' },
  legend: {
    labelFontSize: 12,
    titleFontSize: 12,
    orient: 'bottom',
    direction: 'horizontal',
    columns: 3,
    symbolStrokeWidth: 3,
    symbolOpacity: 1,
    labelLimit: 260,
  },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', offset: 10, subtitleFontSize: 11, subtitleColor: '#666666' },
  header: { labelFontSize: 12, labelFontWeight: 600, titleFontSize: 12 },
} as const;

/** The top of every chart spec: the Vega-Lite schema and CHART_CONFIG. */
export const CHART_BASE = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CHART_CONFIG } as const;

/** Exponential moving average (bias-corrected), skipping nulls. */
export function smooth(values: readonly (number | null)[], beta: number): (number | null)[] {
  let avg = 0;
  let w = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    avg = beta * avg + (1 - beta) * v;
    w = beta * w + (1 - beta);
    return avg / w;
  });
}

/** Ticks 1-2-5 × 10^k covering [lo, hi], with the domain snapped outward to the nearest ticks. */
export function logTicks(lo: number, hi: number): { domain: [number, number]; values: number[] } {
  if (!(lo > 0) || !(hi >= lo)) return { domain: [0.01, 10], values: [0.01, 0.1, 1, 10] };
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++)
    for (const m of [1, 2, 5]) all.push(Number((m * 10 ** e).toPrecision(1)));
  const below = all.filter((t) => t <= lo).pop() ?? all[0];
  const above = all.find((t) => t >= hi) ?? all[all.length - 1];
  return { domain: [below, above], values: all.filter((t) => t >= below && t <= above) };
}

/** The runs of the first seed on the first task size: what the rank charts show (one line per method). */
export function leadRuns(m: RunMetrics): MethodResult[] {
  const seed = Math.min(...m.methods.map((x) => x.seed));
  const size = Math.min(...m.methods.map((x) => x.examples));
  return m.methods.filter((x) => x.seed === seed && x.examples === size);
}

const groupColors = (m: RunMetrics) =>
  methodColors(
    groupMethods(m)
      .filter((g) => g.examples === taskSizes(m)[0])
      .map((g) => g.lead),
  );

/** A dashed horizontal rule at `y` with a label at its right end. */
function floorRule(y: number, label: string): object[] {
  return [
    {
      data: { values: [{ y, label }] },
      mark: { type: 'rule', strokeDash: [6, 4], color: '#6e7781', strokeWidth: 1.2 },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    },
    {
      data: { values: [{ y, label }] },
      mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -3, x: 'width', color: '#6e7781', fontSize: 11 },
      encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } },
    },
  ];
}

/** The ± one-sd band (rows carry `lo` and `hi`) under a mean line, when there are several seeds. */
function seedBand(seeds: number, rows: object[], x: object, y: object, color: object): object[] {
  if (seeds < 2) return [];
  return [
    {
      data: { values: rows },
      mark: { type: 'area', opacity: 0.18, clip: true },
      encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
    },
  ];
}

/**
 * Training loss per step, smoothed (log y): the mean over seeds as a line, ± one sd as a band when
 * there are several seeds, and the format-only loss as a dashed rule when the loss is on the completion.
 */
export function lossChartSpec(m: RunMetrics, opts: { width?: number; height?: number; maxPoints?: number } = {}): TopLevelSpec {
  const maxPoints = opts.maxPoints ?? 300;
  const rows: { method: string; step: number; loss: number; lo: number; hi: number }[] = [];
  const groups = groupMethods(m).filter((g) => g.examples === taskSizes(m)[0]);
  for (const g of groups) {
    const smoothed = g.runs.map((r) => smooth(r.loss, r.loss.length > 1 ? Math.min(0.95, Math.max(0.5, 1 - 10 / r.loss.length)) : 0));
    const band = seriesMeanSd(smoothed);
    const steps = band.mean.length;
    const stride = Math.max(1, Math.ceil(steps / maxPoints));
    band.mean.forEach((v, i) => {
      if (v === null || !(v > 0) || (i % stride !== 0 && i !== steps - 1)) return;
      const sd = band.sd[i] ?? 0;
      rows.push({ method: g.name, step: i + 1, loss: v, lo: Math.max(v - sd, v / 4), hi: v + sd });
    });
  }
  const colors = groupColors(m);
  const floor = m.task.floor && m.task.lossOn === 'completion' ? m.task.floor.completionLoss : null;
  const ticks = logTicks(Math.min(...rows.map((r) => r.lo), floor ?? Infinity), Math.max(...rows.map((r) => r.hi), floor ?? 0));
  const y = {
    field: 'loss',
    type: 'quantitative',
    title: `loss (nats per ${m.task.lossOn === 'completion' ? 'completion ' : ''}token)`,
    scale: { type: 'log', domain: ticks.domain, nice: false },
    axis: { values: ticks.values },
  };
  const color = { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain };
  const x = { field: 'step', type: 'quantitative', title: 'step', scale: { nice: false } };
  const seeds = seedsOf(m).length;
  return {
    ...CHART_BASE,
    title: { text: 'Training loss', subtitle: `log scale · moving average${seeds > 1 ? ` · mean of ${seeds} seeds, band ± 1 sd` : ''}` },
    width: opts.width ?? 460,
    height: opts.height ?? 280,
    layer: [
      ...seedBand(seeds, rows, x, y, color),
      { data: { values: rows }, mark: { type: 'line', strokeWidth: 2.2, clip: true }, encoding: { x, y, color } },
      ...(floor !== null ? floorRule(floor, 'format-only') : []),
    ],
  } as TopLevelSpec;
}

/** Character accuracy (%) at every checkpoint: mean over seeds, ± one sd band, and the format-only level. */
export function accuracyChartSpec(m: RunMetrics, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const rows: { method: string; step: number; accuracy: number; lo: number; hi: number }[] = [];
  for (const g of groupMethods(m).filter((x) => x.examples === taskSizes(m)[0])) {
    for (const [step, v] of groupStats(g).accAt)
      rows.push({
        method: g.name,
        step,
        accuracy: 100 * v.mean,
        lo: 100 * Math.max(0, v.mean - v.sd),
        hi: 100 * Math.min(1, v.mean + v.sd),
      });
  }
  const colors = groupColors(m);
  const seeds = seedsOf(m).length;
  const x = {
    field: 'step',
    type: 'quantitative',
    title: 'step',
    axis: { values: [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b) },
  };
  const y = { field: 'accuracy', type: 'quantitative', title: 'character accuracy (%)', scale: { domain: [0, 100] } };
  const color = { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain };
  return {
    ...CHART_BASE,
    title: {
      text: 'Character accuracy of the generated values',
      subtitle: `greedy completion of every key at each checkpoint${seeds > 1 ? ` · mean of ${seeds} seeds, band ± 1 sd` : ''}`,
    },
    width: opts.width ?? 460,
    height: opts.height ?? 280,
    layer: [
      ...seedBand(seeds, rows, x, y, color),
      { data: { values: rows }, mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 60 } }, encoding: { x, y, color } },
      ...(m.task.floor ? floorRule(100 * m.task.floor.charAccuracy, 'format-only') : []),
    ],
  } as TopLevelSpec;
}

/** The capacity view: final accuracy against the number of pairs, a line per method (mean ± sd). */
export function capacityChartSpec(m: RunMetrics, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const rows = groupMethods(m).map((g) => {
    const s = groupStats(g).acc;
    return {
      method: g.name,
      pairs: g.examples,
      accuracy: 100 * s.mean,
      lo: 100 * Math.max(0, s.mean - s.sd),
      hi: 100 * Math.min(1, s.mean + s.sd),
    };
  });
  const leads = groupMethods(m)
    .filter((g, i, all) => all.findIndex((x) => x.name === g.name) === i)
    .map((g) => g.lead);
  const colors = methodColors(leads);
  const x = {
    field: 'pairs',
    type: 'quantitative',
    title: 'pairs to memorise',
    scale: { type: 'log', base: 2 },
    axis: { values: taskSizes(m) },
  };
  const y = { field: 'accuracy', type: 'quantitative', title: 'final character accuracy (%)', scale: { domain: [0, 100] } };
  const color = { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain };
  return {
    ...CHART_BASE,
    title: { text: 'Capacity at a fixed budget', subtitle: 'final character accuracy as the task grows' },
    width: opts.width ?? 520,
    height: opts.height ?? 280,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'errorbar', ticks: true },
        encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
      },
      { data: { values: rows }, mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 60 } }, encoding: { x, y, color } },
      ...(m.task.floor ? floorRule(100 * m.task.floor.charAccuracy, 'format-only') : []),
    ],
  } as TopLevelSpec;
}

const MECH_COLORS = { domain: ['LoRA', 'MoRA'], range: ['#2171b5', '#d94801'] };

/** The mechanism: relative loss floor against the number of associations, LoRA and MoRA at one budget. */
export function mechanismChartSpec(mech: MechanismResult, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const rows = mech.floors.flatMap((f) => [
    { adapter: 'LoRA', n: f.n, floor: f.lora },
    { adapter: 'MoRA', n: f.n, floor: f.mora },
  ]);
  return {
    ...CHART_BASE,
    title: {
      text: 'How much of N random associations one update can store',
      subtitle: `${mech.config.d}×${mech.config.d} layer · LoRA r = ${mech.config.r} (${mech.loraParams} numbers) vs MoRA r̂ = ${mech.R} (${mech.moraParams})`,
    },
    width: opts.width ?? 460,
    height: opts.height ?? 280,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 50 } },
    encoding: {
      x: {
        field: 'n',
        type: 'quantitative',
        title: 'associations N',
        scale: { type: 'log', base: 2 },
        axis: { values: mech.floors.map((f) => f.n) },
      },
      y: { field: 'floor', type: 'quantitative', title: 'loss floor (share of ‖Y‖² out of reach)', scale: { domain: [0, 1] } },
      color: { field: 'adapter', type: 'nominal', title: null, scale: MECH_COLORS },
    },
  } as TopLevelSpec;
}

/** The trained fits: relative loss per step with each floor dashed, and the learned ΔW's singular values. */
export function mechanismFitSpec(mech: MechanismResult, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const name = (a: string) => (a === 'lora' ? 'LoRA' : 'MoRA');
  const curve = mech.trained.flatMap((t) =>
    t.loss.map((l, i) => ({ adapter: name(t.adapter), step: i + 1, loss: l })).filter((_, i) => i % 2 === 0 || i === t.loss.length - 1),
  );
  const floors = mech.trained.map((t) => ({ adapter: name(t.adapter), floor: t.floor }));
  const sv = mech.trained.flatMap((t) =>
    t.singularValues.map((s, i) => ({ adapter: name(t.adapter), i: i + 1, sigma: s })).filter((r) => r.sigma > 1e-8),
  );
  const color = { field: 'adapter', type: 'nominal', title: null, scale: MECH_COLORS };
  return {
    ...CHART_BASE,
    hconcat: [
      {
        title: { text: `Fitting ${mech.config.trainCount} pairs`, subtitle: 'relative loss per Adam step · dashed: each floor' },
        width: opts.width ?? 220,
        height: opts.height ?? 240,
        layer: [
          {
            data: { values: curve },
            mark: { type: 'line', strokeWidth: 2 },
            encoding: {
              x: { field: 'step', type: 'quantitative', title: 'step' },
              y: { field: 'loss', type: 'quantitative', title: 'relative loss', scale: { domain: [0, 1] } },
              color,
            },
          },
          {
            data: { values: floors },
            mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.4 },
            encoding: { y: { field: 'floor', type: 'quantitative' }, color },
          },
        ],
      },
      {
        title: { text: 'Singular values of the learned ΔW', subtitle: 'log scale' },
        width: opts.width ?? 220,
        height: opts.height ?? 240,
        data: { values: sv },
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 20 } },
        encoding: {
          x: { field: 'i', type: 'quantitative', title: 'index i' },
          y: { field: 'sigma', type: 'quantitative', title: 'σᵢ', scale: { type: 'log' } },
          color,
        },
      },
    ],
  } as TopLevelSpec;
}

/** The module kinds present in a run's rank analysis, in first-seen order. */
export function moduleKinds(m: RunMetrics): string[] {
  const kinds: string[] = [];
  for (const method of leadRuns(m)) for (const r of method.rank) if (!kinds.includes(moduleKind(r.name))) kinds.push(moduleKind(r.name));
  return kinds;
}

/** Singular values of ΔW, one small chart per module kind; a line per (method, layer). */
export function spectraChartSpec(
  m: RunMetrics,
  opts: { width?: number; height?: number; columns?: number; floor?: number } = {},
): TopLevelSpec {
  const floor = opts.floor ?? 1e-6;
  const threshold = m.config.rankThreshold;
  const colors = methodColors(leadRuns(m));
  const kinds = moduleKinds(m);
  const charts = kinds.map((kind) => {
    const rows: { method: string; module: string; i: number; sigma: number }[] = [];
    for (const method of leadRuns(m)) {
      for (const r of method.rank) {
        if (moduleKind(r.name) !== kind) continue;
        r.singularValues.forEach((s, i) => {
          if (s > floor) rows.push({ method: method.name, module: r.name, i: i + 1, sigma: s });
        });
      }
    }
    const shape = leadRuns(m)
      .flatMap((x) => x.rank)
      .find((r) => moduleKind(r.name) === kind)?.shape;
    const layers = new Set(
      leadRuns(m).flatMap((x) => x.rank.filter((r) => moduleKind(r.name) === kind).map((r) => layerIndex(r.name) ?? r.name)),
    ).size;
    return {
      title: { text: kind, subtitle: `${shape ? `${shape[0]}×${shape[1]}` : ''}${layers > 1 ? ` · ${layers} layers` : ''}` },
      width: opts.width ?? 250,
      height: opts.height ?? 170,
      layer: [
        {
          data: { values: rows },
          mark: { type: 'line', strokeWidth: 1.4, opacity: 0.85, clip: true },
          encoding: {
            x: { field: 'i', type: 'quantitative', title: 'index i', scale: { type: 'log', nice: false } },
            y: { field: 'sigma', type: 'quantitative', title: 'σᵢ of ΔW', scale: { type: 'log' } },
            color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
            detail: { field: 'module', type: 'nominal' },
          },
        },
        {
          data: { values: [{ t: threshold }] },
          mark: { type: 'rule', strokeDash: [5, 4], color: '#444444', strokeWidth: 1 },
          encoding: { y: { field: 't', type: 'quantitative' } },
        },
      ],
    };
  });
  return {
    ...CHART_BASE,
    title: {
      text: 'Singular-value spectra of ΔW = W_final − W_base',
      subtitle: `log–log · one line per layer · dashed: threshold ${threshold}`,
    },
    columns: opts.columns ?? 3,
    concat: charts,
    resolve: { scale: { color: 'shared', y: 'shared', x: 'independent' } },
  } as TopLevelSpec;
}

/**
 * Mean (over layers) count of singular values above the threshold, per module kind and method. When
 * no update has any singular value above the threshold (small updates at small scale), the chart
 * shows the effective rank instead and says so in its title, rather than a row of empty bars.
 */
export function rankChartSpec(m: RunMetrics, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const kinds = moduleKinds(m);
  const colors = methodColors(leadRuns(m));
  const th = m.config.rankThreshold;
  const allZero = leadRuns(m).every((x) => x.rank.every((r) => r.rankAbove === 0));
  const field = allZero ? 'effectiveRank' : 'rankAbove';
  const rows: { method: string; kind: string; value: number }[] = [];
  for (const method of leadRuns(m)) {
    for (const kind of kinds) {
      const rs = method.rank.filter((r) => moduleKind(r.name) === kind);
      if (rs.length === 0) continue;
      rows.push({ method: method.name, kind, value: rs.reduce((s, r) => s + r[field], 0) / rs.length });
    }
  }
  const title = allZero
    ? {
        text: 'Effective rank of ΔW',
        subtitle: `no singular value exceeded ${th} (the paper's measure), so this shows exp(H(σ/Σσ)), mean over layers`,
      }
    : { text: `Singular values of ΔW above ${th}`, subtitle: 'per module, mean over layers (the paper’s rank measure)' };
  return {
    ...CHART_BASE,
    title,
    width: opts.width ?? Math.min(900, Math.max(320, kinds.length * Math.max(70, leadRuns(m).length * 24))),
    height: opts.height ?? 220,
    data: { values: rows },
    mark: { type: 'bar', cornerRadiusEnd: 2 },
    encoding: {
      x: { field: 'kind', type: 'nominal', title: 'module', sort: kinds, axis: { labelAngle: 0 } },
      xOffset: { field: 'method', type: 'nominal', sort: colors.domain },
      y: { field: 'value', type: 'quantitative', title: allZero ? 'effective rank' : `count of σᵢ > ${th}` },
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
  } as TopLevelSpec;
}

let chartId = 0;

/**
 * Compiles a Vega-Lite spec and renders it to an SVG string. Element ids (clip paths) get a per-call
 * prefix so several charts can be inlined in one HTML page.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: vega takes ~0.3 s to import, which `import * as mg` should not pay.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const vg = compile(spec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    let svg = await view.toSVG();
    const prefix = `c${++chartId}-`;
    svg = svg.replace(/id="([^"]+)"/g, `id="${prefix}$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`);
    return svg;
  } finally {
    view.finalize();
  }
}

export interface Plots {
  loss: string;
  accuracy: string;
  /** Empty with one task size. */
  capacity: string;
  /** Empty without the mechanism experiment. */
  mechanism: string;
  mechanismFit: string;
  /** Empty when no method has a rank analysis. */
  spectra: string;
  ranks: string;
}

/** Every chart of the report, as SVG strings. */
export async function renderPlots(m: RunMetrics): Promise<Plots> {
  const hasRank = m.methods.some((x) => x.rank.length > 0);
  const hasAcc = m.methods.some((x) => x.accuracy.length > 0);
  const hasLoss = m.methods.some((x) => x.loss.some((l) => l !== null && l > 0));
  return {
    loss: hasLoss ? await renderSvg(lossChartSpec(m)) : '',
    accuracy: hasAcc ? await renderSvg(accuracyChartSpec(m)) : '',
    capacity: hasAcc && taskSizes(m).length > 1 ? await renderSvg(capacityChartSpec(m)) : '',
    mechanism: m.mechanism ? await renderSvg(mechanismChartSpec(m.mechanism)) : '',
    mechanismFit: m.mechanism?.trained.length ? await renderSvg(mechanismFitSpec(m.mechanism)) : '',
    spectra: hasRank ? await renderSvg(spectraChartSpec(m)) : '',
    ranks: hasRank ? await renderSvg(rankChartSpec(m)) : '',
  };
}
