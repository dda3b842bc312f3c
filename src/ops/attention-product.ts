// The six batched products of attention (q kᵀ, P v forward; g vᵀ, dS k, dSᵀ q, Pᵀ g backward) over
// the head layout, read and written through strides (kernels/attention_matmul.wgsl), so q, k, v and
// the output may stay [B, T, nh, hs] and no head split / merge copy is ever made. Not recorded on the
// tape: src/ops/attention.ts records the op as a whole. Grouped-query attention (nkv key/value heads
// shared by nh / nkv query heads each) is a head divisor on k and v, and the block sum (nblk) of the
// k and v gradients adds a group's query heads.
import { defineKernel, isCpuAdapter, type Backend, type KernelDef, type UniformField } from '../backend/interface.js';
import { Tensor } from '../tensor.js';
import { runInPlace } from './apply.js';

/** Where (b, h, row, col) of one operand lives: b·b + (h / hdiv)·h + g·blk + row·rs + col·cs. */
export interface OperandStrides {
  b: number;
  h: number;
  hdiv: number;
  blk: number;
  rs: number;
  cs: number;
}

/** The output's layout: (b, h, i, j) at b·b + h·h + i·rs + j. */
export interface OutStrides {
  b: number;
  h: number;
  rs: number;
}

export interface ProductDims {
  m: number;
  n: number;
  k: number;
  /** Blocks summed (the group size for k / v gradients, else 1). */
  nblk: number;
  /** Batch entries (b, h): batch = B · heads. */
  heads: number;
  batch: number;
}

interface ProductParams extends ProductDims {
  a: OperandStrides;
  b: OperandStrides;
  c: OutStrides;
  vec4: boolean;
  transA: boolean;
  transB: boolean;
  rm: number;
  wgx: number;
  wgy: number;
}

const rowGroups = (p: ProductParams): number => Math.ceil(p.m / (p.rm * p.wgy));
const MAX_WG = 65535;

function uniforms(p: ProductParams): UniformField[] {
  const u = (v: number): UniformField => ['u32', v];
  return [
    ...[p.m, p.n, p.k, p.nblk, p.heads, p.batch, rowGroups(p), 0].map(u),
    ...[p.a.b, p.a.h, p.a.hdiv, p.a.blk, p.a.rs, p.a.cs].map(u),
    ...[p.b.b, p.b.h, p.b.hdiv, p.b.blk, p.b.rs, p.b.cs].map(u),
    ...[p.c.b, p.c.h, p.c.rs, 0].map(u),
  ];
}

/** The float64 reference and the two entry points (`main`, `main_vec4`) share everything but the entry. */
const productDef = (entry: 'main' | 'main_vec4'): KernelDef<ProductParams> => ({
  name: 'attention.product',
  label: (p) => `attention.product${p.vec4 ? ':vec4' : ''}${p.transA ? ':tA' : ''}${p.transB ? ':tB' : ''}`,
  // float64 reference: C[b, h](i, j) = Σ_g Σ_p A(i, p) B(p, j) through the same strides
  cpu: ([A, B], [C], p) => {
    for (let bi = 0; bi < p.batch; bi++) {
      const bb = Math.floor(bi / p.heads);
      const h = bi % p.heads;
      const ao = bb * p.a.b + Math.floor(h / p.a.hdiv) * p.a.h;
      const bo = bb * p.b.b + Math.floor(h / p.b.hdiv) * p.b.h;
      const co = bb * p.c.b + h * p.c.h;
      for (let i = 0; i < p.m; i++) {
        for (let j = 0; j < p.n; j++) {
          let s = 0;
          for (let g = 0; g < p.nblk; g++) {
            const ar = ao + g * p.a.blk + i * p.a.rs;
            const bc = bo + g * p.b.blk + j * p.b.cs;
            for (let q = 0; q < p.k; q++) s += A[ar + q * p.a.cs] * B[bc + q * p.b.rs];
          }
          C[co + i * p.c.rs + j] = s;
        }
      }
    }
  },
  f16: 'alias', // operands and C in their float dtype, accumulation in f32
  gpu: {
    shader: 'attention_matmul',
    entry,
    constants: (p) => ({ RM: p.rm, WG_X: p.wgx, WG_Y: p.wgy, TRANS_A: +p.transA, TRANS_B: +p.transB }),
    uniforms,
    workgroups: (p) => {
      const x = Math.ceil(p.n / (4 * p.wgx));
      const total = rowGroups(p) * p.batch;
      return total <= MAX_WG ? [x, total, 1] : [x, MAX_WG, Math.ceil(total / MAX_WG)];
    },
  },
});
const scalarKernel = defineKernel(productDef('main'));
const vec4Kernel = defineKernel(productDef('main_vec4'));

