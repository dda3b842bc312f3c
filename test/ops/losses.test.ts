// The losses tested three ways over fast-check shapes: cpu against an independent float64 definition
// (host loops), gradients against finite differences in float64 and webgpu against cpu (checkOp; the
// fused class losses also against their naive twins, with class weights, label smoothing and ignored
// rows); probability targets; the points where a composite could go wrong (x = 0, |x| = 100); errors.
// Values against PyTorch itself: losses-torch.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { crossEntropyNaive, nllLossNaive, type Reduction } from '../../src/ops/loss.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
const { arbitraries: arb, checkOp } = mg.testing;
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

const reduce = (v: number[], r: Reduction): number[] => {
  const s = v.reduce((a, b) => a + b, 0);
  return r === 'none' ? v : [r === 'sum' ? s : s / v.length];
};
/** log σ(x), stable: -log(1 + e^-x) for x >= 0, x - log(1 + e^x) below. */
const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

type Pointwise = (x: mg.Tensor, y: mg.Tensor, o: { reduction: Reduction }) => mg.Tensor;
const POINTWISE: [string, Pointwise, (x: number, y: number) => number][] = [
  ['mseLoss', mg.mseLoss, (x, y) => (x - y) ** 2],
  ['l1Loss', mg.l1Loss, (x, y) => Math.abs(x - y)],
  ['smoothL1Loss', mg.smoothL1Loss, (x, y) => (Math.abs(x - y) < 1 ? 0.5 * (x - y) ** 2 : Math.abs(x - y) - 0.5)],
  [
    'smoothL1Loss (beta 0.3)',
    (x, y, o) => mg.smoothL1Loss(x, y, { ...o, beta: 0.3 }),
    (x, y) => (Math.abs(x - y) < 0.3 ? (0.5 * (x - y) ** 2) / 0.3 : Math.abs(x - y) - 0.15),
  ],
  // -(y·log σ(x) + (1 - y)·log(1 - σ(x))), log(1 - σ(x)) = log σ(-x)
  ['bceWithLogits', mg.bceWithLogits, (x, y) => -(y * logSigmoid(x) + (1 - y) * logSigmoid(-x))],
];

const pairData = (scale: number) =>
  arb
    .shape({ minRank: 0, maxRank: 3, maxDim: 7 })
    .chain((s) => fc.tuple(fc.constant(s), arb.tensorData(s, { min: -scale, max: scale }), arb.tensorData(s)));

