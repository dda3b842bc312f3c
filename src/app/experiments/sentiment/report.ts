// The sentiment comparison's report: the results table, the loss and accuracy charts (Vega-Lite,
// rendered to SVG), report.md, and writeSentimentReport that writes them with metrics.json.
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../../../io/atomic.js';
import { compactJson } from '../metrics.js';
import { markdownTable } from '../report.js';
import { CHART_BASE, methodColors, renderSvg, smooth } from '../plots.js';
import { fmtInt, fmtPct } from '../formatters.js';
import type { SentimentResult } from './config.js';

/** The results table: method, trainable parameters, test accuracy per epoch, final loss, time. */
export function sentimentTable(r: SentimentResult): string {
  const epochs = [...new Set(r.methods.flatMap((m) => m.evals.map((e) => e.epoch)))].sort((a, b) => a - b);
  const header = ['method', 'trainable', ...epochs.map((e) => (e === 0 ? 'init' : `ep ${e}`)), 'best', 'test loss', 'lr', 'time'];
  const rows = r.methods.map((m) => {
    const at = new Map(m.evals.map((e) => [e.epoch, e]));
    const last = m.evals[m.evals.length - 1];
    return [
      m.name,
      `${fmtInt(m.trainableParams)} + ${fmtInt(m.headParams)}`,
      ...epochs.map((e) => fmtPct(at.get(e)?.testAcc ?? NaN)),
      fmtPct(m.bestAcc),
      last ? last.testLoss.toFixed(4) : '–',
      m.lr === null ? '–' : m.lr.toExponential(0),
      `${m.wallTimeSec.toFixed(0)} s`,
    ];
  });
  return markdownTable({ header, rows, align: header.map((_, j) => (j === 0 ? 'left' : 'right')) });
}

const colorsOf = (r: SentimentResult) =>
  methodColors(r.methods.map((m) => ({ name: m.name, adapter: m.adapter === 'probe' ? ('probe' as never) : m.adapter, r: m.r })));

/** Training loss per step (faint) and its moving average (solid), per method. */
export function sentimentLossSpec(r: SentimentResult): TopLevelSpec {
  const rows = r.methods.flatMap((m) => {
    const sm = smooth(m.loss, 0.95);
    return m.loss.map((l, i) => ({ method: m.name, step: i + 1, loss: l, smoothed: sm[i] }));
  });
  const colors = colorsOf(r);
  return {
    ...CHART_BASE,
    title: { text: 'Training loss (Yelp + Amazon)', subtitle: 'cross-entropy · faint: every step · solid: moving average' },
    width: 460,
    height: 260,
    data: { values: rows },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1, opacity: 0.2 },
        encoding: { y: { field: 'loss', type: 'quantitative', title: 'loss (nats)' } },
      },
      { mark: { type: 'line', strokeWidth: 2.2 }, encoding: { y: { field: 'smoothed', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** Test accuracy (IMDB) after every epoch, per method. */
export function sentimentAccuracySpec(r: SentimentResult): TopLevelSpec {
  const rows = r.methods.flatMap((m) => m.evals.map((e) => ({ method: m.name, epoch: e.epoch, accuracy: 100 * e.testAcc })));
  const colors = colorsOf(r);
  const lo = Math.floor(Math.min(...rows.filter((x) => x.epoch > 0).map((x) => x.accuracy), 70) / 5) * 5;
  return {
    ...CHART_BASE,
    title: { text: 'Test accuracy (IMDB)', subtitle: 'after each epoch; epoch 0 = the untrained head' },
    width: 460,
    height: 260,
    data: { values: rows.filter((x) => x.epoch > 0) },
    mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 50 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [lo, 100] } },
      color: { field: 'method', type: 'nominal', title: null, scale: colors, sort: colors.domain },
    },
  } as TopLevelSpec;
}

/** report.md for a run. */
export function renderSentimentMarkdown(r: SentimentResult): string {
  const c = r.config;
  return [
    `# USE-lite sentiment fine-tuning (${c.depth} depth)`,
    '',
    `Run ${r.createdAt} · ${r.environment.adapter} · ${r.status} · ${r.wallTimeSec.toFixed(0)} s`,
    '',
    `Train: ${r.data.train} sentences (${r.data.trainSources.join(' + ')}); test: ${r.data.test} (${r.data.testSources.join(', ')}). ` +
      `Tokens per sentence: mean ${r.data.meanTokens.toFixed(1)}, max ${r.data.maxTokens}. ` +
      `${c.epochs} epochs of batch ${c.batchSize}, AdamW (weight decay ${c.weightDecay}), ${c.warmup} warm-up steps then cosine to 10 %, head lr ${c.lrHead}, dropout ${c.dropout}, seed ${c.seed}.`,
    '',
    '## Test accuracy (%) on IMDB by epoch',
    '',
    sentimentTable(r),
    '',
    '"trainable": adapted / fine-tuned scalars + the head\'s. LoRA and MoRA share the budget of rank ' +
      `${c.r} (MoRA: r̂² ≈ r·(in + out)); LoRA α = ${c.alpha}. ` +
      `Pooled features ${r.features.cached ? 'came from the cache' : `took ${r.features.wallTimeSec.toFixed(0)} s`}.`,
    '',
    '![training loss](loss.svg)',
    '',
    '![test accuracy](accuracy.svg)',
    '',
    '## Configuration',
    '',
    '```json',
    JSON.stringify(c, null, 2),
    '```',
    '',
  ].join('\n');
}

/** Writes metrics.json, report.md, loss.svg and accuracy.svg into `dir`; returns the results table. */
export async function writeSentimentReport(dir: string, r: SentimentResult): Promise<string> {
  await writeFileAtomic(path.join(dir, 'metrics.json'), `${compactJson(r)}\n`);
  await writeFileAtomic(path.join(dir, 'report.md'), renderSentimentMarkdown(r));
  if (r.methods.some((m) => m.loss.length)) await writeFileAtomic(path.join(dir, 'loss.svg'), await renderSvg(sentimentLossSpec(r)));
  if (r.methods.some((m) => m.evals.length > 1))
    await writeFileAtomic(path.join(dir, 'accuracy.svg'), await renderSvg(sentimentAccuracySpec(r)));
  return sentimentTable(r);
}
