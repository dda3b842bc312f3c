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
override HS: u32 = 32u;    // head size: specialised, so the loops over d unroll into registers
const MAX_HS: u32 = 128u;  // the private arrays' size (HS <= MAX_HS)

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

// The keys [0, end) query i may see (causal cut, bottom-right aligned).
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

// Workgroup (x, y) = (block of WG query or key rows, b·H + h): every lane of a workgroup reads the
// same k/v (forward, bwd_q) or q/g (bwd_kv) row at the same time, from a workgroup-uniform address
// (one broadcast load on SIMD/CPU back ends), and loops are bounded by workgroup-uniform counts
// (lanes past their own causal limit mask their terms to 0 instead of leaving the loop).

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let bh = wg.y;
  let i0 = wg.x * WG;
  let i = min(i0 + t, u.tq - 1u);                  // lanes past Tq redo the last row, write nothing
  let live = i0 + t < u.tq;
  let r = bh * u.tq + i;
  let b = r / u.htq;
  let kb = (r / u.tq) * u.tk * HS;                 // = bh·Tk·HS, computed per lane (see above)
  var qs: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  for (var d = 0u; d < HS; d++) {
    qs[d] = q[r * HS + d] * u.scale;
    acc[d] = 0.0;
  }
  var m = neg_inf();
  var l = 0.0;
  let end = key_end(i, u.tq, u.tk);
  let jmax = key_end(min(i0 + WG, u.tq) - 1u, u.tq, u.tk);   // uniform: the block's last row
  for (var j = 0u; j < jmax; j++) {
    var seen = j < end;
    if (HAS_PAD == 1u) { seen = seen && pad[b * u.tk + j] != 0.0; }
    let kj = kb + j * HS;
    var sc = 0.0;
    for (var d = 0u; d < HS; d++) { sc += qs[d] * k[kj + d]; }
    if (!seen) { sc = neg_inf(); }
    // branch-free online softmax: running max m, running Σ l, accumulator rescaled by c
    let mn = max(m, sc);
    let c = select(exp(m - mn), 0.0, m == neg_inf());           // m = -Inf: nothing to rescale
    let pj = select(exp(sc - mn), 0.0, sc == neg_inf());        // masked / -Inf scores never enter
    l = l * c + pj;
    for (var d = 0u; d < HS; d++) { acc[d] = acc[d] * c + pj * v[kj + d]; }
    m = select(mn, m, sc == neg_inf());
  }
  if (!live) { return; }
  let inv = select(1.0 / l, 0.0, l == 0.0);       // no visible key: o = 0 (NaN stays NaN)
  for (var d = 0u; d < HS; d++) { o[r * HS + d] = acc[d] * inv; }
  stats[2u * r] = select(m + log(l), pos_inf(), l == 0.0);
  stats[2u * r + 1u] = 0.0;
}

@compute @workgroup_size(WG)
fn bwd_q(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let bh = wg.y;
  let i0 = wg.x * WG;
  let i = min(i0 + t, u1.tq - 1u);
  let live = i0 + t < u1.tq;
  let r = bh * u1.tq + i;
  let b = r / u1.htq;
  let kb = (r / u1.tq) * u1.tk * HS;
  var qs: array<f32, MAX_HS>;
  var gr: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  var dd = 0.0;
  for (var d = 0u; d < HS; d++) {
    qs[d] = q1[r * HS + d] * u1.scale;
    gr[d] = g1[r * HS + d];
    acc[d] = 0.0;
    dd += gr[d] * o1[r * HS + d];                  // D = g·o = Σ_j P_ij dP_ij
  }
  let lse = stats1[2u * r];
  let end = key_end(i, u1.tq, u1.tk);
  let jmax = key_end(min(i0 + WG, u1.tq) - 1u, u1.tq, u1.tk);
  for (var j = 0u; j < jmax; j++) {
    var seen = j < end;
    if (HAS_PAD == 1u) { seen = seen && pad1[b * u1.tk + j] != 0.0; }
    let kj = kb + j * HS;
    var sc = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < HS; d++) {
      sc += qs[d] * k1[kj + d];
      dp += gr[d] * v1[kj + d];
    }
    let ds = select(0.0, exp(sc - lse) * (dp - dd), seen);   // p·(dP - D)
    for (var d = 0u; d < HS; d++) { acc[d] += ds * k1[kj + d]; }
  }
  if (!live) { return; }
  stats1[2u * r + 1u] = dd;
  for (var d = 0u; d < HS; d++) { dq[r * HS + d] = acc[d] * u1.scale; }
}

