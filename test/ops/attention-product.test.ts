// Attention's head products (src/ops/attention-product.ts) on both kernels: the matmul's subgroup
// product through strides ('sg', kernels/matmul_sg.wgsl) and the register block ('block',
// kernels/attention_matmul.wgsl, its twin), against the float64 cpu backend and each other, over
// fast-check shapes: sizes 1, odd, prime, Tq != Tk, grouped-query heads, rows and columns off the
// 32-row block and 8-column step, small K passes (later passes and blocks add to C), both io paths
// (vec4 where hs and the strides are multiples of 4, scalar otherwise), both layouts.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { attention, type AttentionLayout } from '../../src/ops/attention.js';
import {
  emptyLike,
  headProduct,
  headStrides,
  type OperandStrides,
  type OutStrides,
  type ProductDims,
} from '../../src/ops/attention-product.js';
import { subgroupMatmul } from '../../src/ops/matmul.js';
import { getBackend } from '../../src/runtime.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

afterEach(() => {
  mg.testing.resetKernels();
});

/** The subgroup kernel runs where the device's subgroups hold a workgroup's 8 lanes (lavapipe does). */
const hasSg = () => (getBackend('webgpu').subgroups?.min ?? 0) >= 8;

interface Case {
  B: number;
  Hkv: number;
  G: number;
  tq: number;
  tk: number;
  hs: number;
  layout: AttentionLayout;
  /** Tile of the sg kernel (unset: chosen by shape); st = 4 puts K in several passes. */
  tile: Record<string, number>;
}

const dim = fc.constantFrom(1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 37, 40);
const caseArb: fc.Arbitrary<Case> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  G: fc.constantFrom(1, 2, 3),
  tq: dim,
  tk: dim,
  hs: fc.constantFrom(1, 3, 4, 8, 12, 17),
  layout: fc.constantFrom<AttentionLayout>('bthd', 'bhtd'),
  tile: fc.constantFrom<Record<string, number>>({}, { st: 4, cw: 8 }, { st: 8, cw: 16 }),
});

interface Product {
  name: string;
  /** Shapes of A, B and C (their storage; the strides below say how the product reads them). */
  shapes: [number[], number[], number[]];
  d: ProductDims;
  a: OperandStrides;
  b: OperandStrides;
  c: OutStrides;
}

/**
 * The three stride patterns of attention's six products (as src/ops/attention.ts sets them): q kᵀ
 * (and g vᵀ): B read transposed, k's head shared by G query heads; P v (and dS k): written in q's
 * layout; dSᵀ q (and Pᵀ g): A read transposed, the G query heads of a kv head summed as blocks.
 */
function products(c: Case): Product[] {
  const H = c.Hkv * c.G;
  const qs = headStrides(c.layout, c.tq, H, c.hs);
  const ks = headStrides(c.layout, c.tk, c.Hkv, c.hs);
  const ss = { b: H * c.tq * c.tk, h: c.tq * c.tk };
  const shape = (T: number, n: number) => (c.layout === 'bthd' ? [c.B, T, n, c.hs] : [c.B, n, T, c.hs]);
  const [qShape, kShape, sShape] = [shape(c.tq, H), shape(c.tk, c.Hkv), [c.B, H, c.tq, c.tk]];
  const rowsOf = (s: { b: number; h: number; t: number }, hdiv: number) => ({ b: s.b, h: s.h, hdiv, blk: 0, rs: s.t, cs: 1 });
  const colsOf = (s: { b: number; h: number; t: number }, hdiv: number) => ({ b: s.b, h: s.h, hdiv, blk: 0, rs: 1, cs: s.t });
  return [
    {
      name: 'q kᵀ',
      shapes: [qShape, kShape, sShape],
      d: { m: c.tq, n: c.tk, k: c.hs, nblk: 1, heads: H, batch: c.B * H },
      a: rowsOf(qs, 1),
      b: colsOf(ks, c.G),
      c: { b: ss.b, h: ss.h, rs: c.tk },
    },
    {
      name: 'P v',
      shapes: [sShape, kShape, qShape],
      d: { m: c.tq, n: c.hs, k: c.tk, nblk: 1, heads: H, batch: c.B * H },
      a: { b: ss.b, h: ss.h, hdiv: 1, blk: 0, rs: c.tk, cs: 1 },
      b: rowsOf(ks, c.G),
      c: { b: qs.b, h: qs.h, rs: qs.t },
    },
    {
      name: 'Σ_group dSᵀ q',
      shapes: [sShape, qShape, kShape],
      d: { m: c.tk, n: c.hs, k: c.tq, nblk: c.G, heads: c.Hkv, batch: c.B * c.Hkv },
      a: { b: ss.b, h: c.G * ss.h, hdiv: 1, blk: ss.h, rs: 1, cs: c.tk },
      b: { b: qs.b, h: c.G * qs.h, hdiv: 1, blk: qs.h, rs: qs.t, cs: 1 },
      c: { b: ks.b, h: ks.h, rs: ks.t },
    },
  ];
}

async function runProduct(
  p: Product,
  backend: mg.BackendName,
  seed: number,
  dtype: 'float32' | 'float16' = 'float32',
): Promise<Float64Array> {
  const A = mg.randn(p.shapes[0], { seed, backend }).cast(dtype);
  const B = mg.randn(p.shapes[1], { seed: seed + 1, backend }).cast(dtype);
  const C = emptyLike(A, p.shapes[2]);
  headProduct('test', A, B, C, p.d, p.a, p.b, p.c);
  const out = Float64Array.from(await C.data());
  for (const t of [A, B, C]) t.dispose();
  return out;
}

