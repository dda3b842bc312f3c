// The peer side of the training benchmarks: the MLP and the default GPT written with tfjs ops, one
// training step each (forward, backward by tf's tape, Adam + decoupled weight decay = AdamW).
//
// Equivalence with moragrad's side (bench/training.ts): the same shapes, the same matrix products
// (so the same matmul FLOPs: counted by `gptFlops` / `mlpFlops`), the same nonlinearities (GELU's
// tanh form, LayerNorm with eps 1e-5, causal softmax attention, mean cross-entropy, tied LM head),
// the same optimizer arithmetic. What differs is how each library decomposes them into kernels:
// moragrad fuses LayerNorm, GELU, cross-entropy and AdamW into one kernel each; tfjs composes them
// from primitive ops (moments, tanh, logSoftmax, its Adam update); that difference is what is measured.
// Linear weights are stored [in, out] here (tfjs's convention: x @ W) and [out, in] in moragrad
// (x @ Wᵀ read transposed in place); the product is the same size.
import type * as tfTypes from '@tensorflow/tfjs';
import type { Tf } from './peers.js';

type T = tfTypes.Tensor;

export interface GptShape {
  vocab: number;
  C: number;
  nHead: number;
  nLayer: number;
  /** Sequence length (= blockSize in the default config). */
  T: number;
  B: number;
}

/** Matmul FLOPs of one GPT training step (forward + backward = 3x forward; attention counted in full). */
export function gptFlops(s: GptShape): number {
  const N = s.B * s.T;
  const perLayer = 2 * N * (4 * s.C * s.C) + 2 * N * (8 * s.C * s.C) + 2 * 2 * s.B * s.T * s.T * s.C; // qkvo, mlp, qkᵀ + pv
  const head = 2 * N * s.C * s.vocab;
  return 3 * (s.nLayer * perLayer + head);
}

export interface MlpShape {
  B: number;
  inF: number;
  hidden: number;
}

/** FLOPs of one MLP step: 2 forward products + 3 backward (dW2, dh, dW1; the input needs no grad). */
export function mlpFlops(s: MlpShape): number {
  return 5 * 2 * s.B * s.inF * s.hidden;
}

export interface TfStep {
  /** One training step, returning when its work is issued (the caller syncs). */
  step(): void;
  /** The loss at the current parameters (one readback; a sanity check that the models agree). */
  lossValue?(): Promise<number>;
  dispose(): void;
}

/** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
function gelu(tf: Tf, x: T): T {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

function layerNorm(tf: Tf, x: T, w: T, b: T, eps = 1e-5): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}

/** AdamW as tfjs can: tf.train.adam, then p ← p·(1 - lr·wd) on the decayed parameters. */
function adamW(tf: Tf, vars: tfTypes.Variable[], decayed: tfTypes.Variable[], lr: number, wd: number, betas: [number, number]) {
  const opt = tf.train.adam(lr, betas[0], betas[1], 1e-8);
  return {
    minimize(loss: () => tfTypes.Scalar) {
      opt.minimize(loss, false, vars);
      if (wd > 0) for (const p of decayed) tf.tidy(() => p.assign(tf.mul(p, 1 - lr * wd)));
    },
    dispose: () => opt.dispose(),
  };
}

/** The MLP step: relu(x W1 + b1) W2 + b2, mean squared error against a fixed target, AdamW. */
export function tfMlp(tf: Tf, s: MlpShape, seed: number): TfStep {
  const x = tf.randomNormal([s.B, s.inF], 0, 1, 'float32', seed);
  const target = tf.randomNormal([s.B, s.inF], 0, 1, 'float32', seed + 1);
  const bound1 = 1 / Math.sqrt(s.inF);
  const bound2 = 1 / Math.sqrt(s.hidden);
  const W1 = tf.variable(tf.randomUniform([s.inF, s.hidden], -bound1, bound1, 'float32', seed + 2));
  const b1 = tf.variable(tf.randomUniform([s.hidden], -bound1, bound1, 'float32', seed + 3));
  const W2 = tf.variable(tf.randomUniform([s.hidden, s.inF], -bound2, bound2, 'float32', seed + 4));
  const b2 = tf.variable(tf.randomUniform([s.inF], -bound2, bound2, 'float32', seed + 5));
  const vars = [W1, b1, W2, b2];
  const opt = adamW(tf, vars, vars, 1e-3, 0.01, [0.9, 0.999]);
  return {
    step: () =>
      opt.minimize(() => {
        const h = tf.relu(tf.add(tf.matMul(x, W1), b1)); // (B, hidden)
        const y = tf.add(tf.matMul(h, W2), b2); // (B, in)
        return tf.mean(tf.square(tf.sub(y, target))) as tfTypes.Scalar;
      }),
    dispose: () => {
      opt.dispose();
      for (const t of [x, target, ...vars]) t.dispose();
    },
  };
}

/**
 * The default GPT (bench/training.ts's config) in tfjs ops: token + learned position embeddings,
 * pre-norm blocks (LayerNorm, causal multi-head attention, GELU MLP of 4·C, residuals), final
 * LayerNorm, LM head tied to the token embedding, mean cross-entropy; AdamW (β = 0.9, 0.95; decay on
 * matrices only, as nanoGPT and src/train/gpt.ts).
 */
