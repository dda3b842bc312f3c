export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export * as arbitraries from './arbitraries.js';
