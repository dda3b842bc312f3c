// Corpus loading and next-token batching: the Moby Dick text, seeded train/val splits, batches that
// are reproducible by seed and resumable from a saved state, y = x shifted by one, and batches as
// int32 tensors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { BatchSampler, batchToTensors, randInt, sequentialBatches, splitTrainVal } from '../../src/data/batching.js';
import { loadMobyDick } from '../../src/data/corpus.js';
import { CharTokenizer } from '../../src/data/tokenizer.js';
import { Gpt2Tokenizer } from '../../src/data/bpe.js';
import { hasGpu, setupBackends } from '../helpers.js';

setupBackends();

const stream = (n: number) => Int32Array.from({ length: n }, (_, i) => i); // token i at position i

describe('loadMobyDick', () => {
  it('returns the whole novel as text', () => {
    const text = loadMobyDick();
    expect(text.length).toBe(1_190_317);
    expect(text.startsWith('CHAPTER 1. Loomings.\n\nCall me Ishmael.')).toBe(true);
    expect(text.trimEnd().endsWith('as it rolled five thousand years ago.')).toBe(true);
    expect(text).not.toContain('\r');
    expect(loadMobyDick()).toBe(text); // cached
    const chars = CharTokenizer.fromText(text);
    expect(chars.vocabSize).toBeGreaterThan(60);
    expect(chars.vocabSize).toBeLessThan(120);
  });

  it('encodes with GPT-2 to a plausible number of tokens', () => {
    const ids = Gpt2Tokenizer.load().encode(loadMobyDick());
    expect(ids.length).toBeGreaterThan(250_000);
    expect(ids.length).toBeLessThan(350_000);
  });
});

describe('splitTrainVal', () => {
  it('cuts one contiguous validation span at a seeded offset; train is the rest, in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.double({ min: 0, max: 0.99, noNaN: true }), fc.integer(), (n, frac, seed) => {
        const ids = stream(n);
        const { train, val, valStart } = splitTrainVal(ids, frac, seed);
        const valLen = Math.round(n * frac);
        expect(val.length).toBe(valLen);
        expect(train.length).toBe(n - valLen);
        expect(Array.from(val)).toEqual(Array.from({ length: valLen }, (_, i) => valStart + i));
        expect(Array.from(train)).toEqual(Array.from(ids).filter((v) => v < valStart || v >= valStart + valLen));
        // Deterministic by seed.
        expect(splitTrainVal(ids, frac, seed).valStart).toBe(valStart);
      }),
      { numRuns: 50 },
    );
    const starts = new Set(Array.from({ length: 20 }, (_, s) => splitTrainVal(stream(1000), 0.1, s).valStart));
    expect(starts.size).toBeGreaterThan(10); // the seed moves the span
  });

  it('rejects bad arguments', () => {
    expect(() => splitTrainVal([1, 2, 3] as never, 0.1, 1)).toThrow(/splitTrainVal: ids must be an Int32Array/);
    expect(() => splitTrainVal(stream(10), 1, 1)).toThrow(/valFraction must be in \[0, 1\), got 1/);
    expect(() => splitTrainVal(stream(10), -0.1, 1)).toThrow(/valFraction/);
    expect(() => splitTrainVal(stream(10), 0.1, 1.5)).toThrow(/seed must be an integer/);
  });
});

