// Sub-allocation of small tensors. A CPU adapter (lavapipe) maps every device buffer into the
// process, and the kernel kills a process past vm.max_map_count mappings (65,530 by default), so one
// buffer per [4] tensor would crash at ~65,000 live tensors. Tensors whose size class is at most
// SLAB_MAX_CLASS bytes live instead in slots of larger buffers (slabs): one slab serves one size
// class, its slots are `stride` bytes apart (the class rounded up to minStorageBufferOffsetAlignment,
// so a slot binds with an offset), and a slot is taken from the slab's free stack or, failing that,
// from its never-used tail. 70,000 [4] tensors fit in 18 slabs of 1 MiB.
//
// WebGPU treats a whole buffer as one resource within a dispatch: binding one slab as read-only
// storage (an input) and as writable storage (an output) in the same dispatch is a validation error,
// while two writable or two read-only bindings of it are fine. `take` therefore accepts slabs to avoid
// (the slabs of the op's inputs, when the backend places a fresh output); the backend resolves what
// placement cannot (in-place kernels) by binding the input from a copy (webgpu.ts, `bindStorages`).
//
// Empty slabs stay for reuse; beyond KEEP_EMPTY per class they are destroyed at the next
// `releaseEmpty` (the backend calls it after each submit: destroying a buffer that unsubmitted
// commands use would invalidate them), and `trim` destroys every empty slab.

/** Largest size class (bytes) that lives in slabs; bigger tensors get a buffer of their own. */
export const SLAB_MAX_CLASS = 64 * 1024;
/** Slab size: 64 slots of its class, and at least 1 MiB. */
const SLAB_MIN_BYTES = 1 << 20;
const SLOTS_PER_SLAB = 64;
/** Empty slabs per class kept for reuse (more than one: a chain of ops alternates between slabs). */
const KEEP_EMPTY = 2;

export interface Slab {
  readonly buffer: GPUBuffer;
  /** Small integer naming the buffer in the bind-group cache's keys. */
  readonly id: number;
  readonly cls: number;
  readonly stride: number;
  readonly capacity: number;
  /** Freed slot indices (a stack: the most recently freed slot is reused first). */
  readonly free: number[];
  /** Slots [next, capacity) were never handed out. */
  next: number;
  used: number;
}

export class SlabAllocator {
  /** Slabs with at least one free slot, per size class, in the order they gained one. */
  private partial = new Map<number, Slab[]>();
  /** Every slab, per size class. */
  private all = new Map<number, Slab[]>();
  private emptyCount = 0;
  slabBytes = 0;
  usedBytes = 0;
  count = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private readonly align: number,
    /** Creates the buffer id for a new slab; called before the device buffer is created (the backend's resource check). */
    private readonly newId: () => number,
    /** Called with each destroyed slab's id. */
    private readonly onDestroy: (id: number) => void,
  ) {}

  /** A slot for a tensor of size class `cls`, in a slab that is not in `avoid`. */
  take(cls: number, avoid: readonly (Slab | null)[]): [Slab, number] {
    let list = this.partial.get(cls);
    if (!list) {
      list = [];
      this.partial.set(cls, list);
    }
    let slab: Slab | undefined;
    let at = -1;
    for (let i = 0; i < list.length; i++) {
      if (!avoid.includes(list[i])) {
        slab = list[i];
        at = i;
        break;
      }
    }
    if (!slab) {
      slab = this.create(cls);
      list = this.partial.get(cls)!; // creating may have trimmed (the backend's resource check)
      list.push(slab);
      at = list.length - 1;
    }
    const slot = slab.free.length > 0 ? slab.free.pop()! : slab.next++;
    if (slab.used++ === 0) this.emptyCount--;
    this.usedBytes += slab.stride;
    if (slab.used === slab.capacity) list.splice(at, 1);
    return [slab, slot];
  }

  give(slab: Slab, slot: number): void {
    if (slab.used === slab.capacity) this.partial.get(slab.cls)!.push(slab);
    slab.free.push(slot);
    this.usedBytes -= slab.stride;
    if (--slab.used === 0) this.emptyCount++;
  }

  /**
   * Puts free slots and partial slabs in one order (lowest slot of the lowest slab first), so the
   * slots handed out next depend on which are free, not on the release order (see BufferPool.canonicalize).
   */
  canonicalize(): void {
    for (const list of this.partial.values()) {
      if (list.length > 1) list.sort((a, b) => a.id - b.id);
      for (const s of list) if (s.free.length > 1) s.free.sort((a, b) => b - a);
    }
  }

  /** Destroys empty slabs beyond KEEP_EMPTY per class (all of them with `keep = 0`). Call with nothing unsubmitted. */
  releaseEmpty(keep = KEEP_EMPTY): void {
    if (this.emptyCount <= keep) return; // no class can hold more than `keep`
    for (const [cls, slabs] of this.all) {
      let kept = 0;
      const gone = new Set(slabs.filter((s) => s.used === 0 && kept++ >= keep));
      if (gone.size === 0) continue;
      for (const s of gone) {
        this.slabBytes -= s.buffer.size;
        s.buffer.destroy();
        this.onDestroy(s.id);
        this.count--;
        this.emptyCount--;
      }
      this.all.set(
        cls,
        slabs.filter((s) => !gone.has(s)),
      );
      this.partial.set(
        cls,
        this.partial.get(cls)!.filter((s) => !gone.has(s)),
      );
    }
  }

  private create(cls: number): Slab {
    const stride = Math.ceil(cls / this.align) * this.align;
    const capacity = Math.max(SLOTS_PER_SLAB, Math.floor(SLAB_MIN_BYTES / stride));
    const id = this.newId();
    const buffer = this.device.createBuffer({ size: capacity * stride, usage: this.usage, label: `slab:${cls}` });
    const slab: Slab = { buffer, id, cls, stride, capacity, free: [], next: 0, used: 0 };
    let list = this.all.get(cls);
    if (!list) {
      list = [];
      this.all.set(cls, list);
    }
    list.push(slab);
    this.emptyCount++;
    this.slabBytes += buffer.size;
    this.count++;
    return slab;
  }
}
