// Process-wide state: the backends, the default one, tidy scopes, and the opt-in finite check.
import type { Backend, MemoryInfo, TraceEntry } from './backend/interface.js';
import { CpuBackend } from './backend/cpu/cpu.js';
import { WebGpuBackend } from './backend/webgpu/webgpu.js';
import { fail, MoragradError } from './errors.js';
import { handOverToTape } from './tape-hold.js';
import type { Tensor } from './tensor.js';

export type BackendName = 'webgpu' | 'cpu';

const cpuBackend = new CpuBackend();
let gpuBackend: WebGpuBackend | null = null;
let gpuInit: Promise<WebGpuBackend> | null = null;
let defaultBackend: Backend | null = null;

export interface InitOptions {
  /** 'webgpu' (default) or 'cpu' (the float64 reference). */
  backend?: BackendName;
  /** With no WebGPU adapter: fall back to 'cpu' with a loud warning instead of throwing. */
  fallback?: 'cpu';
}

/** Creates the WebGPU device (once) and makes `backend` the default for new tensors. */
export async function init(opts: InitOptions = {}): Promise<Backend> {
  const name = opts.backend ?? 'webgpu';
  if (name === 'cpu') {
    defaultBackend = cpuBackend;
    return defaultBackend;
  }
  if (name !== 'webgpu') fail('init', `unknown backend '${String(name)}' (expected 'webgpu' or 'cpu')`);
  try {
    if (!gpuBackend) {
      gpuInit ??= WebGpuBackend.create();
      gpuBackend = await gpuInit;
    }
  } catch (e) {
    gpuInit = null;
    if (opts.fallback === 'cpu' && e instanceof MoragradError) {
      console.warn(`\n*** moragrad WARNING: ${e.message}\n*** Falling back to the cpu backend (float64 loops, very slow).\n`);
      defaultBackend = cpuBackend;
      return defaultBackend;
    }
    throw e;
  }
  defaultBackend = gpuBackend;
  return defaultBackend;
}

/** The named backend, or the default one. */
export function getBackend(name?: BackendName): Backend {
  if (name === 'cpu') return cpuBackend;
  if (name === 'webgpu') {
    if (!gpuBackend) fail('backend', 'the webgpu backend is not initialised: call `await mg.init()` first');
    return gpuBackend;
  }
  if (name !== undefined) fail('backend', `unknown backend '${String(name)}' (expected 'webgpu' or 'cpu')`);
  if (!defaultBackend) fail('backend', "no backend: call `await mg.init()` (webgpu) or `await mg.init({ backend: 'cpu' })` first");
  return defaultBackend;
}

export function cpu(): CpuBackend {
  return cpuBackend;
}

export function webgpu(): WebGpuBackend | null {
  return gpuBackend;
}

// ---- tidy scopes -----------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];
let liveTensors = 0;

/** Called by every new Tensor. */
export function track(t: Tensor): void {
  liveTensors++;
  scopes[scopes.length - 1]?.add(t);
}

/** Called by Tensor.dispose. */
export function untrackDisposed(t: Tensor): void {
  liveTensors--;
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(t)) break;
}

/** Removes `t` from the enclosing tidy scopes so it outlives them (like tf.keep). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/**
 * Runs `fn` and disposes every tensor created inside it that is not returned (tensors anywhere in
 * the returned value: a tensor, an array, or an object's values) and not `keep`-ed. Returned tensors
 * move to the enclosing scope. Tensors the tape of a returned tensor still needs are handed to the
 * tape instead (src/tape-hold.ts): backward frees them as it goes, disposing the returned tensor
 * frees the rest. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // The scope's tensors are unreachable once fn has thrown: free them, then re-throw.
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    fail('tidy', 'the function returned a Promise; tidy scopes must be synchronous');
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned, 0);
  handOverToTape(scope, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (isTensor(v)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
}

let tensorClass: (new (...a: never[]) => Tensor) | null = null;
export function registerTensorClass(c: new (...a: never[]) => Tensor): void {
  tensorClass = c;
}
function isTensor(v: object): v is Tensor {
  return tensorClass !== null && v instanceof tensorClass;
}

// ---- counters, profiling ----------------------------------------------------------------------------

export interface Memory extends MemoryInfo {
  /** Tensors created and not yet disposed (all backends). */
  liveTensors: number;
  backend: BackendName;
}

/** Live tensors, live buffers and bytes, pooled bytes and dispatch counts of a backend. */
export function memory(name?: BackendName): Memory {
  const b = name ? getBackend(name) : (defaultBackend ?? cpuBackend);
  return { liveTensors, backend: b.name, ...b.memory() };
}

export interface Profile<T> {
  result: T;
  kernels: TraceEntry[];
  /** Sum of the kernels' GPU times (ms), where timestamps exist. */
  gpuMs: number | null;
}

/**
 * Runs `fn` and returns the kernels it dispatched (name, workgroups, input shapes) and, where the
 * adapter has `timestamp-query`, their GPU times. `fn` may be async.
 */
export async function profile<T>(fn: () => T | Promise<T>, name?: BackendName): Promise<Profile<T>> {
  const b = getBackend(name);
  b.startTrace();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    await b.stopTrace();
    throw e;
  }
  const kernels = await b.stopTrace();
  const timed = kernels.filter((k) => k.gpuMs !== undefined);
  return { result, kernels, gpuMs: timed.length ? timed.reduce((s, k) => s + k.gpuMs!, 0) : null };
}

// ---- finite check ---------------------------------------------------------------------------------

let checkEveryOp = process.env.MORAGRAD_CHECK_FINITE === '1';
/** Opt-in: check every op's output for NaN/Inf (slow: reads back on every op). */
export function setCheckFinite(on: boolean): void {
  checkEveryOp = on;
}
export function checkFiniteEnabled(): boolean {
  return checkEveryOp;
}

/** Run before every readback while the finite check is on (ops/finite.ts reads its flags). */
export const readHooks: (() => Promise<void>)[] = [];
