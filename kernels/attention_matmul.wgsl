// Batched products over attention's head layout, read AND written through strides, so that q, k, v
// and the output stay [B, T, nh, hs] (no head split / merge copies):
//
//   C[b, h](i, j) = Σ_{g < nblk} Σ_{p < k} A[b, h, g](i, p) · B[b, h, g](p, j)
//
// Element (i, p) of operand X for batch entry (b, h) and block g sits at
//   x_b·b + x_h·(h / x_hdiv) + x_blk·g + x_rs·i + x_cs·p
// and C's (i, j) at c_b·b + c_h·h + c_rs·i + j. `x_hdiv` maps a query head to its key/value head
// (grouped-query attention: hdiv = nh / nkv on k and v); the block sum (nblk = the group size) adds
// the query heads of a group into their shared key/value head's gradient. src/ops/attention.ts
// sets the strides for each of attention's six products (q kᵀ, P v, and the four of the backward).
//
// Entry points (the same register block as kernels/matmul.wgsl's `main` / `main_vec4`: RM rows x 4
// columns of C per invocation, no shared memory, no barriers):
//  - `main`: scalar loads, any shape and strides (rows / columns past the edge clamped on load,
//    masked on store).
//  - `main_vec4`: vec4 loads along the contiguous axis of each operand (TRANS_A: A's rows are
//    contiguous, i.e. a_rs = 1; TRANS_B: B's columns are, b_rs = 1) and vec4 stores; needs every
//    stride and offset, k, n (and m when TRANS_A) to be multiples of 4.
// Grid: x over column blocks of C, y and z (linearised) over row blocks x batch entries (b, h).
#include "common.wgsl"

alias T = f32;   // element type of A, B, C (f16 in the float16 specialisation); accumulation in f32

override RM: u32 = 8u;
const MAX_RM: u32 = 8u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 1u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
  m: u32, n: u32, k: u32, nblk: u32,
  heads: u32, batch: u32, row_groups: u32, pad0: u32,
  a_b: u32, a_h: u32, a_hdiv: u32, a_blk: u32,
  a_rs: u32, a_cs: u32, b_b: u32, b_h: u32,
  b_hdiv: u32, b_blk: u32, b_rs: u32, b_cs: u32,
  c_b: u32, c_h: u32, c_rs: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> A: array<T>;
@group(0) @binding(1) var<storage, read> B: array<T>;
@group(0) @binding(2) var<storage, read_write> C: array<T>;
@group(0) @binding(3) var<uniform> u: Params;

@group(0) @binding(0) var<storage, read> A4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> B4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> C4: array<vec4<T>>;

