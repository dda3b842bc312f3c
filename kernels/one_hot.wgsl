// oneHot: y[r, c] = 1.0 where indices[r] == c, else 0.0; one invocation per element of y.
// An index outside 0..classes-1 gives a zero row, and the first invocation to meet one records it in
// the device's error buffer (bound after the output: [set, tag, value, position], as kernels/gather.wgsl);
// the backend throws the op's error at the next readback, the one the cpu backend throws at once.
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, classes: u32, tag: u32 }
@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>, 4>;
@group(0) @binding(3) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let r = i / u.classes;
  let c = i % u.classes;
  let k = indices[r];
  if (k < 0 || u32(k) >= u.classes) {
    y[i] = 0.0;
    if (c == 0u && atomicLoad(&err[0]) == 0u && atomicExchange(&err[0], 1u) == 0u) {
      atomicStore(&err[1], u.tag);
      atomicStore(&err[2], bitcast<u32>(k));
      atomicStore(&err[3], r);
    }
    return;
  }
  y[i] = select(0.0, 1.0, u32(k) == c);
}
