// Kernel parameters (the `Params` uniform struct) by content. Each distinct byte string gets a slot
// of a device buffer once, written when first seen, and every dispatch with the same parameters
// binds that slot: a training step repeats its shapes, so its dispatches find their slots (and with
// them their cached bind groups, webgpu.ts) from the second step on. When the buffer is full the
// backend submits what is recorded and starts over (`reset`): slots are then rewritten by queue
// writes, which the queue orders after the submitted work that read them.
import { fail } from '../../errors.js';
import type { UniformField } from '../interface.js';

/** Bytes per slot: the largest Params struct (and the uniform offset alignment). */
export const UNIFORM_SLOT = 256;
/** Slots in the store. */
const SLOTS = 4096;
const WORDS = UNIFORM_SLOT / 4;

export class UniformStore {
  readonly buffer: GPUBuffer;
  readonly slotBytes: number;
  /** The parameters being packed (one slot's words). */
  private readonly words = new Uint32Array(WORDS);
  private readonly view = new DataView(this.words.buffer);
  /** Host copy of every slot written, to tell hash collisions apart. */
  private readonly host = new Uint32Array(SLOTS * WORDS);
  private readonly lengths = new Uint8Array(SLOTS);
  /** Hash of the packed words → slots holding parameters with that hash. */
  private readonly byHash = new Map<number, number | number[]>();
  private next = 0;

  constructor(
    private readonly device: GPUDevice,
    usage: number,
  ) {
    this.slotBytes = Math.max(UNIFORM_SLOT, device.limits.minUniformBufferOffsetAlignment);
    this.buffer = device.createBuffer({ size: SLOTS * this.slotBytes, usage, label: 'uniforms' });
  }

  /** Slots written since the last reset. */
  get used(): number {
    return this.next;
  }

  get full(): boolean {
    return this.next === SLOTS;
  }

  /** Forgets every slot (call after submitting the work that uses them). */
  reset(): void {
    this.byHash.clear();
    this.next = 0;
  }

  /**
   * The slot holding `fields` packed as a WGSL uniform struct (scalars 4 bytes, `dims` 8 × u32
   * 16-byte aligned); -1 when the parameters are new and the store is full.
   */
  slotOf(fields: readonly UniformField[], op: string): number {
    const n = this.pack(fields, op);
    const w = this.words;
    let h = 0x811c9dc5 ^ n;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ w[i], 0x01000193);
    const hit = this.byHash.get(h);
    if (hit !== undefined) {
      if (typeof hit === 'number') {
        if (this.same(hit, n)) return hit;
      } else {
        for (const s of hit) if (this.same(s, n)) return s;
      }
    }
    if (this.next === SLOTS) return -1;
    const slot = this.next++;
    this.host.set(w.subarray(0, n), slot * WORDS);
    this.lengths[slot] = n;
    if (hit === undefined) this.byHash.set(h, slot);
    else this.byHash.set(h, typeof hit === 'number' ? [hit, slot] : [...hit, slot]);
    this.device.queue.writeBuffer(this.buffer, slot * this.slotBytes, w, 0, n); // offset and size in elements
    return slot;
  }

  private same(slot: number, n: number): boolean {
    if (this.lengths[slot] !== n) return false;
    const w = this.words;
    const base = slot * WORDS;
    for (let i = 0; i < n; i++) if (this.host[base + i] !== w[i]) return false;
    return true;
  }

  /** Packs into `words`; returns the number of words used. */
  private pack(fields: readonly UniformField[], op: string): number {
    const v = this.view;
    this.words.fill(0);
    let o = 0;
    for (const f of fields) {
      if (f[0] === 'dims') {
        const dims = f[1];
        if (dims.length > 8) fail(op, `at most 8 dimensions are supported by the kernels, got ${dims.length}`);
        o = Math.ceil(o / 16) * 16;
        if (o + 32 > UNIFORM_SLOT) fail(op, `uniform struct exceeds ${UNIFORM_SLOT} bytes`);
        for (let i = 0; i < dims.length; i++) v.setUint32(o + i * 4, dims[i], true);
        o += 32;
      } else {
        if (o + 4 > UNIFORM_SLOT) fail(op, `uniform struct exceeds ${UNIFORM_SLOT} bytes`);
        if (f[0] === 'f32') v.setFloat32(o, f[1], true);
        else if (f[0] === 'i32') v.setInt32(o, f[1], true);
        else v.setUint32(o, f[1], true);
        o += 4;
      }
    }
    return o / 4;
  }
}
