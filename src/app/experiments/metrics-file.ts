// Reading, validating and writing metrics.json (the schema: ./metrics.ts). `validateMetrics` checks
// an object read from disk against the types (and a few cross-field rules) and lists every problem as
// "path: what is wrong".
//
//   runs/<name>/metrics.json   <- writeMetrics(path, m)   (validates first, atomic write)
//   const m = await readMetrics(path)                      (throws listing the problems)
import { readFile } from 'node:fs/promises';
import { fail } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { MORA_TYPES } from '../../ops/mora.js';
import { METRICS_VERSION, metricsToJSON, type RunMetrics } from './metrics.js';

type Problems = string[];

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v;
const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return typeName(v);
};

class Checker {
  constructor(readonly problems: Problems) {}

  private bad(path: string, want: string, v: unknown): false {
    this.problems.push(v === undefined ? `${path}: missing (expected ${want})` : `${path}: expected ${want}, got ${show(v)}`);
    return false;
  }

  object(path: string, v: unknown): v is Record<string, unknown> {
    return (typeof v === 'object' && v !== null && !Array.isArray(v)) || this.bad(path, 'an object', v);
  }

  string(path: string, v: unknown, nonEmpty = true): v is string {
    return (typeof v === 'string' && (!nonEmpty || v.length > 0)) || this.bad(path, nonEmpty ? 'a non-empty string' : 'a string', v);
  }

  bool(path: string, v: unknown): v is boolean {
    return typeof v === 'boolean' || this.bad(path, 'true or false', v);
  }

  number(path: string, v: unknown, opts: { min?: number; max?: number; int?: boolean; positive?: boolean } = {}): v is number {
    const want = [
      opts.int ? 'an integer' : 'a finite number',
      opts.positive ? '> 0' : '',
      opts.min !== undefined && opts.max !== undefined
        ? `in [${opts.min}, ${opts.max}]`
        : opts.min !== undefined
          ? `>= ${opts.min}`
          : opts.max !== undefined
            ? `<= ${opts.max}`
            : '',
    ]
      .filter(Boolean)
      .join(' ');
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.bad(path, want, v);
    if (opts.int && !Number.isSafeInteger(v)) return this.bad(path, want, v);
    if (opts.positive && !(v > 0)) return this.bad(path, want, v);
    if (opts.min !== undefined && v < opts.min) return this.bad(path, want, v);
    if (opts.max !== undefined && v > opts.max) return this.bad(path, want, v);
    return true;
  }

  numberOrNull(path: string, v: unknown, opts: { min?: number; max?: number } = {}): boolean {
    return v === null || this.number(path, v, opts);
  }

