// metrics.json: a valid record passes; missing, mistyped and inconsistent fields are each reported
// with their path; writing validates and reading back gives the same record.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactJson, type RunMetrics } from '../../src/app/experiments/metrics.js';
import { readMetrics, validateMetrics, writeMetrics } from '../../src/app/experiments/metrics-file.js';
import { runEnvironment } from '../../src/app/experiments/environment.js';
import { syntheticMetrics } from './fixtures.js';

const clone = (): RunMetrics => JSON.parse(JSON.stringify(syntheticMetrics({ steps: 40 }))) as RunMetrics;
// Edits that break the schema write wrongly typed values, cast `as never`.
const problemsAfter = (edit: (m: RunMetrics) => void): string[] => {
  const m = clone();
  edit(m);
  return validateMetrics(m);
};

describe('validateMetrics', () => {
  it('accepts a valid record (also with an interrupted method and no rank analysis)', () => {
    expect(validateMetrics(syntheticMetrics())).toEqual([]);
    expect(validateMetrics(syntheticMetrics({ withRank: false }))).toEqual([]);
    expect(
      problemsAfter((m) => {
        m.status = 'interrupted';
        m.methods[1].status = 'interrupted';
        m.methods[1].loss = m.methods[1].loss.slice(0, 10);
        m.methods[1].loss[3] = null; // diverged step
      }),
    ).toEqual([]);
  });

  it('accepts the environment runEnvironment records (the demo and the sentiment run share it)', () => {
    const env = runEnvironment('cpu');
    expect(env.adapter).toMatch(/^cpu/);
    expect(env).toMatchObject({ backend: 'cpu', node: process.version, platform: process.platform, arch: process.arch });
    expect(problemsAfter((m) => (m.environment = env))).toEqual([]);
    expect(problemsAfter((m) => (m.environment = { ...env, moragrad: '' }))).toEqual([
      'environment.moragrad: expected a non-empty string, got ""',
    ]);
  });

  it('reports missing and mistyped fields by path', () => {
    expect(validateMetrics(null)).toEqual(['metrics: expected an object, got null']);
    expect(problemsAfter((m) => Reflect.deleteProperty(m.environment, 'adapter'))).toEqual([
      'environment.adapter: missing (expected a non-empty string)',
    ]);
    expect(problemsAfter((m) => (m.config.steps = '40' as never))).toEqual(['config.steps: expected an integer >= 1, got "40"']);
    expect(problemsAfter((m) => (m.version = 3 as never))).toEqual(['version: expected 2, got 3']);
    expect(problemsAfter((m) => (m.createdAt = 'yesterday'))).toEqual(['createdAt: expected an ISO 8601 date, got "yesterday"']);
    expect(problemsAfter((m) => (m.methods[2].adapter = 'ia3' as never))).toEqual([
      'methods[2].adapter: expected one of "full", "lora", "dora", "mora", got "ia3"',
    ]);
    expect(problemsAfter((m) => (m.methods[0].accuracy[1].charAccuracy = 1.5))).toEqual([
      'methods[0].accuracy[1].charAccuracy: expected a finite number in [0, 1], got 1.5',
    ]);
    expect(problemsAfter((m) => (m.methods[0].loss[5] = 'x' as never))).toEqual([
      'methods[0].loss[5]: expected a finite number >= 0, got "x"',
    ]);
    expect(problemsAfter((m) => Reflect.deleteProperty(m, 'methods'))).toEqual(['methods: missing (expected an array)']);
    expect(problemsAfter((m) => (m.methods = []))).toEqual(['methods: is empty: a run records at least one method']);
  });

  it('reports inconsistent fields', () => {
    expect(problemsAfter((m) => (m.methods[0].r = 8))).toEqual(["methods[0].r: must be null for adapter 'full', got 8"]);
    expect(problemsAfter((m) => (m.methods[2].type = 5 as never))).toEqual([
      'methods[2].type: expected one of 1, 2, 3, 4, 6, "truncation", "decoupling", got 5',
    ]);
    expect(problemsAfter((m) => (m.methods[1].lr = 0.5))).toEqual([
      'methods[1].lr: 0.5 is not one of the swept rates 0.0005, 0.001, 0.002',
    ]);
    expect(problemsAfter((m) => m.methods[1].loss.pop())).toEqual([
      'methods[1].loss: 39 entries, but a complete run of 40 steps records one per step',
    ]);
    expect(problemsAfter((m) => m.methods[1].accuracy.reverse())).toContain(
      'methods[1].accuracy[1].step: steps must increase; 30 follows 40',
    );
    expect(problemsAfter((m) => (m.methods[1].accuracy[3].step = 41))).toEqual([
      "methods[1].accuracy[3].step: 41 is past the run's 40 steps",
    ]);
    expect(problemsAfter((m) => (m.methods[3].name = m.methods[1].name))).toEqual([
      'methods[3].name: "LoRA r=8" on seed 0 with 64 examples is also methods[1]',
    ]);
    expect(problemsAfter((m) => (m.methods[1].trainableParams = 10 ** 7))).toEqual([
      'methods[1].trainableParams: 10000000 exceeds totalParams 811392',
    ]);
    expect(problemsAfter((m) => (m.methods[1].rank[0].rankAbove = 500))).toEqual([
      'methods[1].rank[0].rankAbove: 500 exceeds min(rows, cols) = 128',
    ]);
    expect(problemsAfter((m) => m.methods[1].rank[0].singularValues.reverse())).toEqual([
      expect.stringMatching(/^methods\[1\]\.rank\[0\]\.singularValues: must be sorted largest first/),
    ]);
    expect(problemsAfter((m) => (m.methods[1].status = 'failed'))).toEqual([
      "methods[1].error: missing (a 'failed' method records its error message)",
    ]);
    expect(
      problemsAfter((m) => {
        m.methods[0].r = 1;
        m.methods[0].wallTimeSec = -1;
      }),
    ).toHaveLength(2);
  });
});

