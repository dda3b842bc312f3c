// MoRA backward, fused: dx and dM from g = dL/dy in ONE dispatch (src/ops/mora.ts, docs/mora.md).
// Reads g (T, d), x (T, k), M (R, R); writes dx (T, k) and dM (R, R); no intermediate buffers.
//
//   u_{t,c} = f_decompᵀ g_t           (decompT: the sum of g over the outputs that copy z_{t,c}[a])
//   dM      = Σ_t Σ_c u_{t,c} v_{t,c}ᵀ (v: compressed / rotated input, mora_common.wgsl `comp`)
//   dx_t    = f_compᵀ (B_cᵀ u_{t,c})   (B_c = M Rot_c for type 6, M otherwise: `bmat`)
//
// The grid is split into three roles by linear workgroup id, all the same tiled engine (16 x 16
// invocations, a 64 x 64 output tile, 4 x 4 register blocks, TK = 16 deep staging in workgroup
// memory, operands built on the fly while staging):
//  1. dM (ids [0, n_dm)): a 64 x 64 tile of dM (rows a, columns j). K runs over every
//     (chunk, token) pair, so the cross-token reduction happens inside the workgroup, in a fixed
//     order: deterministic, no atomics, no partial buffers. These ids come first so the longest
//     tiles start first.
//  2. dx-main (n_main): a tile of 64 tokens x 64 positions l of one chunk c; K = a. Writes dx at the
//     positions of x_pad that map to one x entry only (p in [nfold, k)).
//  3. dx-fold (n_fold): dx[t, i] for i < nfold, the entries the wrap-around padding reaches twice
//     (or more, cyclically, when pad > k): K runs over (preimage m, a), so every contribution to one
//     dx entry is summed by one invocation: no write conflicts anywhere, no second pass.
// Chunks c >= nc (type 6 with k > d: their outputs are truncated away) get u = 0: dx-main writes
// exact zeros there without a K loop.
#include "mora_common.wgsl"

// Tile shape (src/ops/mora.ts picks 8 x 8 invocations, 32 x 32 tiles, when R <= 32, else 16 x 16).
override WGX: u32 = 16u;
override WGY: u32 = 16u;
override WG: u32 = WGX * WGY;
const TM: u32 = 4u;
const TN: u32 = 4u;
override BM: u32 = WGY * TM;
override BN: u32 = WGX * TN;
const TK: u32 = 16u;
override SA: u32 = BM + 1u;
override SB: u32 = BN + 1u;
override A_LEN: u32 = TK * SA;  // workgroup array sizes (an override size must be an identifier)
override B_LEN: u32 = TK * SB;

@group(0) @binding(0) var<storage, read> g: array<f32>;         // (T, d)
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (T, k)
@group(0) @binding(2) var<storage, read> Mw: array<f32>;        // (R, R)
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // (T, k)
@group(0) @binding(4) var<storage, read_write> dM: array<f32>;  // (R, R), or partials (ksplit, R, R)
@group(0) @binding(5) var<uniform> u: Params;

fn ld_x(t: u32, i: u32) -> f32 { return x[t * u.k + i]; }
fn ld_m(a: u32, j: u32) -> f32 { return Mw[a * u.R + j]; }

var<workgroup> As: array<f32, A_LEN>;  // [kk][tile row]
var<workgroup> Bs: array<f32, B_LEN>;  // [kk][tile column]

// u_{t,c}[a] = Σ g[t, o] over the outputs o that decompress from (chunk c, row a).
fn decompT(t: u32, c: u32, a: u32) -> f32 {
  let row = t * u.d;
  var s = 0.0;
  if (decomp_tile()) {
    for (var o = a; o < u.d; o += u.R) { s += g[row + o]; }
    return s;
  }
  if (decomp_groups()) {
    let s0 = group_start(a, u.d, u.R);
    let s1 = s0 + group_size(a, u.d, u.R);
    for (var o = s0; o < s1; o++) { s += g[row + o]; }
    return s;
  }
  if (truncation()) {
    if (a < u.d) { return g[row + a]; }
    return 0.0;
  }
  if (c >= u.nc) { return 0.0; }
  for (var o = c * u.R + a; o < u.d; o += u.n * u.R) { s += g[row + o]; }
  return s;
}

