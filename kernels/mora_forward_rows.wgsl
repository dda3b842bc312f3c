// MoRA forward, fused, for CPU adapters: y = f_decomp(M · f_comp(x)) in ONE dispatch with each entry
// of x read once and each entry of y written once, as whole aligned vec4s (src/ops/mora.ts
// `forwardRowsKernel`, docs/mora.md "The kernels"). Reads x (T, k) and M (R, R), writes y (T, d).
//
// A workgroup is one 8-lane subgroup (lavapipe: one SIMD batch of one CPU thread) and owns BT = 32
// tokens, every chunk and every output. Lane l owns the tokens t0 + 4l .. + 3.
//   1. The block's x rows, one contiguous range x[t0·k .. t1·k) (t0·k is a multiple of 4), are
//      copied into workgroup memory `Wr` as whole vec4s, the lanes on consecutive vec4s.
//   2. Per chunk c (types 6/8: c < nc; other types: one), each lane compresses its 4 tokens out of
//      Wr into its private `St` (v_{t,c}[j] as a vec4 over the tokens: the padding, groups,
//      truncation and rotation applied to the staged rows), then runs the subgroup product
//      z_{t,c}[a] = Σ_j M[a, j] v_{t,c}[j] in blocks of 8 rows a (kernels/sg_fma.wgsl) into its
//      private `Z` ((chunk, a) rows, vec4 over the tokens).
//   3. Wr is reused for the block's y rows: each lane writes its tokens' outputs out of Z through the
//      decompression map, then the lanes copy the block to y as whole vec4s (t0·d is a multiple of
//      4; only the last vec4 of y may be partial, stored entry by entry).
// The host picks this kernel when BT·max(k, d) entries fit in Wr and nc·R rows in Z
// (src/ops/mora-tiling.ts `rowsFit`); kernels/mora_forward.wgsl is the kernel otherwise.
#include "mora_common.wgsl"
#include "sg_fma.wgsl"

const BT: u32 = 32u;  // tokens per workgroup (8 lanes x 4)
const AN: u32 = 8u;   // rows a per product block (one per lane)
override W4: u32 = 2048u;  // vec4s of Wr (the workgroup memory)

@group(0) @binding(0) var<storage, read> X4: array<vec4<f32>>;  // x (T, k), as vec4s
@group(0) @binding(1) var<storage, read> Mw4: array<vec4<f32>>;  // M (R, R), as vec4s
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;  // y (T, d), as vec4s
@group(0) @binding(3) var<uniform> u: Params;

var<workgroup> Wr: array<vec4<f32>, W4>;        // the block's x rows, then its y rows (flat, from t0·k / t0·d)
var<private> St: array<vec4<f32>, ST_ROWS>;     // St[j]: v_{t,c}[j] for this lane's 4 tokens
var<private> Z: array<vec4<f32>, Z_ROWS>;       // Z[c·R + a]: z_{t,c}[a] for this lane's 4 tokens

fn ld_m(a: u32, j: u32) -> f32 {
  let i = a * u.R + j;
  return Mw4[i >> 2u][i & 3u];
}

// M[i .. i + 3] (flat, any alignment); past the end: whatever the clamped loads give (masked by the caller).
fn m4(i: u32) -> vec4<f32> {
  let a = Mw4[i >> 2u];
  if ((i & 3u) == 0u) { return a; }
  return join4(a, Mw4[(i >> 2u) + 1u], i & 3u);
}

fn wr(i: u32) -> f32 { return Wr[i >> 2u][i & 3u]; }

// x[t, p] (p < k) for this lane's 4 tokens t, from the staged rows (b: the lane's first row in Wr).
fn xs4(b: u32, p: u32) -> vec4<f32> {
  return vec4<f32>(wr(b + p), wr(b + u.k + p), wr(b + 2u * u.k + p), wr(b + 3u * u.k + p));
}