describe('elementwise losses', () => {
  for (const [name, f, ref] of POINTWISE) {
    it(`${name}: cpu = the float64 definition for each reduction (random shapes)`, async () => {
      await fc.assert(
        fc.asyncProperty(pairData(4), fc.constantFrom(...REDUCTIONS), async ([s, xd, yd], r) => {
          const x = mg.tensor(xd, s, { backend: 'cpu' });
          const y = mg.tensor(name === 'bceWithLogits' ? yd.map((v) => (v + 2) / 4) : yd, s, { backend: 'cpu' });
          const yh = await y.data();
          const out = f(x, y, { reduction: r });
          expect(out.shape).toEqual(r === 'none' ? s : []);
          expectClose(
            await out.data(),
            reduce(
              xd.map((v, i) => ref(v, yh[i])),
              r,
            ),
            { rtol: 1e-12, atol: 1e-13 },
            `${name} ${r}`,
          );
        }),
        { numRuns: 15 },
      );
    });
    it(`${name}: gradcheck (float64) and webgpu = cpu, both arguments, each reduction (checkOp)`, async () => {
      for (const reduction of REDUCTIONS) {
        const report = await checkOp((x, y) => f(x, y, { reduction }), {
          shapes: arb.shape({ minRank: 0, maxRank: 3, maxDim: 6 }).map((s) => [s, s]),
          arbitraries: name === 'bceWithLogits' ? [undefined, (s) => arb.tensorData(s, { min: 0, max: 1 })] : undefined,
          numRuns: 4,
          tol: { gpu: { rtol: 1e-4, atol: 1e-5 } },
        });
        expect(report.ok, `${name} ${reduction}`).toBe(true);
      }
    });
  }

  it('bceWithLogits: weight and posWeight broadcast ([C] and full), checked three ways', async () => {
    const shapes = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 7 })).map(([n, c]) => [[n, c], [n, c], [c], [n, c]]);
    const report = await checkOp((x, y, pw, w) => mg.bceWithLogits(x, y, { posWeight: pw, weight: w, reduction: 'sum' }), {
      shapes,
      arbitraries: [undefined, (s) => arb.tensorData(s, { min: 0, max: 1 }), (s) => arb.tensorData(s, { min: 0.1, max: 4 })],
      wrt: [0, 1],
      numRuns: 5,
    });
    expect(report.ok).toBe(true);
    // against the definition: -w·(p·y·log σ(x) + (1 - y)·log σ(-x))
    const x = [-3, 0, 2.5, 100, -100, 0.5];
    const y = [0, 1, 0.25, 1, 0.5, 0.75];
    const pw = [2, 0.5, 3];
    const w = [0.5, 1, 2, 1.5, 0.25, 3];
    for (const backend of ['cpu', 'webgpu'] as const) {
      const out = mg.bceWithLogits(mg.tensor(x, [2, 3], { backend }), mg.tensor(y, [2, 3], { backend }), {
        posWeight: mg.tensor(pw, [3], { backend }),
        weight: mg.tensor(w, [2, 3], { backend }),
        reduction: 'none',
      });
      const want = x.map((v, i) => -w[i] * (pw[i % 3] * y[i] * logSigmoid(v) + (1 - y[i]) * logSigmoid(-v)));
      expectClose(await out.data(), want, backend === 'cpu' ? { rtol: 1e-12, atol: 1e-14 } : { rtol: 1e-5, atol: 1e-5 }, backend);
    }
  });

  it('bceWithLogits at x = 0 has the exact gradient σ(0) - y (the composite kinks cancel); finite at |x| = 100', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([0, 0, 100, -100], [4], { backend, requiresGrad: true });
      const y = mg.tensor([0, 1, 0, 1], [4], { backend });
      const loss = mg.bceWithLogits(x, y, { reduction: 'sum' });
      expectClose(await loss.data(), [2 * Math.log(2) + 100 + 100], { rtol: 1e-6 }, backend);
      loss.backward();
      expectClose(await x.grad!.data(), [0.5, -0.5, 1, -1], { rtol: 1e-6, atol: 1e-7 }, `${backend} grad`);
    }
  });

  it('l1Loss and smoothL1Loss (beta 0) have gradient 0 at x = y; smoothL1Loss is linear from |d| = beta on', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, 2, 3], [3], { backend, requiresGrad: true });
      const y = mg.tensor([1, 1, 5], [3], { backend });
      mg.l1Loss(x, y, { reduction: 'sum' }).backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 1, -1]);
      x.grad = null;
      mg.smoothL1Loss(x, y, { reduction: 'sum', beta: 0 }).backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 1, -1]);
      x.grad = null;
      const l = mg.smoothL1Loss(x, y, { reduction: 'none', beta: 1 });
      expect(Array.from(await l.data())).toEqual([0, 0.5, 1.5]);
    }
  });

  it('errors name the op, the shapes and what was expected', () => {
    const x = mg.zeros([2, 3]);
    expect(() => mg.mseLoss(x, mg.zeros([3]))).toThrow(/mseLoss: target \[3\] must have the shape of input \[2, 3\]/);
    expect(() => mg.l1Loss(x, mg.zeros([2, 3], { dtype: 'int32' }))).toThrow(
      /l1Loss: target must be float32, got tensor #\d+ \[2, 3\] int32/,
    );
    expect(() => mg.mseLoss(x, x, { reduction: 'avg' as Reduction })).toThrow(
      /mseLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'/,
    );
    expect(() => mg.smoothL1Loss(x, x, { beta: -1 })).toThrow(/smoothL1Loss: beta must be a finite number >= 0, got -1/);
    expect(() => mg.bceWithLogits(x, x, { posWeight: mg.ones([4]) })).toThrow(
      /bceWithLogits: posWeight \[4\] does not broadcast to input \[2, 3\]/,
    );
    expect(() => mg.bceWithLogits(x, 3 as unknown as mg.Tensor)).toThrow(/bceWithLogits: target must be a Tensor, got 3/);
  });
});

