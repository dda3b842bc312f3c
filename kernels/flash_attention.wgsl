// Fused ("flash") attention: out = softmax(scale·q@kᵀ + mask) @ v without materialising the
// (Tq, Tk) scores, forward and backward.
// q, o, dq: (B, H, Tq, hs); k, v, dk, dv: (B, H, Tk, hs); pad: (B, Tk) 1 keep / 0 pad;
// stats: (B, H, Tq, 2) = [lse, D] per query row.
// Masks as kernels/attention.wgsl: key j is visible to query i when (not CAUSAL or j <= i + Tk - Tq)
// and (not HAS_PAD or pad[b, j] != 0). A query row with no visible key gives o = 0, lse = +Inf
// (so every p = exp(s - lse) of the backward is 0).
//
// forward  (q, k, v, pad -> o, stats): one thread per query row (b, h, i). The row's q (pre-scaled)
//          and its output accumulator live in private arrays; the thread walks the visible keys once
//          with an online softmax (running max m, running Σ l, accumulator rescaled when m grows):
//            s_j = scale·q·k_j;  acc = Σ_j exp(s_j - m)·v_j;  o = acc / l;  lse = m + log(l).
// bwd_q    (q, k, v, pad, o, g -> dq, stats): one thread per query row. D = g·o (= Σ_j P_ij dP_ij),
//          written to stats[., 1] for bwd_kv; then per visible key p = exp(s - lse), dp = g·v_j,
//          ds = p·(dp - D), dq = scale·Σ_j ds·k_j.
// bwd_kv   (q, k, v, pad, g, stats -> dk, dv): one thread per key row (b, h, j), looping over the
//          queries that see it: dv = Σ_i p·g_i, dk = scale·Σ_i p·(g_i·v_j - D_i)·q_i.
// At most 8 storage bindings per entry point (WebGPU's default limit): D travels in stats.
#include "common.wgsl"

override WG: u32 = 64u;
override CAUSAL: u32 = 0u;
override HAS_PAD: u32 = 0u;
const MAX_HS: u32 = 128u;

struct Params { rows: u32, tq: u32, tk: u32, htq: u32, hs: u32, scale: f32 }

// forward
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> pad: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;

// bwd_q
@group(0) @binding(0) var<storage, read> q1: array<f32>;
@group(0) @binding(1) var<storage, read> k1: array<f32>;
@group(0) @binding(2) var<storage, read> v1: array<f32>;
@group(0) @binding(3) var<storage, read> pad1: array<f32>;
@group(0) @binding(4) var<storage, read> o1: array<f32>;
@group(0) @binding(5) var<storage, read> g1: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read_write> stats1: array<f32>;
@group(0) @binding(8) var<uniform> u1: Params;

// bwd_kv
@group(0) @binding(0) var<storage, read> q2: array<f32>;
@group(0) @binding(1) var<storage, read> k2: array<f32>;
@group(0) @binding(2) var<storage, read> v2: array<f32>;
@group(0) @binding(3) var<storage, read> pad2: array<f32>;
@group(0) @binding(4) var<storage, read> g2: array<f32>;
@group(0) @binding(5) var<storage, read> stats2: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> u2: Params;

// Built at run time: a constant expression may not evaluate to an infinity.
fn neg_inf() -> f32 { var b = 0xff800000u; return bitcast<f32>(b); }
fn pos_inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }

// The keys [0, end) a query row may see (causal cut, bottom-right aligned).
fn key_end(i: u32, tq: u32, tk: u32) -> u32 {
  if (CAUSAL == 1u) {
    let last = i32(i) + i32(tk) - i32(tq);
    return u32(clamp(last + 1, 0, i32(tk)));
  }
  return tk;
}

