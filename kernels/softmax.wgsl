// Softmax and log-softmax along one axis, forward and backward, one workgroup per row.
// The tensor is viewed as (outer, L, inner): row q = (q / inner, q % inner) holds the L elements
// x[base + l * inner], base = (q / inner) * L * inner + q % inner (inner = 1 for the last axis).
//
// forward  (x -> y): each thread keeps an online (max m, sum s of exp(x - m)) over its strided
// elements (lse_push, common.wgsl), a shared-memory tree merges them, then y = exp(x - m) / s
// (MODE_SOFTMAX) or y = x - m - log(s) (MODE_LOG). Reads the row twice, never
// overflows exp. A row holding NaN or +Inf, or only -Inf, is NaN (as torch).
// backward (g, y -> dx): MODE_SOFTMAX: dx = y * (g - Σ g*y);  MODE_LOG: dx = g - exp(y) * Σ g.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override MODE: u32 = 0u;  // MODE_SOFTMAX or MODE_LOG (codes injected by src/ops/softmax.ts)
override WG: u32 = 256u;  // threads per row

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;         // forward: x; backward: g
@group(0) @binding(1) var<storage, read_write> y: array<T>;   // forward
@group(0) @binding(2) var<uniform> u: Params;                   // forward
@group(0) @binding(1) var<storage, read> yb: array<T>;        // backward: the forward's y
@group(0) @binding(2) var<storage, read_write> dx: array<T>;  // backward
@group(0) @binding(3) var<uniform> ub: Params;                  // backward

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

fn row_base(p: Params, q: u32) -> u32 {
  return (q / p.inner) * p.len * p.inner + q % p.inner;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wg.x + wg.y * nwg.x;
  if (q >= u.rows) { return; }
  let base = row_base(u, q);
  var ms = vec2<f32>(neg_inf(), 0.0);
  for (var l = t; l < u.len; l += WG) {
    ms = lse_push(ms, f32(x[base + l * u.inner]));
  }
  sm[t] = ms.x;
  ss[t] = ms.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      let r = lse_merge(vec2<f32>(sm[t], ss[t]), vec2<f32>(sm[t + stride], ss[t + stride]));
      sm[t] = r.x;
      ss[t] = r.y;
    }
    workgroupBarrier();
  }
  let mx = sm[0];
  let sum = ss[0];
  // NaN or +Inf in the row, or only -Inf: a NaN row (as torch)
  let bad = is_nan(sum) || mx == neg_inf();
  let log_sum = log(sum);
  let inv = 1.0 / sum;
  for (var l = t; l < u.len; l += WG) {
    let i = base + l * u.inner;
    let xi = f32(x[i]);
    var v = exp_f(xi - mx) * inv;                                     // x = -Inf: 0
    if (MODE == MODE_LOG) { v = xi - mx - log_sum; }
    y[i] = T(select(v, nan_f32(), bad));
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
    if (MODE == MODE_SOFTMAX) { acc += f32(x[i]) * f32(yb[i]); } else { acc += f32(x[i]); }
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
    if (MODE == MODE_SOFTMAX) { dx[i] = T(f32(yb[i]) * (f32(x[i]) - dot)); } else { dx[i] = T(f32(x[i]) - exp(f32(yb[i])) * dot); }
  }
}
