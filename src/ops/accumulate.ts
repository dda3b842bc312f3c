// acc += x in place: how backward sums the gradients that reach one tensor (kernels/accumulate.wgsl).
// Not recorded on the tape; the caller guarantees that `acc` owns its storage alone. Four vec4s per
// invocation where n % 4 == 0 (the elementwise kernels' vec4 path and switch, src/ops/elementwise.ts).
import { defineKernel } from '../backend/interface.js';
import { fail, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { runInPlace } from './apply.js';
import { elementwisePath, withVec4 } from './elementwise.js';
import { grid1d } from './grid.js';

const accumulateKernel = withVec4(
  defineKernel<{ n: number }>({
    name: 'accumulate',
    cpu: ([x], [acc], { n }) => {
      for (let i = 0; i < n; i++) acc[i] += x[i];
    },
    f16: 'alias',
    gpu: {
      shader: 'accumulate',
      uniforms: (p) => [['u32', p.n]],
      workgroups: (p) => grid1d(p.n, 256),
    },
  }),
);

/** acc ← acc + x (same shape, one float dtype); `acc` must not share its storage with another tensor. */
export function accumulate(acc: Tensor, x: Tensor): void {
  if (acc.shape.join() !== x.shape.join() || acc.dtype !== x.dtype || acc.dtype === 'int32')
    fail(
      'accumulate',
      `needs two float tensors of one shape and dtype, got ${fmtShape(acc.shape)} ${acc.dtype} and ${fmtShape(x.shape)} ${x.dtype}`,
    );
  if (acc.storage.refs !== 1) fail('accumulate', `${acc.describe()} shares its storage with a view; accumulating in place would change it`);
  runInPlace('accumulate', accumulateKernel[elementwisePath(acc.size % 4 === 0)], [x], [acc], { n: acc.size });
}
