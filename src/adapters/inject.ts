// inject: PEFT's get_peft_model for moragrad modules. Every nn.Linear whose dotted name matches a
// target (PEFT's rule: the name equals the target or ends with `.<target>`, so 'q' matches
// `blocks.0.attn.q`; a string target is a regular expression the whole name must match; 'all-linear'
// takes every Linear but the output head) is replaced in place by a LoRALinear, DoRALinear or
// MoRALinear wrapping it; everything else is frozen. 'full' unfreezes everything and adds nothing (the
// full-fine-tuning baseline, with the same reporting).
//
//   const peft = inject(model, { adapter: 'mora', r: 8, type: 6 });
//   peft.trainableParameters();        // per module: in, out, r / R, params; totals; percent
//   const opt = new AdamW(peft.adapterParameters(), { lr: 2e-4 });
//   ... train ...
//   await saveAdapter('out/adapter', peft);
//   peft.mergeAll();                    // inference at base speed
import { fail } from '../errors.js';
import type { MoraType } from '../ops/mora.js';
import type { Tensor } from '../tensor.js';
import { Linear } from '../nn/linear.js';
import { type Module, type Parameter, subSeed } from '../nn/module.js';
import { DoRALinear } from './dora.js';
import { AdapterLinear, LoRALinear } from './lora.js';
import { MoRALinear } from './mora.js';

export type AdapterKind = 'mora' | 'lora' | 'dora' | 'full';

/** The default targets: every projection of our transformer blocks (the MoRA paper's setting). */
export const DEFAULT_TARGETS: readonly string[] = ['q', 'k', 'v', 'o', 'up', 'down', 'gate'];

/** Prefix of every key in an adapter file (PEFT: PeftModel.base_model = LoraModel, .model = the model). */
export const KEY_PREFIX = 'base_model.model.';

export interface InjectOptions {
  adapter: AdapterKind;
  /**
   * Which Linear layers to adapt: names (a layer matches when its dotted name equals the target or
   * ends with `.<target>`), a regular expression string the whole name must match, or 'all-linear'
   * (every Linear but a top-level `head` / `lm_head`). Default DEFAULT_TARGETS.
   */
  targets?: readonly string[] | string;
  /**
   * Whether every name in `targets` must match a layer (default true when `targets` is given: an
   * unmatched name is a typo). loadAdapter turns it off: a file's list may name other architectures' layers.
   */
  strictTargets?: boolean;
  /** LoRA / DoRA rank; for MoRA the rank whose budget sets R. Default 8 (PEFT's). */
  r?: number;
  /** MoRA type (default 6). */
  type?: MoraType;
  /** LoRA / DoRA α (default 8, PEFT's lora_alpha). Ignored by MoRA (no scaling) but kept for the config file. */
  alpha?: number;
  /** LoRA α/√r scaling (PEFT's use_rslora). */
  rslora?: boolean;
  /** Adapter dropout on x (default 0). */
  dropout?: number;
  /** Seed; adapter i (in model order) uses subSeed(seed, i). */
  seed?: number;
}

/** The resolved options an adapted model was built with (what adapter_config.json records). */
export interface AdapterConfig {
  adapter: AdapterKind;
  targets: string[] | string;
  r: number;
  type: MoraType;
  alpha: number;
  rslora: boolean;
  dropout: number;
  seed?: number;
}

export interface ModuleBudget {
  /** Dotted name of the adapted Linear (e.g. `blocks.0.attn.q`). */
  name: string;
  kind: 'lora' | 'mora' | 'dora';
  in: number;
  out: number;
  /** The LoRA rank (for MoRA: the rank R was derived from). */
  r: number;
  /** MoRA only: r̂, the side of M. */
  R?: number;
  /** MoRA only: the current type. */
  type?: MoraType;
  /** Trainable scalars of this adapter: LoRA r·(in + out), DoRA r·(in + out) + out, MoRA R². */
  params: number;
}

export interface TrainableReport {
  perModule: ModuleBudget[];
  /** Trainable scalars in the whole model (adapters; for 'full', everything). */
  total: number;
  /** Scalars of the model without the adapters (the base model). */
  baseTotal: number;
  /** Every scalar, adapters included (PEFT's "all params"). */
  allTotal: number;
  /** 100 · total / allTotal (PEFT's print_trainable_parameters "trainable%"). */
  percent: number;
}

