// Matmul throughput: the fast kernel (automatic choice) against its naive twin and the peers
// (bench/peers.ts: tfjs-webgpu / wasm / cpu, onnxruntime) in the same run, GFLOP/s, % of the run's
// ceiling, and the LP_NUM_THREADS sweep on lavapipe (child processes).
//
//   node --import tsx bench/matmul.ts --child=1024     one fast 1024³ product, prints a JSON line
//                                                      (used by the LP_NUM_THREADS sweep)
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as mg from '../src/index.js';
import { matmulT } from '../src/ops/matmul.js';
import { type Args, fmt, gpu, gpuSync, measure, type Timing, tryExec } from './common.js';
import { ortSession } from './onnx.js';
import { isTiming, type PeerName, type PeerResult, type Peers, TF_PEERS } from './peers.js';

export interface MatmulCase {
  name: string;
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
  /** Run the naive twin in --quick runs (the full run: up to SLOW_MAX_GFLOP, as it is slow). */
  naiveInQuick: boolean;
}

export interface MatmulResult {
  case: string;
  shapes: string;
  gflop: number;
  fastKernel: string;
  fast: Timing & { gflops: number; gpuMs: number | null };
  naive: (Timing & { gflops: number }) | null;
  /** fast / naive throughput. */
  speedup: number | null;
  /** The same product on each peer (timed right after ours). */
  peers: Partial<Record<PeerName, PeerResult>>;
}

const CASES: MatmulCase[] = [
  { name: 'square 256', a: [256, 256], b: [256, 256], naiveInQuick: true },
  { name: 'square 512', a: [512, 512], b: [512, 512], naiveInQuick: true },
  { name: 'square 1024', a: [1024, 1024], b: [1024, 1024], naiveInQuick: false },
  { name: 'non-square', a: [512, 2048], b: [2048, 512], naiveInQuick: false },
  { name: 'batched', a: [16, 128, 256], b: [16, 256, 128], naiveInQuick: true },
  { name: 'linear x@Wᵀ', a: [4, 64, 768], b: [768, 768], transB: true, naiveInQuick: false },
  { name: 'weight grad Aᵀ@B', a: [2048, 512], b: [2048, 512], transA: true, naiveInQuick: false },
  { name: 'odd (scalar path)', a: [511, 257], b: [257, 509], naiveInQuick: false },
];

/** [m, k, n] of op(a) @ op(b). */
function mkn(c: MatmulCase): [number, number, number] {
  const [r, s] = c.a.slice(-2);
  const [m, k] = c.transA ? [s, r] : [r, s];
  const n = c.transB ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
  return [m, k, n];
}

function flopsOf(c: MatmulCase): number {
  const [m, k, n] = mkn(c);
  const batch = c.a.slice(0, -2).reduce((x, y) => x * y, 1);
  return 2 * batch * m * n * k;
}

const product = (c: MatmulCase, a: mg.Tensor, b: mg.Tensor): mg.Tensor =>
  c.transA || c.transB ? matmulT(a, b, { transA: c.transA ?? false, transB: c.transB ?? false }) : a.matmul(b);

const opName = (c: MatmulCase) => `${JSON.stringify(c.a)}${c.transA ? 'ᵀ' : ''} @ ${JSON.stringify(c.b)}${c.transB ? 'ᵀ' : ''}`;

/** tfjs-cpu (plain JS) and the naive twin, both slow, run only up to this much work per product. */
const SLOW_MAX_GFLOP = 0.6;

