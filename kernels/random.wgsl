// Counter-based random numbers: element i of a stream depends only on (seed, i), so the webgpu and
// cpu backends produce the same bits (src/ops/random.ts mirrors this with Math.imul).
//   bits(i) = pcg(pcg(i) ^ key),  key = pcg(seed)
//   uniform: (bits >> 8) / 2^24 in [0, 1) -> low + (high - low)·u
//   normal:  Box-Muller on bits(2i), bits(2i+1) -> mean + std·z
// ln(u1) and cos(2π·u2) are computed here from exactly reduced arguments, not by WGSL's log() and
// cos(): those may err by 2^-21 and 2^-11 absolute, which made normals near zero (u1 near 1, or u2
// near a quarter) differ between backends in their third significant digit. With the reductions
// below the two backends agree to float32 rounding.
#include "common.wgsl"

override NORMAL: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32, key: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> u: Params;

fn pcg(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn bits(i: u32) -> u32 {
  return pcg(pcg(i) ^ u.key);
}

const HALF_PI: f32 = 1.5707963267948966;

// ln 2 = LN2_HI + LN2_LO, LN2_HI with 16 significant bits so that e·LN2_HI is exact
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.4286068202862268e-6;
const SQRT2: f32 = 1.4142135623730951;

// ln(k / 2^24) for k in [1, 2^24]: k = m·2^e with m in [√½, √2) (exact), ln m = 2·atanh(s) with
// s = (m - 1)/(m + 1), |s| <= 0.172, by its series to s^13 (truncation < 1e-12).
fn ln_k24(k: u32) -> f32 {
  var e = i32(firstLeadingBit(k));
  var m = ldexp(f32(k), -e);                  // [1, 2)
  if (m > SQRT2) { m = 0.5 * m; e = e + 1; }  // [√½, √2)
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let lnm = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0)))))));
  let fe = f32(e - 24);
  return fe * LN2_HI + (fe * LN2_LO + lnm);
}

// sin x and cos x for x in [0, π/4] (Taylor to x^9 / x^10: truncation < 2e-9, below float32's step)
fn sin_q(x: f32) -> f32 {
  let x2 = x * x;
  return x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
}
fn cos_q(x: f32) -> f32 {
  let x2 = x * x;
  return 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
}

// cos(2π·u) for u = k / 2^24: t = 4u splits exactly into a quadrant q and a fraction f in [0, 1);
// cos(qπ/2 + fπ/2) is ±cos or ±sin of fπ/2, and fractions above 1/2 use the complement 1 - f (exact).
fn cos_two_pi(u: f32) -> f32 {
  let t = 4.0 * u;
  let q = u32(t);
  let f = t - f32(q);
  let lo = f <= 0.5;
  let x = select(1.0 - f, f, lo) * HALF_PI;
  let c = select(sin_q(x), cos_q(x), lo);   // cos(fπ/2)
  let s = select(cos_q(x), sin_q(x), lo);   // sin(fπ/2)
  switch q {
    case 0u: { return c; }
    case 1u: { return -s; }
    case 2u: { return -c; }
    default: { return s; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  if (NORMAL == 1u) {
    let ln_u1 = ln_k24((bits(2u * i) >> 8u) + 1u);             // ln u1, u1 in (0, 1]
    let u2 = f32(bits(2u * i + 1u) >> 8u) / 16777216.0;       // [0, 1)
    y[i] = u.a + u.b * sqrt(-2.0 * ln_u1) * cos_two_pi(u2);
  } else {
    y[i] = u.a + (u.b - u.a) * (f32(bits(i) >> 8u) / 16777216.0);
  }
}
