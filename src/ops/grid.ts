// Workgroup counts. WebGPU caps each dispatch dimension at 65535 workgroups, so 1-D work spreads over
// x and y; kernels recover the linear index with `linear_id` (kernels/common.wgsl).
const MAX_X = 65535;

export function grid1d(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= MAX_X) return [groups, 1, 1];
  return [MAX_X, Math.ceil(groups / MAX_X), 1];
}
