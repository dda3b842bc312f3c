// The two memory paths of the elementwise kernels (src/ops/elementwise.ts): `vec4` (four elements
// per invocation) against its twin `scalar` (one): every op of the unary and binary tables on shapes
// that take the vec4 path and shapes that cannot (sizes not a multiple of 4), the broadcast paths
// (a trailing block on either side, a general broadcast, a broadcast along the last dim) with a few
// ops, all with special values; both against the float64 cpu backend.
import { afterEach, describe, it } from 'vitest';
import * as mg from '../../src/index.js';
import { type BinaryOp, binary, binaryOps } from '../../src/ops/binary.js';
import { unary, unaryOps } from '../../src/ops/unary.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => mg.testing.resetKernels());

/** Values in ±3 with NaN, ±Inf and ±0 sprinkled in. */
function data(n: number, seed: number): number[] {
  const rng = new mg.HostRng(seed);
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0];
  return Array.from({ length: n }, () => (rng.next() < 0.05 ? specials[rng.int(specials.length)] : rng.next() * 6 - 3));
}

async function bothPaths(f: () => mg.Tensor): Promise<Record<'scalar' | 'vec4', Float32Array>> {
  const out = {} as Record<'scalar' | 'vec4', Float32Array>;
  for (const path of ['scalar', 'vec4'] as const) {
    const y = mg.testing.withKernel('elementwise', path, f);
    out[path] = (await y.data()) as Float32Array;
    y.dispose();
  }
  return out;
}

const nanEq = { rtol: 0, atol: 0 };

describe('elementwise: vec4 path vs the scalar twin', () => {
  it('binary: every op, vec4-able and scalar-only broadcasts, matches the scalar path exactly and cpu closely', async () => {
    // every op on the same-shape paths; the broadcast paths (op-independent index arithmetic) with two
    const cases: [number[], number[], readonly BinaryOp[]][] = [
      [[6, 8], [6, 8], binaryOps()], // same shape
      [[7, 5], [7, 5], binaryOps()], // n % 4 != 0: scalar path
      [[5, 3, 12], [12], ['add', 'div']], // trailing block on the right (bias)
      [[12], [5, 3, 12], ['sub', 'maximum']], // ... and on the left
      [
        [4, 1, 8],
        [1, 3, 8],
        ['mul', 'lt'],
      ], // general broadcast, last dim whole
      [
        [4, 8],
        [4, 1],
        ['add', 'ne'],
      ], // broadcast along the last dim: scalar path
      [[1031, 16], [16], ['add']], // several workgroups of 256 x 4 vec4s, the last one partial
      // the vec4 bias path steps its offset by 256 mod the block (in vec4s): a block of 1, of 6 over two
      // dims, and blocks above 256 (257, 258) so that the step wraps and the workgroups start mid-block
      [[9, 4], [4], ['add']],
      [[2, 5, 3, 8], [3, 8], ['sub']],
      [[1028], [3, 1028], ['mul']],
      [[130, 1032], [1032], ['add']],
    ];
    for (const [i, [as, bs, ops]] of cases.entries()) {
      const ad = data(
        as.reduce((p, d) => p * d, 1),
        10 + i,
      );
      const bd = data(
        bs.reduce((p, d) => p * d, 1),
        50 + i,
      );
      for (const op of ops) {
        const a = mg.tensor(ad, as);
        const b = mg.tensor(bd, bs);
        const got = await bothPaths(() => binary(op, a, b));
        expectClose(got.vec4, got.scalar, nanEq, `${op} ${JSON.stringify(as)} ${JSON.stringify(bs)} vec4 vs scalar`);
        const want = binary(op, mg.tensor(ad, as, { backend: 'cpu' }), mg.tensor(bd, bs, { backend: 'cpu' }));
        expectClose(got.vec4, await want.data(), { rtol: 2e-5, atol: 2e-6 }, `${op} ${JSON.stringify(as)} ${JSON.stringify(bs)} vs cpu`);
        for (const t of [a, b, want]) t.dispose();
      }
    }
  });

  it('unary: every op, n % 4 == 0 (vec4) and not (scalar), matches the scalar path exactly and cpu closely', async () => {
    // 16388: several workgroups of 256 x 4 vec4s, the last one partial
    for (const n of [64, 30, 16388]) {
      const d = data(n, n);
      for (const op of unaryOps()) {
        const [pa, pb] = op === 'pow' ? [3, 0] : op === 'affine' ? [1.5, -0.25] : [0, 0];
        const x = mg.tensor(d, [n]);
        const got = await bothPaths(() => unary(op, x, pa, pb));
        expectClose(got.vec4, got.scalar, nanEq, `${op} n ${n} vec4 vs scalar`);
        const want = unary(op, mg.tensor(d, [n], { backend: 'cpu' }), pa, pb);
        expectClose(got.vec4, await want.data(), { rtol: 2e-5, atol: 2e-6 }, `${op} n ${n} vs cpu`);
        x.dispose();
        want.dispose();
      }
    }
  });
});
