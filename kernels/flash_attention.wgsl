// Fused ("flash") attention: out = softmax(scale·q@kᵀ + mask) @ v without materialising the
// (Tq, Tk) scores, forward and backward.
// q, o, g, dq: (B, H, Tq, hs); k, v, dk, dv: (B, H, Tk, hs), read as vec4 rows (hs % 4 == 0, H4 = hs/4);
// pad: (B, Tk) 1 keep / 0 pad; stats: (B·H·Tq, 2) = [lse, D] per query row.
// Masks as kernels/attention.wgsl: key j is visible to query i when (not causal or j <= i + Tk - Tq)
// and (not has_pad or pad[b, j] != 0). A query row with no visible key gives o = 0 and lse = +Inf,
// so every p = exp(s - lse) of the backward is 0.
//
// forward  (q, k, v, pad -> o, stats): one thread per block of RQ query rows of one (b, h). Their q
//          (pre-scaled) and output accumulators live in private arrays; the thread walks the keys
//          once, each k and v row it loads feeding all RQ rows, with a branch-free online softmax
//          (running max m, running Σ l, accumulators rescaled by exp(m_old - m_new)):
//            s_j = scale·q·k_j;  acc = Σ_j exp(s_j - m)·v_j;  o = acc / l;  lse = m + log(l).
// bwd_q    (q, k, v, pad, o, g -> dq, stats): one thread per block of RQ query rows. D = g·o
//          (= Σ_j P_ij dP_ij), saved to stats[., 1] for bwd_kv; per key p = exp(s - lse),
//          dp = g·v_j, ds = p·(dp - D), dq = scale·Σ_j ds·k_j.
// bwd_kv   (q, k, v, pad, g, stats -> dk, dv): one thread per block of RQ key rows, looping over the
//          queries: dv = Σ_i p·g_i, dk = scale·Σ_i p·(g_i·v_j - D_i)·q_i.
//
// Why this mapping (lavapipe, docs/kernels.md "What lavapipe rewards"): addresses differ per lane (a
// lane-uniform address inside a loop is loaded lane by lane there), register blocking over RQ rows
// divides the gathered loads by RQ, and HS is an override constant so the loops over d unroll and
// the private arrays become registers. The price is compile time: each head size is its own
// pipeline, slow to build on lavapipe (most of it bwd_kv), which is why 'flash' is opt-in
// (src/ops/attention.ts; docs/performance.md has the numbers).
// At most 8 storage bindings per entry point (WebGPU's default limit), so D travels in stats.
// Every variable declared in a loop body is initialised explicitly: lavapipe did not re-zero a bare
// `var x: array<...>;` on each iteration.
#include "common.wgsl"

override WG: u32 = 64u;
override HS: u32 = 32u;     // head size (multiple of 4, <= 4·MAX_H4): specialised, loops over d unroll
const RQ: u32 = 2u;         // rows per thread (4 compiles slower and runs no faster)
const MAX_H4: u32 = 16u;    // hs <= 64
const NA: u32 = 32u;        // RQ * MAX_H4: private array length

// causal, has_pad: 0/1 flags (uniforms, not override constants: one pipeline per head size only,
// since each specialisation of these unrolled kernels costs about a second to compile on lavapipe)
struct Params { rows: u32, tq: u32, tk: u32, htq: u32, hs: u32, scale: f32, causal: u32, has_pad: u32 }

// forward
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> pad: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;

// bwd_q
@group(0) @binding(0) var<storage, read> q1: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> pad1: array<f32>;
@group(0) @binding(4) var<storage, read> o1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> g1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> stats1: array<f32>;
@group(0) @binding(8) var<uniform> u1: Params;

// bwd_kv
@group(0) @binding(0) var<storage, read> q2: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k2: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> pad2: array<f32>;
@group(0) @binding(4) var<storage, read> g2: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> stats2: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dv: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> u2: Params;

fn hsum(x: vec4<f32>) -> f32 { return x.x + x.y + x.z + x.w; }

// The keys [0, end) query i may see (causal cut, bottom-right aligned).
fn key_end(causal: u32, i: u32, tq: u32, tk: u32) -> u32 {
  if (causal == 1u) {
    let last = i32(i) + i32(tk) - i32(tq);
    return u32(clamp(last + 1, 0, i32(tk)));
  }
  return tk;
}

