// Rank analysis with known answers: singular values of outer-product sums, diagonal and orthogonal
// constructions, invariants (Σσ² = ||W||_F²), and per-module ΔW statistics of a Module.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HostRng } from '../../src/ops/random.js';
import { Linear } from '../../src/nn/linear.js';
import { Module } from '../../src/nn/module.js';
import { randn } from '../../src/ops/creation.js';
import type { Tensor } from '../../src/tensor.js';
import { deltaWeight, rank as moraRank } from '../../src/mora/index.js';
import {
  analyzeDelta,
  analyzeMatrix,
  effectiveRank,
  frobeniusNorm,
  hostWeights,
  isLinearWeight,
  layerIndex,
  moduleKind,
  rankAbove,
  singularValues,
  stableRank,
} from '../../src/app/experiments/rank.js';

const randVec = (rng: HostRng, n: number) => Array.from({ length: n }, () => rng.normal());

/** Row-major Σ_k u_k v_kᵀ (rows x cols). */
function outerSum(us: number[][], vs: number[][]): Float64Array {
  const rows = us[0].length;
  const cols = vs[0].length;
  const W = new Float64Array(rows * cols);
  us.forEach((u, k) => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) W[i * cols + j] += u[i] * vs[k][j];
  });
  return W;
}

describe('singularValues', () => {
  it('a sum of two outer products has exactly 2 singular values above 1e-6 (both orientations)', () => {
    const rng = new HostRng(1);
    for (const [rows, cols] of [
      [7, 5],
      [5, 7],
      [1 + 12, 31],
    ]) {
      const W = outerSum([randVec(rng, rows), randVec(rng, rows)], [randVec(rng, cols), randVec(rng, cols)]);
      const sv = singularValues(W, rows, cols);
      expect(sv).toHaveLength(Math.min(rows, cols));
      expect(rankAbove(sv, 1e-6)).toBe(2);
      expect(sv[1]).toBeGreaterThan(1e-3);
    }
  });

  it("a diagonal matrix's singular values are its |entries|, sorted", () => {
    const d = [0.5, -3, 0, 2, -0.25];
    const W = new Float32Array(25);
    d.forEach((v, i) => (W[i * 5 + i] = v));
    const sv = singularValues(W, 5, 5);
    [3, 2, 0.5, 0.25, 0].forEach((e, i) => expect(sv[i]).toBeCloseTo(e, 6));
    expect(rankAbove(sv)).toBe(4); // > 0.1
    expect(rankAbove(sv, 0.3)).toBe(3);
  });

  it('σ of s·(outer product of unit vectors) is |s|; Σσ² = ||W||_F² for random shapes', () => {
    // u = e_0 + e_2 over √2, v = (1, 1, 1, 1)/2: W = 5 u vᵀ has σ = (5, 0, 0).
    const W = outerSum([[5 / Math.SQRT2, 0, 5 / Math.SQRT2]], [[0.5, 0.5, 0.5, 0.5]]);
    const sv = singularValues(W, 3, 4);
    expect(sv[0]).toBeCloseTo(5, 10);
    expect(sv[1]).toBeLessThan(1e-10);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (r, c, seed) => {
        const rng = new HostRng(seed);
        const M = Float64Array.from({ length: r * c }, () => rng.normal());
        const s = singularValues(M, r, c);
        const f = frobeniusNorm(M);
        expect(s.reduce((a, x) => a + x * x, 0)).toBeCloseTo(f * f, 8);
        for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThanOrEqual(s[i - 1]);
      }),
      { numRuns: 20 },
    );
  });

  it('gives clear errors', () => {
    expect(() => singularValues(new Float32Array(5), 2, 3)).toThrow(/singularValues: W has 5 values; a 2 x 3 matrix needs 6/);
    expect(() => singularValues(new Float32Array([1, NaN]), 1, 2)).toThrow(/W\[0, 1\] = NaN is not finite/);
    expect(() => singularValues([], 0, 3)).toThrow(/rows and cols must be positive integers, got 0 x 3/);
  });
});

describe('rank summaries', () => {
  it('stable and effective rank: 1 for rank one, n for n equal values, 0 for zero', () => {
    expect(stableRank([2, 0, 0])).toBe(1);
    expect(effectiveRank([2, 0, 0])).toBeCloseTo(1, 12);
    expect(stableRank([1, 1, 1, 1])).toBe(4);
    expect(effectiveRank([1, 1, 1, 1])).toBeCloseTo(4, 12);
    expect(stableRank([0, 0])).toBe(0);
    expect(effectiveRank([0, 0])).toBe(0);
  });

  it('module names map to kinds and layers', () => {
    expect(moduleKind('blocks.3.attn.q.weight')).toBe('q');
    expect(moduleKind('blocks.0.mlp.down.weight')).toBe('down');
    expect(layerIndex('blocks.3.attn.q.weight')).toBe(3);
    expect(layerIndex('lnF.weight')).toBe(null);
    expect(isLinearWeight('blocks.0.attn.q.weight', [4, 4])).toBe(true);
    expect(isLinearWeight('blocks.0.ln1.weight', [4])).toBe(false);
    expect(isLinearWeight('wte.weight', [10, 4])).toBe(false);
  });
});