// v_{t,c}[j] for this lane's 4 tokens (the forward's compression, rotation included).
fn comp4(b: u32, c: u32, j: u32) -> vec4<f32> {
  if (comp_strided()) {                     // Σ_m x_pad[mR + j]
    var s = vec4<f32>(0.0);
    for (var p = j; p < u.n * u.R; p += u.R) { s += xs4(b, wrap(p)); }
    return s;
  }
  if (comp_groups()) {                      // Σ of the uneven contiguous group j of k
    var s = vec4<f32>(0.0);
    let s0 = group_start(j, u.k, u.R);
    for (var i = s0; i < s0 + group_size(j, u.k, u.R); i++) { s += xs4(b, i); }
    return s;
  }
  if (truncation()) {                       // x[j], zero past k
    if (j < u.k) { return xs4(b, j); }
    return vec4<f32>(0.0);
  }
  let p = c * u.R + j;                      // chunked: x_pad[cR + j]
  let v = xs4(b, wrap(p));
  if (!rotated()) { return v; }
  // v' = v·cos θ + rotate_half(v)·sin θ; rotate_half(v)[j] = -v[j + R/2] (j < R/2), v[j - R/2]
  let h = u.R / 2u;
  var partner: vec4<f32>;
  if (j < h) { partner = -xs4(b, wrap(p + h)); } else { partner = xs4(b, wrap(p - h)); }
  let sc = rot_sc(c, j);
  return v * sc.y + partner * sc.x;
}

// z[a0 + q] for q < 8 (lane q holds M's row a0 + q, broadcast 4 steps at a time) out of St[0 .. R).
fn product(lane: u32, a0: u32) -> array<vec4<f32>, AN> {
  var acc = array<vec4<f32>, AN>();
  let row = min(a0 + lane, u.R - 1u) * u.R;  // rows past R: clamped, never stored
  var s = 0u;
  for (; s + 4u <= u.R; s += 4u) { fma4x8(&acc, s, m4(row + s)); }
  if (s < u.R) { fma4x8_tail(&acc, s, m4(row + s), u.R - s); }
  return acc;
}

// y[t, o] for this lane's 4 tokens into the staged y rows (b: the lane's first row in Wr).
fn put4(b: u32, o: u32, z: vec4<f32>) {
  for (var e = 0u; e < 4u; e++) {
    let i = b + e * u.d + o;
    Wr[i >> 2u][i & 3u] = z[e];
  }
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= u.total) { return; }
  let t0 = lin * BT;
  let t1 = min(u.T, t0 + BT);

  // 1. x[t0 .. t1) into Wr (t0·k is a multiple of 4: the vec4s line up with Wr's)
  let qx = (t0 * u.k) >> 2u;
  let nx = (t1 * u.k + 3u) / 4u - qx;
  for (var q = lane; q < nx; q += 8u) { Wr[q] = X4[qx + q]; }
  workgroupBarrier();

  // 2. per chunk: compress this lane's tokens into St, z = M v into Z
  let bx = 4u * lane * u.k;
  let chunks = select(1u, u.nc, chunked());
  for (var c = 0u; c < chunks; c++) {
    for (var j = 0u; j < u.R; j++) { St[j] = comp4(bx, c, j); }
    for (var a0 = 0u; a0 < u.R; a0 += AN) {
      let acc = product(lane, a0);
      for (var q = 0u; q < min(AN, u.R - a0); q++) { Z[c * u.R + a0 + q] = acc[q]; }
    }
  }
  workgroupBarrier();  // every lane is done with x

  // 3. y rows into Wr through the decompression map, then out as whole vec4s
  let by = 4u * lane * u.d;
  if (decomp_groups()) {                    // o in the uneven contiguous group a of d
    for (var a = 0u; a < u.R; a++) {
      let s0 = group_start(a, u.d, u.R);
      for (var o = s0; o < s0 + group_size(a, u.d, u.R); o++) { put4(by, o, Z[a]); }
    }
  } else if (truncation()) {                // y = [z; 0]
    for (var o = 0u; o < u.d; o++) { put4(by, o, select(vec4<f32>(0.0), Z[min(o, u.R - 1u)], o < u.R)); }
  } else {                                  // tile: Z[o mod R]; chunked: Z[o mod nR] (concat of the chunks, tiled / cut)
    let period = select(u.R, u.n * u.R, chunked());
    var s = 0u;
    for (var o = 0u; o < u.d; o++) {
      put4(by, o, Z[s]);
      s++;
      if (s == period) { s = 0u; }
    }
  }
  workgroupBarrier();
  let qy = (t0 * u.d) >> 2u;
  let ey = t1 * u.d;                        // y entries end (the last vec4 may be partial when t1 = T)
  let ny = ey / 4u - qy;                    // whole vec4s
  for (var q = lane; q < ny; q += 8u) { y4[qy + q] = Wr[q]; }
  if (lane == 0u && (ey & 3u) != 0u) {
    for (var i = ey & ~3u; i < ey; i++) { y4[i >> 2u][i & 3u] = wr(i - 4u * qy); }
  }
}
