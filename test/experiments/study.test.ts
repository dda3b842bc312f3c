// The pieces of a fair study: the bracketed learning-rate sweep, statistics over seeds, the format
// stage's data kept apart from the task, and the one-layer mechanism's floors against independent
// computations.
import { describe, expect, it } from 'vitest';
import { bracketedSweep, bestTrial } from '../../src/app/experiments/sweep.js';
import { mean, meanSd, sampleSd, seriesMeanSd } from '../../src/app/experiments/stats.js';
import { assertDisjoint, formatSeed, formatTask } from '../../src/app/experiments/format.js';
import { makeUuidTask } from '../../src/app/experiments/uuid.js';
import { loraFloor, moraBasis, moraFloor, runMechanism } from '../../src/app/experiments/mechanism.js';
import { Matrix } from 'ml-matrix';
import { UUID_FORMAT_BASELINE, UUID_FORMAT_LOSS } from '../../src/app/experiments/summary.js';
import { setupBackends } from '../helpers.js';

setupBackends();

/** A loss that is a parabola in log10(lr) with its minimum at `best`. */
const bowl = (best: number) => async (lr: number) => (Math.log10(lr) - Math.log10(best)) ** 2 + 1;

describe('bracketedSweep', () => {
  it('keeps an interior winner without extending', async () => {
    const tried: number[] = [];
    const s = await bracketedSweep([3e-3, 1e-2, 3e-2], async (lr) => {
      tried.push(lr);
      return bowl(1e-2)(lr);
    });
    expect(s.chosen).toBe(1e-2);
    expect(s.bracketed).toBe(true);
    expect(tried).toEqual([3e-3, 1e-2, 3e-2]);
    expect(s.trials.every((t) => !t.extension)).toBe(true);
  });

  it('extends past a winning end by the grid ratio until the winner is inside', async () => {
    const s = await bracketedSweep([1e-3, 3e-3, 1e-2], bowl(0.1), { maxExtend: 3 });
    expect(s.trials.map((t) => t.lr)).toEqual([1e-3, 3e-3, 1e-2, 0.0333, 0.111, 0.37]);
    expect(s.chosen).toBe(0.111);
    expect(s.bracketed).toBe(true);
    const low = await bracketedSweep([1e-3, 3e-3, 1e-2], bowl(3e-4), { maxExtend: 3 });
    expect(low.trials.map((t) => t.lr)).toEqual([1.11e-4, 3.33e-4, 1e-3, 3e-3, 1e-2]);
    expect(low.trials[0].extension).toBe(true);
    expect(low.chosen).toBe(3.33e-4);
  });

  it('reports a winner still at the edge when the extensions run out, and treats divergence as the worst', async () => {
    const s = await bracketedSweep([1e-3, 3e-3, 1e-2], bowl(10), { maxExtend: 1 });
    expect(s.trials).toHaveLength(4);
    expect(s.bracketed).toBe(false);
    expect(s.chosen).toBe(s.trials[3].lr);
    const d = await bracketedSweep([1e-3, 3e-3, 1e-2], async (lr) => (lr > 5e-3 ? null : bowl(3e-3)(lr)));
    expect(d.chosen).toBe(3e-3);
    expect(bestTrial([{ lr: 1, loss: null, extension: false }])).toBe(-1);
  });

  it('refuses grids that cannot bracket', async () => {
    await expect(bracketedSweep([1e-3, 3e-3], bowl(1e-3))).rejects.toThrow(/at least 3 learning rates/);
    await expect(bracketedSweep([1e-3, 1e-3, 3e-3], bowl(1e-3))).rejects.toThrow(/distinct/);
    await expect(bracketedSweep([1e-3, -1, 3e-3], bowl(1e-3))).rejects.toThrow(/positive finite/);
  });
});

describe('statistics over seeds', () => {
  it('mean and sample sd (n − 1) as numpy.std(ddof=1)', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sampleSd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935299395, 12);
    expect(meanSd([0.3])).toEqual({ mean: 0.3, sd: 0, n: 1 });
    expect(Number.isNaN(meanSd([]).mean)).toBe(true);
    expect(
      seriesMeanSd([
        [1, 2, null],
        [3, null, 5],
      ]),
    ).toEqual({ mean: [2, 2, 5], sd: [Math.SQRT2, 0, 0] });
  });
});

