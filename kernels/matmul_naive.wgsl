// C[b] = op(A[b]) @ op(B[b]), the naive twin of kernels/matmul.wgsl: one invocation per element of
// C, a plain loop over k. Same Params and addressing as `main` there (strides carry the
// transposes, batch strides are 0 on broadcast dims), so the two can be checked against each other
// and against the float64 loop in src/ops/matmul.ts.
#include "common.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 64u;

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_rs: u32, a_cs: u32, b_rs: u32, b_cs: u32,
  row_groups: u32, nbd: u32, pad0: u32, pad1: u32,
  bshape: array<vec4<u32>, 2>,
  a_bs: array<vec4<u32>, 2>,
  b_bs: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> A: array<T>;
@group(0) @binding(1) var<storage, read> B: array<T>;
@group(0) @binding(2) var<storage, read_write> C: array<T>;
@group(0) @binding(3) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = linear_id(gid, nwg, WG);
  let mn = u.m * u.n;
  if (idx >= mn * u.batch) { return; }
  let bi = idx / mn;
  let i = (idx % mn) / u.n;
  let j = idx % u.n;
  // batch offsets: unravel bi over the batch shape
  var rem = bi;
  var oa = 0u;
  var ob = 0u;
  for (var d = u.nbd; d > 0u; d--) {
    let s = dim(u.bshape, d - 1u);
    let c = rem % s;
    rem = rem / s;
    oa += c * dim(u.a_bs, d - 1u);
    ob += c * dim(u.b_bs, d - 1u);
  }
  var acc = 0.0;
  for (var p = 0u; p < u.k; p++) {
    acc += f32(A[oa + i * u.a_rs + p * u.a_cs]) * f32(B[ob + p * u.b_rs + j * u.b_cs]);
  }
  C[idx] = T(acc);
}
