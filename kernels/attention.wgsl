// Scaled, masked softmax over attention scores, forward and backward: the one fused kernel between
// the two matmuls of attention (scores = q @ kᵀ, out = P @ v).
// scores S: (B, H, Tq, Tk) viewed as rows r = ((b·H + h)·Tq + i) of length Tk.
//   masked(r, j) = (causal and j > i + Tk - Tq)        (bottom-right aligned: key j is visible to
//                  or (has_pad and pad[b, j] == 0)       query i when j <= i + Tk - Tq)
// forward  (S, pad -> P): P = softmax_j(scale·S) over the unmasked j, 0 at masked j; a row with every
//          key masked is all zeros (not NaN).
// backward (g, P -> dS): dS = scale·P ⊙ (g - Σ_j g·P)  (masked entries have P = 0, so dS = 0).
//
// Thread mapping: TPR threads per row (a power of two <= WG), WG / TPR rows per workgroup. Each
// thread strides over its row's keys keeping an online (max, Σ exp) (forward) or Σ g·P (backward),
// then a tree over the row's TPR threads in shared memory. TPR = 1 (one thread per row, no tree) is
// the fastest at T = 64 on lavapipe (docs/kernels.md).
#include "common.wgsl"

alias T = f32;   // element type of scores, P and their gradients (f16 in the float16 specialisation); pad stays f32

override WG: u32 = 64u;
override TPR: u32 = 1u;    // threads per row

// causal, has_pad: 0/1 flags (uniforms: fewer pipelines to compile, no measurable cost)
struct Params { rows: u32, tq: u32, tk: u32, htq: u32, scale: f32, causal: u32, has_pad: u32 }

// forward
@group(0) @binding(0) var<storage, read> s: array<T>;          // (B, H, Tq, Tk)
@group(0) @binding(1) var<storage, read> pad: array<f32>;        // (B, Tk): 1 keep, 0 pad
@group(0) @binding(2) var<storage, read_write> p: array<T>;    // (B, H, Tq, Tk)
@group(0) @binding(3) var<uniform> u: Params;

// backward
@group(0) @binding(0) var<storage, read> g: array<T>;          // (B, H, Tq, Tk)
@group(0) @binding(1) var<storage, read> pb: array<T>;         // (B, H, Tq, Tk): the forward's P
@group(0) @binding(2) var<storage, read_write> ds: array<T>;   // (B, H, Tq, Tk)
@group(0) @binding(3) var<uniform> ub: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

// Keys [0, end) are candidates for row r (causal cut); pad is checked per key.
fn key_end(r: u32) -> u32 {
  if (u.causal == 1u) {
    let last = i32(r % u.tq) + i32(u.tk) - i32(u.tq);   // the last visible key (may be < 0)
    return u32(clamp(last + 1, 0, i32(u.tk)));
  }
  return u.tk;
}

fn visible(b: u32, j: u32) -> bool {
  if (u.has_pad == 1u) { return nonzero(pad[b * u.tk + j]); }
  return true;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = r < u.rows;
  let base = r * u.tk;
  let b = r / u.htq;
  var end = 0u;
  if (live) { end = key_end(r); }
  var ms = vec2<f32>(neg_inf(), 0.0);
  for (var j = lane; j < end; j += TPR) {
    if (visible(b, j)) { ms = lse_push(ms, f32(s[base + j]) * u.scale); }
  }
  if (TPR > 1u) {
    sm[t] = ms.x;
    ss[t] = ms.y;
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
      if (lane < stride) {
        let q = lse_merge(vec2<f32>(sm[t], ss[t]), vec2<f32>(sm[t + stride], ss[t + stride]));
        sm[t] = q.x;
        ss[t] = q.y;
      }
      workgroupBarrier();
    }
    ms = vec2<f32>(sm[t - lane], ss[t - lane]);
  }
  let m = ms.x;
  let l = ms.y;
  if (!live) { return; }
  let inv = select(1.0 / l, 0.0, l == 0.0);     // every key masked: l = 0 -> a zero row
  for (var j = lane; j < u.tk; j += TPR) {
    var y = 0.0;
    if (j < end && l != 0.0 && visible(b, j)) { y = exp_f(f32(s[base + j]) * u.scale - m) * inv; }
    // a NaN or +Inf score among the visible keys: a NaN row over them (as torch's softmax)
    if (is_nan(l) && j < end && visible(b, j)) { y = nan_f32(); }
    p[base + j] = T(y);
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = r < ub.rows;
  let base = r * ub.tk;
  var n = 0u;
  if (live) { n = ub.tk; }
  var dot = 0.0;
  for (var j = lane; j < n; j += TPR) { dot += f32(g[base + j]) * f32(pb[base + j]); }
  if (TPR > 1u) {
    ss[t] = dot;
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
      if (lane < stride) { ss[t] += ss[t + stride]; }
      workgroupBarrier();
    }
    dot = ss[t - lane];
  }
  for (var j = lane; j < n; j += TPR) {
    let i = base + j;
    ds[i] = T(ub.scale * f32(pb[i]) * (f32(g[i]) - dot));
  }
}
