// A Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) as a moragrad Tokenizer, through
// @huggingface/tokenizers (the tokenizer half of transformers.js: normalizers, pre-tokenizers, BPE
// with merges and byte fallback, added/special tokens, post-processors, decoders).
//
// `encode(text)` is the text's own ids, without the special tokens a post-processor adds (BOS ...):
// fine-tuning concatenates prompt and completion pieces, which must not each get a BOS.
// `encode(text, { addSpecialTokens: true })` is what HF's tokenizer(text) gives (generation prompts).
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { fail } from '../../../errors.js';
import type { Tokenizer, TokenizerJSON } from '../../../data/tokenizer.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export class HfTokenizer implements Tokenizer {
  readonly name = 'hf';
  readonly vocabSize: number;
  readonly #tok: HfLibTokenizer;

  constructor(
    tokenizerJson: Record<string, unknown>,
    readonly tokenizerConfig: Record<string, unknown> = {},
    /** The folder it came from (recorded by toJSON). */
    readonly dir: string | null = null,
  ) {
    const op = 'HfTokenizer';
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || !tokenizerJson.model)
      fail(op, `tokenizer.json must be an object with a 'model' (got keys ${Object.keys(tokenizerJson ?? {}).join(', ')})`);
    try {
      this.#tok = new HfLibTokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      fail(op, `@huggingface/tokenizers cannot build this tokenizer.json: ${(e as Error).message}`);
    }
    const vocab = this.#tok.get_vocab(true);
    this.vocabSize = Math.max(...vocab.values()) + 1;
  }

  /** Reads dir/tokenizer.json and, where present, dir/tokenizer_config.json. */
  static async fromDir(dir: string): Promise<HfTokenizer> {
    const op = 'HfTokenizer';
    const read = async (f: string, required: boolean): Promise<Record<string, unknown> | undefined> => {
      let text: string;
      try {
        text = await fs.readFile(join(dir, f), 'utf8');
      } catch (e) {
        if (!required) return undefined;
        return fail(
          op,
          `${join(dir, f)} is missing (${(e as Error).message}); moragrad reads tokenizers from tokenizer.json (older folders with only vocab.json/merges.txt or tokenizer.model: save the tokenizer once with transformers' save_pretrained)`,
        );
      }
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        return fail(op, `${join(dir, f)} is not valid JSON: ${(e as Error).message}`);
      }
    };
    const json = (await read(TOKENIZER_FILE, true))!;
    const cfg = (await read(TOKENIZER_CONFIG_FILE, false)) ?? {};
    return new HfTokenizer(json, cfg, dir);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== 'string') fail('HfTokenizer.encode', `expects a string, got ${typeof text}`);
    return this.#tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const list = Array.from(ids);
    const bad = list.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad >= 0) fail('HfTokenizer.decode', `id ${list[bad]} at position ${bad} is not in [0, ${this.vocabSize})`);
    return this.#tok.decode(list, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  /** The id of a token string (e.g. '</s>'), or undefined. */
  tokenId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  toJSON(): TokenizerJSON {
    return { type: 'hf', dir: this.dir };
  }
}
