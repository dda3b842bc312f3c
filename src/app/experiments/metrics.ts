// metrics.json: the record of one experiment run, with every number the report shows. The types
// below are the schema; ./metrics-file.ts validates a record against them and reads and writes the
// file. Non-finite numbers (a diverged loss) are written as null, since JSON has no NaN.
import type { MoraType } from '../../ops/mora.js';
import type { FormatStageConfig } from './format.js';
import type { MechanismResult } from './mechanism.js';
import type { ModuleRank } from './rank.js';

export const METRICS_VERSION = 2;

export interface RunMetrics {
  version: typeof METRICS_VERSION;
  /** The run's name (its folder under runs/). */
  name: string;
  /** ISO 8601 time the run started. */
  createdAt: string;
  /** 'interrupted': stopped early (Ctrl-C); what finished is recorded. */
  status: 'complete' | 'interrupted' | 'failed';
  /** The exact configuration the run used. */
  config: ExperimentConfig;
  environment: Environment;
  base: BaseModelSummary;
  task: TaskSummary;
  /** One entry per (method, seed), in the order they ran. */
  methods: MethodResult[];
  /** The mechanism experiment (one linear layer, LoRA vs MoRA at the same budget), when it ran. */
  mechanism: MechanismResult | null;
  /** Wall time of the whole run, seconds. */
  wallTimeSec: number;
}

/** The run's configuration. The listed fields are required; any other settings ride along as is. */
export interface ExperimentConfig {
  /** The seeds every method ran on (the first also picks the learning rates). */
  seeds: number[];
  /** Fine-tuning steps per method. */
  steps: number;
  batchSize: number;
  /** Steps after which accuracy is measured. */
  evalSteps: number[];
  /** Singular values of ΔW above this are counted (the paper: 0.1). */
  rankThreshold: number;
  [key: string]: unknown;
}

export interface Environment {
  /** The WebGPU adapter, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits) (mesa, ...) via WebGPU/Dawn', or 'cpu'. */
  adapter: string;
  backend: 'webgpu' | 'cpu';
  /** process.version. */
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  /** moragrad's package version. */
  moragrad: string;
  /** ISO 8601. */
  date: string;
}

export interface BaseModelSummary {
  /** Path of the base checkpoint. */
  checkpoint: string;
  /** True when it was loaded from the cache rather than trained in this run. */
  cached: boolean;
  /** Pretraining steps. */
  steps: number;
  finalLoss: number | null;
  valLoss: number | null;
  /** Pretraining wall time, seconds (0 when cached). */
  wallTimeSec: number;
  /** The model configuration (layers, width, block size, ...). */
  model: Record<string, unknown>;
  /** 'char' or 'gpt2'. */
  tokenizer: string;
  vocabSize: number;
  /** Total parameters. */
  params: number;
  /** The corpus it was pretrained on, e.g. 'Moby Dick'. */
  corpus: string;
  /** The format stage that followed pretraining (null when the task ran on the pretrained base). */
  formatStage: FormatStageSummary | null;
}

/** The format stage as it ran: its configuration and what came out. */
export interface FormatStageSummary extends FormatStageConfig {
  /** Mean training loss over the last steps (nats per token, whole sequence). */
  finalLoss: number | null;
  /** True when loaded from the cache. */
  cached: boolean;
  /** Wall time, seconds (0 when cached). */
  wallTimeSec: number;
  checkpoint: string;
}

export interface TaskSummary {
  /** 'uuid' or 'jsonl:<file>'. */
  name: string;
  examples: number;
  seed: number | null;
  /** Longest training sequence, tokens. */
  maxTokens: number;
  lossOn: 'all' | 'completion';
  /** A few training sequences, for the report. */
  samples: string[];
  /**
   * What a model that knows only the task's format scores (UUID task: the dashes and version digit
   * right, the hex digits guessed): character accuracy, and the loss per completion token. Null for
   * tasks without a known format.
   */
  floor: { charAccuracy: number; completionLoss: number } | null;
  /** Character accuracy of the base on the first seed's task before any fine-tuning (step 0). */
  baseAccuracy: number | null;
}

export type AdapterKind = 'full' | 'lora' | 'dora' | 'mora';

