// mg.ops: the op functions by family, including the fused ones that have no Tensor method.
export * from './unary.js';
export * from './binary.js';
export { sum, mean, max, min, argmax, argmin, sumTo } from './reduce.js';
export { softmax, logSoftmax, softmaxNaive } from './softmax.js';
export { matmul, matmulT } from './matmul.js';
export { reshape, permute, transpose, expand, slice, concat, stack, stridedCopy } from './shape.js';
export { gather, indexSelect, checkIndex } from './gather.js';
export { layerNorm, rmsNorm, layerNormNaive, rmsNormNaive } from './norm.js';
export { crossEntropy, crossEntropyNaive } from './loss.js';
export { attention, attentionNaive, scaledMaskedSoftmax } from './attention.js';
export { dropout, dropoutNaive } from './dropout.js';
export { mora, moraNaive, deltaWeight } from './mora.js';
export { nllLoss, nllLossNaive } from './loss.js';
export { mseLoss, l1Loss, smoothL1Loss, bceWithLogits } from './pointwise-loss.js';
// shape, indexing, einsum
export { squeeze, unsqueeze, flatten } from './view.js';
export { split, chunk } from './split.js';
export { repeat } from './repeat.js';
export { pad } from './pad.js';
export { flip, roll } from './flip.js';
export { tril, triu } from './tri.js';
export { sort, topk, type SortResult, type SortOptions, type TopkOptions } from './sort.js';
export { oneHot } from './one-hot.js';
export { scatterAdd, indexAdd } from './index-add.js';
export { einsum } from './einsum.js';
export { prod, logsumexp, variance, variance as var, std, norm, all, any } from './stats.js';
export { cumsum } from './scan.js';
export { accumulate } from './accumulate.js';
