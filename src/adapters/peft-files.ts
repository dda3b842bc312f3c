// Adapter files in the layout of HF PEFT's `save_pretrained` (and of the MoRA authors' fork of it,
// kongds/MoRA `peft-mora`): a directory with
//
//   adapter_model.safetensors   only the adapter tensors, metadata {"format": "pt"}
//   adapter_config.json         the LoraConfig (indent 2, keys sorted, like PEFT)
//
// Keys are our dotted module names prefixed by `base_model.model.` (PEFT's PeftModel.base_model =
// LoraModel, whose .model is the wrapped model):
//
//   LoRA:  base_model.model.<path>.lora_A.weight  [r, in]     base_model.model.<path>.lora_B.weight  [out, r]
//   DoRA:  the LoRA keys and base_model.model.<path>.lora_magnitude_vector  [out]  (PEFT's key: its
//          save drops the `.weight` of the DoraLinearLayer parameter), with use_dora: true
//   MoRA:  base_model.model.<path>.lora_A.weight  [R, R]  and the SAME M under ...lora_B.weight
//          (the fork makes lora_B the same module as lora_A, so its checkpoints hold M twice)
//
// The config's `r` is the LoRA rank the user asked for; MoRA's R is derived from it per layer
// (mg.mora.rank), as the fork does at load time. `use_mora` / `mora_type` appear only in MoRA files
// (a plain PEFT LoRA file has neither). Keys and target_modules use the model's own module names:
// a model loaded from a Hugging Face folder has the HF ones (`model.layers.<i>.self_attn.q_proj`),
// so its files load onto the same HF model in PyTorch; our GPT's (`blocks.<i>.attn.q`) exist in no
// HF model. GPT-2's Conv1D layers (weight stored [in, out]) are recorded as `fan_in_fan_out: true`,
// as PEFT does; the adapter tensors' shapes are the same as for a Linear.
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { fail, fmtShape } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readRegularFile, readTextFile, requireDirectory } from '../io/files.js';
import { bool, describeValue, finite, int, parseWith, z } from '../io/schema.js';
import { checkFiniteHost, decodeSafetensors, type HostTensor } from '../io/safetensors.js';
import { saveSafetensors } from '../io/safetensors.js';
import { tensor } from '../ops/creation.js';
import { checkType, MORA_TYPES, typeName, type MoraType } from '../mora/rules.js';
import { rank } from '../mora/index.js';
import type { BackendName } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { Conv1D, type Linear } from '../nn/linear.js';
import { type Module, copyInto } from '../nn/module.js';
import { KEY_PREFIX, PeftModel, adapterLayers, inject, linearNames, matchTargets } from './inject.js';
import { DoRALinear } from './dora.js';
import type { LoRALinear } from './lora.js';
import { MoRALinear } from './mora.js';

export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_NAME = 'adapter_config.json';

/** adapter_config.json as PEFT (0.10, the fork's base) writes it for LoRA / MoRA. */
export interface PeftLoraConfigJson {
  alpha_pattern: Record<string, number>;
  auto_mapping: null | Record<string, string>;
  base_model_name_or_path: string | null;
  bias: 'none' | 'all' | 'lora_only';
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  init_lora_weights: boolean | string;
  layers_pattern: string | string[] | null;
  layers_to_transform: number | number[] | null;
  loftq_config: Record<string, unknown>;
  lora_alpha: number;
  lora_dropout: number;
  megatron_config: Record<string, unknown> | null;
  megatron_core: string | null;
  modules_to_save: string[] | null;
  /** MoRA files only (the fork's field; 'truncation' / 'decoupling' are moragrad extensions). */
  mora_type?: MoraType;
  peft_type: 'LORA';
  r: number;
  rank_pattern: Record<string, number>;
  revision: string | null;
  target_modules: string[] | string;
  task_type: string | null;
  use_dora: boolean;
  /** MoRA files only: true. */
  use_mora?: boolean;
  use_rslora: boolean;
}