// Role 2's epilogue: w = (B_cᵀ u_{t,c})[l] goes to the x entries whose only preimage is (c, l).
fn write_dx_main(t: u32, c: u32, l: u32, w: f32) {
  let row = t * u.k;
  if (comp_strided()) {                      // positions l + mR (the wrap-around ones are folded)
    for (var p = l; p < u.k; p += u.R) {
      if (p >= u.nfold) { dx[row + p] = w; }
    }
    return;
  }
  if (comp_groups()) {                       // the uneven contiguous group l of k
    let s0 = group_start(l, u.k, u.R);
    let s1 = s0 + group_size(l, u.k, u.R);
    for (var p = s0; p < s1; p++) { dx[row + p] = w; }
    return;
  }
  if (truncation()) {                        // x[0..R) only; zero the rest (p ≡ l, p >= R)
    if (l < u.k) { dx[row + l] = w; }
    for (var p = l + u.R; p < u.k; p += u.R) { dx[row + p] = 0.0; }
    return;
  }
  let p = c * u.R + l;                       // chunked
  if (p < u.k && p >= u.nfold) { dx[row + p] = w; }
}

// Role 3's B operand: the contribution of preimage m (x_pad position p = i + m·k) of dx[i].
fn fold_b(m: u32, a: u32, i: u32) -> f32 {
  let p = i + m * u.k;
  if (i >= u.nfold || p >= u.n * u.R) { return 0.0; }
  if (comp_strided()) { return ld_m(a, p % u.R); }
  return bmat(p / u.R, a, p % u.R);
}

// acc += As[kk][rows] · Bs[kk][cols] over one staged step.
fn mma(tx: u32, ty: u32, acc: ptr<function, array<array<f32, TN>, TM>>) {
  for (var kk = 0u; kk < TK; kk++) {
    var av: array<f32, TM>;
    var bv: array<f32, TN>;
    for (var i = 0u; i < TM; i++) { av[i] = As[kk * SA + ty + i * WGY]; }
    for (var j = 0u; j < TN; j++) { bv[j] = Bs[kk * SB + tx + j * WGX]; }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { (*acc)[i][j] = fma(av[i], bv[j], (*acc)[i][j]); }
    }
  }
}

// Role 1: dM[a0.., j0..] = Σ_{c < nc} Σ_t u_{t,c}[a] v_{t,c}[j] over the (chunk, token) rows
// [s·kchunk, (s+1)·kchunk) of split s (ksplit = 1: all of them, written straight into dM).
fn role_dm(lid: u32, blk: u32) {
  let tiles = u.cb * u.cb;
  let tile = blk % tiles;
  let s = blk / tiles;
  let a0 = (tile / u.cb) * BM;
  let j0 = (tile % u.cb) * BN;
  let tx = lid % WGX;
  let ty = lid / WGX;
  let K = min(u.nc * u.T, (s + 1u) * u.kchunk);
  var acc: array<array<f32, TN>, TM>;
  for (var k0 = s * u.kchunk; k0 < K; k0 += TK) {
    // adjacent invocations: adjacent a (u) and adjacent j (v): contiguous reads of g and x
    for (var q = 0u; q < TK * BM / WG; q++) {
      let e = lid + q * WG;
      let r = e % BM;
      let kk = e / BM;
      let f = k0 + kk;
      var v = 0.0;
      if (f < K && a0 + r < u.R) { v = decompT(f % u.T, f / u.T, a0 + r); }
      As[kk * SA + r] = v;
    }
    for (var q = 0u; q < TK * BN / WG; q++) {
      let e = lid + q * WG;
      let r = e % BN;
      let kk = e / BN;
      let f = k0 + kk;
      var v = 0.0;
      if (f < K && j0 + r < u.R) { v = comp(f % u.T, f / u.T, j0 + r); }
      Bs[kk * SB + r] = v;
    }
    workgroupBarrier();
    mma(tx, ty, &acc);
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let a = a0 + ty + i * WGY;
    if (a >= u.R) { break; }
    for (var j = 0u; j < TN; j++) {
      let jj = j0 + tx + j * WGX;
      if (jj < u.R) { dM[(s * u.R + a) * u.R + jj] = acc[i][j]; }
    }
  }
}

