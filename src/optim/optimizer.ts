// The optimizer base: parameter groups with their own hyperparameters, per-parameter state (moment
// tensors + a step count), zeroGrad, state export/import for checkpoints, and resetState (ReMoRA
// resets adapter moments after each merge).
//
//   const opt = new AdamW([
//     { params: decayed, weightDecay: 0.1 },
//     { params: biasesAndNorms, weightDecay: 0 },   // no decay: the caller's choice, via groups
//   ], { lr: 3e-4 });
//   loss.backward(); opt.step(); opt.zeroGrad();
//
// Gradient accumulation: backward() ADDS into .grad, so run backward on each micro-batch's loss
// scaled by 1/accumSteps, then step() once and zeroGrad():
//
//   for (const mb of microBatches) tidy(() => model.forward(mb.x, mb.y).loss!.mul(1 / accumSteps).backward());
//   opt.step(); opt.zeroGrad();
import { fail, fmtShape } from '../errors.js';
import { zerosLike } from '../ops/creation.js';
import { keep } from '../runtime.js';
import { sameShape, stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { stridedCopy } from '../ops/shape.js';
import { copyInto } from '../nn/module.js';

/** Hyperparameters every group has. */
export interface BaseHyper {
  lr: number;
  weightDecay: number;
}

/** A group as the caller gives it: its parameters and any hyperparameters it overrides. */
export type GroupSpec<H> = { params: Tensor[]; name?: string } & Partial<H>;

/** A group as the optimizer holds it (hyperparameters may be changed between steps, e.g. lr). */
export type ParamGroup<H> = H & { params: Tensor[]; name?: string };

export interface ParamState {
  /** Updates applied to this parameter since its state was created or reset. */
  step: number;
  /** Moment tensors by name (torch's names: exp_avg, exp_avg_sq, momentum_buffer). */
  buffers: Record<string, Tensor>;
}

/**
 * A checkpointable optimizer state. Parameters are identified by their position in the flattened
 * groups (as torch): `tensors` holds `<index>.<buffer>` (e.g. `3.exp_avg`), `steps` each parameter's
 * step count, `groups` each group's hyperparameters and parameter indices. JSON-safe except tensors.
 */
export interface OptimizerStateDict {
  tensors: Record<string, Tensor>;
  steps: Record<string, number>;
  groups: (Record<string, number | boolean | string | number[]> & { params: number[] })[];
}

/** A parameter of a group due for an update, with its gradient and state. */
export interface GroupItem {
  p: Tensor;
  grad: Tensor;
  st: ParamState;
}

export abstract class Optimizer<H extends BaseHyper> {
  readonly groups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(
    readonly name: string,
    params: Tensor[] | GroupSpec<H>[],
    readonly defaults: H,
  ) {
    if (!Array.isArray(params) || params.length === 0) fail(name, 'expects a non-empty array of parameters or of parameter groups');
    const specs: GroupSpec<H>[] =
      params[0] instanceof Tensor ? [{ params: params as Tensor[] } as GroupSpec<H>] : (params as GroupSpec<H>[]);
    const seen = new Map<Tensor, number>();
    this.groups = specs.map((g, gi) => {
      if (!g || !Array.isArray(g.params)) fail(name, `group ${gi} must be { params: Tensor[], ...hyperparameters }, got ${String(g)}`);
      g.params.forEach((p, pi) => {
        if (!(p instanceof Tensor)) fail(name, `group ${gi} params[${pi}] is not a Tensor (${String(p)})`);
        if (p.isDisposed) fail(name, `group ${gi} params[${pi}] was disposed`);
        if (p.dtype !== 'float32' && p.dtype !== 'float16') fail(name, `parameters must be float32 or float16, got ${p.describe()}`);
        if (p.node) fail(name, `${p.describe()} is not a leaf (it was computed by '${p.node.op}'); optimize leaves (parameters) only`);
        const before = seen.get(p);
        if (before !== undefined)
          fail(name, `${p.describe()} appears in group ${before} and group ${gi}; a parameter may belong to one group only`);
        seen.set(p, gi);
      });
      const group = { ...this.defaults, ...g, params: [...g.params] } as ParamGroup<H>;
      this.validate(group, gi);
      return group;
    });
  }

  /** Checks a group's hyperparameters (called at construction and before each step). */
  protected validate(g: ParamGroup<H>, gi: number): void {
    if (!(g.lr >= 0)) fail(this.name, `group ${gi}: lr must be >= 0, got ${g.lr}`);
    if (!(g.weightDecay >= 0)) fail(this.name, `group ${gi}: weightDecay must be >= 0, got ${g.weightDecay}`);
  }

  /** Every parameter, in group order (the indices of stateDict). */
  get params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Applies one update to every parameter that has a gradient (others are skipped, as torch). */
  step(): void {
    this.groups.forEach((g, gi) => {
      this.validate(g, gi);
      const items: GroupItem[] = [];
      for (const p of g.params) {
        if (!p.grad) continue;
        if (!sameShape(p.grad.shape, p.shape)) fail(this.name, `the gradient of ${p.describe()} has shape ${fmtShape(p.grad.shape)}`);
        let st = this.state.get(p);
        if (!st) {
          const buffers = this.initState(p, g);
          for (const t of Object.values(buffers)) keep(t); // state outlives tidy scopes
          st = { step: 0, buffers };
          this.state.set(p, st);
        }
        st.step++;
        items.push({ p, grad: p.grad, st });
      }
      this.updateGroup(items, g);
    });
  }

  /**
   * Updates a group's parameters that have a gradient (their `st.step` already incremented): one
   * `update` each, unless a subclass batches them (AdamW's multi-tensor kernel).
   */
  protected updateGroup(items: GroupItem[], g: ParamGroup<H>): void {
    for (const { p, grad, st } of items) this.update(p, grad, st, g);
  }

  /** New state buffers for a parameter (e.g. zeros for Adam's moments). */
  protected abstract initState(p: Tensor, g: ParamGroup<H>): Record<string, Tensor>;
  /** Updates `p` in place from `grad`; `st.step` is already incremented (1 on the first update). */
  protected abstract update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<H>): void;

  /** Frees every parameter's gradient (grad = null). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The state of one parameter (undefined before its first update or after a reset). */
  stateOf(p: Tensor): ParamState | undefined {
    return this.state.get(p);
  }

  /**
   * Drops the state (moments and step count) of `params` (default: all), so their next update
   * starts fresh, bias correction included. ReMoRA calls this for the adapter parameters after a merge.
   */
  resetState(params: Tensor[] = this.params): void {
    for (const p of params) {
      const st = this.state.get(p);
      if (!st) continue;
      for (const t of Object.values(st.buffers)) t.dispose();
      this.state.delete(p);
    }
  }

  /**
   * The state for a checkpoint. The tensors ARE the optimizer's buffers (updated in place by the
   * next step; do not dispose them) unless `clone`, which returns copies owned by the caller.
   */
  stateDict(opts: { clone?: boolean } = {}): OptimizerStateDict {
    const tensors: Record<string, Tensor> = {};
    const steps: Record<string, number> = {};
    const index = new Map(this.params.map((p, i) => [p, i]));
    for (const [p, st] of this.state) {
      const i = index.get(p)!;
      steps[i] = st.step;
      for (const [k, t] of Object.entries(st.buffers)) tensors[`${i}.${k}`] = opts.clone ? copyOf(t) : t;
    }
    let next = 0;
    const groups = this.groups.map((g) => {
      const { params, ...hyper } = g;
      const out: Record<string, number | boolean | string | number[]> = {};
      for (const [k, v] of Object.entries(hyper))
        if (v !== undefined) out[k] = Array.isArray(v) ? [...v] : (v as number | boolean | string);
      return { ...out, params: params.map(() => next++) };
    });
    return { tensors, steps, groups };
  }

  /**
   * Restores a state from `stateDict()` (tensors are copied; the caller keeps ownership). The
   * groups must have the same sizes; each group's hyperparameters (lr, betas, ...) are restored.
   * Checks everything before changing anything.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !sd.tensors || !sd.steps || !Array.isArray(sd.groups)) {
      fail(op, 'expects { tensors, steps, groups } as returned by stateDict()');
    }
    const sizes = this.groups.map((g) => g.params.length);
    const theirs = sd.groups.map((g) => (Array.isArray(g.params) ? g.params.length : -1));
    if (sizes.join() !== theirs.join())
      fail(op, `the checkpoint has groups of [${theirs.join(', ')}] parameters, this optimizer [${sizes.join(', ')}]`);
    const params = this.params;
    const buffers = new Map<number, Record<string, Tensor>>();
    for (const [key, t] of Object.entries(sd.tensors)) {
      const m = /^(\d+)\.(\w+)$/.exec(key);
      if (!m) fail(op, `unexpected tensor key '${key}' (expected '<param index>.<buffer>')`);
      const i = Number(m[1]);
      const p = params[i];
      if (!p) fail(op, `tensor '${key}' names parameter ${i}, but there are ${params.length}`);
      if (!(t instanceof Tensor) || t.isDisposed) fail(op, `'${key}' is not a live Tensor`);
      if (!sameShape(t.shape, p.shape))
        fail(
          op,
          `size mismatch for '${key}': the checkpoint has ${fmtShape(t.shape)}, the parameter ${fmtShape(p.shape)}${p.name ? ` ('${p.name}')` : ''}`,
        );
      if (t.backend !== p.backend && t.backend.name !== 'cpu')
        fail(
          op,
          `'${key}' lives on ${t.backend.name} and the parameter on ${p.backend.name}; move it first with await t.to('${p.backend.name}')`,
        );
      if (!(i in sd.steps)) fail(op, `'${key}' has no step count (steps[${i}] is missing)`);
      const b = buffers.get(i) ?? {};
      b[m[2]] = t;
      buffers.set(i, b);
    }
    for (const [i, s] of Object.entries(sd.steps)) {
      if (!params[Number(i)]) fail(op, `steps names parameter ${i}, but there are ${params.length}`);
      if (!Number.isInteger(s) || s < 0) fail(op, `steps[${i}] must be a non-negative integer, got ${String(s)}`);
    }
    // Everything checked: replace the state and the hyperparameters.
    this.resetState();
    for (const [i, s] of Object.entries(sd.steps)) {
      const p = params[Number(i)];
      const own: Record<string, Tensor> = {};
      for (const [k, t] of Object.entries(buffers.get(Number(i)) ?? {})) {
        const c = keep(zerosLike(p));
        copyInto(c, t);
        own[k] = c;
      }
      this.state.set(p, { step: s, buffers: own });
    }
    sd.groups.forEach((g, gi) => {
      const { params: _ignored, ...hyper } = g;
      Object.assign(this.groups[gi], hyper);
    });
  }

  /** Frees the optimizer's state tensors (not the parameters). */
  dispose(): void {
    this.resetState();
  }
}

