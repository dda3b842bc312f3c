// Tensor: a shape, a dtype and a refcounted backend storage (contiguous, row-major), plus autograd
// state. The math lives in src/ops/*, which install the methods (`x.matmul(w)`) in ops/methods.ts.
import type { Backend, HostArray, Storage } from './backend/interface.js';
import { type BackwardOptions, type Node, runBackward } from './autograd.js';
import type { DType } from './dtype.js';
import { fail, fmtShape } from './errors.js';
import { numel } from './shape.js';
import { checkFiniteEnabled, keep, readHooks, registerTensorClass, track, untrackDisposed } from './runtime.js';
import { releaseGraph, releaseSaved, type TapeHold } from './tape-hold.js';

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  requiresGrad = false;
  /** dL/d(this), accumulated by backward() on leaves. Owned by this tensor. */
  grad: Tensor | null = null;
  /** The tape node that created this tensor (null for leaves). */
  node: Node | null = null;
  /** Optional name (parameters get their dotted names), used in error messages. */
  name?: string;
  /** Tape nodes that saved this tensor for a backward not yet run (src/tape-hold.ts). */
  savedBy = 0;
  /** Set when a tidy scope handed this tensor to the tape (src/tape-hold.ts). */
  tapeHold: TapeHold | null = null;
  /** The scope tensors this returned root's tape holds (src/tape-hold.ts); released on dispose. */
  heldGraph: Tensor[] | null = null;
  private _storage: Storage | null;

  constructor(
    storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType = storage.dtype,
  ) {
    if (numel(shape) !== storage.numel)
      fail('Tensor', `shape ${fmtShape(shape)} needs ${numel(shape)} elements, storage has ${storage.numel}`);
    storage.refs++;
    this._storage = storage;
    track(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  /** The storage; throws if the tensor was disposed. */
  get storage(): Storage {
    if (!this._storage) fail(this.node?.op ?? 'tensor', `use after dispose: ${this.describe()} was disposed`);
    return this._storage;
  }

  get isDisposed(): boolean {
    return this._storage === null;
  }

  get size(): number {
    return this.storage.numel;
  }

  get ndim(): number {
    return this.shape.length;
  }

  describe(): string {
    return `tensor #${this.id}${this.name ? ` '${this.name}'` : ''} ${fmtShape(this.shape)} ${this.dtype}`;
  }

  /** Frees the storage (when no view shares it), this tensor's gradient and its graph. Idempotent. */
  dispose(): void {
    if (!this._storage && !this.node && !this.heldGraph) return;
    this.releaseStorage();
    this.grad?.dispose();
    this.grad = null;
    if (this.node) {
      releaseSaved(this.node.saved); // the node dies with its output: it will not read them
      this.node.saved = [];
      this.node = null;
    }
    releaseGraph(this);
  }

  /**
   * Frees the storage but keeps the tape node: what the tape does with an activation once nothing
   * will read its values again (src/tape-hold.ts). Reading it afterwards throws.
   */
  releaseStorage(): void {
    const s = this._storage;
    if (!s) return;
    this._storage = null;
    if (--s.refs === 0) s.backend.release(s);
    untrackDisposed(this);
  }

  /** Flat host copy: Float32Array from webgpu, Float64Array from cpu, Int32Array for int32. */
  async data(): Promise<HostArray> {
    const s = this.storage;
    if (checkFiniteEnabled()) for (const h of readHooks) await h();
    return s.backend.read(s);
  }

  /** Nested arrays of numbers (like torch's tolist()). */
  async toArray(): Promise<NestedArray> {
    const flat = Array.from(await this.data());
    return nest(flat, this.shape);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) fail('item', `${this.describe()} has ${this.size} elements; item() needs exactly one`);
    return (await this.data())[0];
  }

  /** A tensor sharing this storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.dtype);
  }

  /**
   * Backpropagates from this tensor. Without `grad` it must hold one element (dL/dL = 1). Leaves
   * with requiresGrad accumulate into `.grad`. Saved tensors are freed unless `retainGraph`.
   */
  backward(grad?: Tensor, opts: BackwardOptions = {}): void {
    if (!this.requiresGrad)
      fail('backward', `${this.describe()} does not require grad (no input had requiresGrad, or it was made under noGrad)`);
    let seed = grad;
    if (!seed) {
      if (this.size !== 1) fail('backward', `${this.describe()} is not a scalar; pass the gradient dL/d(output) explicitly`);
      seed = hooks.onesLike(this);
    } else if (seed.shape.join() !== this.shape.join()) {
      fail('backward', `gradient shape ${fmtShape(seed.shape)} does not match the output's ${fmtShape(this.shape)}`);
    }
    runBackward(this, seed, opts, {
      accumulate: (leaf, g, owned) => {
        const mine = owned ? g : hooks.clone(g);
        if (!leaf.grad) {
          leaf.grad = mine;
        } else if (leaf.grad.storage.refs === 1) {
          hooks.addInto(leaf.grad, mine); // gradients accumulate in place
          mine.dispose();
        } else {
          const sum = hooks.add(leaf.grad, mine);
          leaf.grad.dispose();
          mine.dispose();
          leaf.grad = sum;
        }
        keep(leaf.grad); // a leaf's grad outlives tidy scopes, owned by the leaf
      },
      add: (a, b) => hooks.add(a, b),
      addInto: (a, b) => hooks.addInto(a, b),
      dispose: (t) => t.dispose(),
    });
    if (!grad) seed.dispose();
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this._storage ? this._storage.backend.name : 'disposed'}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}
registerTensorClass(Tensor);

export type NestedArray = number | NestedArray[];

function nest(flat: number[], shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0];
  const [d, ...rest] = shape;
  const step = numel(rest);
  return Array.from({ length: d }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), rest));
}

/** Ops the tensor core needs, installed by ops/ at import (avoids an import cycle). */
export const hooks = {
  onesLike: (_t: Tensor): Tensor => fail('tensor', 'ops not loaded'),
  clone: (_t: Tensor): Tensor => fail('tensor', 'ops not loaded'),
  add: (_a: Tensor, _b: Tensor): Tensor => fail('tensor', 'ops not loaded'),
  addInto: (_acc: Tensor, _x: Tensor): void => fail('tensor', 'ops not loaded'),
};
