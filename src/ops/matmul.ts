// Matrix products with NumPy batch broadcasting: C[..., m, n] = A[..., m, k] @ B[..., k, n].
//
// One dispatch per product. Kernels (all read through strides, so transposed operands and broadcast
// batch dims cost no copies):
//   kernels/matmul.wgsl        `main`       register-blocked RM x 4 per invocation, scalar loads, any shape
//                              `main_vec4`  the same block with vec4 loads (k, n multiples of 4)
//                              `tiled`      shared-memory tiles, for real GPUs
//   kernels/matmul_sg.wgsl     `main`       CPU adapters with subgroups: 8 lanes own 32 rows of C, A's rows
//                              staged per lane, B's entries shared by subgroup broadcast (+ matmul_sg_vec4
//                              or matmul_sg_scalar: the loads of B and stores of C); C too is written
//                              through strides, so attention's head products run on it (`stridedProduct`)
//   kernels/matmul_naive.wgsl  `main`       one invocation per element of C: the naive twin
// `choose` below picks one by shape and adapter; the kernel switch 'matmul' (mg.testing.forceKernel,
// MORAGRAD_KERNEL=matmul=<variant>) forces one for tests and benchmarks ('fast' = the automatic
// choice among the fast kernels). The cpu backend runs the float64 triple loop below.
//
// 1-D operands follow torch.matmul: a vector on the left is a (1, k) row, on the right a (k, 1)
// column, and the added dim is dropped from the result (vector @ vector is a 0-D scalar).
// Longer than most op files: the four kernels above share one choice function, one binding and the
// torch.matmul shape rules, which are clearest side by side.
import { record } from '../autograd.js';
import { defineKernel, isCpuAdapter, type Backend, type KernelDef, type UniformField } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { broadcastShapes, numel, sameShape, stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backendOf, floatDtypeOf, runInPlace, runKernel } from './apply.js';
import { grid1d } from './grid.js';
import { sumTo } from './reduce.js';

export type MatmulVariant = 'naive' | 'fast' | 'scalar' | 'vec4' | 'tiled' | 'sg';

const TILE = ['rm', 'wgx', 'wgy', 'tk'] as const;
/** `mg.testing.forceKernel('matmul', variant, { rm, wgx, wgy, tk })`: the kernel and its tile. */
const matmulSwitch = defineKernelSwitch<MatmulVariant>('matmul', {
  naive: { about: 'one invocation per element of C (kernels/matmul_naive.wgsl)' },
  fast: { knobs: TILE, about: 'the automatic choice among scalar, vec4 and tiled (never naive)' },
  scalar: { knobs: TILE, about: 'register-blocked rm x 4 per invocation, scalar loads' },
  vec4: { knobs: TILE, about: 'the same block with vec4 loads (scalar where k or n is not a multiple of 4)' },
  tiled: { knobs: TILE, about: 'shared-memory tiles of tk along k (real GPUs)' },
  sg: {
    knobs: ['cw', 'st'],
    about: 'subgroup broadcast product, 32 rows x cw columns per 8-lane workgroup, K in passes of st rows (CPU adapters with subgroups)',
  },
});

export interface MatmulOptions {
  /** Use aᵀ: `a` is stored [..., k, m]. */
  transA?: boolean;
  /** Use bᵀ: `b` is stored [..., n, k]. */
  transB?: boolean;
}

// ---- kernels ---------------------------------------------------------------------------------------

