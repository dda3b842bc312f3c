// MoRA geometry shared by kernels/mora_forward.wgsl, mora_backward.wgsl and mora_delta.wgsl
// (see src/ops/mora.ts and docs/mora.md). Binding-free: the including kernel defines
//   fn ld_x(t: u32, i: u32) -> f32   x[t, i]   (token t, input feature i < k)
//   fn ld_m(a: u32, j: u32) -> f32   M[a, j]
// and `u: Params` (the uniform struct below).
//
// Notation: k = in features, d = out features, R = r̂ (M is R x R), n = ceil(k / R) input chunks,
// x_pad[p] = x[p mod k] for p < nR (wrap-around padding; cyclic when pad > k).
#include "common.wgsl"

// TYPE (override): 1, 2, 3, 4, 6 as in the reference; 7 = truncation, 8 = decoupling.
override TYPE: u32 = 1u;

struct Params {
  T: u32,           // tokens (rows of x)
  k: u32,           // in features
  d: u32,           // out features
  R: u32,           // r̂
  n: u32,           // input chunks: ceil(k / R)
  nc: u32,          // chunks whose outputs reach y (types 6/8: min(n, ceil(d / R))), else 1
  nfold: u32,       // dx[0 .. nfold) have several preimages in x_pad (wrap-around)
  nterms: u32,      // most preimages of one folded position: ceil(nR / k)
  tb: u32,          // token blocks: ceil(T / BM)
  cb: u32,          // column blocks over R: ceil(R / BN)
  fb: u32,          // column blocks over the folded positions: ceil(nfold / BN)
  main_chunks: u32, // backward: chunks of the dx-main role (n for types 6/8, else 1)
  n_dm: u32,        // backward: workgroups of each role (dM, dx-main, dx-fold), in that order
  n_main: u32,
  n_fold: u32,
  total: u32,       // workgroups with work (the rest of the grid returns at once)
  ksplit: u32,      // backward: dM tiles split the (chunk, token) reduction into ksplit ranges
  kchunk: u32,      //   of kchunk rows each (a multiple of TK), written as partials (ksplit, R, R)
}

// A loop bound the compiler cannot see through (u.T < 2^31, so this is n): keeps a loop rolled.
// lavapipe compiles fully unrolled K steps and epilogues (inlined operand builders and scatters)
// into pipelines that take seconds to build; rolled, they compile in well under a second.
fn rolled(n: u32) -> u32 {
  return n + (u.T >> 31u);
}

// ---- what TYPE means (folded when the pipeline is specialised) ------------------------------------

fn comp_strided() -> bool { return TYPE == 1u || TYPE == 4u; }   // c[j] = Σ_m x_pad[mR + j]
fn comp_groups() -> bool { return TYPE == 2u || TYPE == 3u; }    // c[g] = Σ uneven contiguous group g
fn decomp_tile() -> bool { return TYPE == 1u || TYPE == 3u; }    // y[o] = z[o mod R]
fn decomp_groups() -> bool { return TYPE == 2u || TYPE == 4u; }  // y[o] = z[group_d(o)]
fn chunked() -> bool { return TYPE == 6u || TYPE == 8u; }        // n chunks, each times M
fn rotated() -> bool { return TYPE == 6u; }                      // RoPE by chunk index
fn truncation() -> bool { return TYPE == 7u; }                   // c = x[0..R), y = [z; 0]

// ---- uneven contiguous groups of a length f into R groups ------------------------------------------
// nr = floor(f/R), mr = nr + 1; the first m = f - R·nr groups have mr entries, the other R - m have nr.

fn group_of(i: u32, f: u32, R: u32) -> u32 {
  let nr = f / R;
  let mr = nr + 1u;
  let mm = (f - R * nr) * mr;
  if (i < mm) { return i / mr; }
  return (f - R * nr) + (i - mm) / nr;  // i >= mm implies nr > 0
}

fn group_start(g: u32, f: u32, R: u32) -> u32 {
  let nr = f / R;
  let m = f - R * nr;
  if (g < m) { return g * (nr + 1u); }
  return m * (nr + 1u) + (g - m) * nr;
}

fn group_size(g: u32, f: u32, R: u32) -> u32 {
  let nr = f / R;
  return select(nr, nr + 1u, g < f - R * nr);
}

