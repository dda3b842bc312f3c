// Adagrad, one fused update per parameter (src/optim/adagrad.ts binds it; its cpu loop is the
// float64 reference), as torch.optim.Adagrad:
//
//   g ← g + wd·p
//   sum ← sum + g²
//   p ← p - clr·g / (√sum + eps),    clr = lr / (1 + (t - 1)·lr_decay)   (host-side)
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, clr: f32, eps: f32, wd: f32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let p = param[i];
  let g = grad[i] + u.wd * p;
  let s = acc[i] + g * g;
  acc[i] = s;
  param[i] = p - u.clr * g / (sqrt_f(s) + u.eps);
}
