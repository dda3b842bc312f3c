// Ops at IEEE special values (NaN, ±Inf, ±0, ±3e38) against PyTorch 1.13: the cpu backend (float64)
// against torch in float64, webgpu (float32) against torch in float32, forward and gradient. The
// golden values are fixtures/special-values.json, written by fixtures/special_values.py.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { setupBackends } from '../helpers.js';
import { type Case, checkCase, loadFixture, type Op } from './torch-fixture.js';

setupBackends();

const fixture = { cases: loadFixture('special-values.json') };
const targets = (x: mg.Tensor, c: Case) => mg.tensor(c.targets!, [c.targets!.length], { dtype: 'int32', backend: x.backend.name });
const OPS: Record<string, Op> = {
  neg: ([x]) => x.neg(),
  exp: ([x]) => x.exp(),
  log: ([x]) => x.log(),
  sqrt: ([x]) => x.sqrt(),
  rsqrt: ([x]) => x.rsqrt(),
  abs: ([x]) => x.abs(),
  relu: ([x]) => x.relu(),
  gelu: ([x]) => x.gelu(),
  gelu_tanh: ([x]) => x.gelu('tanh'),
  silu: ([x]) => x.silu(),
  sigmoid: ([x]) => x.sigmoid(),
  tanh: ([x]) => x.tanh(),
  ...Object.fromEntries([-2, -1, 0, 0.5, 1, 1.5, 2, 3].map((p) => [`pow(${p})`, (([x]) => x.pow(p)) as Op])),
  add: ([a, b]) => mg.add(a, b),
  sub: ([a, b]) => mg.sub(a, b),
  mul: ([a, b]) => mg.mul(a, b),
  div: ([a, b]) => mg.div(a, b),
  maximum: ([a, b]) => mg.maximum(a, b),
  minimum: ([a, b]) => mg.minimum(a, b),
  lt: ([a, b]) => mg.lt(a, b),
  le: ([a, b]) => mg.le(a, b),
  gt: ([a, b]) => mg.gt(a, b),
  ge: ([a, b]) => mg.ge(a, b),
  eq: ([a, b]) => mg.eq(a, b),
  ne: ([a, b]) => mg.ne(a, b),
  sum: ([x]) => mg.sum(x, -1),
  mean: ([x]) => mg.mean(x, -1),
  max: ([x]) => mg.max(x, -1),
  min: ([x]) => mg.min(x, -1),
  argmax: ([x]) => mg.cast(mg.argmax(x, -1), 'float32'),
  argmin: ([x]) => mg.cast(mg.argmin(x, -1), 'float32'),
  softmax: ([x]) => mg.softmax(x, -1),
  logSoftmax: ([x]) => mg.logSoftmax(x, -1),
  'crossEntropy(none)': ([x], c) => mg.crossEntropy(x, targets(x, c), { reduction: 'none' }),
  'crossEntropy(mean)': ([x], c) => mg.reshape(mg.crossEntropy(x, targets(x, c)), [1]),
  layerNorm: ([x]) => mg.layerNorm(x),
  rmsNorm: ([x]) => mg.rmsNorm(x),
  matmul: ([a, b]) => mg.matmul(a, b),
  attention: ([q, k, v]) => mg.attention(q, k, v),
  'attention(q NaN)': ([q, k, v]) => mg.attention(q, k, v),
};
/** Both attention implementations are held to the same answer. */
const IMPLS: Record<string, Op> = {
  'attention(flash)': ([q, k, v]) => mg.attention(q, k, v, { impl: 'flash' }),
  'attention(q NaN, flash)': ([q, k, v]) => mg.attention(q, k, v, { impl: 'flash' }),
};
const cases = Object.entries(fixture.cases).flatMap(([name, c]) => {
  const out: [string, Case, Op][] = [[name, c, OPS[name]]];
  const flash = name === 'attention' ? 'attention(flash)' : name === 'attention(q NaN)' ? 'attention(q NaN, flash)' : null;
  if (flash) out.push([flash, c, IMPLS[flash]]);
  return out;
});

