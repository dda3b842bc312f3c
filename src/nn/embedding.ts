// Embedding: a lookup table [num, dim]; ids of any shape -> [...ids.shape, dim] (one indexSelect of
// the flattened ids; its backward scatter-adds rows, so repeated ids accumulate).
import { fail } from '../errors.js';
import { add, ge, lt, maximum, minimum, mul, sub } from '../ops/binary.js';
import { arange, cast, zeros } from '../ops/creation.js';
import { indexSelect } from '../ops/gather.js';
import { matmulT } from '../ops/matmul.js';
import { concat, reshape } from '../ops/shape.js';
import { getBackend, keep } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { normal } from './init.js';
import { Module, subSeed, type ModuleOptions, type Parameter } from './module.js';

export interface EmbeddingOptions extends ModuleOptions {
  /** Init std: 1 (torch's N(0, 1), default) or e.g. 0.02 (GPT-2). */
  std?: number;
}

export class Embedding extends Module {
  /** [num, dim]. */
  weight: Parameter;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    for (const [k, v] of [
      ['num', numEmbeddings],
      ['dim', dim],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) fail('Embedding', `${k} must be a positive integer, got ${String(v)}`);
    }
    this.weight = normal([numEmbeddings, dim], opts.std ?? 1, { seed: opts.seed, backend: opts.backend });
    this.weight.name = 'weight';
  }

  /** ids: int32 of any shape, values in [0, num) -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') fail('Embedding', `expects int32 ids, got ${ids.describe()}`);
    const flat = reshape(ids, [ids.size]); // (N,)
    const rows = indexSelect(this.weight, 0, flat); // (N, dim)
    return reshape(rows, [...ids.shape, this.dim]);
  }

  /** int32 ids 0..T-1 per backend and T, made once and kept: every training forward looks up the same positions. */
  #positionIds = new Map<string, Tensor>();

  /**
   * The rows of positions [offset, offset + T) -> [T, dim] (a learned position table). The ids of
   * offset 0 are cached (freed by dispose()); other offsets (KV-cache decoding) are made per call.
   */
  positions(offset: number, T: number): Tensor {
    const backend = this.weight.backend.name;
    if (offset !== 0) return this.forward(arange(offset, offset + T, 1, { dtype: 'int32', backend }));
    const key = `${backend}:${T}`;
    let ids = this.#positionIds.get(key);
    if (!ids) {
      ids = keep(arange(0, T, 1, { dtype: 'int32', backend })); // (T,)
      this.#positionIds.set(key, ids);
    }
    return this.forward(ids);
  }

  protected override disposeOwn(): void {
    for (const t of this.#positionIds.values()) t.dispose();
    this.#positionIds.clear();
  }
}

/** One row block [start, start + rows) of a BlockedEmbedding. */
export class EmbeddingBlock extends Module {
  /** [rows, dim]. */
  weight: Parameter;

  constructor(
    readonly start: number,
    readonly rows: number,
    readonly dim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    this.weight = normal([rows, dim], opts.std ?? 1, { seed: opts.seed, backend: opts.backend });
    this.weight.name = 'weight';
  }

  /** Local ids (int32, in [0, rows)) -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    return reshape(indexSelect(this.weight, 0, reshape(ids, [ids.size])), [...ids.shape, this.dim]);
  }
}

/**
 * An embedding table too large for one storage buffer binding (the adapter's maxStorageBufferBindingSize:
 * lavapipe binds 2^25 float32 elements, GPT-2's 50257 × 768 table has 38.6M), held as row blocks
 * `blocks.<i>.weight` [rows_i, dim] of at most `blockRows` rows. The lookup gathers from every block
 * with ids clamped into it and keeps the rows of the block each id falls in:
 *
 *   y = Σ_i [s_i <= id < e_i] · W_i[clamp(id - s_i, 0, rows_i - 1)]
 *
 * (its gradient reaches only the selected rows: the mask is 0 elsewhere). `project` is x @ Wᵀ over
 * the whole table (a tied LM head), one matmul per block concatenated along the last dim.
 */
export class BlockedEmbedding extends Module {
  blocks: EmbeddingBlock[];

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    readonly blockRows: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    for (const [k, v] of [
      ['num', numEmbeddings],
      ['dim', dim],
      ['blockRows', blockRows],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) fail('BlockedEmbedding', `${k} must be a positive integer, got ${String(v)}`);
    }
    const n = Math.ceil(numEmbeddings / blockRows);
    this.blocks = Array.from({ length: n }, (_, i) => {
      const start = i * blockRows;
      return new EmbeddingBlock(start, Math.min(blockRows, numEmbeddings - start), dim, { ...opts, seed: subSeed(opts.seed, i) });
    });
  }

  /** ids: int32 of any shape, values in [0, num) -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') fail('BlockedEmbedding', `expects int32 ids, got ${ids.describe()}`);
    // The blocks clamp ids into their own range, so an id outside [0, num) must be caught apart: one
    // indexSelect over a [num] probe raises Embedding's error (on webgpu at the next readback).
    const flat = reshape(ids, [ids.size]); // (N,)
    const probe = zeros([this.numEmbeddings], { backend: ids.backend.name });
    indexSelect(probe, 0, flat).dispose();
    probe.dispose();
    const f = cast(flat, 'float32'); // (N,) exact below 2^24
    let y: Tensor | null = null;
    for (const b of this.blocks) {
      const inBlock = reshape(mul(ge(f, b.start), lt(f, b.start + b.rows)), [ids.size, 1]); // (N, 1)
      const local = cast(maximum(minimum(sub(f, b.start), b.rows - 1), 0), 'int32'); // (N,)
      const rows = mul(b.forward(local), inBlock); // (N, dim)
      y = y ? add(y, rows) : rows;
    }
    return reshape(y!, [...ids.shape, this.dim]);
  }

  /** x [..., dim] -> x @ Wᵀ [..., num]. */
  project(x: Tensor): Tensor {
    return concat(
      this.blocks.map((b) => matmulT(x, b.weight, { transB: true })),
      -1,
    ); // (..., num)
  }
}

/**
 * Rows per block for a [num, dim] table on a backend, or null when it fits one buffer binding
 * (`maxElements` overrides the backend's limit, for tests).
 */
export function tableBlockRows(
  num: number,
  dim: number,
  opts: { backend?: ModuleOptions['backend']; maxElements?: number } = {},
): number | null {
  const limit = opts.maxElements ?? getBackend(opts.backend).maxElements;
  return num * dim <= limit ? null : Math.max(1, Math.floor(limit / dim));
}

/** An Embedding, or a BlockedEmbedding when the table exceeds one buffer binding. */
export function embeddingTable(
  num: number,
  dim: number,
  opts: EmbeddingOptions & { maxElements?: number } = {},
): Embedding | BlockedEmbedding {
  const rows = tableBlockRows(num, dim, opts);
  return rows === null ? new Embedding(num, dim, opts) : new BlockedEmbedding(num, dim, rows, opts);
}

/** x @ Wᵀ over an embedding table (a tied LM head): [..., dim] -> [..., num]. */
export function projectOnto(table: Embedding | BlockedEmbedding, x: Tensor): Tensor {
  return table instanceof BlockedEmbedding ? table.project(x) : matmulT(x, table.weight, { transB: true });
}
