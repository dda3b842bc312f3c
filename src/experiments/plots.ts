// The report's charts: Vega-Lite specs built from a run record, compiled by vega-lite and rendered to
// SVG strings by vega in Node (no browser, no canvas: `renderer: 'none'` + `toSVG()`). Both libraries
// are imported on first use.
//
//   loss       training loss per step, log y; faint raw curve + solid moving average per method
//   accuracy   character accuracy (%) at the checkpoints, per method
//   spectra    singular values of ΔW per module kind (small multiples), log y, one line per layer
//              and method, with the rank threshold as a dashed rule
//   ranks      singular values above the threshold per module kind and method (mean over layers)
import type { TopLevelSpec } from 'vega-lite';
import type { MethodResult, RunMetrics } from './metrics.js';
import { moduleKind, layerIndex } from './rank.js';

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

const BLUES = ['#6baed6', '#2171b5', '#08306b', '#4292c6'];
const ORANGES = ['#fd8d3c', '#d94801', '#7f2704', '#f16913'];
const GREYS = ['#525252', '#969696', '#252525'];
const OTHERS = ['#41ab5d', '#807dba', '#e7298a', '#66a61e'];

/**
 * A colour per method, stable across charts: full fine-tuning grey, LoRA blues, MoRA oranges, light
 * for the smallest rank and darker as the budget grows.
 */
export function methodColors(methods: readonly Pick<MethodResult, 'name' | 'adapter' | 'r'>[]): { domain: string[]; range: string[] } {
  const byKind = (kind: string) => methods.filter((m) => m.adapter === kind).sort((a, b) => (a.r ?? 0) - (b.r ?? 0));
  const color = new Map<string, string>();
  byKind('full').forEach((m, i) => color.set(m.name, GREYS[i % GREYS.length]));
  byKind('lora').forEach((m, i) => color.set(m.name, BLUES[i % BLUES.length]));
  byKind('mora').forEach((m, i) => color.set(m.name, ORANGES[i % ORANGES.length]));
  let k = 0;
  for (const m of methods) if (!color.has(m.name)) color.set(m.name, OTHERS[k++ % OTHERS.length]);
  return { domain: methods.map((m) => m.name), range: methods.map((m) => color.get(m.name)!) };
}

const baseConfig = {
  font: FONT,
  background: 'white',
  view: { stroke: '#e5e5e5' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#eeeeee', domainColor: '#999999', tickColor: '#999999' },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom', direction: 'horizontal', columns: 3, symbolStrokeWidth: 3, symbolOpacity: 1, labelLimit: 260 },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', offset: 10, subtitleFontSize: 11, subtitleColor: '#666666' },
  header: { labelFontSize: 12, labelFontWeight: 600, titleFontSize: 12 },
} as const;

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
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) for (const m of [1, 2, 5]) all.push(Number((m * 10 ** e).toPrecision(1)));
  const below = all.filter((t) => t <= lo).pop() ?? all[0];
  const above = all.find((t) => t >= hi) ?? all[all.length - 1];
  return { domain: [below, above], values: all.filter((t) => t >= below && t <= above) };
}

