// Next-token training batches from a token stream.
//
// A batch holds B windows of T tokens: x[b] = ids[o_b .. o_b+T) and y[b] = ids[o_b+1 .. o_b+T+1),
// so y[b][t] is the token that follows x[b][t]. Offsets o_b are drawn uniformly from [0, n-T-1]
// by a seeded HostRng (src/ops/random.ts); the sampler's `state` (seed, rng position, step) can be
// saved in a checkpoint and restored so a resumed run draws exactly the batches it would have drawn.
import { fail } from '../errors.js';
import { HostRng } from '../ops/random.js';
import { tensor } from '../ops/creation.js';
import type { BackendName } from '../runtime.js';
import type { Tensor } from '../tensor.js';

export interface Batch {
  /** (B*T) inputs, row-major (B, T). */
  x: Int32Array;
  /** (B*T) targets: y[b, t] = the token after x[b, t]. */
  y: Int32Array;
  batchSize: number;
  blockSize: number;
}

/** Everything needed to continue a BatchSampler's sequence. */
export interface SamplerState {
  seed: number;
  /** Draws taken from the HostRng stream. */
  position: number;
  /** Batches produced so far. */
  step: number;
}

export interface SamplerOptions {
  batchSize: number;
  blockSize: number;
  seed: number;
}

const TWO24 = 16777216;

/** A uniform integer in [0, n): one 24-bit draw when n <= 2^24, else two draws (48 bits). */
export function randInt(rng: HostRng, n: number): number {
  if (n <= TWO24) return rng.int(n);
  const hi = rng.next() * TWO24; // an integer in [0, 2^24)
  const lo = rng.next();
  return Math.floor(((hi + lo) / TWO24) * n);
}

function checkIds(op: string, ids: unknown): Int32Array {
  if (!(ids instanceof Int32Array))
    fail(op, `ids must be an Int32Array, got ${Object.prototype.toString.call(ids)} (use Int32Array.from(tokenizer.encode(text)))`);
  return ids;
}

function checkPositiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function checkSeed(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) fail(op, `seed must be an integer, got ${String(seed)}`);
  return seed;
}

/**
 * Splits a token stream into train and validation parts. The validation part is ONE contiguous span
 * of round(n * valFraction) tokens starting at a seeded offset (so it reads like held-out text, not
 * scattered tokens); train is everything before it followed by everything after it. Train thus has
 * one seam where the two parts meet, which at most T of its windows straddle. `valStart` says where
 * the span was cut from.
 */
export function splitTrainVal(
  ids: Int32Array,
  valFraction: number,
  seed: number,
): { train: Int32Array; val: Int32Array; valStart: number } {
  const op = 'splitTrainVal';
  checkIds(op, ids);
  if (typeof valFraction !== 'number' || !(valFraction >= 0 && valFraction < 1))
    fail(op, `valFraction must be in [0, 1), got ${String(valFraction)}`);
  checkSeed(op, seed);
  const n = ids.length;
  const valLen = Math.round(n * valFraction);
  const valStart = randInt(new HostRng(seed), n - valLen + 1);
  const val = ids.slice(valStart, valStart + valLen);
  const train = new Int32Array(n - valLen);
  train.set(ids.subarray(0, valStart), 0);
  train.set(ids.subarray(valStart + valLen), valStart);
  return { train, val, valStart };
}

/** Random next-token windows from `ids`, reproducible from the seed and resumable from `state`. */
export class BatchSampler implements Iterable<Batch> {
  readonly batchSize: number;
  readonly blockSize: number;
  readonly seed: number;
  private readonly ids: Int32Array;
  private rng: HostRng;
  private _step = 0;

  constructor(ids: Int32Array, opts: SamplerOptions) {
    const op = 'BatchSampler';
    this.ids = checkIds(op, ids);
    if (!opts || typeof opts !== 'object') fail(op, 'options { batchSize, blockSize, seed } are required');
    this.batchSize = checkPositiveInt(op, 'batchSize', opts.batchSize);
    this.blockSize = checkPositiveInt(op, 'blockSize', opts.blockSize);
    this.seed = checkSeed(op, opts.seed);
    if (ids.length < this.blockSize + 1) {
      fail(
        op,
        `${ids.length} tokens are too few for blockSize ${this.blockSize} (a window needs blockSize + 1 = ${this.blockSize + 1} tokens)`,
      );
    }
    this.rng = new HostRng(this.seed);
  }

