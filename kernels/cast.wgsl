// dtype conversion: TO_INT = 1: f32 -> i32 (truncation toward zero, saturating); TO_INT = 0: i32 -> f32;
// TO_INT = 2: a plain 32-bit copy (clone).
#include "common.wgsl"

override TO_INT: u32 = 0u;
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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i < u.n) {
    if (TO_INT == 1u) { y[i] = bitcast<u32>(to_i32(bitcast<f32>(x[i]))); }
    else if (TO_INT == 0u) { y[i] = bitcast<u32>(f32(bitcast<i32>(x[i]))); }
    else { y[i] = x[i]; }
  }
}