export interface SaveAdapterOptions {
  /** base_model_name_or_path (default: the model's `nameOrPath` when it has one, else null). */
  baseModel?: string | null;
  /** task_type (default 'CAUSAL_LM'). */
  taskType?: string;
  /** Float dtype of the tensors: 'F32' (default), 'F16' or 'BF16'. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

/** The adapter_config.json object for a handle (what saveAdapter writes, keys sorted). */
export function adapterConfigJson(handle: PeftModel, opts: SaveAdapterOptions = {}): PeftLoraConfigJson {
  const op = 'saveAdapter';
  const { config } = handle;
  if (config.adapter === 'full') fail(op, "a 'full' fine-tune has no adapter to save; save model.stateDict() with io.saveSafetensors");
  const layers = handle.layers;
  if (layers.length === 0) fail(op, 'the model has no adapter layers (were they unloaded?)');
  const isMora = config.adapter === 'mora';
  const types = new Set(layers.map(([, l]) => (l instanceof MoRALinear ? l.type : undefined)));
  if (types.size > 1)
    fail(op, `the MoRA layers have different types (${[...types].join(', ')}); one adapter_config.json holds one mora_type`);
  const conv = new Set(layers.map(([, l]) => l.base instanceof Conv1D));
  if (conv.size > 1) {
    fail(
      op,
      `the adapted layers mix Conv1D (weight stored [in, out]) and Linear layers (${layers.map(([n, l]) => `${n}: ${l.base.constructor.name}`).join(', ')}); one adapter_config.json holds one fan_in_fan_out`,
    );
  }
  const origin = (handle.model as { nameOrPath?: unknown }).nameOrPath;
  const cfg: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: opts.baseModel ?? (typeof origin === 'string' ? origin : null),
    bias: 'none',
    fan_in_fan_out: conv.has(true),
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: config.r,
    rank_pattern: {},
    revision: null,
    target_modules: typeof config.targets === 'string' ? config.targets : [...new Set(config.targets)].sort(),
    task_type: opts.taskType ?? 'CAUSAL_LM',
    use_dora: config.adapter === 'dora',
    use_rslora: config.rslora,
  };
  if (isMora) {
    cfg.mora_type = [...types][0];
    cfg.use_mora = true;
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(cfg).sort()) sorted[k] = cfg[k];
  return sorted as unknown as PeftLoraConfigJson;
}

/**
 * Writes `dir/adapter_model.safetensors` and `dir/adapter_config.json` (creating `dir`), each
 * atomically. Only the adapter tensors are saved (after ReMoRA / ReLoRA restarts the base weights
 * have changed too: save them separately).
 */
export async function saveAdapter(dir: string, handle: PeftModel, opts: SaveAdapterOptions = {}): Promise<void> {
  const op = 'saveAdapter';
  if (!(handle instanceof PeftModel)) fail(op, `expects the handle returned by inject() or loadAdapter(), got ${String(handle)}`);
  const cfg = adapterConfigJson(handle, opts);
  if (cfg.mora_type === 'truncation' || cfg.mora_type === 'decoupling') {
    console.warn(
      `moragrad WARNING: ${dir} holds MoRA type '${cfg.mora_type}', which only moragrad implements; the MoRA authors' PEFT fork cannot run it (its forward fails and its merge returns a different ΔW). Use types 1, 2, 3, 4 or 6 for files meant for PyTorch.`,
    );
  }
  await fs.mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, ADAPTER_WEIGHTS_NAME), handle.adapterStateDict(), { format: 'pt' }, { floatDtype: opts.floatDtype });
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), JSON.stringify(cfg, null, 2));
}

export interface LoadAdapterOptions {
  /**
   * Leave the adapter parameters trainable (to continue training). Default false: loaded for
   * inference with every parameter frozen, as PEFT's PeftModel.from_pretrained(is_trainable=False).
   */
  trainable?: boolean;
  /** Seed of the adapter dropout streams. */
  seed?: number;
  /** Accept NaN / ±Inf adapter weights (to inspect a broken file); by default they are an error naming the tensor. */
  allowNonFinite?: boolean;
}

