// ReMoRA and ReLoRA: merge-and-reinit restarts (spec section 7; the reference is the
// ResetReloraCallback of kongds/MoRA train.py). Every `every` optimizer steps:
//
//   1. W += ΔW for every adapter layer (the adapter's work so far is kept in the base weight),
//   2. re-initialise the adapter so it adds 0 again: MoRA M = 0 and the grouping type switches
//      (cycle 4: 1 -> 2 -> 3 -> 4 -> 1, the reference default; cycle 2: 1 <-> 2, the paper's);
//      LoRA (ReLoRA): A re-drawn Kaiming-uniform from a new seed, B = 0,
//   3. drop the optimizer state (moments, step counts) of the adapter parameters,
//   4. re-warm the learning rate: wrap the schedule with `schedule(base)` (a linear ramp over
//      `rewarm` steps after each restart, 50 like the paper) or use `jaggedCosine(...)`.
//
// Without the type switch the accumulated Σ ΔW of MoRA stays in the same rank-R space; even with it,
// Σ ΔW is capped near rank 2R - 1 (the tile and interleave spaces), docs/mora.md.
//
//   const remora = new ReMoRA(peft, opt, { every: 200 });
//   const sched = new LrScheduler(opt, remora.jaggedCosine({ lr: 2e-4, total: 10_000, warmup: 100 }));
//   for (...) { loss.backward(); opt.step(); opt.zeroGrad(); remora.step(); sched.step(); }
import { fail } from '../errors.js';
import { checkEvenR, checkType, typeName, type MoraType } from '../mora/rules.js';
import { cosineLr, type CosineOptions, type Schedule } from '../optim/schedule.js';
import type { BaseHyper, Optimizer } from '../optim/optimizer.js';
import type { Module } from '../nn/module.js';
import { subSeed } from '../nn/module.js';
import { PeftModel, adapterLayers } from './inject.js';
import { type AdapterLinear, LoRALinear } from './lora.js';
import { MoRALinear } from './mora.js';

export interface RestartOptions {
  /** Restart after every `every` optimizer steps (T; the reference's use_relora_step, default 50). */
  every?: number;
  /** Learning-rate re-warm steps after each restart (default 50, the paper's; at most `every`). */
  rewarm?: number;
  /** Reset the adapter parameters' optimizer state at each restart (default true). */
  resetOptimizer?: boolean;
  /** Seed of ReLoRA's re-drawn A (restart k of layer i uses subSeed(subSeed(seed, k), i)). */
  seed?: number;
}

export interface ReMoRAOptions extends RestartOptions {
  /**
   * The type cycle: 4 (default, the reference's remora_types: 1 -> 2 -> 3 -> 4 -> 1), 2 (the paper's
   * 1 <-> 2) or an explicit list of types visited in order. Every MoRA layer's type must be in it.
   */
  cycle?: 2 | 4 | readonly MoraType[];
}

export interface RestartState {
  /** Optimizer steps seen (calls of step()). */
  step: number;
  /** Restarts done. */
  restarts: number;
}

/** The layers of a handle, a module, or a list of [name, layer]. */
function layersOf(op: string, target: PeftModel | Module | [string, AdapterLinear][]): [string, AdapterLinear][] {
  if (target instanceof PeftModel) return target.layers;
  if (Array.isArray(target)) return target;
  if (target && typeof (target as Module).namedModules === 'function') return adapterLayers(target as Module);
  return fail(op, `expects a handle from inject(), a Module with adapters, or [name, layer] pairs; got ${String(target)}`);
}

/** Restart bookkeeping shared by ReMoRA and ReLoRA. */
export abstract class MergeRestarts {
  readonly every: number;
  readonly rewarm: number;
  readonly resetOptimizer: boolean;
  readonly seed: number | undefined;
  protected readonly layers: [string, AdapterLinear][];
  #step = 0;
  #restarts = 0;

  constructor(
    protected readonly op: string,
    target: PeftModel | Module | [string, AdapterLinear][],
    readonly optimizer: Optimizer<BaseHyper> | null,
    opts: RestartOptions,
  ) {
    this.layers = layersOf(op, target);
    if (this.layers.length === 0) fail(op, 'found no adapter layers to restart');
    this.every = opts.every ?? 50;
    this.rewarm = opts.rewarm ?? Math.min(50, this.every);
    this.resetOptimizer = opts.resetOptimizer ?? true;
    this.seed = opts.seed;
    if (!Number.isInteger(this.every) || this.every < 1) fail(op, `every must be a positive integer, got ${String(this.every)}`);
    if (!Number.isInteger(this.rewarm) || this.rewarm < 0 || this.rewarm > this.every)
      fail(op, `rewarm must be an integer in [0, every = ${this.every}], got ${String(this.rewarm)}`);
    if (this.resetOptimizer && optimizer === null) fail(op, 'resetOptimizer needs the optimizer (pass it, or resetOptimizer: false)');
  }

  /** Optimizer steps seen. */
  get stepCount(): number {
    return this.#step;
  }

