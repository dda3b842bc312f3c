// MoRA ΔW (d x k) in closed form, ONE dispatch, one invocation per entry (src/ops/mora.ts
// `deltaWeight`, spec section 5). mora(x) = x · ΔWᵀ for every type. With x_pad[p] = x[p mod k]
// (p < nR), each entry sums over the x_pad preimages p ≡ i (mod k) of column i:
//   types 1/4: ΔW[o, i] = Σ_p M[a(o), p mod R]             a(o) = o mod R (1) or group_d(o) (4)
//   type 2:    ΔW[o, i] = M[group_d(o), group_k(i)]          type 3: M[o mod R, group_k(i)]
//   types 6/8: q = o mod nR, c = floor(q/R), a = q mod R:
//              ΔW[o, i] = Σ_{p in chunk c} (M Rot_c)[a, p mod R]   (Rot = I for 8)
//   truncation: ΔW = [[M, 0], [0, 0]] cut to d x k.
#include "mora_common.wgsl"

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> Mw: array<f32>;       // (R, R)
@group(0) @binding(1) var<storage, read_write> W: array<f32>;  // (d, k)
@group(0) @binding(2) var<uniform> u: Params;

fn ld_m(a: u32, j: u32) -> f32 { return Mw[a * u.R + j]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = linear_id(gid, nwg, WG);
  if (idx >= u.d * u.k) { return; }
  let o = idx / u.k;
  let i = idx % u.k;
  let nR = u.n * u.R;
  var w = 0.0;
  if (comp_strided()) {
    var a = o % u.R;
    if (decomp_groups()) { a = group_of(o, u.d, u.R); }
    for (var p = i; p < nR; p += u.k) { w += ld_m(a, p % u.R); }
  } else if (comp_groups()) {
    var a = o % u.R;
    if (decomp_groups()) { a = group_of(o, u.d, u.R); }
    w = ld_m(a, group_of(i, u.k, u.R));
  } else if (truncation()) {
    if (o < u.R && i < u.R) { w = ld_m(o, i); }
  } else {
    let q = o % nR;
    let c = q / u.R;
    let a = q % u.R;
    for (var p = i; p < nR; p += u.k) {
      if (p / u.R == c) { w += bmat(c, a, p % u.R); }
    }
  }
  W[idx] = w;
}