function copyOf(t: Tensor): Tensor {
  return stridedCopy(t, { shape: t.shape, strides: stridesOf(t.shape) }, undefined, 'stateDict');
}

/** Host-side float64 hyperparameter check shared by the optimizers. */
export function checkRange(op: string, what: string, v: number, lo: number, hi: number, hiOpen = true): void {
  if (typeof v !== 'number' || !(v >= lo && (hiOpen ? v < hi : v <= hi)))
    fail(op, `${what} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${String(v)}`);
}

/** Copies each `[src, dst]` pair's values into dst (same shape): the naive twins' in-place write-back. */
export function assignInPlace(op: string, pairs: readonly (readonly [Tensor, Tensor])[]): void {
  for (const [src, dst] of pairs) {
    const s = stridesOf(dst.shape);
    stridedCopy(src, { shape: dst.shape, strides: s }, { tensor: dst, strides: s }, op);
  }
}

/** An optimizer's `impl` option: 'fused' (default, one kernel per parameter) or 'naive' (primitive ops). */
export function implOf(op: string, impl: unknown): 'fused' | 'naive' {
  if (impl !== undefined && impl !== 'fused' && impl !== 'naive') fail(op, `impl must be 'fused' or 'naive', got '${String(impl)}'`);
  return (impl as 'fused' | 'naive' | undefined) ?? 'fused';
}
