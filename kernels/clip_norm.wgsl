// The global gradient norm of clipGradNorm over many tensors per dispatch (src/optim/clip.ts binds
// it; its cpu loops are the float64 reference, the composed ops of clipGradNormNaive its twin).
//
//   sumsq7 / sumsq15:  partial[u.base + w·WG + lane] = Σ x² over the PER_LANE elements of lane `lane`
//                      of workgroup w (slot s's workgroups are u.start[s] .. u.start[s+1] - 1, each
//                      covering CHUNK consecutive elements of tensor s, lanes strided by WG; no barriers)
//   finish:            norm = √(Σ partial), coef = min(1, max_norm / (norm + 1e-6)) (one workgroup;
//                      NaN propagates, as torch)
//   scale7 / scale15:  x ← x·coef over the slots' tensors, in place
//
// Slot s's tensor binds at s + 1 and `aux` (the partials, or coef) at 0. Every buffer binds
// read_write, those only read too, so a small tensor sharing a slab with another needs no copy. Two
// slot counts: 7 fits WebGPU's default of 8 storage buffers per stage, 15 the devices that allow 16;
// the entry points keep their uniforms apart (binding 8 or 16), as each pipeline's layout holds only
// the bindings its entry point uses.
#include "common.wgsl"

const WG: u32 = 256u;
const PER_LANE: u32 = 4u;
const CHUNK: u32 = 1024u;  // WG · PER_LANE

struct P7 { base: u32, n: array<vec4<u32>, 2>, start: array<vec4<u32>, 2> }
struct P15 { base: u32, n: array<vec4<u32>, 4>, start: array<vec4<u32>, 4> }
struct PF { count: u32, max_norm: f32 }

@group(0) @binding(0) var<storage, read_write> aux: array<f32>;
@group(0) @binding(1) var<storage, read_write> x0: array<f32>;
@group(0) @binding(2) var<storage, read_write> x1: array<f32>;
@group(0) @binding(3) var<storage, read_write> x2: array<f32>;
@group(0) @binding(4) var<storage, read_write> x3: array<f32>;
@group(0) @binding(5) var<storage, read_write> x4: array<f32>;
@group(0) @binding(6) var<storage, read_write> x5: array<f32>;
@group(0) @binding(7) var<storage, read_write> x6: array<f32>;
@group(0) @binding(8) var<storage, read_write> x7: array<f32>;
@group(0) @binding(9) var<storage, read_write> x8: array<f32>;
@group(0) @binding(10) var<storage, read_write> x9: array<f32>;
@group(0) @binding(11) var<storage, read_write> x10: array<f32>;
@group(0) @binding(12) var<storage, read_write> x11: array<f32>;
@group(0) @binding(13) var<storage, read_write> x12: array<f32>;
@group(0) @binding(14) var<storage, read_write> x13: array<f32>;
@group(0) @binding(15) var<storage, read_write> x14: array<f32>;
@group(0) @binding(8) var<uniform> u7: P7;
@group(0) @binding(16) var<uniform> u15: P15;
// finish: the partials at 0 (aux), then the norm and coef outputs
@group(0) @binding(1) var<storage, read_write> norm_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef_out: array<f32>;
@group(0) @binding(3) var<uniform> uf: PF;

fn load7(s: u32, i: u32) -> f32 {
  switch (s) {
    case 0u: { return x0[i]; }
    case 1u: { return x1[i]; }
    case 2u: { return x2[i]; }
    case 3u: { return x3[i]; }
    case 4u: { return x4[i]; }
    case 5u: { return x5[i]; }
    case 6u: { return x6[i]; }
    default: { return 0.0; }
  }
}

fn scale_at7(s: u32, i: u32, c: f32) {
  switch (s) {
    case 0u: { x0[i] = x0[i] * c; }
    case 1u: { x1[i] = x1[i] * c; }
    case 2u: { x2[i] = x2[i] * c; }
    case 3u: { x3[i] = x3[i] * c; }
    case 4u: { x4[i] = x4[i] * c; }
    case 5u: { x5[i] = x5[i] * c; }
    case 6u: { x6[i] = x6[i] * c; }
    default: {}
  }
}