describe('attention head products: sg and block kernels', () => {
  it('each stride pattern on the sg kernel and on the block twin matches the float64 cpu backend (both kernels there too)', async () => {
    if (!hasSg()) {
      const p = products({ B: 1, Hkv: 1, G: 1, tq: 4, tk: 4, hs: 4, layout: 'bthd', tile: {} })[0];
      mg.testing.forceKernel('attention.product', 'sg');
      await expect(runProduct(p, 'webgpu', 1)).rejects.toThrow(/the subgroup kernel needs subgroups of at least 8 lanes/);
      return;
    }
    await fc.assert(
      fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
        for (const p of products(c)) {
          const label = `${p.name} ${JSON.stringify(c)}`;
          mg.testing.forceKernel('attention.product', 'block');
          const ref = await runProduct(p, 'cpu', seed);
          const block = await runProduct(p, 'webgpu', seed);
          mg.testing.forceKernel('attention.product', 'sg', c.tile);
          const sgCpu = await runProduct(p, 'cpu', seed); // the subgroup kernel's own float64 loop
          const sg = await runProduct(p, 'webgpu', seed);
          const tol = { rtol: 1e-4, atol: 2e-6 * (p.d.k * p.d.nblk + 4) };
          expectClose(sgCpu, ref, { rtol: 1e-12, atol: 1e-12 }, `sg cpu ${label}`);
          expectClose(block, ref, tol, `block ${label}`);
          expectClose(sg, ref, tol, `sg ${label}`);
          expectClose(sg, block, tol, `sg vs block ${label}`);
        }
      }),
      { numRuns: 20, endOnFailure: true },
    );
  });

  it('float16 operands (f32 accumulation) on the sg kernel match the cpu backend in float16', async () => {
    if (!hasSg()) return; // the sg path's absence is checked above
    const c: Case = { B: 2, Hkv: 2, G: 2, tq: 33, tk: 20, hs: 8, layout: 'bthd', tile: {} };
    mg.testing.forceKernel('attention.product', 'sg');
    for (const p of products(c)) {
      const ref = await runProduct(p, 'cpu', 3, 'float16');
      const sg = await runProduct(p, 'webgpu', 3, 'float16');
      expectClose(sg, ref, { rtol: 2e-3, atol: 2e-3 * Math.sqrt(p.d.k * p.d.nblk) }, p.name);
    }
  });

  it('attention forward and gradients on the sg kernel match the block twin and the cpu backend (GQA, Tq != Tk, causal, both layouts)', async () => {
    if (!hasSg()) return;
    const cases = fc.sample(caseArb, { numRuns: 8, seed: 11 });
    for (const c of cases) {
      const H = c.Hkv * c.G;
      const shape = (T: number, n: number) => (c.layout === 'bthd' ? [c.B, T, n, c.hs] : [c.B, n, T, c.hs]);
      const run = async (backend: mg.BackendName, kernel: 'sg' | 'block') => {
        mg.testing.forceKernel('attention.product', kernel, kernel === 'sg' ? c.tile : {});
        const q = mg.randn(shape(c.tq, H), { seed: 1, backend, requiresGrad: true });
        const k = mg.randn(shape(c.tk, c.Hkv), { seed: 2, backend, requiresGrad: true });
        const v = mg.randn(shape(c.tk, c.Hkv), { seed: 3, backend, requiresGrad: true });
        const y = attention(q, k, v, { causal: true, layout: c.layout });
        const g = mg.randn(y.shape, { seed: 4, backend });
        y.backward(g);
        const res = [await y.data(), await q.grad!.data(), await k.grad!.data(), await v.grad!.data()];
        for (const t of [q, k, v, y, g]) t.dispose();
        return res;
      };
      const ref = await run('cpu', 'block');
      const block = await run('webgpu', 'block');
      const sg = await run('webgpu', 'sg');
      const tol = { rtol: 2e-4, atol: 3e-5 * Math.sqrt(c.hs * Math.max(c.tq, c.tk)) };
      ['y', 'dq', 'dk', 'dv'].forEach((name, i) => {
        expectClose(sg[i], ref[i], tol, `sg ${name} ${JSON.stringify(c)}`);
        expectClose(sg[i], block[i], tol, `sg vs block ${name} ${JSON.stringify(c)}`);
      });
    }
  });

  it('the automatic choice: sg for 16+ rows on CPU adapters with subgroups, block below and elsewhere', async () => {
    const q = mg.randn([2, 20, 2, 8], { seed: 1 });
    const kernels = async (T: number) => {
      const x = T === 20 ? q : mg.randn([2, T, 2, 8], { seed: 2 });
      const s = await mg.profile(() => attention(x, x, x, { layout: 'bthd' }));
      s.result.dispose();
      if (x !== q) x.dispose();
      return s.kernels.map((k) => k.kernel).filter((n) => n.startsWith('attention.product'));
    };
    const long = await kernels(20);
    const short = await kernels(5);
    if (subgroupMatmul(getBackend('webgpu'))) {
      expect(long).toEqual(['attention.product:sg:tB', 'attention.product:sg']);
      expect(short.every((n) => !n.includes(':sg'))).toBe(true);
    } else {
      expect([...long, ...short].every((n) => !n.includes(':sg'))).toBe(true);
    }
  });
});
