// MoRA backward, fused: dx and dM from g = dL/dy in ONE dispatch (src/ops/mora.ts, docs/mora.md).
// Reads g (T, d), x (T, k), M (R, R); writes dx (T, k) and dM (R, R); no intermediate buffers.
//
//   u_{t,c} = f_decompᵀ g_t           (decompT: the sum of g over the outputs that copy z_{t,c}[a])
//   dM      = Σ_t Σ_c u_{t,c} v_{t,c}ᵀ (v: compressed / rotated input, mora_common.wgsl `comp`)
//   dx_t    = f_compᵀ (B_cᵀ u_{t,c})   (B_c = M Rot_c for type 6, M otherwise: `bmat`)
//
// The grid is split into three roles by linear workgroup id (`job`). All three run the same tiled
// engine (`main`): WGX x WGY invocations (16 x 16, or 8 x 8 when R <= 32) own a BM x BN output tile
// (64 x 64 or 32 x 32) as 4 x 4 register blocks; K is walked in TK = 16 deep steps staged in
// workgroup memory, the operands built on the fly while staging (`load_a` is always a u value,
// `load_b` a v value or a B_c entry); the epilogue scatters the tile:
//  1. dM (ids [0, n_dm)): a tile of dM (rows a, columns j); K runs over every (chunk, token) row,
//     so the cross-token reduction happens inside the workgroup, in a fixed order: deterministic,
//     no atomics, no partial buffers. These ids come first so that the longest tiles start first.
//     (Optional, off by default: ksplit > 1 ranges of rows per tile, written as partials that
//     kernels/mora_dm.wgsl sums in a second dispatch; see docs/mora.md.)
//  2. dx-main (n_main): a tile of tokens x positions l of one chunk c; K = a. Writes dx at the x_pad
//     positions that are the only preimage of their x entry (p in [nfold, k)).
//  3. dx-fold (n_fold): dx[t, i] for i < nfold, the entries the wrap-around padding reaches twice
//     (or more, cyclically, when pad > k): K runs over (preimage m, a), so every contribution to one
//     dx entry is summed by one invocation: no write conflicts anywhere, no second pass.
// Chunks c >= nc (type 6 with k > d: their outputs are truncated away) get u = 0: dx-main gets an
// empty K range there and writes exact zeros.
#include "mora_common.wgsl"

// Tile shape, picked by src/ops/mora.ts `tileConfig` (square tiles: WGY·TM = WGX·TN).
override WGX: u32 = 16u;
override WGY: u32 = 16u;
override WG: u32 = WGX * WGY;
override TM: u32 = 4u;  // register block (<= MAXT)
override TN: u32 = 4u;
const MAXT: u32 = 8u;
override BM: u32 = WGY * TM;
override BN: u32 = WGX * TN;
const TK: u32 = 16u;
override SA: u32 = BM + 1u;
override SB: u32 = BN + 1u;
override A_LEN: u32 = TK * SA;  // workgroup array sizes (an override size must be an identifier)
override B_LEN: u32 = TK * SB;
// Staged elements per invocation (a rolled loop: see `rolled` in mora_common.wgsl).
fn nload(rows: u32) -> u32 { return rolled(TK * rows / WG); }

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

const ROLE_DM: u32 = 0u;
const ROLE_MAIN: u32 = 1u;
const ROLE_FOLD: u32 = 2u;

// One workgroup's job, decoded from its linear id (uniform across the workgroup).
struct Job {
  role: u32,
  row0: u32,   // first tile row: a (dM) or token (dx roles)
  col0: u32,   // first tile column: j (dM), position l of chunk c (main), folded position i (fold)
  c: u32,      // chunk (main)
  split: u32,  // dM split
  k0: u32,     // K range [k0, k1) of the product
  k1: u32,
}

fn job(lin: u32) -> Job {
  var jb: Job;
  if (lin < u.n_dm) {
    // dM tile (a block x j block) and split s: K = (chunk, token) rows [s·kchunk, (s+1)·kchunk)
    let tiles = u.cb * u.cb;
    let tile = lin % tiles;
    jb.role = ROLE_DM;
    jb.split = lin / tiles;
    jb.row0 = (tile / u.cb) * BM;
    jb.col0 = (tile % u.cb) * BN;
    jb.k0 = jb.split * u.kchunk;
    jb.k1 = min(u.nc * u.T, jb.k0 + u.kchunk);
  } else if (lin < u.n_dm + u.n_main) {
    // dx-main: (token block, chunk c, column block); K = a. Chunks whose outputs are all truncated
    // away have u = 0: an empty K range, so the epilogue writes exact zeros.
    let b = lin - u.n_dm;
    let rest = b / u.cb;
    jb.role = ROLE_MAIN;
    jb.col0 = (b % u.cb) * BN;
    jb.c = rest % u.main_chunks;
    jb.row0 = (rest / u.main_chunks) * BM;
    jb.k1 = select(u.R, 0u, chunked() && jb.c >= u.nc);
  } else {
    // dx-fold: (token block, folded column block); K = (preimage m, a)
    let b = lin - u.n_dm - u.n_main;
    jb.role = ROLE_FOLD;
    jb.col0 = (b % u.fb) * BN;
    jb.row0 = (b / u.fb) * BM;
    jb.k1 = u.nterms * u.R;
  }
  return jb;
}

