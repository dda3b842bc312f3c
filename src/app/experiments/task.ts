// Prompt/completion tasks for fine-tuning and how they become training batches.
//
// A task is a list of examples { prompt, completion } plus an end marker `eos` (e.g. '\n'). Example
// i trains on the text  prompt + completion + eos  and is evaluated by generating from `prompt` and
// comparing the result, cut at `eos`, with `completion`. Where the loss falls is the task's
// `lossOn`: 'all' (every next-token target of the sequence, as the paper's UUID task does) or
// 'completion' (only the tokens of completion + eos; the prompt's targets are -1, which
// GPT.forward's cross-entropy ignores).
//
// Batches hold one example per row, left-aligned and padded to a fixed length T:
//
//   ids  = encode(prompt + completion + eos)            (L tokens, L - 1 <= T)
//   x[b] = ids[0 .. L-1) ++ pad ...                     (T inputs; pad is token 0, never a target)
//   y[b] = ids[1 .. L)   ++ -1 ...                      (y[b][t] is the token after x[b][t])
//
// Examples are visited epoch by epoch, each epoch in a fresh seeded order (a Fisher-Yates shuffle
// driven by a HostRng keyed by (seed, epoch)); a batch that runs past the end of an epoch takes its
// remaining rows from the next one, so every batch is full and every example is seen once per epoch.
import { fail } from '../../errors.js';
import { HostRng, pcg } from '../../ops/random.js';
import type { Batch } from '../../data/batching.js';
import type { Tokenizer } from '../../data/tokenizer.js';

export interface Example {
  prompt: string;
  completion: string;
}

export interface Task {
  /** 'uuid', or 'jsonl:<file name>', or anything descriptive. */
  name: string;
  examples: readonly Example[];
  /** Appended to every training sequence and where generation is cut when scoring (may be ''). */
  eos: string;
  /** Which next-token targets carry the loss. */
  lossOn: 'all' | 'completion';
}

/** The training text of an example: prompt + completion + eos. */
export function sequenceText(task: Task, i: number): string {
  const ex = task.examples[i];
  if (!ex) fail('sequenceText', `example ${i} is out of range [0, ${task.examples.length})`);
  return ex.prompt + ex.completion + task.eos;
}

