// Scoring generated completions. The paper's "character accuracy": the fraction of the expected
// string's characters that the generation reproduces at the same position,
//
//   charAccuracy(g, e) = #{ i < |e| : g[i] = e[i] } / |e|,
//
// averaged over keys; a generation shorter than e scores its missing positions as misses and
// characters past |e| are ignored. Exact match: every character of e right (charAccuracy = 1), so
// the two metrics agree on what counts. Characters are Unicode code points.
import { fail } from '../../errors.js';
import { tensor } from '../../ops/creation.js';
import type { Tensor } from '../../tensor.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import type { Task } from './task.js';

/** Matched characters at the same position / expected length (1 when `expected` is empty). */
export function charAccuracy(generated: string, expected: string): number {
  if (typeof generated !== 'string' || typeof expected !== 'string') {
    fail('charAccuracy', `generated and expected must be strings, got ${typeof generated} and ${typeof expected}`);
  }
  const g = [...generated];
  const e = [...expected];
  if (e.length === 0) return 1;
  let hits = 0;
  for (let i = 0; i < e.length; i++) if (g[i] === e[i]) hits++;
  return hits / e.length;
}

/** 1 when all of `expected` is reproduced at its positions (`generated` starts with it), else 0. */
export function exactMatch(generated: string, expected: string): number {
  if (typeof generated !== 'string' || typeof expected !== 'string') {
    fail('exactMatch', `generated and expected must be strings, got ${typeof generated} and ${typeof expected}`);
  }
  return generated.startsWith(expected) ? 1 : 0;
}

export interface Score {
  /** Mean character accuracy over the items, in [0, 1]. */
  charAccuracy: number;
  /** Fraction of items reproduced exactly, in [0, 1]. */
  exactMatch: number;
  /** Items scored. */
  n: number;
}

/** Mean character accuracy and exact-match rate over pairs of (generated, expected). */
export function scoreCompletions(generated: readonly string[], expected: readonly string[]): Score {
  const op = 'scoreCompletions';
  if (!Array.isArray(generated) || !Array.isArray(expected)) fail(op, 'generated and expected must be arrays of strings');
  if (generated.length !== expected.length) fail(op, `got ${generated.length} generations for ${expected.length} expected strings`);
  if (expected.length === 0) fail(op, 'nothing to score: expected is empty');
  let acc = 0;
  let exact = 0;
  for (let i = 0; i < expected.length; i++) {
    acc += charAccuracy(generated[i], expected[i]);
    exact += exactMatch(generated[i], expected[i]);
  }
  return { charAccuracy: acc / expected.length, exactMatch: exact / expected.length, n: expected.length };
}

/** The completion in a generated continuation: the text up to (not including) the first `eos`. */
export function cutAtEos(text: string, eos: string): string {
  if (!eos) return text;
  const at = text.indexOf(eos);
  return at < 0 ? text : text.slice(0, at);
}

/** What `generateCompletions` needs of a model: GPT.generate and the context length (and createCache, when it has a KV cache). */
export interface Generator {
  generate(idx: Tensor, n: number, opts?: { temperature?: number; topK?: number; seed?: number; cache?: boolean }): Promise<Tensor>;
  readonly config: { readonly blockSize: number };
  createCache?(): unknown;
}

export interface GenerateCompletionsOptions {
  /** Tokens to generate per prompt. */
  maxNewTokens: number;
  /** Prompts per generate call (default 64). */
  batchSize?: number;
  /** Backend of the prompt tensors (default: the default backend). */
  backend?: 'cpu' | 'webgpu';
  /** Called after each batch with (prompts done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Greedy (temperature 0) continuations of every prompt, decoded to text (the prompt itself is not
 * included). Prompts are grouped by token length so each generate call gets a rectangular batch.
 * A model with a KV cache (GPT.createCache) decodes with it: the prompt once, then one token per
 * step (the same tokens as without it, test/nn/kv-cache.test.ts).
 */
export async function generateCompletions(
  model: Generator,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  opts: GenerateCompletionsOptions,
): Promise<string[]> {
  const op = 'generateCompletions';
  const n = opts?.maxNewTokens;
  if (!Number.isInteger(n) || n < 1) fail(op, `maxNewTokens must be a positive integer, got ${String(n)}`);
  const bs = opts.batchSize ?? 64;
  if (!Number.isInteger(bs) || bs < 1) fail(op, `batchSize must be a positive integer, got ${String(bs)}`);
  const encoded = prompts.map((p, i) => {
    const ids = tokenizer.encode(p);
    if (ids.length === 0) fail(op, `prompt ${i} is empty; generation needs at least one token of context`);
    return ids;
  });
  const groups = new Map<number, number[]>(); // prompt length -> prompt indices
  encoded.forEach((ids, i) => {
    const g = groups.get(ids.length);
    if (g) g.push(i);
    else groups.set(ids.length, [i]);
  });
  const out = new Array<string>(prompts.length);
  let done = 0;
  for (const [L, members] of groups) {
    for (let s = 0; s < members.length; s += bs) {
      const rows = members.slice(s, s + bs);
      const idx = tensor(
        rows.flatMap((i) => encoded[i]),
        [rows.length, L],
        { dtype: 'int32', backend: opts.backend },
      ); // (B, L)
      let res: Tensor;
      try {
        res = await model.generate(idx, n, { temperature: 0, cache: model.createCache !== undefined }); // (B, L + n)
      } finally {
        idx.dispose();
      }
      const flat = await res.data();
      res.dispose();
      const W = L + n;
      rows.forEach((i, b) => {
        out[i] = tokenizer.decode(flat.subarray(b * W + L, (b + 1) * W));
      });
      done += rows.length;
      opts.onProgress?.(done, prompts.length);
    }
  }
  return out;
}

export interface TaskEvaluation extends Score {
  /** The generated completion of every example (cut at the task's eos). */
  generated: string[];
}

/**
 * Greedy completion of every example's prompt, scored against its completion. Generates as many
 * tokens as the longest completion + eos encodes to, then cuts each continuation at the task's eos.
 */
export async function evaluateTask(
  model: Generator,
  tokenizer: Tokenizer,
  task: Task,
  opts: Omit<GenerateCompletionsOptions, 'maxNewTokens'> & { maxNewTokens?: number } = {},
): Promise<TaskEvaluation> {
  const longest = Math.max(...task.examples.map((ex) => tokenizer.encode(ex.completion + task.eos).length));
  const raw = await generateCompletions(
    model,
    tokenizer,
    task.examples.map((ex) => ex.prompt),
    { ...opts, maxNewTokens: opts.maxNewTokens ?? Math.max(1, longest) },
  );
  const generated = raw.map((t) => cutAtEos(t, task.eos));
  return {
    ...scoreCompletions(
      generated,
      task.examples.map((ex) => ex.completion),
    ),
    generated,
  };
}
