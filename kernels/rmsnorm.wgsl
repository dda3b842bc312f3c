// RMSNorm over the last dim (length C) of a tensor viewed as (rows, C), forward and backward.
//
// Rows: TPR threads per row, WG / TPR rows per workgroup, as kernels/layernorm.wgsl.
// forward   (x, w -> y, rstd): per row Σx² gives rstd = 1/√(mean(x²) + eps), then y = x·rstd·w.
//           rstd is saved per row for the backward.
// backward  (g, x, w, rstd -> dx): per row x̂ = x·rstd, dx = rstd·(g·w - x̂·mean(g·w·x̂)).
// params    (g, x, rstd -> dw): the column sums dw = Σ_rows g·x̂. A workgroup owns CW = 32 adjacent
//           columns; its WG / CW row lanes stride over the rows, then a tree over the lanes.
// has_w = 0 (no weight): the op binds x in w's place and the kernel never reads it.
#include "common.wgsl"
#include "row_sum.wgsl"

alias T = f32;   // element type of x, w, y and their gradients (f16 in the float16 specialisation); row stats stay f32

override WG: u32 = 64u;    // threads per workgroup
override TPR: u32 = 1u;    // threads per row (forward, backward)
const CW: u32 = 32u;       // columns per workgroup (params)

// has_w (/ has_b): 0/1 flags (uniforms rather than override constants: fewer pipelines to compile)
struct Params { rows: u32, len: u32, eps: f32, has_w: u32, has_b: u32 }  // has_b: unused (shared layout with layernorm)

// forward
@group(0) @binding(0) var<storage, read> x: array<T>;              // (rows, C)
@group(0) @binding(1) var<storage, read> w: array<T>;              // (C)
@group(0) @binding(2) var<storage, read_write> y: array<T>;        // (rows, C)
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>; // (rows)
@group(0) @binding(4) var<uniform> u: Params;

// backward (dx)
@group(0) @binding(0) var<storage, read> g: array<T>;              // (rows, C)
@group(0) @binding(1) var<storage, read> xb: array<T>;             // (rows, C)
@group(0) @binding(2) var<storage, read> wb: array<T>;             // (C)
@group(0) @binding(3) var<storage, read> rstd_b: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read_write> dx: array<T>;       // (rows, C)
@group(0) @binding(5) var<uniform> ub: Params;

// params (dw)
@group(0) @binding(0) var<storage, read> gp: array<T>;             // (rows, C)
@group(0) @binding(1) var<storage, read> xp: array<T>;             // (rows, C)
@group(0) @binding(2) var<storage, read> rstd_p: array<f32>;         // (rows)
@group(0) @binding(3) var<storage, read_write> dw: array<T>;       // (C)
@group(0) @binding(4) var<uniform> up: Params;



@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < u.rows;
  var len = 0u;
  if (live) { len = u.len; }
  let base = q * u.len;
  var s2 = 0.0;
  for (var c = lane; c < len; c += TPR) {
    let v = f32(x[base + c]);
    s2 += v * v;
  }
  let rstd = rsqrt_f(row_sum(t, lane, s2) / f32(u.len) + u.eps);
  for (var c = lane; c < len; c += TPR) {
    var v = f32(x[base + c]) * rstd;                 // x̂
    if (u.has_w == 1u) { v *= f32(w[c]); }
    y[base + c] = T(v);
  }
  if (live && lane == 0u) { rstd_out[q] = rstd; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < ub.rows;
  var len = 0u;
  var rstd = 0.0;
  if (live) {
    len = ub.len;
    rstd = rstd_b[q];
  }
  let base = q * ub.len;
  var b = 0.0;
  for (var c = lane; c < len; c += TPR) {
    var gw = f32(g[base + c]);
    if (ub.has_w == 1u) { gw *= f32(wb[c]); }
    b += gw * f32(xb[base + c]) * rstd;
  }
  let mean_gwx = row_sum(t, lane, b) / f32(ub.len);
  for (var c = lane; c < len; c += TPR) {
    var gw = f32(g[base + c]);
    if (ub.has_w == 1u) { gw *= f32(wb[c]); }
    dx[base + c] = T(rstd * (gw - f32(xb[base + c]) * rstd * mean_gwx));
  }
}

@compute @workgroup_size(WG)
fn params(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let c = wg.x * CW + t % CW;
  let lane = t / CW;
  let lanes = WG / CW;
  var sw = 0.0;
  if (c < up.len) {
    for (var r = lane; r < up.rows; r += lanes) {
      sw += f32(gp[r * up.len + c]) * f32(xp[r * up.len + c]) * rstd_p[r];
    }
  }
  red[t] = sw;
  workgroupBarrier();
  for (var stride = lanes / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { red[t] += red[t + stride * CW]; }
    workgroupBarrier();
  }
  if (lane == 0u && c < up.len) { dw[c] = T(red[t]); }
}
