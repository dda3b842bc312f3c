// The WebGPU backend (Dawn's Node bindings). Owns the device, the buffer pools and slabs, the
// pipeline and bind-group caches and the open command encoder: `run` appends one dispatch to the
// open compute pass; nothing is submitted until someone reads (`read`), uploads, calls `flush`, or
// the batch fills.
// Fixed cost per dispatch: creating a bind group is the largest native cost (~18 µs on lavapipe,
// more than the rest of a dispatch together), so bind groups are cached by pipeline and bound
// buffers, with every offset dynamic (slab slots, the uniform slot), and the parameters live in
// slots by content (uniforms.ts): repeated ops find both. Dispatches share one compute pass until a
// copy or a submit ends it.
// Longer than most files: device set-up, batching, readback and tracing share the open encoder's
// state; the pool, the slabs, the uniform store, the shader loader and the polling back-off live in
// their own files.
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
} from '../interface.js';
import { BufferPool, sizeClass } from './pool.js';
import { enableBackoff, waitGpu } from './polling.js';
import { PipelineCache, compileErrors, shaderOrigin, wgslSource } from './shaders.js';
import { SLAB_MAX_CLASS, type Slab, SlabAllocator } from './slabs.js';
import { UniformStore } from './uniforms.js';

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
/**
 * Cached bind groups; past this the oldest are dropped. Small: on lavapipe every live bind group
 * holds a memory mapping (its descriptor set) until the garbage collector frees it.
 */
const BIND_GROUP_CACHE = 2048;

/** A range of a device buffer bound to one binding. */
interface BoundRange {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
  /** Names the buffer in bind-group cache keys. */
  readonly id: number;
}

