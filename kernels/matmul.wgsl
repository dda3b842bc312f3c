// C[b] = op(A[b]) @ op(B[b]), the fast kernels. C is (batch, m, n), contiguous, row-major.
//
// A is the logical (m, k) matrix: stored (m, k), or stored (k, m) and read transposed (transA);
// B is the logical (k, n) matrix: stored (k, n), or stored (n, k) and read transposed (transB).
// Transposes are never materialised: the scalar entry points read through strides in the uniforms
// (element (i, p) of A at a_off + i * a_rs + p * a_cs, (p, j) of B at b_off + p * b_rs + j * b_cs),
// the vec4 entry point through the override flags TRANS_A / TRANS_B. Batch offsets come from the
// collapsed broadcast batch shape and per-operand batch strides (0 where an operand is broadcast).
//
// Grid: x runs over column blocks of C; y and z together (linearised: lin = wid.y + wid.z * nwg.y)
// over row blocks x batch, so that neither needs more than 65535 workgroups.
//
// Entry points (src/ops/matmul.ts picks one by shape and adapter):
//  - `main`: register-blocked, NO shared memory and NO barriers. Each invocation computes RM rows x
//    4 columns of C in registers; one k-step costs RM + 4 scalar loads for 4·RM FMAs. Any shape and
//    strides: rows/columns past the edge are clamped on load (no branches in the inner loop) and
//    masked on store.
//  - `main_vec4`: the same register block with vec4 loads and k unrolled by 4 (RM + 4 vec4 loads for
//    16·RM FMAs). Needs k % 4 == 0, n % 4 == 0, and m % 4 == 0 when TRANS_A. Fastest on lavapipe,
//    where the invocations of a workgroup are the SIMD lanes of one CPU core: the WG_X lanes share
//    their rows, so the A loads are uniform (one load, broadcast) and only B is gathered; barriers
//    (coroutine switches there) would cost more than they save.
//  - `tiled`: classic shared-memory tiling for real GPUs. A workgroup of WG_X x WG_Y invocations
//    computes a (RM·WG_Y) x (4·WG_X) tile of C, staging TK-deep slices of A and B in workgroup memory
//    (coalesced loads, zero-filled past the edges), then runs the RM x 4 register block out of it.
// The three bind the same buffers with different types; each entry point uses only its own set.
//
// RM = 8 and 8-lane workgroups are the defaults because a sweep of block and workgroup shapes found
// none faster on lavapipe (more rows spill registers); docs/performance.md has the sweep.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

// Rows of C per invocation: the register tile height (<= MAX_RM; a multiple of 4 for main_vec4).
override RM: u32 = 8u;
const MAX_RM: u32 = 8u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 1u;
// `tiled`: depth of one shared-memory stage.
override TK: u32 = 16u;
// `main_vec4`: operand layouts (A stored (k, m), B stored (n, k)).
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_rs: u32, a_cs: u32, b_rs: u32, b_cs: u32,
  row_groups: u32,  // workgroups along the rows of C: ceil(m / (RM * WG_Y))
  nbd: u32,         // number of (collapsed) batch dims
  pad0: u32, pad1: u32,
  bshape: array<vec4<u32>, 2>,  // batch shape
  a_bs: array<vec4<u32>, 2>,    // A's batch strides in elements (0: broadcast)
  b_bs: array<vec4<u32>, 2>,    // B's batch strides
}

@group(0) @binding(0) var<storage, read> A: array<T>;
@group(0) @binding(1) var<storage, read> B: array<T>;
@group(0) @binding(2) var<storage, read_write> C: array<T>;
@group(0) @binding(3) var<uniform> u: Params;

@group(0) @binding(0) var<storage, read> A4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> B4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> C4: array<vec4<T>>;

// Element offsets of batch entry `bi` in A (x) and B (y).
fn batch_offsets(bi: u32) -> vec2<u32> {
  var rem = bi;
  var off = vec2<u32>(0u, 0u);
  for (var d = u.nbd; d > 0u; d--) {
    let s = dim(u.bshape, d - 1u);
    let c = rem % s;
    rem = rem / s;
    off += c * vec2<u32>(dim(u.a_bs, d - 1u), dim(u.b_bs, d - 1u));
  }
  return off;
}

