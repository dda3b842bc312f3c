// The six batched products of attention (q kᵀ, P v forward; g vᵀ, dS k, dSᵀ q, Pᵀ g backward) over
// the head layout, read and written through strides, so q, k, v and the output may stay
// [B, T, nh, hs] and no head split / merge copy is ever made. Not recorded on the tape:
// src/ops/attention.ts records the op as a whole. Grouped-query attention (nkv key/value heads
// shared by nh / nkv query heads each) is a head divisor on k and v, and the block sum (nblk) of the
// k and v gradients adds a group's query heads.
//
// Two kernels (the switch 'attention.product'):
//   'sg'    the matmul's subgroup broadcast product (kernels/matmul_sg.wgsl via `stridedProduct`):
//           CPU adapters with subgroups, m >= SG_MIN_M, as for the matmul. The head divisor becomes
//           a broadcast batch dim: query head h = hk·G + i reads kv head hk (batch [B, nkv, G],
//           stride 0 along i on k and v).
//   'block' the register block of kernels/attention_matmul.wgsl: GPUs, adapters without subgroups,
//           short products; on lavapipe the twin the tests check 'sg' against.
import { defineKernel, isCpuAdapter, type Backend, type KernelDef, type UniformField } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import { Tensor } from '../tensor.js';
import { runInPlace } from './apply.js';
import { SG_MIN_M, type StridedProductSpec, stridedProduct, subgroupMatmul } from './matmul.js';

/** `mg.testing.forceKernel('attention.product', variant)`: the kernel of the six head products. */
const productSwitch = defineKernelSwitch<'sg' | 'block'>('attention.product', {
  sg: { knobs: ['cw', 'st'], about: "the matmul's subgroup broadcast product through the head strides (CPU adapters with subgroups)" },
  block: { about: 'the register block of kernels/attention_matmul.wgsl, vec4 loads where aligned (GPUs, adapters without subgroups)' },
});

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
  const forced = productSwitch.forced();
  if (forced ? forced.variant === 'sg' : subgroupMatmul(backend) && d.m >= SG_MIN_M) {
    stridedProduct(op, 'attention.product', A, B, out, stridedSpec(op, d, a, b, c), forced?.params);
    return;
  }
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

/**
 * The product as `stridedProduct`'s spec: batch entry (b, h) becomes (b, hk, i) with h = hk·G + i,
 * G the larger head divisor; an operand with divisor G reads head hk for every i (stride 0), one
 * with divisor 1 head hk·G + i.
 */
function stridedSpec(op: string, d: ProductDims, a: OperandStrides, b: OperandStrides, c: OutStrides): StridedProductSpec {
  const G = Math.max(a.hdiv, b.hdiv);
  const heads = (x: { h: number }, hdiv: number): [number, number] => {
    if (hdiv !== 1 && hdiv !== G) fail(op, `head divisors ${a.hdiv} and ${b.hdiv}: one must be 1 or both equal`);
    return hdiv === G ? [x.h, 0] : [x.h * G, x.h];
  };
  const operand = (x: OperandStrides) => ({ batch: [x.b, ...heads(x, x.hdiv)], blk: x.blk, rs: x.rs, cs: x.cs });
  return {
    m: d.m,
    n: d.n,
    k: d.k,
    nblk: d.nblk,
    batchShape: [d.batch / d.heads, d.heads / G, G],
    a: operand(a),
    b: operand(b),
    c: { batch: [c.b, ...heads(c, 1)], rs: c.rs },
  };
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
