// The UUID memorisation task (MoRA paper, section 5.1): N random uuid4 key:value pairs. The model
// trains on the whole sequence "<key>:<value>\n" and is scored by greedily completing "<key>:" and
// comparing the generated value with the true one character by character. Nothing in the base
// model's pretraining helps here: the task measures how much new knowledge an update can store.
//
//   const task = makeUuidTask({ n: 64, seed: 0 });
//   task.sequences[0];            // '3f2a…-…:9c1e…-…\n'
//   task.prompt(task.keys[0]);    // '3f2a…-…:'
//   task.expected(task.keys[0]);  // '9c1e…-…' (the value)
import { fail } from '../../errors.js';
import { HostRng } from '../../ops/random.js';
import type { Task } from './task.js';

/** A uuid4 string is 36 characters: 8-4-4-4-12 hex digits. */
export const UUID_LENGTH = 36;

/** Every character a UUID task sequence uses: hex digits, '-', ':' and '\n'. */
export const UUID_CHARS = '\n-0123456789:abcdef';

/** xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx, N in {8, 9, a, b}: RFC 4122 version 4, variant 10xx. */
export const UUID4_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const HEX = '0123456789abcdef';

/**
 * A random uuid4 from the host generator: 30 random hex digits, the version nibble (position 12)
 * set to 4 and the variant nibble (position 16) drawn from 10xx (8, 9, a or b). Uses 31 draws.
 */
export function uuid4(rng: HostRng): string {
  let s = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) s += '-';
    if (i === 12) s += '4';
    else if (i === 16) s += HEX[8 + rng.int(4)];
    else s += HEX[rng.int(16)];
  }
  return s;
}

export interface UuidTaskOptions {
  /** Number of key:value pairs. */
  n: number;
  seed: number;
}

export interface UuidPair {
  key: string;
  value: string;
}

export interface UuidTask extends Task {
  name: 'uuid';
  n: number;
  seed: number;
  pairs: readonly UuidPair[];
  keys: readonly string[];
  /** Training sequences "<key>:<value>\n", one per pair (the loss covers all of it). */
  sequences: readonly string[];
  /** "<key>:". */
  prompt(key: string): string;
  /** The value stored under `key`. */
  expected(key: string): string;
}

/**
 * N seeded uuid4 key:value pairs (keys distinct). The same (n, seed) always gives the same pairs, and
 * a larger n extends a smaller one: the first n pairs of makeUuidTask({ n: 2n, seed }) are
 * makeUuidTask({ n, seed })'s.
 */
export function makeUuidTask(opts: UuidTaskOptions): UuidTask {
  const op = 'makeUuidTask';
  if (!opts || typeof opts !== 'object') fail(op, 'options { n, seed } are required');
  const { n, seed } = opts;
  if (!Number.isInteger(n) || n < 1) fail(op, `n must be a positive integer, got ${String(n)}`);
  if (!Number.isInteger(seed)) fail(op, `seed must be an integer, got ${String(seed)}`);
  const rng = new HostRng(seed);
  const pairs: UuidPair[] = [];
  const byKey = new Map<string, string>();
  while (pairs.length < n) {
    const key = uuid4(rng);
    const value = uuid4(rng);
    if (byKey.has(key)) continue; // 122 random bits: never in practice, but keys must be distinct
    byKey.set(key, value);
    pairs.push({ key, value });
  }
  const lookup = (key: string): string => {
    const v = byKey.get(key);
    if (v === undefined) fail('UuidTask.expected', `unknown key ${JSON.stringify(key)}: not one of the task's ${n} keys`);
    return v;
  };
  return {
    name: 'uuid',
    n,
    seed,
    pairs,
    keys: pairs.map((p) => p.key),
    examples: pairs.map((p) => ({ prompt: `${p.key}:`, completion: p.value })),
    eos: '\n',
    lossOn: 'all',
    sequences: pairs.map((p) => `${p.key}:${p.value}\n`),
    prompt: (key: string) => {
      lookup(key);
      return `${key}:`;
    },
    expected: lookup,
  };
}
