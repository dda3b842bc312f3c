// The engine benchmark: `npm run bench` (full, a few minutes on lavapipe) or `npm run bench -- --quick`.
// Optional: --only=matmul|overhead|threads|ceiling to run one part.
//
// Prints markdown tables and writes bench/results/<date>[-quick].json.
// Timing: each timed iteration submits its work and awaits device.queue.onSubmittedWorkDone()
// (bench/common.ts gpuSync), so GPU execution is inside every sample; no readback copy is timed
// except in the readback rows. "GPU ms" is the kernel's timestamp-query time from mg.profile where
// the adapter has timestamps.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mg from '../src/index.js';
import { environment, fmt, parseArgs, table } from './common.js';
import { benchMatmul, blasCeiling, lpThreadSweep, type CeilingResult, type MatmulResult, type ThreadResult } from './matmul.js';
import { benchOverhead, type OverheadResult } from './overhead.js';

const args = parseArgs();
const want = (part: string) => args.only === null || args.only === part;
const log = (s: string) => console.error(s);

await mg.init();
const env = environment(args);
console.log(`# moragrad engine benchmark${args.quick ? ' (quick)' : ''}\n`);
console.log(`- adapter: ${env.adapter}\n- LP_NUM_THREADS: ${env.lpNumThreads ?? '(unset)'}\n- CPU: ${env.cpu} x ${env.cores}, 1-min load average at start ${env.loadAvg1m.toFixed(2)}${env.loadAvg1m > env.cores / 2 ? ' (BUSY machine: numbers are low and noisy)' : ''}\n- node ${env.node}, ${env.date}`);
console.log('- timing: benchmark.js deferred samples; each iteration = dispatch + submit + await onSubmittedWorkDone (no readback)\n');

let matmul: MatmulResult[] = [];
let ceiling: CeilingResult | null = null;
let overhead: OverheadResult | null = null;
let threads: ThreadResult[] = [];

if (want('matmul')) {
  log('matmul ...');
  matmul = await benchMatmul(args, log);
}
if (want('ceiling') || want('matmul')) {
  log('CPU float32 ceiling (numpy BLAS) ...');
  ceiling = blasCeiling(env.cores);
}
const best = Math.max(0, ...matmul.map((r) => r.fast.gflops));

if (matmul.length) {
  console.log('## matmul (float32)\n');
  const rows = matmul.map((r) => [
    r.case,
    r.shapes,
    r.fastKernel,
    fmt(r.fast.gflops),
    fmt(r.gflop / r.fast.min),
    `${fmt(r.fast.mean * 1e3, 1)} ±${fmt(r.fast.rme, 0)}%`,
    r.fast.gpuMs === null ? '-' : fmt(r.fast.gpuMs, 1),
    r.naive ? fmt(r.naive.gflops) : 'skipped',
    r.speedup ? `x${fmt(r.speedup, 1)}` : '-',
    `${fmt((100 * r.fast.gflops) / best, 0)}%`,
    ceiling ? `${fmt((100 * r.fast.gflops) / ceiling.gflops, 1)}%` : '-',
  ]);
  console.log(table(['case', 'shapes', 'fast kernel', 'GFLOP/s (mean)', 'best sample', 'ms/op', 'GPU ms', 'naive GFLOP/s', 'fast/naive', '% of run best', '% of BLAS'], rows));
  console.log('\nGFLOP/s from the mean time per product; "best sample" from the fastest sample (less sensitive to other load on the machine).');
  console.log(`Ceilings: best fast kernel in this run ${fmt(best)} GFLOP/s; CPU float32 ${ceiling ? `${fmt(ceiling.gflops)} GFLOP/s (${ceiling.source}, ${ceiling.threads} threads)` : 'not measured (no python3 + numpy BLAS)'}.`);
  const sq = matmul.find((r) => r.case === 'square 1024');
  if (sq) console.log(`Target on lavapipe: >= 10 GFLOP/s at 1024 -> ${fmt(sq.fast.gflops)} GFLOP/s (${sq.fast.gflops >= 10 ? 'met' : 'NOT met'}).\n`);
}

if (want('overhead')) {
  log('overhead ...');
  overhead = await benchOverhead(args, log);
  console.log('## fixed costs\n');
  console.log(
    table(
      ['what', 'µs'],
      [
        [`dispatch, batched (1000 tiny adds + 1 sync; ${overhead.submitsPer1000} submits)`, fmt(overhead.batchedDispatchUs, 1)],
        ['  of which recording on the CPU side (JS + Dawn encoding, no wait)', fmt(overhead.recordUs, 1)],
        ['one tiny add + submit + wait', fmt(overhead.syncedOpUs, 0)],
        ['readback round trip: await t.data() of a [4] tensor', fmt(overhead.readbackUs, 0)],
        ['tiny add + await y.data()', fmt(overhead.opReadbackUs, 0)],
      ],
    ),
  );
  console.log('');
}

if (want('threads') && /llvmpipe|lavapipe/i.test(env.adapter)) {
  log('LP_NUM_THREADS sweep (child processes, fast 1024³) ...');
  threads = lpThreadSweep(args, log);
  const ok = threads.filter((t) => t.gflops !== null);
  const top = ok.reduce<ThreadResult | null>((b, t) => (b === null || t.gflops! > b.gflops! ? t : b), null);
  console.log('## LP_NUM_THREADS (lavapipe), matmul 1024³, one process each\n');
  console.log(table(['LP_NUM_THREADS', 'GFLOP/s', 'ms/op'], threads.map((t) => [t.threads, t.gflops === null ? `failed: ${t.error}` : fmt(t.gflops), t.meanMs === null ? '-' : fmt(t.meanMs, 1)])));
  if (top) console.log(`\nFastest: LP_NUM_THREADS=${top.threads} (${fmt(top.gflops!)} GFLOP/s) on ${env.cores} cores; the backend's default when unset is 4.\n`);
}

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${env.date.slice(0, 10)}${args.quick ? '-quick' : ''}${args.only ? `-${args.only}` : ''}.json`);
writeFileSync(file, `${JSON.stringify({ env, loadAvg1mAtEnd: loadavg()[0], timing: 'benchmark.js deferred; each iteration: dispatch + submit + await queue.onSubmittedWorkDone()', matmul, ceiling, bestGflops: best, overhead, lpThreads: threads }, null, 2)}\n`);
console.log(`Results written to ${file}`);
process.exit(0);
