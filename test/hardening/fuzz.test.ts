// Fuzzing the readers and loaders with mutated checkpoint and adapter files (a seeded mutator,
// 1,200 cases): every case ends in a MoragradError with a message, or in a load whose weights are
// all finite. Never another exception type, a hang or a crash.
import fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { inject, loadAdapter, saveAdapter } from '../../src/adapters/index.js';
import { decodeSafetensors, readSafetensorsHeader } from '../../src/io/index.js';
import { loadCheckpoint, readCheckpointMeta } from '../../src/train/checkpoint.js';
import { loadGPT, trainGPT, DEFAULT_TRAIN } from '../../src/train/gpt.js';
import { MoragradError } from '../../src/errors.js';

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 31,
  1e6,
  1e308,
  -1e308,
  '',
  '2',
  'foo',
  'NaN',
  [],
  [1, 2],
  {},
  { a: 1 },
  '../../x',
  '\u0000',
];

type R = () => number;
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** Splits a safetensors file into its header object and data bytes. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}
function join8(header: unknown, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Sets a random leaf of a JSON value (depth-first walk) to a weird value, or deletes it. */
function mutateJson(r: R, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || r() < 0.15) return pick(r, WEIRD);
  const c: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) };
  const keys = Object.keys(c);
  if (keys.length === 0) return pick(r, WEIRD);
  const k = pick(r, keys);
  if (!Array.isArray(c) && r() < 0.1) delete (c as Record<string, unknown>)[k];
  else if (!Array.isArray(c) && r() < 0.05) (c as Record<string, unknown>)[`extra${Math.floor(r() * 10)}`] = pick(r, WEIRD);
  else (c as Record<string, unknown>)[k as never] = mutateJson(r, (c as Record<string, unknown>)[k]) as never;
  return c;
}

/** One mutation of a safetensors file's bytes: byte flips, truncation, metadata JSON edits, NaN/Inf data, header entry edits. */
function mutateSafetensors(r: R, bytes: Uint8Array, metaKeys: boolean): Uint8Array {
  const kind = r();
  const { header, data } = split(bytes);
  if (kind < 0.15) {
    const b = bytes.slice();
    for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
    return b;
  }
  if (kind < 0.25) return bytes.slice(0, Math.floor(r() * bytes.length));
  if (kind < 0.6 && metaKeys) {
    const meta = { ...(header.__metadata__ as Record<string, string>) };
    const key = pick(r, Object.keys(meta));
    const parsed = (() => {
      try {
        return JSON.parse(meta[key]) as unknown;
      } catch {
        return meta[key];
      }
    })();
    meta[key] = r() < 0.1 ? '{not json' : (JSON.stringify(mutateJson(r, parsed)) ?? 'null');
    return join8({ ...header, __metadata__: meta }, data);
  }
  if (kind < 0.8) {
    // a non-finite float in the data (F32 little-endian)
    const d = data.slice();
    const at = 4 * Math.floor((r() * d.length) / 4);
    new DataView(d.buffer).setFloat32(at, pick(r, [NaN, Infinity, -Infinity]), true);
    return join8(header, d);
  }
  // a tensor entry's shape, dtype or offsets
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(r, names);
  const entry = { ...(header[name] as Record<string, unknown>) };
  const field = pick(r, ['shape', 'dtype', 'data_offsets']);
  entry[field] = field === 'dtype' ? pick(r, ['F16', 'I32', 'BOOL', 'X', 3]) : mutateJson(r, entry[field]);
  return join8({ ...header, [name]: entry }, data);
}