// ---- class losses ------------------------------------------------------------------------------------

interface ClassOpts {
  reduction: Reduction;
  ignoreIndex: number;
  labelSmoothing: number;
  weighted: boolean;
}

/** Float64 cross-entropy / nll from the definition (lp: log-probabilities per row, or null = log-softmax of x). */
function classRef(
  x: ArrayLike<number>,
  t: ArrayLike<number>,
  w: ArrayLike<number> | null,
  C: number,
  o: ClassOpts,
  logp: boolean,
): number[] {
  const rows: number[] = [];
  let denom = 0;
  for (let r = 0; r < t.length; r++) {
    const row = Array.from({ length: C }, (_, c) => x[r * C + c]);
    let lp = row;
    if (!logp) {
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      lp = row.map((v) => v - lse);
    }
    if (t[r] === o.ignoreIndex) {
      rows.push(0);
      continue;
    }
    const wc = (c: number) => (w ? w[c] : 1);
    denom += wc(t[r]);
    const smooth = lp.reduce((a, v, c) => a - wc(c) * v, 0);
    rows.push((1 - o.labelSmoothing) * -wc(t[r]) * lp[t[r]] + (o.labelSmoothing / C) * smooth);
  }
  const s = rows.reduce((a, b) => a + b, 0);
  return o.reduction === 'none' ? rows : [o.reduction === 'sum' ? s : s / denom];
}

const classShapes = fc
  .tuple(arb.shape({ minRank: 0, maxRank: 2, maxDim: 5 }), fc.oneof(fc.constantFrom(1, 2, 3, 7, 33), fc.integer({ min: 1, max: 40 })))
  .map(([lead, C]) => [[...lead, C], lead, [C]]);
/** Targets in [0, C) with about one in five set to ignoreIndex. */
const targetArb = (C: number, ignore: number) => (s: readonly number[]) => {
  const n = s.reduce((a, b) => a * b, 1);
  return fc.array(fc.oneof({ arbitrary: fc.integer({ min: 0, max: C - 1 }), weight: 4 }, { arbitrary: fc.constant(ignore), weight: 1 }), {
    minLength: n,
    maxLength: n,
  });
};

/** Class counts per option combination (each combination over two; together 1, primes, 37). */
const CLASS_COUNTS = [
  [6, 37],
  [1, 37],
  [6, 13],
];

