// A row reduction shared by the per-row norm kernels. The including file declares `WG` (threads per
// workgroup) and `TPR` (threads per row). Threads t of one row are adjacent: lane = t % TPR.
var<workgroup> red: array<f32, WG>;

// Σ of v over the TPR threads of a row (all of them get it); lane = t % TPR.
fn row_sum(t: u32, lane: u32, v: f32) -> f32 {
  if (TPR == 1u) { return v; }
  red[t] = v;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { red[t] += red[t + stride]; }
    workgroupBarrier();
  }
  let r = red[t - lane];
  workgroupBarrier();
  return r;
}
