// config.json of a Hugging Face causal LM, read into the fields moragrad's HF models use. The
// architectures: LlamaForCausalLM (model_type 'llama'), Qwen2ForCausalLM ('qwen2': the LLaMA
// layout with biases on q, k and v, and no sliding window) and GPT2LMHeadModel ('gpt2').
//
// Every field that changes the model's function is checked: values this engine does not implement
// (rope scaling, other activations, cross-attention, ...) are refused by name. Fields that do not
// change the forward (token ids, dropout rates used only in training, bookkeeping) are accepted;
// an unknown field is refused unless its value is null / false / an empty container, so a config
// written for a newer variant never loads silently as the wrong model.
import { fail } from '../../../errors.js';

export type HfArchitecture = 'LlamaForCausalLM' | 'Qwen2ForCausalLM' | 'GPT2LMHeadModel';

/** The normalised configuration of a loaded HF model (moragrad's names; `raw` is config.json). */
export interface HfModelConfig {
  architecture: HfArchitecture;
  vocabSize: number;
  /** Longest sequence: max_position_embeddings (LLaMA) / n_positions (GPT-2). */
  blockSize: number;
  /** hidden_size / n_embd. */
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** Key/value heads (GQA); nHead for GPT-2. */
  nKvHead: number;
  headSize: number;
  /** MLP hidden size. */
  intermediate: number;
  normEps: number;
  /** LLaMA only: rotary base θ. */
  ropeTheta: number;
  tiedHead: boolean;
  /** Biases on q, k, v and on o: LLaMA attention_bias (both), Qwen2 (q, k, v only), GPT-2 (both). */
  qkvBias: boolean;
  oBias: boolean;
  /** LLaMA mlp_bias; GPT-2 true. */
  mlpBias: boolean;
  /** GPT-2 only: 'tanh' (gelu_new, gelu_pytorch_tanh) or 'none' (gelu, erf). */
  geluApproximate: 'tanh' | 'none';
  /** config.json as read. */
  raw: Record<string, unknown>;
}

/** Fields that never change the forward pass, accepted whatever their value. */
const INERT = new Set([
  '_name_or_path',
  'architectures',
  'model_type',
  'transformers_version',
  'torch_dtype',
  'dtype',
  'use_cache',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sep_token_id',
  'unk_token_id',
  'decoder_start_token_id',
  'initializer_range',
  'id2label',
  'label2id',
  'task_specific_params',
  'max_length',
  'output_attentions',
  'output_hidden_states',
  'return_dict',
  'torchscript',
  'use_return_dict',
  'gradient_checkpointing',
  'summary_activation',
  'summary_first_dropout',
  'summary_proj_to_labels',
  'summary_type',
  'summary_use_proj',
  'attention_dropout',
  'attn_pdrop',
  'embd_pdrop',
  'resid_pdrop',
  'hidden_dropout',
  'hidden_dropout_prob',
  'pretraining_tp',
  'is_llama_config',
  'quantization_config_none',
  'tokenizer_class',
  'prefix',
  'problem_type',
  'finetuning_task',
  'chunk_size_feed_forward',
  'is_encoder_decoder',
  'is_decoder',
  'tie_encoder_decoder',
  'do_sample',
  'temperature',
  'top_k',
  'top_p',
  'num_beams',
  'repetition_penalty',
  'length_penalty',
  'no_repeat_ngram_size',
  'early_stopping',
  'min_length',
  'bad_words_ids',
  'num_return_sequences',
  'reorder_and_upcast_attn',
  'n_ctx',
  '_num_labels',
  'num_labels',
  'output_past',
  'transformers.js_config',
  'keys_to_ignore_at_inference',
  'tf_legacy_loss',
  'use_bfloat16',
  'pruned_heads',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'remove_invalid_values',
  'exponential_decay_length_penalty',
  'suppress_tokens',
  'begin_suppress_tokens',
  'typical_p',
  'diversity_penalty',
  'num_beam_groups',
  'encoder_no_repeat_ngram_size',
  'output_scores',
  'return_dict_in_generate',
]);

/** Fields each architecture reads (validated below). */
const LLAMA_FIELDS = new Set([
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'hidden_act',
  'max_position_embeddings',
  'rms_norm_eps',
  'rope_theta',
  'rope_scaling',
  'tie_word_embeddings',
  'attention_bias',
  'mlp_bias',
  'rope_interleaved',
]);
const QWEN2_FIELDS = new Set(
  [...LLAMA_FIELDS, 'use_sliding_window', 'sliding_window', 'max_window_layers'].filter((f) => f !== 'attention_bias' && f !== 'mlp_bias'),
);
const GPT2_FIELDS = new Set([
  'vocab_size',
  'n_embd',
  'n_layer',
  'n_head',
  'n_positions',
  'n_inner',
  'activation_function',
  'layer_norm_epsilon',
  'scale_attn_weights',
  'scale_attn_by_inverse_layer_idx',
  'add_cross_attention',
  'tie_word_embeddings',
]);

const isEmpty = (v: unknown): boolean =>
  v === null || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/** Validates config.json (parsed) and normalises it; `where` names the file in errors. */
