// squeeze, unsqueeze, flatten, split, chunk, repeat, pad, flip, roll, tril, triu: forward against
// independent float64 references (index arithmetic written out here), webgpu against cpu bit for bit
// (pure data movement), gradients through mg.testing.checkOp (float64 finite differences on cpu,
// webgpu gradients against cpu) over fast-check shapes with size-1, odd and prime dims; errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { numel } from '../../src/shape.js';
import { setupBackends } from '../helpers.js';
import { both, f32Data, ravel, remap, unravel } from './shape-helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;
const seedArb = fc.integer({ min: 1, max: 1000 });
/** Exact movement: gradients are sums of weights, so float32 webgpu matches to rounding. */
const MOVE_TOL = { gpu: { rtol: 1e-5, atol: 1e-5 } };
const shapesOf = (s: fc.Arbitrary<number[]>) => s.map((x) => [x]);

// ---- references ---------------------------------------------------------------------------------

function refRepeat(d: number[], s: number[], reps: number[]): { data: number[]; shape: number[] } {
  const xs = [...Array(reps.length - s.length).fill(1), ...s];
  const shape = reps.map((r, i) => r * xs[i]);
  return { data: remap(d, xs, shape, (c) => c.map((v, i) => v % xs[i])), shape };
}

function refPad(d: number[], s: number[], pads: number[], value: number): { data: number[]; shape: number[] } {
  const lo = s.map((_, i) => pads[2 * (s.length - 1 - i)] ?? 0);
  const hi = s.map((_, i) => pads[2 * (s.length - 1 - i) + 1] ?? 0);
  const shape = s.map((n, i) => n + lo[i] + hi[i]);
  const data = Array.from({ length: numel(shape) }, (_, o) => {
    const src = unravel(o, shape).map((v, i) => v - lo[i]);
    return src.every((v, i) => v >= 0 && v < s[i]) ? d[ravel(src, s)] : value;
  });
  return { data, shape };
}

const refFlip = (d: number[], s: number[], axes: number[]) => remap(d, s, s, (c) => c.map((v, i) => (axes.includes(i) ? s[i] - 1 - v : v)));

/** y[c] = x[c - shift] per axis (mod the size); shifts on one axis add up. */
function refRoll(d: number[], s: number[], shifts: number[], axes?: number[]): number[] {
  if (!axes) return d.map((_, i) => d[(((i - shifts[0]) % d.length) + d.length) % d.length]);
  const total = s.map((_, i) => axes.reduce((t, a, k) => (a === i ? t + shifts[k] : t), 0));
  return remap(d, s, s, (c) => c.map((v, i) => (((v - total[i]) % s[i]) + s[i]) % s[i]));
}

function refTri(d: number[], s: number[], k: number, upper: boolean): number[] {
  const [rows, cols] = s.slice(-2);
  return d.map((v, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols) % rows;
    return (upper ? c - r >= k : c - r <= k) ? v : 0;
  });
}

// ---- squeeze, unsqueeze, flatten -------------------------------------------------------------------

