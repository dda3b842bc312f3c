// The elementwise ops and reductions of issue 15 at IEEE special values (NaN, ±Inf, ±0, ±3e38)
// against PyTorch 1.13, forward and gradient: the cpu backend (float64) against torch in float64,
// webgpu (float32) against torch in float32. The golden values are fixtures/special-values-elem.json,
// written by fixtures/special_values_elem.py (the format of special-values.test.ts's fixture).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

type Num = number | 'nan' | 'inf' | '-inf';
interface Result {
  y: Num[];
  shape: number[];
  grads?: (Num[] | null)[];
  w?: Num[];
}
interface Case {
  inputs: Num[][];
  shapes: number[][];
  f64: Result;
  f32: Result;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/special-values-elem.json', import.meta.url), 'utf8')) as {
  cases: Record<string, Case>;
};
const nums = (a: Num[]): number[] => a.map((v) => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v));

const OPS: Record<string, (xs: mg.Tensor[]) => mg.Tensor> = {
  sin: ([x]) => x.sin(),
  cos: ([x]) => x.cos(),
  erf: ([x]) => x.erf(),
  log1p: ([x]) => x.log1p(),
  expm1: ([x]) => x.expm1(),
  square: ([x]) => x.square(),
  sign: ([x]) => x.sign(),
  floor: ([x]) => x.floor(),
  round: ([x]) => x.round(),
  'clamp(-1, 2)': ([x]) => x.clamp(-1, 2),
  'clamp(min 0)': ([x]) => x.clamp(0),
  'clamp(max 0.5)': ([x]) => x.clamp(undefined, 0.5),
  softplus: ([x]) => x.softplus(),
  'softplus(2, 5)': ([x]) => x.softplus(2, 5),
  leakyRelu: ([x]) => x.leakyRelu(),
  'leakyRelu(0.2)': ([x]) => x.leakyRelu(0.2),
  elu: ([x]) => x.elu(),
  'elu(0.5)': ([x]) => x.elu(0.5),
  'pow(tensor)': ([a, b]) => mg.pow(a, b),
  prod: ([x]) => x.prod(-1),
  logsumexp: ([x]) => x.logsumexp(-1),
  var: ([x]) => x.var(-1),
  'var(correction 0)': ([x]) => x.var(-1, { correction: 0 }),
  std: ([x]) => x.std(-1),
  'norm(1)': ([x]) => x.norm(1, -1),
  'norm(2)': ([x]) => x.norm(2, -1),
  'norm(3)': ([x]) => x.norm(3, -1),
  'norm(Infinity)': ([x]) => x.norm(Infinity, -1),
  cumsum: ([x]) => x.cumsum(-1),
  all: ([x]) => x.all(-1),
  any: ([x]) => x.any(-1),
};

describe('issue 15 ops at special values against PyTorch 1.13 (forward and gradient)', () => {
  it('every op of the fixture has a binding here, and every binding a case', () => {
    expect(Object.keys(fixture.cases).filter((k) => !OPS[k])).toEqual([]);
    expect(Object.keys(OPS).filter((k) => !fixture.cases[k])).toEqual([]);
  });

  for (const backend of ['cpu', 'webgpu'] as const) {
    const tol = backend === 'cpu' ? { rtol: 1e-9, atol: 1e-12 } : { rtol: 1e-4, atol: 1e-5 };
    for (const [name, c] of Object.entries(fixture.cases)) {
      it(`${name} on ${backend}`, async () => {
        const want = backend === 'cpu' ? c.f64 : c.f32;
        const grad = want.grads !== undefined;
        const xs = c.inputs.map((d, i) => mg.tensor(nums(d), c.shapes[i], { backend, requiresGrad: grad }));
        const y = OPS[name](xs);
        expect(y.shape).toEqual(want.shape);
        expectClose(await y.data(), nums(want.y), tol, `${name} forward`);
        if (grad) {
          y.mul(mg.tensor(nums(want.w!), want.shape, { backend }))
            .sum()
            .backward();
          for (const [i, g] of want.grads!.entries()) {
            if (g) expectClose(await xs[i].grad!.data(), nums(g), tol, `${name} gradient of input ${i}`);
          }
        }
        for (const t of [...xs, y]) t.dispose();
      });
    }
  }
});
