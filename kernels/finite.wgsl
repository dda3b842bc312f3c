// flag[0] = number of NaN/±Inf entries of x, capped at 1 per thread (the opt-in check after every
// op, src/ops/finite.ts). One workgroup strides over the whole tensor, so no clearing pass is needed.
#include "common.wgsl"

alias T = f32;   // element type of x (f16 in the float16 specialisation)

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> flag: array<u32>;
@group(0) @binding(2) var<uniform> u: Params;

var<workgroup> hits: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var bad = 0u;
  for (var i = t; i < u.n; i += 256u) {
    if (non_finite(f32(x[i]))) { bad = 1u; }
  }
  hits[t] = bad;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { hits[t] += hits[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) { flag[0] = hits[0]; }
}