/** Every character the task's text uses, sorted by code point (one entry per Unicode code point). */
export function taskChars(task: Task): string[] {
  const set = new Set<string>(task.eos);
  for (const ex of task.examples) {
    for (const c of ex.prompt) set.add(c);
    for (const c of ex.completion) set.add(c);
  }
  return [...set].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

const show = (c: string): string => `${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;

/**
 * The characters of `text` (or of every sequence of a task) that `tokenizer` cannot encode faithfully:
 * those whose encode/decode round trip does not give the character back (an unknown character either
 * throws or maps to an `unk` id). Byte-level tokenizers (GPT-2) never miss any.
 */
export function missingChars(tokenizer: Tokenizer, text: string | Task): string[] {
  const chars = typeof text === 'string' ? [...new Set(text)] : taskChars(text);
  const missing: string[] = [];
  for (const c of chars) {
    let ok = false;
    try {
      ok = tokenizer.decode(tokenizer.encode(c)) === c;
    } catch {
      ok = false;
    }
    if (!ok) missing.push(c);
  }
  return missing.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

/**
 * Throws a clear error if the tokenizer cannot encode every character of the task (or text). A
 * char-level base model trained on a corpus only knows the corpus' characters; build its tokenizer
 * from corpus + task text (CharTokenizer.fromText(corpus + taskChars(task).join(''))) when the
 * corpus lacks some. (Moby Dick has all of 0-9, a-f, '-', ':' and '\n', so the UUID task fits.)
 */
export function ensureChars(
  tokenizer: Tokenizer,
  text: string | Task,
  what = typeof text === 'string' ? 'the text' : `task '${text.name}'`,
): void {
  const missing = missingChars(tokenizer, text);
  if (missing.length > 0) {
    fail(
      'ensureChars',
      `${what} uses ${missing.length} character${missing.length === 1 ? '' : 's'} the ${tokenizer.name} tokenizer (vocabulary ${tokenizer.vocabSize}) cannot encode: ${missing.map(show).join(', ')}; ` +
        `build the tokenizer from a text that contains them (e.g. CharTokenizer.fromText(corpus + taskChars(task).join('')))`,
    );
  }
}

export interface EncodedExample {
  /** encode(prompt + completion + eos). */
  ids: Int32Array;
  /** Tokens of the prompt (the length of encode(prompt)); with BPE merges across the boundary this is approximate. */
  promptLength: number;
}

/** Tokenizes every example (checking first that the tokenizer covers the task's characters). */
export function encodeTask(task: Task, tokenizer: Tokenizer): EncodedExample[] {
  const op = 'encodeTask';
  if (task.examples.length === 0) fail(op, `task '${task.name}' has no examples`);
  ensureChars(tokenizer, task);
  return task.examples.map((ex, i) => {
    const ids = Int32Array.from(tokenizer.encode(ex.prompt + ex.completion + task.eos));
    if (ids.length < 2)
      fail(op, `example ${i} of task '${task.name}' encodes to ${ids.length} token(s); a training sequence needs at least 2`);
    return { ids, promptLength: tokenizer.encode(ex.prompt).length };
  });
}

/** Where a TaskBatcher is in its sequence of batches (save it in a checkpoint to resume). */
export interface TaskBatcherState {
  seed: number;
  epoch: number;
  /** Rows of the current epoch's order already used. */
  cursor: number;
  /** Batches produced so far. */
  step: number;
}

export interface TaskBatcherOptions {
  batchSize: number;
  /** Row length T; default: the longest sequence minus one (the least padding). */
  blockSize?: number;
  seed: number;
  /** Default: the task's lossOn. */
  lossOn?: 'all' | 'completion';
  /** The input id written after a sequence ends (default 0; it is never a target). */
  padId?: number;
}

/** A uniformly random permutation of [0, n) drawn from `rng` (Fisher-Yates, last index first). */
export function permutation(n: number, rng: HostRng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The seeded order of the examples in one epoch: a permutation of [0, n). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return Int32Array.from(permutation(n, new HostRng(pcg((seed >>> 0) ^ pcg(epoch >>> 0)))));
}

/** Fixed-length padded batches of a task's examples, shuffled per epoch, reproducible and resumable. */
export class TaskBatcher implements Iterable<Batch & { indices: Int32Array }> {
  readonly batchSize: number;
  readonly blockSize: number;
  readonly seed: number;
  readonly lossOn: 'all' | 'completion';
  readonly padId: number;
  readonly encoded: readonly EncodedExample[];
  private order: Int32Array;
  private epoch = 0;
  private cursor = 0;
  private _step = 0;

  constructor(task: Task, tokenizer: Tokenizer, opts: TaskBatcherOptions) {
    const op = 'TaskBatcher';
    if (!opts || typeof opts !== 'object') fail(op, 'options { batchSize, seed } are required');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
      fail(op, `batchSize must be a positive integer, got ${String(opts.batchSize)}`);
    if (!Number.isInteger(opts.seed)) fail(op, `seed must be an integer, got ${String(opts.seed)}`);
    this.encoded = encodeTask(task, tokenizer);
    const longest = Math.max(...this.encoded.map((e) => e.ids.length));
    const T = opts.blockSize ?? longest - 1;
    if (!Number.isInteger(T) || T < 1) fail(op, `blockSize must be a positive integer, got ${String(opts.blockSize)}`);
    if (longest - 1 > T) {
      const at = this.encoded.findIndex((e) => e.ids.length === longest);
      fail(
        op,
        `example ${at} of task '${task.name}' is ${longest} tokens long and needs blockSize >= ${longest - 1} (inputs are all tokens but the last), got ${T}; use a model with a larger blockSize`,
      );
    }
    const pad = opts.padId ?? 0;
    if (!Number.isInteger(pad) || pad < 0 || pad >= tokenizer.vocabSize)
      fail(op, `padId must be a token id in [0, ${tokenizer.vocabSize}), got ${String(pad)}`);
    const lossOn = opts.lossOn ?? task.lossOn;
    if (lossOn !== 'all' && lossOn !== 'completion') fail(op, `lossOn must be 'all' or 'completion', got ${String(lossOn)}`);
    this.batchSize = opts.batchSize;
    this.blockSize = T;
    this.seed = opts.seed;
    this.lossOn = lossOn;
    this.padId = pad;
    this.order = epochOrder(this.encoded.length, this.seed, 0);
  }

  /** Examples in the task. */
  get size(): number {
    return this.encoded.length;
  }

  /** Batches produced so far. */
  get step(): number {
    return this._step;
  }

  /** Writes example `i` into row `r` of (x, y), both (B, T). */
  fillRow(x: Int32Array, y: Int32Array, r: number, i: number): void {
    const T = this.blockSize;
    const { ids, promptLength } = this.encoded[i];
    const n = ids.length - 1; // inputs/targets in this row
    const o = r * T;
    x.fill(this.padId, o, o + T);
    y.fill(-1, o, o + T);
    x.set(ids.subarray(0, n), o);
    y.set(ids.subarray(1, n + 1), o);
    // Target y[t] = ids[t+1] belongs to the prompt when t + 1 < promptLength.
    if (this.lossOn === 'completion') y.fill(-1, o, o + Math.min(n, Math.max(0, promptLength - 1)));
  }

  /** The next batch; `indices` says which example each row holds. */
  next(): Batch & { indices: Int32Array } {
    const B = this.batchSize;
    const T = this.blockSize;
    const x = new Int32Array(B * T); // (B, T)
    const y = new Int32Array(B * T); // (B, T)
    const indices = new Int32Array(B); // (B)
    for (let r = 0; r < B; r++) {
      if (this.cursor === this.order.length) {
        this.epoch++;
        this.cursor = 0;
        this.order = epochOrder(this.encoded.length, this.seed, this.epoch);
      }
      const i = this.order[this.cursor++];
      indices[r] = i;
      this.fillRow(x, y, r, i);
    }
    this._step++;
    return { x, y, batchSize: B, blockSize: T, indices };
  }

  /** A copy of the position in the sequence of batches. */
  get state(): TaskBatcherState {
    return { seed: this.seed, epoch: this.epoch, cursor: this.cursor, step: this._step };
  }

  /** Continues from a saved state (it must come from a batcher with the same seed and task). */
  set state(s: TaskBatcherState) {
    const op = 'TaskBatcher.state';
    if (!s || typeof s !== 'object') fail(op, `expected { seed, epoch, cursor, step }, got ${String(s)}`);
    if (s.seed !== this.seed) fail(op, `state was saved with seed ${s.seed}, this batcher uses seed ${this.seed}`);
    for (const k of ['epoch', 'cursor', 'step'] as const) {
      if (!Number.isSafeInteger(s[k]) || s[k] < 0) fail(op, `${k} must be a non-negative integer, got ${String(s[k])}`);
    }
    if (s.cursor > this.encoded.length) fail(op, `cursor ${s.cursor} is past the ${this.encoded.length} examples of an epoch`);
    this.epoch = s.epoch;
    this.cursor = s.cursor;
    this._step = s.step;
    this.order = epochOrder(this.encoded.length, this.seed, this.epoch);
  }

  /** An endless iterator of batches. */
  *[Symbol.iterator](): Iterator<Batch & { indices: Int32Array }> {
    for (;;) yield this.next();
  }
}
