// LayerNorm over the last dim (length C) of a tensor viewed as (rows, C), forward and backward.
//
// Rows: TPR threads per row (a power of two <= WG), WG / TPR rows per workgroup. Each thread strides
// over its row; with TPR > 1 a shared-memory tree over the row's threads completes each sum. TPR = 1
// (a thread per row, no barriers) is the fast choice on lavapipe (docs/kernels.md); only few, very
// long rows are split over 32 threads.
// forward   (x, w, b -> y, mean, rstd): per row Σx -> μ, then Σ(x - μ)² -> var (two passes, no
//           E[x²] - μ² cancellation), then y = x̂·w + b with x̂ = (x - μ)·rstd, rstd = 1/√(var + eps).
//           μ and rstd are saved per row for the backward.
// backward  (g, x, w, mean, rstd -> dx): per row two sums in one sweep, then
//           dx = rstd·(g·w - mean(g·w) - x̂·mean(g·w·x̂)).
// params    (g, x, mean, rstd -> dw, db): the column sums dw = Σ_rows g·x̂, db = Σ_rows g.
//           A workgroup owns CW = 32 adjacent columns; its WG / CW row lanes stride over the rows
//           (adjacent threads read adjacent columns), then a shared-memory tree over the lanes.
// has_w / has_b = 0 (no weight / no bias): the op binds x in their place and the kernel never reads it.
#include "common.wgsl"
#include "row_sum.wgsl"

alias T = f32;   // element type of x, w, b, y and their gradients (f16 in the float16 specialisation); row stats stay f32

override WG: u32 = 64u;    // threads per workgroup
override TPR: u32 = 1u;    // threads per row (forward, backward)
const CW: u32 = 32u;       // columns per workgroup (params)

// has_w / has_b: 0/1 flags (uniforms rather than override constants: fewer pipelines to compile)
struct Params { rows: u32, len: u32, eps: f32, has_w: u32, has_b: u32 }

// forward
@group(0) @binding(0) var<storage, read> x: array<T>;              // (rows, C)
@group(0) @binding(1) var<storage, read> w: array<T>;              // (C)
@group(0) @binding(2) var<storage, read> bias: array<T>;           // (C)
@group(0) @binding(3) var<storage, read_write> y: array<T>;        // (rows, C)
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>; // (rows)
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>; // (rows)
@group(0) @binding(6) var<uniform> u: Params;

// backward (dx)
@group(0) @binding(0) var<storage, read> g: array<T>;              // (rows, C)
@group(0) @binding(1) var<storage, read> xb: array<T>;             // (rows, C)
@group(0) @binding(2) var<storage, read> wb: array<T>;             // (C)
@group(0) @binding(3) var<storage, read> mean_b: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read> rstd_b: array<f32>;         // (rows)
@group(0) @binding(5) var<storage, read_write> dx: array<T>;       // (rows, C)
@group(0) @binding(6) var<uniform> ub: Params;

// params (dw, db)
@group(0) @binding(0) var<storage, read> gp: array<T>;             // (rows, C)
@group(0) @binding(1) var<storage, read> xp: array<T>;             // (rows, C)
@group(0) @binding(2) var<storage, read> mean_p: array<f32>;         // (rows)
@group(0) @binding(3) var<storage, read> rstd_p: array<f32>;         // (rows)
@group(0) @binding(4) var<storage, read_write> dw: array<T>;       // (C)
@group(0) @binding(5) var<storage, read_write> db: array<T>;       // (C)
@group(0) @binding(6) var<uniform> up: Params;

var<workgroup> red2: array<f32, WG>;


@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < u.rows;
  var len = 0u;
  if (live) { len = u.len; }                  // threads past the last row sum nothing
  let base = q * u.len;
  let n = f32(u.len);
  var s = 0.0;
  for (var c = lane; c < len; c += TPR) { s += f32(x[base + c]); }
  let mu = row_sum(t, lane, s) / n;
  var s2 = 0.0;
  for (var c = lane; c < len; c += TPR) {
    let d = f32(x[base + c]) - mu;
    s2 += d * d;
  }
  let rstd = rsqrt_f(row_sum(t, lane, s2) / n + u.eps);
  for (var c = lane; c < len; c += TPR) {
    var v = (f32(x[base + c]) - mu) * rstd;          // x̂
    if (u.has_w == 1u) { v *= f32(w[c]); }
    if (u.has_b == 1u) { v += f32(bias[c]); }
    y[base + c] = T(v);
  }
  if (live && lane == 0u) {
    mean_out[q] = mu;
    rstd_out[q] = rstd;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < ub.rows;
  var len = 0u;
  var mu = 0.0;
  var rstd = 0.0;
  if (live) {
    len = ub.len;
    mu = mean_b[q];
    rstd = rstd_b[q];
  }
  let base = q * ub.len;
  // a = Σ g·w, b = Σ g·w·x̂ (one sweep)
  var a = 0.0;
  var b = 0.0;
  for (var c = lane; c < len; c += TPR) {
    var gw = f32(g[base + c]);
    if (ub.has_w == 1u) { gw *= f32(wb[c]); }
    a += gw;
    b += gw * (f32(xb[base + c]) - mu) * rstd;
  }
  let n = f32(ub.len);
  let mean_gw = row_sum(t, lane, a) / n;
  let mean_gwx = row_sum(t, lane, b) / n;
  for (var c = lane; c < len; c += TPR) {
    var gw = f32(g[base + c]);
    if (ub.has_w == 1u) { gw *= f32(wb[c]); }
    let xh = (f32(xb[base + c]) - mu) * rstd;
    dx[base + c] = T(rstd * (gw - mean_gw - xh * mean_gwx));
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
      let gv = f32(gp[r * up.len + c]);
      sw += gv * (f32(xp[r * up.len + c]) - mean_p[r]) * rstd_p[r];
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
    dw[c] = T(red[t]);
    db[c] = T(red2[t]);
  }
}
