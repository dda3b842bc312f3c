// The CLI: one-line errors and non-zero exits for bad input; train + sample end to end.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { setupBackends } from '../helpers.js';

setupBackends();

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void (out += `${a.join(' ')}\n`));
  const elog = vi.spyOn(console, 'error').mockImplementation((...a) => void (err += `${a.join(' ')}\n`));
  let code: number;
  try {
    code = await main(args);
  } catch (x) {
    err += `moragrad: ${(x as Error).message}\n`;
    code = 1;
  } finally {
    o.mockRestore();
    e.mockRestore();
    log.mockRestore();
    elog.mockRestore();
  }
  return { code, out, err };
}

describe('moragrad CLI', () => {
  it('bad flags, values and files: one line, non-zero exit, no stack', async () => {
    for (const [args, msg] of [
      [['train', '--bogus'], /unknown option '--bogus'/],
      [['train', '--layers', 'x'], /--layers <n>' argument 'x' is invalid. expected an integer in \[1, 64\]/],
      [['train', '--lr', '-1'], /--lr <x>' argument '-1' is invalid/],
      [['train', '--tokenizer', 'wordpiece'], /expected one of char, gpt2, got 'wordpiece'/],
      [['sample', '--checkpoint', '/nonexistent.safetensors'], /no such file: \/nonexistent.safetensors/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
    // `finetune --model use-lite` is routed to the pretrained-encoder command and its own flags
    const u = await run(['finetune', '--model', 'use-lite', '--depth', 'everything']);
    expect(u.code).not.toBe(0);
    expect(u.err).toMatch(/--depth <where>' argument 'everything' is invalid. expected one of pooler, encoder/);
    const w = await run(['train', '--width', '30', '--heads', '4', '--steps', '1']);
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/--width 30 must be a multiple of --heads 4/);
  });

  it('train then sample', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-cli-'));
    const t = await run(['train', '--layers', '1', '--width', '16', '--heads', '2', '--context', '8', '--batch', '2', '--steps', '4', '--eval-every', '2', '--eval-batches', '1', '--out', dir]);
    expect(t.code, t.err).toBe(0);
    expect(t.err).toMatch(/parameters, char tokens/);
    expect(t.out).toMatch(/final: step 4, train loss [\d.]+, val loss [\d.]+/);
    const s = await run(['sample', '--checkpoint', join(dir, 'checkpoint.safetensors'), '--prompt', 'Call me', '--tokens', '5', '--top-k', '3']);
    expect(s.code, s.err).toBe(0);
    expect(s.out.startsWith('Call me')).toBe(true);
  });
});
