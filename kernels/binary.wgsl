// out = a ∘ b elementwise with NumPy broadcasting. OP selects ∘ (ADD, SUB, ...: module constants generated
// from the op table in src/ops/binary.ts).
// SAME = 1 when a, b and out share one shape: the index arithmetic is skipped (the common case).
// SUFFIX = 1 when each operand is either out's shape or a trailing block of it (a bias [C] added to
// [B, T, C]): its element is i mod its size, one integer op instead of a loop of divisions (which
// lavapipe runs lane by lane). Otherwise each output index is decomposed over out's dims and
// re-composed with a's and b's broadcast strides (stride 0 on broadcast dims).
#include "common.wgsl"
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
  if (SUFFIX == 1u) {
    y[i] = T(op(f32(a[i % u.na]), f32(b[i % u.nb])));
    return;
  }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let size = dim(u.out_dims, u32(d));
    let c = rem % size;
    rem = rem / size;
    ia += c * dim(u.sa, u32(d));
    ib += c * dim(u.sb, u32(d));
  }
  y[i] = T(op(f32(a[ia]), f32(b[ib])));
}
