// y = f(x) elementwise. OP selects f (codes in src/ops/unary.ts); the switch on an override constant
// is folded when the pipeline is specialised, so each op compiles to its own straight-line kernel.
// a, b: scalar parameters (pow exponent, affine scale/shift).
#include "common.wgsl"

override OP: u32 = 0u;
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
    case 0u: { return -v; }                                   // neg
    case 1u: { return exp(v); }                               // exp
    case 2u: { return log(v); }                               // log
    case 3u: { return sqrt(v); }                              // sqrt
    case 4u: { return inverseSqrt(v); }                       // rsqrt
    case 5u: { return abs(v); }                               // abs
    case 6u: { return max(v, 0.0); }                          // relu
    case 7u: {                                                // gelu (tanh)
      return 0.5 * v * (1.0 + tanh_f(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
    }
    case 8u: { return 0.5 * v * (1.0 + erf_approx(v * INV_SQRT_2)); } // gelu (erf)
    case 9u: { return v * sigmoid_f(v); }                     // silu
    case 10u: { return sigmoid_f(v); }                        // sigmoid
    case 11u: { return tanh_f(v); }                           // tanh
    case 12u: {                                               // pow (scalar exponent a)
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
    case 13u: { return u.a * v + u.b; }                       // affine
    case 14u: { return sign(v); }                             // sign
    case 15u: { return select(0.0, 1.0, v > 0.0); }           // step: relu'
    case 16u: {                                               // gelu' (tanh)
      let inner = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      let t = tanh_f(inner);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
    }
    case 17u: { return 0.5 * (1.0 + erf_approx(v * INV_SQRT_2)) + v * exp(-0.5 * v * v) * INV_SQRT_2PI; } // gelu' (erf)
    case 18u: { let s = sigmoid_f(v); return s * (1.0 + v * (1.0 - s)); } // silu'
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