export function parseHfConfig(raw: unknown, where: string): HfModelConfig {
  const op = 'loadHF';
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(op, `${where} must hold a JSON object`);
  const c = raw as Record<string, unknown>;
  const archs = c.architectures;
  const arch = Array.isArray(archs) && archs.length === 1 ? archs[0] : undefined;
  const known: HfArchitecture[] = ['LlamaForCausalLM', 'Qwen2ForCausalLM', 'GPT2LMHeadModel'];
  if (!known.includes(arch as HfArchitecture)) {
    fail(
      op,
      `${where}: architectures ${JSON.stringify(archs)} is not supported; moragrad loads ${known.join(', ')} (model_type ${JSON.stringify(c.model_type)})`,
    );
  }
  const expectType = { LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', GPT2LMHeadModel: 'gpt2' }[arch as HfArchitecture];
  if (c.model_type !== undefined && c.model_type !== expectType)
    fail(op, `${where}: model_type ${JSON.stringify(c.model_type)} does not match ${arch} (expected '${expectType}')`);
  const fields = arch === 'GPT2LMHeadModel' ? GPT2_FIELDS : arch === 'Qwen2ForCausalLM' ? QWEN2_FIELDS : LLAMA_FIELDS;
  const unknown = Object.keys(c).filter((k) => !INERT.has(k) && !fields.has(k) && !isEmpty(c[k]));
  if (unknown.length) {
    fail(
      op,
      `${where}: ${arch} config field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `${k} = ${JSON.stringify(c[k])}`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not implemented here; refusing to load a model that would compute something else`,
    );
  }
  const int = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (!Number.isInteger(v) || (v as number) <= 0) fail(op, `${where}: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
    return v as number;
  };
  const pos = (k: string, dflt: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !(v > 0)) fail(op, `${where}: ${k} must be a positive number, got ${JSON.stringify(c[k])}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'boolean') fail(op, `${where}: ${k} must be true or false, got ${JSON.stringify(c[k])}`);
    return v;
  };
  const refuse = (k: string, why: string): never => fail(op, `${where}: ${k} = ${JSON.stringify(c[k])} is not supported (${why})`);

  if (arch !== 'GPT2LMHeadModel') {
    const nEmbd = int('hidden_size');
    const nHead = int('num_attention_heads');
    const nKvHead = int('num_key_value_heads', nHead);
    if (nHead % nKvHead !== 0) fail(op, `${where}: num_attention_heads ${nHead} must be a multiple of num_key_value_heads ${nKvHead}`);
    if (c.head_dim == null && nEmbd % nHead !== 0)
      fail(op, `${where}: hidden_size ${nEmbd} must be a multiple of num_attention_heads ${nHead} (or give head_dim)`);
    const headSize = int('head_dim', nEmbd / nHead);
    if (headSize % 2 !== 0) fail(op, `${where}: the head size ${headSize} must be even for rotary embeddings`);
    const act = c.hidden_act ?? 'silu';
    if (act !== 'silu') refuse('hidden_act', "LLaMA's SwiGLU uses 'silu'");
    if (c.rope_scaling != null) {
      const t = (c.rope_scaling as Record<string, unknown>).rope_type ?? (c.rope_scaling as Record<string, unknown>).type;
      refuse('rope_scaling', `rope scaling type ${JSON.stringify(t)} is not implemented; plain rotary embeddings with rope_theta only`);
    }
    if (c.rope_interleaved === true) refuse('rope_interleaved', 'only the rotate-half layout of HF LLaMA is implemented');
    if (c.use_sliding_window === true) refuse('use_sliding_window', 'sliding-window attention is not implemented');
    const qwen = arch === 'Qwen2ForCausalLM';
    return {
      architecture: arch as HfArchitecture,
      vocabSize: int('vocab_size'),
      blockSize: int('max_position_embeddings', 2048),
      nEmbd,
      nLayer: int('num_hidden_layers'),
      nHead,
      nKvHead,
      headSize,
      intermediate: int('intermediate_size'),
      normEps: pos('rms_norm_eps', 1e-6),
      ropeTheta: pos('rope_theta', 10000),
      tiedHead: bool('tie_word_embeddings', false),
      qkvBias: qwen || bool('attention_bias', false),
      oBias: !qwen && bool('attention_bias', false),
      mlpBias: !qwen && bool('mlp_bias', false),
      geluApproximate: 'tanh',
      raw: c,
    };
  }
  const nEmbd = int('n_embd', 768);
  const nHead = int('n_head', 12);
  if (nEmbd % nHead !== 0) fail(op, `${where}: n_embd ${nEmbd} must be a multiple of n_head ${nHead}`);
  const act = c.activation_function ?? 'gelu_new';
  const approx =
    act === 'gelu_new' || act === 'gelu_pytorch_tanh'
      ? 'tanh'
      : act === 'gelu'
        ? 'none'
        : refuse('activation_function', "expected 'gelu_new', 'gelu_pytorch_tanh' or 'gelu'");
  if (c.scale_attn_weights === false) refuse('scale_attn_weights', 'attention is always scaled by 1/√head_size here');
  if (c.scale_attn_by_inverse_layer_idx === true)
    refuse('scale_attn_by_inverse_layer_idx', 'per-layer attention scaling is not implemented');
  if (c.add_cross_attention === true) refuse('add_cross_attention', 'cross-attention is not implemented');
  if (c.tie_word_embeddings === false) refuse('tie_word_embeddings', "GPT2LMHeadModel's head is the token embedding");
  return {
    architecture: arch,
    vocabSize: int('vocab_size', 50257),
    blockSize: int('n_positions', 1024),
    nEmbd,
    nLayer: int('n_layer', 12),
    nHead,
    nKvHead: nHead,
    headSize: nEmbd / nHead,
    intermediate: c.n_inner == null ? 4 * nEmbd : int('n_inner'),
    normEps: pos('layer_norm_epsilon', 1e-5),
    ropeTheta: 10000,
    tiedHead: true,
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    geluApproximate: approx,
    raw: c,
  };
}
