// Generation: tokens/s of GPT.generate with and without the KV cache (src/nn/kv-cache.ts) on the
// default GPT (DEFAULT_TRAIN.model, the char vocabulary; fresh weights: the work per token is the same
// as a trained model's), greedy, a batch of prompts decoded up to blockSize. Each timed call is the
// whole generate (every step reads back its logits, as generation must); the two paths alternate and
// the median per path is reported, with a check that both produced the same tokens.
import * as mg from '../src/index.js';
import { DEFAULT_TRAIN } from '../src/train/gpt.js';
import { type Args, median } from './common.js';
import type { GptSetup } from './training.js';

export interface GenerationResult {
  batch: number;
  prompt: number;
  newTokens: number;
  /** Median seconds per generate call. */
  cachedSec: number;
  uncachedSec: number;
  /** New tokens per second over the batch. */
  cachedTokS: number;
  uncachedTokS: number;
  identical: boolean;
}

export async function benchGeneration(args: Args, setup: GptSetup, log: (s: string) => void): Promise<GenerationResult> {
  const m = DEFAULT_TRAIN.model;
  const model = new mg.nn.GPT({ ...m, vocabSize: setup.shape.vocab, seed: DEFAULT_TRAIN.seed });
  const batch = 8;
  const prompt = 16;
  const newTokens = m.blockSize - prompt; // up to blockSize: the range the cache serves
  const idx = mg.tensor(Array.from(setup.ids.subarray(0, batch * prompt)), [batch, prompt], { dtype: 'int32' });
  const run = async (cache: boolean) => {
    const t0 = performance.now();
    const out = await model.generate(idx, newTokens, { temperature: 0, cache });
    const s = (performance.now() - t0) / 1e3;
    const tokens = Array.from(await out.data());
    out.dispose();
    return { s, tokens };
  };
  await run(true); // warm-up: pipelines compiled
  await run(false);
  const rounds = args.quick ? 1 : 3;
  const times: Record<'cached' | 'uncached', number[]> = { cached: [], uncached: [] };
  let identical = true;
  for (let r = 0; r < rounds; r++) {
    const a = await run(true);
    const b = await run(false);
    times.cached.push(a.s);
    times.uncached.push(b.s);
    identical &&= a.tokens.join() === b.tokens.join();
    log(`  round ${r + 1}: cached ${a.s.toFixed(2)} s, uncached ${b.s.toFixed(2)} s`);
  }
  idx.dispose();
  model.dispose();
  const cachedSec = median(times.cached);
  const uncachedSec = median(times.uncached);
  const total = batch * newTokens;
  return { batch, prompt, newTokens, cachedSec, uncachedSec, cachedTokS: total / cachedSec, uncachedTokS: total / uncachedSec, identical };
}
