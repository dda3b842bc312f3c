// oneHot (torch.nn.functional.one_hot, as float32): y[.., c] = 1 where indices[..] == c
// (kernels/one_hot.wgsl). Out-of-range indices raise the same error on both backends: the cpu backend
// checks before anything is allocated; on the GPU the kernel records the first bad index in the
// device's error buffer and the backend throws at the next readback (as gather / indexSelect).
import type { CpuBackend } from '../backend/cpu/cpu.js';
import { defineKernel, type BadIndex } from '../backend/interface.js';
import { fail, fmtShape, MoragradError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { run1 } from './apply.js';
import { firstBad } from './gather.js';
import { grid1d } from './grid.js';
import { checkTensor } from './shape.js';

interface OneHotParams {
  /** Elements of y. */
  n: number;
  classes: number;
  indexShape: readonly number[];
}

function indexError(p: OneHotParams, bad: BadIndex): MoragradError {
  return new MoragradError(
    'oneHot',
    `index value ${bad.value} at flat position ${bad.pos} of indices ${fmtShape(p.indexShape)} is out of range for numClasses ${p.classes} (expected 0..${p.classes - 1})`,
  );
}

const oneHotKernel = defineKernel<OneHotParams>({
  name: 'oneHot',
  cpu: ([indices], [y], p) => {
    for (let i = 0; i < p.n; i++) {
      const r = Math.floor(i / p.classes);
      const k = indices[r];
      if (k < 0 || k >= p.classes) throw indexError(p, { value: k, pos: r });
      y[i] = k === i % p.classes ? 1 : 0;
    }
  },
  gpu: {
    shader: 'one_hot',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.classes],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
  indexError,
});

/**
 * One-hot rows: int32 `indices` of any shape -> float32 [...indices.shape, numClasses] with a 1 at
 * each index. numClasses must be given (torch's -1, inferred from the data, would need a readback).
 * Indices outside 0..numClasses-1 throw (on webgpu at the next readback). Not differentiable (the
 * input is an integer tensor).
 */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  const op = 'oneHot';
  checkTensor(op, indices, 'indices');
  if (indices.dtype !== 'int32') fail(op, `indices must be an int32 tensor, got ${indices.describe()}; convert with .cast('int32')`);
  if (!Number.isInteger(numClasses) || numClasses < 1)
    fail(op, `numClasses must be a positive integer, got ${numClasses} (it is not inferred from the data: pass it)`);
  const p: OneHotParams = { n: indices.size * numClasses, classes: numClasses, indexShape: indices.shape };
  if (indices.backend.name === 'cpu') {
    const bad = firstBad((indices.backend as CpuBackend).readSync(indices.storage), numClasses);
    if (bad) throw indexError(p, bad);
  }
  return run1(op, oneHotKernel, [indices], { shape: [...indices.shape, numClasses], dtype: 'float32' }, p);
}

/** Kernels, for tests and benchmarks. */
export const kernels = { oneHot: oneHotKernel };
