// The grid of the elementwise kernels' `main_vec4` entries (src/ops/elementwise.ts): each invocation
// handles VEC4_PER_THREAD vec4s, its workgroup a block of WG · VEC4_PER_THREAD consecutive ones with
// neighbouring lanes on neighbouring vec4s (coalesced on GPUs; on lavapipe fewer invocations for the
// same loads: 2-4 vec4s per invocation measured about a quarter faster than one, docs/performance.md).
// Dispatch with grid1d(n / 4 / VEC4_PER_THREAD, WG).
const VEC4_PER_THREAD: u32 = 4u;

// The k-th vec4 of this invocation (k < VEC4_PER_THREAD).
fn vec4_index(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32, k: u32) -> u32 {
  let t = linear_id(gid, nwg, wg_size);
  let lane = t % wg_size;
  return (t - lane) * VEC4_PER_THREAD + k * wg_size + lane;
}