describe('metrics.json files', () => {
  it('writes compact JSON (non-finite numbers as null) and reads it back validated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-metrics-'));
    try {
      const m = syntheticMetrics({ steps: 40 });
      m.methods[1].loss[2] = NaN;
      const path = join(dir, 'metrics.json');
      await writeMetrics(path, m);
      const text = await readFile(path, 'utf8');
      expect(text).toContain('"evalSteps": [10, 20, 30, 40]');
      expect(text).toContain('{ "step": 10, "charAccuracy"');
      const back = await readMetrics(path);
      expect(back.methods[1].loss[2]).toBe(null);
      expect(back.methods[0].rank[0].singularValues).toEqual(m.methods[0].rank[0].singularValues);
      m.methods[0].accuracy[0].charAccuracy = 2;
      await expect(writeMetrics(path, m)).rejects.toThrow(
        /the run record to write is not a valid run record \(1 problem\):\n {2}methods\[0\]\.accuracy\[0\]\.charAccuracy/,
      );
      await writeFile(path, '{"version": 1}');
      await expect(readMetrics(path)).rejects.toThrow(/validateMetrics: '.*metrics.json' is not a valid run record \(\d+ problems\)/);
      await writeFile(path, '{oops');
      await expect(readMetrics(path)).rejects.toThrow(/readMetrics: '.*metrics.json' is not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('compactJson is JSON.parse-able and equal to the input', () => {
    const v = { a: [1, 2, { b: 'x"y', c: [] }], d: { e: null, f: [0.1, -2e-9] }, g: {}, h: 'é\n' };
    expect(JSON.parse(compactJson(v))).toEqual(v);
    expect(compactJson({ x: 1, y: 'a' })).toBe('{ "x": 1, "y": "a" }');
    expect(compactJson({ x: [1, 2] })).toBe('{\n  "x": [1, 2]\n}');
    expect(compactJson([Infinity, NaN])).toBe('[null, null]');
  });
});
