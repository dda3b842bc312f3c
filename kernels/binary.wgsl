// out = a ∘ b elementwise with NumPy broadcasting. OP selects ∘ (ADD, SUB, ...: module constants generated
// from the op table in src/ops/binary.ts).
// SAME = 1 when a, b and out share one shape: the index arithmetic is skipped (the common case).
// SUFFIX != 0 when each operand is either out's shape or a trailing block of it (a bias [C] added to
// [B, T, C]): bit 0 (a), bit 1 (b) mark the blocks, whose element is i mod their size, one integer op
// instead of a loop of divisions (which lavapipe runs lane by lane); a full operand reads element i.
// Otherwise each output index is decomposed over out's dims and re-composed with a's and b's
// broadcast strides (stride 0 on broadcast dims).
// `main` computes one element per invocation; `main_vec4` four vec4s (src/ops/elementwise.ts) when
// out's last dim is a multiple of 4 and no operand is broadcast along it, so every operand's four
// elements are one aligned vec4 and the index arithmetic runs once per four.
#include "common.wgsl"
#include "vec4_grid.wgsl"
#include "pow.wgsl"

alias T = f32;   // element type of the float buffers (f16 in the float16 specialisation)

override OP: u32 = ADD;
override SAME: u32 = 0u;
override SUFFIX: u32 = 0u;
const WG: u32 = 256u;

struct Params { n: u32, rank: u32, na: u32, nb: u32, out_dims: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> u: Params;
@group(0) @binding(0) var<storage, read> a4: array<vec4<T>>;      // main_vec4
@group(0) @binding(1) var<storage, read> b4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<T>>;

fn nan2(x: f32, z: f32) -> bool { return is_nan(x) || is_nan(z); }

// x / z with IEEE's answer for a zero divisor (WGSL leaves it to the driver): 0/0 and NaN/0 are NaN,
// else ±Inf by the signs of x and of the zero.
fn div_f(x: f32, z: f32) -> f32 {
  if (z != 0.0 || is_nan(z)) { return x / z; }             // lavapipe's NaN != 0 is false
  if (x == 0.0 || is_nan(x)) { return nan_f32(); }
  let neg = (bitcast<u32>(x) ^ bitcast<u32>(z)) & 0x80000000u;
  return bitcast<f32>(neg | 0x7f800000u);
}

fn op(x: f32, z: f32) -> f32 {
  switch OP {
    case ADD: { return x + z; }
    case SUB: { return x - z; }
    case MUL: { return x * z; }
    case DIV: { return div_f(x, z); }
    case MAXIMUM: { return max_nan(x, z); }                 // NaN propagates
    case MINIMUM: { return min_nan(x, z); }
    // WGSL does not promise IEEE comparisons with NaN: every comparison with NaN is false, but `ne`
    case LT: { return select(0.0, 1.0, x < z && !nan2(x, z)); }
    case LE: { return select(0.0, 1.0, x <= z && !nan2(x, z)); }
    case GT: { return select(0.0, 1.0, x > z && !nan2(x, z)); }
    case GE: { return select(0.0, 1.0, x >= z && !nan2(x, z)); }
    case EQ: { return select(0.0, 1.0, x == z && !nan2(x, z)); }
    case NE: { return select(0.0, 1.0, x != z || nan2(x, z)); }
    case POW: { return pow_c(x, z); }                       // C's pow: pow.wgsl
    case POW_GRAD_BASE: {                                   // z·x^(z-1), 0 where z = 0
      if (z == 0.0 && !is_nan(z)) { return 0.0; }
      return z * pow_c(x, z - 1.0);
    }
    case POW_GRAD_EXP: {                                    // x^z·ln x, 0 where x = 0 and z >= 0
      if (x == 0.0 && z >= 0.0 && !nan2(x, z)) { return 0.0; }
      return pow_c(x, z) * log_f(x);
    }
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.n) { return; }
  if (SAME == 1u) {
    y[i] = T(op(f32(a[i]), f32(b[i])));
    return;
  }
  let o = offsets(i);
  y[i] = T(op(f32(a[o.x]), f32(b[o.y])));
}

// Element offsets in a and b of output element i (the broadcast paths).
fn offsets(i: u32) -> vec2<u32> {
  if (SUFFIX != 0u) {
    var o = vec2<u32>(i, i);
    if ((SUFFIX & 1u) != 0u) { o.x = i % u.na; }
    if ((SUFFIX & 2u) != 0u) { o.y = i % u.nb; }
    return o;
  }
  var rem = i;
  var o = vec2<u32>(0u, 0u);
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let size = dim(u.out_dims, u32(d));
    let c = rem % size;
    rem = rem / size;
    o += c * vec2<u32>(dim(u.sa, u32(d)), dim(u.sb, u32(d)));
  }
  return o;
}

fn op4(xt: vec4<T>, zt: vec4<T>) -> vec4<T> {
  let x = vec4<f32>(xt);
  let z = vec4<f32>(zt);
  return vec4<T>(vec4<f32>(op(x.x, z.x), op(x.y, z.y), op(x.z, z.z), op(x.w, z.w)));
}

@compute @workgroup_size(WG)
fn main_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n4 = u.n / 4u;
  for (var k = 0u; k < VEC4_PER_THREAD; k++) {
    let i = vec4_index(gid, nwg, WG, k);  // elements 4i .. 4i + 3
    if (i < n4) {
      if (SAME == 1u) {
        y4[i] = op4(a4[i], b4[i]);
      } else {
        let o = offsets(4u * i) / 4u;     // multiples of 4: no operand is broadcast along the last dim
        y4[i] = op4(a4[o.x], b4[o.y]);
      }
    }
  }
}
