// fast-check arbitraries for property tests of tensor code: shapes that favour the sizes that break
// kernels (1, primes, non-multiples of tile sizes), broadcast-compatible shape pairs, and data.
import fc from 'fast-check';
import { numel } from '../shape.js';

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  /** Largest size of one dimension. */
  maxDim?: number;
}

/** A dimension size: 1, small primes, or any size up to maxDim. */
export function dimSize(maxDim = 7): fc.Arbitrary<number> {
  const special = [1, 2, 3, 5, 7, 11, 13, 17, 31, 33, 63, 65].filter((d) => d <= maxDim);
  return fc.oneof(fc.constantFrom(...special), fc.integer({ min: 1, max: Math.max(1, maxDim) }));
}

export function shape(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, maxDim = 7 } = opts;
  return fc.array(dimSize(maxDim), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast (NumPy rules): from one output shape, each side drops some leading dims
 * and sets some others to 1.
 */
export function broadcastPair(opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[]]> {
  return shape({ minRank: 1, ...opts }).chain((out) => {
    const side = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.tuple(side, side);
  });
}

/** Finite float data for a shape, in [min, max]. */
export function tensorData(shp: readonly number[], range: { min?: number; max?: number } = {}): fc.Arbitrary<number[]> {
  const n = numel(shp);
  return fc.array(fc.double({ min: range.min ?? -2, max: range.max ?? 2, noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });
}

/** A shape and matching data. */
export function shapedData(opts: ShapeOptions & { min?: number; max?: number } = {}): fc.Arbitrary<{ shape: number[]; data: number[] }> {
  return shape(opts).chain((s) => tensorData(s, opts).map((data) => ({ shape: s, data })));
}
