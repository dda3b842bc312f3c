// Flag parsers for commander: bad values become one-line errors naming the flag (exit code 2).
import { statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { runNameProblem } from '../../io/paths.js';

/** An integer in [min, max]; safe integers only (beyond 2^53 integers are not exact). */
export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer${rangeText(min, max)}, got '${v}'`);
    return n;
  };
}

export function num(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number${rangeText(min, max)}, got '${v}'`);
    return n;
  };
}

export function oneOf<T extends string>(...choices: T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

function kind(v: string): 'file' | 'directory' | 'other' | null {
  try {
    const st = statSync(v);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return null;
  }
}

/** An existing regular file (a FIFO would hang the reader, a directory fail it). */
export function existingFile(v: string): string {
  const k = kind(v);
  if (k === null) throw new InvalidArgumentError(`no such file: ${v}`);
  if (k !== 'file') throw new InvalidArgumentError(`${v} is ${k === 'directory' ? 'a directory' : 'not a regular file'}, expected a file`);
  return v;
}

/** An existing regular file or directory (a checkpoint file or a model folder). */
export function existingPath(v: string): string {
  const k = kind(v);
  if (k === null) throw new InvalidArgumentError(`no such file or directory: ${v}`);
  if (k === 'other') throw new InvalidArgumentError(`${v} is not a regular file or a directory`);
  return v;
}

/** An existing directory. */
export function existingDir(v: string): string {
  const k = kind(v);
  if (k === null) throw new InvalidArgumentError(`no such directory: ${v}`);
  if (k !== 'directory') throw new InvalidArgumentError(`${v} is not a directory`);
  return v;
}

/** A run name: one folder name under --out (no '/', no '..', no control characters). */
export function runName(v: string): string {
  const problem = runNameProblem(v);
  if (problem) throw new InvalidArgumentError(problem);
  return v;
}

function rangeText(min: number, max: number): string {
  const lo = min > Number.MIN_SAFE_INTEGER && min > -Infinity;
  const hi = max < Number.MAX_SAFE_INTEGER && max < Infinity;
  if (lo && hi) return ` in [${min}, ${max}]`;
  if (lo) return ` >= ${min}`;
  if (hi) return ` <= ${max}`;
  return '';
}
