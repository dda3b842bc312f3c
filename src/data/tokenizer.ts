// Tokenizers turn text into integer ids and back. Two are provided: CharTokenizer (one id per
// character of a training text) and Gpt2Tokenizer (GPT-2's byte-level BPE, src/data/bpe.ts).
import { fail } from '../errors.js';
import { Gpt2Tokenizer } from './bpe.js';

export interface Tokenizer {
  /** 'char' or 'gpt2'. */
  readonly name: string;
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** A JSON-able description for checkpoints; `tokenizerFromJSON` rebuilds the tokenizer. */
  toJSON(): TokenizerJSON;
}

/** 'hf': a Hugging Face tokenizer.json, rebuilt from its model folder (models/hf), not from here. */
export type TokenizerJSON = CharTokenizerJSON | { type: 'gpt2' } | { type: 'hf'; dir: string | null };

export interface CharTokenizerJSON {
  type: 'char';
  /** The vocabulary: id i is chars[i]. Each entry is one Unicode code point. */
  chars: string[];
  /** The character unknown characters map to, if any (it is one of `chars`). */
  unk?: string;
}

export interface CharTokenizerOptions {
  /**
   * A character that unknown characters encode to (e.g. '\uFFFD'); it is added to the vocabulary if
   * the text lacks it. Without it, encoding an unknown character throws.
   */
  unk?: string;
}

const cp = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * One id per character. "Character" means Unicode code point (a surrogate pair is one character).
 * The vocabulary is the sorted (by code point) set of characters of the training text.
 */
export class CharTokenizer implements Tokenizer {
  readonly name = 'char';
  private readonly chars: readonly string[];
  private readonly ids: Map<string, number>;
  private readonly unkId: number;

  private constructor(chars: string[], unk?: string) {
    this.chars = chars;
    this.ids = new Map(chars.map((c, i) => [c, i]));
    this.unkId = unk === undefined ? -1 : this.ids.get(unk)!;
  }

  static fromText(text: string, opts: CharTokenizerOptions = {}): CharTokenizer {
    if (typeof text !== 'string') fail('CharTokenizer.fromText', `text must be a string, got ${typeof text}`);
    const set = new Set(text);
    const unk = opts.unk;
    if (unk !== undefined) {
      if (typeof unk !== 'string' || [...unk].length !== 1)
        fail('CharTokenizer.fromText', `unk must be a single character, got ${JSON.stringify(unk)}`);
      set.add(unk);
    }
    if (set.size === 0) fail('CharTokenizer.fromText', 'the text is empty: no characters to build a vocabulary from');
    const chars = [...set].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer(chars, unk);
  }

  static fromJSON(json: CharTokenizerJSON): CharTokenizer {
    const op = 'CharTokenizer.fromJSON';
    if (json?.type !== 'char' || !Array.isArray(json.chars))
      fail(op, `expected { type: 'char', chars: string[] }, got ${JSON.stringify(json)?.slice(0, 80)}`);
    const seen = new Set<string>();
    for (const [i, c] of json.chars.entries()) {
      if (typeof c !== 'string' || [...c].length !== 1) fail(op, `chars[${i}] must be a single character, got ${JSON.stringify(c)}`);
      if (seen.has(c)) fail(op, `chars[${i}] = ${JSON.stringify(c)} (${cp(c)}) appears twice`);
      seen.add(c);
    }
    if (json.chars.length === 0) fail(op, 'chars is empty');
    if (json.unk !== undefined && !seen.has(json.unk)) fail(op, `unk ${JSON.stringify(json.unk)} is not in chars`);
    return new CharTokenizer([...json.chars], json.unk);
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  /** The vocabulary (id i is vocab[i]). */
  get vocab(): readonly string[] {
    return this.chars;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let at = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id !== undefined) out.push(id);
      else if (this.unkId >= 0) out.push(this.unkId);
      else {
        fail(
          'CharTokenizer.encode',
          `character ${JSON.stringify(c)} (${cp(c)}) at index ${at} is not in the vocabulary of ${this.chars.length} characters (build it from a text that contains it, or pass { unk } to fromText)`,
        );
      }
      at += c.length;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const c = Number.isInteger(id) ? this.chars[id] : undefined;
      if (c === undefined) fail('CharTokenizer.decode', `id ${id} at position ${i} is not in [0, ${this.chars.length})`);
      s += c;
    }
    return s;
  }

  toJSON(): CharTokenizerJSON {
    const j: CharTokenizerJSON = { type: 'char', chars: [...this.chars] };
    if (this.unkId >= 0) j.unk = this.chars[this.unkId];
    return j;
  }
}

/** Rebuilds a tokenizer from its `toJSON()` (e.g. from a checkpoint's metadata). */
export function tokenizerFromJSON(json: TokenizerJSON | string): Tokenizer {
  let j = json as TokenizerJSON;
  if (typeof json === 'string') {
    try {
      j = JSON.parse(json) as TokenizerJSON;
    } catch (e) {
      fail('tokenizerFromJSON', `not valid JSON: ${(e as Error).message}`);
    }
  }
  if (j?.type === 'char') return CharTokenizer.fromJSON(j);
  if (j?.type === 'gpt2') return Gpt2Tokenizer.load();
  if (j?.type === 'hf')
    return fail(
      'tokenizerFromJSON',
      `a Hugging Face tokenizer (${j.dir ?? 'no folder recorded'}) is read from its model folder: use loadHF(dir) or HfTokenizer.fromDir(dir)`,
    );
  return fail('tokenizerFromJSON', `unknown tokenizer ${JSON.stringify(j)?.slice(0, 80)} (expected type 'char' or 'gpt2')`);
}
