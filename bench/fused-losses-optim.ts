// Fused loss and optimizer kernels against their naive twins (primitive ops) on webgpu: ms per call
// (min / median, round-robin so load hits both alike) and dispatches per call. The optimizers step
// one parameter of 2^20 elements; nllLoss and crossEntropy (weight + label smoothing) run forward +
// backward on [1024, 512]. Run: node --import tsx bench/fused-losses-optim.ts [--quick]
import * as mg from '../src/index.js';
import { crossEntropyNaive, nllLossNaive } from '../src/ops/loss.js';
import { gpuSync, parseArgs, table, timingOf } from './common.js';

const args = parseArgs();
const runs = args.quick ? 5 : 15;
await mg.init();

interface Case {
  name: string;
  setup: () => () => void;
}

function optCase(
  name: string,
  make: (p: mg.Tensor, impl: 'fused' | 'naive') => mg.optim.Optimizer<mg.optim.BaseHyper>,
  impl: 'fused' | 'naive',
): Case {
  return {
    name: `${name} ${impl}`,
    setup: () => {
      const p = mg.randn([1 << 20], { seed: 1, requiresGrad: true });
      p.grad = mg.randn([1 << 20], { seed: 2 });
      const opt = make(p, impl);
      opt.step(); // state allocated
      return () => opt.step();
    },
  };
}

function lossCase(name: string, f: (x: mg.Tensor, t: mg.Tensor, w: mg.Tensor) => mg.Tensor, logp: boolean): Case {
  return {
    name,
    setup: () => {
      const [R, C] = [1024, 512];
      const x0 = mg.randn([R, C], { seed: 3 });
      const x = (logp ? mg.logSoftmax(x0, -1) : x0).detach();
      x.requiresGrad = true;
      const t = mg.cast(mg.mul(mg.rand([R], { seed: 4 }), C - 1), 'int32');
      const w = mg.rand([C], { seed: 5, low: 0.5, high: 2 });
      return () =>
        mg.tidy(() => {
          x.grad?.dispose();
          x.grad = null;
          f(x, t, w).backward();
        });
    },
  };
}

const ceOpts = (w: mg.Tensor) => ({ weight: w, labelSmoothing: 0.1 });
const cases: Case[] = [
  ...(['fused', 'naive'] as const).flatMap((impl) => [
    optCase('Adam (amsgrad, wd)', (p, i) => new mg.optim.Adam([p], { amsgrad: true, weightDecay: 0.01, impl: i }), impl),
    optCase('RMSprop (centered, momentum)', (p, i) => new mg.optim.RMSprop([p], { centered: true, momentum: 0.9, impl: i }), impl),
    optCase('Adagrad', (p, i) => new mg.optim.Adagrad([p], { impl: i }), impl),
  ]),
  lossCase('nllLoss fused, weight', (x, t, w) => mg.nllLoss(x, t, { weight: w }), true),
  lossCase('nllLoss naive, weight', (x, t, w) => nllLossNaive(x, t, { weight: w }), true),
  lossCase('crossEntropy fused, weight + smoothing', (x, t, w) => mg.crossEntropy(x, t, ceOpts(w)), false),
  lossCase('crossEntropy naive, weight + smoothing', (x, t, w) => crossEntropyNaive(x, t, ceOpts(w)), false),
];

const fns = cases.map((c) => c.setup());
const samples: number[][] = cases.map(() => []);
const dispatches: number[] = [];
for (const [i, fn] of fns.entries()) {
  const { kernels } = await mg.profile(fn); // warm-up (pipelines compiled) and the dispatch count
  dispatches[i] = kernels.length;
}
for (let r = 0; r < runs; r++) {
  for (const [i, fn] of fns.entries()) {
    await gpuSync();
    const t0 = performance.now();
    fn();
    await gpuSync();
    samples[i].push((performance.now() - t0) / 1000);
  }
}
const rows = cases.map((c, i) => {
  const t = timingOf(samples[i]);
  return [c.name, `${(t.min * 1e3).toFixed(2)} / ${(t.median * 1e3).toFixed(2)}`, dispatches[i]];
});
console.log(table(['case', 'ms min / median', 'dispatches'], rows));