// Element offsets of batch entry bi = b·heads + h in A (x), B (y) and C (z).
fn offsets(bi: u32) -> vec3<u32> {
  let b = bi / u.heads;
  let h = bi % u.heads;
  return vec3<u32>(b * u.a_b + (h / u.a_hdiv) * u.a_h, b * u.b_b + (h / u.b_hdiv) * u.b_h, b * u.c_b + h * u.c_h);
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
  let off = offsets(bi);
  let last = u.n - 1u;
  var acc: array<vec4<f32>, MAX_RM>;
  for (var g = 0u; g < u.nblk; g++) {
    var a_row: array<u32, MAX_RM>;
    for (var r = 0u; r < RM; r++) { a_row[r] = off.x + g * u.a_blk + min(row0 + r, u.m - 1u) * u.a_rs; }
    let b_col = off.y + g * u.b_blk + vec4<u32>(col0, min(col0 + 1u, last), min(col0 + 2u, last), min(col0 + 3u, last)) * u.b_cs;
    var pa = 0u;
    var pb = 0u;
    for (var p = 0u; p < u.k; p++) {
      let b = vec4<f32>(f32(B[b_col.x + pb]), f32(B[b_col.y + pb]), f32(B[b_col.z + pb]), f32(B[b_col.w + pb]));
      for (var r = 0u; r < RM; r++) { acc[r] = fma(vec4<f32>(f32(A[a_row[r] + pa])), b, acc[r]); }
      pa += u.a_cs;
      pb += u.b_rs;
    }
  }
  let cols = min(u.n - col0, 4u);
  for (var r = 0u; r < RM; r++) {
    let i = row0 + r;
    if (i >= u.m) { return; }
    let base = off.z + i * u.c_rs + col0;
    let v = acc[r];
    C[base] = T(v.x);
    if (cols > 1u) { C[base + 1u] = T(v.y); }
    if (cols > 2u) { C[base + 2u] = T(v.z); }
    if (cols > 3u) { C[base + 3u] = T(v.w); }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.y + wid.z * nwg.y;
  if (lin >= u.row_groups * u.batch) { return; }
  let bi = lin / u.row_groups;
  let row0 = ((lin % u.row_groups) * WG_Y + lid.y) * RM;
  let c4 = gid.x;  // columns 4·c4 .. 4·c4 + 3
  if (row0 >= u.m || 4u * c4 >= u.n) { return; }
  let off = offsets(bi) / 4u;  // in vec4s
  let k4 = u.k / 4u;
  let m4 = u.m / 4u;
  // strides in vec4s: along A's rows (not TRANS_A) or columns (TRANS_A), B's rows or columns
  let a_s = select(u.a_rs, u.a_cs, TRANS_A) / 4u;
  let b_s = select(u.b_rs, u.b_cs, TRANS_B) / 4u;
  var acc: array<vec4<f32>, MAX_RM>;
  for (var g = 0u; g < u.nblk; g++) {
    let a0 = off.x + g * (u.a_blk / 4u);
    let b0 = off.y + g * (u.b_blk / 4u);
    // A: RM rows of vec4s along k, or (TRANS_A) vec4s along m at each p (clamped past m).
    var a_idx: array<u32, MAX_RM>;
    if (TRANS_A) {
      for (var t = 0u; t < RM / 4u; t++) { a_idx[t] = a0 + min(row0 / 4u + t, m4 - 1u); }
    } else {
      for (var r = 0u; r < RM; r++) { a_idx[r] = a0 + min(row0 + r, u.m - 1u) * a_s; }
    }
    // B: (TRANS_B) one vec4 along k per column, else one vec4 along n per row p.
    let b_idx = select(vec4<u32>(b0 + c4), b0 + (vec4<u32>(4u * c4) + vec4<u32>(0u, 1u, 2u, 3u)) * b_s, TRANS_B);
    for (var p4 = 0u; p4 < k4; p4++) {
      var b: array<vec4<f32>, 4>;  // b[q] = B[4·p4 + q, 4·c4 .. 4·c4 + 3]
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
        let base = b_idx.x + 4u * p4 * b_s;
        b[0] = vec4<f32>(B4[base]);
        b[1] = vec4<f32>(B4[base + b_s]);
        b[2] = vec4<f32>(B4[base + 2u * b_s]);
        b[3] = vec4<f32>(B4[base + 3u * b_s]);
      }
      if (TRANS_A) {
        for (var q = 0u; q < 4u; q++) {
          let row = (4u * p4 + q) * a_s;
          for (var t = 0u; t < RM / 4u; t++) {
            let a = vec4<f32>(A4[a_idx[t] + row]);  // A[row0 + 4t .. +3, 4·p4 + q]
            acc[4u * t] = fma(vec4<f32>(a.x), b[q], acc[4u * t]);
            acc[4u * t + 1u] = fma(vec4<f32>(a.y), b[q], acc[4u * t + 1u]);
            acc[4u * t + 2u] = fma(vec4<f32>(a.z), b[q], acc[4u * t + 2u]);
            acc[4u * t + 3u] = fma(vec4<f32>(a.w), b[q], acc[4u * t + 3u]);
          }
        }
      } else {
        for (var r = 0u; r < RM; r++) {
          let a = vec4<f32>(A4[a_idx[r] + p4]);  // A[row0 + r, 4·p4 .. +3]
          acc[r] = fma(vec4<f32>(a.x), b[0], acc[r]);
          acc[r] = fma(vec4<f32>(a.y), b[1], acc[r]);
          acc[r] = fma(vec4<f32>(a.z), b[2], acc[r]);
          acc[r] = fma(vec4<f32>(a.w), b[3], acc[r]);
        }
      }
    }
  }
  let c_s = u.c_rs / 4u;
  for (var r = 0u; r < RM; r++) {
    if (row0 + r >= u.m) { break; }
    C4[off.z + (row0 + r) * c_s + c4] = vec4<T>(acc[r]);
  }
}