describe('the format stage', () => {
  it('draws its pairs from a stream apart from every task seed and checks disjointness', () => {
    const f = formatTask({ pairs: 4096, seed: 0 });
    expect(f.pairs).toHaveLength(4096);
    for (const seed of [0, 1, 2, 3, 4, 7, 42]) {
      expect(formatSeed(0)).not.toBe(seed);
      expect(() => assertDisjoint(f, makeUuidTask({ n: 128, seed }))).not.toThrow();
    }
    // a task that shares a pair with the stage is refused
    const clash = makeUuidTask({ n: 4, seed: formatSeed(0) });
    expect(() => assertDisjoint(f, clash)).toThrow(/format stage's pairs contain .*which the task memorises/);
  });

  it('knows the format-only level of the UUID task', () => {
    // dashes (4) and the version digit right, variant 1 in 4, 30 hex digits 1 in 16, over 36 characters
    expect(UUID_FORMAT_BASELINE).toBeCloseTo(7.125 / 36, 12);
    // 30·ln 16 + ln 4 nats over 37 completion targets (36 characters and the newline)
    expect(UUID_FORMAT_LOSS).toBeCloseTo(2.28551, 4);
  });
});

describe('the mechanism', () => {
  it('LoRA floor is Eckart–Young; MoRA floor is the least-squares residual, checked against a direct solve', async () => {
    const d = 6;
    const R = 4;
    const Y = new Matrix([
      [1, 0, 0],
      [0, 2, 0],
      [0, 0, 3],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(loraFloor(Y, 1)).toBeCloseTo(5 / 14, 12); // keeps 9 of 1 + 4 + 9
    expect(loraFloor(Y, 3)).toBeCloseTo(0, 12);
    const basis = await moraBasis(d, R, 1);
    const X = Matrix.eye(d, 3);
    // independent: minimise over M by normal equations with ml-matrix's own solver
    const G = new Matrix(d * 3, R * R);
    basis.forEach((b, k) => {
      const B = new Matrix(d, d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) B.set(i, j, b[i * d + j]);
      const v = B.mmul(X);
      for (let i = 0; i < d; i++) for (let j = 0; j < 3; j++) G.set(i * 3 + j, k, v.get(i, j));
    });
    const y = Matrix.columnVector(Y.to1DArray());
    const { solve } = await import('ml-matrix');
    const m = solve(
      G.transpose()
        .mmul(G)
        .add(Matrix.eye(R * R).mul(1e-12)),
      G.transpose().mmul(y),
    );
    const res =
      G.mmul(m)
        .sub(y)
        .to1DArray()
        .reduce((s, v) => s + v * v, 0) / 14;
    expect(moraFloor(basis, X, Y)).toBeCloseTo(res, 6);
  });

  it('MoRA stores about r̂²/d pairs exactly, LoRA r; both trained fits reach their floors', async () => {
    const r = await runMechanism({
      d: 16,
      r: 2,
      moraType: 6,
      counts: [1, 2, 3, 4, 8, 16],
      draws: 1,
      trainCount: 4,
      trainSteps: 300,
      seed: 1,
    });
    expect(r.R).toBe(8); // round(sqrt(32·2)) = 8
    const exact = (k: 'lora' | 'mora') => Math.max(...r.floors.filter((f) => f[k] < 1e-9).map((f) => f.n));
    expect(exact('lora')).toBe(2);
    expect(exact('mora')).toBe(4); // 64 numbers store 4 pairs of 16 values
    expect(r.lowRankTarget.lora).toBeLessThan(1e-9);
    expect(r.lowRankTarget.mora).toBeGreaterThan(0.1);
    for (const t of r.trained) expect(t.loss[t.loss.length - 1]).toBeLessThan(t.floor + 0.02);
    const lora = r.trained.find((t) => t.adapter === 'lora')!;
    expect(lora.singularValues.filter((s) => s > 1e-6).length).toBeLessThanOrEqual(2);
  });

  it('refuses a layer, rank or association count outside its bounds before any work', async () => {
    const base = { d: 16, r: 2, moraType: 6 as const, counts: [1, 4], draws: 1, trainCount: 4, trainSteps: 10, seed: 1 };
    await expect(runMechanism({ ...base, d: 1 })).rejects.toThrow(/mechanism: d must be an integer in \[2, 256\], got 1/);
    await expect(runMechanism({ ...base, d: 300 })).rejects.toThrow(/d must be an integer in \[2, 256\], got 300/);
    await expect(runMechanism({ ...base, r: 16 })).rejects.toThrow(/r must be an integer in \[1, d\), got 16/);
    await expect(runMechanism({ ...base, r: 1.5 })).rejects.toThrow(/r must be an integer/);
    await expect(runMechanism({ ...base, counts: [1, 17] })).rejects.toThrow(/association counts must be integers in \[1, 16\], got 17/);
    await expect(runMechanism({ ...base, trainCount: 0 })).rejects.toThrow(/association counts must be integers in \[1, 16\], got 0/);
  });
});
