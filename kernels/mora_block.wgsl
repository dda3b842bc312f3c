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
// FMAs. Barriers only around staging: once for St (a stage holds S = SMEM4 / BT4 columns; when R >
// S the block is re-staged per column block, which the host avoids by choosing WGT) and once per
// SK rows of Ms.
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

// src[t, i]: x (from_g false) or g (from_g true).
fn ld_src(t: u32, i: u32, from_g: bool) -> f32 {
  if (from_g) {
    let f = t * u.d + i;
    return g_at(f >> 2u)[f & 3u];
  }
  let f = t * u.k + i;
  return x_at(f >> 2u)[f & 3u];
}

// The 4 tokens t .. t + 3 of src[·, i] (x or g); tokens past T read as 0.
fn ld4(t: u32, i: u32, from_g: bool) -> vec4<f32> {
  let last = u.T - 1u;
  let v = vec4<f32>(ld_src(min(t, last), i, from_g), ld_src(min(t + 1u, last), i, from_g),
                    ld_src(min(t + 2u, last), i, from_g), ld_src(min(t + 3u, last), i, from_g));
  return select(vec4<f32>(0.0), v, vec4<u32>(t, t + 1u, t + 2u, t + 3u) < vec4<u32>(u.T));
}

// St[base + r] += w · src[t0 + 4r .. + 3, i] for the block's token groups r.
fn add_col(base: u32, t0: u32, i: u32, w: f32, from_g: bool) {
  for (var r = 0u; r < rolled(BT4); r++) {
    St[base + r] = fma(vec4<f32>(w), ld4(t0 + 4u * r, i, from_g), St[base + r]);
  }
}

// Stages column j of the compressed input v_{·,c} at St[base ..]: the x entries that compress into
// v_c[j], with their weights (type 6: cos θ and ±sin θ of the rotation partner).
fn stage_v(base: u32, t0: u32, c: u32, j: u32) {
  if (comp_strided()) {                     // c[j] = Σ_m x_pad[mR + j]
    for (var p = j; p < u.n * u.R; p += u.R) { add_col(base, t0, wrap(p), 1.0, false); }
    return;
  }
  if (comp_groups()) {                      // the uneven contiguous group j of k (empty when k < R)
    let s0 = group_start(j, u.k, u.R);
    let s1 = s0 + group_size(j, u.k, u.R);
    for (var i = s0; i < s1; i++) { add_col(base, t0, i, 1.0, false); }
    return;
  }
  if (truncation()) {                       // x[0 .. R), zeros past k
    if (j < u.k) { add_col(base, t0, j, 1.0, false); }
    return;
  }
  // chunked: x_pad[cR + j]; rotated: v' = v·cos θ + rotate_half(v)·sin θ with
  // rotate_half(v)[j] = -v[j + R/2] (j < R/2), v[j - R/2] (j >= R/2)
  let p = c * u.R + j;
  if (!rotated()) {
    add_col(base, t0, wrap(p), 1.0, false);
    return;
  }
  let sc = rot_sc(c, j);
  let h = u.R / 2u;
  add_col(base, t0, wrap(p), sc.y, false);
  if (j < h) { add_col(base, t0, wrap(p + h), -sc.x, false); }
  else { add_col(base, t0, wrap(p - h), sc.x, false); }
}

// Stages column a of u_{·,c} = f_decompᵀ g: the sum of g over the outputs that copy z_c[a].
fn stage_u(base: u32, t0: u32, c: u32, a: u32) {
  if (decomp_tile()) {                      // o ≡ a (mod R)
    for (var o = a; o < u.d; o += u.R) { add_col(base, t0, o, 1.0, true); }
    return;
  }
  if (decomp_groups()) {                    // the uneven contiguous group a of d
    let s0 = group_start(a, u.d, u.R);
    let s1 = s0 + group_size(a, u.d, u.R);
    for (var o = s0; o < s1; o++) { add_col(base, t0, o, 1.0, true); }
    return;
  }
  if (truncation()) {                       // y = [z; 0]
    if (a < u.d) { add_col(base, t0, a, 1.0, true); }
    return;
  }
  if (c >= u.nc) { return; }                // chunked: concat(z_0 .. z_{n-1}) tiled / cut to d
  for (var o = c * u.R + a; o < u.d; o += u.n * u.R) { add_col(base, t0, o, 1.0, true); }
}

