// Tokenizers: CharTokenizer (vocabulary, unknown characters, JSON round trip) and the from-scratch
// GPT-2 byte-level BPE, checked id-for-id against the gpt-3-encoder package (used here only as the
// oracle) and for exact decode(encode(s)) == s round trips over generated strings.
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { MoragradError } from '../../src/errors.js';
import { CharTokenizer, tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { bytesToUnicode, Gpt2Tokenizer } from '../../src/data/bpe.js';
import { loadMobyDick } from '../../src/data/corpus.js';

const oracle = createRequire(import.meta.url)('gpt-3-encoder') as { encode(s: string): number[]; decode(ids: number[]): string };

describe('CharTokenizer', () => {
  it('builds a sorted vocabulary of code points and round-trips text', () => {
    const tok = CharTokenizer.fromText('hello, world 🌍!');
    expect(tok.name).toBe('char');
    expect(tok.vocab).toEqual([' ', '!', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w', '🌍']);
    expect(tok.vocabSize).toBe(11);
    expect(tok.encode('hello')).toEqual([5, 4, 6, 6, 7]);
    expect(tok.encode('🌍')).toEqual([10]); // a surrogate pair is one character
    expect(tok.decode([5, 4, 6, 6, 7, 1])).toBe('hello!');
    expect(tok.decode(new Int32Array([10, 0]))).toBe('🌍 ');
    expect(tok.encode('')).toEqual([]);
  });

  it('decode(encode(s)) == s for text over its vocabulary (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.nat(), (text, seed) => {
        const tok = CharTokenizer.fromText(text);
        const chars = [...text];
        const s = Array.from({ length: seed % 30 }, (_, i) => chars[(seed + i * 7) % chars.length]).join('');
        const ids = tok.encode(s);
        expect(ids.every((id) => id >= 0 && id < tok.vocabSize)).toBe(true);
        expect(tok.decode(ids)).toBe(s);
        expect(tok.vocabSize).toBe(new Set(chars).size);
      }),
      { numRuns: 50 },
    );
  });

  it('unknown characters throw a clear error, or map to the unk character when given', () => {
    const tok = CharTokenizer.fromText('abc');
    expect(() => tok.encode('abz')).toThrow(MoragradError);
    expect(() => tok.encode('abz')).toThrow(
      /CharTokenizer.encode: character "z" \(U\+007A\) at index 2 is not in the vocabulary of 3 characters/,
    );
    expect(() => tok.decode([3])).toThrow(/CharTokenizer.decode: id 3 at position 0 is not in \[0, 3\)/);
    expect(() => tok.decode([0.5])).toThrow(/id 0.5/);
    const unk = CharTokenizer.fromText('abc', { unk: '\uFFFD' });
    expect(unk.vocabSize).toBe(4);
    expect(unk.decode(unk.encode('azb😀'))).toBe('a\uFFFDb\uFFFD');
    expect(() => CharTokenizer.fromText('')).toThrow(/text is empty/);
    expect(() => CharTokenizer.fromText('ab', { unk: 'xy' })).toThrow(/unk must be a single character/);
  });

  it('toJSON / fromJSON / tokenizerFromJSON rebuild the same tokenizer', () => {
    const tok = CharTokenizer.fromText('the quick brown fox ✓', { unk: '?' });
    const json = JSON.stringify(tok.toJSON());
    const back = tokenizerFromJSON(json);
    expect(back).toBeInstanceOf(CharTokenizer);
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(back.encode('fox ✓ §')).toEqual(tok.encode('fox ✓ §'));
    expect(CharTokenizer.fromJSON(tok.toJSON()).toJSON()).toEqual(tok.toJSON());
    expect(() => CharTokenizer.fromJSON({ type: 'char', chars: ['a', 'a'] })).toThrow(/chars\[1\] = "a" \(U\+0061\) appears twice/);
    expect(() => CharTokenizer.fromJSON({ type: 'char', chars: ['ab'] })).toThrow(/chars\[0\] must be a single character/);
    expect(() => CharTokenizer.fromJSON({ type: 'char', chars: ['a'], unk: 'b' })).toThrow(/unk "b" is not in chars/);
    expect(() => tokenizerFromJSON({ type: 'wordpiece' } as never)).toThrow(/tokenizerFromJSON: unknown tokenizer/);
    expect(() => tokenizerFromJSON('{oops')).toThrow(/tokenizerFromJSON: not valid JSON/);
    expect(tokenizerFromJSON({ type: 'gpt2' })).toBe(Gpt2Tokenizer.load());
  });
});

