// Counter-based random numbers: element i of a stream depends only on (seed, i), so the webgpu and
// cpu backends produce the same bits (src/ops/random.ts mirrors this with Math.imul).
//   bits(i) = pcg(pcg(i) ^ key),  key = pcg(seed)
//   uniform: (bits >> 8) / 2^24 in [0, 1) -> low + (high - low)·u
//   normal:  Box-Muller on bits(2i), bits(2i+1) -> mean + std·z
#include "common.wgsl"

override NORMAL: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32, key: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> u: Params;

fn pcg(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn bits(i: u32) -> u32 {
  return pcg(pcg(i) ^ u.key);
}

const TWO_PI: f32 = 6.283185307179586;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  if (NORMAL == 1u) {
    let u1 = (f32(bits(2u * i) >> 8u) + 1.0) / 16777216.0;   // (0, 1]
    let u2 = f32(bits(2u * i + 1u) >> 8u) / 16777216.0;       // [0, 1)
    y[i] = u.a + u.b * sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
  } else {
    y[i] = u.a + (u.b - u.a) * (f32(bits(i) >> 8u) / 16777216.0);
  }
}
