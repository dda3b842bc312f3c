// Training checkpoints: one safetensors file holding the model (`model.<name>`), the optimizer's
// moments (`optim.<key>`), and in `__metadata__` everything else a resumed run needs to continue bit
// for bit: the config, step, batch-sampler state, dropout mask counters, tokenizer and loss history.
// Written to a temporary file and renamed (src/io/atomic.ts), so a crash never leaves half a file.
import { fail, fmtShape } from '../errors.js';
import { bool, finite, int, oneOf, parseWith, z } from '../io/schema.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, type SafetensorsHeader } from '../io/safetensors.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import type { Tensor } from '../tensor.js';

export const CHECKPOINT_FORMAT = 'moragrad-train-v1';

// ---- the schema of the metadata: bounds keep a damaged or hostile file from allocating without end

/** A GPT's shape: bounds well above what trains on one machine, far below what exhausts it. */
export const modelConfigSchema = z
  .strictObject({
    nLayer: int(1, 256),
    nHead: int(1, 256),
    nEmbd: int(1, 16384),
    blockSize: int(1, 65536),
    dropout: finite(0, 1, true),
    positions: oneOf(['learned', 'rotary']),
    norm: oneOf(['layernorm', 'rmsnorm']),
    mlp: oneOf(['gelu', 'swiglu']),
    tiedHead: bool(),
  })
  .superRefine((m, ctx) => {
    if (m.nEmbd % m.nHead !== 0)
      ctx.addIssue({ code: 'custom', path: ['nEmbd'], input: m.nEmbd, message: `a multiple of nHead ${m.nHead}` });
  });

/** A training run's configuration (TrainConfig, src/train/gpt.ts). */
export const trainConfigSchema = z.strictObject({
  model: modelConfigSchema,
  tokenizer: oneOf(['char', 'gpt2']),
  batchSize: int(1, 65536),
  steps: int(1),
  lr: finite(0, 10),
  minLr: finite(0, 10),
  warmup: int(0),
  weightDecay: finite(0, 10),
  gradClip: finite(0),
  accum: int(1, 65536),
  evalEvery: int(1),
  evalBatches: int(1, 1_000_000),
  valFraction: finite(0, 1, true),
  checkpointEvery: int(1),
  seed: int(0),
});

const numberOrNull = z.number({ error: 'a number' }).or(z.null()); // JSON writes NaN as null

/**
 * The metadata of a training checkpoint, each value JSON-decoded. `sampler` and `dropoutCalls` are
 * what a resumed run needs (checkpoints written outside trainGPT, e.g. the demo's format stage, lack
 * them); other keys are the writer's own and pass through.
 */
export const checkpointMetaSchema = z.looseObject({
  optimizer: z.strictObject({
    steps: z.record(z.string().regex(/^\d+$/, 'a parameter index'), int(0)),
    groups: z.array(z.looseObject({ params: z.array(int(0)) }), { error: 'an array of parameter groups' }),
  }),
  config: trainConfigSchema,
  step: int(0),
  sampler: z.strictObject({ seed: int(0), position: int(0), step: int(0) }).optional(),
  dropoutCalls: z.array(int(0), { error: 'an array of call counts' }).optional(),
  tokenizer: z.discriminatedUnion(
    'type',
    [
      z.strictObject({
        type: z.literal('char'),
        chars: z
          .array(z.string(), { error: 'an array of characters' })
          .min(1, 'at least one character')
          .max(1_000_000, 'at most 1,000,000 characters'),
        unk: z.string().optional(),
      }),
      z.strictObject({ type: z.literal('gpt2') }),
    ],
    { error: "{ type: 'char', chars } or { type: 'gpt2' }" },
  ),
  history: z.array(z.strictObject({ step: int(0), loss: numberOrNull })),
  evals: z.array(z.strictObject({ step: int(0), trainLoss: numberOrNull, valLoss: numberOrNull })),
});

export type CheckpointMeta = z.output<typeof checkpointMetaSchema>;

