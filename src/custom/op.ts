// mg.customOp: a user-defined op with a hand-written backward, built on the engine's own machinery
// (what torch.autograd.Function, JAX custom_vjp and tfjs customGrad are elsewhere):
//
//   const swiglu = mg.customOp({
//     name: 'swiglu',
//     wgsl: { forward: new URL('./swiglu.wgsl', import.meta.url) },     // source text, a path or a URL
//     cpu: { forward: ([a, b], [y]) => { ... } },                       // float64 loop of the same kernel
//     forward(ctx, a, b) {
//       ctx.save(a, b);
//       return ctx.kernel('forward', { inputs: [a, b], outputs: [{ shape: a.shape }], params: { n: ['u32', a.size] }, workgroups: Math.ceil(a.size / 64) })[0];
//     },
//     backward(ctx, g) { const [a, b] = ctx.saved; return [ ...da..., ...db... ]; },   // one per input, or null
//   });
//   const y = swiglu(a, b);
//
// A kernel is the engine's KernelDef (src/backend/interface.ts): the user's WGSL as the gpu binding
// and the user's float64 loop as the cpu one, dispatched through runKernel (src/ops/apply.ts) like
// every engine op, so tidy, profile (the kernel appears as `<op>.<kernel>` with its GPU time) and
// the finite check see it. The op is recorded on the tape with record() (src/autograd.ts); forward
// runs under noGrad (its inner ops are not recorded: backward is the user's). Bindings: the inputs
// in order (read-only storage), then the outputs (read_write), then the params as one uniform
// struct, fields in the order given; no uniform binding when there are no params.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGradEnabled, noGrad, record } from '../autograd.js';
import { defineKernel, type Backend, type HostArray, type KernelDef, type UniformField } from '../backend/interface.js';
import { registerShader } from '../backend/webgpu/shaders.js';
import type { DType } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { backendOf, runKernel } from '../ops/apply.js';
import { clone } from '../ops/creation.js';
import { tidy, webgpu } from '../runtime.js';
import { Tensor } from '../tensor.js';

/** One uniform field: a scalar of a WGSL type, or up to 8 dims (a 16-byte aligned `array<vec4<u32>, 2>`). */
export type ParamValue = ['u32' | 'i32' | 'f32', number] | ['dims', readonly number[]];

/** The params as the cpu loop sees them: the plain values by name. */
export type ParamValues = Record<string, number | readonly number[]>;

/**
 * The float64 loop of one kernel: reads `inputs`, writes every element of `outputs` (Float64Array
 * for float tensors, Int32Array for int32), as the WGSL does.
 */
export type CpuKernel = (inputs: HostArray[], outputs: HostArray[], params: ParamValues) => void;

/** WGSL source text, a path to a .wgsl file, or a file: URL. */
export type WgslSource = string | URL;

export interface KernelCall {
  inputs: readonly Tensor[];
  /** The output tensors to allocate (float32 by default). */
  outputs: readonly { shape: readonly number[]; dtype?: DType }[];
  /** The uniform struct, fields in declaration order, e.g. `{ n: ['u32', x.size], alpha: ['f32', 0.5] }`. */
  params?: Record<string, ParamValue>;
  /** Workgroups in x (a number) or [x, y, z]. */
  workgroups: number | readonly [number, number?, number?];
  /** Entry point (default `main`). */
  entry?: string;
  /** Values of the shader's `override` constants (one pipeline per distinct set). */
  constants?: Record<string, number>;
  /** The kernel's name in profiles and its key in `cpu` when it is given as source or a path. */
  name?: string;
}

export interface CustomOpSpec<A extends unknown[] = Tensor[]> {
  /** The op's name, in errors and (as `<name>.<kernel>`) in profiles. */
  name: string;
  /** Computes the output from the arguments; saves what backward needs with ctx.save. */
  forward: (ctx: OpContext, ...args: A) => Tensor;
  /**
   * dL/d(argument) for each argument, in order, from dL/d(output): a Tensor of the argument's shape,
   * or null (no gradient; always null for non-tensor arguments). A single-argument op may return the
   * gradient itself. Runs without recording (no double backward).
   */
  backward: (ctx: OpContext, grad: Tensor) => (Tensor | null | undefined)[] | Tensor | null;
  /** The op's WGSL kernels by name (what ctx.kernel(name) dispatches on webgpu). */
  wgsl?: Record<string, WgslSource>;
  /** The float64 loops of the kernels, by the same names (what ctx.kernel runs on the cpu backend). */
  cpu?: Record<string, CpuKernel>;
}

