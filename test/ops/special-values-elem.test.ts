// The elementwise ops and reductions of issue 15 at IEEE special values (NaN, ±Inf, ±0, ±3e38)
// against PyTorch 1.13, forward and gradient: the cpu backend (float64) against torch in float64,
// webgpu (float32) against torch in float32. The golden values are fixtures/special-values-elem.json,
// written by fixtures/special_values_elem.py (the format of special-values.test.ts's fixture).
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { setupBackends } from '../helpers.js';
import { checkCase, loadFixture } from './torch-fixture.js';

setupBackends();

const fixture = { cases: loadFixture('special-values-elem.json') };

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
    for (const [name, c] of Object.entries(fixture.cases)) it(`${name} on ${backend}`, () => checkCase(name, c, OPS[name], backend));
  }
});
