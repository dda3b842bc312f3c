// Crash-safe file writes: the bytes go to a temporary file in the target's directory, are fsynced,
// and the temporary file is renamed over the target. rename(2) within one filesystem is atomic, so
// readers see either the old file or the complete new one, never a half-written file. A process
// killed mid-write leaves its temporary file behind; the next write of the same path removes it.
import fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.js';

/** The temporary name used while writing `path` (same directory, hidden, unique per call). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes the temporary files of earlier writes of `path` whose process is gone (killed mid-write:
 * `kill -9` skips every cleanup). Files of live processes, this one included, are left alone.
 * Returns the names removed.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return []; // no directory yet: nothing stale
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    await fs.rm(join(dir, name), { force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/**
 * Writes `bytes` (or a UTF-8 string) to `path` atomically. On success no temporary file is left
 * behind; on failure the temporary file is removed, an existing file at `path` is left untouched,
 * and the error is rethrown with the path in its message.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  if (typeof path !== 'string' || path === '') fail('writeFileAtomic', `path must be a non-empty string, got ${String(path)}`);
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  if (!(data instanceof Uint8Array))
    fail('writeFileAtomic', `bytes must be a Uint8Array or a string, got ${Object.prototype.toString.call(bytes)}`);
  await removeStaleTemps(path);
  const tmp = tempPathFor(path);
  let created = false;
  try {
    // 'wx': fail rather than clobber if the (random) name somehow exists.
    const fh = await fs.open(tmp, 'wx', 0o644);
    created = true;
    try {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await fh.write(data, off, data.length - off);
        if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} bytes`);
        off += bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
    created = false;
  } catch (e) {
    if (created) await fs.rm(tmp, { force: true }).catch(() => undefined);
    const why = e instanceof Error ? e.message : String(e);
    fail('writeFileAtomic', `could not write '${path}' (${data.length} bytes); the previous file, if any, is unchanged: ${why}`);
  }
  // Make the rename itself durable (best effort: not every platform can fsync a directory).
  try {
    const dir = await fs.open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* directory fsync unsupported here */
  }
}
