// acc += x, in place (src/ops/accumulate.ts binds it): gradient accumulation without a new buffer.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 256u;

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> acc: array<T>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  acc[i] = T(f32(acc[i]) + f32(x[i]));
}
