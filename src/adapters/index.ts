// Parameter-efficient fine-tuning (the `peft` namespace): LoRA, DoRA and MoRA layers, injection into a
// model by module name, PEFT / MoRA-fork adapter files, and the ReMoRA / ReLoRA restart schemes.
//
//   const peft = inject(model, { adapter: 'mora', r: 8, type: 6 });   // or 'lora' / 'dora' / 'full'
//   const opt = new optim.AdamW(peft.adapterParameters(), { lr: 2e-4 });
//   ... train ...
//   await saveAdapter('runs/uuid/adapter', peft);
//   const again = await loadAdapter('runs/uuid/adapter', freshModel);
export { AdapterLinear, LoRALinear, type LoRAOptions } from './lora.js';
export { MoRALinear, type MoRAOptions } from './mora.js';
export { DoRALinear, dora, doraNorm, doraNormNaive, type DoRAOptions, type DoraOptions } from './dora.js';
export {
  inject,
  PeftModel,
  matchTargets,
  linearNames,
  adapterLayers,
  DEFAULT_TARGETS,
  KEY_PREFIX,
  type AdapterKind,
  type InjectOptions,
  type AdapterConfig,
  type ModuleBudget,
  type TrainableReport,
} from './inject.js';
export {
  saveAdapter,
  loadAdapter,
  adapterConfigJson,
  ADAPTER_WEIGHTS_NAME,
  ADAPTER_CONFIG_NAME,
  type PeftLoraConfigJson,
  type SaveAdapterOptions,
  type LoadAdapterOptions,
} from './peft-files.js';
export { ReMoRA, ReLoRA, MergeRestarts, type RestartOptions, type ReMoRAOptions, type RestartState } from './remora.js';