/** Everything a dispatch needs; the same for every variant (the naive twin ignores the tile fields). */
interface MatmulParams {
  m: number;
  n: number;
  k: number;
  /** Product of the batch shape. */
  batch: number;
  /** Logical A (m, k): element (i, p) at i * aRs + p * aCs (plus the batch offset). */
  aRs: number;
  aCs: number;
  /** Logical B (k, n): element (p, j) at p * bRs + j * bCs. */
  bRs: number;
  bCs: number;
  transA: boolean;
  transB: boolean;
  /** Collapsed batch shape and each operand's batch strides in elements (0: broadcast). */
  batchShape: number[];
  aBatch: number[];
  bBatch: number[];
  /** C's (i, j) at its batch offset + i * cRs + j (the matmul: cRs = n, C contiguous). */
  cRs: number;
  cBatch: number[];
  /** Blocks summed into C (the matmul: 1); block g of A starts g * aBlk after the batch offset, of B g * bBlk. */
  nblk: number;
  aBlk: number;
  bBlk: number;
  /** Trace label prefix: 'matmul', or the op that runs the kernel through `stridedProduct`. */
  name: string;
  variant: Exclude<MatmulVariant, 'fast'>;
  /** Register tile height and workgroup shape (fast variants). */
  rm: number;
  wgx: number;
  wgy: number;
  tk: number;
  /** sg: columns of C per workgroup (a multiple of 8) and rows of K per pass (ST_ROWS). */
  cw: number;
  st: number;
}

const MAX_WG = 65535;

/** Spreads `total` workgroups over y and z (the kernels relinearise lin = y + z·ny). */
function yz(total: number): [number, number] {
  return total <= MAX_WG ? [total, 1] : [MAX_WG, Math.ceil(total / MAX_WG)];
}

/** Rows of C per workgroup of the subgroup kernel (8 lanes x 4 rows). */
const SG_ROWS = 32;

const rowGroups = (p: MatmulParams): number => Math.ceil(p.m / (p.variant === 'sg' ? SG_ROWS : p.rm * p.wgy));

const head = (p: MatmulParams): UniformField[] =>
  [p.m, p.n, p.k, p.batch, p.aRs, p.aCs, p.bRs, p.bCs, p.variant === 'naive' ? 0 : rowGroups(p), p.batchShape.length].map((v) => [
    'u32',
    v,
  ]);

/** The Params of kernels/matmul.wgsl and matmul_naive.wgsl (C contiguous, one block). */
function uniforms(p: MatmulParams): UniformField[] {
  return [...head(p), ['u32', 0], ['u32', 0], ['dims', p.batchShape], ['dims', p.aBatch], ['dims', p.bBatch]];
}

/** The Params of kernels/matmul_sg.wgsl: C's strides and the blocks too. */
function sgUniforms(p: MatmulParams): UniformField[] {
  return [
    ...head(p),
    ...[p.cw, p.cRs, p.nblk, p.aBlk, p.bBlk, 0].map((v): UniformField => ['u32', v]),
    ['dims', p.batchShape],
    ['dims', p.aBatch],
    ['dims', p.bBatch],
    ['dims', p.cBatch],
  ];
}

/** The float64 reference: C[bi](i, j) = Σ_g Σ_q A(i, q) B(q, j) through the strides, per batch entry. */
function cpuMatmul([A, B]: ArrayLike<number>[], [C]: { [i: number]: number }[], p: MatmulParams): void {
  const { m, n, k, aRs, aCs, bRs, bCs, batchShape } = p;
  for (let bi = 0; bi < p.batch; bi++) {
    let rem = bi;
    let oa = 0;
    let ob = 0;
    let oc = 0;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      const c = rem % batchShape[d];
      rem = Math.floor(rem / batchShape[d]);
      oa += c * p.aBatch[d];
      ob += c * p.bBatch[d];
      oc += c * p.cBatch[d];
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let g = 0; g < p.nblk; g++) {
          const a = oa + g * p.aBlk + i * aRs;
          const b = ob + g * p.bBlk + j * bCs;
          for (let q = 0; q < k; q++) acc += A[a + q * aCs] * B[b + q * bRs];
        }
        C[oc + i * p.cRs + j] = acc;
      }
    }
  }
}

const label = (p: MatmulParams): string => `${p.name}:${p.variant}${p.transA ? ':tA' : ''}${p.transB ? ':tB' : ''}`;

const tileConstants = (p: MatmulParams): Record<string, number> => ({ RM: p.rm, WG_X: p.wgx, WG_Y: p.wgy });

