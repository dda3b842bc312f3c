// Adapter files (PEFT / kongds MoRA fork layout): the exact adapter_config.json (hand-written expected
// text) and key / shape / dtype layout of adapter_model.safetensors, save -> load into a fresh model
// -> identical outputs (MoRA and LoRA, cpu and webgpu), loading a hand-built PEFT LoRA file (F16,
// a subset of the config fields, rslora), and the validation errors.
import fs from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { encodeSafetensors, readSafetensorsHeader } from '../../src/io/index.js';
import { LoRALinear, type MoRALinear, inject, loadAdapter, saveAdapter } from '../../src/adapters/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
type B = 'cpu' | 'webgpu';

const tmp = await fs.mkdtemp(join(os.tmpdir(), 'moragrad-adapters-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => join(tmp, `a${dirCount++}`);

const tinyGPT = (backend: B) => new nn.GPT({ vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, seed: 7, backend });
const ids = (backend: B) => mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], [2, 6], { dtype: 'int32', backend });
const randomize = (ps: mg.Tensor[], seed: number) =>
  ps.forEach((p, i) => nn.copyInto(p, mg.randn(p.shape, { seed: seed + i, std: 0.1, backend: 'cpu' })));

async function writeAdapterDir(
  dir: string,
  config: object,
  tensors: Record<string, { dtype: 'F32' | 'F16'; shape: number[]; data: ArrayLike<number> }>,
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(join(dir, 'adapter_config.json'), JSON.stringify(config));
  await fs.writeFile(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
}

describe('saveAdapter layout', () => {
  it('MoRA: adapter_config.json exactly as the fork writes it (keys sorted, indent 2)', async () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, targets: ['v', 'q'], dropout: 0.05 });
    const dir = freshDir();
    await saveAdapter(dir, peft, { baseModel: 'moragrad/tiny-gpt' });
    const expected = `{
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "moragrad/tiny-gpt",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 8,
  "lora_dropout": 0.05,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "mora_type": 6,
  "peft_type": "LORA",
  "r": 2,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "q",
    "v"
  ],
  "task_type": "CAUSAL_LM",
  "use_dora": false,
  "use_mora": true,
  "use_rslora": false
}`;
    expect(await fs.readFile(join(dir, 'adapter_config.json'), 'utf8')).toBe(expected);
    expect((await fs.readdir(dir)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('MoRA: M under both lora_A.weight and lora_B.weight, [R, R] F32, metadata format pt', async () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'mora', r: 2, type: 1, targets: ['q', 'up'] });
    randomize(peft.adapterParameters(), 10);
    const dir = freshDir();
    await saveAdapter(dir, peft);
    const h = await readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
    expect(h.metadata).toEqual({ format: 'pt' });
    const layout = Object.fromEntries(Object.entries(h.tensors).map(([k, v]) => [k, `${v.dtype} ${v.shape.join('x')}`]));
    expect(layout).toEqual({
      'base_model.model.blocks.0.attn.q.lora_A.weight': 'F32 6x6',
      'base_model.model.blocks.0.attn.q.lora_B.weight': 'F32 6x6',
      'base_model.model.blocks.0.mlp.up.lora_A.weight': 'F32 9x9',
      'base_model.model.blocks.0.mlp.up.lora_B.weight': 'F32 9x9',
      'base_model.model.blocks.1.attn.q.lora_A.weight': 'F32 6x6',
      'base_model.model.blocks.1.attn.q.lora_B.weight': 'F32 6x6',
      'base_model.model.blocks.1.mlp.up.lora_A.weight': 'F32 9x9',
      'base_model.model.blocks.1.mlp.up.lora_B.weight': 'F32 9x9',
    });
    const t = await mg.io.loadSafetensors(join(dir, 'adapter_model.safetensors'), { backend: 'cpu' });
    const M = await (peft.model.getModule('blocks.1.mlp.up') as MoRALinear).M.data();
    expect(Array.from(await t['base_model.model.blocks.1.mlp.up.lora_A.weight'].data())).toEqual(Array.from(M).map(Math.fround));
    expect(Array.from(await t['base_model.model.blocks.1.mlp.up.lora_B.weight'].data())).toEqual(Array.from(M).map(Math.fround));
    const cfg = JSON.parse(await fs.readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect([cfg.mora_type, cfg.r, cfg.target_modules]).toEqual([1, 2, ['q', 'up']]);
  });

  it('LoRA: plain PEFT file (lora_A [r, in], lora_B [out, r]; no use_mora / mora_type)', async () => {
    const peft = inject(tinyGPT('cpu'), { adapter: 'lora', r: 3, alpha: 6, targets: ['down'] });
    const dir = freshDir();
    await saveAdapter(dir, peft);
    const h = await readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
    const layout = Object.fromEntries(Object.entries(h.tensors).map(([k, v]) => [k, `${v.dtype} ${v.shape.join('x')}`]));
    expect(layout).toEqual({
      'base_model.model.blocks.0.mlp.down.lora_A.weight': 'F32 3x32',
      'base_model.model.blocks.0.mlp.down.lora_B.weight': 'F32 8x3',
      'base_model.model.blocks.1.mlp.down.lora_A.weight': 'F32 3x32',
      'base_model.model.blocks.1.mlp.down.lora_B.weight': 'F32 8x3',
    });
    const cfg = JSON.parse(await fs.readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect('use_mora' in cfg || 'mora_type' in cfg).toBe(false);
    expect([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.target_modules, cfg.task_type, cfg.bias]).toEqual([
      'LORA',
      3,
      6,
      ['down'],
      'CAUSAL_LM',
      'none',
    ]);
  });
});

describe('save -> load round trip', () => {
  for (const b of ['cpu', 'webgpu'] as B[]) {
    for (const adapter of ['mora', 'lora'] as const) {
      it(`${adapter} on ${b}: a fresh model with the loaded adapter gives the same outputs`, async () => {
        const model = tinyGPT(b);
        const peft = inject(model, { adapter, r: 2, type: 6, alpha: 4 });
        randomize(peft.adapterParameters(), 20);
        const y = await model.forward(ids(b)).logits.data();
        const dir = freshDir();
        await saveAdapter(dir, peft);
        const fresh = tinyGPT(b);
        const base = await fresh.forward(ids(b)).logits.data();
        const loaded = await loadAdapter(dir, fresh);
        expect(loaded.layers.map(([n, l]) => `${n}:${l.kind}`)).toEqual(peft.layers.map(([n, l]) => `${n}:${l.kind}`));
        expect(loaded.config).toMatchObject({ adapter, r: 2, alpha: 4, targets: ['down', 'gate', 'k', 'o', 'q', 'up', 'v'] });
        const y2 = await fresh.forward(ids(b)).logits.data();
        expect(Array.from(y2)).not.toEqual(Array.from(base));
        // cpu keeps float64 parameters but the file holds float32: equal up to that rounding
        if (b === 'webgpu') expect(Array.from(y2)).toEqual(Array.from(y));
        else expectClose(y2, y, { rtol: 1e-6, atol: 1e-7 }, 'cpu');
        // inference by default (PEFT's is_trainable = False), trainable on request
        expect(fresh.numParameters({ trainableOnly: true })).toBe(0);
        const again = await loadAdapter(dir, tinyGPT(b), { trainable: true });
        expect(again.trainableParameters().total).toBe(peft.trainableParameters().total);
      });
    }
  }
});

describe('loading PEFT-made files', () => {
  it('a hand-built PEFT LoRA file (F16 tensors, only the usual config fields) loads with scale α/r', async () => {
    const dir = freshDir();
    const A = Array.from({ length: 2 * 8 }, (_, i) => ((i % 7) - 3) / 8); // exact in F16
    const Bm = Array.from({ length: 8 * 2 }, (_, i) => ((i % 5) - 2) / 4);
    const tensors: Record<string, { dtype: 'F16'; shape: number[]; data: number[] }> = {};
    for (const i of [0, 1]) {
      tensors[`base_model.model.blocks.${i}.attn.q.lora_A.weight`] = { dtype: 'F16', shape: [2, 8], data: A };
      tensors[`base_model.model.blocks.${i}.attn.q.lora_B.weight`] = { dtype: 'F16', shape: [8, 2], data: Bm };
    }
    await writeAdapterDir(
      dir,
      {
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r: 2,
        lora_alpha: 16,
        lora_dropout: 0.1,
        target_modules: ['q'],
        bias: 'none',
        base_model_name_or_path: 'x',
      },
      tensors,
    );
    const model = tinyGPT('cpu');
    const peft = await loadAdapter(dir, model);
    const q = model.getModule('blocks.1.attn.q') as LoRALinear;
    expect(q).toBeInstanceOf(LoRALinear);
    expect([q.r, q.alpha, q.scaling, q.dropout.p]).toEqual([2, 16, 8, 0.1]);
    expect(Array.from(await q.lora_A.data())).toEqual(A);
    expect(Array.from(await q.lora_B.data())).toEqual(Bm);
    expect(peft.layers.length).toBe(2);
    // the same as injecting by hand and copying the values
    const ref = tinyGPT('cpu');
    const refPeft = inject(ref, { adapter: 'lora', r: 2, alpha: 16, targets: ['q'] });
    for (const [, l] of refPeft.layers) {
      nn.copyInto((l as LoRALinear).lora_A, mg.tensor(A, [2, 8], { backend: 'cpu' }));
      nn.copyInto((l as LoRALinear).lora_B, mg.tensor(Bm, [8, 2], { backend: 'cpu' }));
    }
    model.eval();
    ref.eval();
    expect(Array.from(await model.forward(ids('cpu')).logits.data())).toEqual(Array.from(await ref.forward(ids('cpu')).logits.data()));
    // use_rslora: scale α/√r
    const dir2 = freshDir();
    await writeAdapterDir(dir2, { peft_type: 'LORA', r: 2, lora_alpha: 16, target_modules: ['q'], use_rslora: true }, tensors);
    const m2 = tinyGPT('cpu');
    await loadAdapter(dir2, m2);
    expect((m2.getModule('blocks.0.attn.q') as LoRALinear).scaling).toBeCloseTo(16 / Math.SQRT2, 12);
  });

  it('a MoRA fork file without mora_type means type 1 (the fork default); lora_B may be absent', async () => {
    const dir = freshDir();
    const M = Array.from({ length: 36 }, (_, i) => (i % 9) / 16);
    await writeAdapterDir(
      dir,
      { peft_type: 'LORA', r: 2, lora_alpha: 16, target_modules: ['k'], use_mora: true },
      {
        'base_model.model.blocks.0.attn.k.lora_A.weight': { dtype: 'F32', shape: [6, 6], data: M },
        'base_model.model.blocks.1.attn.k.lora_A.weight': { dtype: 'F32', shape: [6, 6], data: M },
      },
    );
    const model = tinyGPT('cpu');
    await loadAdapter(dir, model);
    const k = model.getModule('blocks.0.attn.k') as MoRALinear;
    expect([k.type, k.R]).toEqual([1, 6]);
    expect(Array.from(await k.M.data())).toEqual(M);
  });
});

describe('loadAdapter errors', () => {
  const moraFile = async (over: object = {}, tensors?: Record<string, { dtype: 'F32'; shape: number[]; data: number[] }>) => {
    const dir = freshDir();
    const z = (R: number) => ({ dtype: 'F32' as const, shape: [R, R], data: new Array(R * R).fill(0) });
    await writeAdapterDir(
      dir,
      { peft_type: 'LORA', r: 2, target_modules: ['q'], use_mora: true, mora_type: 1, ...over },
      tensors ?? {
        'base_model.model.blocks.0.attn.q.lora_A.weight': z(6),
        'base_model.model.blocks.0.attn.q.lora_B.weight': z(6),
        'base_model.model.blocks.1.attn.q.lora_A.weight': z(6),
        'base_model.model.blocks.1.attn.q.lora_B.weight': z(6),
      },
    );
    return dir;
  };

  it('module names of a PyTorch model: lists the Linear layers there are', async () => {
    const dir = await moraFile({ target_modules: ['q_proj'] });
    await expect(loadAdapter(dir, tinyGPT('cpu'))).rejects.toThrow(
      /target_modules \["q_proj"\] match no Linear layer of the model; its Linear layers are: blocks\.0\.attn\.q, .*blocks\.1\.mlp\.down/,
    );
    const dir2 = await moraFile(
      {},
      { 'base_model.model.model.layers.0.self_attn.q.lora_A.weight': { dtype: 'F32', shape: [6, 6], data: new Array(36).fill(0) } },
    );
    await expect(loadAdapter(dir2, tinyGPT('cpu'))).rejects.toThrow(
      /the file adapts model\.layers\.0\.self_attn\.q, which is not a Linear layer of the model; its Linear layers are: blocks\.0\.attn\.q/,
    );
  });

  it('keys that disagree with target_modules, and foreign keys', async () => {
    const z = { dtype: 'F32' as const, shape: [6, 6], data: new Array(36).fill(0) };
    const dir = await moraFile(
      {},
      { 'base_model.model.blocks.0.attn.q.lora_A.weight': z, 'base_model.model.blocks.0.attn.k.lora_A.weight': z },
    );
    await expect(loadAdapter(dir, tinyGPT('cpu'))).rejects.toThrow(
      /do not agree with target_modules \["q"\]: no weights for blocks\.1\.attn\.q; weights for untargeted blocks\.0\.attn\.k/,
    );
    const dir2 = await moraFile({}, { 'blocks.0.attn.q.lora_A.weight': z });
    await expect(loadAdapter(dir2, tinyGPT('cpu'))).rejects.toThrow(
      /unexpected keys blocks\.0\.attn\.q\.lora_A\.weight; expected 'base_model\.model\.<module>\.lora_A\.weight'/,
    );
  });

  it('wrong R, unknown mora_type, lora_A != lora_B, wrong LoRA shapes', async () => {
    const z = (R: number, v = 0) => ({ dtype: 'F32' as const, shape: [R, R], data: new Array(R * R).fill(v) });
    const dir = await moraFile(
      {},
      { 'base_model.model.blocks.0.attn.q.lora_A.weight': z(5), 'base_model.model.blocks.1.attn.q.lora_A.weight': z(6) },
    );
    await expect(loadAdapter(dir, tinyGPT('cpu'))).rejects.toThrow(
      /blocks\.0\.attn\.q\.lora_A\.weight is \[5, 5\], expected M \[6, 6\] \(R = r̂ for r = 2, type 1, Linear 8 -> 8\)/,
    );
    await expect(loadAdapter(await moraFile({ mora_type: 5 }), tinyGPT('cpu'))).rejects.toThrow(
      /unknown mora_type 5; expected one of 1, 2, 3, 4, 6, 'truncation', 'decoupling' \(there is no type 5\)/,
    );
    const dir3 = await moraFile(
      {},
      {
        'base_model.model.blocks.0.attn.q.lora_A.weight': z(6, 1),
        'base_model.model.blocks.0.attn.q.lora_B.weight': z(6, 2),
        'base_model.model.blocks.1.attn.q.lora_A.weight': z(6),
      },
    );
    await expect(loadAdapter(dir3, tinyGPT('cpu'))).rejects.toThrow(/blocks\.0\.attn\.q: lora_A\.weight and lora_B\.weight differ/);
    const dir4 = await moraFile(
      { use_mora: false },
      {
        'base_model.model.blocks.0.attn.q.lora_A.weight': { dtype: 'F32', shape: [2, 8], data: new Array(16).fill(0) },
        'base_model.model.blocks.0.attn.q.lora_B.weight': { dtype: 'F32', shape: [2, 8], data: new Array(16).fill(0) },
        'base_model.model.blocks.1.attn.q.lora_A.weight': { dtype: 'F32', shape: [2, 8], data: new Array(16).fill(0) },
      },
    );
    await expect(loadAdapter(dir4, tinyGPT('cpu'))).rejects.toThrow(
      /blocks\.0\.attn\.q\.lora_B\.weight is \[2, 8\], expected \[out, r\] = \[8, 2\]; blocks\.1\.attn\.q: missing lora_B\.weight/,
    );
  });

  it('unsupported configs, a model that already has adapters, missing files, .bin checkpoints; the model is untouched', async () => {
    const model = tinyGPT('cpu');
    await expect(loadAdapter(await moraFile({ peft_type: 'IA3' }), model)).rejects.toThrow(
      /peft_type is "IA3"; only LoRA \/ DoRA \/ MoRA adapters \('LORA'\) are supported/,
    );
    await expect(loadAdapter(await moraFile({ use_dora: true }), model)).rejects.toThrow(/use_mora and use_dora are both true/);
    await expect(loadAdapter(await moraFile({ rank_pattern: { q: 4 } }), model)).rejects.toThrow(/rank_pattern \{"q":4\} is not supported/);
    await expect(loadAdapter(await moraFile({ target_modules: null }), model)).rejects.toThrow(/target_modules is null/);
    await expect(loadAdapter(join(tmp, 'nope'), model)).rejects.toThrow(/no such directory: .*nope/);
    const binDir = freshDir();
    await fs.mkdir(binDir);
    await fs.writeFile(join(binDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, target_modules: ['q'] }));
    await fs.writeFile(join(binDir, 'adapter_model.bin'), 'x');
    await expect(loadAdapter(binDir, model)).rejects.toThrow(/holds adapter_model\.bin \(a PyTorch pickle\)/);
    expect(model.numParameters({ trainableOnly: true })).toBe(model.numParameters());
    expect(model.getModule('blocks.0.attn.q')).toBeInstanceOf(nn.Linear);
    inject(model, { adapter: 'lora', targets: ['q'] });
    await expect(loadAdapter(await moraFile(), model)).rejects.toThrow(
      /the model already has adapters \(blocks\.0\.attn\.q, blocks\.1\.attn\.q\); load into a fresh model/,
    );
    await expect(saveAdapter(freshDir(), inject(tinyGPT('cpu'), { adapter: 'full' }))).rejects.toThrow(
      /a 'full' fine-tune has no adapter to save/,
    );
  });
});
