// acc += x, in place (src/ops/accumulate.ts binds it): gradient accumulation without a new buffer.
#include "common.wgsl"
#include "vec4_grid.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 256u;

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> acc: array<T>;
@group(0) @binding(2) var<uniform> u: Params;
// The same buffers as vec4s, for `main_vec4` (n % 4 == 0; src/ops/elementwise.ts picks the entry).
@group(0) @binding(0) var<storage, read> x4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read_write> acc4: array<vec4<T>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  acc[i] = T(f32(acc[i]) + f32(x[i]));
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var k = 0u; k < VEC4_PER_THREAD; k++) {
    let i = vec4_index(gid, nwg, WG, k);  // elements 4i .. 4i + 3
    if (i < u.n / 4u) {
      acc4[i] = vec4<T>(vec4<f32>(acc4[i]) + vec4<f32>(x4[i]));
    }
  }
}