// Role 2: w[t, l] = Σ_a u_{t,c}[a] B_c[a, l] for a tile of tokens x positions l of chunk c.
fn role_main(lid: u32, blk: u32) {
  let l0 = (blk % u.cb) * BN;
  let rest = blk / u.cb;
  let c = rest % u.main_chunks;
  let t0 = (rest / u.main_chunks) * BM;
  let tx = lid % WGX;
  let ty = lid / WGX;
  // chunks whose outputs are all truncated away have u = 0: skip the product, write zeros
  let K = select(u.R, 0u, chunked() && c >= u.nc);
  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var q = 0u; q < TK * BM / WG; q++) {   // u: adjacent invocations take adjacent a
      let e = lid + q * WG;
      let kk = e % TK;
      let r = e / TK;
      var v = 0.0;
      if (t0 + r < u.T && k0 + kk < u.R) { v = decompT(t0 + r, c, k0 + kk); }
      As[kk * SA + r] = v;
    }
    for (var q = 0u; q < TK * BN / WG; q++) {   // B_c: adjacent invocations take adjacent l
      let e = lid + q * WG;
      let r = e % BN;
      let kk = e / BN;
      var v = 0.0;
      if (l0 + r < u.R && k0 + kk < u.R) { v = bmat(c, k0 + kk, l0 + r); }
      Bs[kk * SB + r] = v;
    }
    workgroupBarrier();
    mma(tx, ty, &acc);
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let t = t0 + ty + i * WGY;
    if (t >= u.T) { break; }
    for (var j = 0u; j < TN; j++) {
      let l = l0 + tx + j * WGX;
      if (l < u.R) { write_dx_main(t, c, l, acc[i][j]); }
    }
  }
}

// Role 3: dx[t, i] = Σ_m Σ_a u_{t,c_m}[a] B_{c_m}[a, l_m(i)] for i < nfold, with p_m = i + m·k,
// c_m = floor(p_m / R) (the same for every i of the block), l_m = p_m mod R.
fn role_fold(lid: u32, blk: u32) {
  let i0 = (blk % u.fb) * BN;
  let t0 = (blk / u.fb) * BM;
  let tx = lid % WGX;
  let ty = lid / WGX;
  let K = u.nterms * u.R;
  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var q = 0u; q < TK * BM / WG; q++) {
      let e = lid + q * WG;
      let kk = e % TK;
      let r = e / TK;
      let f = k0 + kk;
      var v = 0.0;
      if (t0 + r < u.T && f < K) {
        let m = f / u.R;
        var c = 0u;
        if (chunked()) { c = (m * u.k) / u.R; }
        v = decompT(t0 + r, c, f % u.R);
      }
      As[kk * SA + r] = v;
    }
    for (var q = 0u; q < TK * BN / WG; q++) {
      let e = lid + q * WG;
      let r = e % BN;
      let kk = e / BN;
      let f = k0 + kk;
      var v = 0.0;
      if (f < K) { v = fold_b(f / u.R, f % u.R, i0 + r); }
      Bs[kk * SB + r] = v;
    }
    workgroupBarrier();
    mma(tx, ty, &acc);
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let t = t0 + ty + i * WGY;
    if (t >= u.T) { break; }
    for (var j = 0u; j < TN; j++) {
      let p = i0 + tx + j * WGX;
      if (p < u.nfold) { dx[t * u.k + p] = acc[i][j]; }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin < u.n_dm) {
    role_dm(lid, lin);
  } else if (lin < u.n_dm + u.n_main) {
    role_main(lid, lin - u.n_dm);
  } else if (lin < u.total) {
    role_fold(lid, lin - u.n_dm - u.n_main);
  }
}