/** Awaits `f`; a MoragradError with a message passes, anything else fails the test with the case. */
async function expectCleanOutcome(label: string, f: () => Promise<void>): Promise<'ok' | 'error'> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof MoragradError) || e.message.length < 10)
      throw new Error(`${label}: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
    return 'error';
  }
}

async function allFinite(tensors: mg.Tensor[]): Promise<boolean> {
  for (const t of tensors) if (!(await t.data()).every((v) => Number.isFinite(v))) return false;
  return true;
}

describe('fuzzing the file readers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mg-fuzz-'));
  let ckpt: Uint8Array;
  let adapterWeights: Uint8Array;
  let adapterConfig: Record<string, unknown>;
  const tiny = () => new nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, seed: 7, backend: 'cpu' });

  beforeAll(async () => {
    await mg.init({ backend: 'cpu' });
    const cfg = {
      ...DEFAULT_TRAIN,
      model: { ...DEFAULT_TRAIN.model, nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8 },
      batchSize: 2,
      steps: 1,
      evalEvery: 1,
      evalBatches: 1,
      checkpointEvery: 1,
    };
    const r = await trainGPT(cfg, { outDir: join(dir, 'run') });
    ckpt = new Uint8Array(await fs.readFile(r.checkpoint)); // a copy: Buffer.slice would share memory
    const peft = inject(tiny(), { adapter: 'mora', r: 2, targets: ['q', 'v'] });
    await saveAdapter(join(dir, 'adapter'), peft);
    adapterWeights = new Uint8Array(await fs.readFile(join(dir, 'adapter', 'adapter_model.safetensors')));
    adapterConfig = JSON.parse(await fs.readFile(join(dir, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  });

  it('1,200 mutated checkpoints and adapters: a MoragradError or a finite, valid load', async () => {
    const r = rng(20261203);
    const counts = { ckptOk: 0, ckptErr: 0, adapterOk: 0, adapterErr: 0 };
    const live = mg.memory('cpu').liveTensors;
    const path = join(dir, 'case.safetensors');
    for (let i = 0; i < 600; i++) {
      const bytes = mutateSafetensors(r, ckpt, true);
      await fs.writeFile(path, bytes);
      const label = `checkpoint case ${i}`;
      const outcome = await expectCleanOutcome(label, async () => {
        const reader = i % 4;
        if (reader === 0) decodeSafetensors(bytes);
        else if (reader === 1) await readSafetensorsHeader(path);
        else if (reader === 2) await readCheckpointMeta(path);
        else {
          const { model } = await loadGPT(path);
          const ok = await allFinite(model.parameters());
          model.dispose();
          if (!ok) throw new Error(`${label}: loaded non-finite weights`);
        }
      });
      counts[outcome === 'ok' ? 'ckptOk' : 'ckptErr']++;
    }
    const adir = join(dir, 'case-adapter');
    await fs.mkdir(adir, { recursive: true });
    for (let i = 0; i < 600; i++) {
      const mutateConfig = r() < 0.5;
      const config = mutateConfig ? (r() < 0.05 ? pick(r, [null, [], 'x', 3]) : mutateJson(r, adapterConfig)) : adapterConfig;
      await fs.writeFile(join(adir, 'adapter_config.json'), r() < 0.03 ? '{"r": ' : JSON.stringify(config));
      await fs.writeFile(
        join(adir, 'adapter_model.safetensors'),
        mutateConfig ? adapterWeights : mutateSafetensors(r, adapterWeights, false),
      );
      const label = `adapter case ${i}`;
      const outcome = await expectCleanOutcome(label, async () => {
        const model = tiny();
        try {
          const peft = await loadAdapter(adir, model);
          if (!(await allFinite(peft.adapterParameters()))) throw new Error(`${label}: loaded non-finite adapter weights`);
        } finally {
          model.dispose();
        }
      });
      counts[outcome === 'ok' ? 'adapterOk' : 'adapterErr']++;
    }
    // both outcomes occur: the mutator reaches past the first check, and valid mutations still load
    expect(counts.ckptOk).toBeGreaterThan(20);
    expect(counts.ckptErr).toBeGreaterThan(300);
    expect(counts.adapterOk).toBeGreaterThan(20);
    expect(counts.adapterErr).toBeGreaterThan(200);
    expect(mg.memory('cpu').liveTensors).toBe(live); // failed loads leave nothing behind
  }, 60_000);
});

describe('loading', () => {
  it('names a non-finite tensor of a checkpoint unless allowNonFinite; the schema names field, value, type and what is allowed', async () => {
    await mg.init({ backend: 'cpu' });
    const dir = mkdtempSync(join(tmpdir(), 'mg-load-'));
    const cfg = {
      ...DEFAULT_TRAIN,
      model: { ...DEFAULT_TRAIN.model, nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8 },
      batchSize: 2,
      steps: 1,
      evalEvery: 1,
      evalBatches: 1,
      checkpointEvery: 1,
    };
    const { checkpoint } = await trainGPT(cfg, { outDir: dir });
    const bytes = new Uint8Array(await fs.readFile(checkpoint));
    const { header, data } = split(bytes);
    const ln = header['model.blocks.0.ln1.weight'] as { data_offsets: [number, number] };
    const d = data.slice();
    new DataView(d.buffer).setFloat32(ln.data_offsets[0] + 4, Infinity, true);
    const bad = join(dir, 'inf.safetensors');
    await fs.writeFile(bad, join8(header, d));
    await expect(loadGPT(bad)).rejects.toThrow(
      /'model.blocks.0.ln1.weight' holds 1 non-finite value \(the first, at flat index 1, is Infinity\)/,
    );
    const { model } = await loadGPT(bad, { allowNonFinite: true });
    model.dispose();
    const withMeta = async (edit: (c: Record<string, unknown>) => void) => {
      const meta = { ...(header.__metadata__ as Record<string, string>) };
      const c = JSON.parse(meta.config) as Record<string, unknown>;
      edit(c);
      meta.config = JSON.stringify(c);
      const p = join(dir, 'meta.safetensors');
      await fs.writeFile(p, join8({ ...header, __metadata__: meta }, data));
      return p;
    };
    const model0 = (c: Record<string, unknown>) => c.model as Record<string, unknown>;
    await expect(loadCheckpoint(await withMeta((c) => (model0(c).norm = 'foo')))).rejects.toThrow(
      /metadata.config.model.norm: got "foo" \(string\); expected one of 'layernorm', 'rmsnorm'/,
    );
    await expect(loadCheckpoint(await withMeta((c) => (model0(c).tiedHead = 'no')))).rejects.toThrow(
      /config.model.tiedHead: got "no" \(string\); expected true or false/,
    );
    await expect(loadCheckpoint(await withMeta((c) => (model0(c).nLayer = '2')))).rejects.toThrow(
      /config.model.nLayer: got "2" \(string\); expected an integer in \[1, 256\]/,
    );
    await expect(loadCheckpoint(await withMeta((c) => (model0(c).nLayer = 1e6)))).rejects.toThrow(
      /config.model.nLayer: got 1000000 \(number\); expected an integer in \[1, 256\]/,
    );
    await expect(loadCheckpoint(await withMeta((c) => (model0(c).nLayer = 2)))).rejects.toThrow(
      /config.model.nLayer is 2 but the file holds 1 blocks/,
    );
    await expect(loadCheckpoint(await withMeta((c) => (c.model = null)))).rejects.toThrow(/config.model: got null; expected/);
  });
});