// Masked store of an RM x 4 block whose top-left element of C is (row0, col0).
fn store_block(acc: ptr<function, array<vec4<f32>, MAX_RM>>, c_off: u32, row0: u32, col0: u32) {
  if (col0 >= u.n) { return; }
  let cols = min(u.n - col0, 4u);
  for (var r = 0u; r < RM; r++) {
    let i = row0 + r;
    if (i >= u.m) { return; }
    let base = c_off + i * u.n + col0;
    let v = (*acc)[r];
    C[base] = T(v.x);
    if (cols > 1u) { C[base + 1u] = T(v.y); }
    if (cols > 2u) { C[base + 2u] = T(v.z); }
    if (cols > 3u) { C[base + 3u] = T(v.w); }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.y + wid.z * nwg.y;
  if (lin >= u.row_groups * u.batch) { return; }
  let bi = lin / u.row_groups;
  let row0 = ((lin % u.row_groups) * WG_Y + lid.y) * RM;
  let col0 = gid.x * 4u;
  if (row0 >= u.m || col0 >= u.n) { return; }
  let off = batch_offsets(bi);

  // Clamped addresses: rows past m and columns past n re-read the last valid one (masked on store).
  var a_row: array<u32, MAX_RM>;
  for (var r = 0u; r < RM; r++) { a_row[r] = off.x + min(row0 + r, u.m - 1u) * u.a_rs; }
  let last = u.n - 1u;
  let b_col = off.y + vec4<u32>(col0, min(col0 + 1u, last), min(col0 + 2u, last), min(col0 + 3u, last)) * u.b_cs;

  var acc: array<vec4<f32>, MAX_RM>;
  var pa = 0u;
  var pb = 0u;
  for (var p = 0u; p < u.k; p++) {
    let b = vec4<f32>(f32(B[b_col.x + pb]), f32(B[b_col.y + pb]), f32(B[b_col.z + pb]), f32(B[b_col.w + pb]));
    for (var r = 0u; r < RM; r++) {
      acc[r] = fma(vec4<f32>(f32(A[a_row[r] + pa])), b, acc[r]);
    }
    pa += u.a_cs;
    pb += u.b_rs;
  }
  store_block(&acc, bi * u.m * u.n, row0, col0);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.y + wid.z * nwg.y;
  if (lin >= u.row_groups * u.batch) { return; }
  let bi = lin / u.row_groups;
  let row0 = ((lin % u.row_groups) * WG_Y + lid.y) * RM;
  let c4 = gid.x;  // this invocation's columns: 4*c4 .. 4*c4+3
  let n4 = u.n / 4u;
  let k4 = u.k / 4u;
  let m4 = u.m / 4u;
  if (row0 >= u.m || c4 >= n4) { return; }
  let off = batch_offsets(bi) / 4u;  // in vec4s (every batch stride is a multiple of 4 here)

  // A: (m, k) rows as vec4s along k, or (TRANS_A) (k, m) rows as vec4s along m (clamped past m).
  var a_idx: array<u32, MAX_RM>;
  if (TRANS_A) {
    for (var t = 0u; t < RM / 4u; t++) { a_idx[t] = off.x + min(row0 / 4u + t, m4 - 1u); }
  } else {
    for (var r = 0u; r < RM; r++) { a_idx[r] = off.x + min(row0 + r, u.m - 1u) * k4; }
  }
  // B: (k, n) rows as vec4s along n, or (TRANS_B) (n, k) rows as vec4s along k, one per column.
  let b_idx = select(vec4<u32>(off.y + c4), off.y + (vec4<u32>(4u * c4) + vec4<u32>(0u, 1u, 2u, 3u)) * k4, TRANS_B);

  var acc: array<vec4<f32>, MAX_RM>;
  for (var p4 = 0u; p4 < k4; p4++) {
    // b[q] = B[4·p4 + q, 4·c4 .. 4·c4+3]
    var b: array<vec4<f32>, 4>;
    if (TRANS_B) {
      let t0 = vec4<f32>(B4[b_idx.x + p4]);
      let t1 = vec4<f32>(B4[b_idx.y + p4]);
      let t2 = vec4<f32>(B4[b_idx.z + p4]);
      let t3 = vec4<f32>(B4[b_idx.w + p4]);
      b[0] = vec4<f32>(t0.x, t1.x, t2.x, t3.x);
      b[1] = vec4<f32>(t0.y, t1.y, t2.y, t3.y);
      b[2] = vec4<f32>(t0.z, t1.z, t2.z, t3.z);
      b[3] = vec4<f32>(t0.w, t1.w, t2.w, t3.w);
    } else {
      let base = b_idx.x + 4u * p4 * n4;
      b[0] = vec4<f32>(B4[base]);
      b[1] = vec4<f32>(B4[base + n4]);
      b[2] = vec4<f32>(B4[base + 2u * n4]);
      b[3] = vec4<f32>(B4[base + 3u * n4]);
    }
    if (TRANS_A) {
      for (var q = 0u; q < 4u; q++) {
        let row = (4u * p4 + q) * m4;
        for (var t = 0u; t < RM / 4u; t++) {
          let a = vec4<f32>(A4[a_idx[t] + row]);  // A[4t .. 4t+3 (rows), 4·p4 + q]
          acc[4u * t] = fma(vec4<f32>(a.x), b[q], acc[4u * t]);
          acc[4u * t + 1u] = fma(vec4<f32>(a.y), b[q], acc[4u * t + 1u]);
          acc[4u * t + 2u] = fma(vec4<f32>(a.z), b[q], acc[4u * t + 2u]);
          acc[4u * t + 3u] = fma(vec4<f32>(a.w), b[q], acc[4u * t + 3u]);
        }
      }
    } else {
      for (var r = 0u; r < RM; r++) {
        let a = vec4<f32>(A4[a_idx[r] + p4]);  // A[row0 + r, 4·p4 .. 4·p4+3]
        acc[r] = fma(vec4<f32>(a.x), b[0], acc[r]);
        acc[r] = fma(vec4<f32>(a.y), b[1], acc[r]);
        acc[r] = fma(vec4<f32>(a.z), b[2], acc[r]);
        acc[r] = fma(vec4<f32>(a.w), b[3], acc[r]);
      }
    }
  }
  let c_off = bi * u.m * n4;
  for (var r = 0u; r < RM; r++) {
    if (row0 + r >= u.m) { break; }
    C4[c_off + (row0 + r) * n4 + c4] = vec4<T>(acc[r]);
  }
}

// `tiled`: TM = RM * WG_Y rows and TN = 4 * WG_X columns of C per workgroup.
var<workgroup> As: array<f32, TK * RM * WG_Y>;  // As[kk * TM + i]
var<workgroup> Bs: array<f32, TK * 4u * WG_X>;  // Bs[kk * TN + j]

@compute @workgroup_size(WG_X, WG_Y)
fn tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32,
         @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let TM = RM * WG_Y;
  let TN = 4u * WG_X;
  let threads = WG_X * WG_Y;
  // Workgroup-uniform: no early return before the barriers.
  let lin = wid.y + wid.z * nwg.y;
  let in_range = lin < u.row_groups * u.batch;
  let bi = min(lin / u.row_groups, u.batch - 1u);
  let tile_row = (lin % u.row_groups) * TM;
  let tile_col = wid.x * TN;
  let off = batch_offsets(bi);

  var acc: array<vec4<f32>, MAX_RM>;
  for (var k0 = 0u; k0 < u.k; k0 += TK) {
    // Stage A[tile_row .. +TM, k0 .. +TK] and B[k0 .. +TK, tile_col .. +TN]; zeros past the edges.
    for (var e = li; e < TM * TK; e += threads) {
      let i = e % TM;
      let kk = e / TM;
      let gi = tile_row + i;
      let gk = k0 + kk;
      var v = 0.0;
      if (gi < u.m && gk < u.k) { v = f32(A[off.x + gi * u.a_rs + gk * u.a_cs]); }
      As[kk * TM + i] = v;
    }
    for (var e = li; e < TK * TN; e += threads) {
      let j = e % TN;
      let kk = e / TN;
      let gj = tile_col + j;
      let gk = k0 + kk;
      var v = 0.0;
      if (gj < u.n && gk < u.k) { v = f32(B[off.y + gk * u.b_rs + gj * u.b_cs]); }
      Bs[kk * TN + j] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let bo = kk * TN + lid.x * 4u;
      let b = vec4<f32>(Bs[bo], Bs[bo + 1u], Bs[bo + 2u], Bs[bo + 3u]);
      for (var r = 0u; r < RM; r++) {
        acc[r] = fma(vec4<f32>(As[kk * TM + lid.y * RM + r]), b, acc[r]);
      }
    }
    workgroupBarrier();
  }
  if (in_range) {
    store_block(&acc, bi * u.m * u.n, tile_row + lid.y * RM, tile_col + lid.x * 4u);
  }
}
