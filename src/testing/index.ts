export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export * as arbitraries from './arbitraries.js';
export { forceKernel, withKernel, kernelSwitches, resetKernels, type Forced } from '../kernel-switches.js';
export { checkOp, type CheckOpOptions, type CheckOpReport, type CheckStat, type DataArbitrary, type Tolerance } from './check-op.js';
