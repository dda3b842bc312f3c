// The public mg.mora namespace: the budget rule (rank), the merge matrix (deltaWeight), the types,
// and the op itself (also as mg.mora.apply). The rules live in ./rules.ts; the layer that owns M
// (MoRALinear) lives in adapters/.
//
//   const R = mg.mora.rank(4096, 4096, 8, 6);                         // 256
//   const M = mg.zeros([R, R], { requiresGrad: true });
//   const dy = mg.mora.apply(x, M, { inFeatures: 4096, outFeatures: 4096, type: 6 });
//   W.add(mg.mora.deltaWeight(M, { inFeatures: 4096, outFeatures: 4096, type: 6 }));   // merge
import { MORA_TYPES, type MoraType } from './rules.js';

export { mora, mora as apply, moraNaive, deltaWeight, type MoraOptions, type MoraTile } from '../ops/mora.js';
export { rank, moraGeometry, checkType, type MoraType, type MoraGeometry } from './rules.js';

/** Every accepted `type`: 1, 2, 3, 4, 6 (the reference's mora_type), 'truncation', 'decoupling'. */
export const types: readonly MoraType[] = MORA_TYPES;
