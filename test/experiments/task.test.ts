// The UUID memorisation task, prompt/completion task files and their batching: uuid4 format and
// seeding, sequences and prompts, tokenizer coverage errors, padded fixed-length batches with -1
// targets, per-epoch seeded shuffling that visits every example once, and resuming from a state.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../../src/data/tokenizer.js';
import { loadMobyDick } from '../../src/data/corpus.js';
import { HostRng } from '../../src/ops/random.js';
import { makeUuidTask, uuid4, UUID4_PATTERN, UUID_CHARS, UUID_LENGTH } from '../../src/app/experiments/uuid.js';
import {
  TaskBatcher,
  encodeTask,
  ensureChars,
  epochOrder,
  missingChars,
  sequenceText,
  taskChars,
  type Task,
} from '../../src/app/experiments/task.js';
import { loadJsonlTask, parseJsonlTask, toJsonl, writeJsonlTask } from '../../src/app/experiments/jsonl.js';

const mobyTok = () => CharTokenizer.fromText(loadMobyDick());

describe('uuid4', () => {
  it('has the RFC 4122 version-4 layout: 8-4-4-4-12 hex, version nibble 4, variant 10xx', () => {
    const rng = new HostRng(1);
    const variants = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const u = uuid4(rng);
      expect(u).toHaveLength(UUID_LENGTH);
      expect(u).toMatch(UUID4_PATTERN);
      variants.add(u[19]);
    }
    expect([...variants].sort()).toEqual(['8', '9', 'a', 'b']);
  });

  it('uses every hex digit roughly uniformly', () => {
    const rng = new HostRng(2);
    const counts = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const u = uuid4(rng).replace(/-/g, '');
      for (let j = 0; j < 32; j++) if (j !== 12 && j !== 16) counts.set(u[j], (counts.get(u[j]) ?? 0) + 1);
    }
    expect(counts.size).toBe(16);
    for (const c of counts.values()) expect(Math.abs(c / 15000 - 1 / 16)).toBeLessThan(0.01); // 500 * 30 digits
  });
});

describe('makeUuidTask', () => {
  it('makes n distinct seeded key:value pairs, sequences "<key>:<value>\\n" and prompts "<key>:"', () => {
    const t = makeUuidTask({ n: 50, seed: 3 });
    expect(t.pairs).toHaveLength(50);
    expect(new Set(t.keys).size).toBe(50);
    for (const [i, { key, value }] of t.pairs.entries()) {
      expect(key).toMatch(UUID4_PATTERN);
      expect(value).toMatch(UUID4_PATTERN);
      expect(t.sequences[i]).toBe(`${key}:${value}\n`);
      expect(sequenceText(t, i)).toBe(t.sequences[i]);
      expect(t.prompt(key)).toBe(`${key}:`);
      expect(t.expected(key)).toBe(value);
      expect(t.examples[i]).toEqual({ prompt: `${key}:`, completion: value });
    }
    expect(t.lossOn).toBe('all');
    expect(t.eos).toBe('\n');
    expect(taskChars(t).join('')).toBe(UUID_CHARS);
  });

  it('is reproducible by seed, differs across seeds, and extends with n', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 1, max: 20 }), (seed, n) => {
        const a = makeUuidTask({ n, seed });
        expect(makeUuidTask({ n, seed }).pairs).toEqual(a.pairs);
        expect(makeUuidTask({ n: 2 * n, seed }).pairs.slice(0, n)).toEqual(a.pairs);
        expect(makeUuidTask({ n, seed: seed + 1 }).keys[0]).not.toBe(a.keys[0]);
      }),
      { numRuns: 15 },
    );
  });

  it('gives clear errors for bad options and unknown keys', () => {
    expect(() => makeUuidTask({ n: 0, seed: 1 })).toThrow(/makeUuidTask: n must be a positive integer, got 0/);
    expect(() => makeUuidTask({ n: 2, seed: 1.5 })).toThrow(/makeUuidTask: seed must be an integer, got 1.5/);
    expect(() => makeUuidTask({ n: 2, seed: 1 }).expected('nope')).toThrow(/unknown key "nope": not one of the task's 2 keys/);
  });
});

