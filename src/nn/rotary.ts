// Rotary position embedding (RoPE, Su et al.), in the rotate_half layout of GPT-NeoX / LLaMA (HF):
// the head dim splits into halves x = [x1, x2]; pair i = (x1_i, x2_i) rotates by angle
// (t + offset)·θ_i with θ_i = base^(-2i/hs):
//
//   y = x·cos + rotate_half(x)·sin,   rotate_half(x) = [-x2, x1],
//   cos/sin tables [T, hs] = [cos(angles), cos(angles)] / [sin(angles), sin(angles)].
//
// Built from primitive ops (slice, neg, concat, mul, add), so its gradient comes from theirs
// (the rotation's transpose). The tables are computed in float64 on the host, uploaded once per
// (head size, base, backend) for the longest length seen, and sliced per call.
import { fail, fmtShape } from '../errors.js';
import { add, mul } from '../ops/binary.js';
import { tensor } from '../ops/creation.js';
import { concat, reshape, slice } from '../ops/shape.js';
import { neg } from '../ops/unary.js';
import { keep } from '../runtime.js';
import type { Backend } from '../backend/interface.js';
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';

interface Tables {
  len: number;
  /** [len, hs] */
  cos: Tensor;
  sin: Tensor;
}

const cache = new Map<string, Tables>();

/** Host tables of positions [0, len) (float64). */
export function rotaryTables(len: number, hs: number, base = 10000): { cos: Float64Array; sin: Float64Array } {
  const half = hs / 2;
  const cos = new Float64Array(len * hs);
  const sin = new Float64Array(len * hs);
  for (let t = 0; t < len; t++) {
    for (let i = 0; i < half; i++) {
      const a = t * base ** (-(2 * i) / hs);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[t * hs + i] = cos[t * hs + half + i] = c;
      sin[t * hs + i] = sin[t * hs + half + i] = s;
    }
  }
  return { cos, sin };
}

function tables(backend: Backend, len: number, hs: number, base: number, dtype: DType): Tables {
  const key = `${backend.name}:${hs}:${base}:${dtype}`;
  let t = cache.get(key);
  if (!t || t.len < len) {
    // Grow to a power of two so growing sequences re-upload rarely. Graphs never hold these tables
    // (only slices of them), so the old ones can go.
    const n = Math.max(16, 2 ** Math.ceil(Math.log2(len)));
    if (t) {
      t.cos.dispose();
      t.sin.dispose();
    }
    const h = rotaryTables(n, hs, base);
    t = {
      len: n,
      cos: keep(tensor(h.cos, [n, hs], { backend: backend.name, dtype })), // in x's float dtype
      sin: keep(tensor(h.sin, [n, hs], { backend: backend.name, dtype })),
    };
    cache.set(key, t);
  }
  return t;
}

/** Frees the cached cos/sin tables (they are rebuilt on demand). */
export function clearRotaryCache(): void {
  for (const t of cache.values()) {
    t.cos.dispose();
    t.sin.dispose();
  }
  cache.clear();
}

/**
 * Rotates q or k at positions offset..offset+T-1: x [B, nh, T, hs] (any leading dims; hs even), or
 * with `tokensFirst` x [B, T, nh, hs] (the layout attention reads without head copies). `offset` is
 * the absolute position of x's first token (a KV cache's length when decoding).
 */
export function applyRotary(x: Tensor, offset = 0, opts: { base?: number; tokensFirst?: boolean } = {}): Tensor {
  const op = 'applyRotary';
  const tAxis = opts.tokensFirst ? x.ndim - 3 : x.ndim - 2;
  if (tAxis < 0) fail(op, `expects ${opts.tokensFirst ? '[..., T, nh, hs]' : '[..., T, hs]'}, got ${fmtShape(x.shape)}`);
  const T = x.shape[tAxis];
  const hs = x.shape[x.ndim - 1];
  if (hs % 2 !== 0) fail(op, `the head size must be even, got ${hs} (x ${fmtShape(x.shape)})`);
  if (!Number.isInteger(offset) || offset < 0) fail(op, `offset must be a non-negative integer, got ${offset}`);
  const base = opts.base ?? 10000;
  const tb = tables(x.backend, offset + T, hs, base, x.dtype);
  const cut = (t: Tensor) => {
    const c = slice(t, 0, offset, offset + T); // (T, hs)
    return opts.tokensFirst ? reshape(c, [T, 1, hs]) : c; // (T, 1, hs) broadcasts over the heads
  };
  const cos = cut(tb.cos);
  const sin = cut(tb.sin);
  const half = hs / 2;
  const x1 = slice(x, -1, 0, half); // (..., hs/2)
  const x2 = slice(x, -1, half, hs); // (..., hs/2)
  const rot = concat([neg(x2), x1], -1); // (..., hs)
  return add(mul(x, cos), mul(rot, sin)); // x's shape
}
