// Hugging Face model folders: golden logits of both architectures against a plain-PyTorch float64
// reference (test/fixtures/hf, README there), tiny random models written here in HF layout (GQA,
// tied/untied, F16/BF16, shards, GPT-2's prefix-less keys and mask buffers) loaded, run on cpu
// (float64) and webgpu, saved and reloaded identical; adapters with HF module names; refusals.
import fs from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as mg from '../../src/index.js';
import { loadHF, saveHF, type HfCausalLM, type LlamaForCausalLM } from '../../src/app/models/hf/index.js';
import { encodeSafetensors, fromBF16, fromF16, toBF16, toF16, type EncodeEntry } from '../../src/io/safetensors.js';
import { expectClose, hasGpu, randData, setupBackends } from '../helpers.js';

setupBackends();
const FIX = join(import.meta.dirname, '../fixtures/hf');
const ref = JSON.parse(await fs.readFile(join(FIX, 'reference.json'), 'utf8')) as Record<
  string,
  { ids: number[][]; shape: number[]; logits: number[] }
>;

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(join(os.tmpdir(), 'moragrad-hf-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});
let dirs = 0;
const newDir = () => join(tmp, `m${dirs++}`);

async function logitsOf(model: HfCausalLM, ids: number[][]): Promise<ArrayLike<number>> {
  const x = mg.tensor(ids.flat(), [ids.length, ids[0].length], { dtype: 'int32', backend: model.parameters()[0].backend.name });
  const { logits } = mg.noGrad(() => model.forward(x));
  const d = await logits.data();
  logits.dispose();
  x.dispose();
  return d;
}

async function params(model: mg.nn.Module): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [n, p] of model.namedParameters()) out.set(n, Array.from(await p.data()));
  return out;
}

