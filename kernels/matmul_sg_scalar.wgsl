// The io of kernels/matmul_sg.wgsl for any shape and strides: scalar loads of B through the strides
// (clamped past k and n), scalar stores of C masked past m and n.
@group(0) @binding(1) var<storage, read> B: array<T>;
@group(0) @binding(2) var<storage, read_write> C: array<T>;

// This lane's vec4 of B for the 4 steps from s (see matmul_sg.wgsl for the two layouts).
fn load_b(b_off: u32, s: u32, jb: u32, lane: u32) -> vec4<f32> {
  let lk = u.k - 1u;
  let ln = u.n - 1u;
  if (TRANS_B) {
    let col = b_off + min(jb + lane, ln) * u.b_cs;
    return vec4<f32>(f32(B[col + min(s, lk) * u.b_rs]), f32(B[col + min(s + 1u, lk) * u.b_rs]),
                     f32(B[col + min(s + 2u, lk) * u.b_rs]), f32(B[col + min(s + 3u, lk) * u.b_rs]));
  }
  let row = b_off + min(s + lane / 2u, lk) * u.b_rs;
  let j = jb + 4u * (lane % 2u);
  return vec4<f32>(f32(B[row + min(j, ln) * u.b_cs]), f32(B[row + min(j + 1u, ln) * u.b_cs]),
                   f32(B[row + min(j + 2u, ln) * u.b_cs]), f32(B[row + min(j + 3u, ln) * u.b_cs]));
}

// C[r0 + i, jb + q] (+)= acc[q][i] where inside C.
fn store_c(acc: ptr<function, array<vec4<f32>, 8>>, c_off: u32, r0: u32, jb: u32, add: bool) {
  let cols = min(u.n - jb, 8u);
  for (var i = 0u; i < 4u; i++) {
    if (r0 + i >= u.m) { return; }
    let base = c_off + (r0 + i) * u.c_rs + jb;
    for (var q = 0u; q < cols; q++) {
      var v = (*acc)[q][i];
      if (add) { v += f32(C[base + q]); }
      C[base + q] = T(v);
    }
  }
}