describe('crossEntropy and nllLoss: weights, label smoothing, ignored rows', () => {
  const combos: ClassOpts[] = [
    { reduction: 'mean', ignoreIndex: -100, labelSmoothing: 0, weighted: true },
    { reduction: 'mean', ignoreIndex: -100, labelSmoothing: 0.1, weighted: false },
    { reduction: 'mean', ignoreIndex: 0, labelSmoothing: 0.3, weighted: true },
    { reduction: 'sum', ignoreIndex: -100, labelSmoothing: 0.2, weighted: true },
    { reduction: 'none', ignoreIndex: -100, labelSmoothing: 0.05, weighted: true },
    { reduction: 'none', ignoreIndex: 1, labelSmoothing: 0, weighted: false },
  ];

  for (const logp of [false, true]) {
    const name = logp ? 'nllLoss' : 'crossEntropy';
    const fused = (x: mg.Tensor, t: mg.Tensor, w: mg.Tensor | undefined, o: ClassOpts) =>
      logp
        ? mg.nllLoss(x, t, { reduction: o.reduction, ignoreIndex: o.ignoreIndex, weight: w })
        : mg.crossEntropy(x, t, { reduction: o.reduction, ignoreIndex: o.ignoreIndex, weight: w, labelSmoothing: o.labelSmoothing });
    const naive = (x: mg.Tensor, t: mg.Tensor, w: mg.Tensor | undefined, o: ClassOpts) =>
      logp
        ? nllLossNaive(x, t, { reduction: o.reduction, ignoreIndex: o.ignoreIndex, weight: w })
        : crossEntropyNaive(x, t, { reduction: o.reduction, ignoreIndex: o.ignoreIndex, weight: w, labelSmoothing: o.labelSmoothing });

    it(`${name}: cpu = the float64 definition (random shapes, weights, smoothing, ignored rows)`, async () => {
      await fc.assert(
        fc.asyncProperty(classShapes, fc.constantFrom(...combos), fc.integer({ min: 1, max: 1e6 }), async ([xs, ts, ws], o0, seed) => {
          const o = logp ? { ...o0, labelSmoothing: 0 } : o0;
          const C = xs[xs.length - 1];
          const x = mg.rand(xs, { seed, low: -5, high: 5, backend: 'cpu' });
          const xd = logp ? await mg.logSoftmax(x, -1).data() : await x.data();
          const td = fc.sample(targetArb(C, o.ignoreIndex)(ts), { numRuns: 1, seed })[0];
          if (o.reduction === 'mean' && td.every((v) => v === o.ignoreIndex)) return; // NaN, tested elsewhere
          const wd = o.weighted ? Array.from(await mg.rand(ws, { seed: seed + 1, low: 0.1, high: 2, backend: 'cpu' }).data()) : null;
          const out = fused(
            mg.tensor(xd, xs, { backend: 'cpu' }),
            mg.tensor(td, ts, { backend: 'cpu', dtype: 'int32' }),
            wd ? mg.tensor(wd, ws, { backend: 'cpu' }) : undefined,
            o,
          );
          expectClose(await out.data(), classRef(xd, td, wd, C, o, logp), { rtol: 1e-12, atol: 1e-12 }, `${name} ${JSON.stringify(o)}`);
        }),
        { numRuns: 20 },
      );
    });

    it(`${name}: gradcheck, webgpu = cpu and fused = naive twin (checkOp) for each option combination`, async () => {
      for (const [i, o0] of combos.entries()) {
        const o = logp ? { ...o0, labelSmoothing: 0 } : o0;
        for (const C of CLASS_COUNTS[i % 3]) {
          const report = await checkOp((x, t, w) => fused(x, t, o.weighted ? w : undefined, o), {
            shapes: classShapes.map(([, lead]) => [[...lead, C], lead, [C]]),
            dtypes: ['float32', 'int32', 'float32'],
            arbitraries: [undefined, targetArb(C, o.ignoreIndex), (s) => arb.tensorData(s, { min: 0.1, max: 2 })],
            wrt: [0],
            twin: (x, t, w) => naive(x, t, o.weighted ? w : undefined, o),
            numRuns: 2,
            tol: { gpu: { rtol: 1e-4, atol: 5e-5 } },
          }).catch((e: Error) => {
            throw new Error(`${name} ${JSON.stringify(o)} C=${C}: ${e.message}`);
          });
          expect(report.ok).toBe(true);
        }
      }
    });
  }

  it('nllLoss(logSoftmax(x)) = crossEntropy(x) with weights; its fused forward is one dispatch (+ one to reduce), backward one', async () => {
    const x = mg.randn([4, 3, 6], { seed: 3, requiresGrad: true });
    const t = mg.tensor([0, 5, -100, 2, 2, 1, 0, 4, 3, 3, -100, 1], [4, 3], { dtype: 'int32' });
    const w = mg.rand([6], { seed: 4, low: 0.5, high: 2 });
    const a = await mg.crossEntropy(x, t, { weight: w }).data();
    const b = await mg.nllLoss(mg.logSoftmax(x, -1), t, { weight: w }).data();
    expectClose(a, b, { rtol: 1e-5 }, 'ce = nll(logSoftmax)');
    const lp = mg.logSoftmax(x, -1).detach();
    lp.requiresGrad = true;
    for (const reduction of REDUCTIONS) {
      const { result: y, kernels } = await mg.profile(() => mg.nllLoss(lp, t, { reduction, weight: w }));
      expect(kernels.map((k) => k.kernel)).toEqual(reduction === 'none' ? ['nllLoss'] : ['nllLoss', `nllLoss.${reduction}`]);
      const g = mg.onesLike(y);
      lp.grad = null;
      const back = await mg.profile(() => y.backward(g));
      expect(back.kernels.map((k) => k.kernel)).toEqual(['nllLoss.backward']);
    }
  });

  it('weighted mean divides by the weights of the rows not ignored; every row ignored gives NaN (mean) and 0 (sum)', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const lp = mg.tensor([-1, -2, -3, -4, -5, -6], [3, 2], { backend });
      const t = mg.tensor([1, -100, 0], [3], { backend, dtype: 'int32' });
      const w = mg.tensor([3, 0.5], [2], { backend });
      expectClose(await mg.nllLoss(lp, t, { weight: w }).data(), [(0.5 * 2 + 3 * 5) / 3.5], { rtol: 1e-6 }, backend);
      expectClose(await mg.nllLoss(lp, t, { weight: w, reduction: 'none' }).data(), [1, 0, 15], { rtol: 1e-6 }, backend);
      const none = mg.tensor([-100, -100, -100], [3], { backend, dtype: 'int32' });
      expect(Number.isNaN(await mg.nllLoss(lp, none, { weight: w }).item())).toBe(true);
      expect(await mg.crossEntropy(lp, none, { weight: w, reduction: 'sum', labelSmoothing: 0.2 }).item()).toBe(0);
    }
  });
});