describe('squeeze / unsqueeze / flatten', () => {
  it('are views with the expected shapes (torch rules), data unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(arb.shape({ minRank: 0, maxRank: 5, maxDim: 3 }), fc.nat(), fc.nat(), async (s, a, b) => {
        const x = mg.tensor(f32Data(numel(s), a + 1), s, { backend: 'cpu' });
        expect(x.squeeze().shape).toEqual(s.filter((d) => d !== 1));
        if (s.length > 0) {
          const ax = a % s.length;
          expect(x.squeeze(ax).shape).toEqual(s[ax] === 1 ? s.filter((_, i) => i !== ax) : s);
          expect(x.squeeze([ax - s.length]).shape, 'negative axis').toEqual(x.squeeze(ax).shape);
          const [st, en] = [ax, ax + (b % (s.length - ax))];
          const f = x.flatten(st, en);
          expect(f.shape).toEqual([...s.slice(0, st), numel(s.slice(st, en + 1)), ...s.slice(en + 1)]);
          expect(f.storage).toBe(x.storage);
        }
        const u = a % (s.length + 1);
        expect(x.unsqueeze(u).shape).toEqual([...s.slice(0, u), 1, ...s.slice(u)]);
        expect(x.unsqueeze(-1).shape).toEqual([...s, 1]);
        expect(x.flatten().shape).toEqual([numel(s)]);
        expect(Array.from(await x.unsqueeze(u).data())).toEqual(Array.from(await x.data()));
        const p = await mg.profile(() => x.squeeze().unsqueeze(0).flatten(), 'cpu');
        expect(p.kernels, 'no dispatch').toEqual([]);
      }),
      { numRuns: 30 },
    );
    expect(mg.squeeze(mg.zeros([1, 2, 1, 3]), [0, 2, -1]).shape).toEqual([2, 3]); // size-3 axis left as it is
    expect(mg.zeros([]).flatten().shape).toEqual([1]);
  });

  it('gradients (checkOp: cpu float64 against finite differences, webgpu against cpu)', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 2, maxRank: 4, maxDim: 4 }));
    await checkOp((x) => mg.squeeze(x).mul(mg.squeeze(x)), { shapes, numRuns: 3, tol: MOVE_TOL });
    await checkOp((x) => mg.unsqueeze(x, 1).mul(mg.unsqueeze(x, 1)), { shapes, numRuns: 3, tol: MOVE_TOL });
    await checkOp((x) => mg.flatten(x, 1).mul(mg.flatten(x, 1)), { shapes, numRuns: 3, tol: MOVE_TOL });
  });

  it('errors', () => {
    const x = mg.zeros([2, 1, 3]);
    expect(() => x.squeeze(3)).toThrow(/squeeze: axis 3 is out of range for a tensor of rank 3/);
    expect(() => x.squeeze([1, 1])).toThrow(/squeeze: axes \[1, 1\] repeat an axis/);
    expect(() => x.unsqueeze(4)).toThrow(/unsqueeze: axis 4 is out of range for a tensor of rank 4/);
    expect(() => x.flatten(2, 1)).toThrow(/flatten: start 2 \(axis 2\) comes after end 1 \(axis 1\) for tensor #\d+ \[2, 1, 3\]/);
    expect(() => mg.zeros([]).flatten(1)).toThrow(/flatten: tensor #\d+ \[\] float32 is 0-D: start and end must be 0 or -1/);
    expect(() => mg.squeeze('x' as never)).toThrow(/squeeze: the input must be a Tensor/);
  });
});

// ---- split, chunk ----------------------------------------------------------------------------------

describe('split / chunk', () => {
  const splitArb = arb
    .shape({ minRank: 1, maxRank: 4, maxDim: 7 })
    .chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.integer({ min: 1, max: 8 }), seedArb));

  /** Pieces of `sizes` along axis, cut from the reference with Array.slice. */
  const refPieces = (d: number[], s: number[], axis: number, sizes: number[]) => {
    let start = 0;
    return sizes.map((n) => {
      const shape = s.map((v, i) => (i === axis ? n : v));
      const from = start;
      start += n;
      return { shape, data: remap(d, s, shape, (c) => c.map((v, i) => (i === axis ? v + from : v))) };
    });
  };

  it('split by a size and by sizes, chunk into n: torch sizes, pieces match the reference, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(splitArb, async ([s, axis, n, seed]) => {
        const data = f32Data(numel(s), seed);
        const size = s[axis];
        const bySize: number[] = [];
        for (let left = size; left > 0; left -= n) bySize.push(Math.min(n, left));
        // torch.chunk: pieces of ceil(size / n); as many as that takes (at most n)
        const each = Math.ceil(size / n);
        const byChunk: number[] = [];
        for (let left = size; left > 0; left -= each) byChunk.push(Math.min(each, left));
        expect(byChunk.length).toBeLessThanOrEqual(n);
        const sections = [Math.floor(size / 3), 0, size - Math.floor(size / 3)];
        const cases: [string, (x: mg.Tensor) => mg.Tensor[], number[]][] = [
          [`split(${n})`, (x) => x.split(n, axis), bySize],
          [`split([${sections}])`, (x) => mg.split(x, sections, axis - s.length), sections],
          [`chunk(${n})`, (x) => x.chunk(n, axis), byChunk],
        ];
        for (const [name, f, sizes] of cases) {
          const ref = refPieces(data, s, axis, sizes);
          for (let k = 0; k < sizes.length; k++) {
            const { cpu, shape } = await both((x) => f(x)[k], [{ data, shape: s }], `${name} of ${s} axis ${axis} piece ${k}`);
            expect(shape).toEqual(ref[k].shape);
            expect(cpu).toEqual(ref[k].data);
          }
          expect(f(mg.zeros(s, { backend: 'cpu' })).length, name).toBe(sizes.length);
        }
      }),
      { numRuns: 15 },
    );
    // torch's examples: 6 in 4 chunks gives 3 pieces; an empty axis gives n empty chunks, one empty split
    expect(mg.chunk(mg.zeros([6]), 4).map((t) => t.shape[0])).toEqual([2, 2, 2]);
    expect(mg.chunk(mg.zeros([5]), 3).map((t) => t.shape[0])).toEqual([2, 2, 1]);
    expect(mg.chunk(mg.zeros([0, 2]), 3).map((t) => t.shape)).toEqual([
      [0, 2],
      [0, 2],
      [0, 2],
    ]);
    expect(mg.split(mg.zeros([0]), 2).map((t) => t.shape)).toEqual([[0]]);
  });

  it('gradients: each piece carries its own weight back to its place', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 1, maxRank: 3, maxDim: 7 }));
    const weighted = (ps: mg.Tensor[]) =>
      mg.concat(
        ps.map((p, i) => p.mul(i + 1)),
        -1,
      );
    await checkOp((x) => weighted(x.split(2, -1)), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => weighted(x.chunk(3, -1)), { shapes, numRuns: 4, tol: MOVE_TOL });
    // one piece used twice, another not at all
    await checkOp(
      (x) => {
        const ps = x.split(1, 0);
        return ps[0].mul(ps[0]);
      },
      { shapes, numRuns: 3, tol: MOVE_TOL },
    );
  });

  it('errors', () => {
    const x = mg.zeros([4, 3]);
    expect(() => x.split([1, 2], 0)).toThrow(/split: sizes \[1, 2\] sum to 3, but axis 0 of tensor #\d+ \[4, 3\] float32 has size 4/);
    expect(() => x.split(0, 1)).toThrow(/split: split size must be a positive integer, got 0/);
    expect(() => x.split(2, 2)).toThrow(/split: axis 2 is out of range/);
    expect(() => x.chunk(0)).toThrow(/chunk: n must be a positive integer, got 0/);
    expect(() => mg.zeros([]).chunk(2)).toThrow(/chunk: cannot split tensor #\d+ \[\] float32: it has no axes/);
  });
});

