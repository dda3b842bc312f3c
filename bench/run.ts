// The engine benchmark, side by side with the peers in one process: `npm run bench` (full, under
// ~10 minutes on the 2-core lavapipe machine) or `npm run bench -- --quick` (under 3 minutes).
// Optional: --only=matmul|ops|overhead|training|profile|memory|mora|threads|ceiling|generation to run one part
// (the LP_NUM_THREADS sweep runs in the full bench and with --only=threads).
//
// Prints markdown tables and writes bench/results/<date>[-quick].json and .md.
// Timing: each timed iteration dispatches its work and waits for the device
// (moragrad: bench/common.ts gpuSync = submit + await queue.onSubmittedWorkDone; tfjs-webgpu the same
// through its own queue; wasm / cpu / onnxruntime are synchronous or awaited), so execution is inside
// every sample and no readback is timed. Ratios are peer time / moragrad time (x2.0 = moragrad twice
// as fast), from the median samples of the same run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mg from '../src/index.js';
import { environment, fmt, parseArgs, table, type Timing } from './common.js';
import { benchMatmul, blasCeiling, lpThreadSweep, type CeilingResult, type MatmulResult, type ThreadResult } from './matmul.js';
import { benchMemory, type FlatResult, type MemoryResult } from './memory.js';
import { benchMora, type MoraResult } from './mora.js';
import { benchOps, hostBandwidth, type HostBandwidth } from './ops.js';
import { benchOverhead, benchPeerOverhead, type OverheadResult } from './overhead.js';
import { isTiming, loadPeers, type PeerName, type PeerResult, type Row, TF_PEERS } from './peers.js';
import { benchGeneration, type GenerationResult } from './generation.js';
import { benchGpt, benchMlp, gptSetup, oursGpt, profileGptStep, type StepProfile, type TrainingRow } from './training.js';

const args = parseArgs();
const want = (part: string) => args.only === null || args.only === part;
const log = (s: string) => console.error(s);
const t0 = performance.now();
const loads: { after: string; load1m: number; at_s: number }[] = [];
const noteLoad = (after: string) => loads.push({ after, load1m: loadavg()[0], at_s: (performance.now() - t0) / 1e3 });

// the report: printed and kept for the .md file
const md: string[] = [];
const out = (s = '') => {
  console.log(s);
  md.push(s);
};

await mg.init();
const env = environment(args);
log('loading peers ...');
const peers = await loadPeers(log);
const PEERS: PeerName[] = [...TF_PEERS, 'onnxruntime'];
noteLoad('start');

out(`# moragrad engine benchmark${args.quick ? ' (quick)' : ''}\n`);
out(`- adapter: ${env.adapter}`);
out(`- LP_NUM_THREADS: ${env.lpNumThreads ?? '(unset)'}`);
out(
  `- CPU: ${env.cpu} x ${env.cores}, 1-min load average at start ${env.loadAvg1m.toFixed(2)}${env.loadAvg1m > env.cores / 2 ? ' (BUSY machine: absolute numbers are low and noisy; compare the ratios)' : ''}`,
);
out(`- node ${env.node}, ${env.date}`);
out(
  `- peers (same process): ${peers.info.map((p) => `${p.name} ${p.version}${p.ok ? ` (${p.detail})` : ` NOT LOADED: ${p.detail}`}`).join('; ')}`,
);
out(
  '- timing: benchmark.js deferred samples (round-robin steps for training); each iteration = dispatch + submit + wait for the device (no readback)',
);
out('- cells: time per call (median) and, in parentheses, peer time / moragrad time: x2.0 = moragrad twice as fast, x0.5 = half as fast\n');

// every target of the issue, with the measured value: printed as one table at the end
interface Target {
  target: string;
  measured: string;
  met: boolean;
  /** For a missed target: the factor still missing (e.g. x1.19 faster needed), or the excess. */
  gap: string;
}
const targets: Target[] = [];
/** A ">= want" ratio target (higher is better). */
const atLeast = (target: string, value: number, want: number) =>
  targets.push({
    target,
    measured: `x${fmt(value, 2)}`,
    met: value >= want,
    gap: value >= want ? '' : `needs x${fmt(want / value, 2)} more`,
  });
/** A "<= want" ratio target (lower is better). */
const atMost = (target: string, value: number, want: number) =>
  targets.push({ target, measured: `x${fmt(value, 2)}`, met: value <= want, gap: value <= want ? '' : `x${fmt(value / want, 2)} over` });

