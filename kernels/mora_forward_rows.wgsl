// MoRA forward, fused, for CPU adapters: y = f_decomp(M · f_comp(x)) in ONE dispatch with each entry
// of x read once and each entry of y written once, as whole vec4s (src/ops/mora.ts `forwardKernel`,
// docs/mora.md "The kernels"). Reads x (T, k) and M (R, R), writes y (T, d).
//
// The row-staged scheme (kernels/mora_rows.wgsl): a lane owns 4 tokens' whole rows.
//   1. The lane copies its rows of x into its private `Xp` (at most k vec4 loads).
//   2. Per chunk c (types 6/8: c < nc; other types: one) it compresses its 4 tokens out of Xp into
//      its private `St` (v_{t,c}[j] as a vec4 over the tokens: padding, groups, truncation and
//      rotation applied to the staged rows), then runs the subgroup product
//      z_{t,c}[a] = Σ_j M[a, j] v_{t,c}[j] in blocks of 8 rows a (kernels/sg_fma.wgsl) into its
//      private `Z` (per token, chunk and row a).
//   3. It builds its rows of y vec4 by vec4 out of Z through the decompression map and stores each
//      (d vec4 stores; past T the run stops, a partial last vec4 entry by entry).
// The host picks this kernel where Xp, St and Z fit their sizes (src/ops/mora-tiling.ts `rowsFit`);
// kernels/mora_forward.wgsl is the kernel otherwise.
#include "mora_rows.wgsl"

@group(0) @binding(0) var<storage, read> X4: array<vec4<f32>>;  // x (T, k), as vec4s
@group(0) @binding(1) var<storage, read> Mw4: array<vec4<f32>>;  // M (R, R), as vec4s
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;  // y (T, d), as vec4s
@group(0) @binding(3) var<uniform> u: Params;

var<private> Z: array<f32, 4 * Z_ROWS>;         // z_{t+e,c}[a] at e·nz + c·R + a (nz = nc·R)

// z[a0 + q] for q < 8 (lane q holds M's row a0 + q, broadcast 4 steps at a time) out of St[0 .. R).
fn product(lane: u32, a0: u32) -> array<vec4<f32>, AN> {
  var acc = array<vec4<f32>, AN>();
  let row = min(a0 + lane, u.R - 1u) * u.R;  // rows past R: clamped, never stored
  var s = 0u;
  for (; s + 4u <= u.R; s += 4u) { fma4x8(&acc, s, m4(row + s)); }
  if (s < u.R) { fma4x8_tail(&acc, s, m4(row + s), u.R - s); }
  return acc;
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let t = lin * BT + 4u * lane;            // this lane's first token (t·k, t·d: multiples of 4)
  let live = min(4u, u.T - min(u.T, t));   // of its 4 tokens, those < T

  // 1. x[t .. t + 4) into Xp
  load_x(t);

  // 2. per chunk: compress into St, z = M v into Z
  let chunks = select(1u, u.nc, chunked());
  let nz = chunks * u.R;
  for (var c = 0u; c < chunks; c++) {
    for (var j = 0u; j < u.R; j++) { St[j] = comp4(c, j); }
    for (var a0 = 0u; a0 < u.R; a0 += AN) {
      let acc = product(lane, a0);
      for (var q = 0u; q < min(AN, u.R - a0); q++) {
        let i = c * u.R + a0 + q;
        Z[i] = acc[q].x; Z[nz + i] = acc[q].y; Z[2u * nz + i] = acc[q].z; Z[3u * nz + i] = acc[q].w;
      }
    }
  }
  if (live == 0u) { return; }

  // 3. y[t .. t + live) out of Z, one vec4 (4 consecutive entries of the flat run) at a time
  let period = select(u.R, u.n * u.R, chunked());  // tile: Z[o mod R]; chunked: Z[o mod nR]
  let qy = (t * u.d) >> 2u;
  if ((u.d & 3u) == 0u && (decomp_tile() || chunked())) {  // a vec4 is 4 outputs of one token
    let dq = u.d >> 2u;
    for (var e = 0u; e < live; e++) {
      let b = e * nz;
      var s = 0u;
      for (var q = 0u; q < dq; q++) {
        var v: vec4<f32>;
        if (s + 4u <= period) {
          v = vec4<f32>(Z[b + s], Z[b + s + 1u], Z[b + s + 2u], Z[b + s + 3u]);
          s += 4u;
        } else {
          for (var i = 0u; i < 4u; i++) {
            v[i] = Z[b + s];
            s++;
            if (s == period) { s = 0u; }
          }
        }
        if (s == period) { s = 0u; }
        y4[qy + e * dq + q] = v;
      }
    }
    return;
  }
  let ey = live * u.d;                     // entries of the run
  var w = decomp_start();                  // the next entry and its Z row (mora_rows.wgsl)
  for (var q = 0u; q < (ey + 3u) / 4u; q++) {
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
      if (w.e < 4u && decomp_live(w)) { v[i] = Z[w.e * nz + min(w.s, nz - 1u)]; }
      decomp_next(&w, period);
    }
    if (4u * q + 4u <= ey) { y4[qy + q] = v; }
    else { for (var i = 0u; i < ey - 4u * q; i++) { y4[qy + q][i] = v[i]; } }
  }
}
