// The base model of a fine-tune: a moragrad training checkpoint (checkpoint.safetensors from
// `moragrad train`) or a Hugging Face model folder (config.json + safetensors, loadHF). Both give a
// causal LM with forward(idx, targets) -> { logits, loss }, generate() and config.{blockSize,
// vocabSize, nEmbd}, and a tokenizer.
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../../errors.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import type { CausalLM, GenerateOptions } from '../../nn/gpt.js';
import type { Tensor } from '../../tensor.js';
import { loadGPT } from '../../train/gpt.js';
import { loadHF, parseHfConfig, readWeightFiles } from '../models/hf/index.js';
import type { BaseModelSummary } from './metrics.js';

export interface BaseLM extends CausalLM {
  generate(idx: Tensor, n: number, opts?: GenerateOptions): Promise<Tensor>;
  readonly config: { readonly blockSize: number; readonly vocabSize: number; readonly nEmbd: number };
}

/** True when `path` is a directory holding config.json (a Hugging Face model folder). */
export function isHFFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory() && statSync(join(path, 'config.json')).isFile();
  } catch {
    return false;
  }
}

/** Loads the base model and its tokenizer (eval mode) from a checkpoint file or an HF folder. */
export async function loadBase(path: string, opts: { allowNonFinite?: boolean } = {}): Promise<{ model: BaseLM; tokenizer: Tokenizer }> {
  if (isHFFolder(path)) {
    const { model, tokenizer } = await loadHF(path);
    if (!tokenizer) fail('loadBase', `${path} has no tokenizer`);
    return { model, tokenizer };
  }
  return loadGPT(path, opts);
}

/** The report's base-model summary for an HF folder (from config.json and the weight headers). */
export async function summarizeHFBase(dir: string): Promise<BaseModelSummary> {
  const raw = JSON.parse(await fs.readFile(join(dir, 'config.json'), 'utf8')) as unknown;
  const c = parseHfConfig(raw, join(dir, 'config.json'));
  const files = await readWeightFiles(dir, c.architecture, c.tiedHead);
  const params = files.entries.filter((e) => e.param !== null).reduce((s, e) => s + e.info.shape.reduce((a, d) => a * d, 1), 0);
  const llama = c.architecture !== 'GPT2LMHeadModel';
  return {
    checkpoint: dir,
    cached: true,
    steps: 0,
    finalLoss: null,
    valLoss: null,
    wallTimeSec: 0,
    model: {
      architecture: c.architecture,
      nLayer: c.nLayer,
      nHead: c.nHead,
      nKvHead: c.nKvHead,
      nEmbd: c.nEmbd,
      blockSize: c.blockSize,
      positions: llama ? 'rotary' : 'learned',
      norm: llama ? 'rmsnorm' : 'layernorm',
      mlp: llama ? 'swiglu' : 'gelu',
      tiedHead: c.tiedHead,
      weights: files.dtype,
    },
    tokenizer: 'hf',
    vocabSize: c.vocabSize,
    params,
    corpus: `pretrained elsewhere (Hugging Face folder ${typeof c.raw._name_or_path === 'string' && c.raw._name_or_path ? c.raw._name_or_path : dir})`,
    formatStage: null,
  };
}