/** A custom op: call it like any op. */
export interface CustomOp<A extends unknown[] = Tensor[]> {
  (...args: A): Tensor;
  readonly opName: string;
  readonly spec: CustomOpSpec<A>;
  /** Compiles every WGSL kernel of `wgsl` on the webgpu backend; throws the compile errors (file:line:col). */
  compile(): Promise<void>;
}

interface CustomParams {
  fields: UniformField[];
  values: ParamValues;
  workgroups: [number, number, number];
  constants: Record<string, number>;
}

/** What forward and backward get: the arguments, saved tensors, and kernel dispatch. */
export class OpContext {
  /** Tensors saved by forward for backward. */
  readonly saved: Tensor[] = [];

  constructor(
    private readonly impl: OpImpl,
    /** The backend the op's tensors live on. */
    readonly backend: Backend,
    /** The arguments of the call, as given (tensors and anything else). */
    readonly args: readonly unknown[],
    /** Per argument: will backward's gradient for it be used? */
    readonly needsInputGrad: readonly boolean[],
  ) {}

  /** Keeps tensors for backward (inputs, or tensors forward made). */
  save(...tensors: Tensor[]): void {
    for (const t of tensors) if (!(t instanceof Tensor)) fail(this.impl.name, `ctx.save expects tensors, got ${describe(t)}`);
    this.saved.push(...tensors);
  }

  /**
   * Dispatches one kernel: `kernel` is a name in the op's `wgsl` (and `cpu`), or WGSL source, or a
   * path / URL of a .wgsl file. Returns the new output tensors.
   */
  kernel(kernel: WgslSource, call: KernelCall): Tensor[] {
    return this.impl.dispatch(this.backend, kernel, call);
  }
}

let nextOpId = 1;

/** The per-op state behind a CustomOp: its kernels (KernelDefs) by name. */
class OpImpl {
  readonly id = nextOpId++;
  private readonly kernels = new Map<string, KernelDef<CustomParams>>();

  constructor(readonly spec: CustomOpSpec<unknown[]>) {}

  get name(): string {
    return this.spec.name;
  }

  /** The KernelDef of `kernel` (built once): shader registered under a per-op name, cpu loop by name. */
  kernelDef(kernel: WgslSource, nameHint?: string): KernelDef<CustomParams> {
    const op = this.name;
    const named = typeof kernel === 'string' && this.spec.wgsl && Object.hasOwn(this.spec.wgsl, kernel);
    const key = named ? (kernel as string) : String(kernel);
    let def = this.kernels.get(key);
    if (def) return def;
    const { source, origin, name } = named
      ? loadSource(op, this.spec.wgsl![kernel as string], kernel as string)
      : loadSource(op, kernel, nameHint);
    const kname = nameHint ?? name;
    const shader = `custom:${this.id}.${this.kernels.size}:${op}.${kname}`; // one per distinct source
    registerShader(shader, source, origin);
    const loop = this.spec.cpu?.[kname];
    def = defineKernel<CustomParams>({
      name: `${op}.${kname}`,
      cpu: (ins, outs, p) => {
        if (!loop) {
          fail(
            op,
            `kernel '${kname}' has no cpu loop, so the op cannot run on the cpu backend; give customOp a float64 loop as cpu: { ${JSON.stringify(kname)}: (inputs, outputs, params) => ... }`,
          );
        }
        loop(ins, outs, p.values);
      },
      gpu: {
        shader,
        entry: undefined,
        constants: (p) => p.constants,
        uniforms: (p) => p.fields,
        workgroups: (p) => p.workgroups,
      },
    });
    this.kernels.set(key, def);
    return def;
  }

