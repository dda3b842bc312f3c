// Strided copy: the one data-movement kernel behind permute, expand, slice (and its backward),
// concat and stack. One invocation per element of the iteration shape `shape` (up to 8 dims):
//
//   y[dst_offset + Σ_d idx_d · dst_d] = x[src_offset + Σ_d idx_d · src_d]
//
// src strides may be 0 (expand: a broadcast dim reads the same element again); dst strides and
// dst_offset let the copy write into a region of a larger tensor (concat, slice backward). Elements
// move as raw 32-bit words (array<W>, W = u32), so one pipeline serves float32 and int32 bit-exactly;
// the float16 specialisation moves halves (W = f16).
// The host merges contiguous dims before dispatch (src/ops/shape.ts), so a plain copy runs at rank 1.
#include "common.wgsl"

alias W = u32;

const WG: u32 = 256u;
// The rank as a pipeline constant: the loop below unrolls and reads the dims at constant indices (a
// dynamic index into the uniform arrays costs lavapipe more than the copy itself).
override RANK: u32 = 1u;

struct Params {
  n: u32,                       // elements in `shape`
  rank: u32,
  src_offset: u32,
  dst_offset: u32,
  shape: array<vec4<u32>, 2>,   // iteration shape
  src: array<vec4<u32>, 2>,     // strides into x (0 = broadcast)
  dst: array<vec4<u32>, 2>,     // strides into y
}
@group(0) @binding(0) var<storage, read> x: array<W>;
@group(0) @binding(1) var<storage, read_write> y: array<W>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  var rem = i;
  var si = u.src_offset;
  var di = u.dst_offset;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(u.shape, u32(d));
    let c = rem % size;
    rem = rem / size;
    si += c * dim(u.src, u32(d));
    di += c * dim(u.dst, u32(d));
  }
  y[di] = x[si];
}
