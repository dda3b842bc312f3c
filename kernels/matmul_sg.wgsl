// The subgroup broadcast product of the MoRA kernels (kernels/sg_fma.wgsl, docs/kernels.md "What
// lavapipe rewards"): the CPU-adapter matmul, and attention's head products. Every operand is read
// and written through strides:
//
//   C[bi](i, j) = Σ_{g < nblk} Σ_{p < k} A[bi, g](i, p) · B[bi, g](p, j)
//
// with A's (i, p) at a_off(bi) + g·a_blk + i·a_rs + p·a_cs, B's (p, j) at b_off(bi) + g·b_blk +
// p·b_rs + j·b_cs and C's (i, j) at c_off(bi) + i·c_rs + j; a_off, b_off, c_off unravel bi over the
// (collapsed) batch shape with each operand's batch strides (0 on a broadcast dim). The matmul is
// nblk = 1 with C contiguous; attention's products (src/ops/attention-product.ts) read q, k, v in
// their [B, T, nh, hs] layout, a grouped-query kv head as a broadcast batch dim, and sum a group's
// query heads into its kv head's gradient as nblk blocks.
//
// A workgroup is 8 lanes, one subgroup (lavapipe: one SIMD batch of one CPU thread). It owns 32 rows
// of C (lane l: rows r0 + 4l .. r0 + 4l + 3) and the columns [c0, c0 + cw). K runs in passes of
// ST_ROWS rows: each lane stages its 4 rows of A for the pass in a private array,
//   St[j] = (A[r, k0 + j], A[r + 1, k0 + j], A[r + 2, k0 + j], A[r + 3, k0 + j]),
// once, then walks the workgroup's columns 8 at a time. Per 4 steps of K each lane loads one vec4
// of B (the `load_b` of the io file joined to this one) and every lane takes the B entries it needs
// from the others' registers by `subgroupBroadcast` from a constant lane (a register shuffle; a
// uniform load inside a loop is a scalar load per lane on lavapipe):
//   TRANS_B = false (B stored (k, n)): lane l holds B[s + l / 2, jb + 4 (l % 2) .. + 3], a run of a row;
//   TRANS_B = true  (B stored (n, k)): lane q holds B[s .. s + 3, jb + q], a run of B's storage row.
// The accumulators, 4 rows x 8 columns per lane, stay in registers (8 vec4s); a pass after the first
// (or block after the first) adds to what the previous ones stored. No shared memory, no barriers. Rows past m and columns
// past n read clamped entries and are masked on store.
//
// The io file (`matmul_sg+matmul_sg_vec4` or `+matmul_sg_scalar`) binds B and C and defines
// `load_b(b_off, s, jb, lane)` and `store_c(acc, c_off, r0, jb, add)`: vec4 loads and stores where
// B's and C's rows are runs of whole vec4s (src/ops/matmul.ts `sgVec4`), else scalar ones through
// the strides. TRANS_B: B's k axis is its contiguous one (b_rs = 1 on the vec4 path). ST_ROWS is a
// module constant from the shader name (WGSL sizes private arrays with const expressions only).
#include "common.wgsl"
#include "sg_fma.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation; f32 accumulation)

override TRANS_B: bool = false;

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_rs: u32, a_cs: u32, b_rs: u32, b_cs: u32,
  row_groups: u32,  // workgroups along the rows of C: ceil(m / 32)
  nbd: u32,         // number of (collapsed) batch dims
  cw: u32,          // columns of C per workgroup (a multiple of 8)
  c_rs: u32,        // C's row stride
  nblk: u32, a_blk: u32, b_blk: u32, pad0: u32,  // blocks summed and their strides in A and B
  bshape: array<vec4<u32>, 2>,  // batch shape
  a_bs: array<vec4<u32>, 2>,    // A's batch strides in elements (0: broadcast)
  b_bs: array<vec4<u32>, 2>,    // B's batch strides
  c_bs: array<vec4<u32>, 2>,    // C's batch strides
}

@group(0) @binding(0) var<storage, read> A: array<T>;
@group(0) @binding(3) var<uniform> u: Params;

var<private> St: array<vec4<f32>, ST_ROWS>;  // St[j]: this lane's 4 rows of A at step k0 + j

// Element offsets of batch entry `bi` in A (x), B (y) and C (z).
fn batch_offsets(bi: u32) -> vec3<u32> {
  var rem = bi;
  var off = vec3<u32>(0u);
  for (var d = u.nbd; d > 0u; d--) {
    let s = dim(u.bshape, d - 1u);
    let c = rem % s;
    rem = rem / s;
    off += c * vec3<u32>(dim(u.a_bs, d - 1u), dim(u.b_bs, d - 1u), dim(u.c_bs, d - 1u));
  }
  return off;
}