const KERNELS: Record<MatmulParams['variant'], KernelDef<MatmulParams>> = {
  scalar: defineKernel<MatmulParams>({
    name: 'matmul',
    label,
    cpu: cpuMatmul,
    f16: 'alias',
    gpu: {
      shader: 'matmul',
      entry: 'main',
      constants: tileConstants,
      uniforms,
      workgroups: (p) => [Math.ceil(p.n / (4 * p.wgx)), ...yz(rowGroups(p) * p.batch)],
    },
  }),
  vec4: defineKernel<MatmulParams>({
    name: 'matmul',
    label,
    cpu: cpuMatmul,
    f16: 'alias',
    gpu: {
      shader: 'matmul',
      entry: 'main_vec4',
      constants: (p) => ({ ...tileConstants(p), TRANS_A: p.transA ? 1 : 0, TRANS_B: p.transB ? 1 : 0 }),
      uniforms,
      workgroups: (p) => [Math.ceil(p.n / 4 / p.wgx), ...yz(rowGroups(p) * p.batch)],
    },
  }),
  tiled: defineKernel<MatmulParams>({
    name: 'matmul',
    label,
    cpu: cpuMatmul,
    f16: 'alias',
    gpu: {
      shader: 'matmul',
      entry: 'tiled',
      constants: (p) => ({ ...tileConstants(p), TK: p.tk }),
      uniforms,
      workgroups: (p) => [Math.ceil(p.n / (4 * p.wgx)), ...yz(rowGroups(p) * p.batch)],
    },
  }),
  sg: defineKernel<MatmulParams>({
    name: 'matmul',
    label,
    cpu: cpuMatmul,
    f16: 'alias',
    gpu: {
      shader: (p) => `matmul_sg+matmul_sg_${sgVec4(p) ? 'vec4' : 'scalar'}#ST_ROWS=${p.st}`,
      constants: (p) => ({ TRANS_B: p.transB ? 1 : 0 }),
      uniforms: sgUniforms,
      workgroups: (p) => [Math.ceil(p.n / p.cw), ...yz(rowGroups(p) * p.batch)],
    },
  }),
  naive: defineKernel<MatmulParams>({
    name: 'matmul',
    label,
    cpu: cpuMatmul,
    f16: 'alias',
    gpu: {
      shader: 'matmul_naive',
      uniforms,
      workgroups: (p) => grid1d(p.batch * p.m * p.n, 64),
    },
  }),
};

/**
 * sg: vec4 loads of B and stores of C where B's and C's rows are runs of whole vec4s (the matmul:
 * n % 4 == 0, and k % 4 == 0 when B is read transposed): B contiguous along n (or along k: transB)
 * and every stride and offset of B and C a multiple of 4.
 */
function sgVec4(p: MatmulParams): boolean {
  const m4 = (v: readonly number[]) => v.every((x) => x % 4 === 0);
  const bRows = p.transB ? p.bRs === 1 && m4([p.k, p.bCs]) : p.bCs === 1 && m4([p.bRs]);
  return bRows && m4([p.n, p.cRs, p.bBlk, ...p.bBatch, ...p.cBatch]);
}

/** Fewer rows than this leave most of the subgroup kernel's 32-row block idle: the vec4 kernel wins. */
export const SG_MIN_M = 16;
/** Most rows of K per pass of the subgroup kernel (its private St per lane: build time grows with it). */
const SG_MAX_ST = 256;
/**
 * Rows per pass for outputs (all batch entries) under SG_BIG_OUTPUT elements. lavapipe's compile time
 * grows with ST_ROWS (the private staging array, per pipeline variant), and a pass after the first
 * only re-reads and adds an output this small, so 256 rows pay only for big outputs, where fewer
 * passes over C win; docs/performance.md "Cold shader compiles" has the measurements.
 */
