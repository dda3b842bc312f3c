// The CLI: every failure is one line and an exit code (2 usage, 1 runtime, 130 interrupted); train,
// resume and sample end to end; nothing is written outside --out.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/app/cli/main.js';
import { setupBackends } from '../helpers.js';

setupBackends();

async function run(args: string[], during?: () => void): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => {
    out += `${a.join(' ')}\n`;
  });
  const elog = vi.spyOn(console, 'error').mockImplementation((...a) => {
    err += `${a.join(' ')}\n`;
  });
  let code: number;
  try {
    const p = main(args);
    during?.();
    code = await p;
  } finally {
    o.mockRestore();
    e.mockRestore();
    log.mockRestore();
    elog.mockRestore();
  }
  return { code, out, err };
}

const tiny = [
  '--layers',
  '1',
  '--width',
  '16',
  '--heads',
  '2',
  '--context',
  '8',
  '--batch',
  '2',
  '--eval-every',
  '2',
  '--eval-batches',
  '1',
];
let dir = '';
let ckpt = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mg-cli-'));
  const t = await run(['train', ...tiny, '--steps', '4', '--out', dir]);
  expect(t.code, t.err).toBe(0);
  ckpt = join(dir, 'checkpoint.safetensors');
});

describe('moragrad CLI', () => {
  it('bad arguments: one line naming the problem, exit code 2, nothing written', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mg-cli-out-'));
    const fifo = join(out, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const grid = (g: unknown) => {
      const f = join(out, `grid-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(f, JSON.stringify(g));
      return f;
    };
    const cases: [string[], RegExp][] = [
      [['train', '--bogus'], /unknown option '--bogus'/],
      [['train', '--layers', 'x'], /--layers <n>' argument 'x' is invalid. expected an integer in \[1, 64\]/],
      [['train', '--lr', '-1'], /--lr <x>' argument '-1' is invalid/],
      [['train', '--tokenizer', 'wordpiece'], /expected one of char, gpt2, got 'wordpiece'/],
      [
        ['train', '--steps', '100000000000000000000000'],
        /--steps <n>' argument '100000000000000000000000' is invalid. expected an integer >= 1/,
      ],
      [['train', '--steps', '1e23'], /--steps <n>' argument '1e23' is invalid/],
      [['train', '--width', '30', '--heads', '4', '--steps', '1'], /--width 30 must be a multiple of --heads 4/],
      [['train', '--resume', '__CKPT__', '--layers', '3', '--out', out], /these flags contradict it: --layers 3 \(the checkpoint has 1\)/],
      [['train', '--resume', '__CKPT__', '--steps', '2', '--out', out], /--steps 2 is below the checkpoint's step 4/],
      [['sample', '--checkpoint', '/nonexistent.safetensors'], /no such file: \/nonexistent.safetensors/],
      [['sample', '--checkpoint', out], /is a directory, expected a file/],
      [['sample', '--checkpoint', fifo], /fifo is not a regular file, expected a file/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['analyze', '--base', '__CKPT__', '--adapter', '/nonexistent'], /no such file: \/nonexistent\/adapter_config.json/],
      [['finetune', '--base', '__CKPT__', '--task', '/nonexistent.jsonl', '--out', out], /no such file: \/nonexistent.jsonl/],
      [
        ['finetune', '--base', '__CKPT__', '--name', '../../escape', '--out', out],
        /--name <name>' argument '..\/..\/escape' is invalid. a run name is one folder name, without '\/'/,
      ],
      [['finetune', '--base', '__CKPT__', '--name', '', '--out', out], /a run name must not be empty/],
      [
        ['finetune', '--base', '__CKPT__', '--adapter', 'lora', '--r', '4096', '--out', out],
        /LoRA r=4096: inject: cannot adapt 'blocks.0.attn.q' \(Linear 16 -> 16\): LoRALinear: r = 4096 exceeds min\(in, out\) = 16/,
      ],
      [['finetune', '--base', '__CKPT__', '--targets', 'q,nope', '--out', out], /target 'nope' matches no Linear layer/],
      [
        ['compare', grid({ base: ckpt, methods: ['lora'], lrs: [0.01], name: '../x' }), '--out', out],
        /'name' "..\/x": a run name is one folder name/,
      ],
      [
        ['compare', grid({ base: ckpt, methods: ['lora'], lrs: [0.01], targets: ['q', 'zz'] }), '--out', out],
        /LoRA r=8: inject: target 'zz' matches no Linear layer/,
      ],
      [['compare', grid(null), '--out', out], /the grid must be a JSON object/],
      [
        ['finetune', '--model', 'use-lite', '--depth', 'everything'],
        /--depth <where>' argument 'everything' is invalid. expected one of pooler, encoder/,
      ],
    ];
    for (const [raw, msg] of cases) {
      const args = raw.map((a) => (a === '__CKPT__' ? ckpt : a));
      const r = await run(args);
      const label = args.join(' ');
      expect(r.code, `${label}\n${r.err}`).toBe(2);
      expect(r.err, label).toMatch(msg);
      expect(r.err.trim().split('\n'), label).toHaveLength(1); // one line, no stack
      expect(r.err.startsWith('moragrad: '), label).toBe(true);
    }
    expect(readdirSync(out).filter((f) => !f.startsWith('grid-') && f !== 'fifo')).toEqual([]); // nothing written
    expect(existsSync(join(out, '..', '..', 'escape'))).toBe(false);
  });

  it('scripts/setup.sh: an unknown argument is one line naming it, exit code 2, before any install', () => {
    const r = spawnSync('bash', ['scripts/setup.sh', '--bnech'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout.trim()).toBe("[setup] unknown argument '--bnech' (expected none, or --bench)");
  });

  it('dist/: scripts/build.mjs builds it (esbuild), bin/moragrad.js runs from it, the package entry exports the engine', () => {
    const node = (...args: string[]) => spawnSync('node', args, { encoding: 'utf8' });
    const b = node('scripts/build.mjs');
    expect(b.status, b.stderr).toBe(0);
    const v = node('bin/moragrad.js', '--version');
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    const e = node('--input-type=module', '-e', "const mg = await import('moragrad'); console.log(typeof mg.tensor, typeof mg.nn.GPT)");
    expect(e.stdout.trim(), e.stderr).toBe('function function');
    const bad = node('scripts/build.mjs', '--typse');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('build: unknown argument(s) --typse (expected none, or --types)');
  });

  it('runtime failures: one line, exit code 1', async () => {
    const notCkpt = join(dir, 'plain.safetensors');
    writeFileSync(notCkpt, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
    const r = await run(['sample', '--checkpoint', notCkpt]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^moragrad: loadCheckpoint: .*plain.safetensors is not a moragrad training checkpoint/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('train, resume to a larger --steps (the bar shows the true total), then sample', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mg-cli-resume-'));
    mkdirSync(d, { recursive: true });
    const t = await run(['train', ...tiny, '--steps', '4', '--out', d]);
    expect(t.code, t.err).toBe(0);
    expect(t.err).toMatch(/parameters, char tokens/);
    expect(t.out).toMatch(/final: step 4, train loss [\d.]+, val loss [\d.]+/);
    const r = await run(['train', '--steps', '8', '--resume', join(d, 'checkpoint.safetensors'), '--out', d]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/resumed at step 4/);
    expect(r.err).toMatch(/ 8\/8 /);
    expect(r.err).toMatch(/done at step 8/);
    expect(r.out).toMatch(/final: step 8/);
    const s = await run([
      'sample',
      '--checkpoint',
      join(d, 'checkpoint.safetensors'),
      '--prompt',
      'Call me',
      '--tokens',
      '5',
      '--top-k',
      '3',
    ]);
    expect(s.code, s.err).toBe(0);
    expect(s.out.startsWith('Call me')).toBe(true);
  });

  it('SIGTERM during train saves like Ctrl-C and exits 130', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mg-cli-term-'));
    const listeners = process.listenerCount('SIGTERM');
    const r = await run(['train', ...tiny, '--steps', '100000', '--out', d], () => {
      const poll = setInterval(() => {
        if (process.listenerCount('SIGTERM') > listeners) {
          clearInterval(poll);
          setTimeout(() => process.emit('SIGTERM', 'SIGTERM'), 300);
        }
      }, 20);
    });
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/terminated: finishing the step and saving/);
    expect(r.err).toMatch(/stopped at step \d+; checkpoint: /);
    expect(existsSync(join(d, 'checkpoint.safetensors'))).toBe(true);
  });
});
