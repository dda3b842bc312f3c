// Dropout with a keep-mask regenerated from the counter-based RNG (the pcg of kernels/random.wgsl),
// so no mask tensor is ever stored: element i is kept iff uniform(seed, i) >= p, compared exactly in
// integers as (bits(i) >> 8) >= threshold, threshold = ceil(p·2^24) (the cpu loop does the same).
//   forward:  y = x·scale where kept, else 0;  scale = 1/(1 - p)
//   backward: the same kernel on g with the same key: dx = g·mask·scale
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 256u;

struct Params { n: u32, key: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> u: Params;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let keep = (pcg(pcg(i) ^ u.key) >> 8u) >= u.threshold;
  y[i] = T(select(0.0, f32(x[i]) * u.scale, keep));
}