const SG_SMALL_MAX_ST = 128;
const SG_BIG_OUTPUT = 256 * 256;
/** Workgroups the subgroup kernel should fill before it splits the columns (each split restages A). */
const SG_TARGET_WORKGROUPS = 32;

/**
 * The subgroup kernel's tile: st rows of K per pass (a power of two, 64..SG_MAX_ST, at most
 * SG_SMALL_MAX_ST for small outputs: one pipeline for all small k) and cw columns per workgroup: all of n unless the row blocks leave the CPU's threads
 * idle, then split into enough column groups to make SG_TARGET_WORKGROUPS.
 */
function sgTile(p: Pick<MatmulParams, 'm' | 'n' | 'k' | 'batch'>, knobs: Readonly<Record<string, number>>): { cw: number; st: number } {
  const blocks = Math.ceil(p.n / 8);
  const groups = Math.ceil(p.m / SG_ROWS) * p.batch;
  const split = Math.max(1, Math.min(blocks, Math.ceil(SG_TARGET_WORKGROUPS / groups)));
  const cw = knobs.cw ?? 8 * Math.ceil(blocks / split);
  const maxSt = p.batch * p.m * p.n >= SG_BIG_OUTPUT ? SG_MAX_ST : SG_SMALL_MAX_ST;
  const st = knobs.st ?? Math.min(maxSt, 2 ** Math.ceil(Math.log2(Math.max(p.k, 64))));
  if (!(cw >= 8 && cw % 8 === 0)) fail('matmul', `sg: columns per workgroup cw = ${cw} must be a positive multiple of 8`);
  if (!(st >= 4 && st <= 1024 && (st & (st - 1)) === 0)) fail('matmul', `sg: rows per pass st = ${st} must be a power of two in 4..1024`);
  return { cw, st };
}

/**
 * Picks the kernel and its tile: on CPU adapters with subgroups of 8 lanes the subgroup kernel (for
 * m >= SG_MIN_M), else vec4 where the shapes allow, else scalar; on GPUs shared-memory tiles; the naive twin only on
 * narrow outputs (n <= 2: matrix @ vector, where the register blocks would leave most columns idle)
 * and outputs of a few dozen elements, where it ties; tiny k is no reason for naive
 * (docs/performance.md has the measurements).
 */
type ProblemParams = Omit<MatmulParams, 'variant' | 'rm' | 'wgx' | 'wgy' | 'tk' | 'cw' | 'st'>;

/** The 8 lanes of the subgroup kernel's workgroup are one subgroup. */
const hasSubgroups = (b: Backend): boolean => (b.subgroups?.min ?? 0) >= 8;

/** Whether the subgroup kernel is the fast product on `b`: a CPU adapter with subgroups of 8+ lanes. */
export const subgroupMatmul = (b: Backend): boolean => b.name === 'webgpu' && isCpuAdapter(b.description) && hasSubgroups(b);

/** The subgroup kernel's params (fails on a device whose subgroups cannot hold its 8 lanes). */
function sgParams(op: string, b: Backend, p: ProblemParams, knobs: Readonly<Record<string, number>>): MatmulParams {
  if (b.name === 'webgpu' && !hasSubgroups(b))
    fail(
      op,
      `the subgroup kernel needs subgroups of at least 8 lanes; this device has ${b.subgroups ? `${b.subgroups.min}-${b.subgroups.max}` : 'none'}`,
    );
  return { ...p, variant: 'sg', rm: 0, wgx: 8, wgy: 1, tk: 0, ...sgTile(p, knobs) };
}