// acc[q] += v · B[., jb + q] for the 8 columns of one step: columns 0-3 in lane `lo`'s vec4, 4-7 in `hi`'s.
fn fma_row(acc: ptr<function, array<vec4<f32>, 8>>, v: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) {
  (*acc)[0] = fma(v, vec4<f32>(lo.x), (*acc)[0]);
  (*acc)[1] = fma(v, vec4<f32>(lo.y), (*acc)[1]);
  (*acc)[2] = fma(v, vec4<f32>(lo.z), (*acc)[2]);
  (*acc)[3] = fma(v, vec4<f32>(lo.w), (*acc)[3]);
  (*acc)[4] = fma(v, vec4<f32>(hi.x), (*acc)[4]);
  (*acc)[5] = fma(v, vec4<f32>(hi.y), (*acc)[5]);
  (*acc)[6] = fma(v, vec4<f32>(hi.z), (*acc)[6]);
  (*acc)[7] = fma(v, vec4<f32>(hi.w), (*acc)[7]);
}

// 4 steps of K from St[si] (TRANS_B = false): step i's row of B is in lanes 2i and 2i + 1.
fn fma4x8_rows(acc: ptr<function, array<vec4<f32>, 8>>, si: u32, bv: vec4<f32>) {
  fma_row(acc, St[si], subgroupBroadcast(bv, 0u), subgroupBroadcast(bv, 1u));
  fma_row(acc, St[si + 1u], subgroupBroadcast(bv, 2u), subgroupBroadcast(bv, 3u));
  fma_row(acc, St[si + 2u], subgroupBroadcast(bv, 4u), subgroupBroadcast(bv, 5u));
  fma_row(acc, St[si + 3u], subgroupBroadcast(bv, 6u), subgroupBroadcast(bv, 7u));
}

// The first n < 4 of them (the tail of a pass, kept out of the main loop).
fn fma4x8_rows_tail(acc: ptr<function, array<vec4<f32>, 8>>, si: u32, bv: vec4<f32>, n: u32) {
  fma_row(acc, St[si], subgroupBroadcast(bv, 0u), subgroupBroadcast(bv, 1u));
  if (n > 1u) { fma_row(acc, St[si + 1u], subgroupBroadcast(bv, 2u), subgroupBroadcast(bv, 3u)); }
  if (n > 2u) { fma_row(acc, St[si + 2u], subgroupBroadcast(bv, 4u), subgroupBroadcast(bv, 5u)); }
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.y + wid.z * nwg.y;
  if (lin >= u.row_groups * u.batch) { return; }  // the whole workgroup
  let bi = lin / u.row_groups;
  let r0 = (lin % u.row_groups) * 32u + 4u * lane;
  let c0 = wid.x * u.cw;
  let c_end = min(c0 + u.cw, u.n);
  let off = batch_offsets(bi);
  let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(u.m - 1u)) * u.a_rs;
  let npass = max((u.k + ST_ROWS - 1u) / ST_ROWS, 1u);  // k = 0: one pass that stores zeros
  for (var ps = 0u; ps < u.nblk * npass; ps++) {  // block g = ps / npass, K from k0
    let g = ps / npass;
    let k0 = (ps % npass) * ST_ROWS;
    let a_row = vec4<u32>(off.x + g * u.a_blk) + rows;
    let b_off = off.y + g * u.b_blk;
    let kn = min(ST_ROWS, u.k - k0);
    for (var j = 0u; j < kn; j++) {
      let p = (k0 + j) * u.a_cs;
      St[j] = vec4<f32>(f32(A[a_row.x + p]), f32(A[a_row.y + p]), f32(A[a_row.z + p]), f32(A[a_row.w + p]));
    }
    for (var jb = c0; jb < c_end; jb += 8u) {
      var acc = array<vec4<f32>, 8>();
      var s = 0u;
      if (TRANS_B) {
        for (; s + 4u <= kn; s += 4u) { fma4x8(&acc, s, load_b(b_off, k0 + s, jb, lane)); }
        if (s < kn) { fma4x8_tail(&acc, s, load_b(b_off, k0 + s, jb, lane), kn - s); }
      } else {
        for (; s + 4u <= kn; s += 4u) { fma4x8_rows(&acc, s, load_b(b_off, k0 + s, jb, lane)); }
        if (s < kn) { fma4x8_rows_tail(&acc, s, load_b(b_off, k0 + s, jb, lane), kn - s); }
      }
      store_c(&acc, off.z, r0, jb, ps > 0u);
    }
  }
}
