// MoRA: the fused op (one forward dispatch, one backward dispatch) against an independent float64
// port of the reference code (written here, not shared with src/ops/mora.ts), against golden values
// from a numpy port of the reference, against the naive twin (primitive ops, ordinary autograd), and
// webgpu against cpu; ΔW's invariant mora(x) = x·ΔWᵀ; gradcheck of x and M for every type (cpu
// float64 and webgpu); the edge cases (in <= R, out < R, R = 1, uneven pads, type 6 truncation,
// empty groups); errors; dispatch counts; rank().
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { deltaWeight, mora, moraNaive, type MoraType } from '../../src/ops/mora.js';
import * as moraNs from '../../src/mora/index.js';
import { expectClose, randData, setupBackends } from '../helpers.js';

setupBackends();
const { gradcheck, arbitraries: arb } = mg.testing;
const TYPES: MoraType[] = [1, 2, 3, 4, 6, 'truncation', 'decoupling'];

afterEach(() => mg.testing.resetKernels());

// ---- an independent reference: the reference code's _apply_mora, ported literally to arrays -------
// (torch.cat / view / sum / repeat_interleave become array ops). Where the reference would crash
// (pad > in, i.e. x[..., :pad] is shorter than pad) the padding continues cyclically.

function padWrap(xs: number[], R: number): number[] {
  const k = xs.length;
  const pad = k % R === 0 ? 0 : R - (k % R);
  return xs.concat(Array.from({ length: pad }, (_, i) => xs[i % k]));
}
const chunksOf = (xs: number[], size: number): number[][] =>
  Array.from({ length: xs.length / size }, (_, c) => xs.slice(c * size, c * size + size));
const sumRows = (rows: number[][], R: number) => rows.reduce((acc, r) => acc.map((v, j) => v + r[j]), new Array<number>(R).fill(0));
const repeat = <T>(a: T[], times: number): T[] => Array.from({ length: times }, () => a).flat();
const repeatInterleave = (a: number[], times: number) => a.flatMap((v) => new Array<number>(times).fill(v));

function groupsCompress(xs: number[], R: number): number[] {
  const inF = xs.length;
  const mr = Math.floor(inF / R) + 1;
  const nr = Math.floor(inF / R);
  const m = inF - R * nr;
  const n = R * mr - inF;
  const xm = m > 0 ? chunksOf(xs.slice(0, m * mr), mr).map((g) => g.reduce((a, b) => a + b, 0)) : [];
  const xn = nr > 0 ? chunksOf(xs.slice(m * mr), nr).map((g) => g.reduce((a, b) => a + b, 0)) : new Array<number>(n).fill(0);
  return xm.concat(xn);
}

function groupsDecompress(z: number[], outF: number, R: number): number[] {
  const mr = Math.floor(outF / R) + 1;
  const nr = Math.floor(outF / R);
  const m = outF - R * nr;
  return m > 0 ? repeatInterleave(z.slice(0, m), mr).concat(repeatInterleave(z.slice(m), nr)) : repeatInterleave(z, nr);
}

function refMora(x: ArrayLike<number>, M: ArrayLike<number>, k: number, d: number, R: number, type: MoraType): Float64Array {
  const T = x.length / k;
  const y = new Float64Array(T * d);
  const matvec = (v: number[]) => Array.from({ length: R }, (_, a) => v.reduce((s, vj, j) => s + M[a * R + j] * vj, 0));
  for (let t = 0; t < T; t++) {
    const xs = Array.from(x).slice(t * k, t * k + k);
    let inX: number[][];
    if (type === 1 || type === 4) inX = [sumRows(chunksOf(padWrap(xs, R), R), R)];
    else if (type === 2 || type === 3) inX = [groupsCompress(xs, R)];
    else if (type === 'truncation') inX = [Array.from({ length: R }, (_, j) => (j < k ? xs[j] : 0))];
    else {
      inX = chunksOf(padWrap(xs, R), R);
      if (type === 6) {
        // inv_freq = 1 / 10000^(arange(0, R, 2) / R) in float32; emb = cat(t·inv_freq, t·inv_freq)
        const invFreq = Array.from({ length: R / 2 }, (_, i) => Math.fround(1 / Math.fround(10000 ** Math.fround((2 * i) / R))));
        inX = inX.map((v, c) => {
          const emb = repeat(
            invFreq.map((f) => Math.fround(c * f)),
            2,
          );
          const rh = v
            .slice(R / 2)
            .map((e) => -e)
            .concat(v.slice(0, R / 2));
          return v.map((e, j) => e * Math.cos(emb[j]) + rh[j] * Math.sin(emb[j]));
        });
      }
    }
    const z = inX.map(matvec);
    let out: number[];
    if (type === 1 || type === 3) out = repeat(z[0], Math.ceil(d / R)).slice(0, d);
    else if (type === 2 || type === 4) out = groupsDecompress(z[0], d, R);
    else if (type === 'truncation') out = z[0].concat(new Array<number>(Math.max(0, d - R)).fill(0)).slice(0, d);
    else {
      const flat = z.flat();
      out = flat.length >= d ? flat.slice(0, d) : repeat(flat, Math.ceil(d / flat.length)).slice(0, d);
    }
    y.set(out, t * d);
  }
  return y;
}