  dispatch(backend: Backend, kernel: WgslSource, call: KernelCall): Tensor[] {
    const op = this.name;
    if (!call || typeof call !== 'object') fail(op, `ctx.kernel(${String(kernel)}, call) needs { inputs, outputs, workgroups }`);
    const where = `ctx.kernel(${typeof kernel === 'string' && kernel.length < 40 ? JSON.stringify(kernel) : 'source'})`;
    if (!Array.isArray(call.inputs) || call.inputs.some((t) => !(t instanceof Tensor)))
      fail(op, `${where}: inputs must be an array of tensors`);
    if (!Array.isArray(call.outputs) || call.outputs.length === 0) fail(op, `${where}: outputs must list at least one { shape, dtype? }`);
    for (const o of call.outputs) {
      if (!o || !Array.isArray(o.shape) || o.shape.some((d: number) => !Number.isInteger(d) || d < 0))
        fail(op, `${where}: an output shape must be an array of non-negative integers, got ${JSON.stringify(o?.shape)}`);
      if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'int32')
        fail(op, `${where}: output dtype must be 'float32' or 'int32', got ${String(o.dtype)}`);
    }
    const b = call.inputs.length ? backendOf(op, call.inputs) : backend;
    const def = this.kernelDef(kernel, call.name);
    const entry = call.entry ?? 'main';
    const params: CustomParams = {
      ...packParams(op, where, call.params ?? {}),
      workgroups: workgroupsOf(op, where, call.workgroups),
      constants: { ...(call.constants ?? {}) },
    };
    const withEntry = entry === 'main' ? def : { ...def, gpu: { ...def.gpu, entry } };
    return runKernel(def.name, withEntry, call.inputs, call.outputs, params, b);
  }
}

/** Reads a kernel's WGSL: inline text (it declares an entry point), else a path or file: URL. */
function loadSource(op: string, src: WgslSource, key?: string): { source: string; origin: string; name: string } {
  if (typeof src === 'string' && /@compute|@group|fn\s/.test(src)) {
    return { source: src, origin: `${op}.${key ?? 'kernel'} (inline WGSL)`, name: key ?? 'kernel' };
  }
  let path: string;
  try {
    path = src instanceof URL ? fileURLToPath(src) : src.startsWith('file:') ? fileURLToPath(src) : src;
  } catch (e) {
    fail(op, `kernel ${String(src)} is neither WGSL source nor a file path: ${(e as Error).message}`);
  }
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    fail(op, `cannot read the WGSL file ${path}: ${(e as Error).message}`);
  }
  return { source, origin: path, name: key ?? basename(path).replace(/\.wgsl$/, '') };
}

function packParams(op: string, where: string, params: Record<string, ParamValue>): { fields: UniformField[]; values: ParamValues } {
  const fields: UniformField[] = [];
  const values: ParamValues = {};
  for (const [k, v] of Object.entries(params)) {
    const bad = () =>
      fail(op, `${where}: param '${k}' must be ['u32' | 'i32' | 'f32', number] or ['dims', number[]], got ${JSON.stringify(v)}`);
    if (!Array.isArray(v) || v.length !== 2) bad();
    const [type, val] = v;
    if (type === 'dims') {
      if (!Array.isArray(val) || val.length > 8 || val.some((d) => !Number.isInteger(d) || d < 0))
        fail(op, `${where}: param '${k}' dims must be at most 8 non-negative integers, got ${JSON.stringify(val)}`);
      fields.push(['dims', val]);
    } else if (type === 'u32' || type === 'i32' || type === 'f32') {
      if (typeof val !== 'number' || !Number.isFinite(val)) bad();
      if (type === 'u32' && (!Number.isInteger(val) || val < 0 || val > 0xffffffff))
        fail(op, `${where}: param '${k}' is u32 but ${val} is not an integer in [0, 2^32)`);
      if (type === 'i32' && (!Number.isInteger(val) || Math.abs(val) > 2 ** 31))
        fail(op, `${where}: param '${k}' is i32 but ${val} is not a 32-bit integer`);
      fields.push([type, val]);
    } else bad();
    values[k] = val;
  }
  return { fields, values };
}

function workgroupsOf(op: string, where: string, wg: KernelCall['workgroups']): [number, number, number] {
  const w = typeof wg === 'number' ? [wg, 1, 1] : Array.isArray(wg) ? [wg[0], wg[1] ?? 1, wg[2] ?? 1] : null;
  if (!w || w.some((d) => !Number.isInteger(d) || (d as number) < 0))
    fail(op, `${where}: workgroups must be a non-negative integer or [x, y?, z?], got ${JSON.stringify(wg)}`);
  return w as [number, number, number];
}

