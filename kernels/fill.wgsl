// Creation kernels. `fill`: every element gets the same 32-bit pattern (an f32 or an i32, so one
// kernel serves both dtypes). `arange`: start + i·step, as f32 or (INT = 1) as i32.
#include "common.wgsl"

override INT: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32, bits: u32, start: f32, step: f32 }
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i < u.n) { y[i] = u.bits; }
}

@compute @workgroup_size(WG)
fn arange(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i < u.n) {
    let v = u.start + f32(i) * u.step;
    if (INT == 1u) { y[i] = bitcast<u32>(i32(round(v))); } else { y[i] = bitcast<u32>(v); }
  }
}