@compute @workgroup_size(WG)
fn bwd_kv(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let bh = wg.y;
  let j0 = wg.x * WG;
  let j = min(j0 + t, u2.tk - 1u);
  let live = j0 + t < u2.tk;
  let kr = bh * u2.tk + j;                         // key row (b, h, j)
  let bhl = kr / u2.tk;                            // = bh, computed per lane (see above)
  let b = bhl / (u2.htq / u2.tq);
  var ks: array<f32, MAX_HS>;
  var vr: array<f32, MAX_HS>;
  var ak: array<f32, MAX_HS>;
  var av: array<f32, MAX_HS>;
  for (var d = 0u; d < HS; d++) {
    ks[d] = k2[kr * HS + d] * u2.scale;
    vr[d] = v2[kr * HS + d];
    ak[d] = 0.0;
    av[d] = 0.0;
  }
  var seen = true;
  if (HAS_PAD == 1u) { seen = pad2[b * u2.tk + j] != 0.0; }
  let start = query_start(j, u2.tq, u2.tk);
  let imin = query_start(j0, u2.tq, u2.tk);       // uniform: the block's first key
  for (var i = imin; i < u2.tq; i++) {
    let r = bhl * u2.tq + i;
    let qi = r * HS;
    var sc = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < HS; d++) {
      sc += ks[d] * q2[qi + d];
      dp += g2[qi + d] * vr[d];
    }
    let p = select(0.0, exp(sc - stats2[2u * r]), seen && i >= start);
    let ds = p * (dp - stats2[2u * r + 1u]);
    for (var d = 0u; d < HS; d++) {
      av[d] += p * g2[qi + d];
      ak[d] += ds * q2[qi + d];
    }
  }
  if (!live) { return; }
  for (var d = 0u; d < HS; d++) {
    dk[kr * HS + d] = ak[d] * u2.scale;
    dv[kr * HS + d] = av[d];
  }
}

// forward4: the forward with vec4 loads of q, k, v, o (HS % 4 == 0), one thread per query row
// from the global id (addresses differ per lane).
@group(0) @binding(0) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> pad4: array<f32>;
@group(0) @binding(4) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> stats4: array<f32>;
@group(0) @binding(6) var<uniform> u4: Params;

@compute @workgroup_size(WG)
fn forward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_id(gid, nwg, WG);
  if (r >= u4.rows) { return; }
  let H4 = HS / 4u;
  let i = r % u4.tq;
  let b = r / u4.htq;
  let kb = (r / u4.tq) * u4.tk * H4;
  var qs: array<vec4<f32>, 32>;
  var acc: array<vec4<f32>, 32>;
  for (var d = 0u; d < H4; d++) {
    qs[d] = q4[r * H4 + d] * u4.scale;
    acc[d] = vec4<f32>(0.0);
  }
  var m = neg_inf();
  var l = 0.0;
  let end = key_end(i, u4.tq, u4.tk);
  for (var j = 0u; j < end; j++) {
    var seen = true;
    if (HAS_PAD == 1u) { seen = pad4[b * u4.tk + j] != 0.0; }
    let kj = kb + j * H4;
    var sv = vec4<f32>(0.0);
    for (var d = 0u; d < H4; d++) { sv += qs[d] * k4[kj + d]; }
    var sc = sv.x + sv.y + sv.z + sv.w;
    if (!seen) { sc = neg_inf(); }
    let mn = max(m, sc);
    let c = select(exp(m - mn), 0.0, m == neg_inf());
    let pj = select(exp(sc - mn), 0.0, sc == neg_inf());
    l = l * c + pj;
    for (var d = 0u; d < H4; d++) { acc[d] = acc[d] * c + pj * v4[kj + d]; }
    m = select(mn, m, sc == neg_inf());
  }
  let inv = select(1.0 / l, 0.0, l == 0.0);
  for (var d = 0u; d < H4; d++) { o4[r * H4 + d] = acc[d] * inv; }
  stats4[2u * r] = select(m + log(l), pos_inf(), l == 0.0);
  stats4[2u * r + 1u] = 0.0;
}

