// oneHot, scatterAdd (torch's x.scatter_add form and the adjoint form) and indexAdd: forward against
// loops written out here, webgpu against cpu, gradients through mg.testing.checkOp on the sampled
// data (float64 finite differences on cpu, webgpu gradients against cpu), index errors on both
// backends (cpu at once, webgpu at the next readback).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { numel } from '../../src/shape.js';
import { expectClose, setupBackends } from '../helpers.js';
import { both, f32Data, ravel, unravel } from './shape-helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;
const SUM_TOL = { rtol: 1e-5, atol: 1e-5 };

/** checkOp on exactly these inputs (the index data fixed, the float data too). */
async function gradsOf(op: (...xs: mg.Tensor[]) => mg.Tensor, inputs: { data: number[]; shape: number[]; dtype?: mg.DType }[]) {
  const report = await checkOp(op, {
    shapes: fc.constant(inputs.map((i) => i.shape)),
    arbitraries: inputs.map((i) => () => fc.constant(i.data)),
    dtypes: inputs.map((i) => i.dtype ?? 'float32'),
    numRuns: 1,
  });
  expect(report.ok).toBe(true);
}

const ints = (n: number, size: number) => fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: n, maxLength: n });

// ---- oneHot ------------------------------------------------------------------------------------------

describe('oneHot', () => {
  it('rows with one 1 at each index: reference, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(arb.shape({ minRank: 0, maxRank: 3, maxDim: 6 }), fc.integer({ min: 1, max: 13 }), fc.nat(), async (s, C, seed) => {
        const idx = fc.sample(ints(numel(s), C), { numRuns: 1, seed })[0];
        const { cpu, shape } = await both((i) => i.oneHot(C), [{ data: idx, shape: s, dtype: 'int32' }], `oneHot ${s} C ${C}`);
        expect(shape).toEqual([...s, C]);
        expect(cpu).toEqual(idx.flatMap((k) => Array.from({ length: C }, (_, c) => (c === k ? 1 : 0))));
      }),
      { numRuns: 25 },
    );
    expect(mg.oneHot(mg.zeros([0], { dtype: 'int32' }), 3).shape).toEqual([0, 3]);
    expect(mg.oneHot(mg.zeros([2], { dtype: 'int32' }), 4).dtype).toBe('float32');
  });

  it('out-of-range indices: cpu throws at once, webgpu at the next readback, naming the value and position', async () => {
    const msg = /oneHot: index value 3 at flat position 2 of indices \[2, 2\] is out of range for numClasses 3 \(expected 0\.\.2\)/;
    const bad = [0, 2, 3, -1];
    expect(() => mg.tensor(bad, [2, 2], { backend: 'cpu', dtype: 'int32' }).oneHot(3)).toThrow(msg);
    const y = mg.tensor(bad, [2, 2], { dtype: 'int32' }).oneHot(3);
    await expect(y.data()).rejects.toThrow(/oneHot: index value (3|-1) at flat position (2|3) of indices \[2, 2\] is out of range/);
    expect(() => mg.tensor([-1], [1], { backend: 'cpu', dtype: 'int32' }).oneHot(3)).toThrow(/index value -1 at flat position 0/);
  });

  it('errors', () => {
    expect(() => mg.oneHot(mg.zeros([2]), 3)).toThrow(/oneHot: indices must be an int32 tensor, got tensor #\d+ \[2\] float32/);
    expect(() => mg.oneHot(mg.zeros([2], { dtype: 'int32' }), 0)).toThrow(/oneHot: numClasses must be a positive integer, got 0/);
    expect(() => mg.oneHot(mg.zeros([2], { dtype: 'int32' }), -1)).toThrow(/it is not inferred from the data: pass it/);
  });
});

// ---- scatterAdd -------------------------------------------------------------------------------------