/** The matching rule shared by inject and loadAdapter (PEFT's check_target_module_exists). */
export function matchTargets(names: readonly string[], targets: readonly string[] | string): string[] {
  if (typeof targets === 'string') {
    if (targets === 'all-linear') return names.filter((n) => n !== 'head' && n !== 'lm_head');
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${targets})$`);
    } catch (e) {
      fail('inject', `targets '${targets}' is not a valid regular expression: ${(e as Error).message}`);
    }
    return names.filter((n) => re.test(n));
  }
  return names.filter((n) => targets.some((t) => n === t || n.endsWith(`.${t}`)));
}

/** Every plain nn.Linear of the model (adapters' inner base layers excluded) with its dotted name. */
export function linearNames(model: Module): string[] {
  const out: string[] = [];
  const inner = new Set<Module>();
  for (const [, m] of model.namedModules()) if (m instanceof AdapterLinear) inner.add(m.base);
  for (const [n, m] of model.namedModules()) if (m instanceof Linear && !inner.has(m) && n !== '') out.push(n);
  return out;
}

/** Every adapter layer of the model with its dotted name, in model order. */
export function adapterLayers(model: Module): [string, AdapterLinear][] {
  return model.namedModules().filter((e): e is [string, AdapterLinear] => e[1] instanceof AdapterLinear);
}

/**
 * The handle inject / loadAdapter return (PEFT's PeftModel): the model (modified in place), the
 * config, the adapter layers, and the reporting, merging and state-dict helpers.
 */
export class PeftModel<M extends Module = Module> {
  constructor(
    readonly model: M,
    readonly config: AdapterConfig,
  ) {}

  /** The adapter layers, [dotted name, layer], in model order (empty for 'full'). */
  get layers(): [string, AdapterLinear][] {
    return adapterLayers(this.model);
  }

  /** Runs the model (the same as model.forward). */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    return this.model.forward(...args) as ReturnType<M['forward']>;
  }

  /** The parameters to optimise: the adapters' (LoRA A and B, DoRA A, B and m, MoRA M), or every parameter for 'full'. */
  adapterParameters(): Parameter[] {
    if (this.config.adapter === 'full') return this.model.parameters().filter((p) => p.requiresGrad);
    return this.layers.flatMap(([, l]) => l.adapterParameters());
  }

  /** Budget per adapted module and in total (LoRA r vs MoRA r̂ at matched budgets). */
  trainableParameters(): TrainableReport {
    const perModule: ModuleBudget[] = this.layers.map(([name, l]) =>
      l instanceof MoRALinear
        ? { name, kind: 'mora', in: l.inFeatures, out: l.outFeatures, r: l.r, R: l.R, type: l.type, params: l.adapterSize }
        : { name, kind: l.kind, in: l.inFeatures, out: l.outFeatures, r: (l as LoRALinear).r, params: l.adapterSize },
    );
    const allTotal = this.model.numParameters();
    const adapterTotal = perModule.reduce((s, m) => s + m.params, 0);
    const total = this.model.numParameters({ trainableOnly: true });
    return { perModule, total, baseTotal: allTotal - adapterTotal, allTotal, percent: allTotal ? (100 * total) / allTotal : 0 };
  }

  /**
   * The adapter tensors under their file keys (`base_model.model.<path>.lora_A.weight`, ...; DoRA's m
   * as `<path>.lora_magnitude_vector`, PEFT's key; MoRA's M under both lora_A and lora_B, as the
   * reference checkpoints hold it). The tensors ARE the parameters (no copy; do not dispose them).
   */
  adapterStateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, l] of this.layers) {
      const k = `${KEY_PREFIX}${name}`;
      if (l instanceof MoRALinear) {
        out[`${k}.lora_A.weight`] = l.M;
        out[`${k}.lora_B.weight`] = l.M;
      } else {
        const lo = l as LoRALinear;
        out[`${k}.lora_A.weight`] = lo.lora_A;
        out[`${k}.lora_B.weight`] = lo.lora_B;
        if (l instanceof DoRALinear) out[`${k}.lora_magnitude_vector`] = l.lora_magnitude_vector;
      }
    }
    return out;
  }

  /** Merges every unmerged adapter into its base weight (forward then runs at base speed). */
  mergeAll(): void {
    for (const [, l] of this.layers) if (!l.merged) l.merge();
  }

  /** Unmerges every merged adapter. */
  unmergeAll(): void {
    for (const [, l] of this.layers) if (l.merged) l.unmerge();
  }

  /**
   * PEFT's merge_and_unload: merges every adapter, puts the plain Linear layers back (weights
   * W0 + ΔW), frees the adapter parameters and returns the model. The base stays frozen.
   */
  mergeAndUnload(): M {
    for (const [name, l] of this.layers) {
      if (!l.merged) l.merge();
      this.model.replaceModule(name, l.base);
      l.releaseAdapter();
    }
    this.model.nameParameters();
    return this.model;
  }
}

/**
 * Adapts `model` in place (see the file comment) and returns the handle. Throws when no Linear
 * matches the targets (listing the Linear names there are) or when the model already has adapters.
 */
export function inject<M extends Module>(model: M, opts: InjectOptions): PeftModel<M> {
  const op = 'inject';
  if (!model || typeof (model as Module).namedModules !== 'function') fail(op, `expects an nn.Module, got ${String(model)}`);
  if (!opts || !['mora', 'lora', 'dora', 'full'].includes(opts.adapter))
    fail(op, `adapter must be 'mora', 'lora', 'dora' or 'full', got ${opts ? `'${String(opts.adapter)}'` : 'no options'}`);
  const existing = adapterLayers(model);
  if (existing.length)
    fail(op, `the model already has adapters (${existing.map(([n]) => n).join(', ')}); call mergeAndUnload() on its handle first`);
  const targets = opts.targets ?? DEFAULT_TARGETS;
  if (typeof targets !== 'string' && (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string' || t === ''))) {
    fail(op, `targets must be an array of module names or a regular expression string, got ${JSON.stringify(targets)}`);
  }
  const config: AdapterConfig = {
    adapter: opts.adapter,
    targets: typeof targets === 'string' ? targets : [...targets],
    r: opts.r ?? 8,
    type: opts.type ?? 6,
    alpha: opts.alpha ?? 8,
    rslora: opts.rslora ?? false,
    dropout: opts.dropout ?? 0,
    seed: opts.seed,
  };
  if (!Number.isInteger(config.r) || config.r < 1) fail(op, `r must be a positive integer, got ${String(config.r)}`);
  if (config.adapter === 'full') {
    model.unfreeze();
    return new PeftModel(model, config);
  }
  const available = linearNames(model);
  const chosen = matchTargets(available, targets);
  if (chosen.length === 0) {
    fail(
      op,
      `no Linear layer matches targets ${JSON.stringify(targets)}; the model's Linear layers are: ${available.join(', ') || '(none)'}`,
    );
  }
  // a name the caller listed that matches nothing is a typo, not a wish to adapt fewer layers
  // (the defaults name every architecture's layers: 'gate' exists in SwiGLU models only)
  const strict = opts.strictTargets ?? opts.targets !== undefined;
  const unmatched = typeof targets === 'string' || !strict ? [] : targets.filter((t) => matchTargets(available, [t]).length === 0);
  if (unmatched.length)
    fail(
      op,
      `target${unmatched.length > 1 ? 's' : ''} ${unmatched.map((t) => `'${t}'`).join(', ')} match${unmatched.length > 1 ? '' : 'es'} no Linear layer; the model's Linear layers are: ${available.join(', ')}`,
    );
  // Build every adapter first (a bad option fails before the model is touched), then swap them in.
  const wasTrainable = new Map(model.parameters().map((p) => [p, p.requiresGrad] as const));
  const made: [string, AdapterLinear][] = [];
  try {
    chosen.forEach((name, i) => {
      const base = model.getModule(name) as Linear;
      const seed = subSeed(config.seed, i);
      let layer: AdapterLinear;
      try {
        const lora = { r: config.r, alpha: config.alpha, rslora: config.rslora, dropout: config.dropout, seed };
        layer =
          config.adapter === 'mora'
            ? new MoRALinear(base, { r: config.r, type: config.type, dropout: config.dropout, seed })
            : config.adapter === 'dora'
              ? new DoRALinear(base, lora)
              : new LoRALinear(base, lora);
      } catch (e) {
        fail(op, `cannot adapt '${name}' (Linear ${base.inFeatures} -> ${base.outFeatures}): ${(e as Error).message}`);
      }
      made.push([name, layer]);
    });
  } catch (e) {
    for (const [, l] of made) for (const p of l.adapterParameters()) p.dispose();
    for (const [p, t] of wasTrainable) p.requiresGrad = t;
    throw e;
  }
  model.freeze();
  for (const [name, layer] of made) {
    model.replaceModule(name, layer);
    for (const p of layer.adapterParameters()) p.requiresGrad = true;
  }
  model.nameParameters();
  return new PeftModel(model, config);
}
