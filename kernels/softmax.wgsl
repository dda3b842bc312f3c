// Softmax and log-softmax along one axis, forward and backward.
// The tensor is viewed as (outer, L, inner): row q = (q / inner, q % inner) holds the L elements
// x[base + l * inner], base = (q / inner) * L * inner + q % inner (inner = 1 for the last axis).
//
// Rows: TPR threads per row (a power of two <= WG), WG / TPR rows per workgroup; each thread strides
// over its row and, with TPR > 1, a shared-memory tree over the row's threads merges their states.
// TPR = 1 (a thread per row, no barriers) is the fast choice on CPU adapters (docs/kernels.md); the
// `*_vec4` entries are the same with TPR = 1 over contiguous rows (inner = 1, L % 4 == 0) read and
// written as vec4s (a load at per-lane addresses is a loop over the lanes on lavapipe).
//
// forward  (x -> y): each thread keeps an online (max m, sum s of exp(x - m)) over its strided
// elements (lse_push, common.wgsl), then y = exp(x - m) / s (MODE_SOFTMAX) or y = x - m - log(s)
// (MODE_LOG). Reads the row twice, never overflows exp. A row holding NaN or +Inf, or only -Inf,
// is NaN (as torch).
// backward (g, y -> dx): MODE_SOFTMAX: dx = y * (g - Σ g*y);  MODE_LOG: dx = g - exp(y) * Σ g.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override MODE: u32 = 0u;  // MODE_SOFTMAX or MODE_LOG (codes injected by src/ops/softmax.ts)
override WG: u32 = 64u;   // threads per workgroup
override TPR: u32 = 1u;   // threads per row

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;         // forward: x; backward: g
@group(0) @binding(1) var<storage, read_write> y: array<T>;   // forward
@group(0) @binding(2) var<uniform> u: Params;                 // forward
@group(0) @binding(1) var<storage, read> yb: array<T>;        // backward: the forward's y
@group(0) @binding(2) var<storage, read_write> dx: array<T>;  // backward
@group(0) @binding(3) var<uniform> ub: Params;                // backward

@group(0) @binding(0) var<storage, read> x4: array<vec4<T>>;         // *_vec4: x or g
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<T>>;   // forward_vec4
@group(0) @binding(1) var<storage, read> yb4: array<vec4<T>>;        // backward_vec4
@group(0) @binding(2) var<storage, read_write> dx4: array<vec4<T>>;  // backward_vec4

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

fn row_base(p: Params, q: u32) -> u32 {
  return (q / p.inner) * p.len * p.inner + q % p.inner;
}

// Row q of this thread (t: local index), its lane among the row's TPR threads, and the elements it
// walks (0 past the last row: those threads still take part in the barriers).
struct Row { q: u32, lane: u32, len: u32 }

fn row_of(p: Params, t: u32, wg: vec3<u32>, nwg: vec3<u32>) -> Row {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  return Row(q, t % TPR, select(0u, p.len, q < p.rows));
}

// (max, Σ exp) of a row: the merged states of its TPR threads (every thread of the row gets it).
fn row_lse(t: u32, lane: u32, ms: vec2<f32>) -> vec2<f32> {
  if (TPR == 1u) { return ms; }
  sm[t] = ms.x;
  ss[t] = ms.y;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      let r = lse_merge(vec2<f32>(sm[t], ss[t]), vec2<f32>(sm[t + stride], ss[t + stride]));
      sm[t] = r.x;
      ss[t] = r.y;
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(sm[t - lane], ss[t - lane]);
  workgroupBarrier();
  return r;
}

// Σ of v over the row's TPR threads.
fn row_total(t: u32, lane: u32, v: f32) -> f32 {
  if (TPR == 1u) { return v; }
  ss[t] = v;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { ss[t] += ss[t + stride]; }
    workgroupBarrier();
  }
  let r = ss[t - lane];
  workgroupBarrier();
  return r;
}

// A row's normaliser from its (max, Σ exp): NaN or +Inf in the row, or only -Inf, make a NaN row.
struct Norm { m: f32, inv: f32, log_sum: f32, bad: bool }

fn norm_of(ms: vec2<f32>) -> Norm {
  return Norm(ms.x, 1.0 / ms.y, log(ms.y), is_nan(ms.y) || ms.x == neg_inf());
}

// What the forward writes for x_i.
fn soft(v: f32, n: Norm) -> f32 {
  var r = exp_f(v - n.m) * n.inv;                                   // x = -Inf: 0
  if (MODE == MODE_LOG) { r = v - n.m - n.log_sum; }
  return select(r, nan_f32(), n.bad);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(u, t, wg, nwg);
  let base = row_base(u, r.q);
  var ms = vec2<f32>(neg_inf(), 0.0);
  for (var l = r.lane; l < r.len; l += TPR) {
    ms = lse_push(ms, f32(x[base + l * u.inner]));
  }
  let nm = norm_of(row_lse(t, r.lane, ms));
  for (var l = r.lane; l < r.len; l += TPR) {
    let i = base + l * u.inner;
    y[i] = T(soft(f32(x[i]), nm));
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(ub, t, wg, nwg);
  let base = row_base(ub, r.q);
  var acc = 0.0;
  for (var l = r.lane; l < r.len; l += TPR) {
    let i = base + l * ub.inner;
    if (MODE == MODE_SOFTMAX) { acc += f32(x[i]) * f32(yb[i]); } else { acc += f32(x[i]); }
  }
  let dot = row_total(t, r.lane, acc);
  for (var l = r.lane; l < r.len; l += TPR) {
    let i = base + l * ub.inner;
    let g = f32(x[i]);
    let yv = f32(yb[i]);
    if (MODE == MODE_SOFTMAX) { dx[i] = T(yv * (g - dot)); } else { dx[i] = T(g - exp(yv) * dot); }
  }
}

@compute @workgroup_size(WG)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = linear_id(gid, nwg, WG);
  if (q >= u.rows) { return; }
  let n4 = u.len / 4u;
  let base = q * n4;
  var ms = vec2<f32>(neg_inf(), 0.0);
  for (var j = 0u; j < n4; j++) {
    let v = vec4<f32>(x4[base + j]);
    ms = lse_push(lse_push(lse_push(lse_push(ms, v.x), v.y), v.z), v.w);
  }
  let nm = norm_of(ms);
  for (var j = 0u; j < n4; j++) {
    let v = vec4<f32>(x4[base + j]);
    y4[base + j] = vec4<T>(vec4<f32>(soft(v.x, nm), soft(v.y, nm), soft(v.z, nm), soft(v.w, nm)));
  }
}

@compute @workgroup_size(WG)
fn backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = linear_id(gid, nwg, WG);
  if (q >= ub.rows) { return; }
  let n4 = ub.len / 4u;
  let base = q * n4;
  var acc = vec4<f32>(0.0);
  for (var j = 0u; j < n4; j++) {
    if (MODE == MODE_SOFTMAX) { acc += vec4<f32>(x4[base + j]) * vec4<f32>(yb4[base + j]); } else { acc += vec4<f32>(x4[base + j]); }
  }
  let dot = (acc.x + acc.y) + (acc.z + acc.w);
  for (var j = 0u; j < n4; j++) {
    let g = vec4<f32>(x4[base + j]);
    let yv = vec4<f32>(yb4[base + j]);
    if (MODE == MODE_SOFTMAX) { dx4[base + j] = vec4<T>(yv * (g - dot)); } else { dx4[base + j] = vec4<T>(g - exp(yv) * dot); }
  }
}