/** torch's x.scatter_add(axis, index, src): x[c with c_axis = index[c]] += src[c] over index's positions. */
function refScatterAdd(x: number[], xs: number[], axis: number, index: number[], is: number[], src: number[], ss: number[]): number[] {
  const y = [...x];
  for (let i = 0; i < index.length; i++) {
    const c = unravel(i, is);
    const v = src[ravel(c, ss)];
    c[axis] = index[i];
    y[ravel(c, xs)] += v;
  }
  return y;
}

/** x shape, axis, index shape (<= x outside the axis, <= src everywhere), src shape, and data. */
const scatterArb = arb
  .shape({ minRank: 1, maxRank: 3, maxDim: 5 })
  .chain((xs) =>
    fc
      .integer({ min: 0, max: xs.length - 1 })
      .chain((axis) =>
        fc
          .tuple(...xs.map((d, i) => (i === axis ? fc.integer({ min: 0, max: 7 }) : fc.integer({ min: 1, max: d }))))
          .chain((is) =>
            fc.tuple(
              fc.constant(xs),
              fc.constant(axis),
              fc.constant(is),
              fc.tuple(...is.map((d) => fc.integer({ min: d, max: d + 2 }))),
              ints(numel(is), xs[axis]),
              fc.integer({ min: 1, max: 1000 }),
            ),
          ),
      ),
  );

describe('scatterAdd', () => {
  it("torch's form x.scatterAdd(axis, index, src): reference (repeated indices sum), webgpu matches cpu", async () => {
    await fc.assert(
      fc.asyncProperty(scatterArb, async ([xs, axis, is, ss, index, seed]) => {
        const x = f32Data(numel(xs), seed);
        const src = f32Data(numel(ss), seed + 1);
        const { cpu, shape } = await both(
          (t, i, u) => t.scatterAdd(axis, i, u),
          [
            { data: x, shape: xs },
            { data: index, shape: is, dtype: 'int32' },
            { data: src, shape: ss },
          ],
          `scatterAdd ${xs} axis ${axis} index ${is} src ${ss}`,
          SUM_TOL,
        );
        expect(shape).toEqual(xs);
        expectClose(cpu, refScatterAdd(x, xs, axis, index, is, src, ss), { rtol: 1e-12, atol: 1e-12 }, 'scatterAdd vs reference');
      }),
      { numRuns: 25 },
    );
  });

  it('gradients: g for x, g gathered at the index for src (0 beyond the index), in both forms', async () => {
    await fc.assert(
      fc.asyncProperty(scatterArb, async ([xs, axis, is, ss, index, seed]) => {
        const inputs = [
          { data: f32Data(numel(xs), seed), shape: xs },
          { data: index, shape: is, dtype: 'int32' as const },
          { data: f32Data(numel(ss), seed + 1), shape: ss },
        ];
        await gradsOf((t, i, u) => mg.scatterAdd(t, axis, i, u), inputs);
        // the adjoint form: zeros(shape) + the scatter of src (index with src's shape)
        await gradsOf((u, i) => mg.scatterAdd(u, axis, i, xs), [{ data: f32Data(numel(is), seed + 2), shape: is }, inputs[1]]);
      }),
      { numRuns: 6 },
    );
  });

  it('errors', () => {
    const x = mg.zeros([3, 4]);
    const i = mg.zeros([2, 2], { dtype: 'int32' });
    expect(() => x.scatterAdd(0, i, mg.zeros([1, 2]))).toThrow(
      /scatterAdd: index \[2, 2\] must have the rank of src \[1, 2\] and no larger size \(x \[3, 4\]\)/,
    );
    expect(() => x.scatterAdd(0, mg.zeros([2, 5], { dtype: 'int32' }), mg.zeros([2, 5]))).toThrow(
      /scatterAdd: src \[2, 5\] does not fit shape \[3, 4\] outside axis 0/,
    );
    expect(() => x.scatterAdd(0, mg.zeros([1, 1], { dtype: 'int32', backend: 'cpu' }), mg.zeros([1, 1]))).toThrow(
      /scatterAdd: tensors live on different backends/,
    );
    expect(() =>
      mg.scatterAdd(
        mg.zeros([3, 4], { backend: 'cpu' }),
        0,
        mg.tensor([[3]], [1, 1], { backend: 'cpu', dtype: 'int32' }),
        mg.ones([1, 1], { backend: 'cpu' }),
      ),
    ).toThrow(/scatterAdd: index value 3 at flat position 0 of index \[1, 1\] is out of range for axis 0 of size 3/);
  });
});

