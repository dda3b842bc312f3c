// einsum: against an independent float64 einsum written here (a loop over every assignment of the
// labels), webgpu against cpu, gradients (checkOp: float64 finite differences on cpu, webgpu against
// cpu) over random sizes per label (1, odd, prime), the lowering (matmul, no loop of its own), errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { numel } from '../../src/shape.js';
import { expectClose, setupBackends } from '../helpers.js';
import { f32Data, ravel, unravel } from './shape-helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;

/** einsum by definition: y[out] = Σ over all other labels of Π_k x_k[labels_k]. */
function refEinsum(spec: string, inputs: { data: number[]; shape: number[] }[]): { data: number[]; shape: number[] } {
  const [lhs, rhs] = spec.split('->');
  const terms = lhs.split(',');
  const size = new Map<string, number>();
  terms.forEach((t, k) => [...t].forEach((l, d) => size.set(l, inputs[k].shape[d])));
  const once = [...size.keys()].filter((l) => terms.join('').split(l).length === 2).sort();
  const out = rhs === undefined ? once : [...rhs];
  const all = [...size.keys()];
  const allShape = all.map((l) => size.get(l)!);
  const shape = out.map((l) => size.get(l)!);
  const data = new Array<number>(numel(shape)).fill(0);
  for (let i = 0; i < numel(allShape); i++) {
    const c = unravel(i, allShape);
    const at = (l: string) => c[all.indexOf(l)];
    let p = 1;
    terms.forEach((t, k) => {
      p *= inputs[k].data[ravel([...t].map(at), inputs[k].shape)];
    });
    data[ravel(out.map(at), shape)] += p;
  }
  return { data, shape };
}

/** Each spec with the labels' sizes drawn at random (1, primes, odd). */
const SPECS = [
  'ij->ji', // transpose
  'ijk->kij',
  'ii->i', // diagonal
  'ii->', // trace
  'iij->j',
  'ij->', // sum of all
  'ij->j', // column sums
  'ij,jk->ik', // matmul
  'ij,kj->ik', // x @ wᵀ: b read transposed
  'ji,jk->ik', // aᵀ @ b: a read transposed
  'bji,bkj->bik', // both transposed
  'ij,jk', // implicit output
  'bij,bjk->bik', // batched
  'bij,bkj->bki',
  'bhqd,bhkd->bhqk', // attention scores
  'i,j->ij', // outer
  'ab,cd->cabd',
  'i,i->', // dot
  'i,i->i', // elementwise
  'ij,ij->ij',
  'ij,j->i', // matrix-vector
  'ijk,ikl->jl', // contraction over a shared and a batch-like label
  'ii,ij->j', // diagonal then contraction
  'ij,jk->', // contraction of everything
  'ijk,k->ij',
  'ik,j->', // labels summed in each operand alone
];

const sizesArb = fc.array(arb.dimSize(7), { minLength: 8, maxLength: 8 });
function shapesFor(spec: string, sizes: number[]): number[][] {
  const letters = [...new Set(spec.replace(/[^a-zA-Z]/g, ''))];
  return spec
    .split('->')[0]
    .split(',')
    .map((t) => [...t].map((l) => sizes[letters.indexOf(l)]));
}