describe('crossEntropy with probability targets', () => {
  /** -Σ_c w_c y'_c log softmax(x)_c per row, y' = (1 - ε)·y + ε/C; 'mean' over rows. */
  function probRef(x: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number> | null, C: number, eps: number, r: Reduction) {
    const rows: number[] = [];
    for (let q = 0; q < x.length / C; q++) {
      const row = Array.from({ length: C }, (_, c) => x[q * C + c]);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      rows.push(row.reduce((a, v, c) => a - (w ? w[c] : 1) * ((1 - eps) * y[q * C + c] + eps / C) * (v - lse), 0));
    }
    return reduce(rows, r);
  }

  it('cpu = the float64 definition; gradcheck and webgpu = cpu for logits AND targets (checkOp)', async () => {
    const shapes = fc
      .tuple(arb.shape({ minRank: 0, maxRank: 2, maxDim: 5 }), fc.oneof(fc.constantFrom(1, 2, 3, 7), fc.integer({ min: 1, max: 20 })))
      .map(([lead, C]) => [[...lead, C], [...lead, C], [C]]);
    const probs = (s: readonly number[]) => arb.tensorData(s, { min: 0, max: 1 });
    for (const [eps, weighted, r] of [
      [0, false, 'mean'],
      [0.1, true, 'mean'],
      [0.2, true, 'sum'],
      [0.05, false, 'none'],
    ] as const) {
      const f = (x: mg.Tensor, y: mg.Tensor, w: mg.Tensor) =>
        mg.crossEntropy(x, y, { labelSmoothing: eps, weight: weighted ? w : undefined, reduction: r });
      await fc.assert(
        fc.asyncProperty(
          shapes.chain((s) => fc.tuple(fc.constant(s), arb.tensorData(s[0], { min: -4, max: 4 }), probs(s[1]), probs(s[2]))),
          async ([s, xd, yd, wd]) => {
            const C = s[2][0];
            const out = f(
              mg.tensor(xd, s[0], { backend: 'cpu' }),
              mg.tensor(yd, s[1], { backend: 'cpu' }),
              mg.tensor(wd, s[2], { backend: 'cpu' }),
            );
            expectClose(
              await out.data(),
              probRef(xd, yd, weighted ? wd : null, C, eps, r),
              { rtol: 1e-12, atol: 1e-13 },
              `${eps} ${weighted} ${r}`,
            );
          },
        ),
        { numRuns: 8 },
      );
      const report = await checkOp(f, { shapes, arbitraries: [undefined, probs, probs], wrt: [0, 1], numRuns: 3 });
      expect(report.ok).toBe(true);
    }
  });
});

