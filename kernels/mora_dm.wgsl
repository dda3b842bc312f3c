// dM = U V: the cross-token reduction of the MoRA backward, its second dispatch on adapters that run
// the subgroup product (src/ops/mora.ts; elsewhere a plain matmul). U (R, K) and V (K, R), K = nc·T,
// as kernels/mora_backward.wgsl writes them:
//
//   dM[a, j] = Σ_τ U[a, τ] · V[τ, j]
//
// The subgroup product (sg_fma.wgsl) with V staged: a workgroup owns 32 columns j (lane l: j0 + 4l
// .. + 3, one vec4) and a range of rows a. Each lane stages its V[τ, j .. j + 3] for S = ST_ROWS
// steps τ into St, then the workgroup sweeps its rows in blocks of 8, lane q holding
// U[a + q, τ .. τ + 3] (a contiguous run: one vec4 per 4 steps) for the others. K runs in passes of S steps that add onto dM (this
// workgroup owns its block of dM).
#include "common.wgsl"
#include "sg_fma.wgsl"

struct Params {
  R: u32,      // dM is R x R
  K: u32,      // nc·T
  jb: u32,     // column blocks of 32: ceil(R / 32)
  arows: u32,  // rows a per workgroup (a multiple of 8)
  total: u32,  // workgroups with work
}

@group(0) @binding(0) var<storage, read> U4: array<vec4<f32>>;  // U (R, K), read as vec4s
@group(0) @binding(1) var<storage, read> V4: array<vec4<f32>>;  // V (K, R), read as vec4s
@group(0) @binding(2) var<storage, read_write> dM: array<f32>;  // (R, R)
@group(0) @binding(3) var<uniform> u: Params;

// A lane reads only its own columns of V: St is a private array (as in mora_product_sg.wgsl), its
// ST_ROWS steps per pass a module constant from the shader's name (src/ops/mora.ts).
var<private> St: array<vec4<f32>, ST_ROWS>;  // St[s] = V[k0 + s, j .. j + 3], this lane's columns

// buf[i .. i + 3] (flat index, any alignment); past the end: whatever the clamped loads give
// (entries the callers never keep).
fn u4(i: u32) -> vec4<f32> {
  let a = U4[i >> 2u];
  if ((i & 3u) == 0u) { return a; }
  return join4(a, U4[(i >> 2u) + 1u], i & 3u);
}
fn v4(i: u32) -> vec4<f32> {
  let a = V4[i >> 2u];
  if ((i & 3u) == 0u) { return a; }
  return join4(a, V4[(i >> 2u) + 1u], i & 3u);
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let j0 = (lin % u.jb) * 32u;            // grid: (column block, row range), column block fastest
  let a_lo = (lin / u.jb) * u.arows;
  let a_hi = min(u.R, a_lo + u.arows);
  let j = j0 + 4u * lane;                  // this lane's columns j .. j + 3 (past R: never written)
  let S = ST_ROWS;
  for (var k0 = 0u; k0 < u.K; k0 += S) {
    let kn = min(S, u.K - k0);
    for (var s = 0u; s < kn; s++) { St[s] = v4((k0 + s) * u.R + j); }
    for (var a0 = a_lo; a0 < a_hi; a0 += 8u) {
      var acc = array<vec4<f32>, 8>();    // acc[q][e] = dM[a0 + q, j + e]
      let urow = min(a0 + lane, u.R - 1u) * u.K + k0;
      var s = 0u;
      for (; s + 4u <= kn; s += 4u) { fma4x8(&acc, s, u4(urow + s)); }
      if (s < kn) { fma4x8_tail(&acc, s, u4(urow + s), kn - s); }
      for (var q = 0u; q < 8u; q++) {
        let a = a0 + q;
        if (a >= a_hi) { break; }
        for (var e = 0u; e < 4u; e++) {
          if (j + e >= u.R) { break; }
          let i = a * u.R + j + e;
          if (k0 > 0u) { dM[i] += acc[q][e]; } else { dM[i] = acc[q][e]; }
        }
      }
    }
  }
}
