// The WebGPU backend (Dawn's Node bindings). Owns the device, the buffer pools, the pipeline cache
// and the open command encoder: `run` appends one compute pass to the open encoder; nothing is
// submitted until someone reads (`read`), uploads, calls `flush`, or the batch fills.
// Longer than most files: device set-up, batching, readback and tracing share the open encoder's
// state; the pool, the shader loader and the polling back-off already live in their own files.
import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { bytesPer, type DType, f16BitsToNumber, numberToF16Bits } from '../../dtype.js';
import { fail, MoragradError } from '../../errors.js';
import {
  checkF16,
  F16_SUFFIX,
  isCpuAdapter,
  shaderOf,
  type Backend,
  type HostArray,
  type KernelDef,
  type MemoryInfo,
  type RunRequest,
  type Storage,
  type TraceEntry,
  type UniformField,
} from '../interface.js';
import { BufferPool } from './pool.js';
import { enableBackoff, waitGpu } from './polling.js';
import { PipelineCache, compileErrors, shaderOrigin, wgslSource } from './shaders.js';

const G = globals as unknown as { GPUBufferUsage: GPUBufferUsageFlags & Record<string, number>; GPUMapMode: Record<string, number> };
const U = G.GPUBufferUsage as unknown as Record<'STORAGE' | 'COPY_SRC' | 'COPY_DST' | 'MAP_READ' | 'UNIFORM' | 'QUERY_RESOLVE', number>;
const MAP_READ = G.GPUMapMode.READ;

/** New device buffers between two looks at the process's memory mappings. */
const MAP_CHECK_EVERY = 256;

/** Lines of /proc/self/maps (the process's memory mappings), or null off Linux. */
function mappingCount(): number | null {
  try {
    let n = 0;
    const text = readFileSync('/proc/self/maps', 'latin1');
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
    return n;
  } catch {
    return null;
  }
}

/** 90% of the kernel's per-process mapping limit (vm.max_map_count), or null where it cannot be read. */
function defaultMapLimit(): number | null {
  try {
    const max = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
    return Number.isFinite(max) && max > 0 ? Math.floor(max * 0.9) : null;
  } catch {
    return null;
  }
}

/** Dispatches recorded before the encoder is submitted on its own. */
const MAX_BATCH = 256;
/** Bytes reserved per dispatch in the uniform arena (max Params struct size). */
const UNIFORM_SLOT = 256;

export class GpuStorage implements Storage {
  refs = 0;
  constructor(
    readonly backend: WebGpuBackend,
    readonly buffer: GPUBuffer,
    readonly numel: number,
    readonly dtype: DType,
  ) {}
}

/** Dawn's instance and adapter per backend: held so they are not garbage-collected under the device. */
const dawnHandles = new WeakMap<WebGpuBackend, readonly [GPU, GPUAdapter]>();

export interface WebGpuOptions {
  /** Extra Dawn toggles for `create()`. */
  dawnFlags?: string[];
  /** Optional features not to request even where the adapter has them (tests of the paths without them). */
  withoutFeatures?: GPUFeatureName[];
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly maxElements: number;
  readonly workgroupMemory: number;
  readonly subgroups: { min: number; max: number } | null;
  private pool: BufferPool;
  private stagingPool: BufferPool;
  private pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private pending = 0;
  private uniformData: ArrayBuffer;
  private uniformView: DataView;
  private uniformGpu: GPUBuffer;
  private readonly slot: number;
  private live = 0;
  private liveBytes = 0;
  private dispatches = 0;
  private submits = 0;
  private deviceError: string | null = null;
  /** Validation outcomes of run-time (user) kernels' dispatches, settled at the next read. */
  private userChecks: Promise<[kernel: string, message: string] | null>[] = [];
  /** Run-time shaders found broken: the message every later dispatch of them throws at once. */
  private broken = new Map<string, string>();
  /** Run-time shaders with a dispatch that passed validation (batched from then on). */
  private validated = new Set<string>();
  /**
   * Index checks (KernelDef.indexError): kernels record the first out-of-range index in `errorBuffer`
   * ([set, tag, value, position], u32 each); `indexChecks` maps each tag to its dispatch until a
   * readback has seen the buffer after that dispatch ran.
   */
  private readonly errorBuffer: GPUBuffer;
  private indexChecks = new Map<number, { kernel: KernelDef<unknown>; params: unknown }>();
  private nextTag = 1;
  /**
   * Device memory is mapped into the process on CPU adapters (lavapipe), and a process past the
   * kernel's mapping limit (vm.max_map_count, 65,530 by default) crashes in native code. Every
   * MAP_CHECK_EVERY new buffers the mapping count is compared with this bound (null: no check).
   */
  mapLimit: number | null = defaultMapLimit();
  private created = 0;
  // tracing
  private trace: TraceEntry[] | null = null;
  private batchTrace: TraceEntry[] = [];
  private querySet: GPUQuerySet | null = null;
  private timingReads: Promise<void>[] = [];
  readonly hasTimestamps: boolean;
  /** The device has `shader-f16`: float16 tensors are possible. */
  readonly hasF16: boolean;