// ---- helpers -----------------------------------------------------------------------------------------

interface Case {
  k: number;
  d: number;
  R: number;
  lead: number[];
  seed: number;
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
/** float32 tolerance for results built from sums of about `len` terms of size up to `scale`. */
const f32Tol = (scale: number, len: number) => ({ rtol: 1e-4, atol: 2e-6 * Math.max(1, scale) * Math.sqrt(len) });

function inputs(c: Case, backend: 'cpu' | 'webgpu', requiresGrad = false) {
  const xd = randData(c.lead.reduce((a, b) => a * b, 1) * c.k, c.seed);
  const Md = randData(c.R * c.R, c.seed + 1);
  return {
    xd,
    Md,
    x: mg.tensor(xd, [...c.lead, c.k], { backend, requiresGrad }),
    M: mg.tensor(Md, [c.R, c.R], { backend, requiresGrad }),
  };
}

const caseArb = (type: MoraType): fc.Arbitrary<Case> =>
  fc.record({
    k: fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 13, 16, 33), fc.integer({ min: 1, max: 40 })),
    d: fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 13, 16, 33), fc.integer({ min: 1, max: 40 })),
    R: type === 6 ? fc.integer({ min: 1, max: 7 }).map((h) => 2 * h) : fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 12 })),
    lead: arb.shape({ minRank: 0, maxRank: 2, maxDim: 4 }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
  });

/** The edge cases every type runs through explicitly (k, d, R): in <= R, out < R, R = 1, pads. */
const EDGES: [number, number, number][] = [
  [10, 7, 4], // pad 2, out < in, out not a multiple of R
  [3, 9, 8], // in < R/2: pad 5 > in (cyclic padding), single chunk
  [8, 8, 8], // in = out = R
  [5, 3, 6], // in < R, out < R
  [13, 5, 4], // in > out (type 6 truncates chunk outputs)
  [5, 5, 1], // R = 1 (odd: not for type 6)
  [40, 70, 66], // R > 32 (the 64-wide kernel tiles), R > in
];
const edgesFor = (type: MoraType) => EDGES.filter(([, , R]) => type !== 6 || R % 2 === 0);

// ---- forward -----------------------------------------------------------------------------------------

// numpy port of the reference (float64 x and M, float32 inv_freq/angles): x[i] = sin(1.3i + 0.2),
// M[i] = cos(0.7i + 10), one token.
const GOLDEN: Record<string, number[]> = {
  '10,7,4,1': [1.898084891214, -1.295124915983, 0.542506368378, 0.272801675502, 1.898084891214, -1.295124915983, 0.542506368378],
  '10,7,4,2': [-1.877298900348, -1.877298900348, 1.778654520834, 1.778654520834, -1.474477151375, -1.474477151375, 0.999916104827],
  '10,7,4,3': [-1.877298900348, 1.778654520834, -1.474477151375, 0.999916104827, -1.877298900348, 1.778654520834, -1.474477151375],
  '10,7,4,4': [1.898084891214, 1.898084891214, -1.295124915983, -1.295124915983, 0.542506368378, 0.542506368378, 0.272801675502],
  '10,7,4,6': [-1.056332716429, 1.331074610639, -1.452003754052, 1.405146140967, 1.000559788252, -1.057503289035, 0.992246660266],
  '30,40,6,6': [
    -1.567249592224, 0.02243394089, 1.545252627651, -1.537587585712, -0.037614722342, 1.574469635052, 0.304212335491, 0.58969710812,
    -0.882423112629, 0.275537851815, 0.612252285546, -0.875864468574, 0.864578743385, 1.201566338266, -2.042740543173, 0.801384974697,
    1.256965231362, -2.033866588146, -2.185095451658, -0.379571038496, 2.557273069838, -2.127890552727, -0.470830329633, 2.589549880962,
    0.153086937817, -1.358886237135, 1.179330427636, 0.202527228965, -1.377912758868, 1.148546052832, -1.567249592224, 0.02243394089,
    1.545252627651, -1.537587585712, -0.037614722342, 1.574469635052, 0.304212335491, 0.58969710812, -0.882423112629, 0.275537851815,
  ],
};