// ---- staging 4 columns x 4 tokens at a time (every type but the groups) ----------------------------

// src[t, i .. i + 3] from the vec4 view (any alignment; past the row's end it reads on: callers
// mask). x rows have k entries, g rows d.
fn row4(t: u32, i: u32, from_g: bool) -> vec4<f32> {
  let f = t * select(u.k, u.d, from_g) + i;
  let q = f >> 2u;
  var a: vec4<f32>;
  var b: vec4<f32>;
  if (from_g) { a = g_at(q); } else { a = x_at(q); }
  let r = f & 3u;
  if (r == 0u) { return a; }
  if (from_g) { b = g_at(q + 1u); } else { b = x_at(q + 1u); }
  switch (r) {
    case 1u: { return vec4<f32>(a.yzw, b.x); }
    case 2u: { return vec4<f32>(a.zw, b.xy); }
    default: { return vec4<f32>(a.w, b.xyz); }
  }
}

// x_pad[t, p .. p + 3] (wrap-around: entries past k come from the start of the row).
fn xpad4(t: u32, p: u32) -> vec4<f32> {
  if (p + 3u < u.k) { return row4(t, p, false); }
  return vec4<f32>(ld_src(t, wrap(p), false), ld_src(t, wrap(p + 1u), false),
                   ld_src(t, wrap(p + 2u), false), ld_src(t, wrap(p + 3u), false));
}

// g[t, o .. o + 3], zero at o + i >= d.
fn g4(t: u32, o: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), row4(t, o, true), vec4<u32>(o) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(u.d));
}

// Columns j .. j + 3 of v_{t,c} for one token t (the forward's compression, rotation included).
// `cs`: (cos, sin) of θ(c, j + i) per column i (type 6).
fn v4(t: u32, c: u32, j: u32, cs: array<vec4<f32>, 2>) -> vec4<f32> {
  if (comp_strided()) {                     // Σ_m x_pad[mR + j]
    var v = vec4<f32>(0.0);
    for (var p = j; p < u.n * u.R; p += u.R) { v += xpad4(t, p); }
    return v;
  }
  if (truncation()) {                       // x[j .. j + 3], zeros past k
    return select(vec4<f32>(0.0), row4(t, j, false), vec4<u32>(j) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(u.k));
  }
  let p = c * u.R + j;                      // chunked: x_pad[cR + j]
  let v = xpad4(t, p);
  if (!rotated()) { return v; }
  // v' = v·cos θ + rotate_half(v)·sin θ; rotate_half(v)[j] = -v[j + R/2] (j < R/2), v[j - R/2]
  let h = u.R / 2u;
  var partner: vec4<f32>;
  if (j + 3u < h) { partner = -xpad4(t, p + h); }
  else if (j >= h) { partner = xpad4(t, p - h); }
  else {                                    // the quad straddles R/2 (R/2 not a multiple of 4)
    for (var i = 0u; i < 4u; i++) {
      if (j + i < h) { partner[i] = -ld_src(t, wrap(p + i + h), false); }
      else { partner[i] = ld_src(t, wrap(p + i - h), false); }
    }
  }
  return v * cs[0] + partner * cs[1];
}

// Columns a .. a + 3 of u_{t,c} = f_decompᵀ g_t for one token t.
fn u4(t: u32, c: u32, a: u32) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  if (decomp_tile()) {                      // o ≡ a (mod R)
    for (var o = a; o < u.d; o += u.R) { s += g4(t, o); }
    return s;
  }
  if (truncation()) { return g4(t, a); }    // y = [z; 0]
  if (c >= u.nc) { return s; }              // chunked: concat(z_0 .. z_{n-1}) tiled / cut to d
  for (var o = c * u.R + a; o < u.d; o += u.n * u.R) { s += g4(t, o); }
  return s;
}