  /** Number of distinct window offsets, n - T. */
  get numOffsets(): number {
    return this.ids.length - this.blockSize;
  }

  /** The next batch. */
  next(): Batch {
    const B = this.batchSize;
    const T = this.blockSize;
    const x = new Int32Array(B * T); // (B, T)
    const y = new Int32Array(B * T); // (B, T)
    for (let b = 0; b < B; b++) {
      const o = randInt(this.rng, this.numOffsets); // o + T + 1 <= n
      x.set(this.ids.subarray(o, o + T), b * T);
      y.set(this.ids.subarray(o + 1, o + T + 1), b * T);
    }
    this._step++;
    return { x, y, batchSize: B, blockSize: T };
  }

  /** Batches produced so far. */
  get step(): number {
    return this._step;
  }

  /** A copy of the position in the sequence, to save in a checkpoint. */
  get state(): SamplerState {
    return { seed: this.seed, position: this.rng.position, step: this._step };
  }

  /** Continues from a saved `state` (it must come from a sampler with the same seed). */
  set state(s: SamplerState) {
    const op = 'BatchSampler.state';
    if (!s || typeof s !== 'object') fail(op, `expected { seed, position, step }, got ${String(s)}`);
    if (s.seed !== this.seed) fail(op, `state was saved with seed ${s.seed}, this sampler uses seed ${this.seed}`);
    if (!Number.isSafeInteger(s.position) || s.position < 0) fail(op, `position must be a non-negative integer, got ${String(s.position)}`);
    if (!Number.isSafeInteger(s.step) || s.step < 0) fail(op, `step must be a non-negative integer, got ${String(s.step)}`);
    this.rng = new HostRng(this.seed);
    this.rng.position = s.position;
    this._step = s.step;
  }

  /** An endless iterator of batches. */
  *[Symbol.iterator](): Iterator<Batch> {
    for (;;) yield this.next();
  }
}

/**
 * Deterministic, non-overlapping windows covering `ids` in order (for evaluation): window k starts
 * at k*T; windows are grouped B at a time, the last batch may hold fewer rows. Stops after
 * `maxBatches` batches if given.
 */
export function* sequentialBatches(ids: Int32Array, batchSize: number, blockSize: number, maxBatches = Infinity): Generator<Batch> {
  const op = 'sequentialBatches';
  checkIds(op, ids);
  const B = checkPositiveInt(op, 'batchSize', batchSize);
  const T = checkPositiveInt(op, 'blockSize', blockSize);
  const windows = Math.floor((ids.length - 1) / T);
  let produced = 0;
  for (let w = 0; w < windows && produced < maxBatches; w += B, produced++) {
    const rows = Math.min(B, windows - w);
    const x = new Int32Array(rows * T); // (rows, T)
    const y = new Int32Array(rows * T); // (rows, T)
    for (let r = 0; r < rows; r++) {
      const o = (w + r) * T;
      x.set(ids.subarray(o, o + T), r * T);
      y.set(ids.subarray(o + 1, o + T + 1), r * T);
    }
    yield { x, y, batchSize: rows, blockSize: T };
  }
}

/** The batch as int32 tensors x, y of shape (B, T) on a backend (the default one otherwise). */
export function batchToTensors(batch: Batch, opts: { backend?: BackendName } = {}): { x: Tensor; y: Tensor } {
  const { batchSize: B, blockSize: T } = batch;
  if (batch.x.length !== B * T || batch.y.length !== B * T) {
    fail('batchToTensors', `batch of (${B}, ${T}) needs ${B * T} tokens in x and y, got ${batch.x.length} and ${batch.y.length}`);
  }
  const x = tensor(batch.x, [B, T], { dtype: 'int32', backend: opts.backend });
  let y: Tensor;
  try {
    y = tensor(batch.y, [B, T], { dtype: 'int32', backend: opts.backend });
  } catch (e) {
    x.dispose();
    throw e;
  }
  return { x, y };
}