describe('mora forward', () => {
  it('matches golden values from a numpy port of the reference code (cpu and webgpu)', async () => {
    for (const [key, want] of Object.entries(GOLDEN)) {
      const [k, d, R, type] = key.split(',').map(Number) as [number, number, number, MoraType];
      const xd = Array.from({ length: k }, (_, i) => Math.sin(1.3 * i + 0.2));
      const Md = Array.from({ length: R * R }, (_, i) => Math.cos(0.7 * i + 10));
      const opts = { inFeatures: k, outFeatures: d, type };
      expectClose(refMora(xd, Md, k, d, R, type), want, { rtol: 1e-9, atol: 1e-11 }, `ref ${key}`);
      for (const backend of ['cpu', 'webgpu'] as const) {
        const y = mora(mg.tensor(xd, [k], { backend }), mg.tensor(Md, [R, R], { backend }), opts);
        expect(y.shape).toEqual([d]);
        expectClose(
          await y.data(),
          want,
          backend === 'cpu' ? { rtol: 1e-9, atol: 1e-11 } : { rtol: 1e-5, atol: 1e-5 },
          `${backend} ${key}`,
        );
      }
    }
  });

  for (const type of TYPES) {
    it(`type ${String(type)}: fused (cpu, webgpu) = naive twin (cpu, webgpu) = reference port, and mora(x) = x·ΔWᵀ`, async () => {
      const check = async (c: Case, gpu: boolean) => {
        const opts = { inFeatures: c.k, outFeatures: c.d, type };
        const { xd, Md, x, M } = inputs(c, 'cpu');
        const ref = refMora(xd, Md, c.k, c.d, c.R, type);
        const tight = { rtol: 1e-10, atol: 1e-12 };
        const y = mora(x, M, opts);
        expect(y.shape).toEqual([...c.lead, c.d]);
        expectClose(await y.data(), ref, tight, 'fused cpu');
        expectClose(await moraNaive(x, M, opts).data(), ref, tight, 'naive cpu');
        // ΔW invariant in float64: x · ΔWᵀ
        const W = await deltaWeight(M, opts).data();
        const T = xd.length / c.k;
        const xw = new Float64Array(T * c.d);
        for (let t = 0; t < T; t++)
          for (let o = 0; o < c.d; o++) for (let i = 0; i < c.k; i++) xw[t * c.d + o] += xd[t * c.k + i] * W[o * c.k + i];
        expectClose(xw, ref, tight, 'x·ΔWᵀ');
        if (!gpu) return;
        const g = inputs(c, 'webgpu');
        const tol = f32Tol(maxAbs(ref), c.k + c.R);
        expectClose(await mora(g.x, g.M, opts).data(), ref, tol, 'fused webgpu');
        expectClose(await moraNaive(g.x, g.M, opts).data(), ref, tol, 'naive webgpu');
        expectClose(await deltaWeight(g.M, opts).data(), W, f32Tol(maxAbs(W), c.k), 'ΔW webgpu');
      };
      for (const [k, d, R] of edgesFor(type)) await check({ k, d, R, lead: [3], seed: k * 7 + d }, true);
      await fc.assert(
        fc.asyncProperty(caseArb(type), fc.boolean(), (c, gpu) => check(c, gpu)),
        { numRuns: 14 },
      );
    });
  }

  // The kernels on CPU adapters (kernels/mora_forward_rows.wgsl, mora_backward_rows.wgsl: a lane's 4
  // rows in private arrays, 32 tokens per workgroup) against the per-chunk kernels they replace there,
  // the float64 port and the naive twin's float64 gradients: token counts across several workgroups
  // and not a multiple of 32 or 4, k and d odd / multiples of 4 (the aligned row loads and the vec4
  // paths), k > d (type 6 loads only the live chunks), and a k past the private arrays (the per-chunk
  // kernels run).
  it('the row-staged kernels = the per-chunk kernels = the reference port and the naive gradients, over shapes and token counts', async () => {
    const shapeArb = fc.record({
      k: fc.oneof(fc.constantFrom(1, 4, 7, 64, 100, 256), fc.integer({ min: 1, max: 90 })),
      d: fc.oneof(fc.constantFrom(1, 4, 9, 64, 256), fc.integer({ min: 1, max: 90 })),
      h: fc.integer({ min: 1, max: 24 }),
      T: fc.oneof(fc.constantFrom(1, 31, 32, 33, 97), fc.integer({ min: 1, max: 70 })),
      type: fc.constantFrom<MoraType>(...TYPES),
      seed: fc.integer({ min: 1, max: 1_000_000 }),
    });
    const check = async ({ k, d, h, T, type, seed }: { k: number; d: number; h: number; T: number; type: MoraType; seed: number }) => {
      const c: Case = { k, d, R: type === 6 ? 2 * h : 2 * h - (seed % 2), lead: [T], seed };
      const { xd, Md } = inputs(c, 'cpu');
      const ref = refMora(xd, Md, k, d, c.R, type);
      const tol = f32Tol(maxAbs(ref), k + c.R);
      const gd = randData(T * d, seed + 2);
      const want = await grads(moraNaive, c, type, 'cpu', gd);
      for (const variant of ['rows', 'sg'] as const) {
        const restore = mg.testing.forceKernel('mora', variant);
        const g = inputs(c, 'webgpu');
        const label = `${variant} type ${String(type)} ${k} -> ${d} R ${c.R} T ${T}`;
        expectClose(await mora(g.x, g.M, { inFeatures: k, outFeatures: d, type }).data(), ref, tol, label);
        const got = await grads(mora, c, type, 'webgpu', gd);
        expectClose(got.dx, want.dx, f32Tol(maxAbs(want.dx), d + c.R), `${label} dx`);
        expectClose(got.dM, want.dM, f32Tol(maxAbs(want.dM), T * (d + k)), `${label} dM`);
        restore();
      }
    };
    await check({ k: 300, d: 20, h: 5, T: 40, type: 6, seed: 4 }); // k past Xp: the per-chunk kernel
    await check({ k: 64, d: 64, h: 11, T: 97, type: 6, seed: 5 }); // the demo's 64 -> 64 (R 22)
    await check({ k: 256, d: 64, h: 18, T: 40, type: 6, seed: 6 }); // the demo's 256 -> 64: 2 of 8 chunks reach y
    await check({ k: 100, d: 9, h: 3, T: 5, type: 'decoupling', seed: 7 }); // 2 of 17 chunks, k % 4 == 0
    await fc.assert(fc.asyncProperty(shapeArb, check), { numRuns: 12 });
  }, 120_000);

  it('tensors of 5 or 6 floats (buffers the kernels read as vec4s) match cpu, forward and backward', async () => {
    // x [5] and g [6]: 20- and 24-byte tensors; the kernels bind x, g and M as arrays of vec4
    for (const type of [1, 6, 'truncation'] as MoraType[]) {
      for (const [k, d, R] of [
        [5, 6, 2],
        [6, 5, 2],
      ]) {
        const c: Case = { k, d, R, lead: [1], seed: k + d };
        const gd = randData(d, 3);
        const want = await grads(moraNaive, c, type, 'cpu', gd);
        const got = await grads(mora, c, type, 'webgpu', gd);
        const { xd, Md } = inputs(c, 'cpu');
        const g = inputs(c, 'webgpu');
        const ref = refMora(xd, Md, k, d, R, type);
        const label = `type ${String(type)} ${k} -> ${d}`;
        expectClose(await mora(g.x, g.M, { inFeatures: k, outFeatures: d, type }).data(), ref, f32Tol(maxAbs(ref), k + R), label);
        expectClose(got.dx, want.dx, f32Tol(maxAbs(want.dx), d + R), `${label} dx`);
        expectClose(got.dM, want.dM, f32Tol(maxAbs(want.dM), d + k), `${label} dM`);
      }
    }
  });

  it('a large case over several kernel tiles (T = 150, k = 200, d = 130, R = 70) matches cpu', async () => {
    for (const type of [1, 6] as MoraType[]) {
      const c: Case = { k: 200, d: 130, R: 70, lead: [3, 50], seed: 5 };
      const opts = { inFeatures: c.k, outFeatures: c.d, type };
      const cpu = inputs(c, 'cpu');
      const gpu = inputs(c, 'webgpu');
      const ref = await mora(cpu.x, cpu.M, opts).data();
      expectClose(await mora(gpu.x, gpu.M, opts).data(), ref, f32Tol(maxAbs(ref), c.k + c.R), `large type ${type}`);
    }
  });

  // One pipeline per blocking, type and direction, each compiled by lavapipe's LLVM on first use.
  it('every kernel blocking and both products (the GPU one included; a tiny workgroup memory forcing staged K) give the same results', async () => {
    const c: Case = { k: 75, d: 90, R: 34, lead: [37], seed: 9 };
    const gd = randData(37 * 90, 10);
    for (const type of [1, 6] as MoraType[]) {
      const want = await grads(moraNaive, c, type, 'cpu', gd);
      const { xd, Md } = inputs(c, 'cpu');
      const ref = refMora(xd, Md, c.k, c.d, c.R, type);
      // (lavapipe's own pick, 'sg' with all of St, runs in every other test)
      for (const [variant, tile] of [
        ['smem', { wgt: 8, wga: 8, smem: 1792 }], // the GPU blocking (M staged in workgroup memory)
        ['smem', { wgt: 2, wga: 1, smem: 40 }], // R > staged columns: K in stages, columns copied out in stages
        ['smem', { wgt: 3, wga: 3, smem: 256 }], // several lanes per token block, ragged column blocks, 9 lanes
        ['sg', { smem: 72 }], // the subgroup product over K in stages of 9 (tails of 1)
      ] as const) {
        const restore = mg.testing.forceKernel('mora', variant, tile);
        const g = inputs(c, 'webgpu');
        const label = `type ${type} ${variant} ${JSON.stringify(tile)}`;
        expectClose(await mora(g.x, g.M, { inFeatures: c.k, outFeatures: c.d, type }).data(), ref, f32Tol(maxAbs(ref), c.k + c.R), label);
        const got = await grads(mora, c, type, 'webgpu', gd);
        expectClose(got.dx, want.dx, f32Tol(maxAbs(want.dx), c.d + c.R), `${label} dx`);
        expectClose(got.dM, want.dM, f32Tol(maxAbs(want.dM), 37 * (c.d + c.k)), `${label} dM`);
        restore();
      }
    }
  }, 300_000); // 16 pipelines, compiled cold in CI: tens of seconds on 2 lavapipe cores (docs/mora.md)

  it('the subgroup product takes no lane counts (it is 8 x 1 lanes); a zero blocking is refused', () => {
    expect(() => mg.testing.forceKernel('mora', 'sg', { wgt: 4 })).toThrow(
      /forceKernel: 'mora' variant 'sg' has no knob 'wgt'; its knobs are smem/,
    );
    mg.testing.forceKernel('mora', 'smem', { wgt: 0 });
    const x = mg.randn([4, 8], { seed: 1 });
    const M = mg.randn([4, 4], { seed: 2 });
    expect(() => mora(x, M, { inFeatures: 8, outFeatures: 8, type: 1 })).toThrow(/mora: the blocking needs wgt, wga, smem >= 1/);
  });

  it('an empty batch gives an empty result and zero gradients', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.zeros([0, 6], { backend, requiresGrad: true });
      const M = mg.randn([4, 4], { seed: 1, backend, requiresGrad: true });
      const y = mora(x, M, { inFeatures: 6, outFeatures: 5, type: 6 });
      expect(y.shape).toEqual([0, 5]);
      y.sum().backward();
      expect(Array.from(await M.grad!.data())).toEqual(new Array(16).fill(0));
      expect(x.grad!.shape).toEqual([0, 6]);
    }
  });
});

