// Inclusive prefix sums along one axis of a contiguous tensor seen as [outer, len, inner]: one
// thread per (outer, inner) line walks its len elements (stride inner), forwards or, with
// reverse = 1, backwards (cumsum's gradient is the reversed cumsum of g).
#include "common.wgsl"

const WG: u32 = 64u;

struct Params { lines: u32, len: u32, inner: u32, reverse: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = linear_id(gid, nwg, WG);
  if (line >= u.lines) { return; }
  let base = (line / u.inner) * u.len * u.inner + line % u.inner;
  var s = 0.0;
  for (var k = 0u; k < u.len; k++) {
    let i = base + select(k, u.len - 1u - k, u.reverse == 1u) * u.inner;
    s += x[i];
    y[i] = s;
  }
}