describe('loadHF: golden logits against the PyTorch reference', () => {
  for (const name of ['tiny-llama', 'tiny-gpt2', 'tiny-qwen2']) {
    it(`${name}: cpu (float64) to 1e-9, webgpu to 1e-4`, async () => {
      const r = ref[name];
      const cpu = await loadHF(join(FIX, name), { backend: 'cpu', noTokenizer: true });
      expectClose(await logitsOf(cpu.model, r.ids), r.logits, { rtol: 1e-9, atol: 1e-9 }, `${name} cpu`);
      // lastOnly (what generation reads): the last position's row of the same logits
      const x = mg.tensor(r.ids.flat(), [2, 7], { dtype: 'int32', backend: 'cpu' });
      const last = cpu.model.forward(x, undefined, { lastOnly: true }).logits;
      expect(last.shape).toEqual([2, 1, r.shape[2]]);
      const V = r.shape[2];
      expectClose(
        await last.data(),
        [...r.logits.slice(6 * V, 7 * V), ...r.logits.slice(13 * V, 14 * V)],
        { rtol: 1e-9, atol: 1e-9 },
        `${name} lastOnly`,
      );
      expect(() => cpu.model.forward(x, x, { lastOnly: true })).toThrow(/lastOnly gives the last position's logits only/);
      // logits must fit one buffer (lavapipe: 2^25 floats): the refusal says how many tokens fit
      expect(() => mg.nn.checkLogitsFit('LlamaForCausalLM.forward', [16, 1024, 50257], 2 ** 25)).toThrow(
        /the logits \[16, 1024, 50257\] would hold 823410688 elements, more than one buffer of this adapter \(33554432\); use at most 667 tokens per batch/,
      );
      cpu.model.dispose();
      if (await hasGpu()) {
        const gpu = await loadHF(join(FIX, name), { noTokenizer: true });
        expectClose(await logitsOf(gpu.model, r.ids), r.logits, { rtol: 1e-4, atol: 1e-4 }, `${name} webgpu`);
        gpu.model.dispose();
      }
    });
  }

  it('vocabulary tables larger than one buffer binding are held as row blocks: same logits, saved back as one tensor', async () => {
    for (const name of ['tiny-llama', 'tiny-gpt2']) {
      const r = ref[name];
      const { model } = await loadHF(join(FIX, name), { backend: 'cpu', noTokenizer: true, maxTableElements: 16 * 15 });
      const blocks = model
        .namedParameters()
        .filter(([n]) => /\.blocks\.\d+\.weight$/.test(n))
        .map(([n]) => n);
      expect(blocks.length).toBe(name === 'tiny-llama' ? 8 : 3); // 48 rows: 4 blocks each for embed_tokens and the untied lm_head; GPT-2: 40 rows tied
      expectClose(await logitsOf(model, r.ids), r.logits, { rtol: 1e-9, atol: 1e-9 }, `${name} blocked`);
      const out = newDir();
      await saveHF(model, out);
      const keys = Object.keys((await mg.io.readSafetensorsHeader(join(out, 'model.safetensors'))).tensors);
      expect(keys.some((k) => k.includes('blocks'))).toBe(false);
      const whole = await loadHF(out, { backend: 'cpu', noTokenizer: true });
      const orig = await loadHF(join(FIX, name), { backend: 'cpu', noTokenizer: true });
      expect(await params(whole.model)).toEqual(await params(orig.model));
      for (const m of [model, whole.model, orig.model]) m.dispose();
    }
  });

  it('module trees and parameter names are the Hugging Face ones', async () => {
    const { model: l, config } = await loadHF(join(FIX, 'tiny-llama'), { backend: 'cpu', noTokenizer: true });
    expect(config).toMatchObject({ architecture: 'LlamaForCausalLM', nHead: 4, nKvHead: 2, headSize: 4, ropeTheta: 500, tiedHead: false });
    const names = l.namedParameters().map(([n]) => n);
    expect(names.slice(0, 10)).toEqual([
      'model.embed_tokens.weight',
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.v_proj.weight',
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.mlp.gate_proj.weight',
      'model.layers.0.mlp.up_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.post_attention_layernorm.weight',
    ]);
    expect(names.at(-1)).toBe('lm_head.weight');
    expect(l.getParameter('model.layers.1.self_attn.k_proj.weight').shape).toEqual([8, 16]);
    expect(l.nameOrPath).toBe('tiny-llama-gqa');
    l.dispose();
    const { model: g } = await loadHF(join(FIX, 'tiny-gpt2'), { backend: 'cpu', noTokenizer: true });
    expect(
      g
        .namedParameters()
        .map(([n]) => n)
        .slice(0, 6),
    ).toEqual([
      'transformer.wte.weight',
      'transformer.wpe.weight',
      'transformer.h.0.ln_1.weight',
      'transformer.h.0.ln_1.bias',
      'transformer.h.0.attn.c_attn.weight',
      'transformer.h.0.attn.c_attn.bias',
    ]);
    expect(g.getParameter('transformer.h.0.attn.c_attn.weight').shape).toEqual([48, 16]); // held [out, in]; the file has [16, 48]
    expect(g.nameOrPath).toBe('tiny-gpt2'); // no _name_or_path: the folder name
    g.dispose();
  });
});

// ---- tiny random models written by the test ----------------------------------------------------------

type Dt = 'F32' | 'F16' | 'BF16';
type Host = Record<string, { shape: number[]; data: Float32Array }>;
const roundTo = (dt: Dt, v: number) => (dt === 'F16' ? fromF16(toF16(v)) : dt === 'BF16' ? fromBF16(toBF16(v)) : Math.fround(v));

function llamaConfig(o: { nKv: number; tied: boolean }) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: 24,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: o.nKv,
    hidden_act: 'silu',
    max_position_embeddings: 16,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    rope_scaling: null,
    tie_word_embeddings: o.tied,
    attention_bias: false,
    torch_dtype: 'float32',
  };
}
const gpt2Config = {
  architectures: ['GPT2LMHeadModel'],
  model_type: 'gpt2',
  vocab_size: 20,
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  n_positions: 12,
  activation_function: 'gelu_new',
};

/** Random weights in the files' layout (Conv1D [in, out]). */
function llamaWeights(c: ReturnType<typeof llamaConfig>, seed: number): Host {
  const [C, I, V, kv] = [c.hidden_size, c.intermediate_size, c.vocab_size, c.num_key_value_heads * 4];
  const w: Host = {};
  let s = seed;
  const put = (k: string, shape: number[], scale = 0.3, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    w[k] = { shape, data: Float32Array.from(randData(n, s++), (v) => offset + scale * v) };
  };
  put('model.embed_tokens.weight', [V, C]);
  put('model.norm.weight', [C], 0.1, 1);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    put(`${p}input_layernorm.weight`, [C], 0.1, 1);
    put(`${p}post_attention_layernorm.weight`, [C], 0.1, 1);
    put(`${p}self_attn.q_proj.weight`, [C, C]);
    put(`${p}self_attn.k_proj.weight`, [kv, C]);
    put(`${p}self_attn.v_proj.weight`, [kv, C]);
    put(`${p}self_attn.o_proj.weight`, [C, C]);
    put(`${p}mlp.gate_proj.weight`, [I, C]);
    put(`${p}mlp.up_proj.weight`, [I, C]);
    put(`${p}mlp.down_proj.weight`, [C, I]);
  }
  if (!c.tie_word_embeddings) put('lm_head.weight', [V, C]);
  return w;
}