export function tfGpt(tf: Tf, s: GptShape, ids: Int32Array, seed: number): TfStep {
  const { C, nHead: nh, T, B, vocab: V } = s;
  const hs = C / nh;
  let k = seed;
  const normal = (shape: number[], std: number) => tf.variable(tf.randomNormal(shape, 0, std, 'float32', k++));
  const zeros = (shape: number[]) => tf.variable(tf.zeros(shape));
  const ones = (shape: number[]) => tf.variable(tf.ones(shape));
  const resStd = 0.02 / Math.sqrt(2 * s.nLayer);
  const wte = normal([V, C], 0.02);
  const wpe = normal([T, C], 0.02);
  const blocks = Array.from({ length: s.nLayer }, () => ({
    ln1w: ones([C]),
    ln1b: zeros([C]),
    Wq: normal([C, C], 0.02),
    bq: zeros([C]),
    Wk: normal([C, C], 0.02),
    bk: zeros([C]),
    Wv: normal([C, C], 0.02),
    bv: zeros([C]),
    Wo: normal([C, C], resStd),
    bo: zeros([C]),
    ln2w: ones([C]),
    ln2b: zeros([C]),
    Wu: normal([C, 4 * C], 0.02),
    bu: zeros([4 * C]),
    Wd: normal([4 * C, C], resStd),
    bd: zeros([C]),
  }));
  const lnFw = ones([C]);
  const lnFb = zeros([C]);
  const vars = [wte, wpe, ...blocks.flatMap((b) => Object.values(b)), lnFw, lnFb];
  const decayed = vars.filter((v) => v.shape.length >= 2);
  const opt = adamW(tf, vars, decayed, 3e-3, 0.1, [0.9, 0.95]);

  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  const mask = tf.tensor2d(m, [T, T]);
  const pos = tf.range(0, T, 1, 'int32');
  // one fixed batch: consecutive windows of the corpus
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      x[b * T + t] = ids[b * T + t];
      y[b * T + t] = ids[b * T + t + 1];
    }
  }
  const idx = tf.tensor2d(x, [B, T], 'int32');
  const targets = tf.oneHot(tf.tensor1d(y, 'int32'), V); // (B·T, V)

  // Embedding lookups: tf.gather, whose gradient is UnsortedSegmentSum; tfjs-wasm 4.22 has no such
  // kernel, so there (only) the lookup gets a custom gradient: dW = scatterND(ids, dy), which sums
  // repeated ids like UnsortedSegmentSum.
  const flatIds = tf.reshape(idx, [B * T]) as tfTypes.Tensor1D; // (B·T,)
  const native = tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined;
  const embed = (W: T, at: tfTypes.Tensor1D, n: number): T => {
    if (native) return tf.gather(W, at);
    const f = tf.customGrad(((w: T) => ({
      value: tf.gather(w, at), // (n, C)
      gradFunc: (dy: T | T[]) => [tf.scatterND(tf.reshape(at, [n, 1]), dy as T, w.shape)], // (V, C)
    })) as unknown as Parameters<Tf['customGrad']>[0]);
    return f(W);
  };
  const heads = (t: T) => tf.transpose(tf.reshape(t, [B, T, nh, hs]), [0, 2, 1, 3]); // (B, nh, T, hs)
  const linear = (h: T, W: T, b: T) => tf.add(tf.matMul(h, W), b);
  const loss = (): tfTypes.Scalar => {
    const tok = tf.reshape(embed(wte, flatIds, B * T), [B, T, C]); // (B, T, C)
    let h = tf.reshape(tf.add(tok, embed(wpe, pos as tfTypes.Tensor1D, T)), [B * T, C]); // (B·T, C)
    for (const bl of blocks) {
      const a = layerNorm(tf, h, bl.ln1w, bl.ln1b);
      const q = heads(linear(a, bl.Wq, bl.bq));
      const kk = heads(linear(a, bl.Wk, bl.bk));
      const v = heads(linear(a, bl.Wv, bl.bv));
      const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, kk, false, true), 1 / Math.sqrt(hs)), mask)); // (B, nh, T, T)
      const yh = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * T, C]); // (B·T, C)
      h = tf.add(h, linear(yh, bl.Wo, bl.bo));
      const f = gelu(tf, linear(layerNorm(tf, h, bl.ln2w, bl.ln2b), bl.Wu, bl.bu)); // (B·T, 4C)
      h = tf.add(h, linear(f, bl.Wd, bl.bd));
    }
    const logits = tf.matMul(layerNorm(tf, h, lnFw, lnFb), wte, false, true); // (B·T, V)
    return tf.losses.softmaxCrossEntropy(targets, logits) as tfTypes.Scalar; // mean over rows
  };
  return {
    step: () => opt.minimize(loss),
    lossValue: async () => {
      const l = tf.tidy(loss);
      const v = (await l.data())[0];
      l.dispose();
      return v;
    },
    dispose: () => {
      opt.dispose();
      for (const t of [...vars, mask, pos, idx, flatIds, targets]) t.dispose();
    },
  };
}
