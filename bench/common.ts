// Shared benchmark plumbing: timing with the `benchmark` package (deferred, i.e. async benchmarks),
// GPU synchronisation, the environment record, and markdown tables.
//
// How GPU work is timed: every timed iteration ends with `gpuSync()`, which submits the open command
// encoder and awaits `device.queue.onSubmittedWorkDone()` (through `waitGpu`: on CPU adapters Dawn's
// completion polling backs off instead of spinning a core, src/backend/webgpu/polling.ts; the
// tfjs-webgpu peer waits the same way); so a sample is the wall-clock time of recording +
// submitting + executing the work, with no readback copy. (Where the adapter has
// `timestamp-query`, bench/matmul.ts also reports the kernel's own GPU time from `mg.profile`.)
import Benchmark from 'benchmark';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as mg from '../src/index.js';
import { webgpu } from '../src/runtime.js';
import type { WebGpuBackend } from '../src/backend/webgpu/webgpu.js';
import { waitGpu } from '../src/backend/webgpu/polling.js';

export interface Args {
  quick: boolean;
  /** Extra flags, e.g. --only=matmul. */
  only: string | null;
}

export function parseArgs(argv: string[] = process.argv.slice(2)): Args {
  const only = argv.find((a) => a.startsWith('--only='));
  return { quick: argv.includes('--quick'), only: only ? only.slice('--only='.length) : null };
}

export function gpu(): WebGpuBackend {
  const b = webgpu();
  if (!b) throw new Error('bench: call `await mg.init()` first (no webgpu backend)');
  return b;
}

/** Submits pending GPU work and waits until the device has finished it. */
export async function gpuSync(): Promise<void> {
  const b = gpu();
  b.flush();
  await waitGpu(b.device.queue.onSubmittedWorkDone());
}

export interface Timing {
  /** Mean seconds per call. */
  mean: number;
  /** Relative margin of error of the mean (%), 95% confidence. */
  rme: number;
  /** Fastest sample (seconds per call). */
  min: number;
  /** Median sample (seconds per call): the ratios in the peer tables use it (robust to bursts of load). */
  median: number;
  samples: number;
}

export interface MeasureOptions {
  /** Seconds to keep sampling (the benchmark package's maxTime). */
  maxTime?: number;
  minSamples?: number;
}

/**
 * Times an async function with benchmark.js (a deferred benchmark: each call resolves before the next
 * starts). `fn` must include its own synchronisation (gpuSync or a readback).
 */
export function measure(name: string, fn: () => Promise<unknown>, opts: MeasureOptions = {}): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: opts.minSamples ?? 5,
      maxTime: opts.maxTime ?? 3,
      minTime: 0,
      fn: (deferred: Benchmark.Deferred) => {
        fn().then(
          () => deferred.resolve(),
          (e) => {
            (bench as unknown as { error: unknown }).error = e;
            deferred.resolve();
            bench.abort();
          },
        );
      },
      onComplete: () => {
        const err = (bench as unknown as { error?: unknown }).error;
        if (err) return reject(err);
        const s = bench.stats;
        resolve({ mean: s.mean, rme: s.rme, min: Math.min(...s.sample), median: median(s.sample), samples: s.sample.length });
      },
      onError: (e: unknown) => reject(e),
    } as Benchmark.Options);
    bench.run();
  });
}

/** Ours against one peer, measured in alternating rounds (`pairedRatio`). */
export interface Paired {
  /** Median over the rounds of peer time / our time: x1.1 = moragrad 10% faster. */
  ratio: number;
  /** Quartiles of the per-round ratios. */
  q1: number;
  q3: number;
  rounds: number;
}

/**
 * Ours against a peer in alternating rounds, so that the machine's drift (this VM's speed moves by
 * up to half within an hour) hits both alike, where timing one and then the other may not. Each round
 * times `calls` calls of each side back to back, in A B / B A order on alternate rounds; the ratio of
 * a round is the peer's time over ours. `fn`s include their own synchronisation, as for `measure`.
 */
export async function pairedRatio(
  ours: () => Promise<unknown>,
  peer: () => Promise<unknown>,
  rounds: number,
  calls: number,
): Promise<Paired> {
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    return performance.now() - t0;
  };
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let o: number;
    let p: number;
    if (r % 2 === 0) {
      o = await time(ours);
      p = await time(peer);
    } else {
      p = await time(peer);
      o = await time(ours);
    }
    ratios.push(p / o);
  }
  const s = [...ratios].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
  return { ratio: median(ratios), q1: at(0.25), q3: at(0.75), rounds };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A Timing from raw samples (seconds), for the round-robin measurements of slow cases. */
export function timingOf(samples: number[]): Timing {
  const n = samples.length;
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  // 95% margin with a normal quantile (benchmark.js uses Student's t; close enough for a report)
  const rme = n > 1 && mean > 0 ? (100 * 1.96 * sd) / Math.sqrt(n) / mean : 0;
  return { mean, rme, min: Math.min(...samples), median: median(samples), samples: n };
}

export interface Environment {
  date: string;
  adapter: string;
  lpNumThreads: string | null;
  node: string;
  cpu: string;
  cores: number;
  /** 1-minute load average when the run started: other processes on the machine skew every number. */
  loadAvg1m: number;
  quick: boolean;
}

export function environment(args: Args): Environment {
  return {
    date: new Date().toISOString(),
    adapter: mg.getBackend('webgpu').description,
    lpNumThreads: process.env.LP_NUM_THREADS ?? null,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadAvg1m: loadavg()[0],
    quick: args.quick,
  };
}

/** A markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.map(line)].join('\n');
}

export const fmt = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** Runs a command and returns stdout, or null when it fails (missing tool). */
export function tryExec(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): string | null {
  try {
    return execFileSync(cmd, args, { env, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return null;
  }
}
