// LayerNorm over the last dim (length C) of a tensor viewed as (rows, C), forward and backward.
//
// forward   (x, w, b -> y, mean, rstd): one workgroup per row. Its WG threads stride over the row
//           summing x (tree -> μ), then Σ(x - μ)² (tree -> var; two passes, no E[x²] - μ²
//           cancellation), then write y = x̂·w + b with x̂ = (x - μ)·rstd, rstd = 1/√(var + eps).
//           μ and rstd are saved per row for the backward.
// backward  (g, x, w, mean, rstd -> dx): one workgroup per row; two sums in one sweep, then
//           dx = rstd·(g·w - mean(g·w) - x̂·mean(g·w·x̂)).
// params    (g, x, mean, rstd -> dw, db): the column sums dw = Σ_rows g·x̂, db = Σ_rows g.
//           A workgroup owns CW = 32 adjacent columns; its WG / CW row lanes stride over the rows
//           (adjacent threads read adjacent columns), then a shared-memory tree over the lanes.
// HAS_W / HAS_B = 0 (no weight / no bias): the op binds x in their place and the kernel never reads it.
#include "common.wgsl"

override WG: u32 = 256u;   // threads per workgroup
override HAS_W: u32 = 1u;
override HAS_B: u32 = 1u;
const CW: u32 = 32u;       // columns per workgroup (params)

struct Params { rows: u32, len: u32, eps: f32 }

// forward
@group(0) @binding(0) var<storage, read> x: array<f32>;              // (rows, C)
@group(0) @binding(1) var<storage, read> w: array<f32>;              // (C)
@group(0) @binding(2) var<storage, read> bias: array<f32>;           // (C)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;        // (rows, C)
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>; // (rows)
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>; // (rows)
@group(0) @binding(6) var<uniform> u: Params;

// backward (dx)
@group(0) @binding(0) var<storage, read> g: array<f32>;              // (rows, C)
@group(0) @binding(1) var<storage, read> xb: array<f32>;             // (rows, C)
@group(0) @binding(2) var<storage, read> wb: array<f32>;             // (C)
@group(0) @binding(3) var<storage, read> mean_b: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read> rstd_b: array<f32>;         // (rows)
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;       // (rows, C)
@group(0) @binding(6) var<uniform> ub: Params;

// params (dw, db)
@group(0) @binding(0) var<storage, read> gp: array<f32>;             // (rows, C)
@group(0) @binding(1) var<storage, read> xp: array<f32>;             // (rows, C)
@group(0) @binding(2) var<storage, read> mean_p: array<f32>;         // (rows)
@group(0) @binding(3) var<storage, read> rstd_p: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;       // (C)
@group(0) @binding(5) var<storage, read_write> db: array<f32>;       // (C)
@group(0) @binding(6) var<uniform> up: Params;

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;

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
  let n = f32(u.len);
  var s = 0.0;
  for (var c = t; c < u.len; c += WG) { s += x[base + c]; }
  let mu = wg_sum(t, s) / n;
  var s2 = 0.0;
  for (var c = t; c < u.len; c += WG) {
    let d = x[base + c] - mu;
    s2 += d * d;
  }
  let rstd = inverseSqrt(wg_sum(t, s2) / n + u.eps);
  for (var c = t; c < u.len; c += WG) {
    var v = (x[base + c] - mu) * rstd;          // x̂
    if (HAS_W == 1u) { v *= w[c]; }
    if (HAS_B == 1u) { v += bias[c]; }
    y[base + c] = v;
  }
  if (t == 0u) {
    mean_out[q] = mu;
    rstd_out[q] = rstd;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= ub.rows) { return; }
  let base = q * ub.len;
  let mu = mean_b[q];
  let rstd = rstd_b[q];
  // a = Σ g·w, b = Σ g·w·x̂ (one sweep, two trees sharing the barriers)
  var a = 0.0;
  var b = 0.0;
  for (var c = t; c < ub.len; c += WG) {
    var gw = g[base + c];
    if (HAS_W == 1u) { gw *= wb[c]; }
    a += gw;
    b += gw * (xb[base + c] - mu) * rstd;
  }
  red[t] = a;
  red2[t] = b;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      red[t] += red[t + stride];
      red2[t] += red2[t + stride];
    }
    workgroupBarrier();
  }
  let n = f32(ub.len);
  let mean_gw = red[0] / n;
  let mean_gwx = red2[0] / n;
  for (var c = t; c < ub.len; c += WG) {
    var gw = g[base + c];
    if (HAS_W == 1u) { gw *= wb[c]; }
    let xh = (xb[base + c] - mu) * rstd;
    dx[base + c] = rstd * (gw - mean_gw - xh * mean_gwx);
  }
}

@compute @workgroup_size(WG)
fn params(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let c = wg.x * CW + t % CW;
  let lane = t / CW;
  let lanes = WG / CW;
  var sw = 0.0;
  var sb = 0.0;
  if (c < up.len) {
    for (var r = lane; r < up.rows; r += lanes) {
      let gv = gp[r * up.len + c];
      sw += gv * (xp[r * up.len + c] - mean_p[r]) * rstd_p[r];
      sb += gv;
    }
  }
  red[t] = sw;
  red2[t] = sb;
  workgroupBarrier();
  for (var stride = lanes / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      red[t] += red[t + stride * CW];
      red2[t] += red2[t + stride * CW];
    }
    workgroupBarrier();
  }
  if (lane == 0u && c < up.len) {
    dw[c] = red[t];
    db[c] = red2[t];
  }
}
