// y = f(x) elementwise. OP selects f (the names NEG, EXP, ... are module constants generated from the
// op table in src/ops/unary.ts); the switch on an override constant
// is folded when the pipeline is specialised, so each op compiles to its own straight-line kernel.
// a, b: scalar parameters (pow exponent, affine scale/shift). `main` computes one element per
// invocation, `main_vec4` four vec4s (n % 4 == 0: vec4 loads and stores; src/ops/elementwise.ts).
#include "common.wgsl"
#include "vec4_grid.wgsl"
#include "pow.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override OP: u32 = NEG;
const WG: u32 = 256u;

struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> u: Params;
@group(0) @binding(0) var<storage, read> x4: array<vec4<T>>;      // main_vec4
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<T>>;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below f32 resolution near 1).
fn erf_approx(z: f32) -> f32 {
  let s = sign(z);
  let v = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * v);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1.0 - poly * exp_f(-v * v));
}

// Every special value is handled by an explicit test on the input, not left to the builtins (WGSL
// leaves exp overflow, log(0), pow(0, -1), max/clamp of NaN and NaN comparisons to the driver); the
// results are IEEE's and torch's: NaN in, NaN out (exp_f, log_f, sqrt_f, rsqrt_f: common.wgsl).

fn sigmoid_f(v: f32) -> f32 {
  // Stable for large |v|: exp of a non-positive number only.
  if (is_nan(v)) { return v; }
  if (v >= 0.0) { return 1.0 / (1.0 + exp_f(-v)); }
  let e = exp_f(v);
  return e / (1.0 + e);
}

fn tanh_f(v: f32) -> f32 {
  // tanh() of large |v| can return NaN on some drivers; clamp where tanh is ±1 in f32 (the clamp
  // of NaN is the driver's: NaN is passed through before it).
  if (is_nan(v)) { return v; }
  return tanh(clamp(v, -15.0, 15.0));
}

// ---- sin cos erf log1p expm1 (WGSL's sin/cos promise accuracy on [-π, π] only; log1p, expm1 and
// erf lose all relative precision near 0 when written from exp/log) ----

// sin(v) (shift 0) or cos(v) = sin(v + π/2) (shift 1): v reduced by k·π/2 with π/2 split in three
// parts (Cody-Waite; k·P1 is exact for |k| < 2^16), then Cephes' sinf/cosf polynomials on
// [-π/4, π/4]. Measured absolute error: 1.2e-7 for |v| <= 1e4, 1e-6 to 1e5, 3e-2 to 1e6 (k·P1 is
// inexact from |k| = 2^16). Past ~1e7 one step can leave |r| > π/4: the step repeats (at most 8
// times, enough from 3.4e38), so the result stays in [-1, 1] though its phase is lost. sin(±Inf) is NaN.
fn sincos_f(v: f32, shift: u32) -> f32 {
  if (non_finite(v)) { return nan_f32(); }
  var r = v;
  var q = shift;
  for (var step = 0; step < 8 && abs(r) > 0.7853982; step++) {
    let k = round(r * 0.6366197723675814);
    r = ((r - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
    q += u32(k - 4.0 * floor(k * 0.25));                     // k mod 4, exact for any f32 k
  }
  q &= 3u;                                                   // the quadrant
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (q) {
    case 0u: { return s; }
    case 1u: { return c; }
    case 2u: { return -s; }
    default: { return -c; }
  }
}

// log(1 + v): 2·atanh(s), s = v / (2 + v), by its series for |v| < 0.5 (|s| <= 1/3, 9 terms), else log.
fn log1p_f(v: f32) -> f32 {
  if (is_nan(v) || v < -1.0) { return nan_f32(); }
  if (v == -1.0) { return neg_inf(); }
  if (abs(v) >= 0.5) { return log_f(1.0 + v); }
  let s = v / (2.0 + v);
  let z = s * s;
  let t = 1.0 / 15.0 + z * (1.0 / 17.0);
  return 2.0 * s * (1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0 + z * (1.0 / 13.0 + z * t)))))));
}

// exp(v) - 1: Taylor to v^10/10! for |v| < 0.5, else exp(v) - 1 (no cancellation there).
fn expm1_f(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  if (abs(v) >= 0.5) { return exp_f(v) - 1.0; }
  var t = 1.0 + v / 10.0;
  for (var k = 9.0; k >= 2.0; k -= 1.0) { t = 1.0 + v / k * t; }
  return v * t;
}

