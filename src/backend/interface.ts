// The one interface both backends implement. Ops talk to a backend only through this: they allocate
// storages and run named kernels (`KernelDef`), each of which carries its float64 cpu loop and its
// WGSL binding side by side (see src/ops/*). The backend knows no model and no op by name.
import type { DType } from '../dtype.js';
import { fail, type MoragradError } from '../errors.js';

/** Host-side arrays: float tensors are Float64Array on the cpu backend, Float32Array when read back from the GPU. */
export type HostArray = Float64Array | Float32Array | Int32Array;

/** A backend-owned block of memory holding `numel` elements of `dtype`. Refcounted by tensors. */
export interface Storage {
  readonly backend: Backend;
  readonly numel: number;
  readonly dtype: DType;
  /** Number of tensors sharing it (reshape views share storages). Released at 0. */
  refs: number;
}

/** One uniform field: a u32, i32 or f32 scalar, or a `dims` array (up to 8 u32, 16-byte aligned). */
export type UniformField = ['u32' | 'i32' | 'f32', number] | ['dims', readonly number[]];

export interface GpuBinding<P> {
  /** WGSL file in kernels/ (without .wgsl; `a+b` joins files), or picked per call. */
  shader: string | ((p: P) => string);
  /** Entry point; `main` by default. */
  entry?: string;
  /** Pipeline-overridable constants: one cached pipeline per distinct set (tile sizes, op codes). */
  constants?: (p: P) => Record<string, number>;
  /** The `Params` uniform struct, in declaration order. */
  uniforms: (p: P) => UniformField[];
  /** Number of workgroups in x, y, z. */
  workgroups: (p: P) => [number, number, number];
}

/**
 * A kernel: a float64 reference loop (`cpu`) and a WGSL binding (`gpu`). Inputs bind first
 * (read-only storage), then outputs (read_write), then the uniform struct.
 */
export interface KernelDef<P> {
  name: string;
  /** Trace label for one call (e.g. `unary:exp`); `name` by default. */
  label?: (p: P) => string;
  cpu: (inputs: HostArray[], outputs: HostArray[], p: P) => void;
  gpu: GpuBinding<P>;
  /**
   * Index-taking kernels: the error an out-of-range index raises, the same on both backends. The
   * cpu loop throws it. On the GPU the kernel binds the device's error buffer after its outputs
   * (`array<atomic<u32>, 4>`), ends its Params with `tag: u32` (filled in by the backend) and
   * records the first bad index it meets (kernels/gather.wgsl); the backend throws at the next readback.
   */
  indexError?: (p: P, bad: BadIndex) => MoragradError;
  /**
   * How the kernel takes float16 tensors (absent: it does not, and a float16 storage is an error).
   * 'alias': its WGSL declares the element type of its float buffers as `alias T = f32;`, loads them
   * as `f32(x[i])` and stores `T(v)`; a call with a float16 storage runs it with `enable f16;
   * alias T = f16;` instead (src/backend/webgpu/shaders.ts), accumulating in f32 either way. The cpu
   * loop is the same, the cpu backend rounds its float16 outputs. 'own': its WGSL names f16 types
   * itself (the casts).
   */
  f16?: 'alias' | 'own';
}

/** The suffix of a shader name built for float16 storages (`unary#NEG=0@f16`). */
export const F16_SUFFIX = '@f16';

/**
 * Whether any of `groups`' entries (storages, tensors) is float16; fails naming `op` when it is and
 * `k` does not take float16 (ops and both backends check the same).
 */
export function checkF16<P>(k: KernelDef<P>, groups: readonly (readonly { readonly dtype: DType }[])[], op: string = k.name): boolean {
  for (const g of groups) {
    for (const s of g) {
      if (s.dtype !== 'float16') continue;
      if (!k.f16) fail(op, `the '${k.name}' kernel does not support float16 tensors (cast to float32 with .cast('float32') first)`);
      return true;
    }
  }
  return false;
}

/** An out-of-range index a kernel met: its value and its flat position in the index tensor. */
export interface BadIndex {
  value: number;
  pos: number;
}

export function defineKernel<P>(k: KernelDef<P>): KernelDef<P> {
  return k;
}

/**
 * A shader name with module constants: `withConstants('unary', { RELU: 6 })` is `unary#RELU=6`, which
 * the WGSL loader turns into `const RELU: u32 = 6u;` before the file (src/backend/webgpu/shaders.ts).
 * How the ops' tables (op codes, MoRA types) become names the kernels use.
 */
export function withConstants(shader: string, constants: Readonly<Record<string, number>>): string {
  return [shader, ...Object.entries(constants).map(([k, v]) => `${k}=${v}`)].join('#');
}

/** CPU-emulated adapters (lavapipe/llvmpipe, SwiftShader) by their description. */
export function isCpuAdapter(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

/** The shader a call of `k` runs. */
export function shaderOf<P>(k: KernelDef<P>, p: P): string {
  const s = k.gpu.shader;
  return typeof s === 'function' ? s(p) : s;
}

export interface RunRequest<P> {
  kernel: KernelDef<P>;
  inputs: Storage[];
  outputs: Storage[];
  params: P;
  /** Shapes of the inputs, for traces. */
  shapes: readonly (readonly number[])[];
}

export interface MemoryInfo {
  /** Storages alive (allocated and not released). */
  liveBuffers: number;
  /** Bytes held by live storages. */
  liveBytes: number;
  /** Bytes held in the reuse pool (allocated on the device, free for reuse). */
  pooledBytes: number;
  /**
   * Device buffers holding tensors, in use or pooled: slabs (shared by the tensors up to 64 KiB) and
   * the larger tensors' own buffers (webgpu; 0 on cpu). Each is a memory mapping on a CPU adapter.
   */
  deviceBuffers: number;
  /** Kernel dispatches since the backend was created. */
  dispatches: number;
  /** Command-buffer submissions since the backend was created (webgpu). */
  submits: number;
}

export interface TraceEntry {
  kernel: string;
  shader: string;
  workgroups: [number, number, number];
  shapes: number[][];
  /** GPU time in milliseconds, where the adapter has `timestamp-query`. */
  gpuMs?: number;
}

export interface Backend {
  readonly name: 'webgpu' | 'cpu';
  /** Describes the device: e.g. "llvmpipe (LLVM 19.1.7, 256 bits) via vulkan". */
  readonly description: string;
  /** Largest number of elements one storage may hold. */
  readonly maxElements: number;
  /** Bytes of workgroup memory a kernel may use (Infinity on cpu). */
  readonly workgroupMemory: number;
  /** Subgroup sizes the device may use, when it has the `subgroups` feature (null: none, or cpu). */
  readonly subgroups: { min: number; max: number } | null;
  /** Storage buffers one kernel may bind (the device's maxStorageBuffersPerShaderStage; Infinity on cpu). */
  readonly storageBuffers: number;
  alloc(numel: number, dtype: DType): Storage;
  upload(data: ArrayLike<number>, dtype: DType): Storage;
  read(s: Storage): Promise<HostArray>;
  /** Returns the storage's memory to the pool. Called when `refs` reaches 0. */
  release(s: Storage): void;
  run<P>(req: RunRequest<P>): void;
  /** Submits pending work (no-op on cpu). */
  flush(): void;
  memory(): MemoryInfo;
  /** Starts recording a trace; `stopTrace` resolves with GPU times once the work completes. */
  startTrace(): void;
  stopTrace(): Promise<TraceEntry[]>;
}
