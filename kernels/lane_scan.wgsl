// Exclusive scans over the TPR lanes of a row, for kernels that split a row (or a scan line) into TPR
// contiguous chunks, one per lane: each lane gives its chunk's total and gets the total of the chunks
// before it (or after it, reverse). The including file declares WG (threads per workgroup) and TPR
// (threads per row); the lanes of a row are adjacent threads, lane = t % TPR.
var<workgroup> scan_sh: array<f32, WG>;

// Σ (product = false) or Π (product = true) of v over the lanes before this one (after it when
// reverse); the identity for the first lane. Hillis-Steele over the lanes, then the neighbour's
// inclusive total.
fn lanes_exclusive(t: u32, lane: u32, v: f32, product: bool, reverse: bool) -> f32 {
  var r = select(0.0, 1.0, product);
  if (TPR == 1u) { return r; }
  scan_sh[t] = v;
  workgroupBarrier();
  for (var off = 1u; off < TPR; off <<= 1u) {
    var w = scan_sh[t];
    if (!reverse && lane >= off) {
      if (product) { w *= scan_sh[t - off]; } else { w += scan_sh[t - off]; }
    }
    if (reverse && lane + off < TPR) {
      if (product) { w *= scan_sh[t + off]; } else { w += scan_sh[t + off]; }
    }
    workgroupBarrier();
    scan_sh[t] = w;
    workgroupBarrier();
  }
  if (!reverse && lane > 0u) { r = scan_sh[t - 1u]; }
  if (reverse && lane + 1u < TPR) { r = scan_sh[t + 1u]; }
  workgroupBarrier();
  return r;
}
