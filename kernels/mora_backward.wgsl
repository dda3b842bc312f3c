// MoRA backward, fused: dx from g = dL/dy in ONE dispatch, plus the compressed operands of dM
// (src/ops/mora.ts, docs/mora.md). Reads g (T, d), x (T, k), M (R, R); writes dx (T, k), U (R, nc·T)
// and V (R, nc·T), whose product U Vᵀ is dM (the cross-token reduction, a second dispatch).
//
//   u_{t,c} = f_decompᵀ g_t            (the sum of g over the outputs that copy z_{t,c}[a])
//   dx_t    = f_compᵀ (Rot_cᵀ Mᵀ u_{t,c})
//   dM      = Σ_c Σ_t u_{t,c} v_{t,c}ᵀ  (v: the compressed / rotated input) = U Vᵀ
//
// A workgroup owns a block of BT tokens, every chunk and every position, and (WGA = 1) a lane owns
// 4 tokens' whole rows of dx: it zeroes the wrap-around positions (several x_pad preimages) and adds
// onto them in a fixed order, assigns the others; no write conflicts, no second dispatch for dx. Per
// chunk it stages v and u (mora_stage.wgsl `stage_block`) and copies them out to V and U (when M
// wants a gradient), then runs blocks of w = Mᵀ u (`product_range`) out of the staged u and applies
// Rot_cᵀ in the epilogue: for type 6 a block holds the columns l and l + R/2 together, the pairs the
// rotation mixes. A lane's 8 columns go to dx as runs of consecutive positions, stored as whole
// aligned vec4s where they cover them (fewer, wider stores). When u_c
// does not fit in St, K runs in passes that add onto dx.
#include "mora_block.wgsl"

@group(0) @binding(0) var<storage, read> G4: array<vec4<f32>>;  // g (T, d), read as vec4s
@group(0) @binding(1) var<storage, read> X4: array<vec4<f32>>;  // x (T, k)
@group(0) @binding(2) var<storage, read> Mw4: array<vec4<f32>>;  // M (R, R), read as vec4s
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4<f32>>;  // dx (T, k), as vec4s (entries: dx4[i >> 2][i & 3])
@group(0) @binding(4) var<storage, read_write> U4: array<vec4<f32>>;  // U (R, nc·T): u_{t,c}[a] at a·nc·T + c·T + t, as vec4s
@group(0) @binding(5) var<storage, read_write> V4: array<vec4<f32>>;  // V (R, nc·T): v_{t,c}[j] at j·nc·T + c·T + t, as vec4s
@group(0) @binding(6) var<uniform> u: Params;

fn x_at(q: u32) -> vec4<f32> { return X4[q]; }
fn g_at(q: u32) -> vec4<f32> { return G4[q]; }

// dx[t, i] gets w: added when several x_pad positions fold onto i (zeroed first) or in the later
// passes over K (`add`), else assigned. This lane owns the row: no race.
fn put_dx(row: u32, i: u32, w: f32, add: bool) {
  let f = row + i;
  if (add || i < u.nfold) { dx4[f >> 2u][f & 3u] += w; } else { dx4[f >> 2u][f & 3u] = w; }
}

// dx[t, x_pad p0 .. p0 + n) (+)= z[o .. o + n) (n <= 8) for a run of consecutive x_pad positions:
// whole aligned vec4s where the run covers them and they are all added (later passes, folded
// positions) or all assigned, the rest entry by entry; a run that wraps past k goes entry by entry.
fn put_run_dx(row: u32, p0: u32, z: array<f32, 8>, o: u32, n: u32, add: bool) {
  if (p0 + n > u.k) {
    for (var j = 0u; j < n; j++) { put_dx(row, wrap(p0 + j), z[o + j], add); }
    return;
  }
  let head = min(n, (4u - ((row + p0) & 3u)) & 3u);  // entries before the first aligned vec4
  var j = 0u;
  for (; j < head; j++) { put_dx(row, p0 + j, z[o + j], add); }
  for (; j + 4u <= n; j += 4u) {
    let p = p0 + j;
    let f = row + p;
    var v = vec4<f32>(z[o + j], z[o + j + 1u], z[o + j + 2u], z[o + j + 3u]);
    if (add || p + 4u <= u.nfold) { dx4[f >> 2u] += v; }
    else if (p >= u.nfold) { dx4[f >> 2u] = v; }
    else { for (var i = 0u; i < 4u; i++) { put_dx(row, p + i, v[i], add); } }  // straddles nfold
  }
  for (; j < n; j++) { put_dx(row, p0 + j, z[o + j], add); }
}

// One token's w for the block from lb (z[q]: column col_of(lb, q) of Rot_cᵀ Mᵀ u_{t,c}) onto the x
// entries that compress into (c, l): runs of consecutive x_pad positions where the compression has
// them (`put_run_dx`), entry by entry for the groups and truncation.
fn write_dx_block(t: u32, c: u32, lb: u32, z: array<f32, 8>, add: bool) {
  let row = t * u.k;
  if (rotated()) {                           // the pairs: x_pad[cR + lb ..] and x_pad[cR + lb + R/2 ..]
    let h = u.R / 2u;
    let n = min(AN / 2u, h - lb);
    put_run_dx(row, c * u.R + lb, z, 0u, n, add);
    put_run_dx(row, c * u.R + lb + h, z, AN / 2u, n, add);
    return;
  }
  let n = min(AN, u.R - lb);
  if (chunked()) {                           // x_pad[cR + lb ..]
    put_run_dx(row, c * u.R + lb, z, 0u, n, add);
    return;
  }
  if (comp_strided()) {                      // x_pad[lb + mR ..]
    for (var p = lb; p < u.n * u.R; p += u.R) { put_run_dx(row, p, z, 0u, n, add); }
    return;
  }
  for (var q = 0u; q < rolled(n); q++) {
    let l = lb + q;
    if (comp_groups()) {                     // the uneven contiguous group l of k
      let s0 = group_start(l, u.k, u.R);
      let s1 = s0 + group_size(l, u.k, u.R);
      for (var p = s0; p < s1; p++) { put_dx(row, p, z[q], add); }
    } else if (l < u.k) {                    // truncation: x[0 .. R)
      put_dx(row, l, z[q], add);
    }
  }
}