// ---- repeat ----------------------------------------------------------------------------------------

describe('repeat', () => {
  const repeatArb = arb
    .shape({ minRank: 0, maxRank: 3, maxDim: 5 })
    .chain((s) =>
      fc.tuple(fc.constant(s), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: s.length, maxLength: s.length + 2 }), seedArb),
    );

  it('forward: tiles as torch (extra leading reps, reps of 0 and 1), webgpu matches cpu, one copy', async () => {
    await fc.assert(
      fc.asyncProperty(repeatArb, async ([s, reps, seed]) => {
        const data = f32Data(numel(s), seed);
        const ref = refRepeat(data, s, reps);
        const { cpu, shape } = await both((x) => x.repeat(reps), [{ data, shape: s }], `repeat ${s} by ${reps}`);
        expect(shape).toEqual(ref.shape);
        expect(cpu).toEqual(ref.data);
      }),
      { numRuns: 30 },
    );
    const x = mg.zeros([2, 3]);
    const p = await mg.profile(() => x.repeat([3, 1, 2]));
    expect(p.kernels.map((k) => k.kernel)).toEqual(['copy:repeat']);
    expect(p.result.shape).toEqual([3, 2, 6]);
  });

  it('gradients: g summed over the copies', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 1, maxRank: 3, maxDim: 5 }));
    await checkOp((x) => x.repeat([2, ...x.shape.map((_, i) => (i % 2 ? 3 : 1))]), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => x.repeat(x.shape.map(() => 1)), { shapes, numRuns: 2, tol: MOVE_TOL });
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.repeat([2])).toThrow(/repeat: reps \[2\] has 1 entries; tensor #\d+ \[2, 3\] float32 needs at least 2/);
    expect(() => x.repeat([1, -1])).toThrow(/repeat: reps must be an array of non-negative integers, got \[1,-1\]/);
  });
});

// ---- pad ---------------------------------------------------------------------------------------------