// A operand, entry (tile row r, K index f): always a u value, u_{t,c}[a].
fn load_a(jb: Job, r: u32, f: u32) -> f32 {
  var t: u32;
  var c = jb.c;
  var a: u32;
  if (jb.role == ROLE_DM) {                  // rows a, K = (c, t)
    t = f % u.T;
    c = f / u.T;
    a = jb.row0 + r;
    if (a >= u.R) { return 0.0; }
  } else {                                   // rows t
    t = jb.row0 + r;
    if (t >= u.T) { return 0.0; }
    if (jb.role == ROLE_MAIN) {
      a = f;                                 // K = a
    } else {
      a = f % u.R;                           // K = (m, a); c_m = floor(m·k / R) for chunked types
      c = select(0u, ((f / u.R) * u.k) / u.R, chunked());
    }
  }
  return decompT(t, c, a);
}

// B operand, entry (K index f, tile column r): v_{t,c}[j] (dM), (M Rot_c)[a, l] (main), and for
// the fold the same B entry of preimage m of dx[i]: x_pad position p = i + m·k, c = p / R, l = p mod R.
fn load_b(jb: Job, f: u32, r: u32) -> f32 {
  let col = jb.col0 + r;
  var t = 0u;
  var c = jb.c;
  var a = f;
  var l = col;
  if (jb.role == ROLE_FOLD) {
    let p = col + (f / u.R) * u.k;
    if (col >= u.nfold || p >= u.n * u.R) { return 0.0; }
    a = f % u.R;
    c = p / u.R;
    l = p % u.R;
  } else {
    if (col >= u.R) { return 0.0; }
    if (jb.role == ROLE_DM) {
      t = f % u.T;
      c = f / u.T;
    }
  }
  let sc = rot_or_id(c, l);   // one sincos for every role
  if (jb.role == ROLE_DM) { return comp_sc(t, c, l, sc); }
  return bmat_sc(a, l, sc);
}

fn epilogue(jb: Job, r: u32, col: u32, v: f32) {
  if (jb.role == ROLE_DM) {
    let a = jb.row0 + r;
    let j = jb.col0 + col;
    if (a < u.R && j < u.R) { dM[(jb.split * u.R + a) * u.R + j] = v; }
    return;
  }
  let t = jb.row0 + r;
  if (t >= u.T) { return; }
  if (jb.role == ROLE_MAIN) {
    let l = jb.col0 + col;
    if (l < u.R) { write_dx_main(t, jb.c, l, v); }
    return;
  }
  let p = jb.col0 + col;
  if (p < u.nfold) { dx[t * u.k + p] = v; }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let jb = job(lin);
  let tx = lid % WGX;
  let ty = lid / WGX;
  // Which staging index adjacent invocations share (contiguous global reads): dM reads u and v along
  // their rows (adjacent a, adjacent j); the dx roles read u along K (adjacent a) and B along l.
  let a_rows_fast = jb.role == ROLE_DM;

  var acc: array<array<f32, MAXT>, MAXT>;
  for (var k0 = jb.k0; k0 < jb.k1; k0 += TK) {
    for (var q = 0u; q < nload(BM); q++) {
      let e = lid + q * WG;
      var r = e / TK;
      var kk = e % TK;
      if (a_rows_fast) { r = e % BM; kk = e / BM; }
      var v = 0.0;
      if (k0 + kk < jb.k1) { v = load_a(jb, r, k0 + kk); }
      As[kk * SA + r] = v;
    }
    for (var q = 0u; q < nload(BN); q++) {
      let e = lid + q * WG;
      let r = e % BN;
      let kk = e / BN;
      var v = 0.0;
      if (k0 + kk < jb.k1) { v = load_b(jb, k0 + kk, r); }
      Bs[kk * SB + r] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < rolled(TK); kk++) {
      var av: array<f32, MAXT>;
      var bv: array<f32, MAXT>;
      for (var i = 0u; i < TM; i++) { av[i] = As[kk * SA + ty + i * WGY]; }
      for (var j = 0u; j < TN; j++) { bv[j] = Bs[kk * SB + tx + j * WGX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  // Rolled loops (bounds from the uniforms) over a copy of the accumulators: one inlined copy of
  // the epilogue instead of TM·TN (unrolled, it made the pipeline take seconds to compile), while
  // `acc` itself is only ever indexed by constants and stays in registers.
  let res = acc;
  for (var i = 0u; i < rolled(TM); i++) {
    for (var j = 0u; j < rolled(TN); j++) { epilogue(jb, ty + i * WGY, tx + j * WGX, res[i][j]); }
  }
}
