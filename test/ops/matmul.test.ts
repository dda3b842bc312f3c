// matmul / matmulT: forward against an independent float64 loop, every GPU kernel (fast scalar,
// vec4, shared-memory tiled, naive twin) against it and against each other, gradcheck on cpu and
// webgpu, 1-D operands, batch broadcasting, transposed operands, errors, and one dispatch per product.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { matmulT, type MatmulVariant } from '../../src/ops/matmul.js';
import { getBackend } from '../../src/runtime.js';
import { broadcastShapes, broadcastStrides, numel } from '../../src/shape.js';
import { expectClose, randData, setupBackends } from '../helpers.js';

setupBackends();
const { gradcheck } = mg.testing;

afterEach(() => mg.testing.resetKernels());

/**
 * Reference op(A) @ op(B) over broadcast batch dims, from the definitions: for each output batch
 * index, locate each operand's matrix (stride 0 on broadcast dims) and run the textbook loop.
 */
function refMatmul(
  a: ArrayLike<number>,
  as: number[],
  b: ArrayLike<number>,
  bs: number[],
  transA = false,
  transB = false,
): { data: number[]; shape: number[] } {
  const [ar, ac] = as.slice(-2);
  const [br, bc] = bs.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const n = transB ? br : bc;
  const outB = broadcastShapes('ref', as.slice(0, -2), bs.slice(0, -2));
  // strides in units of whole matrices
  const sa = broadcastStrides(as.slice(0, -2), outB);
  const sb = broadcastStrides(bs.slice(0, -2), outB);
  const data: number[] = [];
  for (let bi = 0; bi < numel(outB); bi++) {
    let rem = bi;
    let ia = 0;
    let ib = 0;
    for (let d = outB.length - 1; d >= 0; d--) {
      const c = rem % outB[d];
      rem = Math.floor(rem / outB[d]);
      ia += c * sa[d];
      ib += c * sb[d];
    }
    const A = (i: number, p: number) => a[ia * ar * ac + (transA ? p * ac + i : i * ac + p)];
    const B = (p: number, j: number) => b[ib * br * bc + (transB ? j * bc + p : p * bc + j)];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
        data.push(s);
      }
    }
  }
  return { data, shape: [...outB, m, n] };
}

/** float32 vs float64 tolerance for sums of k products of numbers in [-1, 1]. */
const tolFor = (k: number) => ({ rtol: 1e-4, atol: 4e-7 * (k + 4) });

/** The subgroup kernel runs where the device's subgroups hold a workgroup's 8 lanes (lavapipe does). */
const hasSg = () => (getBackend('webgpu').subgroups?.min ?? 0) >= 8;
const gpuVariants = (): (MatmulVariant | null)[] => ['naive', 'scalar', 'vec4', 'tiled', ...(hasSg() ? (['sg'] as const) : []), null];

async function gpuRun(
  variant: MatmulVariant | null,
  ad: Float64Array,
  as: number[],
  bd: Float64Array,
  bs: number[],
  f: (a: mg.Tensor, b: mg.Tensor) => mg.Tensor,
  tile: Record<string, number> = {},
) {
  const restore = variant ? mg.testing.forceKernel('matmul', variant, tile) : () => {};
  const a = mg.tensor(ad, as, { backend: 'webgpu' });
  const b = mg.tensor(bd, bs, { backend: 'webgpu' });
  const y = f(a, b);
  const out = { data: await y.data(), shape: y.shape };
  for (const t of [a, b, y]) t.dispose();
  restore();
  return out;
}

// Dimension sizes: 1, primes, multiples of 4 (the vec4 path) and anything up to 70.
const dimArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 17, 31, 32, 33, 61, 64, 67, 70), fc.integer({ min: 1, max: 70 }));
// Batch dims of both operands: none, or a broadcast-compatible pair (some dims dropped or set to 1).
const batchArb = fc.oneof(fc.constant<[number[], number[]]>([[], []]), mg.testing.arbitraries.broadcastPair({ maxRank: 2, maxDim: 3 }));

