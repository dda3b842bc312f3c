// Indexing along one axis: gather / indexSelect (forward) and their backward, a scatter-add.
// Four entry points (each uses exactly its own bindings; pipelines use layout 'auto'):
//
//   gather         y[c] = x[c with c_axis := index[Σ c_d·is_d]]          (one thread per output element)
//   link           for each index element, the next position along its axis line holding the same
//                  value (or -1), and whether it is the first one (the "head")
//   scatter        dx[c with c_axis := index[..]] = Σ g over the positions holding that index,
//                  summed in ascending position order by the head's thread walking its link chain
//   scatter_naive  the twin of link + scatter: one thread per dx element loops over the whole axis
//                  line (O(numel(x)·L)); same summation order, so the results are bit-identical
//
// Index strides `is` map output coordinates to the index tensor: gather's index has the output's shape
// (contiguous strides); indexSelect's 1-D index has stride 1 on the axis and 0 elsewhere.
//
// Why the deterministic link/scatter pair rather than float atomics: WGSL has no atomic f32 add, and
// a compare-exchange loop on the bit pattern adds in scheduling order, so gradients would differ run
// to run (in the last bits) and serialise under contention on repeated tokens. Here every dx element
// has exactly one writer and a fixed summation order. Cost: the link pass compares int indices only
// (O(L²) per axis line, no feature dimension); the scatter pass does O(numel(g)) adds.
//
// Out-of-range indices (< 0 or >= size of x along the axis): no out-of-bounds access (gather writes
// 0, the scatters skip them), and the first thread to meet one records it in the device's error buffer
// `err` (bound after the outputs): err[0] = 1 (set once), err[1] = the dispatch's tag, err[2] = the
// value, err[3] = its flat position in the index. The backend reads it with the next readback and
// throws the op's error (src/ops/gather.ts), the one the cpu backend throws at once.
#include "common.wgsl"

// Element types (f16 both in the float16 specialisation): W, the raw 32-bit words gather moves for
// float32 and int32 alike; T, the float buffers scatter accumulates (in f32).
alias W = u32;
alias T = f32;

const WG: u32 = 256u;
// The rank as a pipeline constant (every entry point): the coordinate loops unroll and read the dims
// at constant indices (a dynamic index into the uniform arrays costs lavapipe more than the gather).
override RANK: u32 = 1u;

// ---- gather ------------------------------------------------------------------------------------

struct GatherParams {
  n: u32,                      // output elements
  rank: u32,
  axis: u32,
  size: u32,                   // x.shape[axis]: valid indices are 0..size-1
  out: array<vec4<u32>, 2>,    // output shape
  xs: array<vec4<u32>, 2>,     // x strides
  is: array<vec4<u32>, 2>,     // index strides over the output coordinates
  tag: u32,                    // names this dispatch in the error buffer
}
@group(0) @binding(0) var<storage, read> gx: array<W>;
@group(0) @binding(1) var<storage, read> gindex: array<i32>;
@group(0) @binding(2) var<storage, read_write> gy: array<W>;
@group(0) @binding(3) var<storage, read_write> gerr: array<atomic<u32>, 4>;
@group(0) @binding(4) var<uniform> gu: GatherParams;

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= gu.n) { return; }
  var rem = i;
  var xo = 0u;
  var io = 0u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(gu.out, u32(d));
    let c = rem % size;
    rem = rem / size;
    io += c * dim(gu.is, u32(d));
    if (u32(d) != gu.axis) { xo += c * dim(gu.xs, u32(d)); }
  }
  let k = gindex[io];
  if (k < 0 || u32(k) >= gu.size) {
    gy[i] = W(0); // out of range: 0 (the bit pattern of 0.0 and of int 0), and an error at readback
    if (atomicLoad(&gerr[0]) == 0u && atomicExchange(&gerr[0], 1u) == 0u) {
      atomicStore(&gerr[1], gu.tag);
      atomicStore(&gerr[2], bitcast<u32>(k));
      atomicStore(&gerr[3], io);
    }
    return;
  }
  gy[i] = gx[xo + u32(k) * dim(gu.xs, gu.axis)];
}

// ---- link: index viewed as (A, L, B), lines run along L ------------------------------------------

struct LinkParams { n: u32, l: u32, b: u32 }
@group(0) @binding(0) var<storage, read> lindex: array<i32>;
@group(0) @binding(1) var<storage, read_write> links: array<i32>; // [2e] = next position or -1, [2e+1] = head
@group(0) @binding(2) var<uniform> lu: LinkParams;

