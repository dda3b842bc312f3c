// Prompt/completion task files (`moragrad finetune --task file.jsonl`): one JSON object per line,
//
//   {"prompt": "Q: capital of France?\nA:", "completion": " Paris"}
//
// Blank lines are skipped; other fields are ignored. Errors name the file and line. The task trains
// on prompt + completion + eos with the loss on the completion (by default) and is scored like the
// UUID task: greedy completion of the prompt, cut at eos, against the completion.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fail } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { Example, Task } from './task.js';

export interface JsonlTaskOptions {
  /** Task name (default 'jsonl:<file name>'). */
  name?: string;
  /** Appended to each training sequence, where generation is cut when scoring (default ''). */
  eos?: string;
  /** Default 'completion'. */
  lossOn?: 'all' | 'completion';
}

/** Parses JSONL text into a task; `source` names the file in error messages. */
export function parseJsonlTask(text: string, source = 'task.jsonl', opts: JsonlTaskOptions = {}): Task {
  const op = 'parseJsonlTask';
  if (typeof text !== 'string') fail(op, `${source}: expected text, got ${typeof text}`);
  const examples: Example[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${source}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      fail(op, `${where}: not valid JSON (${(e as Error).message}); each line must be {"prompt": "...", "completion": "..."}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      fail(op, `${where}: expected an object {"prompt", "completion"}, got ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)}`);
    const { prompt, completion } = obj as Record<string, unknown>;
    if (typeof prompt !== 'string')
      fail(op, `${where}: "prompt" must be a string, got ${prompt === undefined ? 'nothing' : JSON.stringify(prompt)}`);
    if (typeof completion !== 'string')
      fail(op, `${where}: "completion" must be a string, got ${completion === undefined ? 'nothing' : JSON.stringify(completion)}`);
    if (prompt === '') fail(op, `${where}: "prompt" is empty; generation needs at least one token of context`);
    if (completion === '') fail(op, `${where}: "completion" is empty; there would be nothing to learn or score`);
    examples.push({ prompt, completion });
  });
  if (examples.length === 0) fail(op, `${source}: no examples (expected one {"prompt", "completion"} object per line)`);
  const lossOn = opts.lossOn ?? 'completion';
  if (lossOn !== 'all' && lossOn !== 'completion') fail(op, `lossOn must be 'all' or 'completion', got ${String(lossOn)}`);
  return { name: opts.name ?? `jsonl:${basename(source)}`, examples, eos: opts.eos ?? '', lossOn };
}

/** Reads a .jsonl task file. */
export async function loadJsonlTask(path: string, opts: JsonlTaskOptions = {}): Promise<Task> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return fail('loadJsonlTask', `cannot read '${path}': ${(e as Error).message}`);
  }
  return parseJsonlTask(text, path, opts);
}

/** JSONL text of examples (one {"prompt","completion"} per line, newline-terminated). */
export function toJsonl(examples: readonly Example[]): string {
  return `${examples.map((e) => JSON.stringify({ prompt: e.prompt, completion: e.completion })).join('\n')}\n`;
}

/** Writes examples as a .jsonl task file, atomically (e.g. to export the UUID task). */
export async function writeJsonlTask(path: string, examples: readonly Example[]): Promise<void> {
  await writeFileAtomic(path, toJsonl(examples));
}
