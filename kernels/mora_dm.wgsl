// dM = U Vᵀ: the cross-token reduction of the MoRA backward, its second dispatch on adapters that run
// the subgroup product (src/ops/mora.ts; elsewhere a plain matmul). U and V are both (R, K),
// K = nc·T (chunk, token) pairs, as kernels/mora_backward.wgsl writes them:
//
//   dM[a, j] = Σ_τ U[a, τ] · V[j, τ]        = Σ_s P[s, a, j],  P[s] the sum over K slice s
//
// The subgroup product (sg_fma.wgsl) with V staged: a workgroup owns 32 columns j (lane l: j0 + 4l
// .. + 3), a range of rows a and one slice of K. Each lane stages V[j .. j + 3, τ] for its slice's
// steps τ into St (4 loads of 4 consecutive τ, one per column, transposed in registers), then the
// workgroup sweeps its rows in blocks of 8, lane q holding U[a + q, τ .. τ + 3] (one vec4 per 4
// steps) for the others. A slice longer than ST_ROWS runs in passes that add onto P (this workgroup
// owns its block of P). The slices let small R still fill the CPU threads (R = 22: 3 workgroups
// without them); src/ops/mora.ts sums P over s when there is more than one.
#include "common.wgsl"
#include "sg_fma.wgsl"

struct Params {
  R: u32,      // dM is R x R
  K: u32,      // nc·T
  jb: u32,     // column blocks of 32: ceil(R / 32)
  arows: u32,  // rows a per workgroup (a multiple of 8)
  ab: u32,     // row ranges: ceil(R / arows)
  kslice: u32, // steps τ per slice (a multiple of 4)
  total: u32,  // workgroups with work: jb · ab · slices
}

@group(0) @binding(0) var<storage, read> U4: array<vec4<f32>>;  // U (R, K), read as vec4s
@group(0) @binding(1) var<storage, read> V4: array<vec4<f32>>;  // V (R, K), read as vec4s
@group(0) @binding(2) var<storage, read_write> P: array<f32>;   // (slices, R, R)
@group(0) @binding(3) var<uniform> u: Params;

// A lane reads only its own columns of V: St is a private array (as in mora_product_sg.wgsl), its
// ST_ROWS steps per pass a module constant from the shader's name (src/ops/mora-tiling.ts).
var<private> St: array<vec4<f32>, ST_ROWS>;  // St[s] = V[j .. j + 3, k0 + s], this lane's columns

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
  let j0 = (lin % u.jb) * 32u;            // grid: (column block, row range, slice), column block fastest
  let rest = lin / u.jb;
  let a_lo = (rest % u.ab) * u.arows;
  let slice = rest / u.ab;
  let a_hi = min(u.R, a_lo + u.arows);
  let k_lo = slice * u.kslice;
  let k_hi = min(u.K, k_lo + u.kslice);
  let j = j0 + 4u * lane;                  // this lane's columns j .. j + 3 (past R: never written)
  let last = u.R - 1u;
  let vr = vec4<u32>(min(j, last), min(j + 1u, last), min(j + 2u, last), min(j + 3u, last)) * u.K;
  let out = slice * u.R * u.R;
  let S = ST_ROWS;
  for (var k0 = k_lo; k0 < k_hi; k0 += S) {
    let kn = min(S, k_hi - k0);
    for (var s = 0u; s < kn; s += 4u) {    // 4 steps x 4 columns, transposed
      let c0 = v4(vr.x + k0 + s);
      let c1 = v4(vr.y + k0 + s);
      let c2 = v4(vr.z + k0 + s);
      let c3 = v4(vr.w + k0 + s);
      St[s] = vec4<f32>(c0.x, c1.x, c2.x, c3.x);
      if (s + 1u < kn) { St[s + 1u] = vec4<f32>(c0.y, c1.y, c2.y, c3.y); }
      if (s + 2u < kn) { St[s + 2u] = vec4<f32>(c0.z, c1.z, c2.z, c3.z); }
      if (s + 3u < kn) { St[s + 3u] = vec4<f32>(c0.w, c1.w, c2.w, c3.w); }
    }
    for (var a0 = a_lo; a0 < a_hi; a0 += 8u) {
      var acc = array<vec4<f32>, 8>();    // acc[q][e] = P[a0 + q, j + e]
      let urow = min(a0 + lane, last) * u.K + k0;
      var s = 0u;
      for (; s + 4u <= kn; s += 4u) { fma4x8(&acc, s, u4(urow + s)); }
      if (s < kn) { fma4x8_tail(&acc, s, u4(urow + s), kn - s); }
      for (var q = 0u; q < 8u; q++) {
        let a = a0 + q;
        if (a >= a_hi) { break; }
        for (var e = 0u; e < 4u; e++) {
          if (j + e >= u.R) { break; }
          let i = out + a * u.R + j + e;
          if (k0 > k_lo) { P[i] += acc[q][e]; } else { P[i] = acc[q][e]; }
        }
      }
    }
  }
}