/** The same product on each peer, right after ours. */
async function timePeers(c: MatmulCase, peers: Peers, quick: boolean): Promise<Partial<Record<PeerName, PeerResult>>> {
  const out: Partial<Record<PeerName, PeerResult>> = {};
  const opts = { maxTime: quick ? 0.5 : 2, minSamples: quick ? 3 : 5 };
  const tf = peers.tf;
  for (const p of TF_PEERS) {
    if (!tf || !peers.available(p)) {
      out[p] = { skipped: 'not loaded' };
      continue;
    }
    if (p === 'tfjs-cpu' && flopsOf(c) / 1e9 > (quick ? SLOW_MAX_GFLOP / 2 : SLOW_MAX_GFLOP)) {
      out[p] = { skipped: `skipped: > ${quick ? SLOW_MAX_GFLOP / 2 : SLOW_MAX_GFLOP} GFLOP (~0.5 GFLOP/s)` };
      continue;
    }
    try {
      await peers.use(p);
      const a = tf.randomNormal(c.a, 0, 1, 'float32', 1);
      const b = tf.randomNormal(c.b, 0, 1, 'float32', 2);
      const once = async () => {
        tf.tidy(() => tf.matMul(a, b, c.transA ?? false, c.transB ?? false));
        await peers.sync(p);
      };
      await once();
      out[p] = await measure(`${c.name} ${p}`, once, { ...opts, minSamples: p === 'tfjs-cpu' ? 2 : opts.minSamples });
      a.dispose();
      b.dispose();
    } catch (e) {
      out[p] = { skipped: `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}` };
    }
  }
  // onnxruntime: MatMul (batched too), or Gemm with transA / transB (2-D only)
  const [m, , n] = mkn(c);
  const trans = c.transA || c.transB;
  // Gemm is 2-D: x [..., k] @ Wᵀ runs as the same product with the leading dims folded into rows
  const aShape = trans && !c.transA && c.a.length > 2 ? [c.a.slice(0, -1).reduce((x, y) => x * y, 1), c.a[c.a.length - 1]] : c.a;
  const outShape = trans ? [aShape[c.transA ? 1 : 0], n] : [...c.a.slice(0, -2), m, n];
  const s = await ortSession(
    trans ? 'Gemm' : 'MatMul',
    [
      ['a', aShape],
      ['b', c.b],
    ],
    outShape,
    {
      threads: cpus().length,
      attrs: trans ? { transA: c.transA ? 1 : 0, transB: c.transB ? 1 : 0 } : {},
    },
  ).catch((e: Error) => e);
  if (s === null) out.onnxruntime = { skipped: 'not loaded' };
  else if (s instanceof Error) out.onnxruntime = { skipped: `error: ${s.message.split('\n')[0].slice(0, 80)}` };
  else {
    out.onnxruntime = await measure(`${c.name} onnxruntime`, () => s.run(), opts);
    await s.release();
  }
  return out;
}

/** Times op(a) @ op(b) with the given kernel; each iteration waits for the GPU (gpuSync). */
async function timeProduct(c: MatmulCase, a: mg.Tensor, b: mg.Tensor, variant: 'fast' | 'naive', quick: boolean): Promise<Timing> {
  const restore = mg.testing.forceKernel('matmul', variant);
  try {
    const once = async () => {
      const y = mg.noGrad(() => product(c, a, b));
      await gpuSync();
      y.dispose();
    };
    await once(); // compile the pipeline outside the timing
    const slow = variant === 'naive';
    return await measure(`${c.name} ${variant}`, once, { maxTime: quick ? 0.6 : slow ? 2 : 3, minSamples: slow ? 2 : quick ? 3 : 5 });
  } finally {
    restore();
  }
}

export async function benchMatmul(args: Args, log: (s: string) => void = () => {}, peers: Peers | null = null): Promise<MatmulResult[]> {
  const out: MatmulResult[] = [];
  for (const c of CASES) {
    if (args.quick && c.name === 'odd (scalar path)') continue;
    const a = mg.randn(c.a, { seed: 1 });
    const b = mg.randn(c.b, { seed: 2 });
    const gflop = flopsOf(c) / 1e9;
    const fast = await timeProduct(c, a, b, 'fast', args.quick);
    // which kernel ran, and its GPU time where the adapter has timestamps
    const prof = await mg.testing.withKernel('matmul', 'fast', () => mg.profile(() => mg.noGrad(() => product(c, a, b))));
    prof.result.dispose();
    const runNaive = args.quick ? c.naiveInQuick : gflop <= SLOW_MAX_GFLOP;
    const naive = runNaive ? await timeProduct(c, a, b, 'naive', args.quick) : null;
    const peerResults = peers ? await timePeers(c, peers, args.quick) : {};
    const r: MatmulResult = {
      case: c.name,
      shapes: opName(c),
      gflop,
      fastKernel: prof.kernels.map((k) => k.kernel).join(','),
      fast: { ...fast, gflops: gflop / fast.mean, gpuMs: prof.gpuMs },
      naive: naive ? { ...naive, gflops: gflop / naive.mean } : null,
      speedup: naive ? naive.mean / fast.mean : null,
      peers: peerResults,
    };
    const peerLog = Object.entries(peerResults)
      .map(([p, t]) => (isTiming(t) ? `, ${p} ${fmt(gflop / t.median)}` : ''))
      .join('');
    log(
      `  ${c.name}: fast ${fmt(r.fast.gflops)} GFLOP/s (${r.fastKernel})${naive ? `, naive ${fmt(r.naive!.gflops)} GFLOP/s, x${fmt(r.speedup!, 1)}` : ''}${peerLog}`,
    );
    out.push(r);
    a.dispose();
    b.dispose();
  }
  return out;
}

