// The io of kernels/matmul_sg.wgsl where B's and C's rows are runs of whole vec4s: one vec4 load of B
// per lane per 4 steps, vec4 stores of C. Needs (src/ops/matmul.ts `sgVec4`) n % 4 == 0, c_rs, C's
// batch strides, b_blk and B's batch strides multiples of 4, and B contiguous along n with b_rs % 4
// == 0, or (TRANS_B) along k with b_cs % 4 == 0 and k % 4 == 0; every offset is a multiple of 4 then
// (a pass starts at a multiple of ST_ROWS).
@group(0) @binding(1) var<storage, read> B4: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> C4: array<vec4<T>>;

// This lane's vec4 of B for the 4 steps from s (see matmul_sg.wgsl for the two layouts).
fn load_b(b_off: u32, s: u32, jb: u32, lane: u32) -> vec4<f32> {
  if (TRANS_B) {  // k contiguous: column jb + lane's run s .. s + 3 (k % 4 == 0: never past k)
    return vec4<f32>(B4[(b_off + min(jb + lane, u.n - 1u) * u.b_cs + s) / 4u]);
  }
  // n contiguous: row s + lane / 2 (clamped past k), columns jb + 4 (lane % 2) .. + 3
  let row = min(s + lane / 2u, u.k - 1u);
  return vec4<f32>(B4[(b_off + row * u.b_rs) / 4u + min(jb / 4u + lane % 2u, u.n / 4u - 1u)]);
}

// C[r0 + i, jb + q] (+)= acc[q][i] where inside C: two vec4s per row (n % 4 == 0: whole or outside).
fn store_c(acc: ptr<function, array<vec4<f32>, 8>>, c_off: u32, r0: u32, jb: u32, add: bool) {
  let hi = jb + 4u < u.n;
  for (var i = 0u; i < 4u; i++) {
    if (r0 + i >= u.m) { return; }
    let base = (c_off + (r0 + i) * u.c_rs + jb) / 4u;
    var lo_v = vec4<f32>((*acc)[0][i], (*acc)[1][i], (*acc)[2][i], (*acc)[3][i]);
    var hi_v = vec4<f32>((*acc)[4][i], (*acc)[5][i], (*acc)[6][i], (*acc)[7][i]);
    if (add) { lo_v += vec4<f32>(C4[base]); }
    C4[base] = vec4<T>(lo_v);
    if (hi) {
      if (add) { hi_v += vec4<f32>(C4[base + 1u]); }
      C4[base + 1u] = vec4<T>(hi_v);
    }
  }
}
