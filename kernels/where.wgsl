// out = cond != 0 ? a : b, with NumPy broadcasting of all three (strides 0 on broadcast dims).
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 256u;

struct Params { n: u32, rank: u32, out_dims: array<vec4<u32>, 2>, sc: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> cond: array<T>;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  var rem = i;
  var ic = 0u;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let size = dim(u.out_dims, u32(d));
    let c = rem % size;
    rem = rem / size;
    ic += c * dim(u.sc, u32(d));
    ia += c * dim(u.sa, u32(d));
    ib += c * dim(u.sb, u32(d));
  }
  y[i] = T(select(f32(b[ib]), f32(a[ia]), nonzero(f32(cond[ic]))));   // NaN counts as true (the cpu loop's c !== 0)
}