describe('matmul forward', () => {
  it('cpu matches the float64 definition; naive, scalar, vec4, tiled, sg and auto GPU kernels match it (random shapes, broadcasting, transposes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        batchArb,
        dimArb,
        dimArb,
        dimArb,
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 1 << 30 }),
        async ([ba, bb], m, k, n, transA, transB, seed) => {
          const as = [...ba, ...(transA ? [k, m] : [m, k])];
          const bs = [...bb, ...(transB ? [n, k] : [k, n])];
          const ad = randData(numel(as), seed);
          const bd = randData(numel(bs), seed + 1);
          const f =
            transA || transB
              ? (x: mg.Tensor, y: mg.Tensor) => matmulT(x, y, { transA, transB })
              : (x: mg.Tensor, y: mg.Tensor) => mg.matmul(x, y);
          const ref = refMatmul(ad, as, bd, bs, transA, transB);
          const label = `${JSON.stringify(as)}${transA ? 'ᵀ' : ''} @ ${JSON.stringify(bs)}${transB ? 'ᵀ' : ''}`;

          const ac = mg.tensor(ad, as, { backend: 'cpu' });
          const bc = mg.tensor(bd, bs, { backend: 'cpu' });
          const yc = f(ac, bc);
          expect(yc.shape).toEqual(ref.shape);
          expectClose(await yc.data(), ref.data, { rtol: 1e-12, atol: 1e-12 }, `cpu ${label}`);
          for (const t of [ac, bc, yc]) t.dispose();

          let naive: ArrayLike<number> | null = null;
          for (const v of gpuVariants()) {
            const g = await gpuRun(v, ad, as, bd, bs, f);
            expect(g.shape).toEqual(ref.shape);
            expectClose(g.data, ref.data, tolFor(k), `${v ?? 'auto'} vs float64 ${label}`);
            if (v === 'naive') naive = g.data;
            else expectClose(g.data, naive!, tolFor(k), `${v ?? 'auto'} vs naive ${label}`);
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it('vec4 path: aligned shapes with every transpose combination pick main_vec4 and match float64', async () => {
    for (const [m, k, n] of [
      [8, 16, 12],
      [4, 4, 4],
      [12, 8, 36],
      [20, 64, 8],
    ]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const as = [2, ...(transA ? [k, m] : [m, k])];
          const bs = [1, ...(transB ? [n, k] : [k, n])];
          const ad = randData(numel(as), m * 7 + k);
          const bd = randData(numel(bs), n * 3 + k);
          const a = mg.tensor(ad, as);
          const b = mg.tensor(bd, bs);
          mg.testing.forceKernel('matmul', 'vec4');
          const { result: y, kernels } = await mg.profile(() => matmulT(a, b, { transA, transB }));
          expect(kernels.map((q) => q.kernel)).toEqual([`matmul:vec4${transA ? ':tA' : ''}${transB ? ':tB' : ''}`]);
          expectClose(
            await y.data(),
            refMatmul(ad, as, bd, bs, transA, transB).data,
            tolFor(k),
            `vec4 ${m}x${k}x${n} tA=${transA} tB=${transB}`,
          );
        }
      }
    }
  });

  it('large: [513, 257] @ [257, 129] (auto and naive) against float64', async () => {
    const as = [513, 257];
    const bs = [257, 129];
    const ad = randData(numel(as), 11);
    const bd = randData(numel(bs), 12);
    const ref = refMatmul(ad, as, bd, bs);
    for (const v of [null, 'naive'] as const) {
      const g = await gpuRun(v, ad, as, bd, bs, (x, y) => x.matmul(y));
      expect(g.shape).toEqual([513, 129]);
      expectClose(g.data, ref.data, tolFor(257), `${v ?? 'auto'} 513x257x129`);
    }
  });

  it('batched with broadcasting: [3, 1, 33, 65] @ [4, 65, 17] -> [3, 4, 33, 17], every kernel', async () => {
    const as = [3, 1, 33, 65];
    const bs = [4, 65, 17];
    const ad = randData(numel(as), 21);
    const bd = randData(numel(bs), 22);
    const ref = refMatmul(ad, as, bd, bs);
    expect(ref.shape).toEqual([3, 4, 33, 17]);
    for (const v of gpuVariants()) {
      const g = await gpuRun(v, ad, as, bd, bs, (x, y) => x.matmul(y));
      expect(g.shape).toEqual([3, 4, 33, 17]);
      expectClose(g.data, ref.data, tolFor(65), `${v ?? 'auto'} batched`);
    }
  });

  it('more than 65535 row blocks x batch entries spread over the y/z grid (every kernel)', async () => {
    const as = [66000, 1, 4];
    const bs = [1, 4, 4];
    const ad = randData(numel(as), 51);
    const bd = randData(numel(bs), 52);
    const ref = refMatmul(ad, as, bd, bs);
    for (const v of gpuVariants()) {
      // tiled: a 1 x 4 tile (one invocation) so that 66000 workgroups stay cheap on lavapipe
      const g = await gpuRun(v, ad, as, bd, bs, (x, y) => x.matmul(y), v === 'tiled' ? { rm: 1, wgx: 1, wgy: 1, tk: 4 } : {});
      expectClose(g.data, ref.data, tolFor(4), `${v ?? 'auto'} batch 66000`);
    }
  });

  it('other tile shapes (override constants) stay correct on edge shapes', async () => {
    const tiles = [
      { rm: 1, wgx: 1, wgy: 1, tk: 1 },
      { rm: 2, wgx: 4, wgy: 2, tk: 8 },
      { rm: 4, wgx: 2, wgy: 4, tk: 3 },
      { rm: 8, wgx: 16, wgy: 2, tk: 16 },
    ];
    for (const tile of tiles) {
      for (const [as, bs, tA, tB] of [
        [[2, 37, 13], [13, 29], false, false],
        [[3, 12, 20], [1, 16, 12], true, true],
        [[9, 8], [8, 24], false, false],
      ] as const) {
        const ad = randData(numel(as), 61);
        const bd = randData(numel(bs), 62);
        const ref = refMatmul(ad, [...as], bd, [...bs], tA, tB);
        for (const v of ['scalar', 'vec4', 'tiled'] as const) {
          if (v === 'vec4' && tile.rm % 4 !== 0 && tA) continue; // vec4 with transA needs rm % 4 == 0
          const g = await gpuRun(v, ad, [...as], bd, [...bs], (x, y) => matmulT(x, y, { transA: tA, transB: tB }), tile);
          expectClose(g.data, ref.data, tolFor(as[as.length - 1]), `${v} tile ${JSON.stringify(tile)} ${JSON.stringify(as)}`);
        }
      }
    }
  });

  it('sg: K in several passes, split columns, both io paths and every transpose match float64 and the vec4 twin', async () => {
    // st (rows of K per pass) down to 4 puts most steps in later passes (which add to C) and in
    // tails; cw (columns per workgroup) splits the columns; n % 4 picks the vec4 or scalar io
    if (!hasSg()) {
      expect(() => mg.testing.withKernel('matmul', 'sg', () => mg.ones([4, 4]).matmul(mg.ones([4, 4])))).toThrow(
        /matmul: the subgroup kernel needs subgroups of at least 8 lanes/,
      );
      return;
    }
    const tiles = [
      { cw: 8, st: 4 },
      { cw: 24, st: 64 },
    ];
    const shapes: [number, number, number][] = [
      [33, 13, 20], // scalar io (k % 4 != 0 under transB), k tail
      [45, 36, 19], // n % 4 != 0: scalar io
      [31, 40, 28], // vec4 io, rows past m
      [64, 9, 8], // one column block, a tail of 1
    ];
    for (const tile of tiles) {
      for (const [m, k, n] of shapes) {
        for (const [tA, tB] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          const as = [2, ...(tA ? [k, m] : [m, k])];
          const bs = [2, ...(tB ? [n, k] : [k, n])];
          const ad = randData(numel(as), m + k);
          const bd = randData(numel(bs), n + 2 * k);
          const ref = refMatmul(ad, as, bd, bs, tA, tB);
          const f = (x: mg.Tensor, y: mg.Tensor) => matmulT(x, y, { transA: tA, transB: tB });
          const label = `sg ${JSON.stringify(tile)} ${m}x${k}x${n} tA=${tA} tB=${tB}`;
          const g = await gpuRun('sg', ad, as, bd, bs, f, tile);
          expectClose(g.data, ref.data, tolFor(k), `${label} vs float64`);
          expectClose(g.data, (await gpuRun('vec4', ad, as, bd, bs, f)).data, tolFor(k), `${label} vs vec4`);
        }
      }
    }
  });

  it('1-D operands follow torch.matmul (prepend / append a 1 and drop it)', async () => {
    const cases: [number[], number[], number[]][] = [
      [[5], [5], []],
      [[5], [5, 3], [3]],
      [[4, 5], [5], [4]],
      [[5], [2, 5, 3], [2, 3]],
      [[2, 4, 5], [5], [2, 4]],
      [[3, 2, 4, 5], [5], [3, 2, 4]],
    ];
    for (const [as, bs, expected] of cases) {
      const ad = randData(numel(as), 5);
      const bd = randData(numel(bs), 6);
      const a2 = as.length === 1 ? [1, as[0]] : as;
      const b2 = bs.length === 1 ? [bs[0], 1] : bs;
      const ref = refMatmul(ad, a2, bd, b2).data;
      for (const backend of ['cpu', 'webgpu'] as const) {
        const y = mg.matmul(mg.tensor(ad, as, { backend }), mg.tensor(bd, bs, { backend }));
        expect(y.shape, `${JSON.stringify(as)} @ ${JSON.stringify(bs)}`).toEqual(expected);
        expectClose(
          await y.data(),
          ref,
          backend === 'cpu' ? { rtol: 1e-12, atol: 1e-12 } : tolFor(5),
          `${backend} ${JSON.stringify(as)} @ ${JSON.stringify(bs)}`,
        );
      }
    }
  });

  it('empty dims: k = 0 gives zeros, m = 0 gives an empty result', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const y = mg.matmul(mg.zeros([3, 0], { backend }), mg.zeros([0, 5], { backend }));
      expect(y.shape).toEqual([3, 5]);
      expect(Array.from(await y.data())).toEqual(new Array(15).fill(0));
      const e = mg.matmul(mg.zeros([0, 4], { backend }), mg.ones([4, 5], { backend }));
      expect(e.shape).toEqual([0, 5]);
    }
    // every GPU kernel writes the zeros itself (the output buffer may be a reused one)
    for (const v of gpuVariants()) {
      const g = await gpuRun(v, new Float64Array(0), [40, 0], new Float64Array(0), [0, 36], (x, y) => x.matmul(y));
      expect(
        g.data.every((x) => x === 0),
        `${v ?? 'auto'} k = 0`,
      ).toBe(true);
    }
  });

  it('one dispatch per forward product (batched, broadcast, folded, 1-D, transposed)', async () => {
    const cases: [number[], number[], (a: mg.Tensor, b: mg.Tensor) => mg.Tensor][] = [
      [[64, 48], [48, 32], (a, b) => a.matmul(b)],
      [[3, 1, 33, 65], [4, 65, 17], (a, b) => a.matmul(b)],
      [[2, 7, 16], [16, 8], (a, b) => a.matmul(b)],
      [[16], [2, 16, 8], (a, b) => a.matmul(b)],
      [[2, 7, 16], [16], (a, b) => a.matmul(b)],
      [[2, 16, 7], [2, 9, 16], (a, b) => matmulT(a, b, { transA: true, transB: true })],
      [[2, 5, 16], [12, 16], (a, b) => matmulT(a, b, { transB: true })],
    ];
    for (const [as, bs, f] of cases) {
      const a = mg.randn(as, { seed: 3 });
      const b = mg.randn(bs, { seed: 4 });
      const { kernels } = await mg.profile(() => f(a, b));
      expect(kernels.length, `${JSON.stringify(as)} @ ${JSON.stringify(bs)}: ${kernels.map((k) => k.kernel).join(', ')}`).toBe(1);
      expect(kernels[0].kernel).toMatch(/^matmul:/);
    }
  });

  it('MORAGRAD_KERNEL=matmul=<variant> forces a kernel; a bad value is a clear error', async () => {
    const a = mg.randn([16, 16], { seed: 1 });
    const b = mg.randn([16, 16], { seed: 2 });
    const prev = process.env.MORAGRAD_KERNEL;
    try {
      for (const [env, label] of [
        ['naive', 'matmul:naive'],
        ['scalar', 'matmul:scalar'],
        ['tiled', 'matmul:tiled'],
        ['vec4', 'matmul:vec4'],
      ]) {
        process.env.MORAGRAD_KERNEL = `matmul=${env}`;
        const { kernels } = await mg.profile(() => a.matmul(b));
        expect(kernels.map((k) => k.kernel)).toEqual([label]);
      }
      // a programmatic force wins over the environment
      expect((await mg.testing.withKernel('matmul', 'naive', () => mg.profile(() => a.matmul(b)))).kernels.map((k) => k.kernel)).toEqual([
        'matmul:naive',
      ]);
      process.env.MORAGRAD_KERNEL = 'matmul=bogus';
      expect(() => a.matmul(b)).toThrow(
        /MORAGRAD_KERNEL='matmul=bogus'.*'matmul' has no variant 'bogus'; its variants are naive, fast, scalar, vec4, tiled, sg/,
      );
    } finally {
      if (prev === undefined) delete process.env.MORAGRAD_KERNEL;
      else process.env.MORAGRAD_KERNEL = prev;
    }
  });
});

