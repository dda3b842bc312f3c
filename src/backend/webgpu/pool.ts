// Buffer pool by size class. Freed buffers go back to a free list of their class and are handed out
// again; nothing is destroyed until `trim()`. Classes are 2^k and 1.5·2^k bytes (at most 33% slack),
// always multiples of 16: kernels may bind any tensor as an array of vec4s (kernels/mora_block.wgsl)
// and reach every element.
//
// Reuse inside one open command encoder is safe: WebGPU orders commands, so a later dispatch that
// writes a recycled buffer runs after the earlier ones that read it. Only `queue.writeBuffer` jumps
// ahead of unsubmitted commands, which is why uploads flush the encoder first (see webgpu.ts).

export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  const p = 2 ** Math.ceil(Math.log2(b));
  const threeQuarters = (p / 4) * 3;
  const cls = b <= threeQuarters && threeQuarters % 16 === 0 ? threeQuarters : p;
  return cls;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  pooledBytes = 0;
  /** Device buffers created and not destroyed (in use or pooled). */
  buffers = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private readonly label: string,
    /** Called before a new device buffer is created (the backend's resource check). */
    private readonly beforeCreate: () => void = () => undefined,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= cls;
      return reused;
    }
    this.beforeCreate();
    this.buffers++;
    return this.device.createBuffer({ size: cls, usage: this.usage, label: `${this.label}:${cls}` });
  }

  releaseBuffer(buf: GPUBuffer): void {
    const cls = buf.size;
    let list = this.free.get(cls);
    if (!list) {
      list = [];
      this.free.set(cls, list);
    }
    list.push(buf);
    this.pooledBytes += cls;
  }

  /**
   * Puts every free list in one order (`rank` ascending from the top of the stack), so what is handed
   * out next depends on which buffers are free, not on the order they were released in. A training
   * loop then gets the same buffers for the same tensors every step, and its bind groups (keyed by
   * buffers) come from the cache instead of being created each step.
   */
  canonicalize(rank: (b: GPUBuffer) => number): void {
    for (const list of this.free.values()) if (list.length > 1) list.sort((a, b) => rank(b) - rank(a));
  }

  /** Destroys every pooled buffer. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) b.destroy();
      this.buffers -= list.length;
    }
    this.free.clear();
    this.pooledBytes = 0;
  }
}
