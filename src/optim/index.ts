// The `optim` namespace: optimizers, learning-rate schedules, gradient clipping.
export { Optimizer, type BaseHyper, type GroupSpec, type ParamGroup, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDHyper } from './sgd.js';
export { Adam, AdamW, adamwFused, adamwNaive, adamwStepParams, type AdamWHyper, type AdamWOptions, type AdamWStepParams } from './adamw.js';
export {
  constantLr,
  linearLr,
  cosineLr,
  cosineWithWarmup,
  LrScheduler,
  type Schedule,
  type ScheduleOptions,
  type DecayOptions,
  type CosineOptions,
} from './schedule.js';
export { clipGradNorm, clipGradNormNaive, clipGradValue } from './clip.js';
export {
  RMSprop,
  rmspropFused,
  rmspropNaive,
  type RMSpropHyper,
  type RMSpropOptions,
  type RMSpropStepParams,
  type RMSpropState,
} from './rmsprop.js';
export { Adagrad, adagradFused, adagradNaive, type AdagradHyper, type AdagradOptions, type AdagradStepParams } from './adagrad.js';
