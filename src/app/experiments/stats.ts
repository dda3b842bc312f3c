// Statistics over seeds: mean, sample standard deviation, and their display as "mean ± sd".
/** Arithmetic mean (NaN for no values). */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); 0 for a single value, NaN for none. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  if (xs.length === 1) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

export interface MeanSd {
  mean: number;
  sd: number;
  n: number;
}

export function meanSd(xs: readonly number[]): MeanSd {
  return { mean: mean(xs), sd: sampleSd(xs), n: xs.length };
}

/** Element-wise mean and sd of equally long series (null entries skipped per position). */
export function seriesMeanSd(series: readonly (readonly (number | null)[])[]): { mean: (number | null)[]; sd: (number | null)[] } {
  const len = Math.max(0, ...series.map((s) => s.length));
  const m: (number | null)[] = [];
  const sd: (number | null)[] = [];
  for (let i = 0; i < len; i++) {
    const xs = series.map((s) => s[i]).filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
    m.push(xs.length ? mean(xs) : null);
    sd.push(xs.length ? sampleSd(xs) : null);
  }
  return { mean: m, sd };
}
