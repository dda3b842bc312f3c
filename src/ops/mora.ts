// MoRA (Jiang et al. 2024; the contract is shared/reference/mora-spec.md, the reference code wins):
//
//   mora(x, M) = f_decomp(M · f_comp(x))     x (..., k) -> (..., d), M (R, R), R = r̂
//
// as one fused op: the forward is ONE dispatch (kernels/mora_forward.wgsl: compression, rotation,
// square product and decompression in one kernel); the backward is ONE fused dispatch producing dx
// and the compressed operands of dM (kernels/mora_backward.wgsl), plus the cross-token reduction
// dM = U Vᵀ as one more dispatch (kernels/mora_dm.wgsl with the subgroup product, in slices of K
// summed by one more dispatch when R is small; else the matmul;
// docs/mora.md "The dM reduction" says why a second dispatch). Both kernels
// share kernels/mora_block.wgsl; on CPU adapters, where the shape fits, the forward and backward are
// kernels/mora_forward_rows.wgsl and mora_backward_rows.wgsl instead (a lane's whole rows in private
// arrays, kernels/mora_rows.wgsl). No scaling and no dropout inside the op (the adapter adds them).
// This file reads top to bottom: options and geometry (the rules themselves are src/mora/rules.ts),
// the host-side math, the float64 reference loops (the kernels' `cpu` fields), the kernel
// definitions (their blocking: ./mora-tiling.ts), the op, `deltaWeight` (ΔW in closed form, ONE
// dispatch: kernels/mora_delta.wgsl) and `moraNaive` (the same function from primitive tensor ops:
// the test oracle and the benchmark baseline). docs/mora.md draws every type.
//
// Notation: k = inFeatures, d = outFeatures, n = ceil(k/R) input chunks, pad = nR - k, and the
// wrap-around padding x_pad[p] = x[p mod k] (p < nR): x extended with its own first entries. When
// pad <= k that is exactly the reference's cat([x, x[..., :pad]]); when pad > k (k < R/2) the
// reference forward crashes and we continue cyclically, which is what the reference's merge loop
// for types 1/4 computes (`w[:, i % in_f] += aw[:, i % r]` for i < k + pad).
// Longer than most op files by design (one op, one place): geometry, the float64 loops, the fused
// kernel pair, deltaWeight and the naive twin are read top to bottom; the tiling lives in mora-tiling.ts.
import { record } from '../autograd.js';
import { defineKernel, withConstants, type UniformField } from '../backend/interface.js';
import { fail, fmtShape } from '../errors.js';
import {
  checkEvenR,
  checkType,
  isChunked,
  isGroups,
  isGroupsOut,
  isRotated,
  isStrided,
  isTileOut,
  isTruncation,
  moraGeometry,
  MORA_TYPE_CONSTANTS,
  typeName,
  type MoraGeometry,
  type MoraType,
} from '../mora/rules.js';
import { numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runKernel, run1 } from './apply.js';
import { add, mul } from './binary.js';
import { tensor, zeros } from './creation.js';
import { grid1d } from './grid.js';
import { matmul, matmulT } from './matmul.js';
import {
  dmGrid,
  grid,
  rowsArrays,
  rowsBlocks,
  rowsFit,
  sgRows,
  tileConfig,
  tileConstants,
  uniforms,
  type MoraParams,
  type MoraTile,
} from './mora-tiling.js';
import { sum } from './reduce.js';
import { indexSelect } from './gather.js';
import { concat, reshape, slice, transpose } from './shape.js';
import { neg } from './unary.js';

export { MORA_TYPES, moraGeometry, type MoraGeometry, type MoraType } from '../mora/rules.js';
export type { MoraTile } from './mora-tiling.js';

// ---- options and geometry (the rules live in src/mora/rules.ts) ---------------------------------------

export interface MoraOptions {
  /** k: the last dim of x. */
  inFeatures: number;
  /** d: the last dim of the result. */
  outFeatures: number;
  type: MoraType;
}