function choose(b: Backend, p: ProblemParams): MatmulParams {
  const f = matmulSwitch.forced();
  const forced = f?.variant ?? null;
  const vec4ok = p.k % 4 === 0 && p.n % 4 === 0 && (!p.transA || p.m % 4 === 0);
  const cpuLike = isCpuAdapter(b.description); // no shared-memory tiling there
  const hasSg = hasSubgroups(b);
  const noSg = { cw: 0, st: 0 };
  let variant: MatmulParams['variant'];
  if (forced && forced !== 'fast') {
    variant = forced === 'vec4' && !vec4ok ? 'scalar' : forced;
  } else if (forced !== 'fast' && (p.n <= 2 || p.batch * p.m * p.n <= 64)) {
    variant = 'naive';
  } else if (!cpuLike && p.m >= 32 && p.n >= 32 && p.k >= 16) {
    variant = 'tiled';
  } else if (cpuLike && hasSg && p.m >= SG_MIN_M) {
    variant = 'sg';
  } else {
    variant = vec4ok ? 'vec4' : 'scalar';
  }
  const t = f?.params ?? {};
  if (variant === 'sg') return sgParams('matmul', b, p, forced === 'sg' ? t : {});
  // Register tile height: 8 rows, fewer for short matrices (a multiple of 4 for vec4 with transA).
  let rm = p.m >= 8 ? 8 : p.m >= 4 ? 4 : p.m >= 2 ? 2 : 1;
  if (variant === 'vec4' && p.transA) rm = p.m >= 8 ? 8 : 4;
  if (variant !== 'naive' && TILE.some((k) => t[k] !== undefined)) {
    const trm = t.rm ?? rm;
    if (!(trm >= 1 && trm <= 8)) fail('matmul', `tile rows rm = ${trm} must be in 1..8 (MAX_RM in kernels/matmul.wgsl)`);
    const wgx = t.wgx ?? (variant === 'tiled' ? 16 : 8);
    const wgy = t.wgy ?? (variant === 'tiled' ? 16 : 1);
    if (wgx < 1 || wgy < 1 || (t.tk ?? 16) < 1) fail('matmul', `tile ${JSON.stringify(t)}: wgx, wgy and tk must be at least 1`);
    return { ...p, variant, rm: variant === 'vec4' && p.transA ? Math.max(4, trm - (trm % 4)) : trm, wgx, wgy, tk: t.tk ?? 16, ...noSg };
  }
  if (variant === 'tiled') return { ...p, variant, rm: 4, wgx: 16, wgy: 16, tk: 16, ...noSg };
  // lavapipe: a workgroup of 8 is one SIMD vector of one core; GPUs want 64+ invocations.
  return cpuLike ? { ...p, variant, rm, wgx: 8, wgy: 1, tk: 0, ...noSg } : { ...p, variant, rm, wgx: 16, wgy: 4, tk: 0, ...noSg };
}

// ---- shapes ----------------------------------------------------------------------------------------

/** An operand seen as a stack of matrices: `shape` is [...batch, rows, cols] over t's storage. */
interface Operand {
  t: Tensor;
  shape: readonly number[];
}

/**
 * Drops size-1 batch dims and merges neighbours that are contiguous in every operand (`strides[o]`:
 * operand o's batch strides in elements), so the kernels see at most 8 batch dims.
 */
function collapseBatch(
  op: string,
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const out = { shape: [] as number[], strides: strides.map(() => [] as number[]) };
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const L = out.shape.length - 1;
    if (L >= 0 && strides.every((s, o) => out.strides[o][L] === s[i] * shape[i])) {
      out.shape[L] *= shape[i];
      strides.forEach((s, o) => {
        out.strides[o][L] = s[i];
      });
    } else {
      out.shape.push(shape[i]);
      strides.forEach((s, o) => out.strides[o].push(s[i]));
    }
  }
  if (out.shape.length > 8) fail(op, `batch shape ${fmtShape(shape)} needs ${out.shape.length} dims after merging; the kernels support 8`);
  return out;
}

/** Batch strides (elements) of an operand's batch dims read as `outBatch` (0 on broadcast dims). */
function batchStrides(batch: readonly number[], matSize: number, outBatch: readonly number[]): number[] {
  const s = stridesOf(batch).map((v) => v * matSize);
  const off = outBatch.length - batch.length;
  return outBatch.map((_d, i) => (i < off || batch[i - off] === 1 ? 0 : s[i - off]));
}