// The queries [start, tq) that may see key j.
fn query_start(causal: u32, j: u32, tq: u32, tk: u32) -> u32 {
  if (causal == 1u) {
    let first = i32(j) - i32(tk) + i32(tq);
    return u32(clamp(first, 0, i32(tq)));
  }
  return 0u;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = linear_id(gid, nwg, WG);
  let nblk = (u.tq + RQ - 1u) / RQ;                 // row blocks per (b, h)
  let bh = tid / nblk;
  if (bh >= u.rows / u.tq) { return; }
  let i0 = (tid % nblk) * RQ;
  let H4 = HS / 4u;
  let b = bh / (u.htq / u.tq);
  let kb = bh * u.tk * H4;
  var qs = array<vec4<f32>, NA>();
  var acc = array<vec4<f32>, NA>();
  var m = array<f32, RQ>();
  var l = array<f32, RQ>();
  var end = array<u32, RQ>();
  for (var a = 0u; a < RQ; a++) {
    let i = min(i0 + a, u.tq - 1u);                 // rows past Tq redo the last row, write nothing
    let r = bh * u.tq + i;
    for (var d = 0u; d < H4; d++) { qs[a * H4 + d] = q[r * H4 + d] * u.scale; }
    m[a] = neg_inf();
    end[a] = key_end(u.causal, i, u.tq, u.tk);
  }
  let jmax = end[RQ - 1u];                          // the block's last row sees the most keys
  for (var j = 0u; j < jmax; j++) {
    var seen = true;
    if (u.has_pad == 1u) { seen = nonzero(pad[b * u.tk + j]); }
    let kj = kb + j * H4;
    var sv = array<vec4<f32>, RQ>();
    for (var d = 0u; d < H4; d++) {
      let kv = k[kj + d];
      for (var a = 0u; a < RQ; a++) { sv[a] += qs[a * H4 + d] * kv; }
    }
    var p = array<f32, RQ>();
    var c = array<f32, RQ>();
    var skip = array<bool, RQ>();
    for (var a = 0u; a < RQ; a++) {
      var sc = hsum(sv[a]);
      if (!seen || j >= end[a]) { sc = neg_inf(); }
      let mn = max_nan(m[a], sc);                                // NaN propagates
      c[a] = select(exp(m[a] - mn), 0.0, m[a] == neg_inf());   // m = -Inf: nothing to rescale
      skip[a] = sc == neg_inf();                                 // masked / -Inf scores never enter
      p[a] = select(exp(sc - mn), 0.0, skip[a]);
      l[a] = l[a] * c[a] + p[a];                                // NaN scores make the row NaN
      m[a] = select(mn, m[a], sc == neg_inf());
    }
    for (var d = 0u; d < H4; d++) {
      let vv = v[kj + d];
      // a key that never enters adds nothing, not 0·v (a NaN in a masked value row stays out, as on cpu)
      for (var a = 0u; a < RQ; a++) { acc[a * H4 + d] = acc[a * H4 + d] * c[a] + select(p[a] * vv, vec4<f32>(0.0), skip[a]); }
    }
  }
  for (var a = 0u; a < RQ; a++) {
    if (i0 + a >= u.tq) { break; }
    let r = bh * u.tq + i0 + a;
    let inv = select(1.0 / l[a], 0.0, l[a] == 0.0);           // no visible key: o = 0
    for (var d = 0u; d < H4; d++) { o[r * H4 + d] = acc[a * H4 + d] * inv; }
    stats[2u * r] = select(m[a] + log(l[a]), pos_inf(), l[a] == 0.0);
    stats[2u * r + 1u] = 0.0;
  }
}

@compute @workgroup_size(WG)
fn bwd_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = linear_id(gid, nwg, WG);
  let nblk = (u1.tq + RQ - 1u) / RQ;
  let bh = tid / nblk;
  if (bh >= u1.rows / u1.tq) { return; }
  let i0 = (tid % nblk) * RQ;
  let H4 = HS / 4u;
  let b = bh / (u1.htq / u1.tq);
  let kb = bh * u1.tk * H4;
  var qs = array<vec4<f32>, NA>();
  var gr = array<vec4<f32>, NA>();
  var acc = array<vec4<f32>, NA>();
  var lse = array<f32, RQ>();
  var dd = array<f32, RQ>();
  var end = array<u32, RQ>();
  for (var a = 0u; a < RQ; a++) {
    let i = min(i0 + a, u1.tq - 1u);
    let r = bh * u1.tq + i;
    var dv4 = vec4<f32>(0.0);
    for (var d = 0u; d < H4; d++) {
      qs[a * H4 + d] = q1[r * H4 + d] * u1.scale;
      gr[a * H4 + d] = g1[r * H4 + d];
      dv4 += gr[a * H4 + d] * o1[r * H4 + d];
    }
    dd[a] = hsum(dv4);                              // D = g·o = Σ_j P_ij dP_ij
    lse[a] = stats1[2u * r];
    end[a] = key_end(u1.causal, i, u1.tq, u1.tk);
  }
  let jmax = end[RQ - 1u];
  for (var j = 0u; j < jmax; j++) {
    var seen = true;
    if (u1.has_pad == 1u) { seen = nonzero(pad1[b * u1.tk + j]); }
    let kj = kb + j * H4;
    var sv = array<vec4<f32>, RQ>();
    var pv = array<vec4<f32>, RQ>();
    for (var d = 0u; d < H4; d++) {
      let kv = k1[kj + d];
      let vv = v1[kj + d];
      for (var a = 0u; a < RQ; a++) {
        sv[a] += qs[a * H4 + d] * kv;
        pv[a] += gr[a * H4 + d] * vv;
      }
    }
    var ds = array<f32, RQ>();
    var off = array<bool, RQ>();
    for (var a = 0u; a < RQ; a++) {
      off[a] = !(seen && j < end[a]);
      // p·(dP - D); a masked key adds nothing, not 0·(NaN) from its k or v row (as on cpu)
      ds[a] = select(exp(hsum(sv[a]) - lse[a]) * (hsum(pv[a]) - dd[a]), 0.0, off[a]);
    }
    for (var d = 0u; d < H4; d++) {
      let kv = k1[kj + d];
      for (var a = 0u; a < RQ; a++) { acc[a * H4 + d] += select(ds[a] * kv, vec4<f32>(0.0), off[a]); }
    }
  }
  for (var a = 0u; a < RQ; a++) {
    if (i0 + a >= u1.tq) { break; }
    let r = bh * u1.tq + i0 + a;
    stats1[2u * r + 1u] = dd[a];
    for (var d = 0u; d < H4; d++) { dq[r * H4 + d] = acc[a * H4 + d] * u1.scale; }
  }
}