describe('class losses: errors', () => {
  it('name the op, the shapes and what was expected', async () => {
    const x = mg.randn([2, 3, 5]);
    const t = mg.tensor([0, 1, 2, 3, 4, 0], [2, 3], { dtype: 'int32' });
    expect(() => mg.crossEntropy(x, t, { weight: mg.ones([4]) })).toThrow(
      /crossEntropy: weight must be a float32 tensor of shape \[5\] \(one per class of \[2, 3, 5\]\), got tensor #\d+ \[4\] float32/,
    );
    expect(() => mg.crossEntropy(x, t, { weight: mg.ones([5], { backend: 'cpu' }) })).toThrow(
      /crossEntropy: weight lives on cpu and the input on webgpu/,
    );
    expect(() => mg.crossEntropy(x, t, { labelSmoothing: 1.5 })).toThrow(
      /crossEntropy: labelSmoothing must be a number in \[0, 1\], got 1.5/,
    );
    expect(() => mg.crossEntropy(x, mg.zeros([2, 3, 5]), { ignoreIndex: 0 })).toThrow(
      /crossEntropy: ignoreIndex applies to class-index \(int32\) targets only, not to probability targets/,
    );
    expect(() => mg.nllLoss(x, t, { labelSmoothing: 0.1 } as never)).toThrow(/nllLoss: labelSmoothing is not an option of nllLoss/);
    expect(() => mg.nllLoss(x, mg.tensor([0, 1], [2], { dtype: 'int32' }))).toThrow(
      /nllLoss: targets \[2\] must have the leading shape \[2, 3\] of input \[2, 3, 5\]/,
    );
    const xc = mg.randn([3, 4], { backend: 'cpu' });
    expect(() => mg.nllLoss(xc, mg.tensor([0, 4, 1], [3], { backend: 'cpu', dtype: 'int32' }))).toThrow(
      /nllLoss: target 4 at row 1 is out of range \[0, 4\) for input \[3, 4\] \(and is not ignoreIndex -100\)/,
    );
    const rows = mg.nllLoss(mg.randn([3, 4]), mg.tensor([0, 1, 7], [3], { dtype: 'int32' }), { reduction: 'none' });
    await expect(rows.data()).rejects.toThrow(/nllLoss: target 7 at row 2 is out of range \[0, 4\)/);
  });
});

describe('losses: method form', () => {
  it('pred.x(target, opts) is mg.x(pred, target, opts) for every loss', async () => {
    const pred = mg.tensor([0.3, -1.2, 2.0, 0.5, 0.1, -0.7], [2, 3], { backend: 'cpu' });
    const target = mg.tensor([0.5, -1.0, 1.0, 0.0, 1.0, 0.0], [2, 3], { backend: 'cpu' });
    const labels = mg.tensor([2, 0], [2], { dtype: 'int32', backend: 'cpu' });
    const pairs: [mg.Tensor, mg.Tensor][] = [
      [pred.crossEntropy(labels, { labelSmoothing: 0.1 }), mg.crossEntropy(pred, labels, { labelSmoothing: 0.1 })],
      [pred.logSoftmax(-1).nllLoss(labels, { reduction: 'sum' }), mg.nllLoss(pred.logSoftmax(-1), labels, { reduction: 'sum' })],
      [pred.mseLoss(target), mg.mseLoss(pred, target)],
      [pred.l1Loss(target, { reduction: 'none' }), mg.l1Loss(pred, target, { reduction: 'none' })],
      [pred.smoothL1Loss(target, { beta: 0.5 }), mg.smoothL1Loss(pred, target, { beta: 0.5 })],
      [pred.bceWithLogits(target.clamp(0, 1)), mg.bceWithLogits(pred, target.clamp(0, 1))],
    ];
    for (const [a, b] of pairs) expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
  });
});
