// moragrad: tensors on WebGPU with reverse-mode autograd.
//
//   import * as mg from 'moragrad';
//   await mg.init();
//   const x = mg.randn([64, 128], { seed: 1, requiresGrad: true });
import './ops/methods.js';

export { Tensor, type NestedArray } from './tensor.js';
export type { DType } from './dtype.js';
export { MoragradError } from './errors.js';
export { noGrad, isGradEnabled } from './autograd.js';
export { forwardBackward, type ForwardBackwardOptions } from './train/step.js';
export {
  init,
  getBackend,
  tidy,
  keep,
  memory,
  profile,
  setCheckFinite,
  type InitOptions,
  type BackendName,
  type Memory,
  type Profile,
} from './runtime.js';
export type { Backend, TraceEntry } from './backend/interface.js';
export {
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  fullLike,
  arange,
  rand,
  randn,
  clone,
  cast,
  to,
  type CreateOptions,
  type RandomOptions,
} from './ops/creation.js';
export { manualSeed, HostRng } from './ops/random.js';
export { neg, exp, log, sqrt, rsqrt, abs, relu, gelu, silu, sigmoid, tanh, pow } from './ops/unary.js';
export { add, sub, mul, div, maximum, minimum, lt, le, gt, ge, eq, ne, where } from './ops/binary.js';
export { sum, mean, max, min, argmax, argmin, sumTo } from './ops/reduce.js';
export { softmax, logSoftmax, softmaxNaive } from './ops/softmax.js';
export { matmul } from './ops/matmul.js';
export { reshape, permute, transpose, expand, slice, concat, stack, stridedCopy } from './ops/shape.js';
export { gather, indexSelect, checkIndex } from './ops/gather.js';
export { checkFinite } from './ops/finite.js';
export {
  customOp,
  OpContext,
  type CustomOp,
  type CustomOpSpec,
  type KernelCall,
  type CpuKernel,
  type ParamValue,
  type ParamValues,
  type WgslSource,
} from './custom/op.js';
export * as testing from './testing/index.js';
export * as io from './io/index.js';
export * as data from './data/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as peft from './adapters/index.js';
export * as mora from './mora/index.js';
export * as ops from './ops/index.js';
// elementwise ops and reductions (issue 15)
export { sin, cos, erf, log1p, expm1, square, sign, floor, round, clamp, softplus, leakyRelu, elu } from './ops/unary.js';
export { prod, logsumexp, variance, variance as var, std, norm, all, any } from './ops/stats.js';
export { cumsum } from './ops/scan.js';
export { layerNorm, rmsNorm } from './ops/norm.js';
export { crossEntropy } from './ops/loss.js';
export { attention, scaledMaskedSoftmax } from './ops/attention.js';
export type { AttentionLayout, AttentionOptions, MaskedSoftmaxOptions } from './ops/attention.js';
export { dropout } from './ops/dropout.js';
// losses (torch.nn.functional's, class dim last)
export { nllLoss, type CrossEntropyOptions, type NllLossOptions, type Reduction } from './ops/loss.js';
export {
  mseLoss,
  l1Loss,
  smoothL1Loss,
  bceWithLogits,
  type LossOptions,
  type SmoothL1Options,
  type BceWithLogitsOptions,
} from './ops/pointwise-loss.js';
// shape, indexing, einsum
export { squeeze, unsqueeze, flatten } from './ops/view.js';
export { split, chunk } from './ops/split.js';
export { repeat } from './ops/repeat.js';
export { pad } from './ops/pad.js';
export { flip, roll } from './ops/flip.js';
export { tril, triu } from './ops/tri.js';
export { sort, topk, type SortResult, type SortOptions, type TopkOptions } from './ops/sort.js';
export { oneHot } from './ops/one-hot.js';
export { scatterAdd, indexAdd } from './ops/index-add.js';
export { einsum } from './ops/einsum.js';