  oneOf<T>(path: string, v: unknown, allowed: readonly T[]): v is T {
    return allowed.includes(v as T) || this.bad(path, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
  }

  array(path: string, v: unknown): v is unknown[] {
    return Array.isArray(v) || this.bad(path, 'an array', v);
  }

  date(path: string, v: unknown): boolean {
    if (!this.string(path, v)) return false;
    return !Number.isNaN(Date.parse(v)) || this.bad(path, 'an ISO 8601 date', v);
  }

  note(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }
}

function checkConfig(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  if (c.array(`${path}.seeds`, v.seeds)) {
    if (v.seeds.length === 0) c.note(`${path}.seeds`, 'is empty: a run has at least one seed');
    v.seeds.forEach((s, i) => c.number(`${path}.seeds[${i}]`, s, { int: true }));
  }
  c.number(`${path}.steps`, v.steps, { int: true, min: 1 });
  c.number(`${path}.batchSize`, v.batchSize, { int: true, min: 1 });
  c.number(`${path}.rankThreshold`, v.rankThreshold, { min: 0 });
  if (c.array(`${path}.evalSteps`, v.evalSteps)) {
    v.evalSteps.forEach((s, i) => c.number(`${path}.evalSteps[${i}]`, s, { int: true, min: 0 }));
  }
}

function checkEnvironment(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  c.string(`${path}.adapter`, v.adapter);
  c.oneOf(`${path}.backend`, v.backend, ['webgpu', 'cpu'] as const);
  c.string(`${path}.node`, v.node);
  c.string(`${path}.platform`, v.platform);
  c.string(`${path}.arch`, v.arch);
  c.number(`${path}.cpus`, v.cpus, { int: true, min: 1 });
  c.string(`${path}.moragrad`, v.moragrad);
  c.date(`${path}.date`, v.date);
}

function checkBase(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  c.string(`${path}.checkpoint`, v.checkpoint);
  c.bool(`${path}.cached`, v.cached);
  c.number(`${path}.steps`, v.steps, { int: true, min: 0 });
  c.numberOrNull(`${path}.finalLoss`, v.finalLoss, { min: 0 });
  c.numberOrNull(`${path}.valLoss`, v.valLoss, { min: 0 });
  c.number(`${path}.wallTimeSec`, v.wallTimeSec, { min: 0 });
  c.object(`${path}.model`, v.model);
  c.string(`${path}.tokenizer`, v.tokenizer);
  c.number(`${path}.vocabSize`, v.vocabSize, { int: true, min: 1 });
  c.number(`${path}.params`, v.params, { int: true, min: 1 });
  c.string(`${path}.corpus`, v.corpus);
  if (v.formatStage !== null && c.object(`${path}.formatStage`, v.formatStage)) {
    const f = v.formatStage;
    const p = `${path}.formatStage`;
    for (const k of ['pairs', 'steps', 'batchSize'] as const) c.number(`${p}.${k}`, f[k], { int: true, min: 1 });
    c.number(`${p}.lr`, f.lr, { positive: true });
    c.number(`${p}.seed`, f.seed, { int: true });
    c.numberOrNull(`${p}.finalLoss`, f.finalLoss, { min: 0 });
    c.bool(`${p}.cached`, f.cached);
    c.number(`${p}.wallTimeSec`, f.wallTimeSec, { min: 0 });
    c.string(`${p}.checkpoint`, f.checkpoint);
  }
}

function checkTask(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  c.string(`${path}.name`, v.name);
  c.number(`${path}.examples`, v.examples, { int: true, min: 1 });
  if (v.seed !== null) c.number(`${path}.seed`, v.seed, { int: true });
  c.number(`${path}.maxTokens`, v.maxTokens, { int: true, min: 1 });
  c.oneOf(`${path}.lossOn`, v.lossOn, ['all', 'completion'] as const);
  if (c.array(`${path}.samples`, v.samples)) v.samples.forEach((s, i) => c.string(`${path}.samples[${i}]`, s, false));
  if (v.floor !== null && c.object(`${path}.floor`, v.floor)) {
    c.number(`${path}.floor.charAccuracy`, v.floor.charAccuracy, { min: 0, max: 1 });
    c.number(`${path}.floor.completionLoss`, v.floor.completionLoss, { min: 0 });
  }
  c.numberOrNull(`${path}.baseAccuracy`, v.baseAccuracy, { min: 0, max: 1 });
}

function checkRank(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  c.string(`${path}.name`, v.name);
  let minDim = Infinity;
  if (c.array(`${path}.shape`, v.shape)) {
    if (v.shape.length !== 2) c.note(`${path}.shape`, `expected [rows, cols], got ${v.shape.length} entries`);
    else if (v.shape.every((d, i) => c.number(`${path}.shape[${i}]`, d, { int: true, min: 1 })))
      minDim = Math.min(...(v.shape as number[]));
  }
  if (c.array(`${path}.singularValues`, v.singularValues)) {
    const sv = v.singularValues;
    if (sv.every((s, i) => c.number(`${path}.singularValues[${i}]`, s, { min: 0 }))) {
      const i = (sv as number[]).findIndex((s, j) => j > 0 && s > (sv[j - 1] as number) * (1 + 1e-9) + 1e-300);
      if (i > 0)
        c.note(`${path}.singularValues`, `must be sorted largest first; entry ${i} (${sv[i]}) exceeds entry ${i - 1} (${sv[i - 1]})`);
    }
    if (sv.length > minDim) c.note(`${path}.singularValues`, `${sv.length} values for a matrix with min(rows, cols) = ${minDim}`);
  }
  if (c.number(`${path}.rankAbove`, v.rankAbove, { int: true, min: 0 }) && v.rankAbove > minDim) {
    c.note(`${path}.rankAbove`, `${v.rankAbove} exceeds min(rows, cols) = ${minDim}`);
  }
  c.number(`${path}.threshold`, v.threshold, { min: 0 });
  c.number(`${path}.frobenius`, v.frobenius, { min: 0 });
  c.number(`${path}.stableRank`, v.stableRank, { min: 0 });
  c.number(`${path}.effectiveRank`, v.effectiveRank, { min: 0 });
}

function checkMethod(c: Checker, path: string, v: unknown): void {
  if (!c.object(path, v)) return;
  c.string(`${path}.name`, v.name);
  c.number(`${path}.seed`, v.seed, { int: true });
  c.number(`${path}.examples`, v.examples, { int: true, min: 1 });
  const adapter = c.oneOf(`${path}.adapter`, v.adapter, ['full', 'lora', 'dora', 'mora'] as const) ? v.adapter : undefined;
  const needs = (field: 'r' | 'R' | 'type' | 'alpha', required: boolean, check: () => boolean): void => {
    if (required) check();
    else if (v[field] !== null) c.note(`${path}.${field}`, `must be null for adapter '${String(adapter)}', got ${show(v[field])}`);
  };
  if (adapter) {
    needs('r', adapter !== 'full', () => c.number(`${path}.r`, v.r, { int: true, min: 1 }));
    needs('R', adapter === 'mora', () => {
      if (!c.array(`${path}.R`, v.R)) return false;
      v.R.forEach((x, i) => {
        const p = `${path}.R[${i}]`;
        if (c.object(p, x)) for (const k of ['in', 'out', 'R', 'modules'] as const) c.number(`${p}.${k}`, x[k], { int: true, min: 1 });
      });
      return true;
    });
    needs('type', adapter === 'mora', () => c.oneOf(`${path}.type`, v.type, MORA_TYPES));
    needs('alpha', adapter === 'lora' || adapter === 'dora', () => c.number(`${path}.alpha`, v.alpha, { positive: true }));
  }
  if (c.array(`${path}.targets`, v.targets)) v.targets.forEach((t, i) => c.string(`${path}.targets[${i}]`, t));
  const trainable = c.number(`${path}.trainableParams`, v.trainableParams, { int: true, min: 0 });
  const total = c.number(`${path}.totalParams`, v.totalParams, { int: true, min: 1 });
  if (trainable && total && (v.trainableParams as number) > (v.totalParams as number)) {
    c.note(`${path}.trainableParams`, `${v.trainableParams} exceeds totalParams ${v.totalParams}`);
  }
  const lrOk = c.number(`${path}.lr`, v.lr, { positive: true });
  if (c.array(`${path}.lrSweep`, v.lrSweep)) {
    v.lrSweep.forEach((t, i) => {
      const p = `${path}.lrSweep[${i}]`;
      if (!c.object(p, t)) return;
      c.number(`${p}.lr`, t.lr, { positive: true });
      c.number(`${p}.steps`, t.steps, { int: true, min: 0 });
      c.numberOrNull(`${p}.finalLoss`, t.finalLoss, { min: 0 });
      c.numberOrNull(`${p}.charAccuracy`, t.charAccuracy, { min: 0, max: 1 });
      if (t.extension !== undefined) c.bool(`${p}.extension`, t.extension);
    });
    if (v.sweepBracketed !== null) c.bool(`${path}.sweepBracketed`, v.sweepBracketed);
    const lrs = v.lrSweep.map((t) => (t && typeof t === 'object' ? (t as { lr?: unknown }).lr : undefined));
    if (lrOk && v.lrSweep.length > 0 && !lrs.includes(v.lr))
      c.note(`${path}.lr`, `${v.lr} is not one of the swept rates ${lrs.map(String).join(', ')}`);
  }
  const stepsOk = c.number(`${path}.steps`, v.steps, { int: true, min: 0 });
  const steps = stepsOk ? (v.steps as number) : Infinity;
  const status = c.oneOf(`${path}.status`, v.status, ['complete', 'interrupted', 'failed'] as const) ? v.status : undefined;
  if (c.array(`${path}.loss`, v.loss)) {
    v.loss.forEach((l, i) => c.numberOrNull(`${path}.loss[${i}]`, l, { min: 0 }));
    if (stepsOk && v.loss.length > steps) c.note(`${path}.loss`, `${v.loss.length} entries for ${steps} steps`);
    if (stepsOk && status === 'complete' && v.loss.length !== steps)
      c.note(`${path}.loss`, `${v.loss.length} entries, but a complete run of ${steps} steps records one per step`);
  }
  if (c.array(`${path}.accuracy`, v.accuracy)) {
    let prev = -1;
    v.accuracy.forEach((a, i) => {
      const p = `${path}.accuracy[${i}]`;
      if (!c.object(p, a)) return;
      if (c.number(`${p}.step`, a.step, { int: true, min: 0 })) {
        if (a.step > steps) c.note(`${p}.step`, `${a.step} is past the run's ${steps} steps`);
        if (a.step <= prev) c.note(`${p}.step`, `steps must increase; ${a.step} follows ${prev}`);
        prev = a.step;
      }
      c.number(`${p}.charAccuracy`, a.charAccuracy, { min: 0, max: 1 });
      c.number(`${p}.exactMatch`, a.exactMatch, { min: 0, max: 1 });
    });
  }
  c.number(`${path}.wallTimeSec`, v.wallTimeSec, { min: 0 });
  if (c.array(`${path}.rank`, v.rank)) v.rank.forEach((r, i) => checkRank(c, `${path}.rank[${i}]`, r));
  if (v.error !== undefined) c.string(`${path}.error`, v.error, false);
  if (status === 'failed' && typeof v.error !== 'string') c.note(`${path}.error`, "missing (a 'failed' method records its error message)");
}

/**
 * Every way `obj` fails to be a RunMetrics, as "path: problem" lines (empty when it is valid).
 * Checks types, ranges (accuracies in [0, 1], positive rates and sizes), the adapter-specific
 * fields (r/R/type/alpha null where they do not apply), increasing checkpoint steps within the run,
 * one loss per step for complete runs, the chosen lr among the swept ones, unique method names.
 */
export function validateMetrics(obj: unknown): string[] {
  const problems: Problems = [];
  const c = new Checker(problems);
  if (!c.object('metrics', obj)) return problems;
  if (obj.version !== METRICS_VERSION) c.note('version', `expected ${METRICS_VERSION}, got ${show(obj.version)}`);
  c.string('name', obj.name);
  c.date('createdAt', obj.createdAt);
  c.oneOf('status', obj.status, ['complete', 'interrupted', 'failed'] as const);
  checkConfig(c, 'config', obj.config);
  checkEnvironment(c, 'environment', obj.environment);
  checkBase(c, 'base', obj.base);
  checkTask(c, 'task', obj.task);
  if (c.array('methods', obj.methods)) {
    if (obj.methods.length === 0) c.note('methods', 'is empty: a run records at least one method');
    obj.methods.forEach((m, i) => checkMethod(c, `methods[${i}]`, m));
    const seen = new Map<string, number>();
    obj.methods.forEach((m, i) => {
      const { name, seed, examples } = m && typeof m === 'object' ? (m as { name?: unknown; seed?: unknown; examples?: unknown }) : {};
      if (typeof name !== 'string') return;
      const key = `${name}\u0000${String(seed)}\u0000${String(examples)}`;
      if (seen.has(key))
        c.note(
          `methods[${i}].name`,
          `${show(name)} on seed ${String(seed)} with ${String(examples)} examples is also methods[${seen.get(key)}]`,
        );
      else seen.set(key, i);
    });
  }
  if (obj.mechanism !== null) c.object('mechanism', obj.mechanism);
  c.number('wallTimeSec', obj.wallTimeSec, { min: 0 });
  return problems;
}

/** Throws one error listing every problem if `obj` is not a valid RunMetrics. */
export function assertValidMetrics(obj: unknown, where = 'metrics'): asserts obj is RunMetrics {
  const problems = validateMetrics(obj);
  if (problems.length > 0) {
    const shown = problems.slice(0, 20);
    fail(
      'validateMetrics',
      `${where} is not a valid run record (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    );
  }
}

/** Validates and writes metrics.json atomically. */
export async function writeMetrics(path: string, m: RunMetrics): Promise<void> {
  const text = metricsToJSON(m);
  assertValidMetrics(JSON.parse(text), 'the run record to write');
  await writeFileAtomic(path, text);
}

/** Reads and validates a metrics.json; throws naming the file and every problem. */
export async function readMetrics(path: string): Promise<RunMetrics> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return fail('readMetrics', `cannot read '${path}': ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    return fail('readMetrics', `'${path}' is not valid JSON: ${(e as Error).message}`);
  }
  assertValidMetrics(obj, `'${path}'`);
  return obj;
}
