// The one path from an op to a backend: check the inputs, allocate outputs on their backend, run the
// kernel, and (opt-in) check the outputs for NaN/Inf.
import { type Backend, checkF16, type KernelDef } from '../backend/interface.js';
import { type DType, isFloat } from '../dtype.js';
import { fail } from '../errors.js';
import { numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkFiniteEnabled, getBackend, type BackendName } from '../runtime.js';
import { afterOp } from './finite.js';
// Every op goes through this file, so loading it installs the Tensor methods (x.add, x.matmul ...)
// whichever module a program starts from.
import './methods.js';

/** The backend all `inputs` live on; throws naming the op when they differ or one was disposed. */
export function backendOf(op: string, inputs: readonly Tensor[], fallback?: BackendName): Backend {
  if (inputs.length === 0) return getBackend(fallback);
  const b = inputs[0].storage.backend;
  for (const t of inputs) {
    const tb = t.storage.backend; // throws on use after dispose
    if (tb !== b) fail(op, `tensors live on different backends (${b.name} and ${tb.name}); move one with .to('${b.name}')`);
  }
  return b;
}

export interface OutSpec {
  shape: readonly number[];
  /** The dtype of the first float input (float32 without one) by default. */
  dtype?: DType;
}

/**
 * The one float dtype of `tensors` (float32 when none is float). Mixing float16 and float32 is an
 * error naming the op: nothing is promoted silently. Ops call it on their user-facing inputs.
 */
export function floatDtypeOf(op: string, tensors: readonly (Tensor | null | undefined)[]): DType {
  let dt: DType | null = null;
  for (const t of tensors) {
    if (!t || !isFloat(t.dtype)) continue;
    if (dt && t.dtype !== dt)
      fail(
        op,
        `mixes float dtypes (${tensors
          .filter((x): x is Tensor => !!x)
          .map((x) => x.describe())
          .join(', ')}); cast one with .cast('${dt}')`,
      );
    dt = t.dtype;
  }
  return dt ?? 'float32';
}

/** Runs `kernel` on `inputs` and returns fresh output tensors of the given shapes. */
export function runKernel<P>(
  op: string,
  kernel: KernelDef<P>,
  inputs: readonly Tensor[],
  outs: readonly OutSpec[],
  params: P,
  backend?: Backend,
): Tensor[] {
  const b = backend ?? backendOf(op, inputs);
  const dt = inputs.find((t) => isFloat(t.dtype))?.dtype ?? 'float32';
  const dtypes = outs.map((o) => o.dtype ?? dt);
  checkF16(kernel, [inputs, dtypes.map((dtype) => ({ dtype }))], op);
  const storages = outs.map((o, i) => b.alloc(numel(o.shape), dtypes[i]));
  const results = outs.map((o, i) => new Tensor(storages[i], o.shape, dtypes[i]));
  if (storages.every((s) => s.numel > 0)) {
    b.run({ kernel, inputs: inputs.map((t) => t.storage), outputs: storages, params, shapes: inputs.map((t) => t.shape) });
  }
  if (checkFiniteEnabled()) for (const r of results) afterOp(op, r);
  return results;
}

/** `runKernel` with a single output. */
export function run1<P>(op: string, kernel: KernelDef<P>, inputs: readonly Tensor[], out: OutSpec, params: P, backend?: Backend): Tensor {
  return runKernel(op, kernel, inputs, [out], params, backend)[0];
}

/**
 * Runs `kernel` writing into existing tensors (optimizer updates, accumulation buffers). Not
 * recorded on the tape: in-place updates are for leaves outside autograd (parameters, moments).
 */
export function runInPlace<P>(op: string, kernel: KernelDef<P>, inputs: readonly Tensor[], outputs: readonly Tensor[], params: P): void {
  const b = backendOf(op, [...inputs, ...outputs]);
  if (outputs.some((o) => o.size === 0)) return;
  checkF16(kernel, [inputs, outputs], op);
  b.run({
    kernel,
    inputs: inputs.map((t) => t.storage),
    outputs: outputs.map((t) => t.storage),
    params,
    shapes: inputs.map((t) => t.shape),
  });
  if (checkFiniteEnabled()) for (const r of outputs) afterOp(op, r);
}
