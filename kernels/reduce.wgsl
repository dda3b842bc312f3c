// Reductions (sum, max, min, with or without the arg index) of a contiguous tensor over any set of
// axes, and their backward broadcasts. The op (src/ops/reduce.ts) coalesces the shape first: size-1
// dims are dropped and neighbouring dims that are both kept or both reduced are merged, so a tensor
// of rank <= 8 has at most 4 kept and 4 reduced dims. Output o (row-major over the kept dims) and
// reduced position r (row-major over the reduced dims) locate x[koff(o) + roff(r)].
//
// Entry points (all share this file; each binds only its own variables, in the order inputs,
// outputs, uniforms; variables of different entry points share binding numbers):
//   reduce_group  x -> y              one workgroup per OPW outputs (WG / OPW lanes each) and split,
//   arg_group     x -> y, idx         strided loop then a shared-memory tree over the lanes
//   reduce_naive  x -> y              one thread per output, a plain loop over r (the naive twin, and
//   arg_naive     x -> y, idx         the fast choice for short reductions)
//   reduce_rows   x -> y              one thread per contiguous row of r_len % 4 == 0 elements (or per
//   arg_rows      x -> y, idx         split of it: chunk % 4 == 0), read as vec4s (CPU adapters: a
//                                     per-lane load is a loop over the lanes; no barriers)
//   arg_combine   x, xi -> yc, idxc   second pass of a split arg reduction: merge (value, index) pairs
//   expand        g -> dx             backward of sum/mean: dx[i] = scale * g[o(i)]
//   expand_arg    g, idx -> dx        backward of max/min: dx[i] = g[o(i)] if r(i) == idx[o(i)] else 0
//
// Split reductions (few outputs, long reductions): pass 1 writes partials y[o * splits + s] over
// r in [s * chunk, (s + 1) * chunk); pass 2 reduces the (n_out, splits) partials along the last axis.
//
// Semantics (the float64 loop in reduce.ts matches): max/min propagate NaN (the first NaN wins) and
// pick the first index on ties, like torch; sum uses compensated (Kahan) accumulation per thread.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override OP: u32 = SUM;      // SUM, MAX, MIN: module constants from src/ops/reduce.ts
override WG: u32 = 256u;    // threads per workgroup (group variants)
override OPW: u32 = 1u;     // outputs per workgroup (group variants); WG / OPW lanes per output
const NWG: u32 = 64u;       // threads per workgroup (naive, combine and expand variants)
override LANES: u32 = WG / OPW;

struct Params {
  sizes: array<vec4<u32>, 2>,    // kept dims 0..3, reduced dims 4..7
  strides: array<vec4<u32>, 2>,  // their strides in x
  nk: u32,                       // number of kept dims
  nr: u32,                       // number of reduced dims
  n_out: u32,
  r_len: u32,                    // reduced elements per output
  splits: u32,
  chunk: u32,                    // reduced elements per split
  scale: f32,                    // multiplies a sum (mean: 1 / r_len)
  zero: u32,                     // always 0: hides the Kahan sum from algebraic simplification
}