// ---- type 6 rotation ---------------------------------------------------------------------------------
// θ(c, j) = c · inv_freq[j mod R/2], inv_freq[i] = 1 / 10000^(2i/R), in float32 like the reference.

fn inv_freq(i: u32) -> f32 {
  if (i == 0u) { return 1.0; }
  return 1.0 / pow(10000.0, f32(2u * i) / f32(u.R));
}

// (sin x, cos x) for x >= 0. WGSL only bounds sin/cos error inside [-π, π] (and loosely), while θ
// grows with the chunk index, so reduce by π/2 in three parts (Cody-Waite, exact products for
// q < 2^16) and evaluate minimax polynomials on [-π/4, π/4] (cephes sinf/cosf): ~1 ulp anywhere.
fn sincos(x: f32) -> vec2<f32> {
  let q = round(x * 0.63661977236758134);
  var r = x - q * 1.5703125;
  r = r - q * 4.837512969970703125e-4;
  r = r - q * 7.54978995489188216e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (u32(q) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

// (sin θ, cos θ) of chunk c at position j < R.
fn rot_sc(c: u32, j: u32) -> vec2<f32> {
  return sincos(f32(c) * inv_freq(j % (u.R / 2u)));
}

// ---- compression: v_c[j], the j-th entry of chunk c's input to M (row t) ----------------------------

fn x_pad(t: u32, p: u32) -> f32 {
  return ld_x(t, p % u.k);
}

// (sin θ, cos θ) of chunk c at position j for type 6; (0, 1) (no rotation) for the other types.
// θ depends on (c, j) only, and an invocation stages the same column for many rows (tokens) in a
// row, so the last value is kept in a one-entry per-invocation cache: about one sincos per staged
// column and K step instead of one per staged element.
var<private> rot_key: u32 = 0xffffffffu;
var<private> rot_val: vec2<f32> = vec2<f32>(0.0, 1.0);

fn rot_or_id(c: u32, j: u32) -> vec2<f32> {
  if (!rotated()) { return vec2<f32>(0.0, 1.0); }
  let key = c * u.R + j;
  if (key != rot_key) {
    rot_key = key;
    rot_val = rot_sc(c, j);
  }
  return rot_val;
}

// sc = rot_or_id(c, j)
fn comp_sc(t: u32, c: u32, j: u32, sc: vec2<f32>) -> f32 {
  if (comp_strided()) {
    var s = 0.0;
    for (var p = j; p < u.n * u.R; p += u.R) { s += x_pad(t, p); }
    return s;
  }
  if (comp_groups()) {
    let s0 = group_start(j, u.k, u.R);
    let s1 = s0 + group_size(j, u.k, u.R);
    var s = 0.0;
    for (var i = s0; i < s1; i++) { s += ld_x(t, i); }
    return s;  // empty groups (k < R) compress to 0
  }
  if (truncation()) {
    if (j < u.k) { return ld_x(t, j); }
    return 0.0;
  }
  // chunked: x_pad[cR .. cR + R), rotated: v' = v·cos θ + rotate_half(v)·sin θ,
  // rotate_half(v)[j] = -v[j + R/2] (j < R/2), v[j - R/2] (j >= R/2)
  let p = c * u.R + j;
  let v = x_pad(t, p);
  if (!rotated()) { return v; }
  let h = u.R / 2u;
  var partner: f32;
  if (j < h) { partner = -x_pad(t, p + h); } else { partner = x_pad(t, p - h); }
  return v * sc.y + partner * sc.x;
}

fn comp(t: u32, c: u32, j: u32) -> f32 {
  return comp_sc(t, c, j, rot_or_id(c, j));
}

// B_c = M · Rot_c (type 6), M otherwise: z_c = B_c x_c. Entry (a, l), with sc = rot_or_id(c, l):
// M[a, l]·cos θ_l + sin θ_l·(l < R/2 ? M[a, l + R/2] : -M[a, l - R/2]).
fn bmat_sc(a: u32, l: u32, sc: vec2<f32>) -> f32 {
  let m = ld_m(a, l);
  if (!rotated()) { return m; }
  let h = u.R / 2u;
  var partner: f32;
  if (l < h) { partner = ld_m(a, l + h); } else { partner = -ld_m(a, l - h); }
  return m * sc.y + partner * sc.x;
}

fn bmat(c: u32, a: u32, l: u32) -> f32 {
  return bmat_sc(a, l, rot_or_id(c, l));
}
