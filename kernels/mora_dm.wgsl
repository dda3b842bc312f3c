// MoRA backward, the cross-token reduction of dM when it is split (src/ops/mora.ts `dmSplit`):
// kernels/mora_backward.wgsl wrote `splits` partial sums (splits, R, R) over disjoint ranges of
// the (chunk, token) rows; dM[i] = Σ_s part[s, i], summed in a fixed order (deterministic).
#include "common.wgsl"

const WG: u32 = 256u;

struct Params { rr: u32, splits: u32 }

@group(0) @binding(0) var<storage, read> part: array<f32>;       // (splits, R, R)
@group(0) @binding(1) var<storage, read_write> dM: array<f32>;   // (R, R)
@group(0) @binding(2) var<uniform> u: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.rr) { return; }
  var s = 0.0;
  for (var sp = 0u; sp < u.splits; sp++) { s += part[sp * u.rr + i]; }
  dM[i] = s;
}
