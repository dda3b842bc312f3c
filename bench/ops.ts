// Memory-bound ops and the transformer's fused ops, side by side with the peers (bench/peers.ts):
// elementwise and reduction bandwidth (GB/s), softmax, layerNorm, attention (forward, and
// forward + backward). The bandwidth ceiling is the host's own: a 64 MiB Float32Array copy on this
// CPU (lavapipe's "device memory" is host memory), measured in the same run.
import * as mg from '../src/index.js';
import { cpus } from 'node:os';
import { type Args, timingOf, type Timing } from './common.js';
import { ortSession } from './onnx.js';
import { type CaseSpec, type Peers, type Row, runCase, type Tf } from './peers.js';

const F32 = 4;

/** Drops the .grad of leaves after a timed forward + backward (they are kept across tidy). */
function clearGrads(ts: mg.Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

/** LayerNorm as tfjs composes it (tf.layers.layerNormalization: moments, then scale and shift). */
function tfLayerNorm(
  tf: Tf,
  x: import('@tensorflow/tfjs').Tensor,
  w: import('@tensorflow/tfjs').Tensor,
  b: import('@tensorflow/tfjs').Tensor,
  eps = 1e-5,
) {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}

/** Causal attention from tfjs ops: q kᵀ · scale + mask, softmax, · v. mask: (T, T) 0 / -1e9. */
function tfAttention(
  tf: Tf,
  q: import('@tensorflow/tfjs').Tensor,
  k: import('@tensorflow/tfjs').Tensor,
  v: import('@tensorflow/tfjs').Tensor,
  mask: import('@tensorflow/tfjs').Tensor,
) {
  const hs = q.shape[q.shape.length - 1];
  const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), mask); // (B, nh, T, T)
  return tf.matMul(tf.softmax(s), v); // (B, nh, T, hs)
}

