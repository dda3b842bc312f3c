// out = a + alpha·b, and with a bias row: out = a + alpha·b + bias[i mod C] (src/ops/add-scaled.ts
// binds it): a LoRA layer's base product, its adapter path and the bias in one pass. `main` /
// `with_bias` compute one element per invocation, `main_vec4` / `with_bias_vec4` four vec4s (n % 4 == 0, and
// C % 4 == 0 with a bias). The entry points without a bias bind out at 2 and the uniforms at 3,
// those with one the bias at 2, out at 3 and the uniforms at 4.
#include "common.wgsl"
#include "vec4_grid.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

const WG: u32 = 256u;

struct Params { n: u32, c: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> u: Params;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> out_b: array<T>;
@group(0) @binding(4) var<uniform> ub: Params;
@group(0) @binding(0) var<storage, read> a4: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> bias4: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> out_b4: array<vec4<T>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  out[i] = T(f32(a[i]) + u.alpha * f32(b[i]));
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var k = 0u; k < VEC4_PER_THREAD; k++) {
    let i = vec4_index(gid, nwg, WG, k);  // elements 4i .. 4i + 3
    if (i < u.n / 4u) {
      out4[i] = vec4<T>(vec4<f32>(a4[i]) + u.alpha * vec4<f32>(b4[i]));
    }
  }
}

@compute @workgroup_size(WG)
fn with_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= ub.n) { return; }
  out_b[i] = T(f32(a[i]) + ub.alpha * f32(b[i]) + f32(bias[i % ub.c]));
}

@compute @workgroup_size(WG)
fn with_bias_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var k = 0u; k < VEC4_PER_THREAD; k++) {
    let i = vec4_index(gid, nwg, WG, k);
    if (i < ub.n / 4u) {
      out_b4[i] = vec4<T>(vec4<f32>(a4[i]) + ub.alpha * vec4<f32>(b4[i]) + vec4<f32>(bias4[i % (ub.c / 4u)]));
    }
  }
}