describe('special values against PyTorch 1.13 (forward and gradient)', () => {
  it('every op of the fixture has a binding here', () => {
    expect(Object.keys(fixture.cases).filter((k) => !OPS[k])).toEqual([]);
  });

  for (const backend of ['cpu', 'webgpu'] as const) {
    for (const [name, c, op] of cases) it(`${name} on ${backend}`, () => checkCase(name, c, op, backend));
  }
});

describe('special values: the cases that differed between backends', () => {
  for (const backend of ['cpu', 'webgpu'] as const) {
    const t = (d: number[], shape = [d.length], requiresGrad = false) => mg.tensor(d, shape, { backend, requiresGrad });
    const same = async (y: mg.Tensor, want: number[]) => expect(Array.from(await y.data()).map(String)).toEqual(want.map(String));

    it(`${backend}: pow at 0, relu/tanh of NaN, NaN and +Inf softmax rows, a NaN cross-entropy, d/dx x^0 = 0`, async () => {
      await same(t([0, 2]).pow(-1), [Infinity, 0.5]);
      const x = t([0, 4], [2], true);
      x.pow(0.5).sum().backward();
      await same(x.grad!, [Infinity, 0.25]);
      await same(t([NaN, -1]).relu(), [NaN, 0]);
      await same(t([NaN, -100]).tanh(), [NaN, -1]);
      for (const f of [mg.softmax, mg.logSoftmax]) {
        await same(f(t([NaN, 1, 2])), [NaN, NaN, NaN]);
        await same(f(t([Infinity, 1, 2])), [NaN, NaN, NaN]);
      }
      expect(
        Number.isNaN(await mg.crossEntropy(t([NaN, 1, 2, 0.5], [1, 4]), mg.tensor([2], [1], { backend, dtype: 'int32' })).item()),
      ).toBe(true);
      const z = t([0, NaN, 3], [3], true);
      z.pow(0).sum().backward();
      await same(z.grad!, [0, 0, 0]);
    });

    it(`${backend}: a NaN in a padded key's value row: flash keeps it out (output and gradients), 'softmax' multiplies it by P = 0 (NaN, as torch)`, async () => {
      const run = async (impl: 'flash' | 'softmax') => {
        const [q, k] = [0, 1].map(() => t([1, 0, 0, 0, 0, 1, 0, 0], [1, 1, 2, 4], true));
        const v = t([1, 2, 3, 4, NaN, 0, 0, 0], [1, 1, 2, 4], true);
        const y = mg.attention(q, k, v, { impl, keyPadding: t([1, 0], [1, 2]) });
        y.sum().backward();
        return Promise.all([y, q.grad!, k.grad!, v.grad!].map(async (x) => Array.from(await x.data())));
      };
      const [y, dq, dk, dv] = await run('flash');
      expect(y).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
      expect([...dq, ...dk]).toEqual(new Array(16).fill(0));
      expect(dv).toEqual([2, 2, 2, 2, 0, 0, 0, 0]);
      expect((await run('softmax'))[0].map(String)).toEqual(['NaN', '2', '3', '4', 'NaN', '2', '3', '4']);
    });

    it(`${backend}: signed zeros: maximum/minimum return the first operand on ties, x / ±0 is ±Inf by the signs`, async () => {
      const signs = async (y: mg.Tensor) => Array.from(await y.data(), (v) => (Object.is(v, -0) ? '-0' : String(v)));
      expect(await signs(mg.maximum(t([-0, 0]), t([0, -0])))).toEqual(['-0', '0']);
      expect(await signs(mg.minimum(t([-0, 0]), t([0, -0])))).toEqual(['-0', '0']);
      expect(await signs(mg.div(t([1, 1, -1, -1, 0, NaN]), t([0, -0, 0, -0, 0, -0])))).toEqual([
        'Infinity',
        '-Infinity',
        '-Infinity',
        'Infinity',
        'NaN',
        'NaN',
      ]);
    });
  }
});