/**
 * The vec4 entry point needs A contiguous along k (or along m: transA, a.rs = 1), B along n (or
 * along k: transB, b.rs = 1), C rows of whole vec4s, and every offset and stride a multiple of 4.
 */
function vec4Layout(
  d: ProductDims,
  a: OperandStrides,
  b: OperandStrides,
  c: OutStrides,
): { ok: boolean; transA: boolean; transB: boolean } {
  const transA = a.rs === 1 && a.cs !== 1;
  const transB = b.rs === 1 && b.cs !== 1;
  const m4 = (...v: number[]) => v.every((x) => x % 4 === 0);
  const aOk = transA ? m4(d.m, a.cs) : a.cs === 1 && m4(a.rs);
  const bOk = transB ? b.rs === 1 && m4(b.cs) : b.cs === 1 && m4(b.rs);
  const ok = aOk && bOk && m4(d.k, d.n, c.rs, c.b, c.h, a.b, a.h, a.blk, b.b, b.h, b.blk);
  return { ok, transA, transB };
}

/**
 * C = Σ_g A_g @ B_g per batch entry (b, h), written into `out` (its storage laid out as `c`; every
 * element of `out` must be covered by the product: the op allocates it without clearing).
 */
export function headProduct(
  op: string,
  A: Tensor,
  B: Tensor,
  out: Tensor,
  d: ProductDims,
  a: OperandStrides,
  b: OperandStrides,
  c: OutStrides,
): void {
  const backend: Backend = A.backend;
  const v = vec4Layout(d, a, b, c);
  const cpuLike = isCpuAdapter(backend.description);
  const rm = d.m >= 8 ? 8 : v.ok && v.transA ? 4 : d.m >= 4 ? 4 : d.m >= 2 ? 2 : 1;
  const p: ProductParams = {
    ...d,
    a,
    b,
    c,
    vec4: v.ok,
    transA: v.ok && v.transA,
    transB: v.ok && v.transB,
    rm,
    // lavapipe: 8 lanes (one SIMD group of one core, as kernels/matmul.wgsl); GPUs want 64+.
    wgx: cpuLike ? 8 : 16,
    wgy: cpuLike ? 1 : 4,
  };
  runInPlace(op, p.vec4 ? vec4Kernel : scalarKernel, [A, B], [out], p);
}

/** Element strides of a [B, T, n, hs] ('bthd') or [B, n, T, hs] ('bhtd') tensor as (b, head, t). */
export function headStrides(layout: 'bthd' | 'bhtd', T: number, n: number, hs: number): { b: number; h: number; t: number } {
  return layout === 'bthd' ? { b: T * n * hs, h: hs, t: n * hs } : { b: n * T * hs, h: T * hs, t: hs };
}

/** A fresh uninitialised tensor of `like`'s backend and dtype (the product writes every element). */
export function emptyLike(like: Tensor, shape: readonly number[]): Tensor {
  let n = 1;
  for (const s of shape) n *= s;
  return new Tensor(like.backend.alloc(n, like.dtype), shape, like.dtype);
}
