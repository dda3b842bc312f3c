// The float64 reference backend: plain loops, the oracle every GPU kernel is tested against.
// Float tensors live in Float64Array, int32 tensors in Int32Array. Each kernel's loop is its `cpu`
// field (in src/ops), so this file only owns memory and bookkeeping. float16 tensors hold float64
// values rounded to binary16 on every write (upload, and each kernel's outputs after it ran), so
// the loops compute in float64 and store what a half buffer could hold.
import { type DType, f16round } from '../../dtype.js';
import { fail } from '../../errors.js';
import {
  checkF16,
  shaderOf,
  type Backend,
  type HostArray,
  type MemoryInfo,
  type RunRequest,
  type Storage,
  type TraceEntry,
} from '../interface.js';

export class CpuStorage implements Storage {
  refs = 0;
  constructor(
    readonly backend: CpuBackend,
    readonly data: Float64Array | Int32Array,
    readonly dtype: DType,
  ) {}
  get numel(): number {
    return this.data.length;
  }
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly description = 'cpu (float64 reference loops)';
  /** 2^28 elements (2 GiB of float64): the reference loops are for test-sized tensors; beyond this an allocation would take many seconds or exhaust memory. */
  readonly maxElements = 2 ** 28;
  readonly workgroupMemory = Infinity;
  readonly subgroups = null;
  readonly storageBuffers = Infinity;
  private live = 0;
  private liveBytes = 0;
  private dispatches = 0;
  private trace: TraceEntry[] | null = null;

  alloc(numel: number, dtype: DType): CpuStorage {
    if (!Number.isInteger(numel) || numel < 0 || numel > this.maxElements)
      fail('alloc', `${numel} elements exceed the cpu backend's limit of ${this.maxElements} per tensor`);
    this.live++;
    this.liveBytes += numel * (dtype === 'int32' ? 4 : 8);
    return new CpuStorage(this, dtype === 'int32' ? new Int32Array(numel) : new Float64Array(numel), dtype);
  }

  upload(data: ArrayLike<number>, dtype: DType): CpuStorage {
    const s = this.alloc(data.length, dtype);
    s.data.set(data as ArrayLike<number>);
    if (dtype === 'float16') roundF16(s.data);
    return s;
  }

  async read(s: Storage): Promise<HostArray> {
    return this.own(s).data.slice();
  }

  /** Synchronous read, for float64 oracles and gradcheck. */
  readSync(s: Storage): Float64Array | Int32Array {
    return this.own(s).data;
  }

  release(s: Storage): void {
    const c = this.own(s);
    this.live--;
    this.liveBytes -= c.numel * (c.dtype === 'int32' ? 4 : 8);
  }

  run<P>(req: RunRequest<P>): void {
    const half = checkF16(req.kernel, [req.inputs, req.outputs]);
    this.dispatches++;
    const ins = req.inputs.map((s) => this.own(s).data);
    const outs = req.outputs.map((s) => this.own(s).data);
    req.kernel.cpu(ins, outs, req.params);
    if (half) req.outputs.forEach((s, i) => s.dtype === 'float16' && roundF16(outs[i]));
    this.trace?.push({
      kernel: req.kernel.label?.(req.params) ?? req.kernel.name,
      shader: shaderOf(req.kernel, req.params),
      workgroups: [0, 0, 0],
      shapes: req.shapes.map((s) => [...s]),
    });
  }

  flush(): void {}

  memory(): MemoryInfo {
    return { liveBuffers: this.live, liveBytes: this.liveBytes, pooledBytes: 0, deviceBuffers: 0, dispatches: this.dispatches, submits: 0 };
  }

  startTrace(): void {
    this.trace = [];
  }

  async stopTrace(): Promise<TraceEntry[]> {
    const t = this.trace ?? [];
    this.trace = null;
    return t;
  }

  private own(s: Storage): CpuStorage {
    if (!(s instanceof CpuStorage) || s.backend !== this) fail('cpu', 'storage belongs to another backend');
    return s;
  }
}

/** Rounds every value to binary16 in place. */
function roundF16(a: Float64Array | Int32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = f16round(a[i]);
}
