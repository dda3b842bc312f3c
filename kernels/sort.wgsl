// sort / topk along one axis. The tensor is viewed as lines of `len` elements along the axis, line
// (o, w) holding x[(o·len + t)·inner + w]. The order is a total one, so every kernel gives the same
// result: a before b when a's value comes first (ascending, or descending), NaN being the largest
// value (last ascending, first descending; comparisons with NaN tested on the bits, not left to <),
// -0 equal to 0, and equal values by position (a stable sort). Values move as raw 32-bit words.
//
// Two ways (the 'sort' kernel switch, src/ops/sort.ts):
//   rank     one pass, one invocation per element: it counts the elements of its line that come
//            before it, which is its position in the sorted line, and writes itself there when the
//            position is below k. O(len) per element, no synchronisation: for short lines.
//   bitonic  for long lines: `bitonic_init` copies each line into a power-of-two slot of scratch
//            (value bits, position; positions >= len are padding that sorts last), log2(P)·(log2(P)+1)/2
//            `bitonic_step` dispatches compare-exchange pairs (t, t ^ j) inside blocks of k, and
//            `bitonic_take` writes the first k of each line out. O(P·log²P) per line.
#include "common.wgsl"

const WG: u32 = 256u;

// a strictly before b on the value alone
fn value_before(a: f32, b: f32, descending: bool) -> bool {
  if (descending) {
    if (is_nan(b)) { return false; }
    if (is_nan(a)) { return true; }
    return a > b;
  }
  if (is_nan(a)) { return false; }
  if (is_nan(b)) { return true; }
  return a < b;
}

// ---- rank -----------------------------------------------------------------------------------------

struct RankParams { n: u32, len: u32, inner: u32, k: u32, descending: u32 }
@group(0) @binding(0) var<storage, read> rx: array<u32>;
@group(0) @binding(1) var<storage, read_write> rvalues: array<u32>;
@group(0) @binding(2) var<storage, read_write> rindices: array<i32>;
@group(0) @binding(3) var<uniform> ru: RankParams;

@compute @workgroup_size(WG)
fn rank(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= ru.n) { return; }
  let desc = ru.descending == 1u;
  let o = i / (ru.len * ru.inner);
  let j = (i / ru.inner) % ru.len;
  let w = i % ru.inner;
  let base = o * ru.len * ru.inner + w;
  let v = bitcast<f32>(rx[i]);
  var pos = 0u;
  for (var t = 0u; t < ru.len; t++) {
    let other = bitcast<f32>(rx[base + t * ru.inner]);
    if (value_before(other, v, desc) || (t < j && !value_before(v, other, desc))) { pos++; }
  }
  if (pos < ru.k) {
    let at = (o * ru.k + pos) * ru.inner + w;
    rvalues[at] = rx[i];
    rindices[at] = i32(j);
  }
}

// ---- bitonic: scratch lines of p (a power of two) slots ------------------------------------------

struct InitParams { n: u32, len: u32, inner: u32, p: u32 }
@group(0) @binding(0) var<storage, read> ix: array<u32>;
@group(0) @binding(1) var<storage, read_write> ivals: array<u32>;
@group(0) @binding(2) var<storage, read_write> ipos: array<i32>;
@group(0) @binding(3) var<uniform> iu: InitParams;

@compute @workgroup_size(WG)
fn bitonic_init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= iu.n) { return; }
  let line = i / iu.p;
  let t = i % iu.p;
  ipos[i] = i32(t);
  if (t < iu.len) {
    ivals[i] = ix[((line / iu.inner) * iu.len + t) * iu.inner + line % iu.inner];
  } else {
    ivals[i] = 0u;
  }
}

struct StepParams { n: u32, len: u32, p: u32, k: u32, j: u32, descending: u32 }
@group(0) @binding(0) var<storage, read_write> svals: array<u32>;
@group(0) @binding(1) var<storage, read_write> spos: array<i32>;
@group(0) @binding(2) var<uniform> su: StepParams;

// slot a before slot b in the total order (padding last, ties by position)
fn slot_before(a: u32, b: u32) -> bool {
  let pa = spos[a];
  let pb = spos[b];
  if (u32(pa) >= su.len) { return false; }
  if (u32(pb) >= su.len) { return true; }
  let va = bitcast<f32>(svals[a]);
  let vb = bitcast<f32>(svals[b]);
  let desc = su.descending == 1u;
  if (value_before(va, vb, desc)) { return true; }
  if (value_before(vb, va, desc)) { return false; }
  return pa < pb;
}

@compute @workgroup_size(WG)
fn bitonic_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= su.n) { return; }
  let t = i % su.p;
  let partner = t ^ su.j;
  if (partner <= t) { return; }
  let a = i;
  let b = i - t + partner;
  // blocks of k alternate direction so that the next merge sees bitonic sequences
  let up = (t & su.k) == 0u;
  if (select(slot_before(a, b), slot_before(b, a), up)) {
    let v = svals[a];
    svals[a] = svals[b];
    svals[b] = v;
    let q = spos[a];
    spos[a] = spos[b];
    spos[b] = q;
  }
}

struct TakeParams { n: u32, k: u32, inner: u32, p: u32 }
@group(0) @binding(0) var<storage, read> tvals: array<u32>;
@group(0) @binding(1) var<storage, read> tpos: array<i32>;
@group(0) @binding(2) var<storage, read_write> tvalues: array<u32>;
@group(0) @binding(3) var<storage, read_write> tindices: array<i32>;
@group(0) @binding(4) var<uniform> tu: TakeParams;

@compute @workgroup_size(WG)
fn bitonic_take(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= tu.n) { return; }
  let o = i / (tu.k * tu.inner);
  let r = (i / tu.inner) % tu.k;
  let w = i % tu.inner;
  let slot = (o * tu.inner + w) * tu.p + r;
  tvalues[i] = tvals[slot];
  tindices[i] = tpos[slot];
}