// erf: its Maclaurin series below 0.5 (relative accuracy near 0), erf_approx beyond.
fn erf_f(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  if (abs(v) >= 0.5) { return erf_approx(v); }
  let z = v * v;
  // 2/√π (v - v³/3 + v⁵/10 - v⁷/42 + v⁹/216 - v¹¹/1320 + v¹³/9360)
  let p = 1.0 - z * (1.0 / 3.0 - z * (1.0 / 10.0 - z * (1.0 / 42.0 - z * (1.0 / 216.0 - z * (1.0 / 1320.0 - z * (1.0 / 9360.0))))));
  return 1.1283791670955126 * v * p;
}

fn f(v: f32) -> f32 {
  switch OP {
    case NEG: { return -v; }
    case EXP: { return exp_f(v); }
    case LOG: { return log_f(v); }
    case SQRT: { return sqrt_f(v); }
    case RSQRT: { return rsqrt_f(v); }
    case ABS: { return abs(v); }
    case RELU: { return select(max(v, 0.0), v, is_nan(v)); }
    case GELU_TANH: {
      return 0.5 * v * (1.0 + tanh_f(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
    }
    case GELU_ERF: { return select(0.5 * v * (1.0 + erf_approx(v * INV_SQRT_2)), v, is_nan(v)); }
    case SILU: { return v * sigmoid_f(v); }
    case SIGMOID: { return sigmoid_f(v); }
    case TANH: { return tanh_f(v); }
    case POW: {                                             // scalar exponent a
      if (u.a == 0.0) { return 1.0; }                       // also for NaN, as torch
      if (u.a == 1.0) { return v; }
      if (u.a == 2.0) { return v * v; }
      return pow_f(v, u.a);
    }
    case AFFINE: { return u.a * v + u.b; }
    case SIGN: { return select(sign(v), 0.0, is_nan(v)); }  // sign(NaN) = 0, as torch
    case STEP: { return select(0.0, 1.0, v > 0.0 || is_nan(v)); }  // relu' (1 at NaN, as torch)
    case GELU_TANH_GRAD: {
      let inner = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      let t = tanh_f(inner);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
    }
    case GELU_ERF_GRAD: {
      if (is_nan(v)) { return v; }
      return 0.5 * (1.0 + erf_approx(v * INV_SQRT_2)) + v * exp_f(-0.5 * v * v) * INV_SQRT_2PI;
    }
    case SILU_GRAD: { let s = sigmoid_f(v); return s * (1.0 + v * (1.0 - s)); }
    // sin ... clamp_mask: a = the op's first parameter (beta, slope, alpha, min), b = its second
    case SIN: { return sincos_f(v, 0u); }
    case COS: { return sincos_f(v, 1u); }
    case ERF: { return erf_f(v); }
    case ERF_GRAD: { return select(1.1283791670955126 * exp_f(-v * v), v, is_nan(v)); }
    case LOG1P: { return log1p_f(v); }
    case EXPM1: { return expm1_f(v); }
    case FLOOR: { return select(floor(v), v, non_finite(v)); }
    case ROUND: { return select(round(v), v, non_finite(v)); }       // halves to even, as torch
    case SOFTPLUS: {                                             // a = beta, b = threshold
      if (is_nan(v)) { return v; }
      let z = v * u.a;
      if (z > u.b) { return v; }
      return log1p_f(exp_f(z)) / u.a;
    }
    case SOFTPLUS_GRAD: {
      if (is_nan(v)) { return v; }
      let z = v * u.a;
      return select(sigmoid_f(z), 1.0, z > u.b);
    }
    case LEAKY_RELU: { return select(v * u.a, v, v > 0.0 || is_nan(v)); }    // a = negative slope
    case LEAKY_RELU_GRAD: { return select(u.a, 1.0, v > 0.0 && !is_nan(v)); }
    case ELU: { return select(u.a * expm1_f(v), v, v > 0.0 || is_nan(v)); } // a = alpha
    case ELU_GRAD: { return select(u.a * exp_f(v), 1.0, v > 0.0 && !is_nan(v)); }   // NaN at NaN
    case CLAMP: {                                                // a = min, b = max (±Inf: none)
      if (is_nan(v)) { return v; }
      let r = select(v, u.a, v < u.a);
      return select(r, u.b, r > u.b);
    }
    case CLAMP_MASK: { return select(0.0, 1.0, v >= u.a && v <= u.b && !is_nan(v)); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i < u.n) {
    y[i] = T(f(f32(x[i])));
  }
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var k = 0u; k < VEC4_PER_THREAD; k++) {
    let i = vec4_index(gid, nwg, WG, k);  // elements 4i .. 4i + 3
    if (i < u.n / 4u) {
      let v = vec4<f32>(x4[i]);
      y4[i] = vec4<T>(vec4<f32>(f(v.x), f(v.y), f(v.z), f(v.w)));
    }
  }
}