/** The config must describe the tensors the file holds (so building the model allocates no more than the file has). */
function checkAgainstTensors(path: string, m: CheckpointMeta, header: SafetensorsHeader): void {
  const op = 'loadCheckpoint';
  const c = m.config.model;
  const blocks = new Set<number>();
  for (const name of Object.keys(header.tensors)) {
    if (!name.startsWith('model.') && !name.startsWith('optim.'))
      fail(op, `${path}: unexpected tensor '${name}' (expected model.* or optim.*)`);
    const b = /^model\.blocks\.(\d+)\./.exec(name);
    if (b) blocks.add(Number(b[1]));
  }
  if (blocks.size !== c.nLayer || (blocks.size > 0 && Math.max(...blocks) !== c.nLayer - 1)) {
    fail(op, `${path}: config.model.nLayer is ${c.nLayer} but the file holds ${blocks.size} blocks (model.blocks.<i>.*)`);
  }
  const expect = (name: string, shape: number[]) => {
    const t = header.tensors[name];
    if (!t) fail(op, `${path}: no tensor '${name}' for config.model (${c.positions} positions)`);
    if (t.shape.join() !== shape.join()) fail(op, `${path}: '${name}' is ${fmtShape(t.shape)}, but config.model says ${fmtShape(shape)}`);
  };
  const wte = header.tensors['model.wte.weight'];
  if (!wte) fail(op, `${path}: no tensor 'model.wte.weight'`);
  expect('model.wte.weight', [wte.shape[0], c.nEmbd]);
  if (m.tokenizer.type === 'char') expect('model.wte.weight', [m.tokenizer.chars.length, c.nEmbd]);
  if (c.positions === 'learned') expect('model.wpe.weight', [c.blockSize, c.nEmbd]);
}

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

export interface LoadCheckpointOptions {
  /** Where the tensors land (default: the default backend). */
  backend?: 'webgpu' | 'cpu';
  /** Accept NaN / ±Inf in the weights and optimizer moments (to inspect a broken file). */
  allowNonFinite?: boolean;
}

/**
 * Reads a checkpoint. Before any tensor is created the metadata is checked against its schema
 * (checkpointMetaSchema) and against the tensors the header lists; while loading, every float
 * tensor is checked for NaN / Inf (unless allowNonFinite).
 */
export async function loadCheckpoint(
  path: string,
  opts: LoadCheckpointOptions = {},
): Promise<Omit<CheckpointContent, 'meta'> & { meta: CheckpointMeta }> {
  const meta = await readCheckpointMeta(path);
  const all = await loadSafetensors(path, { backend: opts.backend, allowNonFinite: opts.allowNonFinite });
  const model: Record<string, Tensor> = {};
  const optTensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(all)) {
    if (k.startsWith('model.')) model[k.slice(6)] = t;
    else optTensors[k.slice(6)] = t; // optim.* (checked with the header)
  }
  const opt = meta.optimizer as Omit<OptimizerStateDict, 'tensors'>;
  return { model, optimizer: { tensors: optTensors, steps: opt.steps, groups: opt.groups }, meta };
}

/** A checkpoint's metadata from its header alone, checked against the schema and the tensors the header lists. */
export async function readCheckpointMeta(path: string): Promise<CheckpointMeta> {
  const header = await readSafetensorsHeader(path);
  if (header.metadata.format !== CHECKPOINT_FORMAT) {
    fail(
      'loadCheckpoint',
      `${path} is not a moragrad training checkpoint (metadata format '${header.metadata.format ?? 'none'}', expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header.metadata)) {
    if (k === 'format') continue;
    try {
      raw[k] = JSON.parse(v);
    } catch {
      fail('loadCheckpoint', `${path}: metadata '${k}' is not valid JSON`);
    }
  }
  const meta = parseWith(checkpointMetaSchema, raw, 'loadCheckpoint', `${path}: metadata`);
  checkAgainstTensors(path, meta, header);
  return meta;
}
