// AdamW, one fused update per parameter (src/optim/adamw.ts binds it; its cpu loop is the float64
// reference). Reads the gradient and updates the parameter and both moments in place, as torch's
// AdamW (decoupled weight decay, bias correction folded into two host-side scalars):
//
//   p ← p·(1 - lr·wd)
//   m ← β1·m + (1 - β1)·g
//   v ← β2·v + (1 - β2)·g²
//   p ← p - (lr / (1 - β1^t)) · m / (√v / √(1 - β2^t) + eps)
//
// u.decay = 1 - lr·wd, u.step_size = lr / (1 - β1^t), u.inv_sqrt_bc2 = 1 / √(1 - β2^t).
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, beta1: f32, beta2: f32, eps: f32, decay: f32, step_size: f32, inv_sqrt_bc2: f32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let g = grad[i];
  let m1 = u.beta1 * m[i] + (1.0 - u.beta1) * g;
  let v1 = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
  m[i] = m1;
  v[i] = v1;
  param[i] = param[i] * u.decay - u.step_size * m1 / (sqrt_f(v1) * u.inv_sqrt_bc2 + u.eps);
}