/** Training loss per step (log y): raw per step, faint, and a moving average, solid. */
export function lossChartSpec(m: RunMetrics, opts: { width?: number; height?: number; maxPoints?: number } = {}): TopLevelSpec {
  const maxPoints = opts.maxPoints ?? 400;
  const rows: { method: string; step: number; loss: number; smoothed: number | null }[] = [];
  for (const method of m.methods) {
    const steps = method.loss.length;
    const beta = steps > 1 ? Math.min(0.95, Math.max(0.5, 1 - 10 / steps)) : 0;
    const sm = smooth(method.loss, beta);
    const stride = Math.max(1, Math.ceil(steps / maxPoints));
    method.loss.forEach((l, i) => {
      if (l === null || !(l > 0)) return;
      if (i % stride !== 0 && i !== steps - 1) return;
      rows.push({ method: method.name, step: i + 1, loss: l, smoothed: sm[i] });
    });
  }
  const colors = methodColors(m.methods);
  const ticks = logTicks(Math.min(...rows.map((r) => r.loss)), Math.max(...rows.map((r) => r.loss)));
  const x = { field: 'step', type: 'quantitative', title: 'step', scale: { nice: false } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    title: { text: 'Training loss', subtitle: 'log scale · faint: every step · solid: moving average' },
    width: opts.width ?? 460,
    height: opts.height ?? 280,
    data: { values: rows },
    encoding: {
      x,
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 1, opacity: 0.25, clip: true }, encoding: { y: { field: 'loss', type: 'quantitative', title: 'loss (nats/token)', scale: { type: 'log', domain: ticks.domain, nice: false }, axis: { values: ticks.values } } } },
      { mark: { type: 'line', strokeWidth: 2.2, clip: true }, encoding: { y: { field: 'smoothed', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** Character accuracy (%) at every checkpoint, per method. */
export function accuracyChartSpec(m: RunMetrics, opts: { width?: number; height?: number } = {}): TopLevelSpec {
  const rows = m.methods.flatMap((method) => method.accuracy.map((a) => ({ method: method.name, step: a.step, accuracy: 100 * a.charAccuracy, exact: 100 * a.exactMatch })));
  const colors = methodColors(m.methods);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    title: { text: 'Character accuracy of the generated values', subtitle: 'greedy completion of every key, at each checkpoint' },
    width: opts.width ?? 460,
    height: opts.height ?? 280,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 60 } },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { values: [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b) } },
      y: { field: 'accuracy', type: 'quantitative', title: 'character accuracy (%)', scale: { domain: [0, 100] } },
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
  } as TopLevelSpec;
}

/** The module kinds present in a run's rank analysis, in first-seen order. */
export function moduleKinds(m: RunMetrics): string[] {
  const kinds: string[] = [];
  for (const method of m.methods) for (const r of method.rank) if (!kinds.includes(moduleKind(r.name))) kinds.push(moduleKind(r.name));
  return kinds;
}

/** Singular values of ΔW, one small chart per module kind; a line per (method, layer). */
export function spectraChartSpec(m: RunMetrics, opts: { width?: number; height?: number; columns?: number; floor?: number } = {}): TopLevelSpec {
  const floor = opts.floor ?? 1e-6;
  const threshold = m.config.rankThreshold;
  const colors = methodColors(m.methods);
  const kinds = moduleKinds(m);
  const charts = kinds.map((kind) => {
    const rows: { method: string; module: string; i: number; sigma: number }[] = [];
    for (const method of m.methods) {
      for (const r of method.rank) {
        if (moduleKind(r.name) !== kind) continue;
        r.singularValues.forEach((s, i) => {
          if (s > floor) rows.push({ method: method.name, module: r.name, i: i + 1, sigma: s });
        });
      }
    }
    const shape = m.methods.flatMap((x) => x.rank).find((r) => moduleKind(r.name) === kind)?.shape;
    const layers = new Set(m.methods.flatMap((x) => x.rank.filter((r) => moduleKind(r.name) === kind).map((r) => layerIndex(r.name) ?? r.name))).size;
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
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    title: { text: 'Singular-value spectra of ΔW = W_final − W_base', subtitle: `log–log · one line per layer · dashed: threshold ${threshold}` },
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
  const colors = methodColors(m.methods);
  const th = m.config.rankThreshold;
  const allZero = m.methods.every((x) => x.rank.every((r) => r.rankAbove === 0));
  const field = allZero ? 'effectiveRank' : 'rankAbove';
  const rows: { method: string; kind: string; value: number }[] = [];
  for (const method of m.methods) {
    for (const kind of kinds) {
      const rs = method.rank.filter((r) => moduleKind(r.name) === kind);
      if (rs.length === 0) continue;
      rows.push({ method: method.name, kind, value: rs.reduce((s, r) => s + r[field], 0) / rs.length });
    }
  }
  const title = allZero
    ? { text: 'Effective rank of ΔW', subtitle: `no singular value exceeded ${th} (the paper's measure), so this shows exp(H(σ/Σσ)), mean over layers` }
    : { text: `Singular values of ΔW above ${th}`, subtitle: 'per module, mean over layers (the paper’s rank measure)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    title,
    width: opts.width ?? Math.min(900, Math.max(320, kinds.length * Math.max(70, m.methods.length * 24))),
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
    spectra: hasRank ? await renderSvg(spectraChartSpec(m)) : '',
    ranks: hasRank ? await renderSvg(rankChartSpec(m)) : '',
  };
}
