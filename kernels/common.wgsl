// Shared helpers, pasted into a kernel by `#include "common.wgsl"`.
//
// Dims: shapes and strides travel in uniforms as `array<vec4<u32>, 2>` (up to 8 dims, the uniform
// address space needs 16-byte array strides); `dim(d, i)` reads entry i.

fn dim(d: array<vec4<u32>, 2>, i: u32) -> u32 {
  return d[i / 4u][i % 4u];
}

// Linear invocation id for 1-D work spread over a 2-D grid (x is capped at 65535 workgroups).
// Dispatch with grid1d(n, WG) from src/ops/grid.ts.
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg_size;
}

// True for NaN and ±Inf (exponent bits all ones).
fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// NaN test on the bit pattern (`x != x` may be folded away by fast-math compilers).
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Special values built at run time (a constant expression may not evaluate to NaN or an infinity).
fn neg_inf() -> f32 { var b = 0xff800000u; return bitcast<f32>(b); }
fn pos_inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn nan_f32() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }

// A mask entry counts as true when nonzero, NaN included (lavapipe's NaN != 0 is false).
fn nonzero(x: f32) -> bool { return x != 0.0 || is_nan(x); }

// WGSL leaves max/min/clamp of NaN to the implementation; these propagate it (as torch.maximum),
// and on ties (-0 and 0) return a, as torch.
fn max_nan(a: f32, b: f32) -> f32 { return select(select(a, b, a < b), nan_f32(), is_nan(a) || is_nan(b)); }
fn min_nan(a: f32, b: f32) -> f32 { return select(select(a, b, b < a), nan_f32(), is_nan(a) || is_nan(b)); }

// The 4 entries from offset r (1..3) of two consecutive aligned vec4s a, b: an unaligned vec4 load
// from a vec4 view (`array<vec4<f32>>`) of a float buffer.
fn join4(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  switch (r) {
    case 1u: { return vec4<f32>(a.yzw, b.x); }
    case 2u: { return vec4<f32>(a.zw, b.xy); }
    default: { return vec4<f32>(a.w, b.xyz); }
  }
}

// exp, log, sqrt and inverseSqrt with IEEE's (and torch's) answers at NaN, ±Inf, ±0 and on
// overflow, tested on the input instead of left to the builtin.
const EXP_MAX: f32 = 88.72284;    // exp(v) > f32 max above this
const EXP_MIN: f32 = -103.97208;  // exp(v) < the smallest f32 subnormal / 2 below this

fn exp_f(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  if (v > EXP_MAX) { return pos_inf(); }
  if (v < EXP_MIN) { return 0.0; }
  return exp(v);
}

fn log_f(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) { return nan_f32(); }
  if (v == 0.0) { return neg_inf(); }
  if (v == pos_inf()) { return v; }
  return log(v);
}

fn sqrt_f(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) { return nan_f32(); }
  if (v == pos_inf() || v == 0.0) { return v; }
  return sqrt(v);
}

fn neg_zero(v: f32) -> bool { return bitcast<u32>(v) == 0x80000000u; }

fn rsqrt_f(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) { return nan_f32(); }
  if (v == 0.0) { return select(pos_inf(), neg_inf(), neg_zero(v)); }   // 1 / ±0
  if (v == pos_inf()) { return 0.0; }
  return inverseSqrt(v);
}

// Online log-sum-exp state of a row: (running max m, sum s of exp(x - m)), empty = (-Inf, 0).
// NaN or +Inf anywhere makes s NaN for good (the row's softmax is NaN, as torch: +Inf - +Inf);
// -Inf entries add nothing. Explicit tests, since WGSL promises nothing about NaN in comparisons.
fn lse_push(ms: vec2<f32>, v: f32) -> vec2<f32> {
  if (is_nan(ms.y) || is_nan(v) || v == pos_inf()) { return vec2<f32>(ms.x, nan_f32()); }
  if (v == neg_inf()) { return ms; }
  if (v > ms.x) { return vec2<f32>(v, select(ms.y * exp(ms.x - v), 0.0, ms.x == neg_inf()) + 1.0); }
  return vec2<f32>(ms.x, ms.y + exp(v - ms.x));
}

// Two lse_push states merged: both sums rescaled to the larger max.
fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  if (is_nan(a.y) || is_nan(b.y)) { return vec2<f32>(a.x, nan_f32()); }
  if (b.x == neg_inf()) { return a; }
  if (a.x == neg_inf()) { return b; }
  if (b.x > a.x) { return vec2<f32>(b.x, a.y * exp(a.x - b.x) + b.y); }
  return vec2<f32>(a.x, a.y + b.y * exp(b.x - a.x));
}
