// Checks an experiment's arguments before any work starts: the run name, the task file, and every
// method against the base model's layers (a dry run of inject on a cpu copy of the architecture, so
// the engine's own checks speak: r against the layer sizes, MoRA's r̂, target names). A bad
// combination fails in a second, not after pretraining.
import { InvalidArgumentError } from 'commander';
import { inject } from '../../adapters/inject.js';
import { loadMobyDick } from '../../data/corpus.js';
import { Gpt2Tokenizer } from '../../data/bpe.js';
import { CharTokenizer, tokenizerFromJSON, type TokenizerJSON } from '../../data/tokenizer.js';
import { isHFFolder } from '../experiments/base.js';
import type { ExperimentSpec } from '../experiments/demo.js';
import { requireRegularFile } from '../../io/files.js';
import { runNameProblem } from '../../io/paths.js';
import { GPT } from '../../nn/gpt.js';
import { readCheckpointMeta } from '../../train/checkpoint.js';
import type { ModelConfig } from '../../train/gpt.js';

const usage = (msg: string): never => {
  throw new InvalidArgumentError(msg);
};

/** Throws a usage error (exit code 2) naming the first argument of `spec` that cannot work. */
export async function checkExperiment(spec: ExperimentSpec): Promise<void> {
  const nameProblem = runNameProblem(spec.name);
  if (nameProblem) usage(`--name: ${nameProblem}`);
  if (spec.task !== 'uuid' && spec.task !== 'corpus') {
    try {
      requireRegularFile(spec.task, 'task');
    } catch (e) {
      usage(`--task: ${(e as Error).message.replace(/^task: /, '')}`);
    }
  }
  // A Hugging Face base is checked by its own loader (config.json and the weight headers) when the
  // run loads it; building one on the cpu here would cost its full size in float64.
  if (spec.basePath && isHFFolder(spec.basePath)) return;
  let model: ModelConfig;
  let vocabSize: number;
  if (spec.basePath) {
    const meta = await readCheckpointMeta(spec.basePath);
    model = meta.config.model;
    vocabSize = tokenizerFromJSON(meta.tokenizer as TokenizerJSON).vocabSize;
  } else {
    model = spec.base.model;
    vocabSize = spec.base.tokenizer === 'char' ? CharTokenizer.fromText(loadMobyDick()).vocabSize : Gpt2Tokenizer.load().vocabSize;
  }
  for (const m of spec.methods) {
    if (m.adapter === 'full') continue;
    const gpt = new GPT({ ...model, vocabSize, backend: 'cpu', seed: 0 });
    try {
      inject(gpt, { adapter: m.adapter, targets: spec.targets, r: m.r, type: m.type, alpha: m.alpha });
    } catch (e) {
      usage(`${m.name}: ${(e as Error).message}`);
    } finally {
      gpt.dispose();
    }
  }
}
