// Statistics of each row of a contiguous [rows, len] tensor (src/ops/stats.ts moves the reduced axes
// last first). TPR threads per row (1: a thread per row, no barriers; more: each lane folds a strided
// part of the row into a partial state, then a shared-memory tree merges the lanes' states), WG / TPR
// rows per workgroup. OP (module constants from the table in stats.ts):
//   PROD         y[r] = Π_i x[r, i]                               (empty row: 1)
//   LSE          y[r] = log Σ_i exp(x[r, i]), max-shifted online (lse_push / lse_merge); NaN
//                anywhere: NaN, else +Inf anywhere: +Inf; a row of -Inf (or empty): -Inf
//   VAR          y[r] = Σ_i (x[r, i] - mean)² / max(len - a, 0), a = correction: Welford's update per
//                lane, Chan's merge across lanes (no running sum to overflow); a zero divisor gives
//                NaN (0/0) or +Inf
//   NORM         y[r] = (Σ_i |x[r, i]|^a)^(1/a), a = p (Infinity: max |x|): pass 1 finds m = max |x|,
//                pass 2 sums (|x| / m)^p, so no power overflows or underflows
//   PROD_OTHERS  y[r, i] = Π_{j≠i} x[r, j]: prod's gradient without dividing (exact with zeros),
//                exclusive prefix times suffix products
#include "common.wgsl"

override OP: u32 = PROD;
override WG: u32 = 64u;    // threads per workgroup
override TPR: u32 = 1u;    // threads per row (a power of two dividing WG)
#include "lane_scan.wgsl"

struct Params { rows: u32, len: u32, a: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

var<workgroup> sh: array<vec4<f32>, WG>;

// A partial state, by OP: PROD (product); LSE (max m, Σ exp(x - m), 1 if +Inf seen / 2 if NaN seen);
// VAR (count, mean, M2); NORM (max |x|, 1 if NaN seen, pass 2's Σ (|x| / m)^p).
fn init() -> vec4<f32> {
  if (OP == PROD) { return vec4<f32>(1.0, 0.0, 0.0, 0.0); }
  if (OP == LSE) { return vec4<f32>(neg_inf(), 0.0, 0.0, 0.0); }
  return vec4<f32>(0.0);
}

fn push(s: vec4<f32>, v: f32) -> vec4<f32> {
  switch OP {
    case PROD: { return vec4<f32>(s.x * v, 0.0, 0.0, 0.0); }
    case LSE: {
      if (is_nan(v)) { return vec4<f32>(s.xy, 2.0, 0.0); }
      if (v == pos_inf()) { return vec4<f32>(s.xy, max(s.z, 1.0), 0.0); }
      return vec4<f32>(lse_push(s.xy, v), s.z, 0.0);
    }
    case VAR: {
      let n = s.x + 1.0;
      let d = v - s.y;
      let mean = s.y + d / n;
      return vec4<f32>(n, mean, s.z + d * (v - mean), 0.0);
    }
    default: {                                                 // NORM, pass 1
      let a = abs(v);
      if (is_nan(a)) { return vec4<f32>(s.x, 1.0, s.z, 0.0); }
      return vec4<f32>(max(s.x, a), s.y, s.z, 0.0);
    }
  }
}

fn merge(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  switch OP {
    case PROD: { return vec4<f32>(a.x * b.x, 0.0, 0.0, 0.0); }
    case LSE: { return vec4<f32>(lse_merge(a.xy, b.xy), max(a.z, b.z), 0.0); }
    case VAR: {
      if (a.x == 0.0) { return b; }
      if (b.x == 0.0) { return a; }
      let n = a.x + b.x;
      let d = b.y - a.y;
      return vec4<f32>(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * (b.x / n)), 0.0);
    }
    default: { return vec4<f32>(max(a.x, b.x), max(a.y, b.y), a.z + b.z, 0.0); }   // NORM, both passes
  }
}

// The merged state of the TPR lanes of a row (every lane gets it); lane = t % TPR.
fn row_reduce(t: u32, lane: u32, s: vec4<f32>) -> vec4<f32> {
  if (TPR == 1u) { return s; }
  sh[t] = s;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { sh[t] = merge(sh[t], sh[t + stride]); }
    workgroupBarrier();
  }
  let r = sh[t - lane];
  workgroupBarrier();
  return r;
}

fn finish(s: vec4<f32>) -> f32 {
  switch OP {
    case PROD: { return s.x; }
    case LSE: {
      if (s.z == 2.0) { return nan_f32(); }
      if (s.z == 1.0) { return pos_inf(); }
      if (s.x == neg_inf()) { return neg_inf(); }
      return s.x + log(s.y);                                  // s.y >= 1
    }
    case VAR: {
      if (s.x == 0.0) { return nan_f32(); }
      let den = max(s.x - u.a, 0.0);
      if (den == 0.0) { return select(pos_inf(), nan_f32(), s.z == 0.0 || is_nan(s.z)); }
      return s.z / den;
    }
    default: { return s.x; }
  }
}

// The row in TPR contiguous chunks: each lane's chunk product, the products of the chunks before and
// after it (lane_scan.wgsl), then prefix and suffix walks through the chunk.
fn prod_others(t: u32, lane: u32, base: u32, len: u32) {
  let chunk = (len + TPR - 1u) / TPR;
  let lo = min(lane * chunk, len);
  let hi = min(lo + chunk, len);
  var p = 1.0;
  if (TPR > 1u) {
    for (var i = lo; i < hi; i++) { p *= x[base + i]; }
  }
  let before = lanes_exclusive(t, lane, p, true, false);
  let after = lanes_exclusive(t, lane, p, true, true);
  p = before;
  for (var i = lo; i < hi; i++) {
    y[base + i] = p;
    p *= x[base + i];
  }
  p = after;
  for (var i = hi; i > lo; i--) {
    y[base + i - 1u] *= p;
    p *= x[base + i - 1u];
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < u.rows;
  var len = 0u;
  if (live) { len = u.len; }
  let base = q * u.len;
  if (OP == PROD_OTHERS) {
    prod_others(t, lane, base, len);
    return;
  }
  var s = init();
  for (var i = lane; i < len; i += TPR) { s = push(s, x[base + i]); }
  s = row_reduce(t, lane, s);
  var r = finish(s);
  if (OP == NORM) {
    // pass 2 over the row scaled by m = max |x| (skipped where the answer is already known)
    let m = s.x;
    let known = s.y > 0.0 || u.a == pos_inf() || m == 0.0 || m == pos_inf();
    var acc = 0.0;
    if (!known) {
      for (var i = lane; i < len; i += TPR) {
        let v = abs(x[base + i]) / m;                          // in [0, 1]
        if (u.a == 1.0) { acc += v; } else if (u.a == 2.0) { acc += v * v; } else if (v > 0.0) { acc += pow(v, u.a); }
      }
    }
    let sum = row_reduce(t, lane, vec4<f32>(0.0, 0.0, acc, 0.0)).z;
    if (s.y > 0.0) { r = nan_f32(); }
    else if (known) { r = m; }
    else if (u.a == 1.0) { r = m * sum; }
    else if (u.a == 2.0) { r = m * sqrt(sum); }
    else { r = m * pow(sum, 1.0 / u.a); }                      // sum >= 1
  }
  if (live && lane == 0u) { y[q] = r; }
}
