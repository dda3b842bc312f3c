// The engine of the fused MoRA kernels (kernels/mora_forward.wgsl, mora_backward.wgsl; docs/mora.md
// "Kernels"): compress a block of tokens ONCE into workgroup memory, then run register blocks of
// the square product out of it against a block of M staged beside it.
//
//   St (staged, [column][token group]): the compressed operand of BT = 4·WGT tokens as vec4s of 4
//       consecutive tokens: v_{t,c}[j] (forward) or u_{t,c}[a] = (f_decompᵀ g_t)[a] (backward)
//   Ms ([K row][column]): SK rows of the 8·WGA columns of M the workgroup multiplies by, as vec4s
//   acc[q] += Σ_s St[s][tl] · Ms[s][al·8 + q]      (vec4: 4 tokens, q < 8 columns)
//
// Lane (tl, al) = (lane % WGT, lane / WGT) owns tokens t0 + 4·tl .. + 3 and the columns al·8 .. + 7
// of each block of 8·WGA. One step of the product is one vec4 load of St per lane, two vec4 loads
// of Ms that are the same for every lane with the same al (all of them when WGA = 1), and 8 vec4
// FMAs. Barriers only around staging: St holds S = SMEM4 / BT4 rows of K (all of R when it fits,
// else the callers run K in passes of S rows that add onto their outputs), Ms SK rows at a time.
// On lavapipe a workgroup of 8 lanes is one SIMD batch of one CPU thread: barriers are free, a
// uniform load is one scalar load and a broadcast, a divergent load a loop over the lanes (so each
// must fetch a whole vec4), and the integer divisions (wrap-around, groups) sit outside the token
// loops (one per column), never per element. Reading M from workgroup memory as vec4s instead of
// 8 scalar storage loads per step made the forward 2x faster there (docs/mora.md).
//
// The including kernel binds Mw4 (M, (R, R)) as a vec4 view and defines x_at(q) / g_at(q), the q-th
// vec4 of x (T, k) / g (T, d) (the forward has no g). Every tensor buffer is a multiple of 16 bytes
// (the pool's size classes), so the vec4 views cover every entry.
#include "mora_common.wgsl"
#include "mora_stage.wgsl"

override WGT: u32 = 8u;      // lanes along tokens (4 tokens each)
override WGA: u32 = 1u;      // lanes along columns
override WG: u32 = WGT * WGA;
const AN: u32 = 8u;          // columns per lane and block (two vec4s of Ms)
override BT: u32 = 4u * WGT; // tokens per workgroup
override BT4: u32 = WGT;     // token groups (vec4s) per staged column
override SMEM4: u32 = 1024u; // vec4s of St (picked from the device limit)
override MS4: u32 = 256u;    // vec4s of Ms
override CW4: u32 = 2u * WGA; // vec4s per row of Ms (8·WGA columns)
override SK: u32 = MS4 / CW4; // rows of M per Ms stage

var<workgroup> St: array<vec4<f32>, SMEM4>;
var<workgroup> Ms: array<vec4<f32>, MS4>;

// The 4 entries from offset r (1..3) of two consecutive aligned vec4s a, b: an unaligned vec4 load.
fn join4(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  switch (r) {
    case 1u: { return vec4<f32>(a.yzw, b.x); }
    case 2u: { return vec4<f32>(a.zw, b.xy); }
    default: { return vec4<f32>(a.w, b.xyz); }
  }
}

// M[i .. i + 3] (flat index, any alignment) from the vec4 view of M: one or two aligned vec4 loads.
// Past the end of M it returns whatever the (clamped) loads give: callers mask those entries.
fn m4(i: u32) -> vec4<f32> {
  let a = Mw4[i >> 2u];
  if ((i & 3u) == 0u) { return a; }
  return join4(a, Mw4[(i >> 2u) + 1u], i & 3u);
}

fn ld_m(a: u32, j: u32) -> f32 {
  let i = a * u.R + j;
  return Mw4[i >> 2u][i & 3u];
}

// Column q of the backward block from b0: l = b0 + q, or for type 6 the rotation pairs
// b0 + q (q < 4) and b0 + R/2 + q - 4 (q >= 4). Past R: masked by the caller.
fn col_of(b0: u32, q: u32) -> u32 {
  if (rotated()) { return b0 + q % 4u + select(0u, u.R / 2u, q >= 4u); }
  return b0 + q;
}