describe('BatchSampler', () => {
  it('x and y are (B, T) windows of the stream and y is x shifted by one (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer(),
        (B, T, extra, seed) => {
          const n = T + 1 + extra;
          // A stream with repeats, so that shifting is checked against positions, not values.
          const ids = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 13);
          const pos = stream(n);
          const s = new BatchSampler(ids, { batchSize: B, blockSize: T, seed });
          const p = new BatchSampler(pos, { batchSize: B, blockSize: T, seed });
          for (let k = 0; k < 3; k++) {
            const { x, y, batchSize, blockSize } = s.next();
            const q = p.next(); // same seed -> same offsets; here values are positions
            expect([batchSize, blockSize, x.length, y.length]).toEqual([B, T, B * T, B * T]);
            for (let b = 0; b < B; b++) {
              const o = q.x[b * T];
              expect(o).toBeGreaterThanOrEqual(0);
              expect(o + T + 1).toBeLessThanOrEqual(n);
              for (let t = 0; t < T; t++) {
                expect(q.x[b * T + t]).toBe(o + t); // a contiguous window
                expect(q.y[b * T + t]).toBe(o + t + 1); // y = x shifted by one
                expect(x[b * T + t]).toBe(ids[o + t]);
                expect(y[b * T + t]).toBe(ids[o + t + 1]);
              }
            }
          }
          expect(s.step).toBe(3);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('is deterministic by seed, and different seeds draw different batches', () => {
    const ids = stream(10_000);
    const draw = (seed: number) => {
      const s = new BatchSampler(ids, { batchSize: 4, blockSize: 8, seed });
      return Array.from({ length: 5 }, () => Array.from(s.next().x));
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });

  it('restoring a saved state continues the same sequence (also through JSON)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer(), (before, after, seed) => {
        const opts = { batchSize: 3, blockSize: 5, seed };
        const ids = stream(300);
        const a = new BatchSampler(ids, opts);
        for (let i = 0; i < before; i++) a.next();
        const saved = JSON.parse(JSON.stringify(a.state));
        const rest = Array.from({ length: after }, () => a.next());
        const b = new BatchSampler(ids, opts);
        b.state = saved;
        expect(b.step).toBe(before);
        const resumed = Array.from({ length: after }, () => b.next());
        expect(resumed.map((r) => Array.from(r.x))).toEqual(rest.map((r) => Array.from(r.x)));
        expect(resumed.map((r) => Array.from(r.y))).toEqual(rest.map((r) => Array.from(r.y)));
        expect(b.state).toEqual(a.state);
      }),
      { numRuns: 25 },
    );
  });

  it('covers every offset, including the last valid one', () => {
    const n = 12;
    const T = 4;
    const s = new BatchSampler(stream(n), { batchSize: 64, blockSize: T, seed: 1 });
    const seen = new Set(Array.from({ length: 64 }, (_, b) => s.next().x[b * T]));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: n - T }, (_, i) => i));
  });

  it('randInt reaches beyond 2^24 on very long streams (two draws) and stays in range', () => {
    const rng = new mg.HostRng(5);
    const n = 2 ** 30 + 3;
    const draws = Array.from({ length: 2000 }, () => randInt(rng, n));
    expect(rng.position).toBe(4000); // two 24-bit draws each
    expect(draws.every((d) => Number.isInteger(d) && d >= 0 && d < n)).toBe(true);
    expect(Math.max(...draws)).toBeGreaterThan(2 ** 29);
    expect(draws.filter((d) => d % 2 === 1).length).toBeGreaterThan(800); // low bits are random too
    const small = new mg.HostRng(5);
    randInt(small, 2 ** 24);
    expect(small.position).toBe(1);
  });

  it('iterates, and rejects bad arguments and foreign states', () => {
    const s = new BatchSampler(stream(50), { batchSize: 2, blockSize: 3, seed: 9 });
    let k = 0;
    for (const batch of s) {
      expect(batch.x.length).toBe(6);
      if (++k === 3) break;
    }
    expect(s.step).toBe(3);
    expect(() => new BatchSampler(stream(3), { batchSize: 1, blockSize: 3, seed: 1 })).toThrow(
      /BatchSampler: 3 tokens are too few for blockSize 3 \(a window needs blockSize \+ 1 = 4 tokens\)/,
    );
    expect(() => new BatchSampler(stream(30), { batchSize: 0, blockSize: 3, seed: 1 })).toThrow(
      /batchSize must be a positive integer, got 0/,
    );
    expect(() => new BatchSampler(stream(30), { batchSize: 1, blockSize: 2.5, seed: 1 })).toThrow(/blockSize must be a positive integer/);
    expect(() => new BatchSampler([1, 2, 3] as never, { batchSize: 1, blockSize: 1, seed: 1 })).toThrow(/ids must be an Int32Array/);
    expect(() => {
      s.state = { seed: 10, position: 0, step: 0 };
    }).toThrow(/BatchSampler.state: state was saved with seed 10, this sampler uses seed 9/);
    expect(() => {
      s.state = { seed: 9, position: -1, step: 0 };
    }).toThrow(/position must be a non-negative integer/);
  });
});

describe('sequentialBatches', () => {
  it('covers the stream in order with non-overlapping windows; the last batch may be short', () => {
    const batches = [...sequentialBatches(stream(24), 2, 5)]; // windows at 0, 5, 10, 15 (needs o+6 <= 24)
    expect(batches.map((b) => b.batchSize)).toEqual([2, 2]);
    expect(Array.from(batches[1].x)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(Array.from(batches[1].y)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const short = [...sequentialBatches(stream(17), 2, 5)]; // windows at 0, 5, 10
    expect(short.map((b) => b.batchSize)).toEqual([2, 1]);
    expect([...sequentialBatches(stream(100), 2, 5, 3)].length).toBe(3);
  });
});

describe('batchToTensors', () => {
  it('makes (B, T) int32 tensors on a backend', async () => {
    const batch = new BatchSampler(stream(100), { batchSize: 3, blockSize: 4, seed: 2 }).next();
    const backends: mg.BackendName[] = (await hasGpu()) ? ['cpu', 'webgpu'] : ['cpu'];
    for (const backend of backends) {
      const { x, y } = batchToTensors(batch, { backend });
      expect(x.shape).toEqual([3, 4]);
      expect(y.dtype).toBe('int32');
      expect(x.backend.name).toBe(backend);
      expect(Array.from(await x.data())).toEqual(Array.from(batch.x));
      expect(Array.from(await y.data())).toEqual(Array.from(batch.y));
      x.dispose();
      y.dispose();
    }
    expect(() => batchToTensors({ ...batch, batchSize: 2 }, { backend: 'cpu' })).toThrow(
      /batchToTensors: batch of \(2, 4\) needs 8 tokens in x and y, got 12 and 12/,
    );
  });
});
