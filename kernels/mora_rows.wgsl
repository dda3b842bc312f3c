// The row-staged MoRA kernels for CPU adapters (kernels/mora_forward_rows.wgsl,
// mora_backward_rows.wgsl; src/ops/mora.ts, docs/mora.md "The kernels"): a workgroup is one 8-lane
// subgroup (lavapipe: one SIMD batch of one CPU thread) that owns BT = 32 tokens, every chunk and
// every position; lane l owns the tokens t = t0 + 4l .. t + 3, whose rows of x (and g, y, dx) are
// one contiguous run starting on a vec4 (t is a multiple of 4). Each lane copies its rows into
// private arrays with whole-vec4 loads (each entry read once), works on them with indices that are
// the same on every lane (lavapipe: one vector load or store per index, no gathers), and writes its
// rows back as whole vec4s. The including kernel binds X4 (x), Mw4 (M) and `u`, and sizes the private
// arrays with the module constants XP_ROWS, ST_ROWS (src/ops/mora-tiling.ts `rowsArrays`).
#include "mora_common.wgsl"
#include "sg_fma.wgsl"

const BT: u32 = 32u;  // tokens per workgroup (8 lanes x 4)
const AN: u32 = 8u;   // rows a per product block (one per lane)

var<private> Xp: array<f32, 4 * XP_ROWS>;       // this lane's 4 rows of x: x[t + e, p] at e·xk + p
var<private> xk: u32;                           // Xp's row stride
var<private> St: array<vec4<f32>, ST_ROWS>;     // St[j]: column j of the staged operand for this lane's 4 tokens

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

// x[t + e, p] (p < k) for this lane's 4 tokens e < 4, from Xp.
fn xs4(p: u32) -> vec4<f32> {
  return vec4<f32>(Xp[p], Xp[xk + p], Xp[2u * xk + p], Xp[3u * xk + p]);
}

// v_{t,c}[j] for this lane's 4 tokens (the forward's compression, rotation included).
fn comp4(c: u32, j: u32) -> vec4<f32> {
  if (comp_strided()) {                     // Σ_m x_pad[mR + j]
    var s = vec4<f32>(0.0);
    for (var p = j; p < u.n * u.R; p += u.R) { s += xs4(wrap(p)); }
    return s;
  }
  if (comp_groups()) {                      // Σ of the uneven contiguous group j of k
    var s = vec4<f32>(0.0);
    let s0 = group_start(j, u.k, u.R);
    for (var i = s0; i < s0 + group_size(j, u.k, u.R); i++) { s += xs4(i); }
    return s;
  }
  if (truncation()) {                       // x[j], zero past k
    if (j < u.k) { return xs4(j); }
    return vec4<f32>(0.0);
  }
  let p = c * u.R + j;                      // chunked: x_pad[cR + j]
  let v = xs4(wrap(p));
  if (!rotated()) { return v; }
  // v' = v·cos θ + rotate_half(v)·sin θ; rotate_half(v)[j] = -v[j + R/2] (j < R/2), v[j - R/2]
  let h = u.R / 2u;
  var partner: vec4<f32>;
  if (j < h) { partner = -xs4(wrap(p + h)); } else { partner = xs4(wrap(p - h)); }
  let sc = rot_sc(c, j);
  return v * sc.y + partner * sc.x;
}

// x[t .. t + 4) into Xp (rows past T: clamped loads, never written out). When k % 4 == 0 each row
// starts on a vec4 and only the inputs that reach y are loaded (type 6: the nc live chunks;
// truncation: R); else the 4 rows as one run of k vec4s.
fn load_x(t: u32) {
  var kused = u.k;
  if (chunked()) { kused = min(u.k, u.nc * u.R); }
  if (truncation()) { kused = min(u.k, u.R); }
  if ((u.k & 3u) == 0u) {
    let kq = (kused + 3u) / 4u;
    xk = 4u * kq;
    for (var e = 0u; e < 4u; e++) {
      let q0 = (t + e) * (u.k >> 2u);
      for (var q = 0u; q < kq; q++) {
        let v = X4[q0 + q];
        let i = e * xk + 4u * q;
        Xp[i] = v.x; Xp[i + 1u] = v.y; Xp[i + 2u] = v.z; Xp[i + 3u] = v.w;
      }
    }
  } else {
    xk = u.k;
    let q0 = (t * u.k) >> 2u;
    for (var q = 0u; q < u.k; q++) {
      let v = X4[q0 + q];
      Xp[4u * q] = v.x; Xp[4u * q + 1u] = v.y; Xp[4u * q + 2u] = v.z; Xp[4u * q + 3u] = v.w;
    }
  }

}

// A walk over a run of output entries in storage order (token e, output o), with the row s of Z
// (forward) or u (backward) that decompression maps o to: o mod period (tile, chunked), the group
// of o (groups; empty groups come last), o itself (truncation, live only below R).
struct Decomp { e: u32, o: u32, s: u32, gend: u32 }

fn decomp_start() -> Decomp { return Decomp(0u, 0u, 0u, group_size(0u, u.d, u.R)); }

// Entry o has a row (truncation: outputs at or past R are zero and have none).
fn decomp_live(w: Decomp) -> bool { return !(truncation() && w.o >= u.R); }

fn decomp_next(w: ptr<function, Decomp>, period: u32) {
  (*w).o++;
  if (decomp_groups()) {
    if ((*w).o == (*w).gend && (*w).o < u.d) { (*w).s++; (*w).gend += group_size((*w).s, u.d, u.R); }
  } else if (truncation()) {
    (*w).s = (*w).o;
  } else {
    (*w).s++;
    if ((*w).s == period) { (*w).s = 0u; }
  }
  if ((*w).o == u.d) {  // the next token's first output
    let e = (*w).e + 1u;
    *w = decomp_start();
    (*w).e = e;
  }
}