// Ms[s·CW4 + c4] = Mop[k0 + s, 4·c4 .. 4·c4 + 3] for s < kn (callers put barriers around it), with
//   forward (z = M v):   Mop[s, col] = M[b0 + col, s]  (rows of M: 4 rows x 4 steps per lane, transposed)
//   backward (w = Mᵀ u): Mop[s, col] = M[s, col_of(b0, col)]  (4 contiguous columns per load)
// Every load fetches 4 entries (lavapipe runs a divergent load lane by lane).
fn stage_m(lane: u32, is_u: bool, b0: u32, k0: u32, kn: u32) {
  if (is_u) {
    for (var e = lane; e < kn * CW4; e += WG) {
      let s = e / CW4;
      let c4 = e % CW4;  // CW4 = 2 (WGA = 1 in the backward): a shift and a mask
      Ms[e] = m4((k0 + s) * u.R + col_of(b0, 4u * c4));
    }
    return;
  }
  let n4 = (kn + 3u) / 4u;
  for (var c4 = 0u; c4 < CW4; c4++) {
    let r0 = min(b0 + 4u * c4, u.R - 1u) * u.R + k0;
    let r1 = min(b0 + 4u * c4 + 1u, u.R - 1u) * u.R + k0;
    let r2 = min(b0 + 4u * c4 + 2u, u.R - 1u) * u.R + k0;
    let r3 = min(b0 + 4u * c4 + 3u, u.R - 1u) * u.R + k0;
    for (var s4 = lane; s4 < n4; s4 += WG) {
      let s = 4u * s4;
      let m0 = m4(r0 + s);
      let m1 = m4(r1 + s);
      let m2 = m4(r2 + s);
      let m3 = m4(r3 + s);
      Ms[s * CW4 + c4] = vec4<f32>(m0.x, m1.x, m2.x, m3.x);
      if (s + 1u < kn) { Ms[(s + 1u) * CW4 + c4] = vec4<f32>(m0.y, m1.y, m2.y, m3.y); }
      if (s + 2u < kn) { Ms[(s + 2u) * CW4 + c4] = vec4<f32>(m0.z, m1.z, m2.z, m3.z); }
      if (s + 3u < kn) { Ms[(s + 3u) * CW4 + c4] = vec4<f32>(m0.w, m1.w, m2.w, m3.w); }
    }
  }
}

// acc[q] += v · m[q] for the 8 columns m = (lo, hi)
fn fma8(acc: ptr<function, array<vec4<f32>, AN>>, v: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) {
  (*acc)[0] = fma(v, vec4<f32>(lo.x), (*acc)[0]);
  (*acc)[1] = fma(v, vec4<f32>(lo.y), (*acc)[1]);
  (*acc)[2] = fma(v, vec4<f32>(lo.z), (*acc)[2]);
  (*acc)[3] = fma(v, vec4<f32>(lo.w), (*acc)[3]);
  (*acc)[4] = fma(v, vec4<f32>(hi.x), (*acc)[4]);
  (*acc)[5] = fma(v, vec4<f32>(hi.y), (*acc)[5]);
  (*acc)[6] = fma(v, vec4<f32>(hi.z), (*acc)[6]);
  (*acc)[7] = fma(v, vec4<f32>(hi.w), (*acc)[7]);
}

// acc += Σ_{s < kn} St[(st0 + s)·BT4 + tl] · Ms[s][al·8 ..]
fn block_product(acc: ptr<function, array<vec4<f32>, AN>>, tl: u32, al: u32, st0: u32, kn: u32) {
  var si = st0 * BT4 + tl;
  var mi = 2u * al;
  var s = 0u;
  for (; s + 2u <= kn; s += 2u) {  // 2 rows per iteration (loop overhead is a large share on lavapipe)
    fma8(acc, St[si], Ms[mi], Ms[mi + 1u]);
    fma8(acc, St[si + BT4], Ms[mi + CW4], Ms[mi + CW4 + 1u]);
    si += 2u * BT4;
    mi += 2u * CW4;
  }
  if (s < kn) { fma8(acc, St[si], Ms[mi], Ms[mi + 1u]); }
}

// The product of the token block with the 8·WGA columns from b0 over K rows [k0, k0 + kn), St
// holding exactly those rows (this lane: its 4 tokens x its 8 columns): Ms is staged SK rows at a
// time. Barriers: call in uniform control flow.
fn product_range(lane: u32, is_u: bool, b0: u32, k0: u32, kn: u32) -> array<vec4<f32>, AN> {
  let tl = lane % WGT;
  let al = select(lane / WGT, 0u, WGA == 1u);  // a constant 0 when WGA = 1: Ms loads stay uniform
  var acc = array<vec4<f32>, AN>();  // explicit: a bare var inside an inlined loop may keep old values (docs/kernels.md)
  for (var s0 = 0u; s0 < kn; s0 += SK) {
    let sn = min(SK, kn - s0);
    workgroupBarrier();
    stage_m(lane, is_u, b0, k0 + s0, sn);
    workgroupBarrier();
    block_product(&acc, tl, al, s0, sn);
  }
  return acc;
}