describe('tokenizer coverage', () => {
  it("Moby Dick's character vocabulary covers the UUID task", () => {
    const task = makeUuidTask({ n: 20, seed: 0 });
    const tok = mobyTok();
    expect(missingChars(tok, task)).toEqual([]);
    expect(() => ensureChars(tok, task)).not.toThrow();
    const enc = encodeTask(task, tok);
    expect(enc[0].ids).toHaveLength(74);
    expect(enc[0].promptLength).toBe(37);
    expect(tok.decode(enc[0].ids)).toBe(task.sequences[0]);
  });

  it('names every missing character and says how to fix it', () => {
    const task = makeUuidTask({ n: 5, seed: 0 });
    const tok = CharTokenizer.fromText('0123456789abcdef-\n'); // no ':'
    expect(missingChars(tok, task)).toEqual([':']);
    expect(() => ensureChars(tok, task)).toThrow(
      /ensureChars: task 'uuid' uses 1 character the char tokenizer \(vocabulary 18\) cannot encode: ":" \(U\+003A\); build the tokenizer from a text that contains them/,
    );
    const withUnk = CharTokenizer.fromText('abc', { unk: '?' });
    expect(missingChars(withUnk, 'abz')).toEqual(['z']); // maps to unk: not faithful
    expect(() => encodeTask(task, tok)).toThrow(/ensureChars/);
  });
});

describe('TaskBatcher', () => {
  const task = makeUuidTask({ n: 10, seed: 4 });
  const tok = mobyTok();

  it('pads rows to T with -1 targets; y is x shifted by one; the loss covers the whole sequence', () => {
    const b = new TaskBatcher(task, tok, { batchSize: 4, blockSize: 80, seed: 1 });
    const batch = b.next();
    expect(batch.batchSize).toBe(4);
    expect(batch.blockSize).toBe(80);
    expect(batch.x).toHaveLength(320);
    for (let r = 0; r < 4; r++) {
      const ids = tok.encode(task.sequences[batch.indices[r]]); // 74 tokens
      const x = Array.from(batch.x.subarray(r * 80, (r + 1) * 80));
      const y = Array.from(batch.y.subarray(r * 80, (r + 1) * 80));
      expect(x.slice(0, 73)).toEqual(ids.slice(0, 73));
      expect(y.slice(0, 73)).toEqual(ids.slice(1));
      expect(x.slice(73)).toEqual(new Array(7).fill(0));
      expect(y.slice(73)).toEqual(new Array(7).fill(-1));
    }
  });

  it('defaults T to the longest sequence minus one and can put the loss on the completion only', () => {
    const b = new TaskBatcher(task, tok, { batchSize: 2, seed: 1, lossOn: 'completion' });
    expect(b.blockSize).toBe(73);
    const { y, indices } = b.next();
    const ids = tok.encode(task.sequences[indices[0]]);
    const row = Array.from(y.subarray(0, 73));
    expect(row.slice(0, 36)).toEqual(new Array(36).fill(-1)); // targets inside "<key>:" are masked
    expect(row.slice(36)).toEqual(ids.slice(37)); // the value's first char onward, and '\n'
  });

  it('visits every example once per epoch in a seeded order, reproducibly, and resumes from a state', () => {
    const n = task.examples.length;
    const b = new TaskBatcher(task, tok, { batchSize: 3, seed: 9 });
    const seen: number[] = [];
    for (let s = 0; s < 10; s++) seen.push(...b.next().indices); // 30 rows = 3 epochs
    for (let e = 0; e < 3; e++) {
      const epoch = seen.slice(e * n, (e + 1) * n);
      expect([...epoch].sort((p, q) => p - q)).toEqual([...Array(n).keys()]);
      expect(epoch).toEqual(Array.from(epochOrder(n, 9, e)));
    }
    expect(seen.slice(0, n)).not.toEqual(seen.slice(n, 2 * n)); // reshuffled
    const again = new TaskBatcher(task, tok, { batchSize: 3, seed: 9 });
    const a4 = [0, 1, 2, 3].map(() => again.next());
    const state = again.state;
    expect(state).toEqual({ seed: 9, epoch: 1, cursor: 2, step: 4 });
    const next = again.next();
    const resumed = new TaskBatcher(task, tok, { batchSize: 3, seed: 9 });
    resumed.state = state;
    const r = resumed.next();
    expect(Array.from(r.indices)).toEqual(Array.from(next.indices));
    expect(Array.from(r.x)).toEqual(Array.from(next.x));
    expect(a4[0].indices).toEqual(new TaskBatcher(task, tok, { batchSize: 3, seed: 9 }).next().indices);
    expect(Array.from(new TaskBatcher(task, tok, { batchSize: 3, seed: 10 }).next().indices)).not.toEqual(Array.from(a4[0].indices));
  });

  it('gives clear errors', () => {
    expect(() => new TaskBatcher(task, tok, { batchSize: 2, blockSize: 64, seed: 0 })).toThrow(
      /TaskBatcher: example \d+ of task 'uuid' is 74 tokens long and needs blockSize >= 73 .*got 64/,
    );
    expect(() => new TaskBatcher(task, tok, { batchSize: 0, seed: 0 })).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new TaskBatcher(task, tok, { batchSize: 2, seed: 0, padId: 999 })).toThrow(
      /padId must be a token id in \[0, \d+\), got 999/,
    );
    const b = new TaskBatcher(task, tok, { batchSize: 2, seed: 0 });
    expect(() => (b.state = { seed: 1, epoch: 0, cursor: 0, step: 0 })).toThrow(/saved with seed 1, this batcher uses seed 0/);
  });
});