function gpt2Weights(seed: number): Host {
  const [C, V, P] = [8, 20, 12];
  const w: Host = {};
  let s = seed;
  const put = (k: string, shape: number[], scale = 0.3, offset = 0) => {
    w[k] = {
      shape,
      data: Float32Array.from(
        randData(
          shape.reduce((a, b) => a * b, 1),
          s++,
        ),
        (v) => offset + scale * v,
      ),
    };
  };
  put('transformer.wte.weight', [V, C]);
  put('transformer.wpe.weight', [P, C], 0.1);
  put('transformer.ln_f.weight', [C], 0.1, 1);
  put('transformer.ln_f.bias', [C], 0.1);
  for (let i = 0; i < 2; i++) {
    const p = `transformer.h.${i}.`;
    for (const n of ['ln_1', 'ln_2']) {
      put(`${p}${n}.weight`, [C], 0.1, 1);
      put(`${p}${n}.bias`, [C], 0.1);
    }
    put(`${p}attn.c_attn.weight`, [C, 3 * C]);
    put(`${p}attn.c_attn.bias`, [3 * C], 0.1);
    put(`${p}attn.c_proj.weight`, [C, C]);
    put(`${p}attn.c_proj.bias`, [C], 0.1);
    put(`${p}mlp.c_fc.weight`, [C, 4 * C]);
    put(`${p}mlp.c_fc.bias`, [4 * C], 0.1);
    put(`${p}mlp.c_proj.weight`, [4 * C, C]);
    put(`${p}mlp.c_proj.bias`, [C], 0.1);
  }
  return w;
}