/**
 * op(a) @ op(b) for stacks of matrices, without the tape: one dispatch. The result has shape
 * `outShape` (default [...batch, m, n]; any shape with that many elements, e.g. squeezed).
 */
function mmRaw(op: string, a: Operand, b: Operand, transA: boolean, transB: boolean, outShape?: readonly number[]): Tensor {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [k2, n] = transB ? [bc, br] : [br, bc];
  const aB = a.shape.slice(0, -2);
  const bB = b.shape.slice(0, -2);
  if (k !== k2) {
    fail(
      op,
      `inner dimensions differ: ${fmtShape(a.t.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.t.shape)}${transB ? 'ᵀ' : ''} has k = ${k} on the left and ${k2} on the right (expected [..., m, k] @ [..., k, n])`,
    );
  }
  let outBatch: number[];
  try {
    outBatch = broadcastShapes(op, aB, bB);
  } catch {
    fail(
      op,
      `batch dims ${fmtShape(aB)} of ${fmtShape(a.t.shape)} and ${fmtShape(bB)} of ${fmtShape(b.t.shape)} cannot be broadcast (each dim must match or be 1)`,
    );
  }
  const shape = [...outBatch, m, n];
  const c = collapseBatch(op, outBatch, [
    batchStrides(aB, ar * ac, outBatch),
    batchStrides(bB, br * bc, outBatch),
    stridesOf(outBatch).map((s) => s * m * n),
  ]);
  const backend = backendOf(op, [a.t, b.t]);
  const params = choose(backend, {
    m,
    n,
    k,
    batch: numel(outBatch),
    aRs: transA ? 1 : k,
    aCs: transA ? m : 1,
    bRs: transB ? 1 : n,
    bCs: transB ? k : 1,
    transA,
    transB,
    batchShape: c.shape,
    aBatch: c.strides[0],
    bBatch: c.strides[1],
    cBatch: c.strides[2],
    cRs: n,
    nblk: 1,
    aBlk: 0,
    bBlk: 0,
    name: 'matmul',
  });
  return runKernel(op, KERNELS[params.variant], [a.t, b.t], [{ shape: outShape ?? shape }], params, backend)[0];
}

/** A tensor of `shape` over t's storage (t's storage moves to it; t is disposed). */
function viewAs(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const v = new Tensor(t.storage, shape, t.dtype);
  t.dispose();
  return v;
}

/** The gradient of an operand from the gradient of its matrix view: batch-reduce, then reshape. */
function toOperand(g: Tensor, mat: readonly number[], shape: readonly number[]): Tensor {
  let r = g;
  if (!sameShape(g.shape, mat)) {
    r = sumTo(g, mat);
    g.dispose();
  }
  return viewAs(r, shape);
}

