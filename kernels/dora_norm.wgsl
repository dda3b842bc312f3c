// DoRA's weight norm, fused (src/adapters/dora.ts, the op `dora.norm`): for W [out, in], A [r, in],
// B [out, r] and the LoRA scaling s,
//
//   n[o] = || W[o, :] + s · (B A)[o, :] ||₂        (o < out; PEFT's get_weight_norm, dim = 1)
//
// without forming B A: one thread per row o walks the row, building each element from the r
// products B[o, k]·A[k, i]. Rows spread over x and y (65535 workgroups per dimension).
struct Params { rows: u32, cols: u32, rank: u32, scaling: f32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> n: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= u.rows) { return; }
  var acc = 0.0;
  for (var i = 0u; i < u.cols; i++) {
    var d = 0.0;
    for (var k = 0u; k < u.rank; k++) {
      d += b[o * u.rank + k] * a[k * u.cols + i];
    }
    let v = w[o * u.cols + i] + u.scaling * d;
    acc += v * v;
  }
  n[o] = sqrt(acc);
}