/** Writes config.json and the weights (one file, or `shards` files with an index) as `dt`. */
async function writeFolder(dir: string, config: object, w: Host, dt: Dt, shards = 1, extra: Host = {}): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const keys = Object.keys({ ...w, ...extra });
  const per = Math.ceil(keys.length / shards);
  const map: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = shards === 1 ? 'model.safetensors' : `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const entries: Record<string, EncodeEntry> = {};
    for (const k of keys.slice(s * per, (s + 1) * per)) {
      const t = w[k] ?? extra[k];
      entries[k] = { dtype: dt, shape: t.shape, data: t.data };
      map[k] = file;
    }
    await fs.writeFile(join(dir, file), encodeSafetensors(entries, { format: 'pt' }));
  }
  if (shards > 1)
    await fs.writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
}

/** The loaded parameter equals the file's value rounded to its dtype (Conv1D transposed). */
async function expectWeights(model: HfCausalLM, w: Host, dt: Dt, conv: (k: string) => boolean = () => false): Promise<void> {
  for (const [k, t] of Object.entries(w)) {
    const got = await model.getParameter(k).data();
    const want = Array.from(t.data, (v) => roundTo(dt, v));
    if (conv(k)) {
      const [I, O] = t.shape;
      const tr = new Array<number>(I * O);
      for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) tr[o * I + i] = want[i * O + o];
      expect(Array.from(got), k).toEqual(tr);
    } else expect(Array.from(got), k).toEqual(want);
  }
}

const IDS = [
  [3, 1, 4, 1, 5, 9, 2, 6],
  [5, 3, 5, 8, 9, 7, 9, 3],
];

describe('tiny models in HF layout: load, run (cpu float64 = webgpu), save, reload', () => {
  const variants: { name: string; nKv: number; tied: boolean; dt: Dt; shards: number }[] = [
    { name: 'GQA, untied, F16, 3 shards', nKv: 2, tied: false, dt: 'F16', shards: 3 },
    { name: 'MHA, tied, BF16', nKv: 4, tied: true, dt: 'BF16', shards: 1 },
    { name: 'multi-query, untied, F32', nKv: 1, tied: false, dt: 'F32', shards: 1 },
  ];
  for (const v of variants) {
    it(`LLaMA ${v.name}`, async () => {
      const dir = newDir();
      const cfg = llamaConfig(v);
      const w = llamaWeights(cfg, 10 + v.nKv);
      await writeFolder(dir, cfg, w, v.dt, v.shards);
      const { model } = await loadHF(dir, { backend: 'cpu', noTokenizer: true });
      await expectWeights(model, w, v.dt);
      expect((model as LlamaForCausalLM).lm_head === null).toBe(v.tied);
      const cpu = await logitsOf(model, IDS);
      if (await hasGpu()) {
        const gpu = await loadHF(dir, { noTokenizer: true });
        expectClose(await logitsOf(gpu.model, IDS), cpu, { rtol: 1e-4, atol: 1e-4 }, 'webgpu vs cpu');
        gpu.model.dispose();
      }
      const out = newDir();
      await saveHF(model, out, { maxShardBytes: v.shards > 1 ? 2000 : undefined });
      const files = await fs.readdir(out);
      expect(files.includes('model.safetensors.index.json')).toBe(v.shards > 1);
      const again = await loadHF(out, { backend: 'cpu', noTokenizer: true });
      expect(await params(again.model)).toEqual(await params(model));
      expect(Array.from(await logitsOf(again.model, IDS))).toEqual(Array.from(cpu));
      expect(JSON.parse(await fs.readFile(join(out, 'config.json'), 'utf8')).torch_dtype).toBe(
        { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[v.dt],
      );
      model.dispose();
      again.model.dispose();
    });
  }

  it('GPT-2 with transformer.-prefixed keys, a causal-mask buffer and a tied lm_head.weight in the file (BF16)', async () => {
    const dir = newDir();
    const w = gpt2Weights(3);
    const extra: Host = {
      'transformer.h.0.attn.bias': { shape: [1, 1, 12, 12], data: new Float32Array(144).fill(1) },
      'lm_head.weight': w['transformer.wte.weight'],
    };
    await writeFolder(dir, gpt2Config, w, 'BF16', 1, extra);
    const { model } = await loadHF(dir, { backend: 'cpu', noTokenizer: true });
    await expectWeights(model, w, 'BF16', (k) => /c_(attn|proj|fc)\.weight$/.test(k));
    const ids = IDS.map((r) => r.map((i) => i % 20));
    const cpu = await logitsOf(model, ids);
    if (await hasGpu()) {
      const gpu = await loadHF(dir, { noTokenizer: true });
      expectClose(await logitsOf(gpu.model, ids), cpu, { rtol: 1e-4, atol: 1e-4 }, 'webgpu vs cpu');
      gpu.model.dispose();
    }
    const out = newDir();
    await saveHF(model, out, { dtype: 'F32' });
    const again = await loadHF(out, { backend: 'cpu', noTokenizer: true });
    expect(await params(again.model)).toEqual(await params(model));
    expect(Array.from(await logitsOf(again.model, ids))).toEqual(Array.from(cpu));
    model.dispose();
    again.model.dispose();
  });
});

describe('adapters on HF models use HF module names', () => {
  it('LLaMA + MoRA on q_proj, v_proj: PEFT names and base_model_name_or_path; saveHF writes the merged model', async () => {
    const dir = join(FIX, 'tiny-llama');
    const { model } = await loadHF(dir, { backend: 'cpu', noTokenizer: true });
    const peft = mg.peft.inject(model, { adapter: 'mora', r: 2, type: 6, targets: ['q_proj', 'v_proj'] });
    expect(peft.layers.map(([n]) => n)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    peft.adapterParameters().forEach((p, i) => {
      const t = mg.tensor(randData(p.size, 70 + i), p.shape, { backend: 'cpu' });
      mg.nn.copyInto(p, t.mul(0.2));
    });
    const adapted = await logitsOf(model, ref['tiny-llama'].ids);
    const adir = newDir();
    await mg.peft.saveAdapter(adir, peft);
    const cfg = JSON.parse(await fs.readFile(join(adir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      base_model_name_or_path: 'tiny-llama-gqa',
      target_modules: ['q_proj', 'v_proj'],
      fan_in_fan_out: false,
      use_mora: true,
      mora_type: 6,
    });
    const keys = Object.keys((await mg.io.readSafetensorsHeader(join(adir, 'adapter_model.safetensors'))).tensors);
    expect(keys).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight');

    const out = newDir();
    await saveHF(model, out);
    const merged = await loadHF(out, { backend: 'cpu', noTokenizer: true });
    expectClose(await logitsOf(merged.model, ref['tiny-llama'].ids), adapted, { rtol: 1e-6, atol: 1e-6 }, 'merged vs adapted');
    expect(peft.layers.every(([, l]) => !l.merged)).toBe(true); // saveHF does not change the model

    const fresh = await loadHF(dir, { backend: 'cpu', noTokenizer: true });
    await mg.peft.loadAdapter(adir, fresh.model);
    expectClose(await logitsOf(fresh.model, ref['tiny-llama'].ids), adapted, { rtol: 1e-6, atol: 1e-6 }, 'reloaded adapter');
    for (const m of [model, merged.model, fresh.model]) m.dispose();
  });

  it('GPT-2 + LoRA on c_attn: fan_in_fan_out is recorded (Conv1D); MoRA-only types warn', async () => {
    const { model } = await loadHF(join(FIX, 'tiny-gpt2'), { backend: 'cpu', noTokenizer: true });
    const peft = mg.peft.inject(model, { adapter: 'lora', r: 2, targets: ['c_attn'] });
    const adir = newDir();
    await mg.peft.saveAdapter(adir, peft);
    const cfg = JSON.parse(await fs.readFile(join(adir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ base_model_name_or_path: 'tiny-gpt2', target_modules: ['c_attn'], fan_in_fan_out: true });
    model.dispose();

    const { model: m2 } = await loadHF(join(FIX, 'tiny-llama'), { backend: 'cpu', noTokenizer: true });
    const trunc = mg.peft.inject(m2, { adapter: 'mora', r: 2, type: 'truncation', targets: ['q_proj'] });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await mg.peft.saveAdapter(newDir(), trunc);
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(/MoRA type 'truncation', which only moragrad implements; the MoRA authors' PEFT fork cannot run it/),
      );
    } finally {
      warn.mockRestore();
    }
    m2.dispose();
  });
});

describe('loadHF refuses what it does not implement, naming it', () => {
  const base = llamaConfig({ nKv: 2, tied: false });
  const w = llamaWeights(base, 1);
  const attempt = async (cfg: object, weights: Host = w, opts: Parameters<typeof loadHF>[1] = {}) => {
    const dir = newDir();
    await writeFolder(dir, cfg, weights, 'F32');
    return loadHF(dir, { backend: 'cpu', noTokenizer: true, ...opts });
  };

  it('architectures, rope scaling, unknown fields, activations', async () => {
    await expect(attempt({ ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral' })).rejects.toThrow(
      /loadHF: .*architectures \["MistralForCausalLM"\] is not supported; moragrad loads LlamaForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel/,
    );
    await expect(
      attempt({ ...base, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', attention_bias: undefined, use_sliding_window: true }),
    ).rejects.toThrow(/use_sliding_window = true is not supported \(sliding-window attention is not implemented\)/);
    await expect(attempt({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).rejects.toThrow(
      /rope_scaling = .* is not supported \(rope scaling type "yarn" is not implemented/,
    );
    await expect(attempt({ ...base, sliding_window: 4096 })).rejects.toThrow(/config field sliding_window = 4096 is not implemented here/);
    await expect(attempt({ ...base, hidden_act: 'gelu' })).rejects.toThrow(/hidden_act = "gelu" is not supported/);
    await expect(attempt({ ...gpt2Config, activation_function: 'relu' })).rejects.toThrow(/activation_function = "relu" is not supported/);
    await expect(attempt(base, w, { dtype: 'float16' as 'float32' })).rejects.toThrow(
      /dtype 'float16' is not supported: moragrad's parameters are float32/,
    );
  });

  it('accepts the bookkeeping fields real configs carry (distilgpt2-, TinyLlama-, Qwen2.5-style)', async () => {
    const gw = gpt2Weights(5);
    const dir = newDir();
    await writeFolder(
      dir,
      {
        ...gpt2Config,
        _num_labels: 1,
        id2label: { 0: 'LABEL_0' },
        label2id: { LABEL_0: 0 },
        n_ctx: 12,
        summary_type: 'cls_index',
        summary_use_proj: true,
        task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
        bos_token_id: 19,
        eos_token_id: 19,
        attn_pdrop: 0.1,
      },
      gw,
      'F32',
    );
    (await loadHF(dir, { backend: 'cpu', noTokenizer: true })).model.dispose();
    (
      await attempt({
        ...base,
        pretraining_tp: 1,
        transformers_version: '4.35.0',
        use_cache: true,
        initializer_range: 0.02,
        rope_interleaved: false,
        is_llama_config: true,
        'transformers.js_config': { kv_cache_dtype: 'float16' },
      })
    ).model.dispose();
    const { attention_bias: _a, ...qwen } = {
      ...base,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      use_sliding_window: false,
      sliding_window: 32768,
      max_window_layers: 21,
      use_mrope: false,
    };
    const qw: Host = { ...w };
    for (let i = 0; i < 2; i++)
      for (const [k, n] of [
        ['q', 16],
        ['k', 8],
        ['v', 8],
      ] as const)
        qw[`model.layers.${i}.self_attn.${k}_proj.bias`] = { shape: [n], data: new Float32Array(n) };
    const { model: q } = await attempt(qwen, qw);
    expect(q.config.architecture).toBe('Qwen2ForCausalLM');
    q.dispose();
  });

  it('missing, unexpected and mis-shaped weights; absent files; memory', async () => {
    const less = { ...w };
    delete less['model.layers.1.mlp.down_proj.weight'];
    await expect(attempt(base, less)).rejects.toThrow(
      /does not match its config.json \(LlamaForCausalLM\): missing weights: model.layers.1.mlp.down_proj.weight/,
    );
    await expect(attempt(base, { ...w, 'model.extra.weight': { shape: [2], data: new Float32Array(2) } })).rejects.toThrow(
      /tensors the model does not have: model.extra.weight/,
    );
    await expect(attempt({ ...base, intermediate_size: 20 })).rejects.toThrow(
      /'model.layers.0.mlp.gate_proj.weight' is \[24, 16\], the config makes it \[20, 16\]/,
    );
    await expect(attempt(base, w, { memoryLimit: 10_000 })).rejects.toThrow(
      /loadHF: .*: \d+ parameters need 0.00 GiB as held plus .* more than the 0.00 GiB available \(memoryLimit\); refusing to load/,
    );
    const bin = newDir();
    await fs.mkdir(bin);
    await fs.writeFile(join(bin, 'config.json'), JSON.stringify(base));
    await fs.writeFile(join(bin, 'pytorch_model.bin'), 'x');
    await expect(loadHF(bin, { backend: 'cpu', noTokenizer: true })).rejects.toThrow(
      /neither model.safetensors nor model.safetensors.index.json; it holds pytorch_model.bin/,
    );
    const sharded = newDir();
    await writeFolder(sharded, base, w, 'F32', 2);
    await fs.rm(join(sharded, 'model-00002-of-00002.safetensors'));
    await expect(loadHF(sharded, { backend: 'cpu', noTokenizer: true })).rejects.toThrow(
      /lists shard model-00002-of-00002.safetensors, which is missing/,
    );
    await expect(loadHF(join(tmp, 'nowhere'), { noTokenizer: true })).rejects.toThrow(/is not a directory/);
  });
});

describe('Hugging Face ports: KV cache', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2', 'tiny-gpt2']) {
    it(`${name}: cached decoding gives the full forward's logits and generate's greedy tokens`, async () => {
      for (const backend of ['cpu', 'webgpu'] as const) {
        if (backend === 'webgpu' && !(await hasGpu())) continue;
        const { model } = await loadHF(join(FIX, name), { backend, noTokenizer: true });
        const ids = (rows: number[][]) => mg.tensor(rows.flat(), [rows.length, rows[0].length], { dtype: 'int32', backend });
        const full = mg.noGrad(() => model.forward(ids(IDS)).logits); // (2, 8, V)
        const cache = model.createCache!();
        const parts: mg.Tensor[] = [];
        for (const [a, b] of [
          [0, 5],
          [5, 6],
          [6, 8],
        ]) {
          parts.push(mg.noGrad(() => model.forward(ids(IDS.map((r) => r.slice(a, b))), undefined, { cache }).logits)); // (2, b - a, V)
        }
        expect(cache.length).toBe(8);
        const got = mg.concat(parts, 1); // (2, 8, V)
        const tol = backend === 'cpu' ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-5 };
        expectClose(await got.data(), await full.data(), tol, `${name} ${backend}`);
        const prompt = ids(IDS.map((r) => r.slice(0, 3)));
        const cached = await model.generate(prompt, 5, { temperature: 0 });
        const uncached = await model.generate(prompt, 5, { temperature: 0, cache: false });
        expect(Array.from(await cached.data())).toEqual(Array.from(await uncached.data()));
        for (const t of [full, got, prompt, cached, uncached, ...parts]) t.dispose();
        cache.dispose();
        model.dispose();
      }
    });
  }
});