describe('analyzeDelta', () => {
  it('reports per module the spectrum of final - base, its count above the threshold and norms', () => {
    const rng = new HostRng(3);
    const base = Float64Array.from({ length: 6 * 4 }, () => rng.normal());
    // ΔW = 0.5 e_1 f_2ᵀ + 0.05 e_4 f_0ᵀ: σ = (0.5, 0.05, 0, 0).
    const final = Float64Array.from(base);
    final[1 * 4 + 2] += 0.5;
    final[4 * 4 + 0] += 0.05;
    const [r] = analyzeDelta(
      { 'blocks.0.attn.q.weight': { data: base, shape: [6, 4] }, 'blocks.0.ln1.weight': { data: [1], shape: [1] } },
      { 'blocks.0.attn.q.weight': { data: final, shape: [6, 4] }, 'blocks.0.ln1.weight': { data: [2], shape: [1] } },
    );
    expect(r.name).toBe('blocks.0.attn.q.weight');
    expect(r.shape).toEqual([6, 4]);
    expect(r.singularValues[0]).toBeCloseTo(0.5, 10);
    expect(r.singularValues[1]).toBeCloseTo(0.05, 10);
    expect(r.rankAbove).toBe(1);
    expect(r.threshold).toBe(0.1);
    expect(r.frobenius).toBeCloseTo(Math.hypot(0.5, 0.05), 10);
    const top1 = analyzeMatrix('w', base, final, [6, 4], { topK: 1, threshold: 0.01 });
    expect(top1.singularValues).toHaveLength(1);
    expect(top1.rankAbove).toBe(2);
  });

  it('works on a Module snapshot and rejects mismatched weights', async () => {
    class Block extends Module {
      up = new Linear(4, 6, { backend: 'cpu', seed: 1 });
      forward(x: Tensor): Tensor {
        return this.up.forward(x);
      }
    }
    class Net extends Module {
      blocks = [new Block()];
      forward(x: Tensor): Tensor {
        return this.blocks[0].forward(x);
      }
    }
    const net = new Net();
    net.nameParameters();
    const before = await hostWeights(net);
    expect([...before.keys()]).toEqual(['blocks.0.up.weight', 'blocks.0.up.bias']);
    const after = new Map(before);
    const w = before.get('blocks.0.up.weight')!;
    const rng = new HostRng(4);
    const u = randVec(rng, 6);
    const v = randVec(rng, 4);
    after.set('blocks.0.up.weight', {
      data: Float64Array.from(w.data as ArrayLike<number>, (x, k) => x + u[Math.floor(k / 4)] * v[k % 4]),
      shape: w.shape,
    });
    const [r] = analyzeDelta(before, after);
    expect(r.shape).toEqual([6, 4]);
    expect(rankAbove(r.singularValues, 1e-6)).toBe(1);
    expect(r.singularValues[0]).toBeCloseTo(Math.hypot(...u) * Math.hypot(...v), 5);
    expect(() => analyzeDelta(new Map(), after)).toThrow(
      /analyzeDelta: 'blocks.0.up.weight' is in the final weights but not in the base weights/,
    );
    expect(() => analyzeDelta(before, new Map([['blocks.0.up.weight', { data: new Float64Array(24), shape: [4, 6] }]]))).toThrow(
      /base shape \[6, 4\] differs from final shape \[4, 6\]/,
    );
    expect(() => analyzeDelta(before, after, { include: () => false })).toThrow(/no weights selected/);
    net.dispose();
  });
});

describe("LoRA vs MoRA update rank at the same budget (the paper's section 6.1, in miniature)", () => {
  it('LoRA r=2 gives rank 2; MoRA type 1 with the same budget gives rank r̂ = 8', async () => {
    const k = 16;
    const d = 16;
    const r = 2;
    const rng = new HostRng(5);
    const lora = outerSum([randVec(rng, d), randVec(rng, d)], [randVec(rng, k), randVec(rng, k)]); // B A
    expect(rankAbove(singularValues(lora, d, k), 1e-6)).toBe(r);
    const R = moraRank(k, d, r, 1);
    expect(R).toBe(8);
    const M = randn([R, R], { seed: 6, backend: 'cpu' });
    const dW = deltaWeight(M, { inFeatures: k, outFeatures: d, type: 1 }); // (d, k)
    const sv = singularValues(await dW.data(), d, k);
    expect(rankAbove(sv, 1e-6)).toBe(R);
    M.dispose();
    dW.dispose();
  });
});
