// y = f(x) elementwise. OP selects f (the names NEG, EXP, ... are module constants generated from the
// op table in src/ops/unary.ts); the switch on an override constant
// is folded when the pipeline is specialised, so each op compiles to its own straight-line kernel.
// a, b: scalar parameters (pow exponent, affine scale/shift).
#include "common.wgsl"

override OP: u32 = NEG;
const WG: u32 = 256u;

struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
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
  return s * (1.0 - poly * exp(-v * v));
}

// A quiet NaN made at run time (a constant NaN is rejected by the WGSL compiler).
fn nan() -> f32 {
  return bitcast<f32>(0x7fc00000u | (bitcast<u32>(u.a) & 0u));
}

fn sigmoid_f(v: f32) -> f32 {
  // Stable for large |v|: exp of a non-positive number only.
  if (v >= 0.0) { return 1.0 / (1.0 + exp(-v)); }
  let e = exp(v);
  return e / (1.0 + e);
}

fn tanh_f(v: f32) -> f32 {
  // tanh() of large |v| can return NaN on some drivers; clamp where tanh is ±1 in f32.
  return tanh(clamp(v, -15.0, 15.0));
}

fn f(v: f32) -> f32 {
  switch OP {
    case NEG: { return -v; }
    case EXP: { return exp(v); }
    case LOG: { return log(v); }
    case SQRT: { return sqrt(v); }
    case RSQRT: { return inverseSqrt(v); }
    case ABS: { return abs(v); }
    case RELU: { return max(v, 0.0); }
    case GELU_TANH: {
      return 0.5 * v * (1.0 + tanh_f(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
    }
    case GELU_ERF: { return 0.5 * v * (1.0 + erf_approx(v * INV_SQRT_2)); }
    case SILU: { return v * sigmoid_f(v); }
    case SIGMOID: { return sigmoid_f(v); }
    case TANH: { return tanh_f(v); }
    case POW: {                                             // scalar exponent a
      if (u.a == 2.0) { return v * v; }
      if (u.a == 1.0) { return v; }
      if (u.a == 0.0) { return 1.0; }
      let r = pow(abs(v), u.a);
      // odd integer exponents keep the sign; other exponents of negatives are NaN (as in torch)
      if (v < 0.0) {
        if (fract(u.a) != 0.0) { return nan(); }
        if (fract(u.a * 0.5) != 0.0) { return -r; }
      }
      return r;
    }
    case AFFINE: { return u.a * v + u.b; }
    case SIGN: { return sign(v); }
    case STEP: { return select(0.0, 1.0, v > 0.0); }        // relu'
    case GELU_TANH_GRAD: {
      let inner = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      let t = tanh_f(inner);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
    }
    case GELU_ERF_GRAD: { return 0.5 * (1.0 + erf_approx(v * INV_SQRT_2)) + v * exp(-0.5 * v * v) * INV_SQRT_2PI; }
    case SILU_GRAD: { let s = sigmoid_f(v); return s * (1.0 + v * (1.0 - s)); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i < u.n) {
    y[i] = f(x[i]);
  }
}
