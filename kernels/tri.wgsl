// tril / triu over the last two dims of a batch of (rows, cols) matrices: element (r, c) is kept when
// c - r <= k (tril) or c - r >= k (triu), else 0. Elements move as raw 32-bit words (array<u32>), so
// one pipeline serves float32 and int32 and kept values (NaN payloads, -0) pass bit for bit; 0u is
// the bit pattern of 0.0 and of int 0.
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { n: u32, rows: u32, cols: u32, k: i32, upper: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  let c = i32(i % u.cols);
  let r = i32((i / u.cols) % u.rows);
  let keep = select(c - r <= u.k, c - r >= u.k, u.upper == 1u);
  y[i] = select(0u, x[i], keep);
}
