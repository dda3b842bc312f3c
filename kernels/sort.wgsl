// sort / topk along one axis, by rank: the tensor is viewed as (outer, len, inner) with lines of
// `len` elements along the axis (stride `inner`); one invocation per element counts the elements of
// its line that come before it, which is its position in the sorted line, and (when that position
// is below k) writes its value and its index there. Stable: equal elements keep their order (an
// element at t < j that is neither before nor after x_j counts). NaN is the largest value (torch):
// last ascending, first descending; -0 and 0 are equal. O(len) per element, all in parallel, no
// synchronisation, deterministic. Values move as raw 32-bit words, bit for bit.
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, len: u32, inner: u32, k: u32, descending: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> u: Params;

// a strictly before b in the requested order (comparisons with NaN tested on the bits, not left to <).
fn before(a: f32, b: f32) -> bool {
  if (u.descending == 1u) {
    if (is_nan(b)) { return false; }
    if (is_nan(a)) { return true; }
    return a > b;
  }
  if (is_nan(a)) { return false; }
  if (is_nan(b)) { return true; }
  return a < b;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let o = i / (u.len * u.inner);
  let j = (i / u.inner) % u.len;
  let w = i % u.inner;
  let base = o * u.len * u.inner + w;
  let v = bitcast<f32>(x[i]);
  var rank = 0u;
  for (var t = 0u; t < u.len; t++) {
    let other = bitcast<f32>(x[base + t * u.inner]);
    if (before(other, v) || (t < j && !before(v, other))) { rank++; }
  }
  if (rank < u.k) {
    let at = (o * u.k + rank) * u.inner + w;
    values[at] = x[i];
    indices[at] = i32(j);
  }
}