fn load15(s: u32, i: u32) -> f32 {
  switch (s) {
    case 0u: { return x0[i]; }
    case 1u: { return x1[i]; }
    case 2u: { return x2[i]; }
    case 3u: { return x3[i]; }
    case 4u: { return x4[i]; }
    case 5u: { return x5[i]; }
    case 6u: { return x6[i]; }
    case 7u: { return x7[i]; }
    case 8u: { return x8[i]; }
    case 9u: { return x9[i]; }
    case 10u: { return x10[i]; }
    case 11u: { return x11[i]; }
    case 12u: { return x12[i]; }
    case 13u: { return x13[i]; }
    case 14u: { return x14[i]; }
    default: { return 0.0; }
  }
}

fn scale_at15(s: u32, i: u32, c: f32) {
  switch (s) {
    case 0u: { x0[i] = x0[i] * c; }
    case 1u: { x1[i] = x1[i] * c; }
    case 2u: { x2[i] = x2[i] * c; }
    case 3u: { x3[i] = x3[i] * c; }
    case 4u: { x4[i] = x4[i] * c; }
    case 5u: { x5[i] = x5[i] * c; }
    case 6u: { x6[i] = x6[i] * c; }
    case 7u: { x7[i] = x7[i] * c; }
    case 8u: { x8[i] = x8[i] * c; }
    case 9u: { x9[i] = x9[i] * c; }
    case 10u: { x10[i] = x10[i] * c; }
    case 11u: { x11[i] = x11[i] * c; }
    case 12u: { x12[i] = x12[i] * c; }
    case 13u: { x13[i] = x13[i] * c; }
    case 14u: { x14[i] = x14[i] * c; }
    default: {}
  }
}

// The slot whose workgroups include w (S when w is past the last one).
fn slot_of(w: u32, start: array<u32, 16>, slots: u32) -> u32 {
  var s = 0u;
  while (s < slots && w >= start[s + 1u]) { s++; }
  return s;
}

fn unpack7(a: array<vec4<u32>, 2>) -> array<u32, 16> {
  var r: array<u32, 16>;
  for (var i = 0u; i < 8u; i++) { r[i] = a[i / 4u][i % 4u]; }
  return r;
}

fn unpack15(a: array<vec4<u32>, 4>) -> array<u32, 16> {
  var r: array<u32, 16>;
  for (var i = 0u; i < 16u; i++) { r[i] = a[i / 4u][i % 4u]; }
  return r;
}

@compute @workgroup_size(WG)
fn sumsq7(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  let start = unpack7(u7.start);
  let s = slot_of(w, start, 7u);
  if (s >= 7u) { return; }
  let n = unpack7(u7.n)[s];
  let first = (w - start[s]) * CHUNK + lane;
  var acc = 0.0;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) {
      let v = load7(s, i);
      acc += v * v;
    }
  }
  aux[u7.base + w * WG + lane] = acc;
}

@compute @workgroup_size(WG)
fn scale7(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  let start = unpack7(u7.start);
  let s = slot_of(w, start, 7u);
  if (s >= 7u) { return; }
  let n = unpack7(u7.n)[s];
  let c = aux[0];
  let first = (w - start[s]) * CHUNK + lane;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) { scale_at7(s, i, c); }
  }
}

@compute @workgroup_size(WG)
fn sumsq15(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  let start = unpack15(u15.start);
  let s = slot_of(w, start, 15u);
  if (s >= 15u) { return; }
  let n = unpack15(u15.n)[s];
  let first = (w - start[s]) * CHUNK + lane;
  var acc = 0.0;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) {
      let v = load15(s, i);
      acc += v * v;
    }
  }
  aux[u15.base + w * WG + lane] = acc;
}

@compute @workgroup_size(WG)
fn scale15(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  let start = unpack15(u15.start);
  let s = slot_of(w, start, 15u);
  if (s >= 15u) { return; }
  let n = unpack15(u15.n)[s];
  let c = aux[0];
  let first = (w - start[s]) * CHUNK + lane;
  for (var j = 0u; j < PER_LANE; j++) {
    let i = first + j * WG;
    if (i < n) { scale_at15(s, i, c); }
  }
}

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn finish(@builtin(local_invocation_index) lane: u32) {
  var acc = 0.0;
  for (var i = lane; i < uf.count; i += WG) { acc += aux[i]; }
  part[lane] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lane < h) { part[lane] += part[lane + h]; }
    workgroupBarrier();
  }
  if (lane == 0u) {
    let norm = sqrt_f(part[0]);
    norm_out[0] = norm;
    coef_out[0] = min_nan(uf.max_norm / (norm + 1e-6), 1.0);
  }
}
