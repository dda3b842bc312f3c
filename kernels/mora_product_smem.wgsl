// `product_range` of the fused MoRA kernels (kernels/mora_block.wgsl) with the block of M staged in
// workgroup memory: the GPU variant (any subgroup size; src/ops/mora.ts `tileConfig`).
//
//   Ms ([K row][column]): SK rows of the 8·WGA columns of M the workgroup multiplies by, as vec4s
//
// One step of the product is one vec4 load of St per lane, two vec4 loads of Ms that are the same
// for every lane with the same al, and 8 vec4 FMAs. Barriers only around the staging of Ms.

override SMEM4: u32 = 1024u;  // vec4s of St (src/ops/mora.ts: from the device limit, less Ms)
var<workgroup> St: array<vec4<f32>, SMEM4>;  // St[j·BT4 + r]: column j of token group r, shared
const ST_OWN: bool = false;                   // the lanes stage the block's columns together
fn st_at(j: u32, r: u32) -> u32 { return j * BT4 + r; }
fn st_rows() -> u32 { return SMEM4 / BT4; }   // rows of K per pass

const MS4: u32 = 256u;        // vec4s of Ms (src/ops/mora.ts leaves them out of St's share)
override CW4: u32 = 2u * WGA; // vec4s per row of Ms (8·WGA columns)
override SK: u32 = MS4 / CW4; // rows of M per Ms stage

var<workgroup> Ms: array<vec4<f32>, MS4>;

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
