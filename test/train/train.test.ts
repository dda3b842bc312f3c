// The training loop: a resumed run continues bit for bit, checkpoints are complete, sampling works.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { DEFAULT_TRAIN, loadGPT, trainGPT, type TrainConfig } from '../../src/train/gpt.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { setupBackends } from '../helpers.js';

setupBackends();

const tiny = (steps: number): TrainConfig => ({
  ...DEFAULT_TRAIN,
  model: { ...DEFAULT_TRAIN.model, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, dropout: 0.1 },
  batchSize: 2,
  steps,
  warmup: 2,
  evalEvery: 3,
  evalBatches: 2,
  checkpointEvery: 1000,
});

async function weights(path: string): Promise<Record<string, number[]>> {
  const c = await loadCheckpoint(path, { backend: 'cpu' });
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(c.model)) out[k] = Array.from(await t.data());
  for (const [k, t] of Object.entries(c.optimizer.tensors)) out[`optim.${k}`] = Array.from(await t.data());
  return out;
}

describe('trainGPT', () => {
  it('a run stopped and resumed gives exactly the weights of an uninterrupted run', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'mg-train-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'mg-train-b-'));
    const full = await trainGPT(tiny(6), { outDir: dirA });
    expect(full.step).toBe(6);
    // Stop after step 3 (as Ctrl-C would), then resume to 6.
    let n = 0;
    const part = await trainGPT(tiny(6), { outDir: dirB, callbacks: { onStep: () => n++, shouldStop: () => n >= 3 } });
    expect(part.stopped).toBe(true);
    expect(part.step).toBe(3);
    const resumed = await trainGPT(tiny(6), { outDir: dirB, resume: part.checkpoint });
    expect(resumed.step).toBe(6);
    expect(resumed.history.map((h) => h.loss)).toEqual(full.history.map((h) => h.loss));
    expect(await weights(resumed.checkpoint)).toEqual(await weights(full.checkpoint));
    expect(readdirSync(dirB).filter((f) => f.includes('.tmp'))).toEqual([]); // nothing half-written
  });

  it('the loss goes down, validation is recorded, and the checkpoint samples text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-train-c-'));
    const cfg = { ...tiny(30), lr: 1e-2, evalEvery: 15 };
    cfg.model = { ...cfg.model, dropout: 0 };
    const r = await trainGPT(cfg, { outDir: dir });
    const first = r.history.slice(0, 3).reduce((s, h) => s + h.loss, 0) / 3;
    const last = r.history.slice(-3).reduce((s, h) => s + h.loss, 0) / 3;
    expect(last).toBeLessThan(first - 0.5);
    expect(r.evals.map((e) => e.step)).toEqual([15, 30]);
    const { model, tokenizer } = await loadGPT(r.checkpoint);
    const prompt = tokenizer.encode('The whale');
    const out = await model.generate(mg.tensor(prompt, [1, prompt.length], { dtype: 'int32' }), 12, { temperature: 0.8, seed: 1 });
    const text = tokenizer.decode(Array.from(await out.data()));
    expect(text.startsWith('The whale')).toBe(true);
    expect(text.length).toBe('The whale'.length + 12);
  });

  it('a checkpoint from elsewhere is refused with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-train-d-'));
    const path = join(dir, 'plain.safetensors');
    await mg.io.saveSafetensors(path, { w: mg.zeros([2]) });
    await expect(trainGPT(tiny(2), { outDir: dir, resume: path })).rejects.toThrow(
      /loadCheckpoint: .* is not a moragrad training checkpoint/,
    );
  });
});