// ---- LP_NUM_THREADS sweep (child processes) --------------------------------------------------------

export interface ThreadResult {
  threads: number;
  gflops: number | null;
  meanMs: number | null;
  error?: string;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * Runs the 1024³ fast product in a fresh process per LP_NUM_THREADS value. The full run visits the
 * values twice in mirrored order (1 2 4 8 8 4 2 1) and keeps each value's better run, so a burst of
 * other load on the machine does not decide the winner.
 */
export function lpThreadSweep(args: Args, log: (s: string) => void = () => {}): ThreadResult[] {
  const values = [1, 2, 4, 8];
  const order = args.quick ? values : [...values, ...[...values].reverse()];
  const runs: ThreadResult[] = [];
  for (const threads of order) {
    // each child times its product briefly (--quick): the sweep's robustness comes from the mirrored order
    const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, `--child=1024`, '--quick'], {
      env: { ...process.env, LP_NUM_THREADS: String(threads) },
      encoding: 'utf8',
      timeout: 300_000,
    });
    const line = (r.stdout ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    if (r.status !== 0 || !line) {
      runs.push({
        threads,
        gflops: null,
        meanMs: null,
        error: `exit ${r.status ?? r.signal}: ${(r.stderr ?? '')
          .split('\n')
          .filter((l) => l && !l.startsWith('Warning'))
          .slice(-2)
          .join(' ')}`,
      });
    } else {
      const j = JSON.parse(line) as { gflops: number; meanMs: number };
      runs.push({ threads, gflops: j.gflops, meanMs: j.meanMs });
    }
    const last = runs[runs.length - 1];
    log(`  LP_NUM_THREADS=${threads}: ${last.gflops === null ? last.error : `${fmt(last.gflops)} GFLOP/s`}`);
  }
  return values.map((threads) => {
    const mine = runs.filter((r) => r.threads === threads);
    const ok = mine.filter((r) => r.gflops !== null);
    return ok.length ? ok.reduce((a, b) => (b.gflops! > a.gflops! ? b : a)) : mine[0];
  });
}

// ---- CPU float32 ceiling (BLAS through numpy, if present) -----------------------------------------

export interface CeilingResult {
  source: string;
  gflops: number;
  threads: number;
}

/** sgemm 1024³ through numpy's BLAS on the same cores, or null when python3/numpy are missing. */
export function blasCeiling(cores: number): CeilingResult | null {
  const py = `
import time, numpy as np
n = 1024
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
a @ b
best = 1e9
for _ in range(10):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
cfg = np.show_config(mode='dicts') if hasattr(np, 'show_config') else None
name = 'numpy'
try:
    name = 'numpy ' + np.__version__ + ' / ' + cfg['Build Dependencies']['blas']['name']
except Exception:
    pass
print('%f %s' % (2 * n**3 / best / 1e9, name))
`;
  const threads = String(cores);
  const outp = tryExec(
    'python3',
    ['-c', py],
    { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads },
    120_000,
  );
  if (!outp) return null;
  const [g, ...name] = outp.trim().split('\n').pop()!.split(' ');
  const gflops = Number(g);
  return Number.isFinite(gflops) ? { source: `${name.join(' ')} sgemm 1024³`, gflops, threads: cores } : null;
}

// ---- child entry -----------------------------------------------------------------------------------

async function child(size: number, quick: boolean): Promise<void> {
  await mg.init();
  gpu();
  const c: MatmulCase = { name: `square ${size}`, a: [size, size], b: [size, size], naiveInQuick: false };
  const a = mg.randn(c.a, { seed: 1 });
  const b = mg.randn(c.b, { seed: 2 });
  const t = await timeProduct(c, a, b, 'fast', quick);
  console.log(JSON.stringify({ gflops: flopsOf(c) / 1e9 / t.mean, meanMs: t.mean * 1e3, lp: process.env.LP_NUM_THREADS }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = process.argv.find((a) => a.startsWith('--child='));
  if (!arg) {
    console.error('usage: node --import tsx bench/matmul.ts --child=<size> (the full benchmark is bench/run.ts)');
    process.exit(2);
  }
  child(Number(arg.slice('--child='.length)), process.argv.includes('--quick')).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
