// How long the JS thread spins while it waits for the GPU.
//
// Dawn's node binding (npm `webgpu`) learns that GPU work has finished by polling: while one of its
// promises (onSubmittedWorkDone, mapAsync) is pending, it re-posts a native callback through the
// global `setImmediate` that calls `wgpuInstanceProcessEvents`, a busy loop on the JS thread. On a
// GPU that costs a CPU core and nothing else. On a CPU adapter (lavapipe) the "GPU" is a pool of
// worker threads on the same cores, and the loop takes one of them (perf shows the JS thread busy as
// long as both lavapipe workers together; docs/performance.md has what backing it off gains).
//
// `waitGpu(p)` awaits a Dawn promise with the polling backed off after SPIN_MS: from then on, the
// binding's re-posted callbacks go through setTimeout(1 ms) instead of setImmediate. Short waits (a
// tiny dispatch round trip is ~0.15-0.2 ms) still spin; long ones lose at most ~1 ms of latency.
// Enabled by the backend on CPU adapters only (`enableBackoff`; MORAGRAD_DAWN_SPIN=1 turns it off).
// Outside waitGpu, and for anything but the binding's callbacks (native functions of no arguments),
// setImmediate is untouched.

/** Spin this long (ms) at the start of a wait before backing off. */
const SPIN_MS = 1;

const realSetImmediate = globalThis.setImmediate;
let enabled = false;
let waits = 0; // waitGpu calls in flight
let since = 0; // when the oldest of them started

/** Dawn's re-posted poll: a native function of no arguments (a Promise resolver takes one). */
function isDawnPoll(fn: unknown): boolean {
  return typeof fn === 'function' && fn.length === 0 && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(fn));
}

function backedOffSetImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
  if (waits > 0 && performance.now() - since > SPIN_MS && isDawnPoll(fn)) {
    return setTimeout(fn, 1, ...args) as unknown as NodeJS.Immediate;
  }
  return realSetImmediate(fn, ...args);
}

/** Installs the back-off (idempotent). The backend calls it for CPU adapters; MORAGRAD_DAWN_SPIN=1 keeps Dawn's loop. */
export function enableBackoff(): void {
  if (enabled || process.env.MORAGRAD_DAWN_SPIN === '1') return;
  enabled = true;
  globalThis.setImmediate = Object.assign(backedOffSetImmediate, realSetImmediate) as typeof setImmediate;
}

/** Awaits a promise of Dawn's (GPU completion, buffer mapping) with the polling backed off. */
export async function waitGpu<T>(p: Promise<T>): Promise<T> {
  if (waits++ === 0) since = performance.now();
  try {
    return await p;
  } finally {
    waits--;
  }
}
