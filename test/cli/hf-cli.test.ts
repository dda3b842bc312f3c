// The CLI on a Hugging Face model folder: finetune --base <hf-dir> with HF target names writes a PEFT
// adapter naming the base; sample --base <hf-dir> --adapter <dir> generates with it.
import fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/app/cli/main.js';
import { encodeSafetensors, type EncodeEntry } from '../../src/io/safetensors.js';
import { randData, setupBackends } from '../helpers.js';

setupBackends();
const TOK = join(import.meta.dirname, '../fixtures/hf/tokenizers/sp-bpe');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err += String(s);
      return true;
    }),
    vi.spyOn(console, 'log').mockImplementation((...a) => {
      out += `${a.join(' ')}\n`;
    }),
    vi.spyOn(console, 'error').mockImplementation((...a) => {
      err += `${a.join(' ')}\n`;
    }),
  ];
  let code: number;
  try {
    code = await main(args);
  } catch (x) {
    err += `moragrad: ${(x as Error).message}\n`;
    code = 1;
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return { code, out, err };
}

/** A one-layer LLaMA (vocabulary of the sp-bpe fixture tokenizer) in HF layout. */
async function tinyLlamaFolder(dir: string, context = 32): Promise<void> {
  const [C, I, V] = [16, 24, 277];
  const shapes: Record<string, number[]> = {
    'model.embed_tokens.weight': [V, C],
    'model.norm.weight': [C],
    'model.layers.0.input_layernorm.weight': [C],
    'model.layers.0.post_attention_layernorm.weight': [C],
    'model.layers.0.self_attn.q_proj.weight': [C, C],
    'model.layers.0.self_attn.k_proj.weight': [8, C],
    'model.layers.0.self_attn.v_proj.weight': [8, C],
    'model.layers.0.self_attn.o_proj.weight': [C, C],
    'model.layers.0.mlp.gate_proj.weight': [I, C],
    'model.layers.0.mlp.up_proj.weight': [I, C],
    'model.layers.0.mlp.down_proj.weight': [C, I],
  };
  const entries: Record<string, EncodeEntry> = {};
  Object.entries(shapes).forEach(([k, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    entries[k] = { dtype: 'BF16', shape, data: Float32Array.from(randData(n, i + 1), (v) => (shape.length === 1 ? 1 + 0.1 * v : 0.3 * v)) };
  });
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(join(dir, 'model.safetensors'), encodeSafetensors(entries, { format: 'pt' }));
  await fs.writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: V,
      hidden_size: C,
      intermediate_size: I,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: context,
      tie_word_embeddings: true,
      _name_or_path: 'test/tiny-llama',
    }),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) await fs.copyFile(join(TOK, f), join(dir, f));
}

describe('moragrad CLI with a Hugging Face base', () => {
  it('finetune --base <hf-dir> --targets q_proj,v_proj --save-adapter, then sample --base --adapter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-hf-cli-'));
    const base = join(dir, 'base');
    await tinyLlamaFolder(base);
    const task = join(dir, 'task.jsonl');
    await fs.writeFile(
      task,
      `${['hello', 'world', 'hé'].map((p) => JSON.stringify({ prompt: `${p} `, completion: 'hello world' })).join('\n')}\n`,
    );
    const adapter = join(dir, 'adapter');
    const f = await run([
      'finetune',
      '--base',
      base,
      '--adapter',
      'mora',
      '--r',
      '2',
      '--type',
      '6',
      '--targets',
      'q_proj,v_proj',
      '--task',
      task,
      '--steps',
      '2',
      '--batch',
      '2',
      '--save-adapter',
      adapter,
      '--out',
      join(dir, 'runs'),
      '--name',
      't',
    ]);
    expect(f.code, f.err).toBe(0);
    const cfg = JSON.parse(await fs.readFile(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      base_model_name_or_path: 'test/tiny-llama',
      target_modules: ['q_proj', 'v_proj'],
      use_mora: true,
      mora_type: 6,
    });
    const metrics = JSON.parse(await fs.readFile(join(dir, 'runs', 't', 'metrics.json'), 'utf8'));
    expect(metrics.base).toMatchObject({
      checkpoint: base,
      tokenizer: 'hf',
      vocabSize: 277,
      model: { architecture: 'LlamaForCausalLM', nKvHead: 2 },
    });
    const s = await run(['sample', '--base', base, '--adapter', adapter, '--prompt', 'hello', '--tokens', '3', '--temperature', '0']);
    expect(s.code, s.err).toBe(0);
    expect(s.out.startsWith('hello')).toBe(true);
    const bad = await run(['sample', '--prompt', 'x']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/give the model with --base/);
  });

  it('compare runs the UUID task on a Hugging Face base (no format stage)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-hf-compare-'));
    const base = join(dir, 'base');
    await tinyLlamaFolder(base, 128); // a key:value line is 74 characters
    const grid = join(dir, 'grid.json');
    const spec = {
      name: 'c',
      base,
      formatStage: false,
      task: 'uuid',
      pairs: 2,
      steps: 2,
      batchSize: 2,
      evalAt: [1],
      targets: ['q_proj', 'v_proj'],
      methods: [{ adapter: 'lora', r: 2, lrs: [1e-3] }],
    };
    await fs.writeFile(grid, JSON.stringify(spec));
    const c = await run(['compare', grid, '--out', join(dir, 'runs')]);
    expect(c.code, c.err + c.out).toBe(0);
    const metrics = JSON.parse(await fs.readFile(join(dir, 'runs', 'c', 'metrics.json'), 'utf8'));
    expect(metrics.task).toMatchObject({ name: 'uuid', examples: 2 });
    expect(metrics.base).toMatchObject({ checkpoint: base, tokenizer: 'hf', formatStage: null });
    expect(metrics.methods[0].rank.map((r: { name: string }) => r.name)).toContain('model.layers.0.self_attn.q_proj.weight');
  });
});