describe('Gpt2Tokenizer', () => {
  const tok = Gpt2Tokenizer.load();

  it('has the GPT-2 vocabulary and byte table', () => {
    expect(tok.name).toBe('gpt2');
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eotId).toBe(50256);
    const table = bytesToUnicode();
    expect(new Set(table).size).toBe(256);
    expect(table[0x20]).toBe('Ġ');
    expect(table[0x0a]).toBe('Ċ');
    expect(table[0x41]).toBe('A');
    expect(table[0x00]).toBe('\u0100');
    expect(tok.decode([tok.eotId])).toBe('<|endoftext|>');
  });

  it('gives the exact GPT-2 ids (known values and the oracle)', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Hello world!')).toEqual([18435, 995, 0]);
    const cases = [
      '',
      ' ',
      'Hello, world! How are you?',
      "I'm sure they're fine; we'll see what you've done, isn't it? She'd say I'd... 'tis",
      "CAPS CONTRACTIONS DON'T SPLIT LIKE THAT'S",
      'Numbers: 0 7 42 123456789 3.14159 1,000,000 -17 1e10 ٣٤ ⅷ',
      'Whitespace:  two   three\t\ttabs\n\nnewlines \n  \n trailing   ',
      '   leading spaces',
      'unicode: héllo naïve café Ωμέγα Привет 日本語のテキスト 한국어 עברית العربية',
      'emoji: 😀👍🏽👨‍👩‍👧‍👦 🇺🇸 flags and ZWJ',
      'symbols: @#$%^&*()_+-=[]{}|;:",.<>/?`~ \\ ©®™ — – … «»',
      'code: function f(x) { return x * 2; } // comment\n\tif (a && b) {}',
      'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money',
      'constructor toString __proto__ hasOwnProperty valueOf',
      '<|endoftext|> is plain text here',
      '\u0000\u0001\u001f\u007f\u00a0\u00ad\u2028\ufeff',
      'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    ];
    for (const s of cases) expect(tok.encode(s), JSON.stringify(s)).toEqual(oracle.encode(s));
  });

  it('matches the oracle on generated strings (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.string({ unit: 'binary', maxLength: 20 }),
          fc.string({ unit: 'grapheme', maxLength: 20 }),
        ),
        (s) => {
          expect(tok.encode(s)).toEqual(oracle.encode(s));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('decode(encode(s)) == s for any well-formed string (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.string({ unit: 'binary', maxLength: 30 }),
          fc.string({ unit: 'grapheme-composite', maxLength: 30 }),
        ),
        (s) => {
          const ids = tok.encode(s);
          expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize)).toBe(true);
          expect(tok.decode(ids)).toBe(s);
        },
      ),
      { numRuns: 100 },
    );
    expect(tok.decode(tok.encode('\ufeffBOM kept'))).toBe('\ufeffBOM kept');
  });

  it('lone surrogates become U+FFFD; partial characters decode to U+FFFD; bad ids throw', () => {
    expect(tok.decode(tok.encode('a\ud800b'))).toBe('a\ufffdb');
    const ids = tok.encode('😀'); // 4 bytes, split over several tokens
    expect(ids.length).toBeGreaterThan(1);
    expect(tok.decode(ids.slice(0, 1))).toContain('\ufffd');
    expect(Array.from(tok.decodeBytes(ids))).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(() => tok.decode([50257])).toThrow(/Gpt2Tokenizer.decode: id 50257 at position 0 is not in \[0, 50257\)/);
    expect(() => tok.decode([-1])).toThrow(MoragradError);
  });

  it('matches the oracle on a slice of Moby Dick', () => {
    const text = loadMobyDick().slice(100_000, 130_000);
    expect(tok.encode(text)).toEqual(oracle.encode(text));
  });
});