const peerCell = (ours: Timing, r: PeerResult | undefined): string =>
  r === undefined ? '-' : isTiming(r) ? `${ms(r.median)} (x${fmt(r.median / ours.median, 2)})` : r.skipped;
function ms(s: number): string {
  const v = s * 1e3;
  return `${v >= 100 ? fmt(v, 0) : v >= 10 ? fmt(v, 1) : fmt(v, 2)} ms`;
}

// ---- host bandwidth (the GB/s ceiling) ----------------------------------------------------------------
let bandwidth: HostBandwidth | null = null;
if (want('ops')) bandwidth = await hostBandwidth(args.quick);

// ---- matmul -------------------------------------------------------------------------------------------
let matmul: MatmulResult[] = [];
let blas: CeilingResult | null = null;
if (want('matmul')) {
  log('matmul (moragrad fast + naive, tfjs-webgpu / wasm / cpu, onnxruntime) ...');
  matmul = await benchMatmul(args, log, peers);
  noteLoad('matmul');
}
if (want('ceiling') || want('matmul')) {
  log('CPU float32 ceiling (numpy BLAS) ...');
  blas = blasCeiling(env.cores);
}
// the GFLOP/s ceiling: the best matmul any contender reached in this run (median samples)
const ceilingEntries: { who: string; case: string; gflops: number }[] = [];
for (const r of matmul) {
  ceilingEntries.push({ who: 'moragrad', case: r.case, gflops: r.gflop / r.fast.median });
  for (const p of PEERS) {
    const t = r.peers[p];
    if (isTiming(t)) ceilingEntries.push({ who: p, case: r.case, gflops: r.gflop / t.median });
  }
}
// (numpy's BLAS is shown next to it, not counted: it is not one of the contenders)
const ceiling = ceilingEntries.reduce<(typeof ceilingEntries)[number] | null>((b, e) => (b === null || e.gflops > b.gflops ? e : b), null);
const pctCeil = (gflops: number) => (ceiling ? `${fmt((100 * gflops) / ceiling.gflops, 0)}%` : '-');

if (matmul.length) {
  out('## matmul (float32)\n');
  const rows = matmul.map((r) => [
    r.case,
    r.shapes,
    r.fastKernel,
    ms(r.fast.median),
    fmt(r.gflop / r.fast.median),
    pctCeil(r.gflop / r.fast.median),
    r.naive ? `${fmt(r.naive.gflops)} (x${fmt(r.speedup!, 1)})` : 'skipped',
    ...PEERS.map((p) => peerCell(r.fast, r.peers[p])),
  ]);
  out(table(['case', 'shapes', 'kernel', 'moragrad', 'GFLOP/s', '% of ceiling', 'naive twin GFLOP/s (fast/naive)', ...PEERS], rows));
  out(
    `\nCeiling (the "% of ceiling" columns): the best matmul any contender reached in this run: ${ceiling ? `${fmt(ceiling.gflops)} GFLOP/s (${ceiling.who}, ${ceiling.case})` : '-'}. For reference, CPU float32 sgemm via numpy's BLAS on the same cores: ${blas ? `${fmt(blas.gflops)} GFLOP/s (${blas.source}, ${blas.threads} threads)` : 'not measured (no python3 + numpy)'}.`,
  );
  const sq = (name: string) => matmul.find((r) => r.case === name);
  for (const [name, target] of [
    ['square 1024', 2],
    ['square 512', 2.5],
  ] as const) {
    const r = sq(name);
    const w = r?.peers['tfjs-webgpu'];
    if (r && isTiming(w)) {
      out(
        `Target ${name}: >= ${target}x tfjs-webgpu -> x${fmt(w.median / r.fast.median, 2)} (${w.median / r.fast.median >= target ? 'met' : 'NOT met'}).`,
      );
      atLeast(`matmul ${name.replace('square ', '')}: >= ${target}x tfjs-webgpu`, w.median / r.fast.median, target);
    }
  }
  out('');
}