export class GpuStorage implements Storage, BoundRange {
  refs = 0;
  /**
   * Where the data lives: a slab slot (`slab` set) or a buffer of its own. Placed on first use, so
   * that an op's fresh output can be placed outside the slabs of its inputs (slabs.ts).
   */
  buffer!: GPUBuffer;
  offset = 0;
  /** The buffer's id (bind-group cache keys); -1 until placed. */
  id = -1;
  slab: Slab | null = null;
  slot = 0;
  /** Bound by a dispatch before: a slab slot bound again is likely long-lived (a parameter, a moment). */
  bound = false;
  constructor(
    readonly backend: WebGpuBackend,
    /** Bytes bound: the size class of numel elements (a multiple of 16: kernels may read it as vec4s). */
    readonly size: number,
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
  /**
   * How a bind group names the byte ranges it binds. 'dynamic': one bind group per set of buffers,
   * the offsets given with each dispatch (cheap on GPUs: a bind group serves every slot of a slab).
   * 'static': a bind group with the offsets in it, cached by ranges and parameter slot, wherever the
   * ranges are tensors with a buffer of their own or slab slots bound before and the parameters were
   * seen before; a dispatch binding a slab slot for the first time, or parameters never seen (an
   * optimizer's step count), still takes dynamic offsets (else every small tensor would hold a bind
   * group, which on lavapipe is a memory mapping, and every optimizer step would create one).
   * lavapipe copies the whole descriptor set on every dispatch that has dynamic offsets (an mmap and
   * a munmap each: about twice the cost of a tiny dispatch, docs/performance.md), so CPU adapters
   * default to 'static', others to 'dynamic'. MORAGRAD_BIND_OFFSETS=static|dynamic overrides it.
   */
  bindOffsets?: 'dynamic' | 'static';
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly maxElements: number;
  readonly workgroupMemory: number;
  readonly subgroups: { min: number; max: number } | null;
  readonly storageBuffers: number;
  private pool: BufferPool;
  private stagingPool: BufferPool;
  private slabs: SlabAllocator;
  private uniforms: UniformStore;
  private pipelines: PipelineCache;
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  /** The dynamic offsets of the dispatch being recorded. */
  private offsets = new Uint32Array(64);
  private encoder: GPUCommandEncoder | null = null;
  /** The open compute pass (dispatches share it until a copy or a submit ends it) and its pipeline. */
  private pass: GPUComputePassEncoder | null = null;
  private passPipeline: GPUComputePipeline | null = null;
  private pending = 0;
  /** MORAGRAD_TRACE=1: log every dispatch to stderr (read at each submit). */
  private logDispatches = process.env.MORAGRAD_TRACE === '1';
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
    /** 'dynamic' or 'static' bind-group offsets (WebGpuOptions.bindOffsets). */
    readonly bindOffsets: 'dynamic' | 'static',
  ) {
    dawnHandles.set(this, [gpu, adapter]);
    this.maxElements = Math.floor(device.limits.maxStorageBufferBindingSize / 4);
    this.workgroupMemory = device.limits.maxComputeWorkgroupStorageSize;
    this.storageBuffers = device.limits.maxStorageBuffersPerShaderStage;
    const sg = adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    this.subgroups =
      device.features.has('subgroups') && sg.subgroupMinSize
        ? { min: sg.subgroupMinSize, max: sg.subgroupMaxSize ?? sg.subgroupMinSize }
        : null;
    const check = () => this.beforeCreate(false);
    this.pool = new BufferPool(device, U.STORAGE | U.COPY_SRC | U.COPY_DST, 'tensor', check);
    this.stagingPool = new BufferPool(device, U.MAP_READ | U.COPY_DST, 'staging', check);
    this.slabs = new SlabAllocator(
      device,
      U.STORAGE | U.COPY_SRC | U.COPY_DST,
      device.limits.minStorageBufferOffsetAlignment,
      () => {
        this.beforeCreate(true);
        return this.nextBufferId++;
      },
      () => this.bindGroups.clear(),
    );
    this.uniforms = new UniformStore(device, U.UNIFORM | U.COPY_DST);
    this.pipelines = new PipelineCache(device);
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
    const env = process.env.MORAGRAD_BIND_OFFSETS;
    if (env !== undefined && env !== 'static' && env !== 'dynamic')
      fail('init', `MORAGRAD_BIND_OFFSETS must be 'static' or 'dynamic', got '${env}'`);
    if (opts.bindOffsets !== undefined && opts.bindOffsets !== 'static' && opts.bindOffsets !== 'dynamic')
      fail('init', `bindOffsets must be 'static' or 'dynamic', got '${String(opts.bindOffsets)}'`);
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
    const cpuAdapter = isCpuAdapter(`${info.description} ${info.device}`);
    if (cpuAdapter) enableBackoff();
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
        maxDynamicStorageBuffersPerPipelineLayout: L.maxDynamicStorageBuffersPerPipelineLayout,
        maxDynamicUniformBuffersPerPipelineLayout: L.maxDynamicUniformBuffersPerPipelineLayout,
      },
    });
    const desc = `${info.description || info.device || info.vendor} (${info.vendor}, ${info.architecture}) via WebGPU/Dawn`;
    const bindOffsets = opts.bindOffsets ?? (env as 'static' | 'dynamic' | undefined) ?? (cpuAdapter ? 'static' : 'dynamic');
    return new WebGpuBackend(gpu, adapter, device, info, desc, bindOffsets);
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
    const size = sizeClass(storageBytes(numel, dtype));
    this.live++;
    this.liveBytes += size;
    return new GpuStorage(this, size, numel, dtype);
  }

  /** Gives `s` its memory: a slot in a slab not in `avoid` (small tensors), or a pooled buffer of its own. */
  private place(s: GpuStorage, avoid: readonly (Slab | null)[]): void {
    if (s.size <= SLAB_MAX_CLASS) {
      const [slab, slot] = this.slabs.take(s.size, avoid);
      s.slab = slab;
      s.slot = slot;
      s.buffer = slab.buffer;
      s.offset = slot * slab.stride;
      s.id = slab.id;
    } else {
      s.buffer = this.pool.acquire(s.size);
      s.id = this.idOf(s.buffer);
    }
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  /**
   * Before a new device buffer: fails cleanly when the process nears its mapping limit (after freeing
   * the pools). Looks at every slab and at every MAP_CHECK_EVERY-th other buffer.
   */
  private beforeCreate(always: boolean): void {
    if (this.mapLimit === null || (++this.created % MAP_CHECK_EVERY !== 0 && !always)) return;
    let maps = mappingCount();
    if (maps === null || maps < this.mapLimit) return;
    this.trim();
    this.stagingPool.trim();
    maps = mappingCount() ?? 0;
    if (maps < this.mapLimit) return;
    fail(
      'alloc',
      `the process holds ${maps} memory mappings, at moragrad's bound of ${this.mapLimit} (90% of the kernel's vm.max_map_count; ` +
        `beyond it the process would crash): ${this.live} tensor storages are live in ${this.memory().deviceBuffers} device buffers ` +
        `(tensors up to ${SLAB_MAX_CLASS / 1024} KiB share slabs; each larger one has a buffer of its own). Dispose tensors you no longer need ` +
        '(mg.tidy, t.dispose()), or raise the limit (sysctl vm.max_map_count)',
    );
  }

  upload(data: ArrayLike<number>, dtype: DType): GpuStorage {
    const s = this.alloc(data.length, dtype);
    this.place(s, []);
    // queue.writeBuffer runs ahead of commands still in the open encoder, which may use this
    // recycled memory: submit them first.
    this.flush();
    const host = dtype === 'int32' ? Int32Array.from(data) : dtype === 'float16' ? toF16Bits(data) : Float32Array.from(data);
    if (host.byteLength > 0) this.device.queue.writeBuffer(s.buffer, s.offset, host);
    return s;
  }

  release(s: Storage): void {
    const g = this.own(s);
    this.live--;
    this.liveBytes -= g.size;
    if (g.id < 0) return; // never used
    if (g.slab) this.slabs.give(g.slab, g.slot);
    else this.pool.releaseBuffer(g.buffer);
    g.id = -1;
  }

  /**
   * Reads a storage back. With index checks pending, the error buffer rides along in the same
   * staging copy (16 bytes after the data) and a recorded bad index throws its op's error here.
   */
  async read(s: Storage): Promise<HostArray> {
    // A read ends a training step: from here, hand out free buffers and slots in one order
    // (pool.ts), so the next step's tensors get the buffers this one's did and its bind groups hit the cache.
    this.pool.canonicalize((b) => this.idOf(b));
    this.slabs.canonicalize();
    const g = this.own(s);
    if (g.id < 0) this.place(g, []);
    const bytes = storageBytes(g.numel, g.dtype);
    const checkUpTo = this.indexChecks.size > 0 ? this.nextTag : 0; // tags below it ran before the copy
    const total = bytes + (checkUpTo ? 16 : 0);
    const staging = this.stagingPool.acquire(total);
    this.enc().copyBufferToBuffer(g.buffer, g.offset, staging, 0, bytes);
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
      pooledBytes: this.pool.pooledBytes + this.slabs.slabBytes - this.slabs.usedBytes,
      deviceBuffers: this.pool.buffers + this.slabs.count,
      dispatches: this.dispatches,
      submits: this.submits,
    };
  }

  /** Frees every pooled (unused) buffer and empty slab. */
  trim(): void {
    this.flush();
    this.pool.trim();
    this.slabs.releaseEmpty(0);
    this.bindGroups.clear();
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
    let fields = b.uniforms(params);
    const nBindings =
      req.inputs.length + req.outputs.length + (kernel.indexError ? 1 : 0) + (fields.length > 0 || kernel.indexError ? 1 : 0);
    if (kernel.indexError) {
      // the error buffer binds after the outputs, the dispatch's tag goes last in Params
      const tag = this.nextTag++;
      this.indexChecks.set(tag, { kernel: kernel as KernelDef<unknown>, params });
      fields = [...fields, ['u32', tag]];
    }
    // No uniform struct when there are no fields (a user's kernel may declare none).
    let uniformSlot = -1;
    const slotsBefore = this.uniforms.used;
    if (fields.length > 0) {
      uniformSlot = this.uniforms.slotOf(fields, kernel.name);
      if (uniformSlot < 0) {
        this.flush(); // the store is full: submit what reads it, then start over
        this.uniforms.reset();
        uniformSlot = this.uniforms.slotOf(fields, kernel.name);
      }
    }
    const bound = this.bindStorages(req.inputs, req.outputs);
    // Parameters seen for the first time (an optimizer's step count, an index check's tag) would make a
    // static bind group that is never used again.
    const freshParams = this.uniforms.used !== slotsBefore;
    const wantDynamic = this.bindOffsets === 'dynamic' || !this.staticRanges(bound) || freshParams;
    const pe = this.pipelines.get(shader, b.entry ?? 'main', b.constants?.(params), nBindings, wantDynamic);
    // With dynamic offsets a bind group names buffers only (one serves every slot of a slab);
    // without, it names the offsets too.
    const u = this.uniforms;
    const dyn = pe.dynamic;
    const offsets = this.offsets;
    let key = dyn ? `${pe.id}` : `${pe.id}:${uniformSlot}`;
    for (let i = 0; i < bound.length; i++) {
      key += dyn ? `,${bound[i].id}` : `,${bound[i].id}@${bound[i].offset}`;
      offsets[i] = bound[i].offset;
    }
    let n = bound.length;
    if (kernel.indexError) offsets[n++] = 0;
    if (uniformSlot >= 0) offsets[n++] = uniformSlot * u.slotBytes;
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      const entries: GPUBindGroupEntry[] = bound.map((r, i) => ({
        binding: i,
        resource: { buffer: r.buffer, offset: dyn ? 0 : r.offset, size: r.size },
      }));
      if (kernel.indexError) entries.push({ binding: entries.length, resource: { buffer: this.errorBuffer } });
      if (uniformSlot >= 0) {
        entries.push({
          binding: entries.length,
          resource: { buffer: u.buffer, offset: dyn ? 0 : uniformSlot * u.slotBytes, size: u.slotBytes },
        });
      }
      bindGroup = this.device.createBindGroup({ layout: pe.layout, entries });
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.delete(this.bindGroups.keys().next().value!);
      this.bindGroups.set(key, bindGroup);
    }
    this.releaseCopies();

    let pass: GPUComputePassEncoder;
    if (this.trace) {
      // traced: a pass per dispatch, for its timestamps
      this.endPass();
      const index = this.pending;
      const desc: GPUComputePassDescriptor = {};
      this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: MAX_BATCH * 2 });
      if (this.hasTimestamps)
        desc.timestampWrites = { querySet: this.querySet, beginningOfPassWriteIndex: index * 2, endOfPassWriteIndex: index * 2 + 1 };
      this.batchTrace.push({
        kernel: kernel.label?.(params) ?? kernel.name,
        shader,
        workgroups: [x, y, z],
        shapes: req.shapes.map((s) => [...s]),
      });
      pass = this.beginPass(desc);
    } else {
      pass = this.pass ?? this.beginPass({});
    }
    if (this.passPipeline !== pe.pipeline) {
      pass.setPipeline(pe.pipeline);
      this.passPipeline = pe.pipeline;
    }
    if (dyn) pass.setBindGroup(0, bindGroup, offsets, 0, n);
    else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.trace) this.endPass();
    this.pending++;
    this.dispatches++;
    if (this.logDispatches && !this.trace) {
      console.error(
        `[moragrad] ${kernel.label?.(params) ?? kernel.name} (${shader}) wg=[${x},${y},${z}] shapes=${req.shapes.map((s) => `[${s}]`).join(' ')}`,
      );
    }
    if (this.pending >= MAX_BATCH) this.flush();
  }

  /** Copies of inputs made for the dispatch being recorded (bindStorages), returned to the pool once it is. */
  private copies: GPUBuffer[] = [];

  /**
   * The ranges a dispatch binds: its inputs, then its outputs. Places storages used for the first
   * time (fresh outputs outside the inputs' slabs). An input in the slab of an output that was placed
   * before (an in-place kernel: an optimizer writing parameters and moments while reading gradients)
   * would make the slab both read-only and writable in one dispatch, which WebGPU rejects: it binds
   * from a copy instead.
   */
  private bindStorages(inputs: readonly Storage[], outputs: readonly Storage[]): BoundRange[] {
    const bound: BoundRange[] = [];
    const avoid: (Slab | null)[] = [];
    for (const s of inputs) {
      const g = this.own(s);
      if (g.id < 0) this.place(g, []);
      bound.push(g);
      avoid.push(g.slab);
    }
    let shared = false;
    for (const s of outputs) {
      const g = this.own(s);
      if (g.id < 0) this.place(g, avoid);
      else if (g.slab && avoid.includes(g.slab)) shared = true;
      bound.push(g);
    }
    if (shared) {
      for (let i = 0; i < inputs.length; i++) {
        const g = bound[i] as GpuStorage;
        if (!g.slab || !outputs.some((o) => (o as GpuStorage).slab === g.slab)) continue;
        const copy = this.pool.acquire(g.size);
        this.enc().copyBufferToBuffer(g.buffer, g.offset, copy, 0, g.size);
        this.copies.push(copy);
        bound[i] = { buffer: copy, offset: 0, size: g.size, id: this.idOf(copy) };
      }
    }
    return bound;
  }

  /**
   * Whether a static bind group suits these ranges: each starts its buffer (a tensor with a buffer of
   * its own, whose keys are as few as the pool's buffers) or is a slab slot bound before (a parameter,
   * a gradient, a moment: bound every step). A slot bound for the first time (a fresh small result)
   * takes dynamic offsets, so tens of thousands of small tensors never hold a bind group each.
   * Marks every range as bound.
   */
  private staticRanges(bound: readonly BoundRange[]): boolean {
    let ok = true;
    for (const r of bound) {
      if (r.offset === 0) continue;
      if (!(r instanceof GpuStorage) || !r.bound) ok = false;
      if (r instanceof GpuStorage) r.bound = true;
    }
    return ok;
  }

  /** Later commands that reuse a copy's buffer run after the dispatch that read it (WebGPU orders commands). */
  private releaseCopies(): void {
    for (const c of this.copies) this.pool.releaseBuffer(c);
    this.copies.length = 0;
  }

  flush(): void {
    if (!this.encoder) {
      this.slabs.releaseEmpty();
      return;
    }
    this.endPass();
    const enc = this.encoder;
    if (this.trace && this.batchTrace.length > 0) this.resolveTimings(enc);
    this.device.queue.submit([enc.finish()]);
    this.submits++;
    this.encoder = null;
    this.pending = 0;
    this.logDispatches = process.env.MORAGRAD_TRACE === '1';
    this.slabs.releaseEmpty(); // nothing unsubmitted uses them now
  }

  /** The open encoder, for a command outside compute passes (a copy, a clear): ends the open pass. */
  private enc(): GPUCommandEncoder {
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private beginPass(desc: GPUComputePassDescriptor): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass = this.encoder.beginComputePass(desc);
    this.passPipeline = null;
    return this.pass;
  }

  private endPass(): void {
    if (!this.pass) return;
    this.pass.end();
    this.pass = null;
    this.passPipeline = null;
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
