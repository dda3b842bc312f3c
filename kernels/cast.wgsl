// dtype conversion, by MODE: 1: f32 -> i32 (truncation toward zero, saturating); 0: i32 -> f32;
// 2: a plain 32-bit copy (clone); 3: f32 -> f16; 4: f16 -> f32; 5: a copy of n halves (f16 clone).
// float16 buffers are read and written as u32 words holding two halves (element 2k in the low 16
// bits), converted bit by bit: exact, round to nearest even, ±Inf and NaN kept, subnormals kept
// (WGSL leaves f16(x) out of range, and the rounding mode, to the implementation). One invocation
// per output word in modes 3 and 5, so no two invocations write the same word.
#include "common.wgsl"

override MODE: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> u: Params;

// Truncation toward zero, saturating at the i32 range, NaN -> 0 (WGSL leaves NaN to the driver).
fn to_i32(v: f32) -> i32 {
  if (is_nan(v)) { return 0; }
  if (v >= 2147483648.0) { return 2147483647; }
  if (v < -2147483648.0) { return -2147483647 - 1; }
  return i32(trunc(v));
}

// f32 bits -> the nearest binary16 bits (ties to even).
fn f16_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }          // NaN
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }         // >= 65520 (65504 + half an ulp): Inf
  if (a >= 0x38800000u) {                                  // >= 2^-14: a normal half
    let r = a - 0x38000000u;                               // exponent rebased from 127 to 15
    return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
  }
  let e = a >> 23u;
  if (e < 102u) { return sign; }                           // <= 2^-25 (exactly 2^-25 ties to 0)
  let m = (a & 0x7fffffu) | 0x800000u;                     // value = m · 2^(e-150)
  let shift = 126u - e;                                    // in units of 2^-24: m >> shift, shift in 14..24
  let q = m >> shift;
  let rem = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  return sign | select(q, q + 1u, rem > half || (rem == half && (q & 1u) == 1u));
}

// binary16 bits (low 16) -> f32 (exact).
fn f16_value(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }  // m · 2^-24
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (MODE == 3u) {
    // output word i: elements 2i, 2i+1
    if (2u * i < u.n) {
      let lo = f16_bits(x[2u * i]);
      let hi = select(0u, f16_bits(x[min(2u * i + 1u, u.n - 1u)]), 2u * i + 1u < u.n);
      y[i] = lo | (hi << 16u);
    }
    return;
  }
  if (MODE == 5u) {
    if (2u * i < u.n) { y[i] = x[i]; }
    return;
  }
  if (i < u.n) {
    if (MODE == 1u) { y[i] = bitcast<u32>(to_i32(bitcast<f32>(x[i]))); }
    else if (MODE == 0u) { y[i] = bitcast<u32>(f32(bitcast<i32>(x[i]))); }
    else if (MODE == 4u) { y[i] = bitcast<u32>(f16_value((x[i / 2u] >> (16u * (i % 2u))) & 0xffffu)); }
    else { y[i] = x[i]; }
  }
}
