export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export * as arbitraries from './arbitraries.js';
export { forceKernel, withKernel, kernelSwitches, resetKernels, type Forced } from '../kernel-switches.js';