// Stages columns [j0, j0 + jn) of v (or u when is_u) of chunk c as St[(j - j0)·BT4 + r]: lanes
// take 4 columns at a time and walk the block's token groups, each a 4 x 4 block (4 loads of 4
// entries, transposed); the group types (uneven groups, no contiguous runs) go column by column.
// Callers put a barrier after it.
fn stage_block(lane: u32, t0: u32, c: u32, j0: u32, jn: u32, is_u: bool) {
  let by_column = select(comp_groups(), decomp_groups(), is_u);
  if (by_column) {
    for (var jj = lane; jj < jn; jj += WG) {
      let base = jj * BT4;
      for (var r = 0u; r < BT4; r++) { St[base + r] = vec4<f32>(0.0); }
      if (is_u) { stage_u(base, t0, c, j0 + jj); } else { stage_v(base, t0, c, j0 + jj); }
    }
    return;
  }
  let last = u.T - 1u;
  for (var jj = 4u * lane; jj < jn; jj += 4u * WG) {
    let j = j0 + jj;
    var cs: array<vec4<f32>, 2>;
    if (rotated() && !is_u) {
      for (var i = 0u; i < 4u; i++) {
        let sc = rot_sc(c, min(j + i, u.R - 1u));
        cs[0][i] = sc.y;
        cs[1][i] = sc.x;
      }
    }
    for (var r = 0u; r < rolled(BT4); r++) {
      let t = t0 + 4u * r;
      var blk: array<vec4<f32>, 4>;  // blk[e]: token t + e, columns j .. j + 3
      for (var e = 0u; e < 4u; e++) {
        let te = min(t + e, last);   // tokens past T: zeroed below
        if (is_u) { blk[e] = u4(te, c, j); } else { blk[e] = v4(te, c, j, cs); }
        if (t + e > last) { blk[e] = vec4<f32>(0.0); }
      }
      for (var i = 0u; i < 4u; i++) {
        if (jj + i < jn) { St[(jj + i) * BT4 + r] = vec4<f32>(blk[0][i], blk[1][i], blk[2][i], blk[3][i]); }
      }
    }
  }
}

// M[i .. i + 3] (flat index, any alignment) from the vec4 view of M: one or two aligned vec4 loads.
// Past the end of M it returns whatever the (clamped) loads give: callers mask those entries.
fn m4(i: u32) -> vec4<f32> {
  let q = i >> 2u;
  let a = Mw4[q];
  switch (i & 3u) {
    case 0u: { return a; }
    case 1u: { let b = Mw4[q + 1u]; return vec4<f32>(a.yzw, b.x); }
    case 2u: { let b = Mw4[q + 1u]; return vec4<f32>(a.zw, b.xy); }
    default: { let b = Mw4[q + 1u]; return vec4<f32>(a.w, b.xyz); }
  }
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

// The product of the token block with the 8·WGA columns from b0 over all R rows of K (this lane:
// its 4 tokens x its 8 columns). `staged`: the caller staged the block's St for all of K already,
// else St is staged with Ms, SK rows at a time. Barriers: call in uniform control flow.
fn product_over_r(lane: u32, t0: u32, c: u32, staged: bool, is_u: bool, b0: u32) -> array<vec4<f32>, AN> {
  let tl = lane % WGT;
  let al = select(lane / WGT, 0u, WGA == 1u);  // a constant 0 when WGA = 1: Ms loads stay uniform
  let S = min(SK, SMEM4 / BT4);
  var acc: array<vec4<f32>, AN>;
  for (var k0 = 0u; k0 < u.R; k0 += S) {
    let kn = min(S, u.R - k0);
    workgroupBarrier();
    if (!staged) { stage_block(lane, t0, c, k0, kn, is_u); }
    stage_m(lane, is_u, b0, k0, kn);
    workgroupBarrier();
    block_product(&acc, tl, al, select(0u, k0, staged), kn);
  }
  return acc;
}
