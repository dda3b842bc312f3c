// Cross-entropy of logits (rows, C) against int32 class targets (rows): fused log-softmax + NLL,
// never materialising the softmax or a one-hot; with LOGP the input already holds log-probabilities
// and the same kernels compute nllLoss (no log-softmax).
//
// Per row (w_c: the class weights, 1 without HAS_W; W = Σ_c w_c, wsum[0] or C; ε: label smoothing,
// only with SMOOTH; lse = m + log Σ_c exp(x_c - m)):
//   loss = (1 - ε)·w_t·(lse - x_t) + (ε/C)·(W·lse - Σ_c w_c x_c)     (cross-entropy)
//   loss = -w_t·x_t                                                    (LOGP: nllLoss)
//
// forward   (logits, targets, weight, wsum -> loss, lse): TPR threads per row (a power of two <= WG),
//           WG / TPR rows per workgroup. Each thread keeps an online (max m, Σ exp(x - m)) over its
//           strided elements (and Σ w_c x_c with SMOOTH); with TPR > 1 a shared-memory tree merges
//           them: lse = (m, log Σ) per row (m never meets log Σ in a sum: exact for any logit
//           magnitude). TPR = 1 (a thread per row, no barriers) unless the rows are few and long
//           (docs/kernels.md). Ignored rows (target == ignore) get loss 0;
//           a target outside [0, C) gets NaN and is recorded in the device's error buffer (first
//           one: err = [1, tag, target, row]), which the backend reads at the next readback and throws.
// reduce    (loss, targets, weight -> out, count): one workgroup sums the row losses and the weights
//           w_t of the rows that are not ignored (their count without HAS_W): MODE_MEAN out =
//           Σ loss / count (0 / 0 = NaN when every row is ignored, as torch), 'sum' out = Σ loss.
// backward  (logits, targets, lse, g, count, weight, wsum -> dlogits): elementwise, no reduction
//           (lse is saved); p_c = exp((x_c - m) - log Σ):
//             dlogits_c = s·((1 - ε)·w_t·(p_c - [c == t]) + (ε/C)·(W·p_c - w_c))
//             dlogits_c = -s·w_t·[c == t]                                        (LOGP)
//           s = g / count ('mean'), g ('sum') or g[row] ('none'); ignored rows get 0. One thread per
//           element; it runs at about the speed of a plain elementwise kernel (a workgroup per row
//           block measured no faster).
// Without HAS_W (or SMOOTH) the weight (wsum) binding holds a dummy that is never read.
#include "common.wgsl"

alias T = f32;   // logits, row losses, the loss and the gradients (f16 in the float16 specialisation); lse, count and weights stay f32

override MODE: u32 = 0u;   // MODE_MEAN, MODE_NONE, or 'sum' (codes injected by src/ops/loss.ts)
override WG: u32 = 256u;   // threads per workgroup (forward, reduce)
override TPR: u32 = 1u;    // threads per row (forward)
override HAS_W: u32 = 0u;  // class weights given
override SMOOTH: u32 = 0u; // label smoothing ε > 0
override LOGP: u32 = 0u;   // the input is log-probabilities (nllLoss)

struct Params { rows: u32, len: u32, ignore: i32, inv_len: f32, eps: f32, tag: u32 } // tag: forward only

// forward
@group(0) @binding(0) var<storage, read> x: array<T>;             // (rows, C)
@group(0) @binding(1) var<storage, read> tgt: array<i32>;           // (rows)
@group(0) @binding(2) var<storage, read> wf: array<f32>;            // (C) class weights
@group(0) @binding(3) var<storage, read> wsum_f: array<f32>;        // (1) Σ weights
@group(0) @binding(4) var<storage, read_write> loss: array<T>;    // (rows)
@group(0) @binding(5) var<storage, read_write> lse_out: array<f32>; // (rows, 2): m, log Σ
@group(0) @binding(6) var<storage, read_write> err: array<atomic<u32>, 4>;
@group(0) @binding(7) var<uniform> u: Params;

// reduce
@group(0) @binding(0) var<storage, read> loss_r: array<T>;        // (rows)
@group(0) @binding(1) var<storage, read> tgt_r: array<i32>;         // (rows)
@group(0) @binding(2) var<storage, read> wr: array<f32>;            // (C)
@group(0) @binding(3) var<storage, read_write> out: array<T>;     // (1)
@group(0) @binding(4) var<storage, read_write> count: array<f32>;   // (1)
@group(0) @binding(5) var<uniform> ur: Params;

// backward
@group(0) @binding(0) var<storage, read> xb: array<T>;            // (rows, C)
@group(0) @binding(1) var<storage, read> tgt_b: array<i32>;         // (rows)
@group(0) @binding(2) var<storage, read> lse_b: array<f32>;         // (rows, 2): m, log Σ
@group(0) @binding(3) var<storage, read> gb: array<T>;            // (1) or (rows) for 'none'
@group(0) @binding(4) var<storage, read> count_b: array<f32>;       // (1) ('mean'; a dummy otherwise)
@group(0) @binding(5) var<storage, read> wb: array<f32>;            // (C)
@group(0) @binding(6) var<storage, read> wsum_b: array<f32>;        // (1)
@group(0) @binding(7) var<storage, read_write> dlogits: array<T>; // (rows, C)
@group(0) @binding(8) var<uniform> ub: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;
var<workgroup> sx: array<f32, WG>;

