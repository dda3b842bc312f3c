// Reading input files safely: only regular files are opened (a FIFO would block the open forever, a
// directory fails with a bare EISDIR), and every failure names the path.
import { type Stats, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { fail } from '../errors.js';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Throws from `op` unless `path` is an existing regular file (symlinks followed). */
export function requireRegularFile(path: string, op: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(op, code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${(e as Error).message}`);
  }
  if (!st.isFile()) fail(op, `${path} is ${kindOf(st)}, expected a regular file`);
}

/** Throws from `op` unless `path` is an existing directory. */
export function requireDirectory(path: string, op: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(op, code === 'ENOENT' ? `no such directory: ${path}` : `cannot read ${path}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) fail(op, `${path} is not a directory`);
}

/** The bytes of a regular file; every failure names the path. */
export async function readRegularFile(path: string, op: string): Promise<Uint8Array> {
  requireRegularFile(path, op);
  try {
    return await fs.readFile(path);
  } catch (e) {
    return fail(op, `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The UTF-8 text of a regular file; every failure names the path. */
export async function readTextFile(path: string, op: string): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, op));
}
