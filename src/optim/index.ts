// The `optim` namespace: optimizers, learning-rate schedules, gradient clipping.
export { Optimizer, type BaseHyper, type GroupSpec, type ParamGroup, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDHyper } from './sgd.js';
export { AdamW, adamwFused, adamwNaive, adamwStepParams, type AdamWHyper, type AdamWOptions, type AdamWStepParams } from './adamw.js';
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
export { clipGradNorm } from './clip.js';