describe('matmul backward', () => {
  const GRAD_CASES: [string, number[], number[], (a: mg.Tensor, b: mg.Tensor) => mg.Tensor][] = [
    ['2-D', [3, 5], [5, 4], (a, b) => a.matmul(b)],
    ['batch broadcast', [2, 1, 3, 4], [3, 4, 5], (a, b) => a.matmul(b)],
    ['folded batch @ 2-D', [2, 3, 4], [4, 5], (a, b) => a.matmul(b)],
    ['vector @ batched', [4], [2, 4, 3], (a, b) => a.matmul(b)],
    ['batched @ vector', [2, 3, 4], [4], (a, b) => a.matmul(b)],
    ['dot', [6], [6], (a, b) => a.matmul(b)],
    ['transA', [2, 4, 3], [1, 4, 5], (a, b) => matmulT(a, b, { transA: true })],
    ['transB', [1, 3, 4], [2, 5, 4], (a, b) => matmulT(a, b, { transB: true })],
    ['transA transB', [4, 3], [2, 5, 4], (a, b) => matmulT(a, b, { transA: true, transB: true })],
    ['x @ Wᵀ (Linear)', [2, 3, 4], [5, 4], (a, b) => matmulT(a, b, { transB: true })],
    ['aligned (vec4 kernel)', [8, 8], [8, 4], (a, b) => a.matmul(b)],
  ];
  for (const [name, as, bs, f] of GRAD_CASES) {
    it(`${name}: ${JSON.stringify(as)} @ ${JSON.stringify(bs)} gradient matches finite differences (cpu float64 and webgpu)`, async () => {
      for (const backend of ['cpu', 'webgpu'] as const) {
        const a = mg.tensor(randData(numel(as), 31), as, { backend });
        const b = mg.tensor(randData(numel(bs), 32), bs, { backend });
        const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 2e-4, rtol: 2e-3 };
        const r = await gradcheck(f, [a, b], tol);
        expect(r.ok).toBe(true);
        a.dispose();
        b.dispose();
      }
    });
  }

  it('x @ x: both operand slots accumulate into one gradient', async () => {
    const x = mg.tensor(randData(9, 41), [3, 3], { backend: 'cpu' });
    const r = await gradcheck((t) => t.matmul(t), [x], { atol: 1e-7, rtol: 1e-6 });
    expect(r.ok).toBe(true);
  });

  it('gradients have exactly the input shapes and backward frees its temporaries', async () => {
    const a = mg.randn([2, 1, 5, 6], { seed: 1, requiresGrad: true });
    const b = mg.randn([3, 6, 7], { seed: 2, requiresGrad: true });
    const before = mg.memory('webgpu').liveBuffers;
    const y = a.matmul(b);
    const loss = y.sum();
    loss.backward();
    expect(a.grad!.shape).toEqual([2, 1, 5, 6]);
    expect(b.grad!.shape).toEqual([3, 6, 7]);
    y.dispose();
    loss.dispose();
    // only the two gradients remain
    expect(mg.memory('webgpu').liveBuffers - before).toBe(2);
  });
});