// ---- indexAdd ------------------------------------------------------------------------------------------

describe('indexAdd', () => {
  const indexAddArb = arb
    .shape({ minRank: 1, maxRank: 3, maxDim: 5 })
    .chain((xs) =>
      fc
        .integer({ min: 0, max: xs.length - 1 })
        .chain((axis) =>
          fc
            .integer({ min: 0, max: 9 })
            .chain((n) =>
              fc.tuple(
                fc.constant(xs),
                fc.constant(axis),
                ints(n, xs[axis]),
                fc.constantFrom(1, -0.5, 2),
                fc.integer({ min: 1, max: 1000 }),
              ),
            ),
        ),
    );

  it('x[.., index[j], ..] += alpha · source[.., j, ..]: reference, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(indexAddArb, async ([xs, axis, index, alpha, seed]) => {
        const ss = xs.map((d, i) => (i === axis ? index.length : d));
        const x = f32Data(numel(xs), seed);
        const src = f32Data(numel(ss), seed + 1);
        const { cpu } = await both(
          (t, i, u) => t.indexAdd(axis, i, u, { alpha }),
          [
            { data: x, shape: xs },
            { data: index, shape: [index.length], dtype: 'int32' },
            { data: src, shape: ss },
          ],
          `indexAdd ${xs} axis ${axis} index ${index}`,
          SUM_TOL,
        );
        const ref = [...x];
        for (let j = 0; j < numel(ss); j++) {
          const c = unravel(j, ss);
          const v = src[j];
          c[axis] = index[c[axis]];
          ref[ravel(c, xs)] += alpha * v;
        }
        expectClose(cpu, ref, { rtol: 1e-12, atol: 1e-12 }, 'indexAdd vs reference');
      }),
      { numRuns: 25 },
    );
  });

  it('gradients: g for x, alpha · indexSelect(g) for source', async () => {
    await fc.assert(
      fc.asyncProperty(indexAddArb, async ([xs, axis, index, alpha, seed]) => {
        const ss = xs.map((d, i) => (i === axis ? index.length : d));
        await gradsOf(
          (t, i, u) => mg.indexAdd(t, axis, i, u, { alpha }),
          [
            { data: f32Data(numel(xs), seed), shape: xs },
            { data: index, shape: [index.length], dtype: 'int32' },
            { data: f32Data(numel(ss), seed + 1), shape: ss },
          ],
        );
      }),
      { numRuns: 6 },
    );
  });

  it('errors', () => {
    const x = mg.zeros([3, 4]);
    const i = mg.tensor([0, 2], [2], { dtype: 'int32' });
    expect(() => x.indexAdd(0, i, mg.zeros([3, 4]))).toThrow(
      /indexAdd: source \[3, 4\] must have shape \[2, 4\] \(x \[3, 4\] with index length 2 along axis 0\)/,
    );
    expect(() => x.indexAdd(0, mg.zeros([2, 1], { dtype: 'int32' }), mg.zeros([2, 4]))).toThrow(/indexAdd: index must be 1-D/);
    expect(() => x.indexAdd(2, i, mg.zeros([2, 4]))).toThrow(/indexAdd: axis 2 is out of range/);
    expect(() => x.indexAdd(0, i, mg.zeros([2, 4]), { alpha: Number.NaN })).toThrow(/indexAdd: alpha must be a finite number, got NaN/);
  });
});
