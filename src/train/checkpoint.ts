// Training checkpoints: one safetensors file holding the model (`model.<name>`), the optimizer's
// moments (`optim.<key>`), and in `__metadata__` everything else a resumed run needs to continue bit
// for bit: the config, step, batch-sampler state, dropout mask counters, tokenizer and loss history.
// Written to a temporary file and renamed (src/io/atomic.ts), so a crash never leaves half a file.
import { fail } from '../errors.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import type { Tensor } from '../tensor.js';

export const CHECKPOINT_FORMAT = 'moragrad-train-v1';

export interface CheckpointContent {
  model: Record<string, Tensor>;
  /** Moments as tensors (`optim.<param index>.<buffer>`), step counts and groups in the metadata. */
  optimizer: OptimizerStateDict;
  /** JSON-serialisable run state (config, step, sampler, tokenizer, history ...). */
  meta: Record<string, unknown>;
}

export async function saveCheckpoint(path: string, c: CheckpointContent): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(c.model)) tensors[`model.${k}`] = t;
  for (const [k, t] of Object.entries(c.optimizer.tensors)) tensors[`optim.${k}`] = t;
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    optimizer: JSON.stringify({ steps: c.optimizer.steps, groups: c.optimizer.groups }),
  };
  for (const [k, v] of Object.entries(c.meta)) metadata[k] = JSON.stringify(v);
  await saveSafetensors(path, tensors, metadata);
}

/** Reads a checkpoint; tensors land on `backend` (default: the default backend). */
export async function loadCheckpoint(path: string, opts: { backend?: 'webgpu' | 'cpu' } = {}): Promise<CheckpointContent> {
  const header = await readSafetensorsHeader(path);
  if (header.metadata.format !== CHECKPOINT_FORMAT) {
    fail('loadCheckpoint', `${path} is not a moragrad training checkpoint (metadata format '${header.metadata.format ?? 'none'}', expected '${CHECKPOINT_FORMAT}')`);
  }
  const all = await loadSafetensors(path, { backend: opts.backend });
  const model: Record<string, Tensor> = {};
  const optTensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(all)) {
    if (k.startsWith('model.')) model[k.slice(6)] = t;
    else if (k.startsWith('optim.')) optTensors[k.slice(6)] = t;
    else fail('loadCheckpoint', `${path}: unexpected tensor '${k}' (expected model.* or optim.*)`);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header.metadata)) {
    if (k === 'format') continue;
    try {
      meta[k] = JSON.parse(v);
    } catch {
      fail('loadCheckpoint', `${path}: metadata '${k}' is not valid JSON`);
    }
  }
  const opt = meta.optimizer as Omit<OptimizerStateDict, 'tensors'> | undefined;
  if (!opt) fail('loadCheckpoint', `${path}: no optimizer state in the metadata`);
  delete meta.optimizer;
  return { model, optimizer: { tensors: optTensors, steps: opt.steps, groups: opt.groups }, meta };
}
