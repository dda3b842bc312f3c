// Character accuracy and exact match with known answers, and greedy evaluation of a task through
// GPT.generate (a scripted model, and a tiny real GPT on the cpu backend).
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { CharTokenizer } from '../../src/data/tokenizer.js';
import { GPT } from '../../src/nn/gpt.js';
import { tensor } from '../../src/ops/creation.js';
import type { Tensor } from '../../src/tensor.js';
import {
  charAccuracy,
  cutAtEos,
  evaluateTask,
  exactMatch,
  generateCompletions,
  scoreCompletions,
  type Generator,
} from '../../src/app/experiments/accuracy.js';
import { makeUuidTask } from '../../src/app/experiments/uuid.js';

describe('charAccuracy', () => {
  it('counts matching characters at the same position over the expected length', () => {
    expect(charAccuracy('abcd', 'abcd')).toBe(1);
    expect(charAccuracy('abXd', 'abcd')).toBe(0.75);
    expect(charAccuracy('bcda', 'abcd')).toBe(0); // shifted: nothing at the same position
    expect(charAccuracy('ab', 'abcd')).toBe(0.5); // too short: missing positions are misses
    expect(charAccuracy('abcdEXTRA', 'abcd')).toBe(1); // past the expected length: ignored
    expect(charAccuracy('', 'abcd')).toBe(0);
    expect(charAccuracy('anything', '')).toBe(1);
    expect(charAccuracy('é🙂x', 'é🙂y')).toBeCloseTo(2 / 3, 12); // code points, not UTF-16 units
    const v = '7d2e4b10-98aa-4c6f-b1e3-55f0a9c2d7e4';
    expect(charAccuracy(`${v.slice(0, 27)}000000000`, v)).toBe(27 / 36 + [...v.slice(27)].filter((c) => c === '0').length / 36);
  });

  it('exact match needs every expected character; scores average over keys', () => {
    expect(exactMatch('abcd', 'abcd')).toBe(1);
    expect(exactMatch('abcde', 'abcd')).toBe(1);
    expect(exactMatch('abc', 'abcd')).toBe(0);
    const s = scoreCompletions(['abcd', 'abXX', ''], ['abcd', 'abcd', 'abcd']);
    expect(s.n).toBe(3);
    expect(s.charAccuracy).toBeCloseTo((1 + 0.5 + 0) / 3, 12);
    expect(s.exactMatch).toBeCloseTo(1 / 3, 12);
  });

  it('cuts a generation at the end marker and rejects bad input clearly', () => {
    expect(cutAtEos('abc\ndef', '\n')).toBe('abc');
    expect(cutAtEos('abc', '\n')).toBe('abc');
    expect(cutAtEos('abc\n', '')).toBe('abc\n');
    expect(() => scoreCompletions(['a'], ['a', 'b'])).toThrow(/scoreCompletions: got 1 generations for 2 expected strings/);
    expect(() => scoreCompletions([], [])).toThrow(/nothing to score/);
    expect(() => charAccuracy(3 as unknown as string, 'a')).toThrow(
      /charAccuracy: generated and expected must be strings, got number and string/,
    );
  });
});

/** A model that "knows" the answers: appends the tokens of answer(prompt text) (or pad). */
function scripted(tok: CharTokenizer, answer: (prompt: string) => string, calls: number[][] = []): Generator {
  return {
    config: { blockSize: 128 },
    async generate(idx: Tensor, n: number): Promise<Tensor> {
      const [B, T] = idx.shape;
      const flat = await idx.data();
      calls.push([B, T, n]);
      const rows: number[] = [];
      for (let b = 0; b < B; b++) {
        const prompt = Array.from(flat.subarray(b * T, (b + 1) * T));
        const ans = tok.encode(answer(tok.decode(prompt)).padEnd(n, '\n').slice(0, n));
        rows.push(...prompt, ...ans);
      }
      return tensor(rows, [B, T + n], { dtype: 'int32', backend: 'cpu' });
    },
  };
}

describe('evaluateTask', () => {
  const task = makeUuidTask({ n: 12, seed: 5 });
  const tok = CharTokenizer.fromText(task.sequences.join(''));

  it('scores a perfect model 100% and a half-right model by its characters', async () => {
    const calls: number[][] = [];
    const perfect = await evaluateTask(
      scripted(tok, (p) => `${task.expected(p.slice(0, -1))}\nabcd`, calls),
      tok,
      task,
      { batchSize: 5, backend: 'cpu' },
    );
    expect(perfect.charAccuracy).toBe(1);
    expect(perfect.exactMatch).toBe(1);
    expect(perfect.generated).toEqual(task.pairs.map((p) => p.value));
    expect(calls).toEqual([
      [5, 37, 37],
      [5, 37, 37],
      [2, 37, 37],
    ]); // 36 chars + '\n', batches of 5
    const half = await evaluateTask(
      scripted(tok, (p) => task.expected(p.slice(0, -1)).slice(0, 18) + '0'.repeat(18)),
      tok,
      task,
      { backend: 'cpu' },
    );
    const want = task.pairs.reduce((s, { value }) => s + charAccuracy(value.slice(0, 18) + '0'.repeat(18), value), 0) / 12;
    expect(half.charAccuracy).toBeCloseTo(want, 12);
    expect(half.exactMatch).toBe(task.pairs.filter((p) => p.value.slice(18) === '0'.repeat(18)).length / 12);
  });

  it('groups prompts of different lengths and keeps their order', async () => {
    const t2 = CharTokenizer.fromText('abcdefgh\n');
    const prompts = ['ab', 'abcd', 'a', 'abc', 'ba'];
    const calls: number[][] = [];
    const reverse = (p: string) => [...p].reverse().join('');
    const out = await generateCompletions(scripted(t2, reverse, calls), t2, prompts, { maxNewTokens: 2, backend: 'cpu' });
    expect(out).toEqual(['ba', 'dc', 'a\n', 'cb', 'ab']);
    expect(calls.map((c) => c[1]).sort()).toEqual([1, 2, 3, 4]);
  });

  it('matches GPT.generate at temperature 0 on a tiny real model (cpu)', async () => {
    const t3 = CharTokenizer.fromText('abcdefgh:\n');
    const model = new GPT({ vocabSize: t3.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8, backend: 'cpu', seed: 3 });
    const prompts = ['abc:', 'hgf:', 'ab:'];
    const out = await generateCompletions(model, t3, prompts, { maxNewTokens: 4, batchSize: 2, backend: 'cpu' });
    for (const [i, p] of prompts.entries()) {
      const one = await model.generate(mg.tensor(t3.encode(p), [1, p.length], { dtype: 'int32', backend: 'cpu' }), 4, { temperature: 0 });
      expect(out[i]).toBe(t3.decode((await one.data()).subarray(p.length)));
    }
    model.dispose();
  });
});
