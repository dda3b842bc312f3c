// The peers, loaded into this same process so every ratio is measured side by side:
//
//   tfjs-webgpu   @tensorflow/tfjs-backend-webgpu on Dawn's adapter (the npm `webgpu` package, the
//                 same lavapipe device kind moragrad uses: a second GPUDevice on the same adapter)
//   tfjs-wasm     @tensorflow/tfjs-backend-wasm (SIMD; tfjs disables its threaded build under Node,
//                 so one thread)
//   tfjs-cpu      @tensorflow/tfjs's plain JavaScript backend
//   onnxruntime   onnxruntime-node, CPU execution provider, all cores (bench/onnx.ts): the native
//                 matmul ceiling
//
// tfjs has one active backend at a time: `use(peer)` switches to it; build a peer's tensors after
// switching to it (a tensor of another backend would be moved on first use).
//
// Synchronisation per timed iteration, matching moragrad's gpuSync: tfjs-webgpu: close the open
// compute pass, submit, await queue.onSubmittedWorkDone() (no readback); tfjs-wasm / tfjs-cpu run
// kernels synchronously inside the op call, so returning is finishing.
import { create, globals } from 'webgpu';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import * as mg from '../src/index.js';
import { waitGpu } from '../src/backend/webgpu/polling.js';
import { fmt, gpuSync, measure, type Paired, pairedRatio, type Timing } from './common.js';
import { loadOrt, type OrtRunner } from './onnx.js';

export type TfPeer = 'tfjs-webgpu' | 'tfjs-wasm' | 'tfjs-cpu';
export type PeerName = TfPeer | 'onnxruntime';
export const TF_PEERS: TfPeer[] = ['tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'];

export type Tf = typeof import('@tensorflow/tfjs');

/** What the peers are and whether each loaded. */
export interface PeerInfo {
  name: PeerName;
  version: string;
  ok: boolean;
  /** The device / build it ran on, or why it did not load. */
  detail: string;
}

export interface Peers {
  tf: Tf | null;
  info: PeerInfo[];
  available(p: PeerName): boolean;
  /** Makes `p` tfjs's active backend. */
  use(p: TfPeer): Promise<void>;
  /** Waits until the active tfjs backend has finished the work issued so far. */
  sync(p: TfPeer): Promise<void>;
}

const BACKEND: Record<TfPeer, string> = { 'tfjs-webgpu': 'webgpu', 'tfjs-wasm': 'wasm', 'tfjs-cpu': 'cpu' };