export interface LrTrial {
  lr: number;
  /** Steps of the sweep run. */
  steps: number;
  /** Mean training loss over the sweep run's last steps (null if it diverged). */
  finalLoss: number | null;
  /** Character accuracy at the end of the sweep run, if measured. */
  charAccuracy: number | null;
  /** True for a rate added past an end of the given grid because that end won. */
  extension?: boolean;
}

/** MoRA's r̂ for one module shape (in -> out) and how many adapted modules have it. */
export interface MoraShape {
  in: number;
  out: number;
  R: number;
  modules: number;
}

export interface AccuracyPoint {
  step: number;
  /** Mean character accuracy over all keys, in [0, 1]. */
  charAccuracy: number;
  /** Fraction of keys whose value was generated exactly, in [0, 1]. */
  exactMatch: number;
}

export interface MethodResult {
  /** Display name, e.g. 'MoRA r=8 (type 6)'; (name, seed) is unique in the run. */
  name: string;
  /** The seed of the task pairs, adapter init and batch order. */
  seed: number;
  /** Examples (pairs) of the task this run memorised. */
  examples: number;
  adapter: AdapterKind;
  /** LoRA/MoRA budget rank r (null for full fine-tuning). */
  r: number | null;
  /** MoRA's square side r̂ per module shape (null otherwise). */
  R: MoraShape[] | null;
  /** MoRA's compression type (null otherwise). */
  type: MoraType | null;
  /** LoRA's alpha (null otherwise). */
  alpha: number | null;
  /** Adapted module kinds, e.g. ['q', 'k', 'v', 'o', 'up', 'down'] (all parameters for full). */
  targets: string[];
  trainableParams: number;
  totalParams: number;
  /** The learning rate used (the sweep's winner when there was a sweep). */
  lr: number;
  /** The sweep that chose `lr` (on the first seed; empty on the others, which reuse its choice). */
  lrSweep: LrTrial[];
  /** Whether the chosen rate had a tried rate on each side (null without a sweep). */
  sweepBracketed: boolean | null;
  /** Fine-tuning steps run. */
  steps: number;
  /** Training loss at every step (loss[i] is step i + 1); null where it was not finite. */
  loss: (number | null)[];
  /** Accuracy at the checkpoints, by increasing step (step 0 = before fine-tuning, optional). */
  accuracy: AccuracyPoint[];
  /** Fine-tuning wall time, seconds (excluding the sweep and evaluation when measured apart). */
  wallTimeSec: number;
  /** Rank statistics of ΔW per adapted module. */
  rank: ModuleRank[];
  status: 'complete' | 'interrupted' | 'failed';
  /** The error message when status is 'failed'. */
  error?: string;
}

/**
 * JSON that stays readable for long numeric records: objects are indented, but arrays of plain
 * values (a loss curve, singular values) and small flat objects (an accuracy point) sit on one line.
 * Non-finite numbers become null, as in JSON.stringify.
 */
export function compactJson(value: unknown, indent = 2, width = 100): string {
  const pad = (d: number) => ' '.repeat(indent * d);
  const flat = (v: unknown): boolean => v === null || typeof v !== 'object';
  const write = (v: unknown, depth: number): string => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
      v = (v as { toJSON(): unknown }).toJSON();
    if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      if (v.every(flat)) return `[${v.map((x) => write(x ?? null, depth + 1)).join(', ')}]`;
      return `[\n${v.map((x) => pad(depth + 1) + write(x ?? null, depth + 1)).join(',\n')}\n${pad(depth)}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined && typeof x !== 'function');
    if (entries.length === 0) return '{}';
    const parts = entries.map(([k, x]) => `${JSON.stringify(k)}: ${write(x, depth + 1)}`);
    const one = `{ ${parts.join(', ')} }`;
    if (entries.every(([, x]) => flat(x)) && one.length + pad(depth).length <= width) return one;
    return `{\n${parts.map((p) => pad(depth + 1) + p).join(',\n')}\n${pad(depth)}}`;
  };
  return write(value, 0);
}

/** JSON text of a run record (non-finite numbers become null; see compactJson), newline-terminated. */
export function metricsToJSON(m: RunMetrics): string {
  return `${compactJson(m)}\n`;
}
