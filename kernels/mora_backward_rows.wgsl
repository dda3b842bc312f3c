// MoRA backward, fused, for CPU adapters: dx from g = dL/dy in ONE dispatch, plus the compressed
// operands of dM, with each entry of g and x read once and dx written once as whole vec4s
// (src/ops/mora.ts `backwardKernel`, docs/mora.md "The kernels"). Reads g (T, d), x (T, k), M (R, R);
// writes dx (T, k), U (R, nc·T) and V (R, nc·T), whose product U Vᵀ is dM (a second dispatch).
//
//   u_{t,c} = f_decompᵀ g_t,   dx_t = Σ_c f_compᵀ (Rot_cᵀ Mᵀ u_{t,c}),   dM = Σ_c Σ_t u_{t,c} v_{t,c}ᵀ
//
// The row-staged scheme (kernels/mora_rows.wgsl): a lane owns 4 tokens' whole rows.
//   1. It walks its rows of g once (whole-vec4 loads), adding each entry onto u of the (chunk, row)
//      that output copies, in its private `Ut`; when M wants a gradient it copies its rows of x
//      into `Xp` (`load_x`).
//   2. Per chunk c: v_c out of Xp (`comp4`) to V and u_c to U (one vec4 of 4 tokens per column when
//      T % 4 == 0), then w = Mᵀ u_c in blocks of 8 columns (type 6: the pairs l, l + R/2 that Rot_cᵀ
//      mixes) by the subgroup product, Rot_cᵀ, and w added onto the x positions that compress into
//      (c, l) in its private `Dx` (zeroed first: wrap-around and strided positions add up).
//   3. Its rows of dx out of Dx as whole vec4s.
#include "mora_rows.wgsl"

@group(0) @binding(0) var<storage, read> G4: array<vec4<f32>>;  // g (T, d), as vec4s
@group(0) @binding(1) var<storage, read> X4: array<vec4<f32>>;  // x (T, k)
@group(0) @binding(2) var<storage, read> Mw4: array<vec4<f32>>;  // M (R, R)
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4<f32>>;  // dx (T, k)
@group(0) @binding(4) var<storage, read_write> U4: array<vec4<f32>>;  // U (R, nc·T): u_{t,c}[a] at a·nc·T + c·T + t
@group(0) @binding(5) var<storage, read_write> V4: array<vec4<f32>>;  // V (R, nc·T): v_{t,c}[j] at j·nc·T + c·T + t
@group(0) @binding(6) var<uniform> u: Params;

var<private> Ut: array<f32, 4 * Z_ROWS>;   // u_{t+e,c}[a] at e·nz + c·R + a (nz = nc·R)
var<private> Dx: array<f32, 4 * XP_ROWS>;  // dx[t + e, p] at e·k + p

// Column q of the block from b0: l = b0 + q, or for type 6 the rotation pairs b0 + q (q < 4) and
// b0 + R/2 + q - 4 (q >= 4). Past R (or R/2): masked by the caller.
fn col_of(b0: u32, q: u32) -> u32 {
  if (rotated()) { return b0 + q % 4u + select(0u, u.R / 2u, q >= 4u); }
  return b0 + q;
}

// w[col_of(b0, q)] = Σ_a M[a, col] u[a] for q < 8 (lane q holds 4 entries of its column of M per 4
// steps, broadcast to the lanes) out of St[0 .. R).
fn product_t(lane: u32, b0: u32) -> array<vec4<f32>, AN> {
  var acc = array<vec4<f32>, AN>();
  let last = u.R - 1u;
  let col = min(col_of(b0, lane), last);    // columns past R: clamped, masked by the caller
  var s = 0u;
  for (; s + 4u <= u.R; s += 4u) {
    fma4x8(&acc, s, vec4<f32>(ld_m(s, col), ld_m(s + 1u, col), ld_m(s + 2u, col), ld_m(s + 3u, col)));
  }
  if (s < u.R) {
    let mv = vec4<f32>(ld_m(s, col), ld_m(min(s + 1u, last), col), ld_m(min(s + 2u, last), col), 0.0);
    fma4x8_tail(&acc, s, mv, u.R - s);
  }
  return acc;
}

// Dx[·, p] += w for this lane's 4 tokens.
fn add_dx(p: u32, w: vec4<f32>) {
  for (var e = 0u; e < 4u; e++) { Dx[e * u.k + p] += w[e]; }
}

// w (column l of chunk c) onto every x position that compresses into (c, l).
fn scatter_dx(c: u32, l: u32, w: vec4<f32>) {
  if (chunked()) { add_dx(wrap(c * u.R + l), w); return; }               // x_pad[cR + l]
  if (comp_strided()) {                                                  // x_pad[l + mR]
    for (var p = l; p < u.n * u.R; p += u.R) { add_dx(wrap(p), w); }
    return;
  }
  if (comp_groups()) {                                                   // the uneven contiguous group l of k
    let s0 = group_start(l, u.k, u.R);
    for (var i = s0; i < s0 + group_size(l, u.k, u.R); i++) { add_dx(i, w); }
    return;
  }
  if (l < u.k) { add_dx(l, w); }                                         // truncation: x[0 .. R)
}

