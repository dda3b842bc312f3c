// Multi-tensor dispatches: one kernel reads or updates several tensors, each bound in a slot of its
// own (kernels/clip_norm.wgsl, kernels/adamw_multi.wgsl), instead of one dispatch per parameter.
// WGSL cannot pick a binding at run time, so the kernels switch on the slot index; a dispatch's
// workgroups are split among its slots by size: slot s covers ⌈n_s / CHUNK⌉ consecutive workgroups
// from start[s], each workgroup CHUNK consecutive elements of its tensor (lanes strided by WG).
// Each kernel has two entry points with a fixed slot count: the small one fits WebGPU's default of
// 8 storage buffers per stage, the large one devices that allow 16 (`Backend.storageBuffers`).
import type { Backend } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { grid1d } from '../ops/grid.js';
import { Tensor } from '../tensor.js';

/** Invocations per workgroup of the multi-tensor kernels (WG in their WGSL). */
export const MULTI_WG = 256;
/** Elements per workgroup (CHUNK in their WGSL: WG · PER_LANE). */
export const MULTI_CHUNK = 1024;
/** Elements per invocation (PER_LANE in their WGSL). */
export const MULTI_PER_LANE = MULTI_CHUNK / MULTI_WG;

/** One dispatch's share of the tensors. */
export interface SlotBatch {
  /** Indices into the caller's list, one per used slot (a prefix of the slots). */
  items: number[];
  /** Elements per slot, `slots` long (0 past the used slots). */
  n: number[];
  /** First workgroup of each slot and, last, the end of the final one (`slots + 1` long). */
  start: number[];
  /** Workgroups of the dispatch (start[slots]). */
  workgroups: number;
}

/** `mg.testing.forceKernel('multiTensor', 'small' | 'large')`: which entry point the multi-tensor kernels take. */
const multiTensorSwitch = defineKernelSwitch<'small' | 'large'>('multiTensor', {
  small: { about: 'the entry points within 8 storage buffers per stage (7 gradients, 2 AdamW parameters per dispatch)' },
  large: { about: 'the entry points within 16 (15 gradients, 4 AdamW parameters per dispatch), where the device allows 16' },
});

/**
 * The slot count of a kernel with a `small` and a `large` entry point that binds `perSlot` buffers
 * per slot plus `extra`: the large one where the device allows it, unless the switch forces small.
 */
export function slotCount(b: Backend, small: number, large: number, perSlot: number, extra: number): number {
  const fits = b.storageBuffers >= large * perSlot + extra;
  const forced = multiTensorSwitch.forced()?.variant;
  if (forced === 'large' && !fits)
    fail(
      'multiTensor',
      `the large entry points need ${large * perSlot + extra} storage buffers per stage; the device allows ${b.storageBuffers}`,
    );
  return forced === 'small' || !fits ? small : large;
}

/**
 * Groups the tensors of `sizes` into dispatches of at most `slots` tensors, in order; empty
 * tensors take no slot.
 */
export function slotBatches(sizes: readonly number[], slots: number): SlotBatch[] {
  const batches: SlotBatch[] = [];
  let cur: number[] = [];
  const close = () => {
    if (cur.length === 0) return;
    const n = Array.from({ length: slots }, (_, s) => (s < cur.length ? sizes[cur[s]] : 0));
    const start = [0];
    for (let s = 0; s < slots; s++) start.push(start[s] + Math.ceil(n[s] / MULTI_CHUNK));
    batches.push({ items: cur, n, start, workgroups: start[slots] });
    cur = [];
  };
  sizes.forEach((size, i) => {
    if (size === 0) return;
    cur.push(i);
    if (cur.length === slots) close();
  });
  close();
  return batches;
}

/**
 * `perSlot` fillers for each unused slot of the last of `batches` (the others are full): they bind
 * (an entry point binds all its slots) but no workgroup reads them. Each is a storage of its own:
 * WebGPU rejects two writable bindings of overlapping ranges.
 */
export function padTensors(b: Backend, batches: readonly SlotBatch[], slots: number, perSlot = 1): Tensor[] {
  const used = batches.at(-1)?.items.length ?? slots;
  return Array.from({ length: (slots - used) * perSlot }, () => new Tensor(b.alloc(1, 'float32'), [1]));
}

/** `ts[batch.items[s]]` for each slot s, the unused ones taken from `pads`. */
export function slotTensors<T>(ts: readonly T[], batch: SlotBatch, slots: number, pads: readonly T[]): T[] {
  const k = batch.items.length;
  return Array.from({ length: slots }, (_, s) => (s < k ? ts[batch.items[s]] : pads[s - k]));
}

/** The dispatch grid of a batch (a 2-D grid past 65,535 workgroups; the kernels skip the extra ones). */
export const batchGrid = (b: SlotBatch): [number, number, number] => grid1d(b.workgroups * MULTI_WG, MULTI_WG);

/** A `dims` uniform field's worth (8 entries) of `a` from `at`, zero-padded. */
export function dims8(a: readonly number[], at = 0): number[] {
  return Array.from({ length: 8 }, (_, i) => a[at + i] ?? 0);
}

/** The bit pattern of float32 values as u32 (a `dims` field the WGSL reads as `array<vec4<f32>, 2>`). */
export function f32Bits(a: readonly number[]): number[] {
  return Array.from(new Uint32Array(new Float32Array(a).buffer));
}

/**
 * The element indices of slot `s`'s workgroup `w` (relative to the slot's first) and lane, as the
 * kernels walk them: the cpu loops' mirror of the WGSL index arithmetic.
 */
export function laneElements(w: number, lane: number, n: number, visit: (i: number) => void): void {
  const first = w * MULTI_CHUNK + lane;
  for (let j = 0; j < MULTI_PER_LANE; j++) {
    const i = first + j * MULTI_WG;
    if (i < n) visit(i);
  }
}
