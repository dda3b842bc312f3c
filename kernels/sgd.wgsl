// SGD, one fused update per parameter (src/optim/sgd.ts binds it; its cpu loop is the float64
// reference), as torch.optim.SGD (weight decay coupled into the gradient):
//
//   d ← g + wd·p
//   momentum:  b ← d on the first step (u.first = 1), else b ← μ·b + (1 - dampening)·d
//              d ← d + μ·b (nesterov) or d ← b
//   p ← p - lr·d
//
// Two entry points: `momentum` (grad, param, buf) and `plain` (grad, param). Each pipeline's layout
// holds only the bindings its entry point uses, so `buf` and `up` may share binding 2.
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, lr: f32, wd: f32, momentum: f32, dampening: f32, nesterov: u32, first: u32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;
@group(0) @binding(2) var<uniform> up: Params;

@compute @workgroup_size(WG)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let p = param[i];
  var d = grad[i] + u.wd * p;
  var b = d;
  if (u.first == 0u) { b = u.momentum * buf[i] + (1.0 - u.dampening) * d; }
  buf[i] = b;
  if (u.nesterov != 0u) { d = d + u.momentum * b; } else { d = b; }
  param[i] = p - u.lr * d;
}

@compute @workgroup_size(WG)
fn plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= up.n) { return; }
  let p = param[i];
  param[i] = p - up.lr * (grad[i] + up.wd * p);
}
