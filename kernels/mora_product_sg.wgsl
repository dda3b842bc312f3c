// `product_range` of the fused MoRA kernels (kernels/mora_block.wgsl) with M's entries in registers:
// the CPU-adapter variant. The workgroup's 8 lanes are one subgroup (WGT = 8, WGA = 1; lavapipe: one
// SIMD batch of one CPU thread, src/ops/mora.ts `tileConfig`), and lane q holds the entries of
// column q of the block for 4 steps at a time:
//
//   mv_q = (Mop[s, q], Mop[s + 1, q], Mop[s + 2, q], Mop[s + 3, q])     one load per 4 steps
//   acc[q] += St[s][lane] · subgroupBroadcast(mv_q[i], q)               for every lane, q < 8
//
// A broadcast from a constant lane is a register shuffle, where a uniform load from workgroup or
// storage memory is a scalar load per lane on lavapipe: no Ms staging and no barriers, which makes
// it the faster product there (docs/kernels.md "What lavapipe rewards"). Invocation ids are the
// local indices (one subgroup per workgroup).
#include "sg_fma.wgsl"

// The staged operand is a private array per lane: a lane only ever reads its own token group, so
// nothing is shared, and on lavapipe a private array runs faster than the same data in workgroup
// memory (docs/performance.md "MoRA kernels"). ST_ROWS (the rows of K per pass) is a module constant
// from the shader's name (src/ops/mora-tiling.ts `sgRows`: WGSL sizes private arrays with const
// expressions only); lavapipe's compile time grows with it.
var<private> St: array<vec4<f32>, ST_ROWS>;  // St[j]: column j of this lane's token group
const ST_OWN: bool = true;                   // each lane stages its own token group
fn st_rows() -> u32 { return ST_ROWS; }
fn st_at(j: u32, r: u32) -> u32 { return j; }

// This lane's Mop[k0 + s .. k0 + s + 3, q] for its column q of the block from b0:
//   forward  M[b0 + q, k0 + s ..]       a contiguous run of row b0 + q: one vec4 load
//   backward M[k0 + s .., col_of(b0, q)] a column: 4 loads
// Rows past R (and steps past the K range) read clamped entries: the caller masks them.
fn m_steps(is_u: bool, lane: u32, b0: u32, k0: u32, s: u32) -> vec4<f32> {
  if (!is_u) { return m4(min(b0 + lane, u.R - 1u) * u.R + k0 + s); }
  let col = min(col_of(b0, lane), u.R - 1u);
  let a = k0 + s;
  let last = u.R - 1u;
  return vec4<f32>(ld_m(a, col), ld_m(min(a + 1u, last), col), ld_m(min(a + 2u, last), col), ld_m(min(a + 3u, last), col));
}

// The product of the token block with the 8 columns from b0 over K rows [k0, k0 + kn), St holding
// exactly those rows (this lane: its 4 tokens x the 8 columns). No barriers.
fn product_range(lane: u32, is_u: bool, b0: u32, k0: u32, kn: u32) -> array<vec4<f32>, AN> {
  var acc = array<vec4<f32>, AN>();
  var s = 0u;
  for (; s + 4u <= kn; s += 4u) {  // St[s]: this lane's 4 tokens at step s
    fma4x8(&acc, s, m_steps(is_u, lane, b0, k0, s));
  }
  if (s < kn) { fma4x8_tail(&acc, s, m_steps(is_u, lane, b0, k0, s), kn - s); }
  return acc;
}
