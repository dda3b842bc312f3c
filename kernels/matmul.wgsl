// C[b] = op(A[b]) @ op(B[b]): the fast kernel. C is (batch, m, n), contiguous.
//
// Operands are addressed through strides, so the transposes cost nothing: element (i, p) of the
// logical (m, k) matrix A sits at a_off + i * a_rs + p * a_cs (a_rs = k, a_cs = 1 for A stored
// (m, k); a_rs = 1, a_cs = m for transA, A stored (k, m)); likewise (p, j) of B at
// b_off + p * b_rs + j * b_cs. The batch offsets come from the (collapsed) broadcast batch shape
// and per-operand batch strides, 0 where an operand is broadcast.
//
// Entry points (src/ops/matmul.ts picks one by shape and adapter):
//  - `main`: register-blocked, NO shared memory and NO barriers. Each invocation computes RM rows x
//    4 columns (one vec4) of C, accumulating in registers; a k-step costs RM + 4 loads for 4 * RM
//    FMAs. Out-of-range rows/columns are clamped on load (no branches in the inner loop) and
//    masked on store. Fastest on lavapipe (CPU SIMD lanes, where barriers are expensive).
//  - `tiled`: classic shared-memory tiling for real GPUs: a workgroup of (TN/4) x (TM/RM)
//    invocations stages (TM x TK) of A and (TK x TN) of B in workgroup memory, then each invocation
//    runs the same RM x 4 register block out of it.
#include "common.wgsl"

// Rows of C per invocation (register tile height, <= MAX_RM). Columns per invocation are 4 (a vec4).
override RM: u32 = 8u;
const MAX_RM: u32 = 8u;
// Workgroup shape of `main`.
override WG_X: u32 = 8u;
override WG_Y: u32 = 1u;
// `tiled`: the K depth of one shared-memory stage. TM = RM * WG_Y rows, TN = 4 * WG_X columns.
override TK: u32 = 16u;

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_rs: u32, a_cs: u32, b_rs: u32, b_cs: u32,
  // workgroups along the rows of C (the y/z grid linearises row groups x batch)
  row_groups: u32, nbd: u32, pad0: u32, pad1: u32,
  bshape: array<vec4<u32>, 2>,  // collapsed batch shape (nbd dims)
  a_bs: array<vec4<u32>, 2>,    // A's batch strides (0: broadcast)
  b_bs: array<vec4<u32>, 2>,    // B's batch strides
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

// Element offsets of batch entry `bi` in A and B.
fn batch_offsets(bi: u32) -> vec2<u32> {
  var rem = bi;
  var off = vec2<u32>(0u, 0u);
  for (var d = i32(u.nbd) - 1; d >= 0; d--) {
    let s = dim(u.bshape, u32(d));
    let c = rem % s;
    rem = rem / s;
    off += c * vec2<u32>(dim(u.a_bs, u32(d)), dim(u.b_bs, u32(d)));
  }
  return off;
}

fn store_block(acc: ptr<function, array<vec4<f32>, MAX_RM>>, c_off: u32, row0: u32, col0: u32) {
  let cols = min(u.n - col0, 4u);
  for (var r = 0u; r < RM; r++) {
    let i = row0 + r;
    if (i >= u.m) { break; }
    let base = c_off + i * u.n + col0;
    let v = (*acc)[r];
    C[base] = v.x;
    if (cols > 1u) { C[base + 1u] = v.y; }
    if (cols > 2u) { C[base + 2u] = v.z; }
    if (cols > 3u) { C[base + 3u] = v.w; }
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
    let bv = vec4<f32>(B[b_col.x + pb], B[b_col.y + pb], B[b_col.z + pb], B[b_col.w + pb]);
    for (var r = 0u; r < RM; r++) {
      acc[r] = fma(vec4<f32>(A[a_row[r] + pa]), bv, acc[r]);
    }
    pa += u.a_cs;
    pb += u.b_rs;
  }
  store_block(&acc, bi * u.m * u.n, row0, col0);
}
