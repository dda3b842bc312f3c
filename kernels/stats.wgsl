// Statistics of each row of a contiguous [rows, len] tensor, one thread per row (src/ops/stats.ts
// moves the reduced axes last first). OP (module constants from the table in stats.ts):
//   PROD         y[r] = Π_i x[r, i]                               (empty row: 1)
//   LSE          y[r] = log Σ_i exp(x[r, i]), max-shifted online (lse_push); NaN anywhere: NaN,
//                else +Inf anywhere: +Inf; a row of -Inf (or empty): -Inf (torch.logsumexp)
//   VAR          y[r] = Σ_i (x[r, i] - mean)² / max(len - a, 0), a = correction; Welford's one
//                pass (no overflow of the running sum); a zero divisor gives NaN (0/0) or +Inf
//   NORM         y[r] = (Σ_i |x[r, i]|^a)^(1/a), a = p (Infinity: max |x|); the powers are of
//                |x| / max |x|, so no overflow or underflow before the last multiply
//   PROD_OTHERS  y[r, i] = Π_{j≠i} x[r, j]: prod's gradient without dividing (exact with zeros),
//                exclusive prefix times suffix products
#include "common.wgsl"

override OP: u32 = PROD;
const WG: u32 = 64u;

struct Params { rows: u32, len: u32, a: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

fn row_prod(base: u32) -> f32 {
  var p = 1.0;
  for (var i = 0u; i < u.len; i++) { p *= x[base + i]; }
  return p;
}

fn row_lse(base: u32) -> f32 {
  var ms = vec2<f32>(neg_inf(), 0.0);
  var nan = false;
  var inf = false;
  for (var i = 0u; i < u.len; i++) {
    let v = x[base + i];
    if (is_nan(v)) { nan = true; } else if (v == pos_inf()) { inf = true; } else { ms = lse_push(ms, v); }
  }
  if (nan) { return nan_f32(); }
  if (inf) { return pos_inf(); }
  if (ms.x == neg_inf()) { return neg_inf(); }
  return ms.x + log(ms.y);                                  // ms.y >= 1
}

fn row_var(base: u32) -> f32 {
  if (u.len == 0u) { return nan_f32(); }
  var m = 0.0;
  var m2 = 0.0;
  for (var i = 0u; i < u.len; i++) {
    let v = x[base + i];
    let d = v - m;
    m += d / f32(i + 1u);
    m2 += d * (v - m);
  }
  let den = max(f32(u.len) - u.a, 0.0);
  if (den == 0.0) { return select(pos_inf(), nan_f32(), m2 == 0.0 || is_nan(m2)); }
  return m2 / den;
}

fn row_norm(base: u32) -> f32 {
  var m = 0.0;
  for (var i = 0u; i < u.len; i++) {
    let v = abs(x[base + i]);
    if (is_nan(v)) { return v; }
    m = max(m, v);
  }
  if (u.a == pos_inf() || m == 0.0 || m == pos_inf()) { return m; }
  var s = 0.0;
  for (var i = 0u; i < u.len; i++) {
    let t = abs(x[base + i]) / m;                          // in [0, 1]
    if (u.a == 1.0) { s += t; } else if (u.a == 2.0) { s += t * t; } else if (t > 0.0) { s += pow(t, u.a); }
  }
  if (u.a == 1.0) { return m * s; }
  if (u.a == 2.0) { return m * sqrt(s); }
  return m * pow(s, 1.0 / u.a);                            // s >= 1
}

fn prod_others(base: u32) {
  var p = 1.0;
  for (var i = 0u; i < u.len; i++) {
    y[base + i] = p;
    p *= x[base + i];
  }
  p = 1.0;
  for (var i = u.len; i > 0u; i--) {
    y[base + i - 1u] *= p;
    p *= x[base + i - 1u];
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_id(gid, nwg, WG);
  if (r >= u.rows) { return; }
  let base = r * u.len;
  switch OP {
    case PROD: { y[r] = row_prod(base); }
    case LSE: { y[r] = row_lse(base); }
    case VAR: { y[r] = row_var(base); }
    case NORM: { y[r] = row_norm(base); }
    case PROD_OTHERS: { prod_others(base); }
    default: {}
  }
}
