// Compiling an experiment's fine-tuning kernels ahead of its runs. A software adapter compiles each
// pipeline at its first dispatch (lavapipe: seconds per fused MoRA kernel, docs/performance.md
// "Kernels compiled ahead") and keeps it in the shader cache on disk, which every process reads. So a
// worker that is idle while the parent pretrains the base (src/app/experiments/demo.ts) trains one
// step of every adapter method on a randomly initialised model of the base's shape and the task's
// batches: when the runs start, their kernels load from the cache. Nothing here changes a number of
// the experiment; a backend that compiles ahead (a GPU driver) or a warm cache makes it a few
// seconds of one core.
import { GPT } from '../../nn/gpt.js';
import { corpusTokenizer, type ModelConfig } from '../../train/gpt.js';
import { adapt, type MethodSpec, Trainer } from './finetune.js';
import type { Task } from './task.js';

export interface WarmRequest {
  /** The base's architecture (the vocabulary comes from `tokenizer`). */
  model: ModelConfig;
  tokenizer: 'char' | 'gpt2';
  /** The experiment's methods: one step of each adapter method (full fine-tuning's kernels are the base's own). */
  methods: MethodSpec[];
  task: Task;
  batchSize: number;
  targets: string[];
}

/** One training step of every adapter method of `w`; returns the methods it stepped. */
export async function warmKernels(w: WarmRequest): Promise<string[]> {
  const tokenizer = corpusTokenizer(w.tokenizer); // the base's vocabulary, without encoding the corpus
  const stepped: string[] = [];
  for (const spec of w.methods) {
    if (spec.adapter === 'full') continue;
    const model = new GPT({ ...w.model, vocabSize: tokenizer.vocabSize });
    const o = {
      basePath: '',
      task: w.task,
      steps: 1,
      batchSize: w.batchSize,
      evalSteps: [],
      targets: w.targets,
      seed: 0,
      rankThreshold: 0,
    };
    const t = new Trainer(adapt(spec, model, tokenizer, o, new Map()), spec, spec.lrs[0], o);
    try {
      await t.advance(1);
    } finally {
      t.dispose();
    }
    stepped.push(spec.name);
  }
  return stepped;
}
