// MoRA forward, fused: y = f_decomp(M · f_comp(x)) in ONE dispatch (src/ops/mora.ts, docs/mora.md).
// Reads x (T, k) and M (R, R), writes y (T, d); no intermediate buffers.
//
// Per token t and chunk c (types 6/8: c < nc input chunks reach y; other types: c = 0 only) the
// kernel computes z_{t,c}[a] = Σ_j M[a, j] · v_{t,c}[j], where v is the compressed (and for type 6
// rotated) input, built on the fly from x while staging it (mora_common.wgsl `comp`), and scatters
// z to every output o that decompresses from (c, a) (`write_y`); each y entry has exactly one
// preimage, so the writes never collide.
//
// Mapping: a workgroup of WGX x WGY invocations (16 x 16, or 8 x 8 when R <= 32) owns a tile of
// BM tokens x BN rows a of M (64 x 64, or 32 x 32) for one chunk c: grid (token block, chunk,
// a block), linearised over x and y. Each invocation holds a 4 x 4 register block (tokens
// ty + WGY·i, rows tx + WGX·j). The j axis is walked in TK = 16 steps: the workgroup stages v
// (BM tokens x 16, compressed from x on the fly) and M (BN rows x 16) in workgroup memory
// (zero-filled past the edges), then runs the register blocks out of it.
#include "mora_common.wgsl"

// Tile shape, picked by src/ops/mora.ts `tileConfig` (square tiles: WGY·TM = WGX·TN).
override WGX: u32 = 16u;
override WGY: u32 = 16u;
override WG: u32 = WGX * WGY;
override TM: u32 = 4u;     // register block: tokens (<= MAXT)
override TN: u32 = 4u;     // register block: rows of M (<= MAXT)
const MAXT: u32 = 8u;
override BM: u32 = WGY * TM; // tokens per tile
override BN: u32 = WGX * TN; // rows of M per tile
const TK: u32 = 16u;       // depth of one staged step
override SA: u32 = BM + 1u; // padded strides of the staged tiles (no bank conflicts on the stores)
override SB: u32 = BN + 1u;
override A_LEN: u32 = TK * SA;  // workgroup array sizes (an override size must be an identifier)
override B_LEN: u32 = TK * SB;
// Staged elements per invocation (a rolled loop: see `rolled` in mora_common.wgsl).
fn nload(rows: u32) -> u32 { return rolled(TK * rows / WG); }

@group(0) @binding(0) var<storage, read> x: array<f32>;        // (T, k)
@group(0) @binding(1) var<storage, read> Mw: array<f32>;       // (R, R)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (T, d)
@group(0) @binding(3) var<uniform> u: Params;

fn ld_x(t: u32, i: u32) -> f32 { return x[t * u.k + i]; }
fn ld_m(a: u32, j: u32) -> f32 { return Mw[a * u.R + j]; }

var<workgroup> As: array<f32, A_LEN>;  // [kk][token]: v_{t,c}[j0 + kk]
var<workgroup> Bs: array<f32, B_LEN>;  // [kk][row]:   M[a0 + row, j0 + kk]

// y[t, o] = z for every o that decompresses from (chunk c, row a).
fn write_y(t: u32, c: u32, a: u32, z: f32) {
  let row = t * u.d;
  if (decomp_tile()) {                      // o ≡ a (mod R)
    for (var o = a; o < u.d; o += u.R) { y[row + o] = z; }
    return;
  }
  if (decomp_groups()) {                    // o in the uneven contiguous group a of d
    let s0 = group_start(a, u.d, u.R);
    let s1 = s0 + group_size(a, u.d, u.R);
    for (var o = s0; o < s1; o++) { y[row + o] = z; }
    return;
  }
  if (truncation()) {                       // y = [z; 0]: this invocation also zeroes o ≡ a, o >= R
    if (a < u.d) { y[row + a] = z; }
    for (var o = a + u.R; o < u.d; o += u.R) { y[row + o] = 0.0; }
    return;
  }
  // chunked: concat(z_0 .. z_{n-1}) tiled with period nR, truncated to d
  for (var o = c * u.R + a; o < u.d; o += u.n * u.R) { y[row + o] = z; }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let a_blk = lin % u.cb;
  let rest = lin / u.cb;
  let c = rest % u.nc;
  let t0 = (rest / u.nc) * BM;
  let a0 = a_blk * BN;
  let tx = lid % WGX;
  let ty = lid / WGX;

  var acc: array<array<f32, MAXT>, MAXT>;
  for (var j0 = 0u; j0 < u.R; j0 += TK) {
    // stage v: adjacent invocations take adjacent j (contiguous reads of x)
    for (var q = 0u; q < nload(BM); q++) {
      let e = lid + q * WG;
      let kk = e % TK;
      let r = e / TK;
      var v = 0.0;
      if (t0 + r < u.T && j0 + kk < u.R) { v = comp(t0 + r, c, j0 + kk); }
      As[kk * SA + r] = v;
    }
    // stage M: adjacent invocations take adjacent j (contiguous rows of M)
    for (var q = 0u; q < nload(BN); q++) {
      let e = lid + q * WG;
      let kk = e % TK;
      let r = e / TK;
      var m = 0.0;
      if (a0 + r < u.R && j0 + kk < u.R) { m = ld_m(a0 + r, j0 + kk); }
      Bs[kk * SB + r] = m;
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
  // write_y instead of TM·TN (unrolled, it made the pipeline slow to compile), while `acc` itself is
  // only ever indexed by constants and stays in registers.
  let res = acc;
  for (var i = 0u; i < rolled(TM); i++) {
    let t = t0 + ty + i * WGY;
    if (t >= u.T) { break; }
    for (var j = 0u; j < rolled(TN); j++) {
      let a = a0 + tx + j * WGX;
      if (a < u.R) { write_y(t, c, a, res[i][j]); }
    }
  }
}