// ---- memory-bound and fused ops -------------------------------------------------------------------------
let ops: Row[] = [];
if (want('ops')) {
  log('elementwise, reductions, softmax, layerNorm, attention ...');
  ops = await benchOps(args, peers, log);
  noteLoad('ops');
  out('## elementwise, reductions, fused ops\n');
  const pct = (r: Row) => {
    const v = r.work / r.ours.median / 1e9;
    return r.unit === 'GB/s' ? (bandwidth ? `${fmt((100 * v) / bandwidth.gbps, 1)}%` : '-') : pctCeil(v);
  };
  out(
    table(
      ['group', 'case', 'shapes', 'moragrad', 'throughput', '% of ceiling', ...PEERS, 'tfjs-webgpu paired', 'moragrad kernels'],
      ops.map((r) => [
        r.group,
        r.case,
        r.shapes,
        ms(r.ours.median),
        `${fmt(r.work / r.ours.median / 1e9)} ${r.unit}`,
        pct(r),
        ...PEERS.map((p) => (r.peers[p] === undefined ? 'n/a' : peerCell(r.ours, r.peers[p]))),
        r.paired ? `x${fmt(r.paired.ratio, 2)} (${fmt(r.paired.q1, 2)}-${fmt(r.paired.q3, 2)})` : '-',
        r.ourKernels,
      ]),
    ),
  );
  out(
    `\ntfjs-webgpu paired: tfjs-webgpu time / moragrad time in ${ops[0]?.paired?.rounds ?? '-'} alternating rounds (about 40 ms of each side per round, A B then B A), median and quartiles; the machine's drift hits both sides alike there, where the column before it times one contender after the other.\nGB/s = bytes read + written once per call / time. Ceiling for GB/s: this CPU's memory copy (TypedArray.set of 64 MiB) ${bandwidth ? `${fmt(bandwidth.gbps)} GB/s` : '-'}; for GFLOP/s the matmul ceiling above. n/a: no one-node ONNX equivalent wired.\n`,
  );
}

// ---- fixed costs --------------------------------------------------------------------------------------
let overhead: OverheadResult | null = null;
let peerOverhead: Record<string, number | { skipped: string }> = {};
if (want('overhead')) {
  log('overhead ...');
  overhead = await benchOverhead(args, log);
  peerOverhead = await benchPeerOverhead(args, peers, log);
  noteLoad('overhead');
  out('## fixed costs\n');
  out(
    table(
      ['what', 'µs'],
      [
        [`moragrad dispatch, batched (1000 tiny adds + 1 sync; ${overhead.submitsPer1000} submits)`, fmt(overhead.batchedDispatchUs, 1)],
        ['  of which recording on the CPU side (JS + Dawn encoding, no wait)', fmt(overhead.recordUs, 1)],
        ...Object.entries(peerOverhead).map(([p, v]) => [
          `${p}, 1000 tiny adds + 1 sync, per op`,
          typeof v === 'number' ? fmt(v, 1) : v.skipped,
        ]),
        ['moragrad: one tiny add + submit + wait', fmt(overhead.syncedOpUs, 0)],
        ['moragrad: readback round trip, await t.data() of a [4] tensor', fmt(overhead.readbackUs, 0)],
        ['moragrad: tiny add + await y.data()', fmt(overhead.opReadbackUs, 0)],
      ],
    ),
  );
  out('');
}