function checkOptions(op: string, opts: MoraOptions | undefined): void {
  if (!opts || typeof opts !== 'object') fail(op, 'expects options { inFeatures, outFeatures, type }');
  const { inFeatures, outFeatures, type } = opts;
  for (const [name, v] of [
    ['inFeatures', inFeatures],
    ['outFeatures', outFeatures],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${String(v)}`);
  }
  checkType(op, type);
}

/** Validates M (square float32 R x R; R even for type 6) and returns the geometry. */
function checkM(op: string, M: Tensor, opts: MoraOptions): MoraGeometry {
  if (M.dtype !== 'float32') fail(op, `M must be float32, got ${M.describe()}`);
  if (M.ndim !== 2 || M.shape[0] !== M.shape[1] || M.shape[0] < 1) {
    fail(op, `M must be a square matrix [R, R] with R >= 1, got ${fmtShape(M.shape)}`);
  }
  checkEvenR(op, opts.type, M.shape[0], `M ${fmtShape(M.shape)}`);
  return moraGeometry(opts.inFeatures, opts.outFeatures, M.shape[0], opts.type);
}

function check(op: string, x: Tensor, M: Tensor, opts: MoraOptions): MoraGeometry {
  checkOptions(op, opts);
  if (x.dtype !== 'float32') fail(op, `x must be float32, got ${x.describe()}`);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== opts.inFeatures) {
    fail(
      op,
      `x ${fmtShape(x.shape)} must be [..., inFeatures = ${opts.inFeatures}] (its last dim is the input features); M is ${fmtShape(M.shape)}`,
    );
  }
  return checkM(op, M, opts);
}

// ---- host-side math shared by the float64 loops and the naive twin ----------------------------------

/** Uneven contiguous groups of a length f into R groups (spec section 4). */
export function groupOf(i: number, f: number, R: number): number {
  const nr = Math.floor(f / R);
  const mr = nr + 1;
  const mm = (f - R * nr) * mr;
  return i < mm ? Math.floor(i / mr) : f - R * nr + Math.floor((i - mm) / nr);
}

/** inv_freq[i] = 1 / 10000^(2i/R) (i < R/2) in float32, as the reference builds it. */
export function invFreq(R: number): Float64Array {
  const f = new Float64Array(R / 2);
  for (let i = 0; i < R / 2; i++) f[i] = Math.fround(1 / Math.fround(10000 ** Math.fround((2 * i) / R)));
  return f;
}

/** θ(c, j) = c · inv_freq[j mod R/2], the float32 product (torch.outer of arange and inv_freq). */
function theta(invf: Float64Array, c: number, j: number): number {
  return Math.fround(c * invf[j % invf.length]);
}

// ---- the float64 reference loops (direct from the spec's definitions) ------------------------------

/** The R-vectors M multiplies for one token: one (types 1-4, truncation) or n (types 6, decoupling). */
function compressToken(p: MoraParams, x: ArrayLike<number>, off: number, invf: Float64Array): Float64Array[] {
  const { code, k, R, n } = p;
  const xpad = new Float64Array(n * R);
  for (let q = 0; q < n * R; q++) xpad[q] = x[off + (q % k)];
  if (isStrided(code)) {
    const c = new Float64Array(R); // c[j] = Σ x_pad[i] over i ≡ j (mod R)
    for (let q = 0; q < n * R; q++) c[q % R] += xpad[q];
    return [c];
  }
  if (isGroups(code)) {
    const c = new Float64Array(R); // c[g] = Σ of the uneven contiguous group g
    for (let i = 0; i < k; i++) c[groupOf(i, k, R)] += x[off + i];
    return [c];
  }
  if (isTruncation(code)) {
    const c = new Float64Array(R); // c = x[0 .. R), zeros past k
    for (let j = 0; j < Math.min(R, k); j++) c[j] = x[off + j];
    return [c];
  }
  const chunks: Float64Array[] = [];
  for (let c = 0; c < n; c++) {
    const v = xpad.slice(c * R, c * R + R);
    if (isRotated(code)) {
      // v' = v·cos θ + rotate_half(v)·sin θ,  rotate_half(v) = concat(-v[R/2:], v[:R/2])
      const h = R / 2;
      const r = new Float64Array(R);
      for (let j = 0; j < R; j++) {
        const th = theta(invf, c, j);
        const half = j < h ? -v[j + h] : v[j - h];
        r[j] = v[j] * Math.cos(th) + half * Math.sin(th);
      }
      chunks.push(r);
    } else chunks.push(v);
  }
  return chunks;
}

/** Output position o -> [chunk, row a of z] it copies, or null (truncation's zeros). */
function decompSource(p: MoraGeometry, o: number): [number, number] | null {
  const { code, d, R, n } = p;
  if (isTileOut(code)) return [0, o % R];
  if (isGroupsOut(code)) return [0, groupOf(o, d, R)];
  if (isTruncation(code)) return o < R ? [0, o] : null;
  const q = o % (n * R); // concat of the n chunk outputs, tiled (nR < d) or truncated (nR >= d)
  return [Math.floor(q / R), q % R];
}

function forwardCpu(x: ArrayLike<number>, M: ArrayLike<number>, y: Float64Array | Float32Array | Int32Array, p: MoraParams): void {
  const { T, k, d, R } = p;
  const invf = isChunked(p.code) ? invFreq(R) : new Float64Array(0);
  for (let t = 0; t < T; t++) {
    const z = compressToken(p, x, t * k, invf).map((v) => {
      const out = new Float64Array(R); // z = M v
      for (let a = 0; a < R; a++) {
        let s = 0;
        for (let j = 0; j < R; j++) s += M[a * R + j] * v[j];
        out[a] = s;
      }
      return out;
    });
    for (let o = 0; o < d; o++) {
      const src = decompSource(p, o);
      y[t * d + o] = src ? z[src[0]][src[1]] : 0;
    }
  }
}

// g = dL/dy. u = f_decompᵀ g; dx = f_compᵀ(Mᵀ u) (type 6: each chunk gets Rot_cᵀ Mᵀ u_c; x_pad positions
// p add onto x[p mod k], the wrap-around ones onto x[0..pad)). For dM = Σ_tokens Σ_chunks u_c v_cᵀ the
// kernel writes the operands of that cross-token reduction, U (R, K) and V (R, K) with K = nc·T
// (chunk, token) pairs: dM = U Vᵀ (the op's second backward dispatch).
function backwardCpu(
  g: ArrayLike<number>,
  x: ArrayLike<number>,
  M: ArrayLike<number>,
  dx: Float64Array | Float32Array | Int32Array,
  U: Float64Array | Float32Array | Int32Array,
  V: Float64Array | Float32Array | Int32Array,
  p: MoraParams,
): void {
  const { T, k, d, R, n, nc, code } = p;
  const invf = isChunked(code) ? invFreq(R) : new Float64Array(0);
  const chunks = isChunked(code) ? n : 1;
  const K = nc * T;
  for (let t = 0; t < T; t++) {
    const u = Array.from({ length: chunks }, () => new Float64Array(R));
    for (let o = 0; o < d; o++) {
      const src = decompSource(p, o);
      if (src) u[src[0]][src[1]] += g[t * d + o];
    }
    if (p.wantDM) {
      const v = compressToken(p, x, t * k, invf);
      for (let c = 0; c < nc; c++) {
        for (let a = 0; a < R; a++) {
          U[a * K + c * T + t] = u[c][a];
          V[a * K + c * T + t] = v[c][a];
        }
      }
    }
    if (!p.wantDx) continue;
    // dv_c = Mᵀ u_c, then Rot_cᵀ for type 6
    const dv = u.map((uc, c) => {
      const w = new Float64Array(R);
      for (let j = 0; j < R; j++) {
        let s = 0;
        for (let a = 0; a < R; a++) s += M[a * R + j] * uc[a];
        w[j] = s;
      }
      if (!isRotated(code)) return w;
      // Rotᵀ w = w·cos θ - rotate_half(w)·sin θ
      const h = R / 2;
      const r = new Float64Array(R);
      for (let l = 0; l < R; l++) {
        const th = theta(invf, c, l);
        r[l] = w[l] * Math.cos(th) + (l < h ? w[l + h] : -w[l - h]) * Math.sin(th);
      }
      return r;
    });
    for (let i = 0; i < k; i++) dx[t * k + i] = 0;
    if (isStrided(code)) {
      for (let q = 0; q < n * R; q++) dx[t * k + (q % k)] += dv[0][q % R];
    } else if (isGroups(code)) {
      for (let i = 0; i < k; i++) dx[t * k + i] = dv[0][groupOf(i, k, R)];
    } else if (isTruncation(code)) {
      for (let i = 0; i < Math.min(k, R); i++) dx[t * k + i] = dv[0][i];
    } else {
      for (let q = 0; q < n * R; q++) dx[t * k + (q % k)] += dv[Math.floor(q / R)][q % R];
    }
  }
}

// ΔW in closed form (spec section 5, with the cyclic padding: Σ over x_pad preimages p ≡ i mod k).
function deltaCpu(M: ArrayLike<number>, W: Float64Array | Float32Array | Int32Array, p: MoraGeometry): void {
  const { code, k, d, R, n } = p;
  const invf = isRotated(code) ? invFreq(R) : new Float64Array(0);
  const bmat = (c: number, a: number, l: number): number => {
    // (M · Rot_c)[a, l] = M[a, l] cos θ_l + sin θ_l · (l < R/2 ? M[a, l + R/2] : -M[a, l - R/2])
    if (!isRotated(code)) return M[a * R + l];
    const h = R / 2;
    const th = theta(invf, c, l);
    return M[a * R + l] * Math.cos(th) + Math.sin(th) * (l < h ? M[a * R + l + h] : -M[a * R + l - h]);
  };
  for (let o = 0; o < d; o++) {
    const row = isGroupsOut(code) ? groupOf(o, d, R) : o % R;
    for (let i = 0; i < k; i++) {
      let w = 0;
      if (isStrided(code)) {
        for (let q = i; q < n * R; q += k) w += M[row * R + (q % R)];
      } else if (isGroups(code)) {
        w = M[row * R + groupOf(i, k, R)];
      } else if (isTruncation(code)) {
        w = o < R && i < R ? M[o * R + i] : 0;
      } else {
        const q = o % (n * R);
        const c = Math.floor(q / R);
        for (let s = i; s < n * R; s += k) if (Math.floor(s / R) === c) w += bmat(c, q % R, s % R);
      }
      W[o * k + i] = w;
    }
  }
}

// ---- kernels ----------------------------------------------------------------------------------------

/** The fused kernel joined with its product (and, for the subgroup one, St's size), with the type names. */
const moraShader = (kernel: string, p: MoraParams) =>
  withConstants(p.tile.sg ? `${kernel}+mora_product_sg` : `${kernel}+mora_product_smem`, {
    ...MORA_TYPE_CONSTANTS,
    ...(p.tile.sg ? { ST_ROWS: sgRows(p.R, p.tile) } : {}),
  });

const typeLabel = (p: MoraGeometry) => `type ${typeName(p.type)}`;

// Two kernels behind one name: on CPU adapters where its private arrays fit (`rowsFit`),
// kernels/mora_forward_rows.wgsl (each x entry read once, y written as whole vec4s); else
// kernels/mora_forward.wgsl (a workgroup per token block, chunk and row range of M).
const rowsGrid = (p: MoraParams) => ({ tb: rowsBlocks(p.T), acols: 0, ab: 0, total: p.wantDx || p.wantDM ? rowsBlocks(p.T) : 0 });

const forwardKernel = defineKernel<MoraParams>({
  name: 'mora.forward',
  label: (p) => `mora.forward:${typeLabel(p)}${rowsFit(p) ? ' rows' : ''}`,
  cpu: ([x, M], [y], p) => forwardCpu(x, M, y, p),
  gpu: {
    shader: (p) =>
      rowsFit(p) ? withConstants('mora_forward_rows', { ...MORA_TYPE_CONSTANTS, ...rowsArrays(p) }) : moraShader('mora_forward', p),
    constants: (p) => (rowsFit(p) ? { TYPE: p.code } : tileConstants(p, false)),
    uniforms: (p) => uniforms(p, rowsFit(p) ? rowsGrid(p) : grid(p, false)),
    workgroups: (p) => grid1d((rowsFit(p) ? rowsGrid(p) : grid(p, false)).total, 1),
  },
});

// As the forward: kernels/mora_backward_rows.wgsl where `rowsFit`, else kernels/mora_backward.wgsl.
const backwardKernel = defineKernel<MoraParams>({
  name: 'mora.backward',
  label: (p) => `mora.backward:${typeLabel(p)}${rowsFit(p) ? ' rows' : ''}`,
  cpu: ([g, x, M], [dx, U, V], p) => backwardCpu(g, x, M, dx, U, V, p),
  gpu: {
    shader: (p) =>
      rowsFit(p) ? withConstants('mora_backward_rows', { ...MORA_TYPE_CONSTANTS, ...rowsArrays(p) }) : moraShader('mora_backward', p),
    constants: (p) => (rowsFit(p) ? { TYPE: p.code } : tileConstants(p, true)),
    uniforms: (p) => uniforms(p, rowsFit(p) ? rowsGrid(p) : grid(p, true)),
    workgroups: (p) => grid1d((rowsFit(p) ? rowsGrid(p) : grid(p, true)).total, 1),
  },
});

const deltaKernel = defineKernel<MoraParams>({
  name: 'mora.delta',
  label: (p) => `mora.delta:${typeLabel(p)}`,
  cpu: ([M], [W], p) => deltaCpu(M, W, p),
  gpu: {
    shader: withConstants('mora_delta', MORA_TYPE_CONSTANTS),
    constants: (p) => ({ TYPE: p.code }),
    uniforms: (p) => uniforms(p, { tb: 0, acols: 0, ab: 0, total: 0 }),
    workgroups: (p) => grid1d(p.d * p.k, 256),
  },
});

interface DmParams {
  R: number;
  K: number;
  tile: MoraTile;
}

// P[s] = U[:, slice s] V[:, slice s]ᵀ (U, V (R, K)): the cross-token reduction of the backward with the
// subgroup product, in slices of K (dmGrid) that the op sums: dM = Σ_s P[s].
const dmKernel = defineKernel<DmParams>({
  name: 'mora.dm',
  cpu: ([U, V], [P], { R, K }) => {
    const { kslice, slices } = dmGrid(R, K);
    for (let sl = 0; sl < slices; sl++) {
      for (let a = 0; a < R; a++) {
        for (let j = 0; j < R; j++) {
          let s = 0;
          for (let t = sl * kslice; t < Math.min(K, (sl + 1) * kslice); t++) s += U[a * K + t] * V[j * K + t];
          P[(sl * R + a) * R + j] = s;
        }
      }
    }
  },
  gpu: {
    shader: ({ R, K, tile }) => withConstants('mora_dm', { ST_ROWS: sgRows(dmGrid(R, K).kslice, tile) }),
    uniforms: ({ R, K }) => {
      const gr = dmGrid(R, K);
      return [R, K, gr.jb, gr.arows, gr.ab, gr.kslice, gr.total].map((v) => ['u32', v] as UniformField);
    },
    workgroups: ({ R, K }) => grid1d(dmGrid(R, K).total, 1),
  },
});

// ---- the op ------------------------------------------------------------------------------------------

/**
 * The MoRA update f_decomp(M · f_comp(x)): x [..., inFeatures], M [R, R] -> [..., outFeatures].
 * Fused: one dispatch forward; backward: one for dx (and dM's operands) plus the dM reduction.
 * Equal to x · ΔWᵀ with ΔW = deltaWeight(M, opts). No scaling or dropout (the adapter's business).
 */
export function mora(x: Tensor, M: Tensor, opts: MoraOptions): Tensor {
  const op = 'mora';
  const geo = check(op, x, M, opts);
  const T = numel(x.shape.slice(0, -1));
  const tile = tileConfig(x.backend);
  const params: MoraParams = { ...geo, T, wantDx: true, wantDM: true, tile };
  const y = run1(op, forwardKernel, [x, M], { shape: [...x.shape.slice(0, -1), geo.d] }, params);
  return record(
    y,
    op,
    [x, M],
    (g) => {
      const backend = g.backend.name;
      const wantDx = x.requiresGrad;
      const wantDM = M.requiresGrad;
      if (T === 0) return [wantDx ? zeros(x.shape, { backend }) : null, wantDM ? zeros(M.shape, { backend }) : null];
      const want: MoraParams = { ...params, wantDx, wantDM };
      // dispatch 1: dx, and the compressed operands of dM: U (R, nc·T) and V (R, nc·T) (placeholders when unwanted)
      const K = wantDM ? geo.nc * T : 1;
      const [dx, U, V] = runKernel(
        'mora.backward',
        backwardKernel,
        [g, x, M],
        [{ shape: x.shape }, { shape: [geo.R, K] }, { shape: [geo.R, K] }],
        want,
      );
      if (!wantDx) dx.dispose();
      // dispatch 2: dM = Σ_(c,t) u_{t,c} v_{t,c}ᵀ = U Vᵀ, the cross-token reduction (docs/mora.md "The kernels"):
      // mora.dm where the forward runs the subgroup product (and on cpu: its float64 loop), in slices of
      // K summed by one more dispatch when there are several; else the matmul
      const ownReduction = tile.sg || backend === 'cpu';
      let dM: Tensor | null = null;
      if (wantDM && ownReduction) {
        const { slices } = dmGrid(geo.R, K);
        const P = run1('mora', dmKernel, [U, V], { shape: [slices, geo.R, geo.R] }, { R: geo.R, K, tile }); // (slices, R, R)
        dM = slices === 1 ? reshape(P, [geo.R, geo.R]) : sum(P, 0);
        if (slices > 1) P.dispose();
      } else if (wantDM) dM = matmulT(U, V, { transB: true });
      U.dispose();
      V.dispose();
      return [wantDx ? dx : null, dM];
    },
    [x, M],
  );
}

/**
 * ΔW [outFeatures, inFeatures] with mora(x) = x · ΔWᵀ, from the closed form in ONE dispatch (for
 * merge / unmerge: W += ΔW, W -= ΔW). Not recorded on the tape: gradients flow through `mora`.
 */
export function deltaWeight(M: Tensor, opts: MoraOptions): Tensor {
  const op = 'deltaWeight';
  checkOptions(op, opts);
  const geo = checkM(op, M, opts);
  return run1(
    op,
    deltaKernel,
    [M],
    { shape: [geo.d, geo.k] },
    { ...geo, T: 0, wantDx: false, wantDM: false, tile: { wgt: 8, wga: 1, smem: 0, sg: false, rows: false } },
  ); // no blocking: one thread per entry
}

// ---- the naive twin ------------------------------------------------------------------------------------

/**
 * `mora` from primitive tensor ops only (reshape, slice, concat, sum, matmul, mul/add, indexSelect),
 * differentiable through the ordinary tape: the oracle of the fused kernels and the benchmark
 * baseline. Same options, same result (up to float rounding).
 */
export function moraNaive(x: Tensor, M: Tensor, opts: MoraOptions): Tensor {
  const op = 'moraNaive';
  const { code, k, d, R, n } = check(op, x, M, opts);
  const lead = x.shape.slice(0, -1);
  const T = numel(lead);
  const backend = x.backend.name;
  const index = (len: number, f: (i: number) => number) =>
    tensor(
      Array.from({ length: len }, (_, i) => f(i)),
      [len],
      { dtype: 'int32', backend },
    );
  const zerosT = (cols: number) => zeros([T, cols], { backend });
  const x2 = reshape(x, [T, k]); // (T, k)
  const xpad = () =>
    indexSelect(
      x2,
      1,
      index(n * R, (q) => q % k),
    ); // (T, nR): wrap-around padding

  // compression -> v: (T, R), or (T, n, R) chunks
  let v: Tensor;
  if (isStrided(code)) {
    v = sum(reshape(xpad(), [T, n, R]), 1); // (T, R): Σ over chunks
  } else if (isGroups(code)) {
    const nr = Math.floor(k / R);
    const m = k - R * nr; // m groups of nr + 1, then R - m of nr (nr = 0: empty groups -> 0)
    const parts: Tensor[] = [];
    if (m > 0) parts.push(sum(reshape(slice(x2, 1, 0, m * (nr + 1)), [T, m, nr + 1]), 2)); // (T, m)
    if (m < R) parts.push(nr > 0 ? sum(reshape(slice(x2, 1, m * (nr + 1), k), [T, R - m, nr]), 2) : zerosT(R - m)); // (T, R - m)
    v = parts.length === 1 ? parts[0] : concat(parts, 1);
  } else if (isTruncation(code)) {
    v = k >= R ? slice(x2, 1, 0, R) : concat([x2, zerosT(R - k)], 1); // (T, R)
  } else {
    v = reshape(xpad(), [T, n, R]); // (T, n, R)
    if (isRotated(code)) {
      // v' = v·cos θ + rotate_half(v)·sin θ, θ (n, R) by chunk index
      const h = R / 2;
      const invf = invFreq(R);
      const cos: number[] = [];
      const sin: number[] = [];
      for (let c = 0; c < n; c++) {
        for (let j = 0; j < R; j++) {
          cos.push(Math.cos(theta(invf, c, j)));
          sin.push(Math.sin(theta(invf, c, j)));
        }
      }
      const rh = concat([neg(slice(v, 2, h, R)), slice(v, 2, 0, h)], 2); // (T, n, R)
      v = add(mul(v, tensor(cos, [n, R], { backend })), mul(rh, tensor(sin, [n, R], { backend })));
    }
  }

  const z = matmul(v, transpose(M)); // M v per token (and chunk): (T, R) or (T, n, R)

  // decompression -> (T, d)
  let y: Tensor;
  if (isTileOut(code))
    y = indexSelect(
      z,
      1,
      index(d, (o) => o % R),
    );
  else if (isGroupsOut(code))
    y = indexSelect(
      z,
      1,
      index(d, (o) => groupOf(o, d, R)),
    );
  else if (isTruncation(code)) y = d <= R ? slice(z, 1, 0, d) : concat([z, zerosT(d - R)], 1);
  else
    y = indexSelect(
      reshape(z, [T, n * R]),
      1,
      index(d, (o) => o % (n * R)),
    ); // truncate / tile
  return reshape(y, [...lead, d]);
}
