// Softmax and log-softmax along one axis, forward and backward, one workgroup per row.
// The tensor is viewed as (outer, L, inner): row q = (q / inner, q % inner) holds the L elements
// x[base + l * inner], base = (q / inner) * L * inner + q % inner (inner = 1 for the last axis).
//
// forward  (x -> y): each thread keeps an online (max m, sum s of exp(x - m)) over its strided
// elements, a shared-memory tree merges them, then y = exp(x - m) / s (MODE 0, softmax) or
// y = x - m - log(s) (MODE 1, log-softmax). Reads the row twice, never overflows exp.
// backward (g, y -> dx): MODE 0: dx = y * (g - Σ g*y);  MODE 1: dx = g - exp(y) * Σ g.
#include "common.wgsl"

override MODE: u32 = 0u;  // 0 softmax, 1 log-softmax
override WG: u32 = 256u;  // threads per row

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;         // forward: x; backward: g
@group(0) @binding(1) var<storage, read_write> y: array<f32>;   // forward
@group(0) @binding(2) var<uniform> u: Params;                   // forward
@group(0) @binding(1) var<storage, read> yb: array<f32>;        // backward: the forward's y
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;  // backward
@group(0) @binding(3) var<uniform> ub: Params;                  // backward

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

// Built at run time: a constant expression may not evaluate to an infinity.
fn neg_inf() -> f32 { var b = 0xff800000u; return bitcast<f32>(b); }

// (m, s) merged with (m2, s2): both sums rescaled to the larger max. -Inf maxima hold nothing.
fn merge(m: f32, s: f32, m2: f32, s2: f32) -> vec2<f32> {
  if (m2 == neg_inf()) { return vec2<f32>(m, s); }
  if (m == neg_inf()) { return vec2<f32>(m2, s2); }
  if (m2 > m) { return vec2<f32>(m2, s * exp(m - m2) + s2); }
  return vec2<f32>(m, s + s2 * exp(m2 - m));
}

fn row_base(p: Params, q: u32) -> u32 {
  return (q / p.inner) * p.len * p.inner + q % p.inner;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= u.rows) { return; }
  let base = row_base(u, q);
  var m = neg_inf();
  var s = 0.0;
  for (var l = t; l < u.len; l += WG) {
    let v = x[base + l * u.inner];
    if (v > m) {
      s = s * exp(m - v) + 1.0;  // m = -Inf: s = 0 * 0 + 1
      m = v;
    } else if (v != neg_inf()) {
      s += exp(v - m);           // NaN makes s NaN: the row becomes NaN, as torch
    }
  }
  sm[t] = m;
  ss[t] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      let r = merge(sm[t], ss[t], sm[t + stride], ss[t + stride]);
      sm[t] = r.x;
      ss[t] = r.y;
    }
    workgroupBarrier();
  }
  let mx = sm[0];
  let sum = ss[0];
  let log_sum = log(sum);
  let inv = 1.0 / sum;
  for (var l = t; l < u.len; l += WG) {
    let i = base + l * u.inner;
    if (MODE == 0u) { y[i] = exp(x[i] - mx) * inv; } else { y[i] = x[i] - mx - log_sum; }
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= ub.rows) { return; }
  let base = row_base(ub, q);
  var acc = 0.0;
  for (var l = t; l < ub.len; l += WG) {
    let i = base + l * ub.inner;
    if (MODE == 0u) { acc += x[i] * yb[i]; } else { acc += x[i]; }
  }
  ss[t] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { ss[t] += ss[t + stride]; }
    workgroupBarrier();
  }
  let dot = ss[0];
  for (var l = t; l < ub.len; l += WG) {
    let i = base + l * ub.inner;
    if (MODE == 0u) { dx[i] = yb[i] * (x[i] - dot); } else { dx[i] = x[i] - exp(yb[i]) * dot; }
  }
}