@compute @workgroup_size(WG)
fn bwd_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = linear_id(gid, nwg, WG);
  let nblk = (u2.tk + RQ - 1u) / RQ;                // key blocks per (b, h)
  let bh = tid / nblk;
  if (bh >= u2.rows / u2.tq) { return; }
  let j0 = (tid % nblk) * RQ;
  let H4 = HS / 4u;
  let b = bh / (u2.htq / u2.tq);
  var ks = array<vec4<f32>, NA>();
  var vr = array<vec4<f32>, NA>();
  var ak = array<vec4<f32>, NA>();
  var av = array<vec4<f32>, NA>();
  var start = array<u32, RQ>();
  for (var a = 0u; a < RQ; a++) {
    let j = min(j0 + a, u2.tk - 1u);
    let kr = bh * u2.tk + j;
    for (var d = 0u; d < H4; d++) {
      ks[a * H4 + d] = k2[kr * H4 + d] * u2.scale;
      vr[a * H4 + d] = v2[kr * H4 + d];
    }
    var s = query_start(u2.causal, j, u2.tq, u2.tk);
    if (u2.has_pad == 1u) { if (!nonzero(pad2[b * u2.tk + j])) { s = u2.tq; } }   // a padded key: no query
    start[a] = s;
  }
  let imin = query_start(u2.causal, j0, u2.tq, u2.tk);         // the block's first key is seen the earliest
  for (var i = imin; i < u2.tq; i++) {
    let r = bh * u2.tq + i;
    let qi = r * H4;
    let lse = stats2[2u * r];
    let dd = stats2[2u * r + 1u];
    var sv = array<vec4<f32>, RQ>();
    var pv = array<vec4<f32>, RQ>();
    for (var d = 0u; d < H4; d++) {
      let qv = q2[qi + d];
      let gv = g2[qi + d];
      for (var a = 0u; a < RQ; a++) {
        sv[a] += ks[a * H4 + d] * qv;
        pv[a] += gv * vr[a * H4 + d];
      }
    }
    var p = array<f32, RQ>();
    var ds = array<f32, RQ>();
    var off = array<bool, RQ>();
    for (var a = 0u; a < RQ; a++) {
      off[a] = i < start[a];                                     // query i does not see key j
      p[a] = select(exp(hsum(sv[a]) - lse), 0.0, off[a]);
      ds[a] = select(p[a] * (hsum(pv[a]) - dd), 0.0, off[a]);
    }
    for (var d = 0u; d < H4; d++) {
      let qv = q2[qi + d];
      let gv = g2[qi + d];
      for (var a = 0u; a < RQ; a++) {
        // a pair that never met adds nothing, not 0·(NaN) from its q or g row (as on cpu)
        av[a * H4 + d] += select(p[a] * gv, vec4<f32>(0.0), off[a]);
        ak[a * H4 + d] += select(ds[a] * qv, vec4<f32>(0.0), off[a]);
      }
    }
  }
  for (var a = 0u; a < RQ; a++) {
    if (j0 + a >= u2.tk) { break; }
    let kr = bh * u2.tk + j0 + a;
    for (var d = 0u; d < H4; d++) {
      dk[kr * H4 + d] = ak[a * H4 + d] * u2.scale;
      dv[kr * H4 + d] = av[a * H4 + d];
    }
  }
}