// forward4r: vec4 loads and RQ query rows per thread (each k/v load feeds RQ rows).
const RQ: u32 = 8u;
@compute @workgroup_size(WG)
fn forward4r(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = linear_id(gid, nwg, WG);
  let nblk = (u4.tq + RQ - 1u) / RQ;                // row blocks per (b, h)
  let bh = tid / nblk;
  if (bh >= u4.rows / u4.tq) { return; }
  let i0 = (tid % nblk) * RQ;
  let H4 = HS / 4u;
  let b = bh / (u4.htq / u4.tq);
  let kb = bh * u4.tk * H4;
  var qs: array<vec4<f32>, 64>;
  var acc: array<vec4<f32>, 64>;
  var m: array<f32, RQ>;
  var l: array<f32, RQ>;
  var end: array<u32, RQ>;
  for (var a = 0u; a < RQ; a++) {
    let r = bh * u4.tq + min(i0 + a, u4.tq - 1u);
    for (var d = 0u; d < H4; d++) {
      qs[a * H4 + d] = q4[r * H4 + d] * u4.scale;
      acc[a * H4 + d] = vec4<f32>(0.0);
    }
    m[a] = neg_inf();
    l[a] = 0.0;
    end[a] = key_end(min(i0 + a, u4.tq - 1u), u4.tq, u4.tk);
  }
  let jmax = end[RQ - 1u];
  for (var j = 0u; j < jmax; j++) {
    var seen = true;
    if (HAS_PAD == 1u) { seen = pad4[b * u4.tk + j] != 0.0; }
    let kj = kb + j * H4;
    var sv = array<vec4<f32>, RQ>();
    for (var d = 0u; d < H4; d++) {
      let kv = k4[kj + d];
      for (var a = 0u; a < RQ; a++) { sv[a] += qs[a * H4 + d] * kv; }
    }
    var pj: array<f32, RQ>;
    var c: array<f32, RQ>;
    for (var a = 0u; a < RQ; a++) {
      var sc = sv[a].x + sv[a].y + sv[a].z + sv[a].w;
      if (!seen || j >= end[a]) { sc = neg_inf(); }
      let mn = max(m[a], sc);
      c[a] = select(exp(m[a] - mn), 0.0, m[a] == neg_inf());
      pj[a] = select(exp(sc - mn), 0.0, sc == neg_inf());
      l[a] = l[a] * c[a] + pj[a];
      m[a] = select(mn, m[a], sc == neg_inf());
    }
    for (var d = 0u; d < H4; d++) {
      let vv = v4[kj + d];
      for (var a = 0u; a < RQ; a++) { acc[a * H4 + d] = acc[a * H4 + d] * c[a] + pj[a] * vv; }
    }
  }
  for (var a = 0u; a < RQ; a++) {
    if (i0 + a >= u4.tq) { break; }
    let r = bh * u4.tq + i0 + a;
    let inv = select(1.0 / l[a], 0.0, l[a] == 0.0);
    for (var d = 0u; d < H4; d++) { o4[r * H4 + d] = acc[a * H4 + d] * inv; }
    stats4[2u * r] = select(m[a] + log(l[a]), pos_inf(), l[a] == 0.0);
    stats4[2u * r + 1u] = 0.0;
  }
}