/** (T, T) additive causal mask for tfjs: 0 on and below the diagonal, -1e9 above. */
function tfCausalMask(tf: Tf, T: number) {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

export function opCases(quick: boolean): CaseSpec[] {
  const N = quick ? 1 << 20 : 1 << 22; // elementwise length
  const [R, C] = quick ? [1024, 1024] : [4096, 1024]; // reductions / broadcasting
  const [SR, SC] = quick ? [2048, 256] : [4096, 256]; // softmax, layerNorm rows x cols
  const att = { B: 16, nh: 4, T: 64, hs: 32 }; // the default GPT's attention
  const threads = cpus().length;
  const rnd = (shape: number[], seed: number, requiresGrad = false) => mg.randn(shape, { seed, requiresGrad });
  const qkvShape = [att.B, att.nh, att.T, att.hs];
  // causal attention multiply-adds counted in full (as the kernels compute them): q kᵀ and P v
  const attFlops = 2 * 2 * att.B * att.nh * att.T * att.T * att.hs;
  return [
    {
      group: 'elementwise',
      case: 'add a + b',
      shapes: `[${N}] + [${N}]`,
      work: 3 * N * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([N], 1);
        const b = rnd([N], 2);
        return {
          run: () => void mg.add(a, b),
          dispose: () => {
            a.dispose();
            b.dispose();
          },
        };
      },
      tf: (tf) => {
        const a = tf.randomNormal([N]);
        const b = tf.randomNormal([N]);
        return {
          run: () => void tf.add(a, b),
          dispose: () => {
            a.dispose();
            b.dispose();
          },
        };
      },
      ort: () =>
        ortSession(
          'Add',
          [
            ['a', [N]],
            ['b', [N]],
          ],
          [N],
          { threads },
        ),
    },
    {
      group: 'elementwise',
      case: 'exp(a)',
      shapes: `[${N}]`,
      work: 2 * N * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([N], 1);
        return { run: () => void mg.exp(a), dispose: () => a.dispose() };
      },
      tf: (tf) => {
        const a = tf.randomNormal([N]);
        return { run: () => void tf.exp(a), dispose: () => a.dispose() };
      },
      ort: () => ortSession('Exp', [['a', [N]]], [N], { threads }),
    },
    {
      group: 'elementwise',
      case: 'bias add (broadcast)',
      shapes: `[${R}, ${C}] + [${C}]`,
      work: (2 * R * C + C) * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([R, C], 1);
        const b = rnd([C], 2);
        return {
          run: () => void mg.add(a, b),
          dispose: () => {
            a.dispose();
            b.dispose();
          },
        };
      },
      tf: (tf) => {
        const a = tf.randomNormal([R, C]);
        const b = tf.randomNormal([C]);
        return {
          run: () => void tf.add(a, b),
          dispose: () => {
            a.dispose();
            b.dispose();
          },
        };
      },
      ort: () =>
        ortSession(
          'Add',
          [
            ['a', [R, C]],
            ['b', [C]],
          ],
          [R, C],
          { threads },
        ),
    },
    {
      group: 'reduction',
      case: 'sum (all)',
      shapes: `[${N}] -> []`,
      work: N * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([N], 1);
        return { run: () => void mg.sum(a), dispose: () => a.dispose() };
      },
      tf: (tf) => {
        const a = tf.randomNormal([N]);
        return { run: () => void tf.sum(a), dispose: () => a.dispose() };
      },
      ort: () => ortSession('ReduceSum', [['a', [N]]], [], { threads, attrs: { keepdims: 0 } }),
    },
    {
      group: 'reduction',
      case: 'row sum (last axis)',
      shapes: `[${R}, ${C}] -> [${R}]`,
      work: R * C * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([R, C], 1);
        return { run: () => void mg.sum(a, -1), dispose: () => a.dispose() };
      },
      tf: (tf) => {
        const a = tf.randomNormal([R, C]);
        return { run: () => void tf.sum(a, -1), dispose: () => a.dispose() };
      },
    },
    {
      group: 'reduction',
      case: 'column sum (bias grad)',
      shapes: `[${R}, ${C}] -> [${C}]`,
      work: R * C * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([R, C], 1);
        return { run: () => void mg.sum(a, 0), dispose: () => a.dispose() };
      },
      tf: (tf) => {
        const a = tf.randomNormal([R, C]);
        return { run: () => void tf.sum(a, 0), dispose: () => a.dispose() };
      },
    },
    {
      group: 'fused',
      case: 'softmax (last axis)',
      shapes: `[${SR}, ${SC}]`,
      work: 2 * SR * SC * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([SR, SC], 1);
        return { run: () => void mg.softmax(a, -1), dispose: () => a.dispose() };
      },
      tf: (tf) => {
        const a = tf.randomNormal([SR, SC]);
        return { run: () => void tf.softmax(a), dispose: () => a.dispose() };
      },
      ort: () => ortSession('Softmax', [['a', [SR, SC]]], [SR, SC], { threads, attrs: { axis: -1 } }),
    },
    {
      group: 'fused',
      case: 'layerNorm (w, b)',
      shapes: `[${SR}, ${SC}]`,
      work: 2 * SR * SC * F32,
      unit: 'GB/s',
      ours: () => {
        const a = rnd([SR, SC], 1);
        const w = rnd([SC], 2);
        const b = rnd([SC], 3);
        return {
          run: () => void mg.layerNorm(a, w, b),
          dispose: () => {
            a.dispose();
            w.dispose();
            b.dispose();
          },
        };
      },
      tf: (tf) => {
        const a = tf.randomNormal([SR, SC]);
        const w = tf.randomNormal([SC]);
        const b = tf.randomNormal([SC]);
        return {
          run: () => void tfLayerNorm(tf, a, w, b),
          dispose: () => {
            a.dispose();
            w.dispose();
            b.dispose();
          },
        };
      },
      ort: () =>
        ortSession(
          'LayerNormalization',
          [
            ['a', [SR, SC]],
            ['w', [SC]],
            ['b', [SC]],
          ],
          [SR, SC],
          {
            threads,
            attrs: { axis: -1, epsilon: { float: 1e-5 } },
          },
        ),
    },
    {
      group: 'fused',
      case: 'attention causal, forward',
      shapes: `q, k, v [${qkvShape}]`,
      work: attFlops,
      unit: 'GFLOP/s',
      ours: () => {
        const [q, k, v] = [1, 2, 3].map((s) => rnd(qkvShape, s));
        return { run: () => void mg.attention(q, k, v, { causal: true }), dispose: () => [q, k, v].forEach((t) => t.dispose()) };
      },
      tf: (tf) => {
        const [q, k, v] = [1, 2, 3].map(() => tf.randomNormal(qkvShape));
        const mask = tfCausalMask(tf, att.T);
        return { run: () => void tfAttention(tf, q, k, v, mask), dispose: () => [q, k, v, mask].forEach((t) => t.dispose()) };
      },
    },
    {
      group: 'fused',
      case: 'attention causal, fwd + bwd',
      shapes: `q, k, v [${qkvShape}]`,
      work: 3 * attFlops,
      unit: 'GFLOP/s',
      ours: () => {
        const [q, k, v] = [1, 2, 3].map((s) => rnd(qkvShape, s, true));
        const g = rnd(qkvShape, 4);
        return {
          run: () => {
            mg.attention(q, k, v, { causal: true }).backward(g);
            clearGrads([q, k, v]);
          },
          dispose: () => [q, k, v, g].forEach((t) => t.dispose()),
        };
      },
      tf: (tf) => {
        const [q, k, v, g] = [1, 2, 3, 4].map(() => tf.randomNormal(qkvShape));
        const mask = tfCausalMask(tf, att.T);
        const grads = tf.grads(
          (a: import('@tensorflow/tfjs').Tensor, b: import('@tensorflow/tfjs').Tensor, c: import('@tensorflow/tfjs').Tensor) =>
            tfAttention(tf, a, b, c, mask),
        );
        return { run: () => void grads([q, k, v], g), dispose: () => [q, k, v, g, mask].forEach((t) => t.dispose()) };
      },
    },
  ];
}

export interface HostBandwidth {
  /** GB/s of a 64 MiB Float32Array copy (read + write bytes), fastest of the samples. */
  gbps: number;
  timing: Timing;
}

/** The memory-bandwidth ceiling of this run: TypedArray.set of 64 MiB (bytes read + written). */
export async function hostBandwidth(quick: boolean): Promise<HostBandwidth> {
  const n = 16 << 20;
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n);
  dst.set(src);
  const samples: number[] = [];
  for (let i = 0; i < (quick ? 8 : 20); i++) {
    const t0 = performance.now();
    dst.set(src);
    samples.push((performance.now() - t0) / 1e3);
  }
  const timing = timingOf(samples);
  return { gbps: (2 * n * F32) / timing.min / 1e9, timing };
}

export async function benchOps(args: Args, peers: Peers, log: (s: string) => void = () => {}): Promise<Row[]> {
  const rows: Row[] = [];
  const opts = { quick: args.quick, maxTime: args.quick ? 0.25 : 1, minSamples: args.quick ? 3 : 5 };
  // tfjs-cpu (plain JS, the slowest peer by far) runs in the full bench only
  for (const spec of opCases(args.quick))
    rows.push(await runCase({ ...spec, skipInQuick: ['tfjs-cpu', ...(spec.skipInQuick ?? [])] }, peers, opts, log));
  return rows;
}