  /** Restarts done so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Call once after every optimizer.step(); restarts after every `every` steps. Returns true on a restart. */
  step(): boolean {
    this.#step++;
    if (this.#step % this.every !== 0) return false;
    this.restart();
    return true;
  }

  /** Restarts now (merge, re-init, optimizer reset); step() calls it on schedule. */
  restart(): void {
    const k = this.#restarts;
    this.layers.forEach(([name, layer], i) => {
      try {
        this.restartLayer(layer, k, i);
      } catch (e) {
        fail(this.op, `restart ${k + 1} of '${name}': ${(e as Error).message}`);
      }
    });
    if (this.resetOptimizer) this.optimizer!.resetState(this.layers.flatMap(([, l]) => l.adapterParameters()));
    this.#restarts++;
  }

  protected abstract restartLayer(layer: AdapterLinear, k: number, i: number): void;

  /** The re-warm factor at (0-based) optimizer step s: (s mod every + 1)/rewarm right after a restart, else 1. */
  rewarmFactor(s: number): number {
    if (s < this.every || this.rewarm === 0) return 1;
    const since = s % this.every;
    return since < this.rewarm ? (since + 1) / this.rewarm : 1;
  }

  /** `base` with the re-warm ramp after each restart (jagged): lrAt(s) = base.lrAt(s)·rewarmFactor(s). */
  schedule(base: Schedule): Schedule {
    return { lr: base.lr, lrAt: (s) => base.lrAt(s) * this.rewarmFactor(s) };
  }

  /** The jagged cosine (ReLoRA's cosine_restarts shape): cosineLr with restarts every `every`, re-warm `rewarm`. */
  jaggedCosine(o: Omit<CosineOptions, 'restarts'>): Schedule {
    return cosineLr({ ...o, restarts: { every: this.every, warmup: this.rewarm } });
  }

  /** For checkpoints: steps seen and restarts done (the layer types are in the adapter config). */
  stateDict(): RestartState {
    return { step: this.#step, restarts: this.#restarts };
  }

  loadStateDict(sd: RestartState): void {
    for (const k of ['step', 'restarts'] as const) {
      if (!Number.isInteger(sd?.[k]) || sd[k] < 0)
        fail(`${this.op}.loadStateDict`, `${k} must be a non-negative integer, got ${String(sd?.[k])}`);
    }
    this.#step = sd.step;
    this.#restarts = sd.restarts;
  }
}

/**
 * ReMoRA: every `every` steps merge ΔW into W, zero M, switch every layer's type to the next of the
 * cycle, reset the adapter optimizer state. Layers may also be LoRA (handled like ReLoRA, as the
 * reference callback does for a mixed model).
 */
export class ReMoRA extends MergeRestarts {
  readonly cycle: readonly MoraType[];

  constructor(target: PeftModel | Module | [string, AdapterLinear][], optimizer: Optimizer<BaseHyper> | null, opts: ReMoRAOptions = {}) {
    super('ReMoRA', target, optimizer, opts);
    const c = opts.cycle ?? 4;
    this.cycle =
      c === 4
        ? [1, 2, 3, 4]
        : c === 2
          ? [1, 2]
          : Array.isArray(c)
            ? [...c]
            : fail('ReMoRA', `cycle must be 2, 4 or a list of types, got ${String(c)}`);
    if (this.cycle.length === 0) fail('ReMoRA', 'cycle must hold at least one type');
    for (const t of this.cycle) checkType('ReMoRA', t, 'cycle type');
    const mora = this.layers.filter(([, l]) => l instanceof MoRALinear) as [string, MoRALinear][];
    if (mora.length === 0) fail('ReMoRA', `found no MoRA layers (${this.layers.map(([n]) => n).join(', ')} are LoRA); use ReLoRA`);
    for (const [name, l] of mora) {
      if (!this.cycle.includes(l.type)) {
        fail(
          'ReMoRA',
          `'${name}' has type ${typeName(l.type)}, which is not in the cycle [${this.cycle.map(typeName).join(' -> ')}]; inject with type ${typeName(this.cycle[0])} or pass cycle: [${typeName(l.type)}, ...]`,
        );
      }
      if (this.cycle.includes(6)) checkEvenR('ReMoRA', 6, l.R, `R = ${l.R} in '${name}', and the cycle visits type 6`);
    }
  }

  /** The type after `t` in the cycle. */
  nextType(t: MoraType): MoraType {
    const i = this.cycle.indexOf(t);
    if (i < 0) fail('ReMoRA', `type ${typeName(t)} is not in the cycle [${this.cycle.map(typeName).join(' -> ')}]`);
    return this.cycle[(i + 1) % this.cycle.length];
  }

  protected restartLayer(layer: AdapterLinear, k: number, i: number): void {
    if (layer instanceof MoRALinear) layer.restart({ type: this.nextType(layer.type) });
    else (layer as LoRALinear).restart({ seed: reloraSeed(this.seed, k, i) });
  }
}

/** ReLoRA (Lialin et al. 2023): every `every` steps merge (α/r)·B A into W, re-draw A, zero B, reset. */
export class ReLoRA extends MergeRestarts {
  constructor(target: PeftModel | Module | [string, AdapterLinear][], optimizer: Optimizer<BaseHyper> | null, opts: RestartOptions = {}) {
    super('ReLoRA', target, optimizer, opts);
    const notLora = this.layers.filter(([, l]) => !(l instanceof LoRALinear));
    if (notLora.length)
      fail('ReLoRA', `${notLora.map(([n]) => n).join(', ')} ${notLora.length > 1 ? 'are' : 'is'} not LoRA; use ReMoRA for MoRA layers`);
  }

  protected restartLayer(layer: AdapterLinear, k: number, i: number): void {
    (layer as LoRALinear).restart({ seed: reloraSeed(this.seed, k, i) });
  }
}

/** A's seed for restart k of layer i (undefined: the layer derives one from its previous seed). */
function reloraSeed(seed: number | undefined, k: number, i: number): number | undefined {
  return seed === undefined ? undefined : subSeed(subSeed(seed, k), i);
}