@compute @workgroup_size(WG)
fn link(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= lu.n) { return; }
  let j = (i / lu.b) % lu.l;
  let base = i - j * lu.b;
  let v = lindex[i];
  var next = -1;
  for (var t = j + 1u; t < lu.l; t++) {
    if (lindex[base + t * lu.b] == v) { next = i32(t); break; }
  }
  var head = 1;
  for (var t = 0u; t < j; t++) {
    if (lindex[base + t * lu.b] == v) { head = 0; break; }
  }
  links[2u * i] = next;
  links[2u * i + 1u] = head;
}

// ---- scatter-add (backward of gather and indexSelect) ---------------------------------------------

struct ScatterParams {
  n: u32,                      // scatter: elements of g; scatter_naive: elements of dx
  rank: u32,
  axis: u32,
  size: u32,                   // dx.shape[axis]
  l: u32,                      // g.shape[axis] (positions along one line)
  gdims: array<vec4<u32>, 2>,  // g shape
  gs: array<vec4<u32>, 2>,     // g strides (contiguous)
  xs: array<vec4<u32>, 2>,     // dx strides (contiguous)
  is: array<vec4<u32>, 2>,     // index strides over g's coordinates
  xdims: array<vec4<u32>, 2>,  // dx shape
  tag: u32,
}
@group(0) @binding(0) var<storage, read> sg: array<T>;
@group(0) @binding(1) var<storage, read> sindex: array<i32>;
@group(0) @binding(2) var<storage, read> slinks: array<i32>;
@group(0) @binding(3) var<storage, read_write> sdx: array<T>; // zero-filled before
@group(0) @binding(4) var<storage, read_write> serr: array<atomic<u32>, 4>;
@group(0) @binding(5) var<uniform> su: ScatterParams;

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= su.n) { return; }
  var rem = i;
  var io = 0u;
  var xo = 0u;
  var j = 0u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(su.gdims, u32(d));
    let c = rem % size;
    rem = rem / size;
    io += c * dim(su.is, u32(d));
    if (u32(d) == su.axis) { j = c; } else { xo += c * dim(su.xs, u32(d)); }
  }
  if (slinks[2u * io + 1u] == 0) { return; } // not the first position holding this index
  let k = sindex[io];
  if (k < 0 || u32(k) >= su.size) { // out of range: dropped, and an error at readback
    if (atomicLoad(&serr[0]) == 0u && atomicExchange(&serr[0], 1u) == 0u) {
      atomicStore(&serr[1], su.tag);
      atomicStore(&serr[2], bitcast<u32>(k));
      atomicStore(&serr[3], io);
    }
    return;
  }
  let g_step = dim(su.gs, su.axis);
  let i_step = dim(su.is, su.axis);
  var acc = f32(sg[i]);
  var next = slinks[2u * io];
  while (next >= 0) {
    let dj = u32(next) - j;
    acc += f32(sg[i + dj * g_step]);
    next = slinks[2u * (io + dj * i_step)];
  }
  sdx[xo + u32(k) * dim(su.xs, su.axis)] = T(acc);
}

// The naive twin (no link pass, no zero fill): one thread per dx element scans its whole line.
@group(0) @binding(0) var<storage, read> ng: array<T>;
@group(0) @binding(1) var<storage, read> nindex: array<i32>;
@group(0) @binding(2) var<storage, read_write> ndx: array<T>;
@group(0) @binding(3) var<storage, read_write> nerr: array<atomic<u32>, 4>;
@group(0) @binding(4) var<uniform> nu: ScatterParams;

@compute @workgroup_size(WG)
fn scatter_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= nu.n) { return; }
  var rem = i;
  var k = 0u;
  var gbase = 0u;
  var ibase = 0u;
  var inside = true;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let size = dim(nu.xdims, u32(d));
    let c = rem % size;
    rem = rem / size;
    if (u32(d) == nu.axis) {
      k = c;
    } else {
      if (c >= dim(nu.gdims, u32(d))) { inside = false; } // gather's index may be smaller than x
      gbase += c * dim(nu.gs, u32(d));
      ibase += c * dim(nu.is, u32(d));
    }
  }
  var acc = 0.0;
  if (inside) {
    let g_step = dim(nu.gs, nu.axis);
    let i_step = dim(nu.is, nu.axis);
    for (var t = 0u; t < nu.l; t++) {
      let v = nindex[ibase + t * i_step];
      if (v == i32(k)) { acc += f32(ng[gbase + t * g_step]); }
      if ((v < 0 || u32(v) >= nu.size) && atomicLoad(&nerr[0]) == 0u && atomicExchange(&nerr[0], 1u) == 0u) {
        atomicStore(&nerr[1], nu.tag);
        atomicStore(&nerr[2], bitcast<u32>(v));
        atomicStore(&nerr[3], ibase + t * i_step);
      }
    }
  }
  ndx[i] = T(acc);
}