describe('JSONL tasks', () => {
  it('parses prompt/completion lines, skipping blanks, with the loss on the completion by default', () => {
    const t = parseJsonlTask('{"prompt":"Q: 1+1?\\nA:","completion":" 2"}\n\n{"prompt":"x","completion":"y","extra":1}\n', 'math.jsonl');
    expect(t).toEqual({
      name: 'jsonl:math.jsonl',
      examples: [
        { prompt: 'Q: 1+1?\nA:', completion: ' 2' },
        { prompt: 'x', completion: 'y' },
      ],
      eos: '',
      lossOn: 'completion',
    });
    expect(parseJsonlTask(toJsonl(t.examples), 'math.jsonl').examples).toEqual(t.examples);
  });

  it('names the file and line of every kind of bad input', () => {
    expect(() => parseJsonlTask('{"prompt":"a","completion":"b"}\n{oops', 'f.jsonl')).toThrow(/parseJsonlTask: f.jsonl:2: not valid JSON/);
    expect(() => parseJsonlTask('[1]', 'f.jsonl')).toThrow(/f.jsonl:1: expected an object \{"prompt", "completion"\}, got an array/);
    expect(() => parseJsonlTask('{"prompt":"a"}', 'f.jsonl')).toThrow(/f.jsonl:1: "completion" must be a string, got nothing/);
    expect(() => parseJsonlTask('{"prompt":3,"completion":"b"}', 'f.jsonl')).toThrow(/f.jsonl:1: "prompt" must be a string, got 3/);
    expect(() => parseJsonlTask('{"prompt":"","completion":"b"}', 'f.jsonl')).toThrow(/"prompt" is empty/);
    expect(() => parseJsonlTask('\n\n', 'f.jsonl')).toThrow(/f.jsonl: no examples/);
  });

  it('round-trips through a file and batches like any task', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-jsonl-'));
    try {
      const uuid = makeUuidTask({ n: 3, seed: 0 });
      const path = join(dir, 'uuid.jsonl');
      await writeJsonlTask(path, uuid.examples);
      const t: Task = await loadJsonlTask(path, { eos: '\n', lossOn: 'all' });
      expect(t.examples).toEqual(uuid.examples);
      expect(sequenceText(t, 1)).toBe(uuid.sequences[1]);
      await writeFile(join(dir, 'bad.jsonl'), '{"prompt": 1}\n');
      await expect(loadJsonlTask(join(dir, 'bad.jsonl'))).rejects.toThrow(/bad.jsonl:1: "prompt" must be a string/);
      await expect(loadJsonlTask(join(dir, 'missing.jsonl'))).rejects.toThrow(/loadJsonlTask: cannot read '.*missing.jsonl'/);
      const b = new TaskBatcher(t, CharTokenizer.fromText(uuid.sequences.join('')), { batchSize: 3, seed: 0 });
      expect(b.next().x).toHaveLength(3 * 73);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
