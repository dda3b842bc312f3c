// Validating JSON read from files (checkpoint metadata, adapter configs) against a zod schema, with
// errors that name the file, the field, the value found with its type, and what is allowed.
import * as z from 'zod';
import { fail } from '../errors.js';

export { z };

/** An integer in [lo, hi] (safe integers only). */
export function int(lo: number, hi: number = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const m = hi === Number.MAX_SAFE_INTEGER ? `an integer >= ${lo}` : `an integer in [${lo}, ${hi}]`;
  return z.number({ error: m }).int(m).min(lo, m).max(hi, m);
}

/** A finite number in [lo, hi] (or [lo, hi) with `open`). */
export function finite(lo: number, hi = Number.MAX_VALUE, open = false): z.ZodNumber {
  const m = `a finite number in [${lo}, ${hi === Number.MAX_VALUE ? 'inf' : hi}${open ? ')' : ']'}`;
  const n = z.number({ error: m }).min(lo, m);
  return open ? n.lt(hi, m) : n.max(hi, m);
}

/** One of the strings `values`. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `one of ${values.map((v) => `'${v}'`).join(', ')}` });
}

export const bool = (): z.ZodBoolean => z.boolean({ error: 'true or false' });

/** `value` for messages: its JSON (shortened) and its type. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return type === 'null' ? 'null' : `${text} (${type})`;
}

/**
 * Parses `value` with `schema`; on failure throws a MoragradError from `op` listing every problem
 * as `<where>.<field>: got <value> (<type>); expected <what is allowed>`.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, op: string, where: string): z.output<S> {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const problems = r.error.issues.slice(0, 8).map((i) => {
    const path = [where, ...i.path.map(String)].join('.');
    if (i.code === 'unrecognized_keys')
      return `${path}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
    const expected = i.code === 'invalid_type' && i.message.startsWith('Invalid input') ? `a ${i.expected}` : i.message;
    return `${path}: got ${describeValue(i.input)}; expected ${expected}`;
  });
  const more = r.error.issues.length > 8 ? ` (and ${r.error.issues.length - 8} more)` : '';
  return fail(op, `${problems.join('; ')}${more}`);
}