describe('pad', () => {
  const padArb = arb.shape({ minRank: 1, maxRank: 4, maxDim: 5 }).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: 1, max: s.length }).chain((k) =>
        fc.tuple(
          ...Array.from({ length: k }, (_, j) => {
            const n = s[s.length - 1 - j];
            // a crop never takes an axis below 0 elements
            return fc
              .integer({ min: -n, max: 3 })
              .chain((lo) => fc.tuple(fc.constant(lo), fc.integer({ min: -n - Math.min(lo, 0), max: 3 })));
          }),
        ),
      ),
      fc.constantFrom(0, -1.5, 7, Number.NaN),
      seedArb,
    ),
  );

  it('forward: torch constant mode (last-axis-first pairs, negative pads crop), webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(padArb, async ([s, pairs, value, seed]) => {
        const pads = pairs.flat();
        const data = f32Data(numel(s), seed);
        const ref = refPad(data, s, pads, value);
        const { cpu, shape } = await both((x) => x.pad(pads, value), [{ data, shape: s }], `pad ${s} by ${pads} with ${value}`);
        expect(shape).toEqual(ref.shape);
        expect(cpu).toEqual(ref.data);
      }),
      { numRuns: 30 },
    );
    // torch.nn.functional.pad(torch.arange(5.), (-1, 2)) = [1, 2, 3, 4, 0, 0]
    expect(Array.from(await mg.arange(5).pad([-1, 2]).data())).toEqual([1, 2, 3, 4, 0, 0]);
    const ints = mg.tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' }).pad([1, 0, 0, 1], -7);
    expect(Array.from(await ints.data())).toEqual([-7, 1, 2, -7, 3, 4, -7, -7, -7]);
  });

  it('gradients: g cropped back (pads and crops)', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 2, maxRank: 3, maxDim: 5 }));
    await checkOp((x) => x.pad([1, 2, 0, 3], 0.5), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => x.pad([2, -1, -1, 1]), {
      shapes: shapesOf(fc.tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 6 }))),
      numRuns: 4,
      tol: MOVE_TOL,
    });
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.pad([1])).toThrow(/pad: pads must be an even-length array of integers/);
    expect(() => x.pad([1, 1, 1, 1, 1, 1])).toThrow(/pad: pads \[1, 1, 1, 1, 1, 1\] pad 3 axes; tensor #\d+ \[2, 3\] float32 has 2/);
    expect(() => x.pad([-2, -2])).toThrow(/pad: pads \[-2, -2\] give tensor #\d+ \[2, 3\] float32 the shape \[2, -1\]: a size is negative/);
    expect(() => mg.zeros([2], { dtype: 'int32' }).pad([1, 1], 0.5)).toThrow(/value = 0.5 is not an int32/);
  });
});

// ---- flip, roll ----------------------------------------------------------------------------------------

describe('flip / roll', () => {
  const axesArb = arb
    .shape({ minRank: 1, maxRank: 5, maxDim: 5 })
    .chain((s) => fc.tuple(fc.constant(s), fc.subarray([...s.keys()], { minLength: 1 }), seedArb));

  it('flip forward over any set of axes (negative strides), webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(axesArb, async ([s, axes, seed]) => {
        const data = f32Data(numel(s), seed);
        const { cpu, shape } = await both((x) => x.flip(axes.map((a) => a - s.length)), [{ data, shape: s }], `flip ${s} on ${axes}`);
        expect(shape).toEqual(s);
        expect(cpu).toEqual(refFlip(data, s, axes));
      }),
      { numRuns: 30 },
    );
  });

  it('roll forward: one axis, several axes (repeated axes add), flat; webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(
        axesArb,
        fc.array(fc.integer({ min: -12, max: 12 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async ([s, axes, seed], raw, repeatAxis) => {
          const data = f32Data(numel(s), seed);
          const ax = repeatAxis ? [...axes, axes[0]] : axes;
          const shifts = ax.map((_, i) => raw[i % raw.length]);
          const r = await both((x) => x.roll(shifts, ax), [{ data, shape: s }], `roll ${s} by ${shifts} on ${ax}`);
          expect(r.cpu).toEqual(refRoll(data, s, shifts, ax));
          const flat = await both((x) => mg.roll(x, raw[0]), [{ data, shape: s }], `roll ${s} by ${raw[0]} flat`);
          expect(flat.shape).toEqual(s);
          expect(flat.cpu).toEqual(refRoll(data, s, [raw[0]]));
        },
      ),
      { numRuns: 25 },
    );
    // torch.roll(torch.arange(6.).view(2, 3), (1, -1), (0, 1))
    const x = mg.arange(6).reshape([2, 3]);
    expect(await x.roll([1, -1], [0, 1]).toArray()).toEqual([
      [4, 5, 3],
      [1, 2, 0],
    ]);
  });

  it('gradients', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 2, maxRank: 3, maxDim: 5 }));
    await checkOp((x) => x.flip([0, -1]), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => x.roll([2, -1], [0, -1]), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => x.roll(3), { shapes, numRuns: 3, tol: MOVE_TOL });
  });

  it('errors', () => {
    const x = mg.zeros([2, 3]);
    expect(() => x.flip(2)).toThrow(/flip: axis 2 is out of range for a tensor of rank 2/);
    expect(() => x.flip([0, 0])).toThrow(/flip: axes \[0, 0\] repeat an axis/);
    expect(() => x.roll([1, 2], 0)).toThrow(/roll: shift \[1, 2\] and axis 0 must have one length/);
    expect(() => x.roll([1, 2])).toThrow(/roll: without an axis, shift must be one integer, got \[1, 2\]/);
    expect(() => x.roll(0.5, 0)).toThrow(/roll: shift must be an integer or an array of integers, got 0.5/);
  });
});