// ---- training steps -------------------------------------------------------------------------------------
const training: TrainingRow[] = [];
const setup = want('training') || want('profile') || want('memory') ? gptSetup() : null;
const oursGptModel = setup ? oursGpt(setup) : null; // one model for the timing, the profile and the memory
if (want('training')) {
  log('MLP training step (round-robin) ...');
  training.push(await benchMlp(args, peers, log));
  noteLoad('mlp');
  log('GPT training step (round-robin) ...');
  training.push(await benchGpt(args, peers, setup!, oursGptModel!, log));
  noteLoad('gpt');
  out('## training steps (forward + backward + AdamW, round-robin)\n');
  out(
    table(
      ['case', 'shapes', 'moragrad', 'throughput', 'matmul GFLOP/s', '% of ceiling', ...TF_PEERS],
      training.map((r) => [
        r.case,
        r.shapes,
        ms(r.ours.median),
        `${fmt(r.items / r.ours.median, 0)} ${r.itemName}/s`,
        fmt(r.flops / r.ours.median / 1e9),
        pctCeil(r.flops / r.ours.median / 1e9),
        ...TF_PEERS.map((p) => {
          const t = r.peers[p];
          return isTiming(t) ? `${peerCell(r.ours, t)}; best step x${fmt(t.min / r.ours.min, 2)}` : peerCell(r.ours, t);
        }),
      ]),
    ),
  );
  out(
    '\n"best step": fastest step / fastest step, less sensitive to other load (lavapipe splits each dispatch over worker threads and waits for the slowest, so load from other processes slows moragrad and tfjs-webgpu more than the single-threaded tfjs-wasm).',
  );
  out(
    '\nThe tfjs side is the same model in tfjs ops (bench/tfmodels.ts: same shapes and matmul FLOPs, tanh GELU, LayerNorm, causal attention, tied head, AdamW as Adam + decoupled decay); matmul GFLOP/s counts the products only.',
  );
  for (const r of training) {
    const l = Object.entries(r.initialLoss).filter(([, v]) => Number.isFinite(v));
    if (l.length)
      out(
        `${r.case}: loss of the freshly initialised model on the benchmark batch: ${l.map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ')} (ln vocab = ${fmt(Math.log(setup!.shape.vocab), 3)}).`,
      );
  }
  for (const r of training) {
    for (const [p, target] of [
      ['tfjs-webgpu', 2],
      ['tfjs-wasm', 1],
    ] as const) {
      const t = r.peers[p];
      if (isTiming(t)) {
        const label = `${r.case.replace(' (default config)', '')}: ${target === 1 ? 'faster than' : `>= ${target}x`} ${p}`;
        out(`Target ${label} -> x${fmt(t.median / r.ours.median, 2)} (${t.median / r.ours.median >= target ? 'met' : 'NOT met'}).`);
        atLeast(label, t.median / r.ours.median, target);
      }
    }
  }
  out('');
}

// ---- where the time goes --------------------------------------------------------------------------------
let profile: StepProfile | null = null;
if (want('profile') || want('training')) {
  log('mg.profile of one GPT step ...');
  profile = await profileGptStep(oursGptModel!, args.quick ? 2 : 3);
  noteLoad('profile');
  const total = profile.gpuMs ?? 0;
  out('## where the time goes: one default GPT training step under mg.profile\n');
  out(
    `${profile.dispatches} dispatches per step; per-kernel GPU time = median over ${profile.steps} profiled steps of its per-step total; summed ${fmt(total, 0)} ms; wall ${fmt(profile.wallMs, 0)} ms per profiled step (timestamp queries on).\n`,
  );
  out(
    table(
      ['family', 'dispatches', 'GPU ms', 'share'],
      profile.families.map((f) => [f.family, f.count, fmt(f.gpuMs, 1), `${fmt((100 * f.gpuMs) / total, 1)}%`]),
    ),
  );
  out('');
  out(
    table(
      ['kernel', 'family', 'dispatches', 'GPU ms', 'ms each', 'share'],
      profile.kernels
        .slice(0, 16)
        .map((k) => [k.kernel, k.family, k.count, fmt(k.gpuMs, 1), fmt(k.gpuMs / k.count, 2), `${fmt((100 * k.gpuMs) / total, 1)}%`]),
    ),
  );
  out('');
}

// ---- generation: KV cache ---------------------------------------------------------------------------------
let generation: GenerationResult | null = null;
if (want('generation')) {
  log('GPT.generate with and without the KV cache ...');
  generation = await benchGeneration(args, setup ?? gptSetup(), log);
  noteLoad('generation');
  const g = generation;
  out('## generation: GPT.generate, greedy, default GPT, with and without the KV cache\n');
  out(
    table(
      ['batch x prompt + new tokens', 'cached', 'uncached', 'cached / uncached', 'same tokens'],
      [
        [
          `${g.batch} x ${g.prompt} + ${g.newTokens}`,
          `${fmt(g.cachedTokS, 0)} tokens/s`,
          `${fmt(g.uncachedTokS, 0)} tokens/s`,
          `x${fmt(g.uncachedSec / g.cachedSec, 2)}`,
          g.identical ? 'yes' : '**NO**',
        ],
      ],
    ),
  );
  out('');
}

