// The step of the subgroup products (kernels/mora_product_sg.wgsl, mora_dm.wgsl) on adapters whose
// 8-lane workgroup is one subgroup (lavapipe: one SIMD batch of one CPU thread). The including
// kernel declares `St`, the staged operand as a private array: the lane's vec4 of 4 rows per step.
//
//   acc[q] += St[si + i] · subgroupBroadcast(mv[i], q)    q < 8, steps i < 4
//
// Lane q holds mv, its column q's entries of the other operand for 4 steps (one load per 4 steps);
// a broadcast from a constant lane is a register shuffle, where a uniform load is a scalar load per
// lane on lavapipe.
enable subgroups;

// acc[q] += v · (lane q's m), q < 8
fn fma8b(acc: ptr<function, array<vec4<f32>, 8>>, v: vec4<f32>, m: f32) {
  (*acc)[0] = fma(v, vec4<f32>(subgroupBroadcast(m, 0u)), (*acc)[0]);
  (*acc)[1] = fma(v, vec4<f32>(subgroupBroadcast(m, 1u)), (*acc)[1]);
  (*acc)[2] = fma(v, vec4<f32>(subgroupBroadcast(m, 2u)), (*acc)[2]);
  (*acc)[3] = fma(v, vec4<f32>(subgroupBroadcast(m, 3u)), (*acc)[3]);
  (*acc)[4] = fma(v, vec4<f32>(subgroupBroadcast(m, 4u)), (*acc)[4]);
  (*acc)[5] = fma(v, vec4<f32>(subgroupBroadcast(m, 5u)), (*acc)[5]);
  (*acc)[6] = fma(v, vec4<f32>(subgroupBroadcast(m, 6u)), (*acc)[6]);
  (*acc)[7] = fma(v, vec4<f32>(subgroupBroadcast(m, 7u)), (*acc)[7]);
}

// 4 steps of the product: St[si .. si + 3] against mv.x .. mv.w
fn fma4x8(acc: ptr<function, array<vec4<f32>, 8>>, si: u32, mv: vec4<f32>) {
  fma8b(acc, St[si], mv.x);
  fma8b(acc, St[si + 1u], mv.y);
  fma8b(acc, St[si + 2u], mv.z);
  fma8b(acc, St[si + 3u], mv.w);
}

// The first n < 4 of them (a K range's tail, kept out of the main loop: 4 steps with no branch
// between them run faster on lavapipe)
fn fma4x8_tail(acc: ptr<function, array<vec4<f32>, 8>>, si: u32, mv: vec4<f32>, n: u32) {
  fma8b(acc, St[si], mv.x);
  if (n > 1u) { fma8b(acc, St[si + 1u], mv.y); }
  if (n > 2u) { fma8b(acc, St[si + 2u], mv.z); }
}