// Column j of U (is_u) or V for chunk c out of St[j]: one vec4 store when T % 4 == 0, else entry by entry.
fn copy_out(t: u32, live: u32, c: u32, j: u32, is_u: bool) {
  let f = j * u.nc * u.T + c * u.T + t;
  let v = St[j];
  if ((u.T & 3u) == 0u) {
    if (is_u) { U4[f >> 2u] = v; } else { V4[f >> 2u] = v; }
    return;
  }
  for (var e = 0u; e < live; e++) {
    let i = f + e;
    if (is_u) { U4[i >> 2u][i & 3u] = v[e]; } else { V4[i >> 2u][i & 3u] = v[e]; }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let t = lin * BT + 4u * lane;             // this lane's first token (t·k, t·d: multiples of 4)
  let live = min(4u, u.T - min(u.T, t));    // of its 4 tokens, those < T
  let want_dx = u.want_dx != 0u;
  let want_dm = u.want_dm != 0u;
  let chunks = select(1u, u.nc, chunked());
  let nz = chunks * u.R;

  // 1. u = f_decompᵀ g into Ut, walking this lane's run of g (live·d entries) once; x into Xp
  for (var i = 0u; i < 4u * nz; i++) { Ut[i] = 0.0; }
  let period = select(u.R, u.n * u.R, chunked());  // tile: o mod R; chunked: o mod nR
  let qg = (t * u.d) >> 2u;
  if ((u.d & 3u) == 0u && (decomp_tile() || chunked())) {  // a vec4 is 4 outputs of one token
    let dq = u.d >> 2u;
    for (var e = 0u; e < live; e++) {
      let b = e * nz;
      var s = 0u;
      for (var q = 0u; q < dq; q++) {
        let v = G4[qg + e * dq + q];
        if (s + 4u <= period) {
          Ut[b + s] += v.x; Ut[b + s + 1u] += v.y; Ut[b + s + 2u] += v.z; Ut[b + s + 3u] += v.w;
          s += 4u;
        } else {
          for (var i = 0u; i < 4u; i++) {
            Ut[b + s] += v[i];
            s++;
            if (s == period) { s = 0u; }
          }
        }
        if (s == period) { s = 0u; }
      }
    }
  } else {
    let eg = live * u.d;                    // entries of the run
    var w = decomp_start();                 // the next entry and its row of u (mora_rows.wgsl)
    for (var q = 0u; q < (eg + 3u) / 4u; q++) {
      let v = G4[qg + q];
      for (var i = 0u; i < 4u; i++) {
        if (w.e < live && decomp_live(w)) { Ut[w.e * nz + min(w.s, nz - 1u)] += v[i]; }
        decomp_next(&w, period);
      }
    }
  }
  if (want_dm) { load_x(t); }
  if (want_dx) { for (var i = 0u; i < 4u * u.k; i++) { Dx[i] = 0.0; } }

  // 2. per chunk: v_c to V, u_c to U, w = Rot_cᵀ Mᵀ u_c onto Dx
  let h = u.R / 2u;
  let step = select(AN, AN / 2u, rotated());  // type 6: a block holds lb + q and lb + q + R/2 (q < 4)
  let lim = select(u.R, h, rotated());
  for (var c = 0u; c < chunks; c++) {
    if (want_dm && live > 0u) {
      for (var j = 0u; j < u.R; j++) { St[j] = comp4(c, j); copy_out(t, live, c, j, false); }
    }
    for (var a = 0u; a < u.R; a++) {
      let i = c * u.R + a;
      St[a] = vec4<f32>(Ut[i], Ut[nz + i], Ut[2u * nz + i], Ut[3u * nz + i]);
      if (want_dm && live > 0u) { copy_out(t, live, c, a, true); }
    }
    if (!want_dx) { continue; }
    for (var lb = 0u; lb < lim; lb += step) {
      let acc = product_t(lane, lb);
      for (var q = 0u; q < AN; q++) {
        let l = col_of(lb, q);
        if (select(lb + q >= u.R, lb + q % 4u >= h, rotated())) { continue; }
        var w = acc[q];
        if (rotated()) {  // Rotᵀ: w'[l] = w[l]·cos θ_l + (l < R/2 ? w[l + R/2] : -w[l - R/2])·sin θ_l
          let sc = rot_sc(c, l);
          if (q < 4u) { w = acc[q] * sc.y + acc[q + 4u] * sc.x; } else { w = acc[q] * sc.y - acc[q - 4u] * sc.x; }
        }
        scatter_dx(c, l, w);
      }
    }
  }
  if (!want_dx || live == 0u) { return; }

  // 3. dx[t .. t + live) out of Dx as whole vec4s (a partial last one entry by entry)
  let ex = live * u.k;
  let qx = (t * u.k) >> 2u;
  for (var q = 0u; q < ex / 4u; q++) {
    let i = 4u * q;
    dx4[qx + q] = vec4<f32>(Dx[i], Dx[i + 1u], Dx[i + 2u], Dx[i + 3u]);
  }
  for (var i = ex & ~3u; i < ex; i++) { dx4[qx + (i >> 2u)][i & 3u] = Dx[i]; }
}
