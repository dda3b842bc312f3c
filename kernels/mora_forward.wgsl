// MoRA forward, fused: y = f_decomp(M · f_comp(x)) in ONE dispatch (src/ops/mora.ts, docs/mora.md).
// Reads x (T, k) and M (R, R), writes y (T, d); no intermediate buffers.
//
// A workgroup owns BT tokens, one chunk c (types 6/8: c < nc, the chunks that reach y; other
// types: c = 0) and a range of rows a of M (`acols`: all R on lavapipe). It compresses (and for
// type 6 rotates) its tokens' inputs once into workgroup memory (mora_stage.wgsl `stage_block`:
// v_{t,c}[j], 4 columns x 4 tokens at a time), then walks the rows a in blocks of 8 per lane (K in
// passes when v_c does not fit: the later passes add onto y, which this workgroup owns):
//   z_{t,c}[a] = Σ_j M[a, j] · v_{t,c}[j]      (`product_range`: mora_product_sg / _smem.wgsl)
// and scatters each z to the outputs that decompress from (c, a). Where consecutive rows a go to
// consecutive outputs (tile, chunked: `write_runs`) a lane's 8 rows are one run per copy, stored as
// whole aligned vec4s where the run covers them (fewer, wider stores); the group and
// truncation types go entry by entry (`write_y`). Every y entry has one preimage, so no two
// invocations write the same address (a vec4 store stays inside one lane's run).
#include "mora_block.wgsl"

@group(0) @binding(0) var<storage, read> X4: array<vec4<f32>>;  // x (T, k), read as vec4s
@group(0) @binding(1) var<storage, read> Mw4: array<vec4<f32>>;  // M (R, R), read as vec4s
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;  // y (T, d), as vec4s (entries: y4[i >> 2][i & 3])
@group(0) @binding(3) var<uniform> u: Params;

fn x_at(q: u32) -> vec4<f32> { return X4[q]; }
fn g_at(q: u32) -> vec4<f32> { return vec4<f32>(0.0); }  // no g in the forward (never called)

// y[row + o] = z, or += z in the later passes over K (this lane owns the entry: no race).
fn put_y(i: u32, z: f32, add: bool) {
  if (add) { y4[i >> 2u][i & 3u] += z; } else { y4[i >> 2u][i & 3u] = z; }
}

// y[i .. i + n) (+)= z[0 .. n) (n <= 8): whole aligned vec4s where the run covers them, the ends
// entry by entry (kernels/mora_backward.wgsl `put_run_dx` is the same walk over dx).
fn put_run(i: u32, z: array<f32, 8>, n: u32, add: bool) {
  let head = min(n, (4u - (i & 3u)) & 3u);  // entries before the first aligned vec4
  var j = 0u;
  for (; j < head; j++) { put_y(i + j, z[j], add); }
  for (; j + 4u <= n; j += 4u) {
    let f = i + j;
    var v = vec4<f32>(z[j], z[j + 1u], z[j + 2u], z[j + 3u]);
    if (add) { v += y4[f >> 2u]; }
    y4[f >> 2u] = v;
  }
  for (; j < n; j++) { put_y(i + j, z[j], add); }
}

// The rows a .. a + n - 1 of z (n <= 8) for types whose decompression copies consecutive rows to
// consecutive outputs (tile: o = a + mR; chunked: o = cR + a + m·nR): one run per copy.
fn write_runs(t: u32, c: u32, a: u32, z: array<f32, 8>, n: u32, add: bool) {
  let row = t * u.d;
  let first = select(a, c * u.R + a, chunked());
  let period = select(u.R, u.n * u.R, chunked());
  for (var o = first; o < u.d; o += period) { put_run(row + o, z, min(n, u.d - o), add); }
}

// y[t, o] (+)= z for every o that decompresses from (chunk c, row a), for the types without runs
// (groups, truncation; the others go through `write_runs`).
fn write_y(t: u32, a: u32, z: f32, add: bool) {
  let row = t * u.d;
  if (decomp_groups()) {                    // o in the uneven contiguous group a of d
    let s0 = group_start(a, u.d, u.R);
    let s1 = s0 + group_size(a, u.d, u.R);
    for (var o = s0; o < s1; o++) { put_y(row + o, z, add); }
    return;
  }
  // truncation, y = [z; 0]: this invocation also zeroes o ≡ a, o >= R
  if (a < u.d) { put_y(row + a, z, add); }
  for (var o = a + u.R; o < u.d; o += u.R) { put_y(row + o, 0.0, false); }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let a_lo = (lin % u.ab) * u.acols;      // grid: (token block, chunk, a range), a range fastest
  let rest = lin / u.ab;
  let c = rest % u.nc;
  let t0 = (rest / u.nc) * BT;
  let a_hi = min(u.R, a_lo + u.acols);
  let tl = lane % WGT;
  let al = select(lane / WGT, 0u, WGA == 1u);  // a constant 0 when WGA = 1: M loads stay uniform

  // K (the columns j of v) in passes of S: one when all of v_c for the block fits in St
  let S = st_rows();
  for (var k0 = 0u; k0 < u.R; k0 += S) {
    let kn = min(S, u.R - k0);
    workgroupBarrier();
    stage_block(lane, t0, c, k0, kn, false);
    for (var a0 = a_lo; a0 < a_hi; a0 += WGA * AN) {
      let a1 = a0 + al * AN;              // this lane's rows a1 .. a1 + 7
      let acc = product_range(lane, false, a0, k0, kn);
      let na = select(0u, min(AN, a_hi - a1), a1 < a_hi);  // rows of this lane's block in range
      for (var e = 0u; e < 4u; e++) {
        let t = t0 + 4u * tl + e;
        if (t >= u.T) { break; }
        let z = array<f32, 8>(acc[0][e], acc[1][e], acc[2][e], acc[3][e], acc[4][e], acc[5][e], acc[6][e], acc[7][e]);
        if (decomp_tile() || chunked()) { write_runs(t, c, a1, z, na, k0 > 0u); continue; }
        for (var q = 0u; q < rolled(na); q++) { write_y(t, a1 + q, z[q], k0 > 0u); }
      }
    }
  }
}
