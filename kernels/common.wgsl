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

// The 4 entries from offset r (1..3) of two consecutive aligned vec4s a, b: an unaligned vec4 load
// from a vec4 view (`array<vec4<f32>>`) of a float buffer.
fn join4(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  switch (r) {
    case 1u: { return vec4<f32>(a.yzw, b.x); }
    case 2u: { return vec4<f32>(a.zw, b.xy); }
    default: { return vec4<f32>(a.w, b.xyz); }
  }
}