// ---- memory -----------------------------------------------------------------------------------------------
let memory: MemoryResult | null = null;
let flat: FlatResult | null = null;
if (want('memory')) {
  log('peak memory of one GPT step ...');
  memory = await benchMemory(setup!, oursGptModel!, log);
  noteLoad('memory');
  const MiB = (b: number) => `${fmt(b / 2 ** 20, 2)} MiB`;
  const a = memory.analytic;
  out('## peak GPU memory, one default GPT training step\n');
  out(
    table(
      ['what', 'bytes'],
      [
        [`parameters (${memory.params} float32)`, MiB(a.params)],
        ['gradients', MiB(a.grads)],
        ['AdamW moments (2 per parameter)', MiB(a.optimizer)],
        [`activations (analytic: ${memory.activationModel})`, MiB(a.activations)],
        ['**analytic sum**', MiB(a.total)],
        ['live before the step (parameters, AdamW state, batch)', MiB(memory.liveBefore)],
        [`allocated during the forward (every new buffer)`, MiB(memory.allocatedForward)],
        [
          `live after the forward (${memory.liveTensorsAfterForward} tensors made by it, held by the tape or the tidy scope)`,
          MiB(memory.liveAfterForward),
        ],
        ['  of which buffers the tape saved for the backward (measured activations)', MiB(memory.savedBytes)],
        [
          'peak during the forward / backward / optimizer',
          `${MiB(memory.peakForward)} / ${MiB(memory.peakBackward)} / ${MiB(memory.peakOptimizer)}`,
        ],
        ['**measured peak of live buffers during the step**', MiB(memory.peakLive)],
        ['held on the device after the step (live + pooled)', MiB(memory.heldAfter)],
      ],
    ),
  );
  out(`\nTarget: peak <= 1.25x the analytic sum -> x${fmt(memory.ratio, 2)} (${memory.ratio <= 1.25 ? 'met' : 'NOT met'}).\n`);
  atMost('GPT step peak memory <= 1.25x analytic sum', memory.ratio, 1.25);

  const steps = args.quick ? 1000 : 10_000;
  log(`memory over ${steps} training steps ...`);
  // in a process of its own: the peers' device and the other sections' models hold memory mappings
  const child = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), 'flat.ts'), String(steps)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    },
  );
  flat = JSON.parse(child.trim().split('\n').at(-1)!) as FlatResult;
  noteLoad('memory (long run)');
  out(`\n## memory over ${steps} training steps (${flat.config})\n`);
  out(
    table(
      ['step', 'live tensors', 'live', 'live + pooled', 'memory mappings'],
      flat.samples.map((r, i) => [
        String(r.step),
        String(r.liveTensors),
        MiB(r.liveBytes),
        MiB(r.heldBytes),
        String(flat!.mappings?.[i] ?? ''),
      ]),
    ),
  );
  const sp = flat.spread;
  out(
    `\nSpread after the first sample: ${sp.liveTensors} tensors, ${MiB(sp.liveBytes)} live, ${MiB(sp.heldBytes)} live + pooled (${fmt(flat.msPerStep, 1)} ms per step).\n`,
  );
  atMost(`memory flat over ${steps} steps (live + pooled spread, bytes)`, sp.heldBytes + sp.liveTensors, 0);
}

oursGptModel?.dispose();

// ---- MoRA ---------------------------------------------------------------------------------------------------
let moraRes: MoraResult[] = [];
if (want('mora')) {
  log('MoRA fused vs naive vs LoRA ...');
  moraRes = await benchMora(args, log);
  noteLoad('mora');
  out('## MoRA: fused op vs naive twin vs LoRA at matched budget (forward + backward, x requires grad)\n');
  const rows: (string | number)[][] = [];
  for (const r of moraRes) {
    for (const e of [r.fused, r.naive, r.lora, r.denseForMora, r.denseBase, r.moraLinear, r.loraLinear]) {
      rows.push([
        r.case,
        e.what,
        ms(e.timing.median),
        e.dispatches,
        fmt(e.macs / 1e6, 1),
        fmt(e.gflops),
        pctCeil(e.gflops),
        e.kernels
          .slice(0, 4)
          .map((k) => `${k.kernel} ${fmt(k.gpuMs, 1)}`)
          .join(', '),
      ]);
    }
  }
  out(table(['case', 'what', 'time', 'dispatches', 'M MACs', 'GFLOP/s', '% of ceiling', 'top kernels (GPU ms, one profiled call)'], rows));
  out('');
  out(
    table(
      [
        'case',
        'R (MoRA) / params',
        'LoRA params',
        'naive / fused (>= 3)',
        'MoRALinear / LoRALinear (<= 1.3)',
        'MoRA GFLOP/s vs x Wᵀ (>= 50%)',
        'LoRA GFLOP/s vs x Wᵀ (>= 50%)',
      ],
      moraRes.map((r) => [
        `${r.case}: ${r.shapes}`,
        `${r.R} / ${r.moraParams}`,
        r.loraParams,
        `x${fmt(r.fusedSpeedup, 1)} ${r.fusedSpeedup >= 3 ? 'met' : 'NOT met'}`,
        `x${fmt(r.linearRatio, 2)} ${r.linearRatio <= 1.3 ? 'met' : 'NOT met'}`,
        `${fmt(100 * r.moraEfficiency, 0)}% ${r.moraEfficiency >= 0.5 ? 'met' : 'NOT met'}`,
        `${fmt(100 * r.loraEfficiency, 0)}% ${r.loraEfficiency >= 0.5 ? 'met' : 'NOT met'}`,
      ]),
    ),
  );
  out('');
  for (const r of moraRes) {
    atLeast(`MoRA ${r.case} (${r.shapes}): fused >= 3x naive twin`, r.fusedSpeedup, 3);
    atMost(`MoRA ${r.case}: MoRALinear <= 1.3x LoRALinear`, r.linearRatio, 1.3);
    atLeast(`MoRA ${r.case}: fused op >= 50% of x Wᵀ GFLOP/s`, r.moraEfficiency, 0.5);
    atLeast(`MoRA ${r.case}: LoRA >= 50% of x Wᵀ GFLOP/s`, r.loraEfficiency, 0.5);
  }
}

