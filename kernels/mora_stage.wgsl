// Staging for the fused MoRA kernels (included by kernels/mora_block.wgsl, whose BT4 and WG it uses,
// and St / st_at / ST_OWN from the product file): the compressed operand of a block of BT tokens
// into St as [column][token group] vec4s,
//   v_{t,c}[j] = (f_comp x_t, rotated for type 6)_c[j]     (forward; backward: for dM)
//   u_{t,c}[a] = (f_decompᵀ g_t)_c[a]                      (backward)
// `stage_block` takes 4 columns x 4 tokens per step: 4 loads of 4 contiguous entries (x_pad, g runs),
// transposed into 4 St entries. The group types (2/3 in, 2/4 out: uneven groups, no contiguous runs
// across columns) go column by column (`stage_group_col`). Integer divisions (wrap-around, group
// bounds) happen once per column or run, never per element.

// ---- column by column (the group types) ------------------------------------------------------------

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

// St column jj += w · src[t0 + 4r .. + 3, i] for the token groups r in [gr.x, gr.y).
fn add_col(jj: u32, gr: vec2<u32>, t0: u32, i: u32, w: f32, from_g: bool) {
  for (var r = gr.x; r < rolled(gr.y); r++) {
    let si = st_at(jj, r);
    St[si] = fma(vec4<f32>(w), ld4(t0 + 4u * r, i, from_g), St[si]);
  }
}

// Stages one column of a group type as St column jj (token groups gr): column j sums the uneven
// contiguous group j of x's k entries (v, compression types 2/3; empty when k < R) or of g's d
// entries (u, the transpose of the repeat-interleave decompression of types 2/4).
fn stage_group_col(jj: u32, gr: vec2<u32>, t0: u32, j: u32, from_g: bool) {
  let f = select(u.k, u.d, from_g);
  let s0 = group_start(j, f, u.R);
  let s1 = s0 + group_size(j, f, u.R);
  for (var i = s0; i < s1; i++) { add_col(jj, gr, t0, i, 1.0, from_g); }
}

// ---- 4 columns x 4 tokens at a time (every type but the groups) --------------------------------

// src[t, i .. i + 3] from the vec4 view (any alignment; past the row's end it reads on: callers
// mask). x rows have k entries, g rows d.
fn row4(t: u32, i: u32, from_g: bool) -> vec4<f32> {
  let f = t * select(u.k, u.d, from_g) + i;
  let q = f >> 2u;
  var a: vec4<f32>;
  var b: vec4<f32>;
  if (from_g) { a = g_at(q); } else { a = x_at(q); }
  if ((f & 3u) == 0u) { return a; }
  if (from_g) { b = g_at(q + 1u); } else { b = x_at(q + 1u); }
  return join4(a, b, f & 3u);
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
    for (var i = 0u; i < rolled(4u); i++) {
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

// Stages columns [j0, j0 + jn) of v (or u when is_u) of chunk c as St column j - j0 (`st_at`):
// 4 columns x 4 tokens at a time, each a 4 x 4 block (4 loads of 4 entries, transposed); the group
// types (uneven groups, no contiguous runs) go column by column. With a shared St (ST_OWN false)
// the lanes split the columns and each walks every token group; with a private one each lane walks
// every column for its own token group. Callers put a barrier after it.
fn stage_block(lane: u32, t0: u32, c: u32, j0: u32, jn: u32, is_u: bool) {
  let gr = select(vec2<u32>(0u, BT4), vec2<u32>(lane, lane + 1u), ST_OWN);  // token groups [gr.x, gr.y)
  let first = select(lane, 0u, ST_OWN);   // this lane's first column (of 1 or 4) and its stride
  let stride = select(WG, 1u, ST_OWN);
  let by_column = select(comp_groups(), decomp_groups(), is_u);
  if (by_column) {
    for (var jj = first; jj < jn; jj += stride) {
      for (var r = gr.x; r < gr.y; r++) { St[st_at(jj, r)] = vec4<f32>(0.0); }
      stage_group_col(jj, gr, t0, j0 + jj, is_u);
    }
    return;
  }
  let last = u.T - 1u;
  for (var jj = 4u * first; jj < jn; jj += 4u * stride) {
    let j = j0 + jj;
    var cs: array<vec4<f32>, 2>;
    if (rotated() && !is_u) {
      for (var i = 0u; i < rolled(4u); i++) {
        let sc = rot_sc(c, min(j + i, u.R - 1u));
        cs[0][i] = sc.y;
        cs[1][i] = sc.x;
      }
    }
    for (var r = gr.x; r < rolled(gr.y); r++) {
      let t = t0 + 4u * r;
      var blk: array<vec4<f32>, 4>;  // blk[e]: token t + e, columns j .. j + 3
      for (var e = 0u; e < rolled(4u); e++) {  // rolled: v4 / u4 inlined once (compile time)
        let te = min(t + e, last);   // tokens past T: zeroed below
        if (is_u) { blk[e] = u4(te, c, j); } else { blk[e] = v4(te, c, j, cs); }
        if (t + e > last) { blk[e] = vec4<f32>(0.0); }
      }
      for (var i = 0u; i < 4u; i++) {
        if (jj + i < jn) { St[st_at(jj + i, r)] = vec4<f32>(blk[0][i], blk[1][i], blk[2][i], blk[3][i]); }
      }
    }
  }
}