// ---- backward ----------------------------------------------------------------------------------------

async function grads(f: typeof mora, c: Case, type: MoraType, backend: 'cpu' | 'webgpu', gd: Float64Array) {
  const { x, M } = inputs(c, backend, true);
  const y = f(x, M, { inFeatures: c.k, outFeatures: c.d, type });
  y.backward(mg.tensor(gd, y.shape, { backend }));
  return { dx: await x.grad!.data(), dM: await M.grad!.data() };
}

describe('mora backward', () => {
  for (const type of TYPES) {
    it(`type ${String(type)}: fused backward (cpu, webgpu) = the naive twin's autograd`, async () => {
      const check = async (c: Case, gpu: boolean) => {
        const T = c.lead.reduce((a, b) => a * b, 1);
        const gd = randData(T * c.d, c.seed + 2);
        const want = await grads(moraNaive, c, type, 'cpu', gd);
        const got = await grads(mora, c, type, 'cpu', gd);
        expectClose(got.dx, want.dx, { rtol: 1e-10, atol: 1e-12 }, 'dx cpu');
        expectClose(got.dM, want.dM, { rtol: 1e-10, atol: 1e-12 }, 'dM cpu');
        if (!gpu) return;
        const g = await grads(mora, c, type, 'webgpu', gd);
        expectClose(g.dx, want.dx, f32Tol(maxAbs(want.dx), c.d + c.R), 'dx webgpu');
        expectClose(g.dM, want.dM, f32Tol(maxAbs(want.dM), T * (c.d + c.k)), 'dM webgpu');
      };
      for (const [k, d, R] of edgesFor(type)) await check({ k, d, R, lead: [2, 3], seed: k + 3 * d }, true);
      await fc.assert(
        fc.asyncProperty(caseArb(type), fc.boolean(), (c, gpu) => check(c, gpu)),
        { numRuns: 10 },
      );
    });

    it(`type ${String(type)}: gradcheck of x and M (cpu float64 and webgpu)`, async () => {
      const shapes: [number, number, number, number[]][] = [
        [10, 7, 4, [3]],
        [3, 9, 8, [2]],
        [13, 5, 4, [2, 1]],
      ];
      for (const [k, d, R, lead] of shapes) {
        for (const backend of ['cpu', 'webgpu'] as const) {
          const { x, M } = inputs({ k, d, R, lead, seed: k + d + R }, backend);
          const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 3e-4, rtol: 3e-3 };
          const r = await gradcheck((a, b) => mora(a, b, { inFeatures: k, outFeatures: d, type }), [x, M], tol);
          expect(r.ok, `${backend} ${k}->${d} R=${R}`).toBe(true);
          x.dispose();
          M.dispose();
        }
      }
    });
  }

  // K = nc·T >= 512 (chunk, token) pairs: the dM reduction runs in slices of K that one more dispatch
  // sums; T odd or not a multiple of 4 stores U and V entry by entry, T % 4 == 0 as vec4s.
  it('long token counts: dM in slices of K (webgpu and cpu) = the naive twin, one dispatch more', async () => {
    const caseFor = (type: MoraType) =>
      fc.record({
        // type 1: one chunk, T >= 512; type 6 (R 4, k 9, d 7): two chunks reach y, T >= 256
        T: fc.oneof(fc.constantFrom(512, 521, 700), fc.integer({ min: type === 6 ? 256 : 512, max: 760 })),
        seed: fc.integer({ min: 1, max: 1_000_000 }),
      });
    for (const type of [1, 6] as MoraType[]) {
      await fc.assert(
        fc.asyncProperty(caseFor(type), async ({ T, seed }) => {
          const c: Case = { k: 9, d: 7, R: type === 6 ? 4 : 5, lead: [T], seed };
          const gd = randData(T * c.d, seed + 2);
          const want = await grads(moraNaive, c, type, 'cpu', gd);
          const cpu = await grads(mora, c, type, 'cpu', gd);
          expectClose(cpu.dM, want.dM, { rtol: 1e-10, atol: 1e-12 }, `dM cpu T ${T}`);
          const got = await grads(mora, c, type, 'webgpu', gd);
          expectClose(got.dx, want.dx, f32Tol(maxAbs(want.dx), c.d + c.R), `dx webgpu T ${T}`);
          expectClose(got.dM, want.dM, f32Tol(maxAbs(want.dM), T * (c.d + c.k)), `dM webgpu T ${T}`);
        }),
        { numRuns: 4 },
      );
      const { x, M } = inputs({ k: 9, d: 7, R: 4, lead: [600], seed: 3 }, 'webgpu', true);
      const y = mora(x, M, { inFeatures: 9, outFeatures: 7, type });
      const ones = mg.ones(y.shape, { backend: 'webgpu' });
      const p = await mg.profile(() => y.backward(ones));
      const names = p.kernels.map((k) => k.kernel.replace(/:.*/, ''));
      expect(names.slice(0, 2)).toEqual(['mora.backward', 'mora.dm']);
      expect(names.length, names.join(', ')).toBe(3); // the sum of the slices
      expect(p.kernels[1].shader).toBe('mora_dm#ST_ROWS=256');
    }
  });

  it('type 6 with in > out: inputs whose chunks are truncated away get exactly zero gradient', async () => {
    // k = 18, d = 5, R = 4: n = 5 chunks, pad 2; only chunks 0 and 1 reach y (ceil(5/4) = 2), so
    // x[8..18) never matter. x[0..2) also feed the (ignored) wrap-around chunk 4: still non-zero.
    const c: Case = { k: 18, d: 5, R: 4, lead: [3], seed: 11 };
    for (const backend of ['cpu', 'webgpu'] as const) {
      const { dx, dM } = await grads(mora, c, 6, backend, randData(3 * 5, 4));
      for (let t = 0; t < 3; t++) {
        for (let i = 0; i < 18; i++) {
          const v = dx[t * 18 + i];
          if (i >= 8) expect(v, `${backend} dx[${t}, ${i}]`).toBe(0);
          else expect(Math.abs(v), `${backend} dx[${t}, ${i}]`).toBeGreaterThan(0);
        }
      }
      expect(maxAbs(dM)).toBeGreaterThan(0);
    }
    // the paper-scale example: 11008 -> 4096 uses 38% of the inputs (R = 348 for r = 8, type 6)
    const R = moraNs.rank(11008, 4096, 8, 6);
    expect(R).toBe(348);
    expect((Math.ceil(4096 / R) * R) / 11008).toBeCloseTo(0.38, 2);
  });

  it('types 2/3 with in < R: empty groups compress to 0 (the columns of M past in get no gradient)', async () => {
    const c: Case = { k: 3, d: 9, R: 8, lead: [4], seed: 12 };
    for (const type of [2, 3] as MoraType[]) {
      for (const backend of ['cpu', 'webgpu'] as const) {
        const { dM } = await grads(mora, c, type, backend, randData(4 * 9, 5));
        for (let a = 0; a < 8; a++) for (let j = 3; j < 8; j++) expect(dM[a * 8 + j]).toBe(0);
        expect(maxAbs(dM)).toBeGreaterThan(0);
      }
      // and ΔW only reads M[:, :k]
      const M = mg.randn([8, 8], { seed: 3, backend: 'cpu' });
      const W = await deltaWeight(M, { inFeatures: 3, outFeatures: 9, type }).data();
      const Md = await M.data();
      // 8 rows -> 9 outputs: interleave (one group of 2 first, then 7 of 1) / tile
      const rows = type === 2 ? [0, 0, 1, 2, 3, 4, 5, 6, 7] : [0, 1, 2, 3, 4, 5, 6, 7, 0];
      const want = rows.flatMap((a) => [0, 1, 2].map((i) => Md[a * 8 + i]));
      expectClose(W, want, { rtol: 0, atol: 0 }, `ΔW type ${type}`);
    }
  });
});

