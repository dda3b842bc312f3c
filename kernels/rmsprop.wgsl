// RMSprop, one fused update per parameter (src/optim/rmsprop.ts binds it; its cpu loop is the
// float64 reference), as torch.optim.RMSprop:
//
//   g ← g + wd·p
//   sq ← α·sq + (1 - α)·g²
//   centered:  ga ← α·ga + (1 - α)·g,  avg = √(sq - ga²) + eps;   else avg = √sq + eps
//   momentum:  buf ← μ·buf + g/avg,  p ← p - lr·buf;               else p ← p - lr·g/avg
//
// Four entry points, one per state layout (each pipeline's layout holds only the bindings its entry
// point uses, so a state buffer and the uniform may share a binding number):
//   plain (grad, param, sq, u@3)   centered (.., ga@3, u@4)   momentum (.., buf@3, u@4)
//   centered_momentum (.., ga@3, buf@4, u@5)
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, lr: f32, alpha: f32, eps: f32, wd: f32, momentum: f32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> sq: array<f32>;
@group(0) @binding(3) var<storage, read_write> s3: array<f32>;   // ga (centered) or buf (momentum)
@group(0) @binding(4) var<storage, read_write> s4: array<f32>;   // buf (centered and momentum)
@group(0) @binding(3) var<uniform> u3: Params;
@group(0) @binding(4) var<uniform> u4: Params;
@group(0) @binding(5) var<uniform> u5: Params;

// (g, new sq) at i, sq stored.
fn square_avg(i: u32, p: f32, q: Params) -> vec2<f32> {
  let g = grad[i] + q.wd * p;
  let s = q.alpha * sq[i] + (1.0 - q.alpha) * g * g;
  sq[i] = s;
  return vec2<f32>(g, s);
}

fn centered_avg(gs: vec2<f32>, ga: f32, q: Params) -> f32 {
  return sqrt_f(gs.y - ga * ga) + q.eps;
}

@compute @workgroup_size(WG)
fn plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u3.n) { return; }
  let p = param[i];
  let gs = square_avg(i, p, u3);
  param[i] = p - u3.lr * gs.x / (sqrt_f(gs.y) + u3.eps);
}

@compute @workgroup_size(WG)
fn centered(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u4.n) { return; }
  let p = param[i];
  let gs = square_avg(i, p, u4);
  let ga = u4.alpha * s3[i] + (1.0 - u4.alpha) * gs.x;
  s3[i] = ga;
  param[i] = p - u4.lr * gs.x / centered_avg(gs, ga, u4);
}

@compute @workgroup_size(WG)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u4.n) { return; }
  let p = param[i];
  let gs = square_avg(i, p, u4);
  let b = u4.momentum * s3[i] + gs.x / (sqrt_f(gs.y) + u4.eps);
  s3[i] = b;
  param[i] = p - u4.lr * b;
}

@compute @workgroup_size(WG)
fn centered_momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u5.n) { return; }
  let p = param[i];
  let gs = square_avg(i, p, u5);
  let ga = u5.alpha * s3[i] + (1.0 - u5.alpha) * gs.x;
  s3[i] = ga;
  let b = u5.momentum * s4[i] + gs.x / centered_avg(gs, ga, u5);
  s4[i] = b;
  param[i] = p - u5.lr * b;
}