// Copies the staged columns [j0, j0 + jn) of St (this lane's 4 tokens) out to U or V, both (R, nc·T)
// with the (chunk, token) pairs along the rows, so that a lane's 4 tokens are 4 consecutive entries:
// one aligned vec4 store per column when T % 4 == 0 (then every row, chunk and token group starts
// at a multiple of 4), else entry by entry. dM = U Vᵀ (kernels/mora_dm.wgsl, or the matmul on GPUs).
fn copy_out(lane: u32, t0: u32, c: u32, j0: u32, jn: u32, is_u: bool) {
  let K = u.nc * u.T;
  let t = t0 + 4u * lane;
  if (t >= u.T) { return; }
  let whole = (u.T & 3u) == 0u;
  for (var jj = 0u; jj < jn; jj++) {
    let v = St[st_at(jj, lane)];
    let f = (j0 + jj) * K + c * u.T + t;
    if (whole) {
      if (is_u) { U4[f >> 2u] = v; } else { V4[f >> 2u] = v; }
      continue;
    }
    for (var e = 0u; e < min(4u, u.T - t); e++) {
      let i = f + e;
      if (is_u) { U4[i >> 2u][i & 3u] = v[e]; } else { V4[i >> 2u][i & 3u] = v[e]; }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let t0 = lin * BT;
  let tl = lane;  // WGA = 1 here (src/ops/mora.ts): one lane per token, so it owns its rows of dx
  let want_dx = u.want_dx != 0u;

  // positions that are added onto, and those no live chunk writes: zero first (one lane per row)
  var zero_lo = u.k;                                    // [zero_lo, k) gets no write
  if (truncation()) { zero_lo = min(u.R, u.k); }
  if (chunked()) { zero_lo = min(u.k, u.nc * u.R); }    // chunks >= nc are cut from y: dx = 0 there
  if (want_dx) {
    for (var e = 0u; e < 4u; e++) {
      let t = t0 + 4u * tl + e;
      if (t >= u.T) { break; }
      for (var p = 0u; p < u.nfold; p++) { let f = t * u.k + p; dx4[f >> 2u][f & 3u] = 0.0; }
      for (var p = zero_lo; p < u.k; p++) { let f = t * u.k + p; dx4[f >> 2u][f & 3u] = 0.0; }
    }
  }

  let S = st_rows();                   // rows of K (columns of u or v) per pass
  let h = u.R / 2u;
  let half = AN / 2u;
  // type 6: a block holds columns lb + q and lb + q + R/2 (q < AN/2), the pairs Rot_cᵀ mixes
  let step = select(AN, half, rotated());
  let lim = select(u.R, h, rotated());
  for (var c = 0u; c < select(1u, u.nc, chunked()); c++) {
    if (u.want_dm != 0u) {                // v_{·,c} out to V
      for (var j0 = 0u; j0 < u.R; j0 += S) {
        workgroupBarrier();
        stage_block(lane, t0, c, j0, min(S, u.R - j0), false);
        workgroupBarrier();
        copy_out(lane, t0, c, j0, min(S, u.R - j0), false);
      }
    }
    // u_{·,c} (out to U), and dx from it: K = a in passes of S rows, the later ones adding onto dx
    for (var k0 = 0u; k0 < u.R; k0 += S) {
      let kn = min(S, u.R - k0);
      workgroupBarrier();
      stage_block(lane, t0, c, k0, kn, true);
      workgroupBarrier();
      if (u.want_dm != 0u) { copy_out(lane, t0, c, k0, kn, true); }
      if (!want_dx) { continue; }
      for (var lb = 0u; lb < lim; lb += step) {
        let acc = product_range(lane, true, lb, k0, kn);
        // w = Rot_cᵀ (Mᵀ u) for the block's columns; Rotᵀ: w'[l] = w[l]·cos θ_l + (l < R/2 ? w[l + R/2] : -w[l - R/2])·sin θ_l
        var w = acc;
        if (rotated()) {
          for (var q = 0u; q < rolled(AN); q++) {
            let sc = rot_sc(c, min(col_of(lb, q), u.R - 1u));
            if (q < half) { w[q] = acc[q] * sc.y + acc[q + half] * sc.x; }
            else { w[q] = acc[q] * sc.y - acc[q - half] * sc.x; }
          }
        }
        for (var e = 0u; e < 4u; e++) {
          let t = t0 + 4u * tl + e;
          if (t >= u.T) { break; }
          let z = array<f32, 8>(w[0][e], w[1][e], w[2][e], w[3][e], w[4][e], w[5][e], w[6][e], w[7][e]);
          write_dx_block(t, c, lb, z, k0 > 0u);
        }
      }
    }
  }
}