struct ExpandParams {
  sizes: array<vec4<u32>, 2>,    // coalesced dims of x
  ostr: array<vec4<u32>, 2>,     // stride of each dim in the output index o (0 for reduced dims)
  rstr: array<vec4<u32>, 2>,     // stride of each dim in the reduced index r (0 for kept dims)
  n: u32,                        // elements of x
  rank: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<T>>;  // *_rows
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> u: Params;                  // reduce_*
@group(0) @binding(2) var<storage, read_write> idx: array<i32>; // arg_*
@group(0) @binding(3) var<uniform> ua: Params;                 // arg_*
@group(0) @binding(1) var<storage, read> xi: array<i32>;       // arg_combine, expand_arg
@group(0) @binding(2) var<storage, read_write> yc: array<T>; // arg_combine, expand_arg
@group(0) @binding(3) var<storage, read_write> idxc: array<i32>; // arg_combine
@group(0) @binding(4) var<uniform> uc: Params;                 // arg_combine
@group(0) @binding(2) var<uniform> ue: ExpandParams;           // expand
@group(0) @binding(3) var<uniform> uea: ExpandParams;          // expand_arg

var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<i32, WG>;

// Running state of one reduction: value, Kahan compensation (sum) and index (max/min; -1 = empty).
struct Acc { v: f32, c: f32, i: i32 }

fn acc_init() -> Acc {
  if (OP == MAX) { return Acc(neg_inf(), 0.0, -1); }
  if (OP == MIN) { return Acc(pos_inf(), 0.0, -1); }
  return Acc(0.0, 0.0, -1);
}

// Is (v, i) preferred over the current extreme of `a`? NaN beats numbers; ties go to the lower index.
fn better(v: f32, i: i32, a: Acc) -> bool {
  if (i < 0) { return false; }
  if (a.i < 0) { return true; }
  let nv = is_nan(v);
  if (is_nan(a.v)) { return nv && i < a.i; }
  if (nv) { return true; }
  if (OP == MAX && v > a.v) { return true; }
  if (OP == MIN && v < a.v) { return true; }
  return v == a.v && i < a.i;
}

// Folds element (v, i) (or a partial result) into `a`.
// `z` is 0 at run time; xor-ing it into t stops compilers that treat float math as associative
// (Mesa's NIR does without exactness flags) from folding (t - a.v) - yv to 0.
fn acc_add(a: Acc, v: f32, i: i32, z: u32) -> Acc {
  if (OP == SUM) {
    // Kahan: c holds the low-order part lost so far; dropped once the sum is not finite.
    let yv = v - a.c;
    let t = bitcast<f32>(bitcast<u32>(a.v + yv) ^ z);
    var nc = (t - a.v) - yv;
    if (non_finite(t)) { nc = 0.0; }
    return Acc(t, nc, 0);
  }
  if (better(v, i, a)) { return Acc(v, 0.0, i); }
  return a;
}

fn kept_offset(p: Params, o: u32) -> u32 {
  var rem = o;
  var off = 0u;
  for (var d = i32(p.nk) - 1; d >= 0; d--) {
    let s = dim(p.sizes, u32(d));
    off += (rem % s) * dim(p.strides, u32(d));
    rem /= s;
  }
  return off;
}

fn red_offset(p: Params, r: u32) -> u32 {
  if (p.nr == 1u) { return r * dim(p.strides, 4u); }
  var rem = r;
  var off = 0u;
  for (var d = i32(p.nr) - 1; d >= 0; d--) {
    let s = dim(p.sizes, 4u + u32(d));
    off += (rem % s) * dim(p.strides, 4u + u32(d));
    rem /= s;
  }
  return off;
}

// Reduces r in [start + lane, end) step `step` of output o.
fn reduce_range(p: Params, o: u32, start: u32, end: u32, step: u32) -> Acc {
  var a = acc_init();
  let base = kept_offset(p, o);
  for (var r = start; r < end; r += step) {
    a = acc_add(a, f32(x[base + red_offset(p, r)]), i32(r), p.zero);
  }
  return a;
}

// Group variant, shared by reduce_group and arg_group: returns the workgroup's result for its output
// in lane 0 (other lanes get garbage). `slot` is o * splits + s, or 0xffffffff when idle.
struct GroupOut { a: Acc, slot: u32, lane: u32 }

fn group_reduce(p: Params, t: u32, wg: vec3<u32>, nwg: vec3<u32>) -> GroupOut {
  let wid = wg.x + wg.y * nwg.x;
  let lo = t % OPW;
  let lane = t / OPW;
  let s = wid % p.splits;
  let o = (wid / p.splits) * OPW + lo;
  var a = acc_init();
  if (o < p.n_out) {
    let start = s * p.chunk;
    let end = min(start + p.chunk, p.r_len);
    a = reduce_range(p, o, start + lane, end, LANES);
  }
  if (OP == SUM) { a.v -= a.c; a.c = 0.0; }
  sv[t] = a.v;
  si[t] = a.i;
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      let other = t + stride * OPW;
      var m = Acc(sv[t], 0.0, si[t]);
      if (OP == SUM) { m.v += sv[other]; } else { m = acc_add(m, sv[other], si[other], 0u); }
      sv[t] = m.v;
      si[t] = m.i;
    }
    workgroupBarrier();
  }
  var slot = 0xffffffffu;
  if (o < p.n_out) { slot = o * p.splits + s; }
  return GroupOut(Acc(sv[t], 0.0, si[t]), slot, lane);
}

@compute @workgroup_size(WG)
fn reduce_group(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wid = wg.x + wg.y * nwg.x;
  if (wid >= ((u.n_out + OPW - 1u) / OPW) * u.splits) { return; }
  let g = group_reduce(u, t, wg, nwg);
  if (g.lane == 0u && g.slot != 0xffffffffu) {
    var v = g.a.v;
    if (OP == SUM) { v *= u.scale; }
    y[g.slot] = T(v);
  }
}