// The queries [start, tq) that may see key j.
fn query_start(j: u32, tq: u32, tk: u32) -> u32 {
  if (CAUSAL == 1u) {
    let first = i32(j) - i32(tk) + i32(tq);
    return u32(clamp(first, 0, i32(tq)));
  }
  return 0u;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_id(gid, nwg, WG);
  if (r >= u.rows) { return; }
  let hs = u.hs;
  let bh = r / u.tq;
  let i = r % u.tq;
  let b = r / u.htq;
  let kb = bh * u.tk * hs;
  var qs: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  for (var d = 0u; d < hs; d++) {
    qs[d] = q[r * hs + d] * u.scale;
    acc[d] = 0.0;
  }
  var m = neg_inf();
  var l = 0.0;
  let end = key_end(i, u.tq, u.tk);
  for (var j = 0u; j < end; j++) {
    if (HAS_PAD == 1u) { if (pad[b * u.tk + j] == 0.0) { continue; } }
    let kj = kb + j * hs;
    var sc = 0.0;
    for (var d = 0u; d < hs; d++) { sc += qs[d] * k[kj + d]; }
    if (sc > m) {
      let c = exp(m - sc);                       // m = -Inf: c = 0 (-Inf scores never enter)
      l = l * c + 1.0;
      for (var d = 0u; d < hs; d++) { acc[d] = acc[d] * c + v[kj + d]; }
      m = sc;
    } else if (sc != neg_inf()) {
      let pj = exp(sc - m);                      // NaN scores make the row NaN
      l += pj;
      for (var d = 0u; d < hs; d++) { acc[d] += pj * v[kj + d]; }
    }
  }
  let inv = select(1.0 / l, 0.0, l == 0.0);       // no visible key: o = 0 (NaN stays NaN)
  for (var d = 0u; d < hs; d++) { o[r * hs + d] = acc[d] * inv; }
  stats[2u * r] = select(m + log(l), pos_inf(), l == 0.0);
  stats[2u * r + 1u] = 0.0;
}

@compute @workgroup_size(WG)
fn bwd_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_id(gid, nwg, WG);
  if (r >= u1.rows) { return; }
  let hs = u1.hs;
  let bh = r / u1.tq;
  let i = r % u1.tq;
  let b = r / u1.htq;
  let kb = bh * u1.tk * hs;
  var qs: array<f32, MAX_HS>;
  var gr: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  var dd = 0.0;
  for (var d = 0u; d < hs; d++) {
    qs[d] = q1[r * hs + d] * u1.scale;
    gr[d] = g1[r * hs + d];
    acc[d] = 0.0;
    dd += gr[d] * o1[r * hs + d];
  }
  stats1[2u * r + 1u] = dd;
  let lse = stats1[2u * r];
  let end = key_end(i, u1.tq, u1.tk);
  for (var j = 0u; j < end; j++) {
    if (HAS_PAD == 1u) { if (pad1[b * u1.tk + j] == 0.0) { continue; } }
    let kj = kb + j * hs;
    var sc = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < hs; d++) {
      sc += qs[d] * k1[kj + d];
      dp += gr[d] * v1[kj + d];
    }
    let ds = exp(sc - lse) * (dp - dd);
    for (var d = 0u; d < hs; d++) { acc[d] += ds * k1[kj + d]; }
  }
  for (var d = 0u; d < hs; d++) { dq[r * hs + d] = acc[d] * u1.scale; }
}

@compute @workgroup_size(WG)
fn bwd_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let kr = linear_id(gid, nwg, WG);                // key row (b, h, j)
  let nk = (u2.rows / u2.tq) * u2.tk;
  if (kr >= nk) { return; }
  let hs = u2.hs;
  let bh = kr / u2.tk;
  let j = kr % u2.tk;
  let b = bh / (u2.htq / u2.tq);
  var ks: array<f32, MAX_HS>;
  var vr: array<f32, MAX_HS>;
  var ak: array<f32, MAX_HS>;
  var av: array<f32, MAX_HS>;
  for (var d = 0u; d < hs; d++) {
    ks[d] = k2[kr * hs + d] * u2.scale;
    vr[d] = v2[kr * hs + d];
    ak[d] = 0.0;
    av[d] = 0.0;
  }
  var seen = true;
  if (HAS_PAD == 1u) { seen = pad2[b * u2.tk + j] != 0.0; }
  var start = u2.tq;
  if (seen) { start = query_start(j, u2.tq, u2.tk); }
  for (var i = start; i < u2.tq; i++) {
    let r = bh * u2.tq + i;
    let qi = r * hs;
    var sc = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < hs; d++) {
      sc += ks[d] * q2[qi + d];
      dp += g2[qi + d] * vr[d];
    }
    let p = exp(sc - stats2[2u * r]);
    let ds = p * (dp - stats2[2u * r + 1u]);
    for (var d = 0u; d < hs; d++) {
      av[d] += p * g2[qi + d];
      ak[d] += ds * q2[qi + d];
    }
  }
  for (var d = 0u; d < hs; d++) {
    dk[kr * hs + d] = ak[d] * u2.scale;
    dv[kr * hs + d] = av[d];
  }
}
