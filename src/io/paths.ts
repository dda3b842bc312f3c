// Output paths that stay inside their folder: run names are one plain path segment, and every path
// built under an output folder is checked to resolve inside it.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fail } from '../errors.js';

/** Why `name` cannot be a run name (one path segment), or null when it can. */
export function runNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return `a run name must be a string, got ${typeof name}`;
  if (name === '') return 'a run name must not be empty';
  if (name.length > 200) return `a run name must be at most 200 characters, got ${name.length}`;
  if (name === '.' || name === '..') return `'${name}' is not a folder name`;
  if (/[/\\]/.test(name)) return `a run name is one folder name, without '/' or '\\' (got ${JSON.stringify(name)})`;
  if (hasControlCharacter(name)) return `a run name must not hold control characters (got ${JSON.stringify(name)})`;
  return null;
}

/** True when `s` holds a C0 control character (U+0000 to U+001F) or DEL (U+007F). */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Throws from `op` unless `name` is a valid run name; returns it. */
export function checkRunName(name: unknown, op: string): string {
  const problem = runNameProblem(name);
  if (problem) fail(op, problem);
  return name as string;
}

/** `root/...segments`, after checking it resolves inside `root` (no `..` or absolute segment escapes). */
export function pathUnder(root: string, ...segments: string[]): string {
  const path = join(root, ...segments);
  const rel = relative(resolve(root), resolve(path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    fail('pathUnder', `${JSON.stringify(join(...segments))} would write outside the output folder ${root}`);
  return path;
}
