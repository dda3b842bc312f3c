// y = f(x) elementwise. OP selects f (the names NEG, EXP, ... are module constants generated from the
// op table in src/ops/unary.ts); the switch on an override constant
// is folded when the pipeline is specialised, so each op compiles to its own straight-line kernel.
// a, b: scalar parameters (pow exponent, affine scale/shift).
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override OP: u32 = NEG;
const WG: u32 = 256u;

struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> u: Params;

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

// v^p for p != 0 (torch's and C's pow): 0^p is 0 for p > 0 and +Inf for p < 0, Inf^p the other
// way round; odd integer exponents keep the sign (also of ±0 and ±Inf); other exponents of finite
// negatives are NaN. Exponents ±0.5 are sqrt and rsqrt, as in torch (so (-Inf)^0.5 is NaN, not
// C's +Inf).
fn pow_f(v: f32, p: f32) -> f32 {
  if (p == 0.5) { return sqrt_f(v); }
  if (p == -0.5) { return rsqrt_f(v); }
  if (is_nan(v)) { return v; }
  let neg = v < 0.0 || neg_zero(v);
  let odd = fract(p) == 0.0 && fract(p * 0.5) != 0.0;
  let a = abs(v);
  var r = 0.0;
  if (a == pos_inf()) {
    r = select(pos_inf(), 0.0, p < 0.0);
  } else if (v < 0.0 && fract(p) != 0.0) {
    return nan_f32();
  } else if (a == 0.0) {
    r = select(0.0, pos_inf(), p < 0.0);
  } else {
    let e = p * log2(a);                                 // r = 2^e, overflow and underflow explicit
    if (e >= 128.0) { r = pos_inf(); } else if (e < -150.0) { r = 0.0; } else { r = pow(a, p); }
  }
  return select(r, -r, neg && odd);
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