  private constructor(
    gpu: GPU,
    adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly adapterInfo: GPUAdapterInfo,
    readonly description: string,
  ) {
    dawnHandles.set(this, [gpu, adapter]);
    this.maxElements = Math.floor(device.limits.maxStorageBufferBindingSize / 4);
    this.workgroupMemory = device.limits.maxComputeWorkgroupStorageSize;
    const sg = adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    this.subgroups =
      device.features.has('subgroups') && sg.subgroupMinSize
        ? { min: sg.subgroupMinSize, max: sg.subgroupMaxSize ?? sg.subgroupMinSize }
        : null;
    const check = () => this.beforeCreate();
    this.pool = new BufferPool(device, U.STORAGE | U.COPY_SRC | U.COPY_DST, 'tensor', check);
    this.stagingPool = new BufferPool(device, U.MAP_READ | U.COPY_DST, 'staging', check);
    this.pipelines = new PipelineCache(device);
    this.slot = Math.max(UNIFORM_SLOT, device.limits.minUniformBufferOffsetAlignment);
    this.uniformData = new ArrayBuffer(this.slot * MAX_BATCH);
    this.uniformView = new DataView(this.uniformData);
    this.uniformGpu = device.createBuffer({ size: this.slot * MAX_BATCH, usage: U.UNIFORM | U.COPY_DST, label: 'uniform-arena' });
    this.errorBuffer = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST, label: 'index-errors' });
    this.hasTimestamps = device.features.has('timestamp-query');
    this.hasF16 = device.features.has('shader-f16');
    device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      this.deviceError ??= msg;
      console.error(`moragrad: WebGPU error: ${msg}`);
    });
  }

  static async create(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
    const gpu = create(['enable-dawn-features=allow_unsafe_apis', ...(opts.dawnFlags ?? [])]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      throw new MoragradError(
        'init',
        'no WebGPU adapter found. Install a Vulkan driver: on Debian/Ubuntu run `bash scripts/setup.sh` as root ' +
          "(it installs Mesa's lavapipe >= 23; on Debian 12 from bookworm-backports), or use mg.init({ backend: 'cpu' }).",
      );
    }
    const info = adapter.info;
    // lavapipe (llvmpipe) reads LP_NUM_THREADS when the device is created; its default acts like one
    // thread, and more than one thread per core gains nothing (docs/performance.md); the user's own
    // setting always wins.
    const lavapipe = /llvmpipe|lavapipe/i.test(`${info.description} ${info.device}`);
    if (lavapipe && process.env.LP_NUM_THREADS === undefined) {
      process.env.LP_NUM_THREADS = '4';
    }
    // Dawn polls for GPU completion in a busy loop on the JS thread, which on a CPU adapter takes a
    // core from the adapter's own threads: back it off during waits (polling.ts)
    if (isCpuAdapter(`${info.description} ${info.device}`)) enableBackoff();
    const wanted: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f) && !opts.withoutFeatures?.includes(f));
    const L = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
        maxBufferSize: L.maxBufferSize,
        maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
        maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
      },
    });
    const desc = `${info.description || info.device || info.vendor} (${info.vendor}, ${info.architecture}) via WebGPU/Dawn`;
    return new WebGpuBackend(gpu, adapter, device, info, desc);
  }

  // ---- memory -----------------------------------------------------------------------------------

  alloc(numel: number, dtype: DType): GpuStorage {
    if (numel > this.maxElements) {
      fail(
        'alloc',
        `${numel} elements (${numel * 4} bytes) exceed the device's maxStorageBufferBindingSize of ${this.maxElements * 4} bytes; split the tensor`,
      );
    }
    if (dtype === 'float16' && !this.hasF16) {
      fail(
        'float16',
        `this WebGPU device lacks the 'shader-f16' feature (adapter: ${this.description}), so it cannot hold float16 tensors; use float32`,
      );
    }
    const buffer = this.pool.acquire(storageBytes(numel, dtype));
    this.live++;
    this.liveBytes += buffer.size;
    return new GpuStorage(this, buffer, numel, dtype);
  }

  /** Before a new device buffer: fails cleanly when the process nears its mapping limit (after freeing the pools). */
  private beforeCreate(): void {
    if (this.mapLimit === null || ++this.created % MAP_CHECK_EVERY !== 0) return;
    let maps = mappingCount();
    if (maps === null || maps < this.mapLimit) return;
    this.trim();
    this.stagingPool.trim();
    maps = mappingCount() ?? 0;
    if (maps < this.mapLimit) return;
    fail(
      'alloc',
      `the process holds ${maps} memory mappings, at moragrad's bound of ${this.mapLimit} (90% of the kernel's vm.max_map_count; ` +
        `beyond it the process would crash): ${this.live} device buffers are live. Dispose tensors you no longer need ` +
        '(mg.tidy, t.dispose()), or raise the limit (sysctl vm.max_map_count)',
    );
  }

  upload(data: ArrayLike<number>, dtype: DType): GpuStorage {
    const s = this.alloc(data.length, dtype);
    // queue.writeBuffer runs ahead of commands still in the open encoder, which may use this
    // recycled buffer: submit them first.
    this.flush();
    const host = dtype === 'int32' ? Int32Array.from(data) : dtype === 'float16' ? toF16Bits(data) : Float32Array.from(data);
    if (host.byteLength > 0) this.device.queue.writeBuffer(s.buffer, 0, host);
    return s;
  }

  release(s: Storage): void {
    const g = this.own(s);
    this.live--;
    this.liveBytes -= g.buffer.size;
    this.pool.releaseBuffer(g.buffer);
  }

  /**
   * Reads a storage back. With index checks pending, the error buffer rides along in the same
   * staging copy (16 bytes after the data) and a recorded bad index throws its op's error here.
   */
  async read(s: Storage): Promise<HostArray> {
    const g = this.own(s);
    const bytes = storageBytes(g.numel, g.dtype);
    const checkUpTo = this.indexChecks.size > 0 ? this.nextTag : 0; // tags below it ran before the copy
    const total = bytes + (checkUpTo ? 16 : 0);
    const staging = this.stagingPool.acquire(total);
    this.enc().copyBufferToBuffer(g.buffer, 0, staging, 0, bytes);
    if (checkUpTo) this.enc().copyBufferToBuffer(this.errorBuffer, 0, staging, bytes, 16);
    this.flush();
    await waitGpu(staging.mapAsync(MAP_READ, 0, total));
    const copy = staging.getMappedRange(0, total).slice(0);
    staging.unmap();
    this.stagingPool.releaseBuffer(staging);
    await this.checkUserKernels();
    this.throwIfDeviceError();
    if (checkUpTo) this.throwIfBadIndex(new Uint32Array(copy, bytes, 4), checkUpTo);
    if (g.dtype === 'float16') return fromF16Bits(new Uint16Array(copy, 0, g.numel));
    const out = g.dtype === 'int32' ? new Int32Array(copy, 0, bytes / 4) : new Float32Array(copy, 0, bytes / 4); // no copy: the error words stay past the end
    return out.subarray(0, g.numel);
  }

  /** Throws the error of the dispatch that recorded a bad index; forgets the checks that ran before the readback. */
  private throwIfBadIndex(err: Uint32Array, checkUpTo: number): void {
    const hit = err[0] !== 0 ? this.indexChecks.get(err[1]) : undefined;
    for (const tag of this.indexChecks.keys()) if (tag < checkUpTo) this.indexChecks.delete(tag);
    if (!hit) return; // clean, or already reported by a concurrent readback
    this.enc().clearBuffer(this.errorBuffer); // runs after everything submitted so far
    const i32 = new Int32Array(err.buffer, err.byteOffset, 4);
    throw hit.kernel.indexError!(hit.params, { value: i32[2], pos: err[3] });
  }

  memory(): MemoryInfo {
    return {
      liveBuffers: this.live,
      liveBytes: this.liveBytes,
      pooledBytes: this.pool.pooledBytes,
      dispatches: this.dispatches,
      submits: this.submits,
    };
  }

  /** Frees every pooled (unused) buffer. */
  trim(): void {
    this.flush();
    this.pool.trim();
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  run<P>(req: RunRequest<P>): void {
    const { kernel, params } = req;
    const b = kernel.gpu;
    const [x, y, z] = b.workgroups(params);
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      fail(
        kernel.name,
        `dispatch of [${x}, ${y}, ${z}] workgroups exceeds the device limit ${maxWg} per dimension (shapes ${req.shapes.map((s) => `[${s}]`).join(', ')})`,
      );
    }
    const half = checkF16(kernel, [req.inputs, req.outputs]);
    const base = shaderOf(kernel, params);
    const shader = half && kernel.f16 === 'alias' ? base + F16_SUFFIX : base;
    // A user's kernel (mg.customOp) is submitted on its own inside an error scope until one of its
    // dispatches has passed validation: a shader that does not compile or bindings that do not match
    // its declarations come back (at the next read) naming the kernel and the user's file and line,
    // and cannot invalidate the engine's batch. Once validated it batches like the engine's kernels
    // (a later error is still reported, by Dawn's message naming the pipeline `custom:<id>:<kernel>`).
    const origin = shaderOrigin(shader);
    if (origin === undefined || this.validated.has(shader)) {
      this.dispatch(req, shader, [x, y, z]);
      return;
    }
    const known = this.broken.get(shader);
    if (known) fail(kernel.name, known);
    this.flush();
    this.device.pushErrorScope('validation');
    try {
      this.dispatch(req, shader, [x, y, z]);
      this.flush();
    } finally {
      this.watch(kernel.name, shader, origin, this.device.popErrorScope());
    }
  }

  private dispatch<P>(req: RunRequest<P>, shader: string, [x, y, z]: [number, number, number]): void {
    const { kernel, params } = req;
    const b = kernel.gpu;
    const pipeline = this.pipelines.get(shader, b.entry ?? 'main', b.constants?.(params) ?? {});
    const index = this.pending;
    const offset = index * this.slot;
    const fields = [...b.uniforms(params)];
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    for (const s of [...req.inputs, ...req.outputs]) entries.push({ binding: binding++, resource: { buffer: this.own(s).buffer } });
    if (kernel.indexError) {
      // the error buffer after the outputs, the dispatch's tag last in Params
      const tag = this.nextTag++;
      this.indexChecks.set(tag, { kernel: kernel as KernelDef<unknown>, params });
      entries.push({ binding: binding++, resource: { buffer: this.errorBuffer } });
      fields.push(['u32', tag]);
    }
    // No uniform struct when there are no fields (a user's kernel may declare none).
    if (fields.length > 0) {
      this.packUniforms(offset, fields, kernel.name);
      entries.push({ binding: binding, resource: { buffer: this.uniformGpu, offset, size: this.slot } });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });

    const desc: GPUComputePassDescriptor = {};
    if (this.trace) {
      this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: MAX_BATCH * 2 });
      if (this.hasTimestamps)
        desc.timestampWrites = { querySet: this.querySet, beginningOfPassWriteIndex: index * 2, endOfPassWriteIndex: index * 2 + 1 };
      this.batchTrace.push({
        kernel: kernel.label?.(params) ?? kernel.name,
        shader,
        workgroups: [x, y, z],
        shapes: req.shapes.map((s) => [...s]),
      });
    }
    const pass = this.enc().beginComputePass(desc);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.pending++;
    this.dispatches++;
    if (process.env.MORAGRAD_TRACE === '1' && !this.trace) {
      console.error(
        `[moragrad] ${kernel.label?.(params) ?? kernel.name} (${shader}) wg=[${x},${y},${z}] shapes=${req.shapes.map((s) => `[${s}]`).join(' ')}`,
      );
    }
    if (this.pending >= MAX_BATCH) this.flush();
  }

  flush(): void {
    if (!this.encoder) return;
    const enc = this.encoder;
    if (this.pending > 0) this.device.queue.writeBuffer(this.uniformGpu, 0, this.uniformData, 0, this.pending * this.slot);
    if (this.trace && this.batchTrace.length > 0) this.resolveTimings(enc);
    this.device.queue.submit([enc.finish()]);
    this.submits++;
    this.encoder = null;
    this.pending = 0;
  }

  private enc(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private packUniforms(offset: number, fields: UniformField[], op: string): void {
    const v = this.uniformView;
    let o = 0;
    for (const f of fields) {
      if (f[0] === 'dims') {
        const dims = f[1];
        if (dims.length > 8) fail(op, `at most 8 dimensions are supported by the kernels, got ${dims.length}`);
        o = Math.ceil(o / 16) * 16;
        for (let i = 0; i < 8; i++) v.setUint32(offset + o + i * 4, dims[i] ?? 0, true);
        o += 32;
      } else {
        if (f[0] === 'f32') v.setFloat32(offset + o, f[1], true);
        else if (f[0] === 'i32') v.setInt32(offset + o, f[1], true);
        else v.setUint32(offset + o, f[1], true);
        o += 4;
      }
      if (o > this.slot) fail(op, `uniform struct exceeds ${this.slot} bytes`);
    }
  }

  // ---- tracing ----------------------------------------------------------------------------------

  startTrace(): void {
    this.flush();
    this.trace = [];
    this.batchTrace = [];
  }

  async stopTrace(): Promise<TraceEntry[]> {
    this.flush();
    await Promise.all(this.timingReads);
    this.timingReads = [];
    const t = this.trace ?? [];
    this.trace = null;
    this.querySet?.destroy();
    this.querySet = null;
    return t;
  }

  private resolveTimings(enc: GPUCommandEncoder): void {
    const entries = this.batchTrace;
    this.batchTrace = [];
    this.trace!.push(...entries);
    if (!this.hasTimestamps || !this.querySet) return;
    const count = entries.length * 2;
    const resolve = this.device.createBuffer({ size: count * 8, usage: U.QUERY_RESOLVE | U.COPY_SRC });
    const readback = this.device.createBuffer({ size: count * 8, usage: U.MAP_READ | U.COPY_DST });
    enc.resolveQuerySet(this.querySet, 0, count, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
    this.timingReads.push(
      (async () => {
        await waitGpu(this.device.queue.onSubmittedWorkDone());
        await waitGpu(readback.mapAsync(MAP_READ));
        const t = new BigInt64Array(readback.getMappedRange());
        entries.forEach((e, i) => (e.gpuMs = Number(t[2 * i + 1] - t[2 * i]) / 1e6));
        readback.unmap();
        readback.destroy();
        resolve.destroy();
      })(),
    );
  }

  // ---- run-time (user) shaders ---------------------------------------------------------------------

  /** Records the outcome of a user kernel's dispatch; on an error, maps it to the user's file:line. */
  private watch(kernel: string, shader: string, origin: string, scope: Promise<GPUError | null>): void {
    this.userChecks.push(
      scope.then(async (err) => {
        if (!err) {
          this.validated.add(shader);
          return null;
        }
        const compile = await compileErrors(this.pipelines.module(shader), wgslSource(shader), origin);
        const msg = compile ? `the WGSL does not compile:\n${compile}` : `WebGPU rejected the dispatch of ${origin}: ${err.message.trim()}`;
        this.broken.set(shader, msg);
        return [kernel, msg] as [string, string];
      }),
    );
  }

  /** Throws the first error of a user kernel dispatched since the last check (called by read). */
  async checkUserKernels(): Promise<void> {
    const list = this.userChecks.splice(0);
    if (list.length === 0) return;
    const found = (await waitGpu(Promise.all(list))).find((e) => e !== null);
    if (found) throw new MoragradError(found[0], found[1]);
  }

  /** Compiles a run-time shader now and throws its compile errors (origin:line:col) naming `kernel`. */
  async compileShader(kernel: string, shader: string): Promise<void> {
    const known = this.broken.get(shader);
    if (known) fail(kernel, known);
    this.device.pushErrorScope('validation');
    const module = this.pipelines.module(shader);
    await waitGpu(this.device.popErrorScope());
    const msg = await waitGpu(compileErrors(module, wgslSource(shader), shaderOrigin(shader) ?? shader));
    if (msg) {
      this.broken.set(shader, `the WGSL does not compile:\n${msg}`);
      fail(kernel, this.broken.get(shader)!);
    }
  }

  private throwIfDeviceError(): void {
    if (this.deviceError) {
      const e = this.deviceError;
      this.deviceError = null;
      throw new MoragradError('webgpu', `the device reported an error: ${e}`);
    }
  }

  private own(s: Storage): GpuStorage {
    if (!(s instanceof GpuStorage) || s.backend !== this) fail('webgpu', 'storage belongs to another backend');
    if (s.refs < 0) fail('webgpu', 'storage used after release');
    return s;
  }
}

/** Bytes of a buffer holding `numel` elements of `dtype`: at least one element, a multiple of 4 (float16 pads). */
function storageBytes(numel: number, dtype: DType): number {
  return Math.ceil((Math.max(numel, 1) * bytesPer(dtype)) / 4) * 4;
}

/** Host numbers -> binary16 bits, padded to a whole number of 32-bit words. */
function toF16Bits(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(storageBytes(data.length, 'float16') / 2);
  for (let i = 0; i < data.length; i++) out[i] = numberToF16Bits(data[i]);
  return out;
}

/** binary16 bits -> float32 values (exact). */
function fromF16Bits(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToNumber(bits[i]);
  return out;
}