function checkOperands(op: string, a: Tensor, b: Tensor, minRank: number): void {
  if (a instanceof Tensor && b instanceof Tensor) floatDtypeOf(op, [a, b]);
  for (const [t, side] of [
    [a, 'left'],
    [b, 'right'],
  ] as const) {
    if (!(t instanceof Tensor)) fail(op, `the ${side} operand must be a Tensor, got ${String(t)}`);
    if (!isFloat(t.dtype))
      fail(op, `expects float32 or float16 tensors, got ${t.describe()} on the ${side} (cast int32 with .cast('float32'))`);
    if (t.ndim < minRank) {
      fail(
        op,
        minRank === 1
          ? `0-D operands are not supported (${fmtShape(a.shape)} @ ${fmtShape(b.shape)}); use mul for scalars`
          : `expects tensors of rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
      );
    }
  }
}

/**
 * The recorded op: op(a) @ op(b) where `aMat`/`bMat` are the matrix views of a and b.
 *   C = op(A) @ op(B)
 *   d op(A) = dC @ op(B)ᵀ,   d op(B) = op(A)ᵀ @ dC
 *   transA: dA = (dC @ op(B)ᵀ)ᵀ = op(B) @ dCᵀ;   transB: dB = (op(A)ᵀ @ dC)ᵀ = dCᵀ @ op(A)
 * then summed over the batch dims the operand was broadcast along (sumTo) and reshaped back.
 */
function product(
  op: string,
  a: Tensor,
  b: Tensor,
  aMat: readonly number[],
  bMat: readonly number[],
  transA: boolean,
  transB: boolean,
  outShape?: readonly number[],
): Tensor {
  const A: Operand = { t: a, shape: aMat };
  const B: Operand = { t: b, shape: bMat };
  const y = mmRaw(op, A, B, transA, transB, outShape);
  // (batch..., m, n): the matrix view of y and of its gradient
  const m = transA ? aMat[aMat.length - 1] : aMat[aMat.length - 2];
  const n = transB ? bMat[bMat.length - 2] : bMat[bMat.length - 1];
  const yMat = [...broadcastShapes(op, aMat.slice(0, -2), bMat.slice(0, -2)), m, n];
  return record(
    y,
    op,
    [a, b],
    (g) => {
      const G: Operand = { t: g, shape: yMat };
      let da: Tensor | null = null;
      let db: Tensor | null = null;
      if (a.requiresGrad) {
        const full = transA ? mmRaw(op, B, G, transB, true) : mmRaw(op, G, B, false, !transB); // (batch..., rows, cols) of a
        da = toOperand(full, aMat, a.shape);
      }
      if (b.requiresGrad) {
        const full = transB ? mmRaw(op, G, A, true, transA) : mmRaw(op, A, G, !transA, false); // (batch..., rows, cols) of b
        db = toOperand(full, bMat, b.shape);
      }
      return [da, db];
    },
    [a, b],
  );
}

// ---- strided products for other ops -------------------------------------------------------------------

/** One operand of `stridedProduct`: (row, col) of block g of batch entry bi at Σ_d bi_d·batch[d] + g·blk + row·rs + col·cs. */
export interface StridedOperand {
  batch: readonly number[];
  blk: number;
  rs: number;
  cs: number;
}

/** C[bi](i, j) = Σ_{g < nblk} Σ_{p < k} A[bi, g](i, p) · B[bi, g](p, j): (m, k) @ (k, n) per batch entry and block. */
export interface StridedProductSpec {
  m: number;
  n: number;
  k: number;
  nblk: number;
  /** The batch shape (any number of dims; size-1 and contiguous ones are merged). */
  batchShape: readonly number[];
  a: StridedOperand;
  b: StridedOperand;
  /** C's (i, j) of batch entry bi at Σ_d bi_d·batch[d] + i·rs + j. */
  c: { batch: readonly number[]; rs: number };
}

/**
 * The spec's product on the subgroup kernel for `op`, written into `out` (every element of C must be
 * an element of `out`, which need not be cleared: the kernel writes each once per block); the
 * dispatch is labelled `name:sg`. For ops whose operands and result live in strided layouts
 * (attention's head products). `knobs`: the tile (cw, st), unset ones chosen by shape as for the matmul.
 */
export function stridedProduct(
  op: string,
  name: string,
  A: Tensor,
  B: Tensor,
  out: Tensor,
  s: StridedProductSpec,
  knobs: Readonly<Record<string, number>> = {},
): void {
  const c = collapseBatch(op, s.batchShape, [s.a.batch, s.b.batch, s.c.batch]);
  const p = sgParams(
    op,
    out.backend,
    {
      m: s.m,
      n: s.n,
      k: s.k,
      batch: numel(s.batchShape),
      aRs: s.a.rs,
      aCs: s.a.cs,
      bRs: s.b.rs,
      bCs: s.b.cs,
      // the kernel's B layouts: TRANS_B where B's k axis is the contiguous one
      transA: s.a.rs === 1 && s.a.cs !== 1,
      transB: s.b.rs === 1 && s.b.cs !== 1,
      batchShape: c.shape,
      aBatch: c.strides[0],
      bBatch: c.strides[1],
      cBatch: c.strides[2],
      cRs: s.c.rs,
      nblk: s.nblk,
      aBlk: s.a.blk,
      bBlk: s.b.blk,
      name,
    },
    knobs,
  );
  runInPlace(op, KERNELS.sg, [A, B], [out], p);
}

// ---- public ----------------------------------------------------------------------------------------

/**
 * Matrix product with torch.matmul semantics: [..., m, k] @ [..., k, n] -> [..., m, n], batch dims
 * broadcast (NumPy rules); a 1-D left operand is a row vector and a 1-D right operand a column
 * vector, the added dim dropped from the result. float32 or float16 (both operands the same; f32 accumulation).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  checkOperands(op, a, b, 1);
  const aMat = a.ndim === 1 ? [1, a.shape[0]] : a.shape; // (..., m, k)
  const bMat = b.ndim === 1 ? [b.shape[0], 1] : b.shape; // (..., k, n)
  // A 2-D right operand and a batched left one: fold the batch into the rows (one 2-D product; the
  // gradient of b then needs no batch reduction).
  if (b.ndim <= 2 && a.ndim > 2) {
    const k = a.shape[a.ndim - 1];
    const kb = bMat[0];
    if (k !== kb) {
      fail(
        op,
        `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} has k = ${k} on the left and ${kb} on the right (expected [..., m, k] @ [..., k, n])`,
      );
    }
    const out = b.ndim === 1 ? a.shape.slice(0, -1) : [...a.shape.slice(0, -1), bMat[1]];
    return product(op, a, b, [numel(a.shape.slice(0, -1)), k], bMat, false, false, out);
  }
  const outBatch = broadcastOrFail(op, a, b, aMat, bMat);
  const out = [...outBatch, ...(a.ndim === 1 ? [] : [aMat[aMat.length - 2]]), ...(b.ndim === 1 ? [] : [bMat[bMat.length - 1]])];
  return product(op, a, b, aMat, bMat, false, false, out);
}

function broadcastOrFail(op: string, a: Tensor, b: Tensor, aMat: readonly number[], bMat: readonly number[]): number[] {
  const k = aMat[aMat.length - 1];
  const kb = bMat[bMat.length - 2];
  if (k !== kb) {
    fail(
      op,
      `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} has k = ${k} on the left and ${kb} on the right (expected [..., m, k] @ [..., k, n])`,
    );
  }
  const aB = aMat.slice(0, -2);
  const bB = bMat.slice(0, -2);
  try {
    return broadcastShapes(op, aB, bB);
  } catch {
    fail(
      op,
      `batch dims ${fmtShape(aB)} of ${fmtShape(a.shape)} and ${fmtShape(bB)} of ${fmtShape(b.shape)} cannot be broadcast (each dim must match or be 1)`,
    );
  }
}

/**
 * op(a) @ op(b) with op = transpose of the last two dims where asked, read in place (no copy):
 * `transA`: a is stored [..., k, m]; `transB`: b is stored [..., n, k] (x @ Wᵀ for a Linear layer).
 * Both operands need rank >= 2; batch dims broadcast.
 */
export function matmulT(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmulT';
  checkOperands(op, a, b, 2);
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  // Batched left operand (not transposed) and a 2-D right one: fold the batch into the rows.
  if (!transA && b.ndim === 2 && a.ndim > 2) {
    const k = a.shape[a.ndim - 1];
    const n = transB ? b.shape[0] : b.shape[1];
    const rows = numel(a.shape.slice(0, -1));
    const kb = transB ? b.shape[1] : b.shape[0];
    if (k !== kb) {
      fail(
        op,
        `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} has k = ${k} on the left and ${kb} on the right (expected [..., m, k] @ [..., k, n])`,
      );
    }
    return product(op, a, b, [rows, k], b.shape, false, transB, [...a.shape.slice(0, -1), n]);
  }
  return product(op, a, b, a.shape, b.shape, transA, transB);
}