@compute @workgroup_size(WG)
fn arg_group(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wid = wg.x + wg.y * nwg.x;
  if (wid >= ((ua.n_out + OPW - 1u) / OPW) * ua.splits) { return; }
  let g = group_reduce(ua, t, wg, nwg);
  if (g.lane == 0u && g.slot != 0xffffffffu) {
    y[g.slot] = T(g.a.v);
    idx[g.slot] = g.a.i;
  }
}

fn naive_reduce(p: Params, o: u32) -> Acc {
  var a = reduce_range(p, o, 0u, p.r_len, 1u);
  if (OP == SUM) { a.v = (a.v - a.c) * p.scale; }
  return a;
}

@compute @workgroup_size(NWG)
fn reduce_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(gid, nwg, NWG);
  if (o < u.n_out) {
    y[o] = T(naive_reduce(u, o).v);
  }
}

@compute @workgroup_size(NWG)
fn arg_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(gid, nwg, NWG);
  if (o < ua.n_out) {
    let a = naive_reduce(ua, o);
    y[o] = T(a.v);
    idx[o] = a.i;
  }
}

// Split s of row o of x seen as (n_out, r_len / 4) vec4s: four running states (one per component,
// with the elements' true indices), folded in index order at the end.
fn rows_reduce(p: Params, o: u32, s: u32) -> Acc {
  let base = o * (p.r_len / 4u);
  var a = array<Acc, 4>(acc_init(), acc_init(), acc_init(), acc_init());
  for (var j = s * p.chunk / 4u; j < min((s + 1u) * p.chunk, p.r_len) / 4u; j++) {
    let v = vec4<f32>(x4[base + j]);
    let i = i32(4u * j);
    a[0] = acc_add(a[0], v.x, i, p.zero);
    a[1] = acc_add(a[1], v.y, i + 1, p.zero);
    a[2] = acc_add(a[2], v.z, i + 2, p.zero);
    a[3] = acc_add(a[3], v.w, i + 3, p.zero);
  }
  var r = a[0];
  if (OP == SUM) {
    r.v = ((a[0].v - a[0].c) + (a[1].v - a[1].c)) + ((a[2].v - a[2].c) + (a[3].v - a[3].c));
    r.v *= p.scale;
    return r;
  }
  for (var c = 1u; c < 4u; c++) { r = acc_add(r, a[c].v, a[c].i, 0u); }
  return r;
}

@compute @workgroup_size(NWG)
fn reduce_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_id(gid, nwg, NWG);  // = o * splits + s
  if (t < u.n_out * u.splits) {
    y[t] = T(rows_reduce(u, t / u.splits, t % u.splits).v);
  }
}

@compute @workgroup_size(NWG)
fn arg_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_id(gid, nwg, NWG);
  if (t < ua.n_out * ua.splits) {
    let a = rows_reduce(ua, t / ua.splits, t % ua.splits);
    y[t] = T(a.v);
    idx[t] = a.i;
  }
}

// x, xi: (n_out, r_len) partial values and their (global) indices.
@compute @workgroup_size(NWG)
fn arg_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(gid, nwg, NWG);
  if (o < uc.n_out) {
    var a = acc_init();
    for (var r = 0u; r < uc.r_len; r++) {
      a = acc_add(a, f32(x[o * uc.r_len + r]), xi[o * uc.r_len + r], 0u);
    }
    yc[o] = T(a.v);
    idxc[o] = a.i;
  }
}

// Output index o(i) and reduced index r(i) of element i of x.
fn locate(p: ExpandParams, i: u32) -> vec2<u32> {
  var rem = i;
  var o = 0u;
  var r = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.sizes, u32(d));
    let c = rem % s;
    rem /= s;
    o += c * dim(p.ostr, u32(d));
    r += c * dim(p.rstr, u32(d));
  }
  return vec2<u32>(o, r);
}

// x: g (the output's shape); y: dx (x's shape).
@compute @workgroup_size(256)
fn expand(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, 256u);
  if (i < ue.n) {
    y[i] = T(f32(x[locate(ue, i).x]) * ue.scale);
  }
}

// x: g; xi: the forward's arg index per output; yc: dx.
@compute @workgroup_size(256)
fn expand_arg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, 256u);
  if (i < uea.n) {
    let l = locate(uea, i);
    yc[i] = T(select(0.0, f32(x[l.x]), i32(l.y) == xi[l.x]));
  }
}