describe('einsum', () => {
  for (const spec of SPECS) {
    it(`${spec}: the definition (float64 cpu), webgpu against cpu, gradients`, async () => {
      await fc.assert(
        fc.asyncProperty(sizesArb, fc.integer({ min: 1, max: 1000 }), async (sizes, seed) => {
          const shapes = shapesFor(spec, sizes);
          const inputs = shapes.map((s, k) => ({ data: f32Data(numel(s), seed + k), shape: s }));
          const ref = refEinsum(spec, inputs);
          const out: Record<string, ArrayLike<number>> = {};
          for (const backend of ['cpu', 'webgpu'] as const) {
            const xs = inputs.map((i) => mg.tensor(i.data, i.shape, { backend }));
            const y = mg.einsum(spec, ...xs);
            expect(y.shape, `${spec} shape`).toEqual(ref.shape);
            out[backend] = await y.data();
            for (const t of [...xs, y]) t.dispose();
          }
          expectClose(out.cpu, ref.data, { rtol: 1e-12, atol: 1e-12 }, `${spec} ${shapes.join(' | ')} cpu vs definition`);
          expectClose(out.webgpu, out.cpu, { rtol: 1e-4, atol: 1e-4 }, `${spec} ${shapes.join(' | ')} webgpu vs cpu`);
        }),
        { numRuns: 5 },
      );
      await checkOp((...xs) => mg.einsum(spec, ...xs), {
        shapes: fc.array(arb.dimSize(5), { minLength: 8, maxLength: 8 }).map((sizes) => shapesFor(spec, sizes)),
        numRuns: 2,
      });
    });
  }

  it('lowers a batched contraction onto one matmul (transposed operands read in place, permutes only where needed)', async () => {
    const a = mg.zeros([2, 3, 4]);
    const b = mg.zeros([2, 4, 5]);
    const p = await mg.profile(() => mg.einsum('bij,bjk->bik', a, b));
    expect(p.kernels.map((k) => k.shader).filter((s) => s !== 'fill')).toEqual([expect.stringMatching(/^matmul/)]);
    // b stored [b, k, j]: read transposed by the matmul, no copy; 'ikb' needs a permute
    const c = mg.zeros([2, 5, 4]);
    const q = await mg.profile(() => mg.einsum('bij,bkj->bik', a, c));
    expect(q.kernels.map((k) => k.shader)).toEqual([expect.stringMatching(/^matmul/)]);
    const r = await mg.profile(() => mg.einsum('bij,kjb->bik', a, mg.permute(c, [1, 2, 0])));
    expect(r.kernels.filter((k) => k.shader.startsWith('matmul'))).toHaveLength(1);
    expect(r.kernels.filter((k) => k.shader === 'copy')).toHaveLength(2); // the test's permute and einsum's
    // 'ij->ij' returns a new tensor (a view), not the input
    const x = mg.ones([2, 2]);
    const y = mg.einsum('ij->ij', x);
    expect(y).not.toBe(x);
    expect(y.storage).toBe(x.storage);
    expect(await x.einsum('ij,jk->ik', mg.ones([2, 3])).toArray()).toEqual([
      [2, 2, 2],
      [2, 2, 2],
    ]);
  });

  it('errors name the spec and what was expected', () => {
    const a = mg.zeros([2, 3]);
    const b = mg.zeros([4, 5]);
    expect(() => mg.einsum('...ij->ij', a)).toThrow(/einsum: '\.\.\.ij->ij': '\.\.\.' \(broadcast dims\) is not supported/);
    expect(() => mg.einsum('ij,jk->ik', a, b)).toThrow(
      /einsum: 'ij,jk->ik': subscript 'j' has size 3 in operand 0 \[2, 3\] and 4 in operand 1 \[4, 5\]/,
    );
    expect(() => mg.einsum('ijk->i', a)).toThrow(
      /einsum: 'ijk->i': operand 0 has subscripts 'ijk' \(3 dims\) but tensor #\d+ \[2, 3\] float32 has 2/,
    );
    expect(() => mg.einsum('ij->k', a)).toThrow(/einsum: 'ij->k': output subscript 'k' appears in no operand/);
    expect(() => mg.einsum('ij->ii', a)).toThrow(/einsum: 'ij->ii': the output 'ii' repeats a subscript/);
    expect(() => mg.einsum('i,j,k->ijk', a, a, a)).toThrow(/einsum: 'i,j,k->ijk': one or two operands are supported, got 3/);
    expect(() => mg.einsum('ij,jk->ik', a)).toThrow(/einsum: 'ij,jk->ik' names 2 operand\(s\) but 1 tensor\(s\) were given/);
    expect(() => mg.einsum('i1->i', a)).toThrow(/einsum: 'i1->i': subscripts must be letters a-z, A-Z \(got '1'\)/);
    expect(() => mg.einsum('ij->i->j', a)).toThrow(/einsum: 'ij->i->j' has more than one '->'/);
    const ints = mg.zeros([2, 2], { dtype: 'int32' });
    expect(() => mg.einsum('ij->i', ints)).toThrow(
      /einsum: 'ij->i' sums or multiplies, which needs float32 operands; got tensor #\d+ \[2, 2\] int32/,
    );
    expect(mg.einsum('ij->ji', ints).dtype).toBe('int32'); // pure data movement takes any dtype
  });
});