describe('matmul errors', () => {
  it('names the op and the shapes', () => {
    const r = (s: number[]) => mg.randn(s, { seed: 1 });
    expect(() => r([2, 3]).matmul(r([4, 5]))).toThrow(
      /matmul: inner dimensions differ: \[2, 3\] @ \[4, 5\] has k = 3 on the left and 4 on the right/,
    );
    expect(() => r([2, 3, 4]).matmul(r([3, 4, 5]))).toThrow(
      /matmul: batch dims \[2\] of \[2, 3, 4\] and \[3\] of \[3, 4, 5\] cannot be broadcast/,
    );
    expect(() => r([3]).matmul(r([4]))).toThrow(/matmul: inner dimensions differ: \[3\] @ \[4\]/);
    expect(() => r([2, 3, 4]).matmul(r([5]))).toThrow(/matmul: inner dimensions differ: \[2, 3, 4\] @ \[5\]/);
    expect(() => r([]).matmul(r([3]))).toThrow(/matmul: 0-D operands are not supported/);
    expect(() => matmulT(r([3]), r([3, 2]))).toThrow(/matmulT: expects tensors of rank >= 2, got \[3\] and \[3, 2\]/);
    expect(() => matmulT(r([4, 3]), r([4, 5]), { transB: true })).toThrow(
      /matmulT: inner dimensions differ: \[4, 3\] @ \[4, 5\]ᵀ has k = 3 on the left and 5 on the right/,
    );
    const i = mg.tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' });
    expect(() => i.matmul(r([2, 2]))).toThrow(/matmul: expects float32 or float16 tensors, got tensor #\d+ \[2, 2\] int32 on the left/);
    expect(() => r([2, 2]).matmul(mg.tensor([1, 2, 3, 4], [2, 2], { backend: 'cpu' }))).toThrow(
      /matmul: tensors live on different backends/,
    );
  });
});
