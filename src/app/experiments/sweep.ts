// A bracketed learning-rate sweep: every method is trained at each rate of its grid for the same
// number of steps, on the same seed and data, and the rate with the lowest final training loss
// wins. A winner at either end of the grid says the best rate may lie beyond it, so the grid is
// extended one step past that end (by the grid's own ratio) and the new rate tried, until the winner
// is inside the grid or `maxExtend` extensions have been spent; a winner still at the edge is
// reported as such, never hidden.
//
//   const s = await bracketedSweep([3e-3, 1e-2, 3e-2], async (lr) => trainFor(lr), { maxExtend: 2 });
//   s.chosen;   // 1e-2
//   s.bracketed // true: the chosen rate has a tried neighbour on both sides
import { fail } from '../../errors.js';

export interface SweepTrial {
  lr: number;
  /** The run's final loss (lower is better); null when it diverged. */
  loss: number | null;
  /** True for rates added past the ends of the given grid. */
  extension: boolean;
}

export interface SweepOutcome {
  /** Every rate tried, in ascending order. */
  trials: SweepTrial[];
  chosen: number;
  /** The chosen rate has a tried rate on each side whose loss is not lower. */
  bracketed: boolean;
}

/** The index of the lowest finite loss (diverged runs lose to any finite one); -1 if none. */
export function bestTrial(trials: readonly SweepTrial[]): number {
  let best = -1;
  trials.forEach((t, i) => {
    if (t.loss !== null && Number.isFinite(t.loss) && (best < 0 || t.loss < trials[best].loss!)) best = i;
  });
  return best;
}

/**
 * Runs `train(lr)` for every rate of `grid` (at least 3, ascending after sorting, all distinct and
 * positive) and extends the grid past whichever end wins, at most `maxExtend` times in all.
 */
export async function bracketedSweep(
  grid: readonly number[],
  train: (lr: number) => Promise<number | null>,
  opts: { maxExtend?: number; shouldStop?: () => boolean } = {},
): Promise<SweepOutcome> {
  const op = 'bracketedSweep';
  const lrs = [...grid].sort((a, b) => a - b);
  if (lrs.length < 3) fail(op, `a sweep needs at least 3 learning rates to bracket the best one, got ${lrs.length} (${lrs.join(', ')})`);
  for (const lr of lrs) if (!(lr > 0 && Number.isFinite(lr))) fail(op, `learning rates must be positive finite numbers, got ${lr}`);
  if (new Set(lrs).size !== lrs.length) fail(op, `learning rates must be distinct, got ${lrs.join(', ')}`);
  const maxExtend = opts.maxExtend ?? 2;
  const trials: SweepTrial[] = [];
  for (const lr of lrs) {
    trials.push({ lr, loss: await train(lr), extension: false });
    if (opts.shouldStop?.()) break;
  }
  for (let ext = 0; ext < maxExtend && !opts.shouldStop?.(); ext++) {
    const b = bestTrial(trials);
    if (b < 0) break; // every rate diverged: nothing to bracket
    let lr: number;
    if (b === 0) lr = trials[0].lr * (trials[0].lr / trials[1].lr);
    else if (b === trials.length - 1) lr = trials[b].lr * (trials[b].lr / trials[b - 1].lr);
    else break;
    lr = Number(lr.toPrecision(3));
    const t = { lr, loss: await train(lr), extension: true };
    if (b === 0) trials.unshift(t);
    else trials.push(t);
  }
  const b = bestTrial(trials);
  if (b < 0) return { trials, chosen: trials[0].lr, bracketed: false };
  return { trials, chosen: trials[b].lr, bracketed: b > 0 && b < trials.length - 1 };
}
