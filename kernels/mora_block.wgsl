// The engine of the fused MoRA kernels (kernels/mora_forward.wgsl, mora_backward.wgsl; docs/mora.md
// "The kernels"): compress a block of tokens ONCE into St (workgroup memory, or on CPU adapters a
// private array per lane), then run register blocks of the square product out of it.
//
//   St (staged, [column][token group]): the compressed operand of BT = 4·WGT tokens as vec4s of 4
//       consecutive tokens: v_{t,c}[j] (forward) or u_{t,c}[a] = (f_decompᵀ g_t)[a] (backward)
//   acc[q] += Σ_s St[s][tl] · Mop[s][al·8 + q]      (vec4: 4 tokens, q < 8 columns)
//   Mop[s, q] = M[b0 + q, k0 + s] (forward, z = M v) or M[k0 + s, col_of(b0, q)] (backward, w = Mᵀ u)
//
// Lane (tl, al) = (lane % WGT, lane / WGT) owns tokens t0 + 4·tl .. + 3 and the columns al·8 .. + 7
// of each block of 8·WGA. St holds S = st_rows() rows of K (all of R when it fits, else the
// callers run K in passes of S rows that add onto their outputs). `product_range` (the register
// block over a range of K) comes from one of two files, picked per adapter by src/ops/mora.ts:
//   mora_product_sg.wgsl    the 8 columns' M entries from the 8 lanes' registers by subgroup
//                           broadcast, St private to each lane (CPU adapters: the workgroup is
//                           one 8-lane subgroup)
//   mora_product_smem.wgsl  St and the block of M in workgroup memory (GPUs, any subgroup size)
// On lavapipe a workgroup of 8 lanes is one SIMD batch of one CPU thread: barriers are free, a
// uniform load is a scalar load per value (a fifth of the FMA rate in the hot loop), a divergent
// load a gather from workgroup memory or a loop over the lanes from a storage buffer (so each
// fetches a whole vec4), and the integer divisions (wrap-around, groups) sit outside the token
// loops (one per column), never per element.
//
// The including kernel binds Mw4 (M, (R, R)) as a vec4 view and defines x_at(q) / g_at(q), the q-th
// vec4 of x (T, k) / g (T, d) (the forward has no g). Every tensor buffer is a multiple of 16 bytes
// (the pool's size classes), so the vec4 views cover every entry.
#include "mora_common.wgsl"
#include "mora_stage.wgsl"

override WGT: u32 = 8u;      // lanes along tokens (4 tokens each)
override WGA: u32 = 1u;      // lanes along columns
override WG: u32 = WGT * WGA;
const AN: u32 = 8u;          // columns per lane and block
override BT: u32 = 4u * WGT; // tokens per workgroup
override BT4: u32 = WGT;     // token groups (vec4s) per staged column
// St itself comes from the product file, with `st_at(j, r)` (the index of column j, token group r),
// `st_rows()` (rows of K per pass) and ST_OWN (each lane stages and reads only its own token
// group): workgroup memory shared by the lanes (mora_product_smem.wgsl) or a private array per
// lane (mora_product_sg.wgsl).

// M[i .. i + 3] (flat index, any alignment) from the vec4 view of M: one or two aligned vec4 loads.
// Past the end of M it returns whatever the (clamped) loads give: callers mask those entries.
fn m4(i: u32) -> vec4<f32> {
  let a = Mw4[i >> 2u];
  if ((i & 3u) == 0u) { return a; }
  return join4(a, Mw4[(i >> 2u) + 1u], i & 3u);
}

fn ld_m(a: u32, j: u32) -> f32 {
  let i = a * u.R + j;
  return Mw4[i >> 2u][i & 3u];
}

// Column q of the backward block from b0: l = b0 + q, or for type 6 the rotation pairs
// b0 + q (q < 4) and b0 + R/2 + q - 4 (q >= 4). Past R: masked by the caller.
fn col_of(b0: u32, q: u32) -> u32 {
  if (rotated()) { return b0 + q % 4u + select(0u, u.R / 2u, q >= 4u); }
  return b0 + q;
}
