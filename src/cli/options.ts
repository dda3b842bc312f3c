// Flag parsers for commander: bad values become one-line errors naming the flag.
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

export function int(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer${rangeText(min, max)}, got '${v}'`);
    return n;
  };
}

export function num(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number${rangeText(min, max)}, got '${v}'`);
    return n;
  };
}

export function oneOf<T extends string>(...choices: T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

export function existingFile(v: string): string {
  if (!existsSync(v)) throw new InvalidArgumentError(`no such file: ${v}`);
  return v;
}

function rangeText(min: number, max: number): string {
  if (min > -Infinity && max < Infinity) return ` in [${min}, ${max}]`;
  if (min > -Infinity) return ` >= ${min}`;
  if (max < Infinity) return ` <= ${max}`;
  return '';
}