// ---- tril, triu ----------------------------------------------------------------------------------------

describe('tril / triu', () => {
  const triArb = arb
    .shape({ minRank: 2, maxRank: 4, maxDim: 7 })
    .chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -9, max: 9 }), seedArb));

  it('forward over batches and diagonals (|k| beyond the matrix too), int32, webgpu matches cpu', async () => {
    await fc.assert(
      fc.asyncProperty(triArb, async ([s, k, seed]) => {
        const data = f32Data(numel(s), seed);
        const lo = await both((x) => x.tril(k), [{ data, shape: s }], `tril ${s} k ${k}`);
        expect(lo.cpu).toEqual(refTri(data, s, k, false));
        const up = await both((x) => mg.triu(x, k), [{ data, shape: s }], `triu ${s} k ${k}`);
        expect(up.cpu).toEqual(refTri(data, s, k, true));
      }),
      { numRuns: 30 },
    );
    expect(await mg.tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' }).tril().toArray()).toEqual([
      [1, 0],
      [3, 4],
    ]);
    // torch.triu(torch.ones(3, 4), 2)
    expect(await mg.ones([3, 4]).triu(2).toArray()).toEqual([
      [0, 0, 1, 1],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
    ]);
  });

  it('gradients', async () => {
    const shapes = shapesOf(arb.shape({ minRank: 2, maxRank: 3, maxDim: 6 }));
    await checkOp((x) => x.tril(-1), { shapes, numRuns: 4, tol: MOVE_TOL });
    await checkOp((x) => x.triu(1), { shapes, numRuns: 4, tol: MOVE_TOL });
  });

  it('errors', () => {
    expect(() => mg.zeros([3]).tril()).toThrow(/tril: tensor #\d+ \[3\] float32 has fewer than 2 dims/);
    expect(() => mg.zeros([3, 3]).triu(0.5)).toThrow(/triu: k must be an integer, got 0.5/);
  });
});

// ---- under a tidy scope that returns the loss -----------------------------------------------------

describe('the tape keeps what these ops backward reads', () => {
  it('a loss built in tidy (intermediates handed to the tape) has the gradients of one built outside', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const run = async (scoped: boolean) => {
        const x = mg.tensor(f32Data(24, 3), [4, 6], { backend, requiresGrad: true });
        const idx = mg.tensor([2, 0, 2], [3], { backend, dtype: 'int32' });
        const f = () => {
          const [a, b] = x.split([2, 4], 1); // [4, 2], [4, 4]
          const s = b.sort({ descending: true }).values.topk(3).values; // [4, 3]
          const e = mg.einsum('ij,kj->ik', s, a.pad([0, 1]).roll(1, 0)); // [4, 4]
          const t = e.tril().flip([1]).repeat([1, 2]).unsqueeze(0).flatten(0, 1); // [4, 8]
          return t
            .indexAdd(0, idx, t.slice(0, 0, 3).mul(2))
            .squeeze()
            .sum();
        };
        const loss = scoped ? mg.tidy(f) : f();
        loss.backward();
        const g = Array.from(await x.grad!.data());
        loss.dispose();
        x.dispose();
        idx.dispose();
        return g;
      };
      const outside = await run(false);
      const inside = await run(true);
      expect(inside, backend).toEqual(outside);
      expect(outside.some((v) => v !== 0)).toBe(true);
    }
  });
});