/** The parts of tfjs's WebGPUBackend the bench touches (not in its public typings). */
interface TfWebGpuBackend {
  device: GPUDevice;
  adapterInfo?: { vendor?: string; architecture?: string; device?: string; description?: string };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** Where the peers are installed: the benchmark's own package (bench/package.json). */
const PEERS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'node_modules');

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(PEERS_DIR, name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/**
 * Loads tfjs (all three backends) and checks onnxruntime. Must run after `mg.init()` (so
 * LP_NUM_THREADS is settled before tfjs's device is created on the same lavapipe driver).
 */
export async function loadPeers(log: (s: string) => void = () => {}): Promise<Peers> {
  const info: PeerInfo[] = [];
  let tf: Tf | null = null;
  // Dawn's WebGPU globals (GPUBufferUsage, ...) and navigator.gpu, before the backend module loads.
  Object.assign(globalThis, globals);
  (globalThis as unknown as { navigator: unknown }).navigator = { gpu: create(['enable-dawn-features=allow_unsafe_apis']) };
  const quiet = console.warn;
  const quietLog = console.log;
  try {
    console.warn = () => {};
    console.log = () => {}; // tfjs prints a "install tfjs-node" banner on first use of the cpu backend
    tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-webgpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${join(PEERS_DIR, '@tensorflow', 'tfjs-backend-wasm', 'dist')}/`);
    for (const peer of TF_PEERS) {
      const version = pkgVersion(peer === 'tfjs-cpu' ? '@tensorflow/tfjs' : `@tensorflow/tfjs-backend-${BACKEND[peer]}`);
      try {
        const ok = await tf.setBackend(BACKEND[peer]);
        if (!ok) throw new Error('setBackend returned false');
        await tf.ready();
        let detail = '';
        if (peer === 'tfjs-webgpu') {
          // tfjs keeps only vendor / architecture of the adapter it got; ask the same Dawn instance
          // the same question (requestAdapter, high-performance) for the adapter's description
          const b = tf.backend() as unknown as TfWebGpuBackend;
          const a = b.adapterInfo ?? {};
          const gpuApi = (globalThis as unknown as { navigator: { gpu: GPU } }).navigator.gpu;
          const same = (await gpuApi.requestAdapter({ powerPreference: 'high-performance' }))?.info;
          detail = `${same?.description || same?.device || '?'} (tfjs's device: vendor ${a.vendor ?? '?'}, architecture ${a.architecture ?? '?'}), WEBGPU_CPU_FORWARD=${tf.env().get('WEBGPU_CPU_FORWARD')}`;
        } else if (peer === 'tfjs-wasm') {
          detail = `SIMD ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}, threads ${wasm.getThreadsCount()} (tfjs turns wasm threads off under Node)`;
        } else detail = 'plain JavaScript';
        // one tiny op so that lazy setup (the cpu banner, wasm instantiation) is out of the way
        tf.tidy(() => tf!.add(tf!.ones([4]), tf!.ones([4])).dataSync());
        info.push({ name: peer, version, ok: true, detail });
      } catch (e) {
        info.push({ name: peer, version, ok: false, detail: `failed to load: ${(e as Error).message.split('\n')[0]}` });
      }
    }
  } catch (e) {
    for (const peer of TF_PEERS)
      if (!info.some((i) => i.name === peer))
        info.push({ name: peer, version: '?', ok: false, detail: `tfjs failed to load: ${(e as Error).message.split('\n')[0]}` });
    tf = null;
  } finally {
    console.warn = quiet;
    console.log = quietLog;
  }
  const ort = loadOrt();
  info.push(
    ort
      ? {
          name: 'onnxruntime',
          version: pkgVersion('onnxruntime-node'),
          ok: true,
          detail: `CPU execution provider, ${cpus().length} intra-op threads`,
        }
      : { name: 'onnxruntime', version: '?', ok: false, detail: 'onnxruntime-node not loadable' },
  );
  for (const i of info) log(`  ${i.name} ${i.version}: ${i.ok ? i.detail : `NOT LOADED: ${i.detail}`}`);
  const okSet = new Set(info.filter((i) => i.ok).map((i) => i.name));
  return {
    tf,
    info,
    available: (p) => okSet.has(p),
    use: async (p) => {
      if (!tf || !okSet.has(p)) throw new Error(`bench: peer ${p} is not available`);
      if (tf.getBackend() !== BACKEND[p]) await tf.setBackend(BACKEND[p]);
    },
    sync: async (p) => {
      if (p !== 'tfjs-webgpu' || !tf) return;
      const b = tf.backend() as unknown as TfWebGpuBackend;
      b.ensureCommandEncoderReady();
      b.endComputePassEncoder();
      b.submitQueue();
      await waitGpu(b.device.queue.onSubmittedWorkDone()); // the same polling back-off as moragrad's waits
    },
  };
}

// ---- side-by-side rows -----------------------------------------------------------------------------

/** A peer's result in a row: its timing, or why it has none. */
export type PeerResult = Timing | { skipped: string };

export const isTiming = (r: PeerResult | undefined): r is Timing => r !== undefined && 'median' in r;

/** One case measured on moragrad and each peer in the same process. */
export interface Row {
  group: string;
  case: string;
  shapes: string;
  /** Work per call: floating-point operations (unit GFLOP/s) or bytes moved (GB/s). */
  work: number;
  unit: 'GFLOP/s' | 'GB/s';
  ours: Timing;
  /** moragrad's kernels for one call (name x count), from mg.profile. */
  ourKernels: string;
  peers: Partial<Record<PeerName, PeerResult>>;
  /** tfjs-webgpu (the peer on the same adapter) against moragrad in alternating rounds. */
  paired?: Paired;
}

/** How a tfjs peer runs a case: build inputs on the active backend, then `run` (inside tf.tidy). */
export interface TfCase {
  run(): void;
  dispose(): void;
}