function describe(v: unknown): string {
  if (v instanceof Tensor) return v.describe();
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * Defines an op from a forward and a hand-written backward (see the file comment). Arguments that
 * are tensors get gradients; any other argument (numbers, options) passes through to forward as is.
 */
export function customOp<A extends unknown[] = Tensor[]>(spec: CustomOpSpec<A>): CustomOp<A> {
  if (!spec || typeof spec !== 'object') fail('customOp', `expects { name, forward, backward, cpu?, wgsl? }, got ${String(spec)}`);
  const name = spec.name;
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name))
    fail('customOp', `name must be a non-empty string of letters, digits, '_', '.', '-', got ${JSON.stringify(name)}`);
  if (typeof spec.forward !== 'function') fail(name, 'customOp needs forward(ctx, ...args) returning the output tensor');
  if (typeof spec.backward !== 'function')
    fail(name, 'customOp needs backward(ctx, gradOutput) returning one gradient (or null) per argument');
  for (const [k, f] of Object.entries(spec.cpu ?? {}))
    if (typeof f !== 'function') fail(name, `cpu.${k} must be a function (inputs, outputs, params) => void`);
  for (const [k, s] of Object.entries(spec.wgsl ?? {}))
    if (typeof s !== 'string' && !(s instanceof URL)) fail(name, `wgsl.${k} must be WGSL source, a path or a URL`);
  const impl = new OpImpl(spec as unknown as CustomOpSpec<unknown[]>);

  const op = ((...args: A): Tensor => {
    const tensors = args.filter((a): a is Tensor => a instanceof Tensor);
    const backend = backendOf(name, tensors);
    const needs = args.map((a) => a instanceof Tensor && isGradEnabled() && a.requiresGrad);
    const ctx = new OpContext(impl, backend, args, needs);
    // Forward's temporaries die here; the output and the tensors it saved move to the caller's scope.
    const [out, saved] = noGrad(() =>
      tidy(() => {
        let y: unknown = spec.forward(ctx, ...args);
        if (!(y instanceof Tensor)) fail(name, `forward must return a Tensor, got ${describe(y)}`);
        if (y.isDisposed) fail(name, 'forward returned a disposed tensor');
        if (tensors.includes(y)) y = clone(y); // the output must be a new tensor
        return [y as Tensor, ctx.saved] as const;
      }),
    );
    const made = saved.filter((t) => !tensors.includes(t));
    if (!needs.some(Boolean)) {
      for (const t of new Set(made)) if (t !== out) t.dispose();
      return out;
    }
    return record(
      out,
      name,
      tensors,
      (g) => {
        const r = spec.backward(ctx, g);
        const list = r instanceof Tensor || r === null ? [r] : r;
        if (!Array.isArray(list) || list.length !== args.length) {
          fail(
            name,
            `backward must return one gradient (or null) per argument: ${args.length} expected, got ${Array.isArray(list) ? list.length : describe(r)}`,
          );
        }
        const grads: (Tensor | null)[] = [];
        list.forEach((gi, i) => {
          const a = args[i];
          if (gi === null || gi === undefined) {
            if (a instanceof Tensor) grads.push(null);
            return;
          }
          if (!(gi instanceof Tensor)) fail(name, `backward: gradient ${i} must be a Tensor or null, got ${describe(gi)}`);
          if (!(a instanceof Tensor)) fail(name, `backward: argument ${i} (${describe(a)}) is not a tensor; its gradient must be null`);
          if (gi.shape.length !== a.shape.length || gi.shape.some((d, k) => d !== a.shape[k])) {
            fail(name, `backward: gradient ${i} has shape ${fmtShape(gi.shape)}, but argument ${i} has shape ${fmtShape(a.shape)}`);
          }
          if (gi.dtype !== 'float32') fail(name, `backward: gradient ${i} must be float32, got ${gi.describe()}`);
          // The tape disposes gradients it is done with: never hand it an argument or a saved tensor.
          grads.push(tensors.includes(gi) || saved.includes(gi) ? clone(gi) : gi);
        });
        return grads;
      },
      saved,
    );
  }) as CustomOp<A>;
  Object.defineProperty(op, 'opName', { value: name });
  Object.defineProperty(op, 'spec', { value: spec });
  Object.defineProperty(op, 'name', { value: name });
  op.compile = async () => {
    const gpu = webgpu();
    if (!gpu) fail(name, 'compile() needs the webgpu backend: call `await mg.init()` first');
    for (const k of Object.keys(spec.wgsl ?? {})) {
      const def = impl.kernelDef(k);
      await gpu.compileShader(def.name, def.gpu.shader as string);
    }
  };
  return op;
}