/**
 * Reads an adapter directory written by saveAdapter, PEFT (LoRA, DoRA) or the MoRA fork, injects the
 * adapters into `model` (which must have none yet) and copies the weights in. Everything is
 * validated before the model is touched: the config (peft_type LORA, supported options, a known
 * mora_type), the keys (module names must be Linear layers of the model and agree with
 * target_modules) and every shape against the model (LoRA [r, in] / [out, r], MoRA [R, R] with R
 * from r and the type). Returns the handle.
 */
export async function loadAdapter<M extends Module>(dir: string, model: M, opts: LoadAdapterOptions = {}): Promise<PeftModel<M>> {
  const op = `loadAdapter(${dir})`;
  requireDirectory(dir, op);
  const cfg = await readConfig(dir, op);

  // ---- the config
  const isMora = cfg.use_mora === true;
  const isDora = cfg.use_dora === true;
  const r = cfg.r;
  if (!Number.isInteger(r) || (r as number) < 1) fail(op, `adapter_config.json: r must be a positive integer, got ${JSON.stringify(r)}`);
  if (cfg.peft_type !== 'LORA')
    fail(op, `adapter_config.json: peft_type is ${JSON.stringify(cfg.peft_type)}; only LoRA / DoRA / MoRA adapters ('LORA') are supported`);
  if (isMora && isDora) fail(op, 'adapter_config.json: use_mora and use_dora are both true; an adapter is one or the other');
  if (cfg.bias !== undefined && cfg.bias !== 'none')
    fail(op, `adapter_config.json: bias is ${JSON.stringify(cfg.bias)}; only 'none' is supported (the file would hold trained biases)`);
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = cfg[k];
    if (v && typeof v === 'object' && Object.keys(v).length)
      fail(op, `adapter_config.json: ${k} ${JSON.stringify(v)} is not supported (one r and alpha for every layer)`);
  }
  if (cfg.layers_to_transform != null)
    fail(op, `adapter_config.json: layers_to_transform ${JSON.stringify(cfg.layers_to_transform)} is not supported`);
  if (Array.isArray(cfg.modules_to_save) && cfg.modules_to_save.length)
    fail(op, `adapter_config.json: modules_to_save ${JSON.stringify(cfg.modules_to_save)} is not supported`);
  const type = (cfg.mora_type ?? 1) as MoraType; // the fork's default mora_type is 1
  if (isMora) checkType(`${op}: adapter_config.json`, cfg.mora_type ?? 1, 'mora_type');
  const targets = cfg.target_modules;
  if (targets == null)
    fail(
      op,
      'adapter_config.json: target_modules is null (PEFT would pick them by architecture, which moragrad does not know); list the modules',
    );
  if (typeof targets !== 'string' && (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string'))) {
    fail(op, `adapter_config.json: target_modules must be a list of names or a regular expression string, got ${JSON.stringify(targets)}`);
  }
  const alpha = cfg.lora_alpha ?? 8;
  const dropout = cfg.lora_dropout ?? 0;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    fail(op, `adapter_config.json: lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    fail(op, `adapter_config.json: lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);

  // ---- the model
  const existing = adapterLayers(model);
  if (existing.length) fail(op, `the model already has adapters (${existing.map(([n]) => n).join(', ')}); load into a fresh model`);
  const available = linearNames(model);
  const chosen = matchTargets(available, targets);
  if (chosen.length === 0)
    fail(
      op,
      `target_modules ${JSON.stringify(targets)} match no Linear layer of the model; its Linear layers are: ${available.join(', ') || '(none)'}`,
    );

  // ---- the tensors
  const file = join(dir, ADAPTER_WEIGHTS_NAME);
  const bin = await fs.stat(join(dir, 'adapter_model.bin')).then(
    () => true,
    () => false,
  );
  const hasWeights = await fs.stat(file).then(
    () => true,
    () => false,
  );
  if (bin && !hasWeights)
    fail(
      op,
      `${dir} holds adapter_model.bin (a PyTorch pickle), which moragrad does not read; convert it to ${ADAPTER_WEIGHTS_NAME} (safetensors.torch.save_file)`,
    );
  const bytes = await readRegularFile(file, op);
  const { tensors } = decodeSafetensors(bytes, op);
  if (!opts.allowNonFinite) checkFiniteHost(tensors, op, 'adapter weight');
  const byModule = new Map<string, { A?: HostTensor; B?: HostTensor; m?: HostTensor }>();
  const badKeys: string[] = [];
  for (const [key, t] of Object.entries(tensors)) {
    const rest = key.startsWith(KEY_PREFIX) ? key.slice(KEY_PREFIX.length) : '';
    const m = /^(.+)\.(lora_A|lora_B)\.weight$/.exec(rest) ?? (isDora ? /^(.+)\.(lora_magnitude_vector)$/.exec(rest) : null);
    if (!m) {
      badKeys.push(key);
      continue;
    }
    if (!(t.data instanceof Float32Array)) fail(op, `'${key}' has dtype ${t.dtype}; adapter weights must be floating point`);
    const e = byModule.get(m[1]) ?? {};
    e[m[2] === 'lora_A' ? 'A' : m[2] === 'lora_B' ? 'B' : 'm'] = t;
    byModule.set(m[1], e);
  }
  if (badKeys.length) {
    const expected = `'${KEY_PREFIX}<module>.lora_A.weight' and '.lora_B.weight'${isDora ? " and '.lora_magnitude_vector'" : ' only'}`;
    const hint =
      !isDora && badKeys.some((k) => k.endsWith('.lora_magnitude_vector'))
        ? " (lora_magnitude_vector is DoRA's; the config does not say use_dora: true)"
        : '';
    fail(
      op,
      `unexpected keys ${badKeys.slice(0, 6).join(', ')}${badKeys.length > 6 ? ` (+${badKeys.length - 6} more)` : ''}${hint}; expected ${expected}`,
    );
  }
  const inFile = [...byModule.keys()];
  const notLinear = inFile.filter((n) => !available.includes(n));
  if (notLinear.length) {
    fail(
      op,
      `the file adapts ${notLinear.join(', ')}, which ${notLinear.length > 1 ? 'are not Linear layers' : 'is not a Linear layer'} of the model; its Linear layers are: ${available.join(', ')}`,
    );
  }
  const missing = chosen.filter((n) => !byModule.has(n));
  const extra = inFile.filter((n) => !chosen.includes(n));
  if (missing.length || extra.length) {
    fail(
      op,
      `the tensors do not agree with target_modules ${JSON.stringify(targets)}: ${missing.length ? `no weights for ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `weights for untargeted ${extra.join(', ')}` : ''}`,
    );
  }
  const problems: string[] = [];
  const sameShape = (t: HostTensor | undefined, s: number[]) =>
    t !== undefined && t.shape.length === s.length && t.shape.every((d, i) => d === s[i]);
  for (const name of chosen) {
    const lin = model.getModule(name) as Linear;
    const { A, B, m } = byModule.get(name)!;
    const [k, d] = [lin.inFeatures, lin.outFeatures];
    if (isMora) {
      let R: number;
      try {
        R = rank(k, d, r as number, type);
      } catch (e) {
        problems.push(`${name} (Linear ${k} -> ${d}): ${(e as Error).message}`);
        continue;
      }
      for (const [which, t] of [
        ['lora_A', A],
        ['lora_B', B],
      ] as const) {
        if (t && !sameShape(t, [R, R]))
          problems.push(
            `${name}.${which}.weight is ${fmtShape(t.shape)}, expected M [${R}, ${R}] (R = r̂ for r = ${r}, type ${typeName(type)}, Linear ${k} -> ${d})`,
          );
      }
      if (
        A &&
        B &&
        sameShape(A, [R, R]) &&
        sameShape(B, [R, R]) &&
        A.data.some((v, i) => v !== B.data[i] && !(Number.isNaN(v) && Number.isNaN(B.data[i])))
      ) {
        problems.push(`${name}: lora_A.weight and lora_B.weight differ; a MoRA checkpoint holds the same M under both`);
      }
    } else {
      if (!A || !B) problems.push(`${name}: missing ${!A ? 'lora_A' : 'lora_B'}.weight`);
      if (A && !sameShape(A, [r as number, k]))
        problems.push(`${name}.lora_A.weight is ${fmtShape(A.shape)}, expected [r, in] = [${r}, ${k}]`);
      if (B && !sameShape(B, [d, r as number]))
        problems.push(`${name}.lora_B.weight is ${fmtShape(B.shape)}, expected [out, r] = [${d}, ${r}]`);
      if (isDora && !m) problems.push(`${name}: missing lora_magnitude_vector (use_dora is true)`);
      if (m && !sameShape(m, [d])) problems.push(`${name}.lora_magnitude_vector is ${fmtShape(m.shape)}, expected [out] = [${d}]`);
    }
  }
  if (problems.length) fail(op, `the adapter does not fit the model: ${problems.join('; ')}`);

  // ---- everything checked: inject and copy
  const handle = inject(model, {
    adapter: isMora ? 'mora' : isDora ? 'dora' : 'lora',
    targets: typeof targets === 'string' ? targets : [...targets],
    strictTargets: false, // checked above against the file's tensors
    r: r as number,
    type,
    alpha,
    rslora: cfg.use_rslora === true,
    dropout,
    seed: opts.seed,
  });
  const host = (t: HostTensor): Tensor => tensor(t.data, t.shape, { backend: 'cpu' as BackendName });
  for (const [name, layer] of handle.layers) {
    const { A, B, m } = byModule.get(name)!;
    const put = (dst: Tensor, src: HostTensor) => {
      const t = host(src);
      copyInto(dst, t);
      t.dispose();
    };
    if (layer instanceof MoRALinear) put(layer.M, (A ?? B)!);
    else {
      put((layer as LoRALinear).lora_A, A!);
      put((layer as LoRALinear).lora_B, B!);
      if (layer instanceof DoRALinear) put(layer.lora_magnitude_vector, m!);
    }
    if (!opts.trainable) for (const p of layer.adapterParameters()) p.requiresGrad = false;
  }
  return handle;
}

/**
 * The types of the adapter_config.json fields moragrad reads. Other fields (PEFT adds some in every
 * release) pass through; values that are well-typed but unsupported get their own errors in loadAdapter.
 */
export const adapterConfigSchema = z.looseObject({
  peft_type: z.string({ error: "a string ('LORA')" }).optional(),
  r: int(1, 65536),
  lora_alpha: finite(-1e9, 1e9).optional(),
  lora_dropout: finite(0, 1, true).optional(),
  target_modules: z
    .union([z.string(), z.array(z.string())], { error: 'a list of module names or a regular expression string' })
    .nullable()
    .optional(),
  use_mora: bool().optional(),
  mora_type: z.union([z.number(), z.string()], { error: `one of ${MORA_TYPES.map(typeName).join(', ')}` }).optional(),
  use_dora: bool().optional(),
  use_rslora: bool().optional(),
  fan_in_fan_out: bool().optional(),
  bias: z.string({ error: "'none', 'all' or 'lora_only'" }).optional(),
  rank_pattern: z.record(z.string(), z.number(), { error: 'an object of module -> rank' }).nullable().optional(),
  alpha_pattern: z.record(z.string(), z.number(), { error: 'an object of module -> alpha' }).nullable().optional(),
  modules_to_save: z.array(z.string(), { error: 'a list of module names' }).nullable().optional(),
});

/** Parses and type-checks dir/adapter_config.json. */
async function readConfig(dir: string, op: string): Promise<Partial<PeftLoraConfigJson> & Record<string, unknown>> {
  const path = join(dir, ADAPTER_CONFIG_NAME);
  const text = await readTextFile(path, op);
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    fail(op, `${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) fail(op, `${path} must hold a JSON object, got ${describeValue(cfg)}`);
  if ((cfg as Record<string, unknown>).target_modules === null) return cfg as Partial<PeftLoraConfigJson>; // loadAdapter explains
  return parseWith(adapterConfigSchema, cfg, op, ADAPTER_CONFIG_NAME) as Partial<PeftLoraConfigJson> & Record<string, unknown>;
}
