// HfTokenizer (tokenizer.json through @huggingface/tokenizers) on two hand-made tokenizer.json
// fixtures (test/fixtures/hf/tokenizers, written by make_tokenizers.py). Every expected id list is
// derived by hand from the fixture's vocabulary and merge ranks; the derivation is in the comment.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HfTokenizer } from '../../src/app/models/hf/index.js';
import { tokenizerFromJSON } from '../../src/data/tokenizer.js';

const DIR = join(import.meta.dirname, '../fixtures/hf/tokenizers');

describe('HfTokenizer: SentencePiece-style BPE with byte fallback (LLaMA layout)', async () => {
  const tok = await HfTokenizer.fromDir(join(DIR, 'sp-bpe'));
  // ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, ▁ 259, h 260, e 261, l 262, o 263, w 264,
  // r 265, d 266, he 267, ll 268, llo 269, hello 270, ▁hello 271, ▁w 272, or 273, ▁wor 274,
  // ▁worl 275, ▁world 276. Merge ranks: h e, l l, ll o, he llo, ▁ hello, ▁ w, o r, ▁w or, ▁wor l, ▁worl d.
  const cases: [string, number[], string][] = [
    // '▁hello▁world': h+e, l+l, ll+o, he+llo, ▁+hello, ▁+w, o+r, ▁w+or, ▁wor+l, ▁worl+d
    ['hello world', [271, 276], 'merges down to ▁hello ▁world'],
    // '▁hé': no merge applies; é is not in the vocabulary: UTF-8 C3 A9 -> <0xC3> = 3 + 195, <0xA9> = 3 + 169
    ['hé', [259, 260, 198, 172], 'byte fallback'],
    // the special token is split off before normalisation: 'hello' -> '▁hello', then </s>
    ['hello</s>', [271, 2], 'special token in the text'],
    // '▁he▁' : h+e, then ▁ he ▁ has no further merge
    ['he ', [259, 267, 259], 'partial merges'],
  ];
  for (const [text, ids, what] of cases) {
    it(`${what}: ${JSON.stringify(text)} -> [${ids.join(', ')}] and back`, () => {
      expect(tok.encode(text)).toEqual(ids);
      expect(tok.decode(ids)).toBe(text);
    });
  }
  it('the post-processor adds <s> only when asked; vocabulary size; special ids; toJSON', () => {
    expect(tok.encode('hello world', { addSpecialTokens: true })).toEqual([1, 271, 276]);
    expect(tok.vocabSize).toBe(277);
    expect(tok.tokenId('</s>')).toBe(2);
    expect(tok.decode([1, 271, 2], { skipSpecialTokens: true })).toBe('hello');
    expect(() => tok.decode([277])).toThrow(/HfTokenizer.decode: id 277 at position 0 is not in \[0, 277\)/);
    expect(() => tokenizerFromJSON(tok.toJSON())).toThrow(/read from its model folder: use loadHF/);
  });
});

describe('HfTokenizer: byte-level BPE (GPT-2 layout)', async () => {
  const tok = await HfTokenizer.fromDir(join(DIR, 'byte-bpe'));
  // ids 0..255: GPT-2's bytes_to_unicode order ('!'..'~' = 0..93, '¡'..'¬' = 94..105, '®'..'ÿ' =
  // 106..187, then the other bytes 0..32, 127..160, 173 = 188..255, so ' ' -> 'Ġ' = 220); then
  // Ġt 256, he 257, Ġthe 258, ca 259, cat 260, Ġcat 261, <|endoftext|> 262.
  const cases: [string, number[], string][] = [
    // pre-tokens 'the', ' cat': t(116-33 = 83) h+e -> [83, 257]; Ġ c a t: c+a, ca+t, Ġ+cat -> 261
    ['the cat', [83, 257, 261], 'merges within pre-tokens'],
    // Ġ t h e: Ġ+t (rank 0) before h+e (rank 1), then Ġt+he
    [' the', [258], 'merge ranks decide the order'],
    ['the cat<|endoftext|>', [83, 257, 261, 262], 'special token'],
    // é = C3 A9: 0xC3 = 195 -> 106 + (195 - 174) = 127, 0xA9 = 169 -> 94 + (169 - 161) = 102
    ['é', [127, 102], 'bytes of a non-ASCII character'],
    // 'a' = 97 - 33 = 64; ' b': Ġ (220) and b (65) do not merge
    ['a b', [64, 220, 65], 'unmerged space'],
  ];
  for (const [text, ids, what] of cases) {
    it(`${what}: ${JSON.stringify(text)} -> [${ids.join(', ')}] and back`, () => {
      expect(tok.encode(text)).toEqual(ids);
      expect(tok.decode(ids)).toBe(text);
    });
  }
  it('vocabulary size counts the added token', () => expect(tok.vocabSize).toBe(263));
});

describe('HfTokenizer errors', () => {
  it('a folder without tokenizer.json is refused, naming the file', async () => {
    await expect(HfTokenizer.fromDir(join(DIR, 'nowhere'))).rejects.toThrow(/HfTokenizer: .*tokenizer.json is missing/);
  });
});
