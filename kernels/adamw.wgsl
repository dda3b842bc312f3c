// Adam and AdamW, one fused update per parameter (src/optim/adamw.ts binds it; its cpu loop is the
// float64 reference). Reads the gradient and updates the parameter and the moments in place, as
// torch's Adam / AdamW (bias correction folded into two host-side scalars):
//
//   g ← g + l2·p                      (Adam's coupled weight decay; l2 = 0 for AdamW)
//   p ← p·decay                       (AdamW's decoupled weight decay, decay = 1 - lr·wd; 1 for Adam)
//   m ← β1·m + (1 - β1)·g
//   v ← β2·v + (1 - β2)·g²
//   amsgrad:  vmax ← max(vmax, v) (NaN propagates, as torch.maximum), and vmax replaces v below
//   p ← p - (lr / (1 - β1^t)) · m / (√v / √(1 - β2^t) + eps)
//
// u.step_size = lr / (1 - β1^t), u.inv_sqrt_bc2 = 1 / √(1 - β2^t). Two entry points: `main`
// (grad, param, m, v) and `amsgrad` (grad, param, m, v, vmax); each pipeline's layout holds only the
// bindings its entry point uses, so `vmax` and `u` may share binding 4. The parameter and its
// gradient are T (f16 in the float16 specialisation); the moments stay f32.
#include "common.wgsl"

alias T = f32;

const WG: u32 = 256u;

struct Params { n: u32, beta1: f32, beta2: f32, eps: f32, decay: f32, step_size: f32, inv_sqrt_bc2: f32, l2: f32 }
@group(0) @binding(0) var<storage, read> grad: array<T>;
@group(0) @binding(1) var<storage, read_write> param: array<T>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;
@group(0) @binding(4) var<storage, read_write> vmax: array<f32>;
@group(0) @binding(5) var<uniform> ua: Params;

// The moments' update at i; returns (g, m1) and stores m and v.
fn moments(i: u32, p: f32, q: Params) -> vec2<f32> {
  let g = f32(grad[i]) + q.l2 * p;
  let m1 = q.beta1 * m[i] + (1.0 - q.beta1) * g;
  let v1 = q.beta2 * v[i] + (1.0 - q.beta2) * g * g;
  m[i] = m1;
  v[i] = v1;
  return vec2<f32>(m1, v1);
}

fn adam_step(p: f32, m1: f32, v1: f32, q: Params) -> f32 {
  return p * q.decay - q.step_size * m1 / (sqrt_f(v1) * q.inv_sqrt_bc2 + q.eps);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let p = f32(param[i]);
  let mv = moments(i, p, u);
  param[i] = T(adam_step(p, mv.x, mv.y, u));
}

@compute @workgroup_size(WG)
fn amsgrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= ua.n) { return; }
  let p = f32(param[i]);
  let mv = moments(i, p, ua);
  let vm = max_nan(vmax[i], mv.y);
  vmax[i] = vm;
  param[i] = T(adam_step(p, mv.x, vm, ua));
}
