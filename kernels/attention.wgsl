// Scaled, masked softmax over attention scores with attention dropout, forward and backward: the one
// fused kernel between the two products of attention (scores = q @ kᵀ, out = Y @ v).
// scores S: (B, H, Tq, Tk) viewed as rows r = ((b·H + h)·Tq + i) of length Tk.
//   z(r, j)      = scale·S + mask[b, h, i, j]               (additive float mask through strides,
//                                                            0 on broadcast dims; has_mask)
//   masked(r, j) = (causal and j > i + Tk - Tq)              (bottom-right aligned: key j is visible
//                  or (has_pad and pad[b, j] == 0)            to query i when j <= i + Tk - Tq)
//                  or z == -Inf
//   keep(r, j)   = (pcg(pcg(r·Tk + j) ^ key) >> 8) >= threshold   (kernels/dropout.wgsl's mask)
// forward      (S, pad, mask -> P): P = softmax_j(z) over the unmasked j, 0 at masked j; a row with
//              every key masked is all zeros (not NaN).
// forward_drop (S, pad, mask -> P, Y): also Y = P·keep·dscale (dscale = 1/(1 - p)).
// backward     (g, P -> dS): g' = g·keep·dscale (has_drop) or g; dS = scale·P ⊙ (g' - Σ_j g'·P)
//              (masked entries have P = 0, so dS = 0).
//
// Thread mapping: TPR threads per row (a power of two <= WG), WG / TPR rows per workgroup. Each
// thread strides over its row's keys keeping an online (max, Σ exp) (forward) or Σ g·P (backward),
// then a tree over the row's TPR threads in shared memory. TPR = 1 (one thread per row, no tree) is
// the fastest at T = 64 on lavapipe (docs/kernels.md).
#include "common.wgsl"

alias T = f32;   // element type of scores, mask, P, Y and their gradients (f16 in the float16 specialisation); pad stays f32

override WG: u32 = 64u;
override TPR: u32 = 1u;    // threads per row

// causal, has_pad, has_mask, has_drop: 0/1 flags (uniforms: fewer pipelines to compile, no
// measurable cost). m_*: the mask's element strides over (b, h, i, j).
struct Params {
  rows: u32, tq: u32, tk: u32, htq: u32, scale: f32, causal: u32, has_pad: u32, heads: u32,
  has_mask: u32, m_b: u32, m_h: u32, m_i: u32, m_j: u32, key: u32, threshold: u32, dscale: f32,
  has_drop: u32,
}

// forward and forward_drop
@group(0) @binding(0) var<storage, read> s: array<T>;            // (B, H, Tq, Tk)
@group(0) @binding(1) var<storage, read> pad: array<f32>;        // (B, Tk): 1 keep, 0 pad
@group(0) @binding(2) var<storage, read> mask: array<T>;         // broadcast to (B, H, Tq, Tk)
@group(0) @binding(3) var<storage, read_write> p: array<T>;      // (B, H, Tq, Tk)
@group(0) @binding(4) var<uniform> u: Params;                    // forward
@group(0) @binding(4) var<storage, read_write> y: array<T>;      // forward_drop: (B, H, Tq, Tk)
@group(0) @binding(5) var<uniform> ud: Params;                   // forward_drop

// backward
@group(0) @binding(0) var<storage, read> g: array<T>;            // (B, H, Tq, Tk)
@group(0) @binding(1) var<storage, read> pb: array<T>;           // (B, H, Tq, Tk): the forward's P
@group(0) @binding(2) var<storage, read_write> ds: array<T>;     // (B, H, Tq, Tk)
@group(0) @binding(3) var<uniform> ub: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

// Keys [0, end) are candidates for row r (causal cut); pad is checked per key.
fn key_end(c: Params, r: u32) -> u32 {
  if (c.causal == 1u) {
    let last = i32(r % c.tq) + i32(c.tk) - i32(c.tq);   // the last visible key (may be < 0)
    return u32(clamp(last + 1, 0, i32(c.tk)));
  }
  return c.tk;
}

fn visible(c: Params, b: u32, j: u32) -> bool {
  if (c.has_pad == 1u) { return nonzero(pad[b * c.tk + j]); }
  return true;
}

fn kept(c: Params, idx: u32) -> bool {
  return (pcg(pcg(idx) ^ c.key) >> 8u) >= c.threshold;
}

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// The logit z(r, j); m_row = the mask offset of (b, h, i, 0).
fn logit(c: Params, base: u32, m_row: u32, j: u32) -> f32 {
  var z = f32(s[base + j]) * c.scale;
  if (c.has_mask == 1u) { z += f32(mask[m_row + j * c.m_j]); }
  return z;
}

fn mask_row(c: Params, r: u32) -> u32 {
  return (r / c.htq) * c.m_b + ((r / c.tq) % c.heads) * c.m_h + (r % c.tq) * c.m_i;
}

// Writes P of row r; every lane of the workgroup must call it (barriers).
fn softmax_row(c: Params, t: u32, r: u32, lane: u32) {
  let live = r < c.rows;
  let base = r * c.tk;
  var b = 0u;
  var end = 0u;
  var m_row = 0u;
  if (live) {
    b = r / c.htq;
    end = key_end(c, r);
    m_row = mask_row(c, r);
  }
  var ms = vec2<f32>(neg_inf(), 0.0);
  for (var j = lane; j < end; j += TPR) {
    if (visible(c, b, j)) { ms = lse_push(ms, logit(c, base, m_row, j)); }
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
  for (var j = lane; j < c.tk; j += TPR) {
    var v = 0.0;
    let vis = j < end && visible(c, b, j);
    if (vis && l != 0.0) {
      let z = logit(c, base, m_row, j);
      if (z != neg_inf()) { v = exp_f(z - m) * inv; }
    }
    // a NaN or +Inf logit among the visible keys: a NaN row over them (as torch's softmax)
    if (is_nan(l) && vis) { v = nan_f32(); }
    p[base + j] = T(v);
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  softmax_row(u, t, r, t % TPR);
}

@compute @workgroup_size(WG)
fn forward_drop(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let c = ud;
  let lane = t % TPR;
  softmax_row(c, t, r, lane);
  if (r >= c.rows) { return; }
  // this lane's own entries of P, just written
  for (var j = lane; j < c.tk; j += TPR) {
    let i = r * c.tk + j;
    y[i] = T(select(0.0, f32(p[i]) * c.dscale, kept(c, i)));
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = ub;
  let r = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = r < c.rows;
  let base = r * c.tk;
  var n = 0u;
  if (live) { n = c.tk; }
  let drop = c.has_drop == 1u;
  var dot = 0.0;
  for (var j = lane; j < n; j += TPR) {
    var gj = f32(g[base + j]);
    if (drop) { gj = select(0.0, gj * c.dscale, kept(c, base + j)); }
    dot += gj * f32(pb[base + j]);
  }
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
    var gj = f32(g[i]);
    if (drop) { gj = select(0.0, gj * c.dscale, kept(c, i)); }
    ds[i] = T(c.scale * f32(pb[i]) * (gj - dot));
  }
}
