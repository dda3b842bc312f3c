// Inclusive prefix sums along one axis of a contiguous tensor seen as [outer, len, inner], forwards
// or, with reverse = 1, backwards (cumsum's gradient is the reversed cumsum of g). A line is the
// len elements of one (outer, inner) pair, stride inner. TPR threads per line (WG / TPR lines per
// workgroup): 1 walks the line; more split it into TPR contiguous chunks (in scan order), sum each,
// scan the chunk sums over the lanes (lane_scan.wgsl), then walk each chunk from its offset.
#include "common.wgsl"

override WG: u32 = 64u;    // threads per workgroup
override TPR: u32 = 1u;    // threads per line (a power of two dividing WG)
#include "lane_scan.wgsl"

struct Params { lines: u32, len: u32, inner: u32, reverse: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let line = (wg.x + wg.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  var len = 0u;
  if (line < u.lines) { len = u.len; }
  let base = (line / u.inner) * u.len * u.inner + line % u.inner;
  let chunk = (len + TPR - 1u) / TPR;
  let lo = min(lane * chunk, len);
  let hi = min(lo + chunk, len);
  var s = 0.0;
  if (TPR > 1u) {
    for (var k = lo; k < hi; k++) { s += x[base + select(k, len - 1u - k, u.reverse == 1u) * u.inner]; }
  }
  var run = lanes_exclusive(t, lane, s, false, false);
  for (var k = lo; k < hi; k++) {
    let i = base + select(k, len - 1u - k, u.reverse == 1u) * u.inner;
    run += x[i];
    y[i] = run;
  }
}
