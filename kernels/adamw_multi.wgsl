// Adam / AdamW over several parameters per dispatch (src/optim/adamw.ts binds it; the per-parameter
// kernel, kernels/adamw.wgsl, is its twin and holds the update's math, repeated here per slot):
//
//   g ← g + l2·p,  p ← p·decay,  m ← β1·m + (1 - β1)·g,  v ← β2·v + (1 - β2)·g²
//   p ← p - step_size[s] · m / (√v · inv_sqrt_bc2[s] + eps)
//
// Slot s binds its gradient, parameter, m and v at 4s .. 4s + 3, all read_write (the gradient is
// only read; read_write spares the copy a small gradient sharing a slab with a written tensor would
// need). Slot s's workgroups are u.start[s] .. u.start[s+1] - 1, each covering CHUNK consecutive
// elements, lanes strided by WG. Each slot has its own bias corrections (step counts may differ
// after a partial state reset). Two slot counts: 2 fits WebGPU's default of 8 storage buffers per
// stage, 4 the devices that allow 16 (uniforms at binding 8 or 16, one per entry point). float32 only.
#include "common.wgsl"

const WG: u32 = 256u;
const PER_LANE: u32 = 4u;
const CHUNK: u32 = 1024u;  // WG · PER_LANE

struct Params {
  beta1: f32, beta2: f32, eps: f32, decay: f32, l2: f32,
  n: array<vec4<u32>, 2>,
  start: array<vec4<u32>, 2>,
  step_size: array<vec4<f32>, 2>,
  inv_sqrt_bc2: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> g0: array<f32>;
@group(0) @binding(1) var<storage, read_write> p0: array<f32>;
@group(0) @binding(2) var<storage, read_write> m0: array<f32>;
@group(0) @binding(3) var<storage, read_write> v0: array<f32>;
@group(0) @binding(4) var<storage, read_write> g1: array<f32>;
@group(0) @binding(5) var<storage, read_write> p1: array<f32>;
@group(0) @binding(6) var<storage, read_write> m1: array<f32>;
@group(0) @binding(7) var<storage, read_write> v1: array<f32>;
@group(0) @binding(8) var<storage, read_write> g2: array<f32>;
@group(0) @binding(9) var<storage, read_write> p2: array<f32>;
@group(0) @binding(10) var<storage, read_write> m2: array<f32>;
@group(0) @binding(11) var<storage, read_write> v2: array<f32>;
@group(0) @binding(12) var<storage, read_write> g3: array<f32>;
@group(0) @binding(13) var<storage, read_write> p3: array<f32>;
@group(0) @binding(14) var<storage, read_write> m3: array<f32>;
@group(0) @binding(15) var<storage, read_write> v3: array<f32>;
@group(0) @binding(8) var<uniform> u2: Params;
@group(0) @binding(16) var<uniform> u4: Params;

// (p, m, v) after one step from (g, p, m, v).
fn adam(g0: f32, p: f32, m: f32, v: f32, q: Params, s: u32) -> vec3<f32> {
  let g = g0 + q.l2 * p;
  let m1 = q.beta1 * m + (1.0 - q.beta1) * g;
  let v1 = q.beta2 * v + (1.0 - q.beta2) * g * g;
  let p1 = p * q.decay - q.step_size[s / 4u][s % 4u] * m1 / (sqrt_f(v1) * q.inv_sqrt_bc2[s / 4u][s % 4u] + q.eps);
  return vec3<f32>(p1, m1, v1);
}

fn step_at2(s: u32, i: u32) {
  switch (s) {
    case 0u: { let r = adam(g0[i], p0[i], m0[i], v0[i], u2, s); p0[i] = r.x; m0[i] = r.y; v0[i] = r.z; }
    case 1u: { let r = adam(g1[i], p1[i], m1[i], v1[i], u2, s); p1[i] = r.x; m1[i] = r.y; v1[i] = r.z; }
    default: {}
  }
}

fn step_at4(s: u32, i: u32) {
  switch (s) {
    case 0u: { let r = adam(g0[i], p0[i], m0[i], v0[i], u4, s); p0[i] = r.x; m0[i] = r.y; v0[i] = r.z; }
    case 1u: { let r = adam(g1[i], p1[i], m1[i], v1[i], u4, s); p1[i] = r.x; m1[i] = r.y; v1[i] = r.z; }
    case 2u: { let r = adam(g2[i], p2[i], m2[i], v2[i], u4, s); p2[i] = r.x; m2[i] = r.y; v2[i] = r.z; }
    case 3u: { let r = adam(g3[i], p3[i], m3[i], v3[i], u4, s); p3[i] = r.x; m3[i] = r.y; v3[i] = r.z; }
    default: {}
  }
}

@compute @workgroup_size(WG)
fn slots2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  var s = 0u;
  while (s < 2u && w >= u2.start[(s + 1u) / 4u][(s + 1u) % 4u]) { s++; }
  if (s >= 2u) { return; }
  let n = u2.n[s / 4u][s % 4u];
  let first = (w - u2.start[s / 4u][s % 4u]) * CHUNK + lane;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) { step_at2(s, i); }
  }
}

@compute @workgroup_size(WG)
fn slots4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  var s = 0u;
  while (s < 4u && w >= u4.start[(s + 1u) / 4u][(s + 1u) % 4u]) { s++; }
  if (s >= 4u) { return; }
  let n = u4.n[s / 4u][s % 4u];
  let first = (w - u4.start[s / 4u][s % 4u]) * CHUNK + lane;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) { step_at4(s, i); }
  }
}