// ---- LP_NUM_THREADS sweep (full bench, or --only=threads) ---------------------------------------------
let threads: ThreadResult[] = [];
if ((args.only === 'threads' || (!args.quick && args.only === null)) && /llvmpipe|lavapipe/i.test(env.adapter)) {
  log('LP_NUM_THREADS sweep (child processes, fast 1024³) ...');
  threads = lpThreadSweep(args, log);
  noteLoad('threads');
  const ok = threads.filter((t) => t.gflops !== null);
  const top = ok.reduce<ThreadResult | null>((b, t) => (b === null || t.gflops! > b.gflops! ? t : b), null);
  out('## LP_NUM_THREADS (lavapipe), matmul 1024³, one process each\n');
  out(
    table(
      ['LP_NUM_THREADS', 'GFLOP/s', 'ms/op'],
      threads.map((t) => [t.threads, t.gflops === null ? `failed: ${t.error}` : fmt(t.gflops), t.meanMs === null ? '-' : fmt(t.meanMs, 1)]),
    ),
  );
  if (top)
    out(
      `\nFastest: LP_NUM_THREADS=${top.threads} (${fmt(top.gflops!)} GFLOP/s) on ${env.cores} cores; the backend's default when unset is 4.\n`,
    );
}

if (targets.length) {
  out('## targets (this run)\n');
  out(
    table(
      ['target', 'measured', 'met', 'gap'],
      targets.map((t) => [t.target, t.measured, t.met ? 'met' : '**NOT met**', t.gap]),
    ),
  );
  out(
    '\nRatios are times (peer / moragrad, or naive / fused), except the MoRA efficiency rows (adapter GFLOP/s / the layer x Wᵀ GFLOP/s, as a fraction) and memory (peak / analytic).\n',
  );
}

noteLoad('end');
const elapsed = (performance.now() - t0) / 1e3;
out(`1-min load average during the run: ${loads.map((l) => `${l.after} ${fmt(l.load1m, 1)}`).join(', ')}. Total ${fmt(elapsed, 0)} s.`);

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
const base = join(dir, `${env.date.slice(0, 10)}${args.quick ? '-quick' : ''}${args.only ? `-${args.only}` : ''}`);
writeFileSync(
  `${base}.json`,
  `${JSON.stringify(
    {
      env,
      peers: peers.info,
      loadAverages: loads,
      elapsedSec: elapsed,
      timing:
        'benchmark.js deferred (training: round-robin steps); each iteration: dispatch + submit + wait for the device; ratios = peer median / moragrad median',
      ceiling,
      blas,
      hostBandwidth: bandwidth,
      matmul,
      ops,
      overhead,
      peerOverhead,
      training,
      profile,
      memory,
      flat,
      generation,
      mora: moraRes,
      lpThreads: threads,
      targets,
    },
    null,
    2,
  )}\n`,
);
writeFileSync(`${base}.md`, `${md.join('\n')}\n`);
console.log(`\nResults written to ${base}.json and .md`);
process.exit(0);