export interface CaseSpec {
  group: string;
  case: string;
  shapes: string;
  work: number;
  unit: 'GFLOP/s' | 'GB/s';
  /** moragrad: build inputs, return the call (run inside mg.tidy) and a dispose. */
  ours(): { run(): void; dispose(): void };
  /** tfjs (any backend): same, with the tfjs module. */
  tf?(tf: Tf): TfCase;
  /** onnxruntime: a one-node session, or omitted. */
  ort?(): Promise<OrtRunner | null>;
  /** Peers not run in --quick (too slow there), with the reason shown in the table. */
  skipInQuick?: PeerName[];
}

export interface RowOptions {
  quick: boolean;
  /** benchmark.js maxTime per contender (seconds). */
  maxTime: number;
  minSamples: number;
}

/** Measures one case on moragrad, then each available peer, in this process. */
export async function runCase(spec: CaseSpec, peers: Peers, opts: RowOptions, log: (s: string) => void = () => {}): Promise<Row> {
  const m = { maxTime: opts.maxTime, minSamples: opts.minSamples };
  // ours
  const o = spec.ours();
  const oursOnce = async () => {
    mg.tidy(() => o.run());
    await gpuSync();
  };
  await oursOnce(); // pipelines compiled outside the timing
  const prof = await mg.profile(() => mg.tidy(() => o.run()));
  const counts = new Map<string, number>();
  for (const k of prof.kernels) counts.set(k.kernel, (counts.get(k.kernel) ?? 0) + 1);
  const ourKernels = [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', ');
  const ours = await measure(`${spec.case} moragrad`, oursOnce, m);
  const row: Row = {
    group: spec.group,
    case: spec.case,
    shapes: spec.shapes,
    work: spec.work,
    unit: spec.unit,
    ours,
    ourKernels,
    peers: {},
  };
  // tfjs peers
  for (const p of TF_PEERS) {
    if (!spec.tf) continue;
    if (!peers.available(p) || !peers.tf) {
      row.peers[p] = { skipped: 'not loaded' };
      continue;
    }
    if (opts.quick && spec.skipInQuick?.includes(p)) {
      row.peers[p] = { skipped: 'skipped in --quick' };
      continue;
    }
    try {
      await peers.use(p);
      const tf = peers.tf;
      const c = spec.tf(tf);
      const once = async () => {
        tf.tidy(() => c.run());
        await peers.sync(p);
      };
      await once();
      const t = await measure(`${spec.case} ${p}`, once, m);
      row.peers[p] = t;
      if (p === 'tfjs-webgpu') {
        // about 40 ms of each side per round, at least one call
        const calls = Math.max(1, Math.round(0.04 / Math.max(ours.median, t.median)));
        row.paired = await pairedRatio(oursOnce, once, opts.quick ? 8 : 16, calls);
      }
      c.dispose();
    } catch (e) {
      row.peers[p] = { skipped: `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}` };
    }
  }
  o.dispose();
  // onnxruntime
  if (spec.ort) {
    if (!peers.available('onnxruntime')) row.peers.onnxruntime = { skipped: 'not loaded' };
    else if (opts.quick && spec.skipInQuick?.includes('onnxruntime')) row.peers.onnxruntime = { skipped: 'skipped in --quick' };
    else {
      try {
        const s = await spec.ort();
        if (s) {
          row.peers.onnxruntime = await measure(`${spec.case} onnxruntime`, () => s.run(), m);
          await s.release();
        } else row.peers.onnxruntime = { skipped: 'not loaded' };
      } catch (e) {
        row.peers.onnxruntime = { skipped: `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}` };
      }
    }
  }
  const tput = (t: Timing) => spec.work / t.median / 1e9;
  log(
    `  ${spec.case}: moragrad ${fmt(tput(row.ours))} ${spec.unit}` +
      Object.entries(row.peers)
        .map(([p, r]) => (isTiming(r) ? `, ${p} ${fmt(tput(r))} (x${fmt(r.median / row.ours.median, 2)})` : `, ${p} ${r!.skipped}`))
        .join('') +
      (row.paired ? `; paired with tfjs-webgpu x${fmt(row.paired.ratio, 2)}` : ''),
  );
  return row;
}

/** Throughput of a timing for a row (its unit), from the median sample. */
export const throughput = (row: { work: number }, t: Timing): number => row.work / t.median / 1e9;