// Index k (a valid class, or anything for an ignored row) clamped into [0, C).
fn cls(k: i32, len: u32) -> u32 { return u32(clamp(k, 0, i32(len) - 1)); }

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let live = q < u.rows;
  var len = 0u;
  if (live && LOGP == 0u) { len = u.len; }    // threads past the last row see nothing
  let base = q * u.len;
  var ms = vec2<f32>(neg_inf(), 0.0);
  var wx = 0.0;                               // Σ w_c x_c (SMOOTH)
  for (var c = lane; c < len; c += TPR) {
    let v = f32(x[base + c]);
    ms = lse_push(ms, v);
    if (SMOOTH != 0u) {
      if (HAS_W != 0u) { wx += wf[c] * v; } else { wx += v; }
    }
  }
  if (TPR > 1u) {
    sm[t] = ms.x;
    ss[t] = ms.y;
    sx[t] = wx;
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
      if (lane < stride) {
        let r = lse_merge(vec2<f32>(sm[t], ss[t]), vec2<f32>(sm[t + stride], ss[t + stride]));
        sm[t] = r.x;
        ss[t] = r.y;
        sx[t] += sx[t + stride];
      }
      workgroupBarrier();
    }
    ms = vec2<f32>(sm[t - lane], ss[t - lane]);
    wx = sx[t - lane];
  }
  if (live && lane == 0u) {
    // NaN or +Inf among the logits: NaN (as torch); only -Inf: m = -Inf, and x - m is NaN
    let log_sum = select(log(ms.y), nan_f32(), is_nan(ms.y));
    let k = tgt[q];
    if (LOGP != 0u) {
      lse_out[2u * q] = 0.0;
      lse_out[2u * q + 1u] = 0.0;
    } else {
      lse_out[2u * q] = ms.x;
      lse_out[2u * q + 1u] = log_sum;
    }
    if (k == u.ignore) {
      loss[q] = T(0.0);
    } else if (k < 0 || k >= i32(u.len)) {
      loss[q] = T(nan_f32());
      if (atomicLoad(&err[0]) == 0u && atomicExchange(&err[0], 1u) == 0u) {
        atomicStore(&err[1], u.tag);
        atomicStore(&err[2], bitcast<u32>(k));
        atomicStore(&err[3], q);
      }
    } else {
      var wt = 1.0;
      if (HAS_W != 0u) { wt = wf[u32(k)]; }
      if (LOGP != 0u) {
        loss[q] = T(-wt * f32(x[base + u32(k)]));
      } else {
        var l = wt * (log_sum - (f32(x[base + u32(k)]) - ms.x));
        if (SMOOTH != 0u) {
          var W = f32(u.len);
          if (HAS_W != 0u) { W = wsum_f[0]; }
          l = (1.0 - u.eps) * l + u.eps * u.inv_len * (W * (ms.x + log_sum) - wx);
        }
        loss[q] = T(l);
      }
    }
  }
}

@compute @workgroup_size(WG)
fn reduce(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  var n = 0.0;
  for (var r = t; r < ur.rows; r += WG) {
    s += f32(loss_r[r]);
    let k = tgt_r[r];
    if (k != ur.ignore) {
      if (HAS_W != 0u) { n += wr[cls(k, ur.len)]; } else { n += 1.0; }
    }
  }
  sm[t] = s;
  ss[t] = n;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      sm[t] += sm[t + stride];
      ss[t] += ss[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let total = sm[0];
    let cnt = ss[0];
    count[0] = cnt;
    if (MODE == MODE_MEAN) {
      out[0] = T(select(total / cnt, nan_f32(), cnt == 0.0));
    } else {
      out[0] = T(total);
    }
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Scalars first, before any branch: on lavapipe a load from a lane-uniform address is one cheap
  // load only where every lane is certainly active; after a divergent branch it goes lane by lane.
  let g0 = f32(gb[0]);
  let cnt = count_b[0];
  var W = f32(ub.len);
  if (HAS_W != 0u && SMOOTH != 0u) { W = wsum_b[0]; }
  let i = linear_id(gid, nwg, 256u);
  let n = ub.rows * ub.len;
  let ii = min(i, n - 1u);                         // lanes past the end compute, write nothing
  // row = i / len without an integer division (scalarised on SIMD CPUs): a float estimate, then
  // one correction each way (the estimate is within one row while rows < 2^24)
  var q = u32(f32(ii) * ub.inv_len);
  q = select(q, q - 1u, q * ub.len > ii);
  q = select(q, q + 1u, (q + 1u) * ub.len <= ii);
  let c = ii - q * ub.len;
  let k = tgt_b[q];
  var s = g0;                                      // 'sum'
  if (MODE == MODE_MEAN) { s = g0 / cnt; }                // 'mean' (count_b is only used here)
  if (MODE == MODE_NONE) { s = f32(gb[q]); }                   // 'none'
  let hot = select(0.0, 1.0, i32(c) == k);
  var wt = 1.0;
  var wc = 1.0;
  if (HAS_W != 0u) {
    wt = wb[cls(k, ub.len)];
    wc = wb[c];
  }
  var d: f32;
  if (LOGP != 0u) {
    d = -wt * hot * s;
  } else {
    let p = exp_f((f32(xb[ii]) - lse_b[2u * q]) - lse_b[2u * q + 1u]);
    d = wt * (p - hot);
    if (SMOOTH != 0u) { d = (1.0 - ub.eps) * d + ub.eps * ub.inv_len * (W * p - wc); }
    d = d * s;
  }
  if (i < n) { dlogits[i] = T(select(d, 0.0, k == ub.ignore)); }
}
