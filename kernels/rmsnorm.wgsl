// RMSNorm over the last dim (length C) of a tensor viewed as (rows, C), forward and backward.
//
// forward   (x, w -> y, rstd): one workgroup per row; its WG threads stride over the row summing x²,
//           a shared-memory tree gives rstd = 1/√(mean(x²) + eps), then y = x·rstd·w. rstd is
//           saved per row for the backward.
// backward  (g, x, w, rstd -> dx): one workgroup per row; x̂ = x·rstd,
//           dx = rstd·(g·w - x̂·mean(g·w·x̂)).
// params    (g, x, rstd -> dw): the column sums dw = Σ_rows g·x̂. A workgroup owns CW = 32 adjacent
//           columns; its WG / CW row lanes stride over the rows, then a tree over the lanes.
// HAS_W = 0 (no weight): the op binds x in w's place and the kernel never reads it.
#include "common.wgsl"

override WG: u32 = 256u;   // threads per workgroup
override HAS_W: u32 = 1u;
const CW: u32 = 32u;       // columns per workgroup (params)

struct Params { rows: u32, len: u32, eps: f32 }

// forward
@group(0) @binding(0) var<storage, read> x: array<f32>;              // (rows, C)
@group(0) @binding(1) var<storage, read> w: array<f32>;              // (C)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;        // (rows, C)
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>; // (rows)
@group(0) @binding(4) var<uniform> u: Params;

// backward (dx)
@group(0) @binding(0) var<storage, read> g: array<f32>;              // (rows, C)
@group(0) @binding(1) var<storage, read> xb: array<f32>;             // (rows, C)
@group(0) @binding(2) var<storage, read> wb: array<f32>;             // (C)
@group(0) @binding(3) var<storage, read> rstd_b: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;       // (rows, C)
@group(0) @binding(5) var<uniform> ub: Params;

// params (dw)
@group(0) @binding(0) var<storage, read> gp: array<f32>;             // (rows, C)
@group(0) @binding(1) var<storage, read> xp: array<f32>;             // (rows, C)
@group(0) @binding(2) var<storage, read> rstd_p: array<f32>;         // (rows)
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;       // (C)
@group(0) @binding(4) var<uniform> up: Params;

var<workgroup> red: array<f32, WG>;

// Σ over the workgroup of v (every thread gets the result).
fn wg_sum(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { red[t] += red[t + stride]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= u.rows) { return; }
  let base = q * u.len;
  var s2 = 0.0;
  for (var c = t; c < u.len; c += WG) {
    let v = x[base + c];
    s2 += v * v;
  }
  let rstd = inverseSqrt(wg_sum(t, s2) / f32(u.len) + u.eps);
  for (var c = t; c < u.len; c += WG) {
    var v = x[base + c] * rstd;                 // x̂
    if (HAS_W == 1u) { v *= w[c]; }
    y[base + c] = v;
  }
  if (t == 0u) { rstd_out[q] = rstd; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= ub.rows) { return; }
  let base = q * ub.len;
  let rstd = rstd_b[q];
  var b = 0.0;
  for (var c = t; c < ub.len; c += WG) {
    var gw = g[base + c];
    if (HAS_W == 1u) { gw *= wb[c]; }
    b += gw * xb[base + c] * rstd;
  }
  let mean_gwx = wg_sum(t, b) / f32(ub.len);
  for (var c = t; c < ub.len; c += WG) {
    var gw = g[base + c];
    if (HAS_W == 1u) { gw *= wb[c]; }
    dx[base + c] = rstd * (gw - xb[base + c] * rstd * mean_gwx);
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
      sw += gp[r * up.len + c] * xp[r * up.len + c] * rstd_p[r];
    }
  }
  red[t] = sw;
  workgroupBarrier();
  for (var stride = lanes / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { red[t] += red[t + stride * CW]; }
    workgroupBarrier();
  }
  if (lane == 0u && c < up.len) { dw[c] = red[t]; }
}
