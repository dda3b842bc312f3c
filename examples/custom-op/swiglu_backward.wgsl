// SwiGLU backward, both gradients in one pass: with s = σ(a),
//   da = g · b · s · (1 + a · (1 - s))      (d silu(a)/da = s + a·s·(1 - s))
//   db = g · a · s
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> da: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;
@group(0) @binding(5) var<uniform> u: Params;

fn sigmoid(v: f32) -> f32 {
  if (v >= 0.0) { return 1.0 / (1.0 + exp(-v)); }
  let e = exp(v);
  return e / (1.0 + e);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.n) { return; }
  let s = sigmoid(a[i]);
  da[i] = g[i] * b[i] * s * (1.0 + a[i] * (1.0 - s));
  db[i] = g[i] * a[i] * s;
}
