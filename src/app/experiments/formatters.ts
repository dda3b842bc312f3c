// The report's number formatters: counts, learning rates, percentages, durations, losses, MoRA's r̂
// and a method's budget, each with '–' for a missing value. Shared by the markdown and HTML reports
// and the sentiment report.
import type { MethodResult, MoraShape } from './metrics.js';
import type { MeanSd } from './stats.js';

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

/** MoRA's r̂ per module shape: '22 (64→64), 36 (64→256, 256→64)'. */
export function fmtRHat(R: readonly MoraShape[] | null): string {
  if (!R || R.length === 0) return '–';
  const byR = new Map<number, string[]>();
  for (const s of R) byR.set(s.R, [...(byR.get(s.R) ?? []), `${s.in}→${s.out}`]);
  return [...byR].map(([r, shapes]) => `${r} (${shapes.join(', ')})`).join(', ');
}

/** 'r=8, α=16', 'r=4, r̂=22 (64→64), 36 (64→256, 256→64), type 6', '' for full fine-tuning. */
export function fmtBudget(m: Pick<MethodResult, 'adapter' | 'r' | 'R' | 'type' | 'alpha'>): string {
  if (m.adapter === 'lora' || m.adapter === 'dora') return `r=${m.r}${m.alpha !== null ? `, α=${m.alpha}` : ''}`;
  if (m.adapter === 'mora') return `r=${m.r}, r̂=${fmtRHat(m.R)}, type ${String(m.type)}`;
  return m.r !== null ? `r=${m.r}` : '';
}

/** '38.4 ± 1.2' (percent), or just '38.4' for a single seed. */
export function fmtPctSd(x: MeanSd): string {
  if (x.n === 0) return '–';
  return x.n > 1 ? `${fmtPct(x.mean)} ± ${fmtPct(x.sd)}` : fmtPct(x.mean);
}

/** '1.23 ± 0.05', or '1.23' for a single seed. */
export function fmtLossSd(x: MeanSd): string {
  if (x.n === 0) return '–';
  return x.n > 1 ? `${fmtLoss(x.mean)} ± ${x.sd.toPrecision(2)}` : fmtLoss(x.mean);
}