// ---- dispatches ------------------------------------------------------------------------------------

describe('mora dispatches (mg.profile)', () => {
  it('forward: one dispatch; backward: one for dx plus one for the cross-token reduction of dM; deltaWeight: one', async () => {
    for (const type of TYPES) {
      const opts = { inFeatures: 21, outFeatures: 10, type };
      const x = mg.randn([2, 5, 21], { seed: 1, requiresGrad: true });
      const M = mg.randn([6, 6], { seed: 2, requiresGrad: true });
      const g = mg.randn([2, 5, 10], { seed: 3 });
      const fwd = await mg.profile(() => mora(x, M, opts));
      // lavapipe: the row-staged kernel, its private arrays sized to k = 21, R = 6 and nc·R rounded up to the 64-row minimum
      const noTable = (s: string) => s.replace(/#TYPE_\w+=\d+/g, ''); // the type names every MoRA shader gets
      expect(fwd.kernels.map((k) => noTable(k.shader))).toEqual(['mora_forward_rows#XP_ROWS=64#ST_ROWS=64#Z_ROWS=64']);
      expect(fwd.kernels[0].kernel).toMatch(/^mora\.forward/);
      const bwd = await mg.profile(() => fwd.result.backward(g));
      expect(bwd.kernels.map((k) => k.kernel.replace(/:.*/, ''))).toEqual(['mora.backward', 'mora.dm']); // lavapipe: the subgroup dM reduction
      expect(bwd.kernels[1].shader).toBe('mora_dm#ST_ROWS=64'); // K = 10 or 20 (tokens x chunks), at least 64
      expect(x.grad!.shape).toEqual([2, 5, 21]);
      expect(M.grad!.shape).toEqual([6, 6]);
      const dw = await mg.profile(() => deltaWeight(M, opts));
      expect(dw.kernels.map((k) => noTable(k.shader))).toEqual(['mora_delta']);
      expect(dw.result.shape).toEqual([10, 21]);
    }
    // only x needs a gradient: one dispatch
    const x = mg.randn([4, 9], { seed: 1, requiresGrad: true });
    const M = mg.randn([4, 4], { seed: 2 });
    const y = mora(x, M, { inFeatures: 9, outFeatures: 9, type: 1 });
    const g = mg.ones([4, 9]);
    const p = await mg.profile(() => y.backward(g));
    expect(p.kernels.length).toBe(1);
    expect(M.grad).toBe(null);
  });
});

// ---- rank, namespace, errors -------------------------------------------------------------------------

describe('mg.mora namespace', () => {
  it('rank() follows the reference rounding (spec section 2)', () => {
    expect(moraNs.rank(4096, 4096, 8, 1)).toBe(256);
    expect(moraNs.rank(4096, 4096, 8, 6)).toBe(256);
    expect(moraNs.rank(4096, 4096, 256, 1)).toBe(1448);
    expect(moraNs.rank(4096, 4096, 256, 6)).toBe(1448);
    expect(moraNs.rank(4096, 11008, 8, 1)).toBe(348);
    // The spec lists "k=768, d=2560, r=8 -> 111 / 110", but its own formula gives 111 for k + d = 1536
    // (768 -> 768: sqrt(12288) = 110.85) and 163 for 768 -> 2560 (sqrt(26624) = 163.2). The formula
    // (the reference code) is the contract; both readings are pinned here.
    expect(moraNs.rank(768, 768, 8, 1)).toBe(111);
    expect(moraNs.rank(768, 768, 8, 6)).toBe(110);
    expect(moraNs.rank(768, 768, 8, 'decoupling')).toBe(111);
    expect(moraNs.rank(768, 2560, 8, 1)).toBe(163);
    expect(moraNs.rank(768, 2560, 8, 6)).toBe(162);
    expect(() => moraNs.rank(0, 4, 8)).toThrow(/mora\.rank: inFeatures must be a positive integer, got 0/);
    expect(() => moraNs.rank(4, 4, 1.5)).toThrow(/mora\.rank: r must be a positive integer/);
    expect(() => moraNs.rank(4, 4, 8, 5 as MoraType)).toThrow(/mora\.rank: unknown type 5/);
    expect(() => moraNs.rank(1, 1, 1, 6)).toThrow(/too small for type 6/);
  });

  it('exports the op, the twin, deltaWeight and the types', () => {
    expect(moraNs.types).toEqual([1, 2, 3, 4, 6, 'truncation', 'decoupling']);
    expect(moraNs.apply).toBe(mora);
    expect(moraNs.mora).toBe(mora);
    expect(moraNs.moraNaive).toBe(moraNaive);
    expect(moraNs.deltaWeight).toBe(deltaWeight);
  });
});

describe('mora errors', () => {
  it('bad options and shapes name the op and the shapes', () => {
    const x = mg.randn([2, 10], { seed: 1 });
    const M = mg.randn([4, 4], { seed: 2 });
    const opts = { inFeatures: 10, outFeatures: 7, type: 1 as MoraType };
    expect(() => mora(x, M, { ...opts, type: 5 as MoraType })).toThrow(
      /mora: unknown type 5; expected one of 1, 2, 3, 4, 6, 'truncation', 'decoupling'/,
    );
    expect(() => mora(x, M, { ...opts, type: 'rotation' as MoraType })).toThrow(/mora: unknown type 'rotation'/);
    expect(() => mora(x, mg.randn([4, 3]), opts)).toThrow(/mora: M must be a square matrix \[R, R\] with R >= 1, got \[4, 3\]/);
    expect(() => mora(x, mg.randn([2, 4, 4]), opts)).toThrow(/mora: M must be a square matrix .* got \[2, 4, 4\]/);
    expect(() => mora(x, M, { ...opts, inFeatures: 9 })).toThrow(/mora: x \[2, 10\] must be \[\.\.\., inFeatures = 9\].*M is \[4, 4\]/);
    expect(() => mora(x, mg.randn([5, 5]), { ...opts, type: 6 })).toThrow(/mora: type 6 .* needs an even R, got M \[5, 5\]/);
    expect(() => mora(x, M, { ...opts, outFeatures: 0 })).toThrow(/mora: outFeatures must be a positive integer, got 0/);
    expect(() => mora(x, M, undefined as unknown as typeof opts)).toThrow(/mora: expects options/);
    expect(() => mora(mg.tensor([1, 2], [2], { dtype: 'int32' }), M, { ...opts, inFeatures: 2 })).toThrow(/mora: x must be float32/);
    expect(() => moraNaive(x, mg.randn([4, 3]), opts)).toThrow(/moraNaive: M must be a square matrix/);
    expect(() => deltaWeight(mg.randn([5, 5]), { ...opts, type: 6 })).toThrow(/deltaWeight: type 6 .* even R/);
    expect(() => deltaWeight(M, { ...opts, type: 0 as MoraType })).toThrow(/deltaWeight: unknown type 0/);
    const c = mg.randn([4, 4], { seed: 2, backend: 'cpu' });
    expect(() => mora(x, c, opts)).toThrow(/different backends/);
  });
});
