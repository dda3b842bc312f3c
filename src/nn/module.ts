// Module: the PyTorch-like container of parameters and submodules.
//
// Discovery (no registration calls needed): a module's parameters are its own enumerable fields
// holding a `Parameter`, and its children are its own fields holding a `Module` or an array of
// Modules (array element i is named `<field>.<i>`, like torch's ModuleList). Fields are visited in
// assignment order, so `namedParameters()` lists them as the constructor created them:
//
//   class Net extends Module {
//     fc1 = new Linear(4, 8);                 // child 'fc1' -> 'fc1.weight', 'fc1.bias'
//     blocks = [new Block(), new Block()];    // children 'blocks.0', 'blocks.1'
//     scale = new Parameter(mg.ones([8]));    // parameter 'scale'
//   }
//
// `register(name, value)` does the same for names known only at run time (it assigns the field).
// A field holding null (e.g. `bias` of a Linear without bias) is skipped. A Parameter or Module
// reachable twice (tied weights) is listed once, under its first name. Fields whose name starts
// with '_' are private and never discovered.
import { fail, fmtShape } from '../errors.js';
import { keep, type BackendName } from '../runtime.js';
import { sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { cast as castTensor } from '../ops/creation.js';
import { stridedCopy } from '../ops/shape.js';
import { stridesOf } from '../shape.js';
import type { CpuBackend } from '../backend/cpu/cpu.js';

/**
 * A trainable tensor owned by a module: requiresGrad is on, it is exempt from tidy scopes (it lives
 * until the module is disposed) and its `name` is set to its dotted path by `Module.nameParameters()`.
 */
export class Parameter extends Tensor {
  /**
   * Wraps `t`'s storage (no copy). `t` itself is disposed, so pass a tensor you just made:
   * `new Parameter(mg.zeros([4]))`.
   */
  constructor(t: Tensor, opts: { name?: string; requiresGrad?: boolean } = {}) {
    if (!(t instanceof Tensor)) fail('Parameter', `expects a Tensor, got ${String(t)}`);
    if (t.dtype !== 'float32' && t.dtype !== 'float16') fail('Parameter', `parameters must be float32 or float16, got ${t.describe()}`);
    super(t.storage, t.shape, t.dtype);
    t.dispose();
    this.requiresGrad = opts.requiresGrad ?? true;
    if (opts.name !== undefined) this.name = opts.name;
    keep(this);
  }
}

/** Options every module takes. */
export interface ModuleOptions {
  /** Where the parameters live; the default backend (mg.init) otherwise. */
  backend?: BackendName;
  /** Seed of the initialisation; the global sequence (mg.manualSeed) when absent. */
  seed?: number;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

type Container = Record<string | number, unknown>;

export abstract class Module {
  #training = true;

  /** Runs the module. Subclasses define the signature. */
  abstract forward(...args: never[]): unknown;

  /** True in training mode (dropout active); set by train()/eval() on the whole tree. */
  get training(): boolean {
    return this.#training;
  }

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.#training = mode;
    return this;
  }

  /** Evaluation mode (dropout off) on this module and every submodule. */
  eval(): this {
    return this.train(false);
  }

  /** Assigns a parameter, a module (or array of modules) or null to field `name`; returns it. */
  register<T extends Parameter | Module | Module[] | null>(name: string, value: T): T {
    if (!/^[A-Za-z][\w]*$/.test(name))
      fail('Module.register', `name '${name}' must start with a letter and hold only letters, digits and '_' (no dots)`);
    if (value !== null && !(value instanceof Parameter) && !(value instanceof Module) && !isModuleArray(value)) {
      fail('Module.register', `'${name}' must be a Parameter, a Module, an array of Modules or null, got ${describeValue(value)}`);
    }
    (this as unknown as Container)[name] = value;
    return value;
  }

  /** Direct children: [name, module] for Module fields and `field.i` for arrays of Modules. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith('_')) continue;
      if (v instanceof Module) out.push([k, v]);
      else if (isModuleArray(v)) v.forEach((m, i) => out.push([`${k}.${i}`, m]));
    }
    return out;
  }

  /** This module's own parameters (not its children's): [name, parameter]. */
  namedOwnParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_') && v instanceof Parameter) out.push([k, v]);
    return out;
  }

  /** Every module of the tree with its dotted name, this one first as `prefix` ('' by default). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [k, c] of m.namedChildren()) walk(c, name ? `${name}.${k}` : k);
    };
    walk(this, prefix);
    return out;
  }

  /** Every parameter of the tree with its dotted name (`blocks.0.attn.q.weight`), each once. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [mName, m] of this.namedModules(prefix)) {
      for (const [k, p] of m.namedOwnParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([mName ? `${mName}.${k}` : k, p]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Sets each parameter's `name` to its dotted path (used in error messages); returns this. */
  nameParameters(): this {
    for (const [n, p] of this.namedParameters()) p.name = n;
    return this;
  }

  /** The module at a dotted path ('' is this one); throws listing the module names when absent. */
  getModule(name: string): Module {
    if (name === '') return this;
    const v = this.resolve('getModule', name).value;
    if (!(v instanceof Module))
      fail('getModule', `'${name}' is not a module (it holds ${describeValue(v)}); modules: ${this.moduleNames()}`);
    return v;
  }

  /** The parameter at a dotted path; throws listing the parameter names when absent. */
  getParameter(name: string): Parameter {
    const p = this.namedParameters().find(([n]) => n === name)?.[1];
    if (!p)
      fail(
        'getParameter',
        `no parameter '${name}'; parameters: ${this.namedParameters()
          .map(([n]) => n)
          .join(', ')}`,
      );
    return p;
  }

  /**
   * Replaces the submodule at a dotted path (`blocks.0.attn.q`) with `module` (e.g. an adapter
   * wrapping the old Linear) and returns the old one, which is NOT disposed (the new module may
   * hold it). Training mode is copied onto the new module.
   */
  replaceModule(name: string, module: Module): Module {
    if (!(module instanceof Module)) fail('replaceModule', `the replacement for '${name}' must be a Module, got ${describeValue(module)}`);
    if (name === '') fail('replaceModule', 'cannot replace the root module (name is empty)');
    const { parent, key, value } = this.resolve('replaceModule', name);
    if (!(value instanceof Module))
      fail('replaceModule', `'${name}' is not a module (it holds ${describeValue(value)}); modules: ${this.moduleNames()}`);
    parent[key] = module;
    module.train(value.training);
    return value;
  }

  /**
   * The parameters by dotted name. The tensors ARE the parameters (no copy; do not dispose them)
   * unless `clone`, which returns detached copies (a snapshot) owned by the caller.
   */
  stateDict(opts: { clone?: boolean } = {}): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [n, p] of this.namedParameters()) out[n] = opts.clone ? snapshot(p) : p;
    return out;
  }

  /**
   * Copies `sd`'s tensors into the parameters of the same names, in place (the Parameter objects,
   * and so optimizer references to them, stay the same). Checks everything before copying anything:
   * `strict` (default) throws listing missing and unexpected keys; a shape or dtype mismatch always
   * throws, naming the key and both shapes. Source tensors may live on the cpu backend (copied
   * synchronously) or on the parameter's own backend.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const op = 'loadStateDict';
    const strict = opts.strict ?? true;
    if (!sd || typeof sd !== 'object') fail(op, `expects a Record<string, Tensor>, got ${String(sd)}`);
    const params = new Map(this.namedParameters());
    const missingKeys = [...params.keys()].filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !params.has(k));
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    for (const [k, p] of params) {
      const t = sd[k];
      if (t === undefined) continue;
      if (!(t instanceof Tensor)) {
        problems.push(`'${k}' is not a Tensor (${describeValue(t)})`);
        continue;
      }
      if (t.isDisposed) problems.push(`'${k}' was disposed`);
      else if (!sameShape(t.shape, p.shape))
        problems.push(`size mismatch for '${k}': the checkpoint has ${fmtShape(t.shape)}, the model ${fmtShape(p.shape)}`);
      else if (t.dtype !== p.dtype) problems.push(`dtype mismatch for '${k}': the checkpoint has ${t.dtype}, the model ${p.dtype}`);
      else if (t.backend !== p.backend && t.backend.name !== 'cpu') {
        problems.push(
          `'${k}' lives on ${t.backend.name} and the parameter on ${p.backend.name}; move it first with await t.to('${p.backend.name}')`,
        );
      }
    }
    if (problems.length) fail(op, `cannot load the state dict into ${this.constructor.name}: ${problems.join('; ')}`);
    for (const [k, p] of params) {
      const t = sd[k];
      if (t !== undefined && t !== p) copyInto(p, t);
    }
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Converts every parameter to `dtype` (torch's `model.half()` / `model.float()`): each becomes a
   * new Parameter (same name and requiresGrad, no gradient) in every field that held the old one,
   * so tied weights stay tied; the old ones are disposed. Build optimizers after casting (they hold
   * the Parameter objects). float32 -> float16 rounds to nearest even.
   */
  cast(dtype: 'float32' | 'float16'): this {
    if (dtype !== 'float32' && dtype !== 'float16') fail('Module.cast', `dtype must be 'float32' or 'float16', got '${String(dtype)}'`);
    const moved = new Map<Parameter, Parameter>();
    for (const [, m] of this.namedModules()) {
      const fields = m as unknown as Container;
      for (const [k, p] of m.namedOwnParameters()) {
        if (p.dtype === dtype) continue;
        let q = moved.get(p);
        if (!q) {
          q = new Parameter(
            noGrad(() => castTensor(p, dtype)),
            { name: p.name, requiresGrad: p.requiresGrad },
          );
          moved.set(p, q);
        }
        fields[k] = q;
      }
    }
    for (const p of moved.keys()) p.dispose();
    return this;
  }

  /** requiresGrad = false on every parameter (grads are freed); returns this. */
  freeze(): this {
    for (const p of this.parameters()) {
      p.requiresGrad = false;
      p.grad?.dispose();
      p.grad = null;
    }
    return this;
  }

  /** requiresGrad = true on every parameter; returns this. */
  unfreeze(): this {
    for (const p of this.parameters()) p.requiresGrad = true;
    return this;
  }

  /** Number of scalar parameters (each shared parameter counted once). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((s, p) => s + p.size, 0);
  }

  /** Frees every parameter's gradient (grad = null, like torch's set_to_none). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees the parameters (and their grads) of the whole tree and any per-module caches. */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeOwn();
    for (const p of this.parameters()) p.dispose();
  }

  /** Hook for modules holding non-parameter tensors (caches); called by dispose(). */
  protected disposeOwn(): void {}

  /** One line per module: its dotted name, class and parameter shapes (like printing a torch module). */
  toString(): string {
    return this.namedModules()
      .map(([n, m]) => {
        const ps = m
          .namedOwnParameters()
          .map(([k, p]) => `${k}${fmtShape(p.shape)}`)
          .join(' ');
        return `${n || '(root)'}: ${m.constructor.name}${ps ? ` ${ps}` : ''}`;
      })
      .join('\n');
  }

  private moduleNames(): string {
    return this.namedModules()
      .map(([n]) => n)
      .filter((n) => n)
      .join(', ');
  }

  /** Walks a dotted path through module fields and arrays. */
  private resolve(op: string, name: string): { parent: Container; key: string | number; value: unknown } {
    const parts = name.split('.');
    let cur: unknown = this;
    let parent: Container = this as unknown as Container;
    let key: string | number = '';
    for (const [i, part] of parts.entries()) {
      const here = parts.slice(0, i).join('.') || '(root)';
      if (cur instanceof Module) {
        if (part.startsWith('_') || !Object.hasOwn(cur, part)) {
          fail(op, `no submodule '${name}': ${cur.constructor.name} at '${here}' has no field '${part}'; modules: ${this.moduleNames()}`);
        }
        parent = cur as unknown as Container;
        key = part;
      } else if (Array.isArray(cur)) {
        const idx = Number(part);
        if (!Number.isInteger(idx) || idx < 0 || idx >= cur.length)
          fail(op, `no submodule '${name}': '${here}' is a list of ${cur.length} modules, '${part}' is not an index of it`);
        parent = cur as unknown as Container;
        key = idx;
      } else {
        fail(op, `no submodule '${name}': '${here}' is not a module`);
      }
      cur = parent[key];
    }
    return { parent, key, value: cur };
  }
}

function isModuleArray(v: unknown): v is Module[] {
  return Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module);
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (v instanceof Tensor) return v.describe();
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}

/** A detached copy of `t` on its backend. */
function snapshot(t: Tensor): Tensor {
  return stridedCopy(t, { shape: t.shape, strides: stridesOf(t.shape) }, undefined, 'stateDict');
}

/** Writes `src`'s elements into `dst`'s storage (same shape; src on dst's backend or on cpu). */
export function copyInto(dst: Tensor, src: Tensor): void {
  let s = src;
  if (src.backend !== dst.backend) {
    // cpu -> other backend: a synchronous read of the float64 array and an upload.
    const host = (src.backend as CpuBackend).readSync(src.storage);
    s = new Tensor(dst.backend.upload(host, src.dtype), src.shape, src.dtype);
  }
  const strides = stridesOf(dst.shape);
  stridedCopy(s, { shape: dst.shape, strides }, { tensor: dst, strides }, 'copyInto');
  if (s !== src) s.dispose();
}

/** A sub-seed for part `k` of a module seeded with `seed` (undefined stays undefined: global stream). */
export function subSeed(seed: number | undefined, k: number): number | undefined {
  if (seed === undefined) return undefined;
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
