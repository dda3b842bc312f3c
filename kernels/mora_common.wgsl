// MoRA geometry shared by kernels/mora_forward.wgsl, mora_backward.wgsl and mora_delta.wgsl
// (see src/ops/mora.ts and docs/mora.md). Binding-free: the including kernel defines
//   fn ld_m(a: u32, j: u32) -> f32   M[a, j]
// and `u: Params` (the uniform struct below).
//
// Notation: k = in features, d = out features, R = r̂ (M is R x R), n = ceil(k / R) input chunks,
// x_pad[p] = x[p mod k] for p < nR (wrap-around padding; cyclic when pad > k).
#include "common.wgsl"

// TYPE (override): one of the codes TYPE_1, TYPE_2, TYPE_3, TYPE_4, TYPE_6, TYPE_TRUNCATION,
// TYPE_DECOUPLING, module constants generated from src/mora/rules.ts.
override TYPE: u32 = TYPE_1;

struct Params {
  T: u32,       // tokens (rows of x)
  k: u32,       // in features
  d: u32,       // out features
  R: u32,       // r̂
  n: u32,       // input chunks: ceil(k / R)
  nc: u32,      // chunks whose outputs reach y (types 6/8: min(n, ceil(d / R))), else 1
  nfold: u32,   // dx[0 .. nfold) have several preimages in x_pad (wrap-around)
  tb: u32,      // token blocks: ceil(T / BT)
  acols: u32,   // forward: rows a of M per workgroup (a multiple of WGA·AN)
  ab: u32,      // forward: a ranges per chunk: ceil(R / acols)
  want_dx: u32, // backward: write dx
  want_dm: u32, // backward: write the staged u and v for dM (kernels/mora_backward.wgsl)
  total: u32,   // workgroups with work (the rest of the grid returns at once)
}

// A loop bound the compiler cannot see through (u.T < 2^31, so this is n): keeps a loop rolled.
// lavapipe compiles fully unrolled K steps and epilogues (inlined operand builders and scatters)
// into pipelines that take seconds to build; rolled, they compile in well under a second.
fn rolled(n: u32) -> u32 {
  return n + (u.T >> 31u);
}

// ---- what TYPE means (folded when the pipeline is specialised) ------------------------------------

fn comp_strided() -> bool { return TYPE == TYPE_1 || TYPE == TYPE_4; }        // c[j] = Σ_m x_pad[mR + j]
fn comp_groups() -> bool { return TYPE == TYPE_2 || TYPE == TYPE_3; }         // c[g] = Σ uneven contiguous group g
fn decomp_tile() -> bool { return TYPE == TYPE_1 || TYPE == TYPE_3; }         // y[o] = z[o mod R]
fn decomp_groups() -> bool { return TYPE == TYPE_2 || TYPE == TYPE_4; }       // y[o] = z[group_d(o)]
fn chunked() -> bool { return TYPE == TYPE_6 || TYPE == TYPE_DECOUPLING; }    // n chunks, each times M
fn rotated() -> bool { return TYPE == TYPE_6; }                               // RoPE by chunk index
fn truncation() -> bool { return TYPE == TYPE_TRUNCATION; }                   // c = x[0..R), y = [z; 0]

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

// Wrap-around padding: x_pad[p] = x[wrap(p)] (p < nR); the modulo only for the padded tail.
fn wrap(p: u32) -> u32 {
  if (p < u.k) { return p; }
  return p % u.k;
}

// B_c = M · Rot_c (type 6), M otherwise: z_c = B_c x_c. Entry (a, l) (ΔW: kernels/mora_delta.wgsl):
// M[a, l]·cos θ_l + sin θ_l·(l < R/2 ? M[a, l + R/2] : -M[a, l - R/2]).
fn bmat(c: u32, a: u32, l: u32) -> f32 {
  let m = ld_m(a, l);
  if (!rotated()) { return m; }
  let sc = rot_sc(c, l);
  let h = u.R / 2u;
  var partner: f32;
  if (l < h) { partner = ld_m(a, l + h); } else { partner = -ld_m(a, l - h); }
  return m * sc.y + partner * sc.x;
}
