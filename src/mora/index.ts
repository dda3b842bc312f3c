// The public mg.mora namespace: the budget rule (rank), the merge matrix (deltaWeight), the types,
// and the op itself (also as mg.mora.apply). The layer that owns M (MoRALinear) lives in adapters/.
//
//   const R = mg.mora.rank(4096, 4096, 8, 6);                         // 256
//   const M = mg.zeros([R, R], { requiresGrad: true });
//   const dy = mg.mora.apply(x, M, { inFeatures: 4096, outFeatures: 4096, type: 6 });
//   W.add(mg.mora.deltaWeight(M, { inFeatures: 4096, outFeatures: 4096, type: 6 }));   // merge
import { fail } from '../errors.js';
import { MORA_TYPES, type MoraType } from '../ops/mora.js';

export { mora, mora as apply, moraNaive, deltaWeight, moraGeometry, moraTuning as tuning, type MoraType, type MoraOptions, type MoraGeometry, type MoraTile } from '../ops/mora.js';

/** Every accepted `type`: 1, 2, 3, 4, 6 (the reference's mora_type), 'truncation', 'decoupling'. */
export const types: readonly MoraType[] = MORA_TYPES;

/**
 * r̂, the side of M, for a LoRA rank r on a (inFeatures -> outFeatures) layer, as the reference
 * computes it: R = floor(sqrt((k + d)·r) + 0.5) (round half up; the paper's floor differs), made
 * even for type 6 (R = 2·floor(R/2)), whose rotation pairs entries (j, j + R/2). Same budget as
 * LoRA r up to that rounding: R² ≈ (k + d)·r.
 */
export function rank(inFeatures: number, outFeatures: number, r: number, type: MoraType = 1): number {
  const op = 'mora.rank';
  for (const [name, v] of [
    ['inFeatures', inFeatures],
    ['outFeatures', outFeatures],
    ['r', r],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${String(v)}`);
  }
  if (!MORA_TYPES.includes(type)) fail(op, `unknown type ${typeof type === 'string' ? `'${type}'` : String(type)}; expected one of 1, 2, 3, 4, 6, 'truncation', 'decoupling'`);
  let R = Math.floor(Math.sqrt((inFeatures + outFeatures) * r) + 0.5);
  if (type === 6) R = 2 * Math.floor(R / 2);
  if (R < 1 || (type === 6 && R < 2)) fail(op, `(${inFeatures} + ${outFeatures})·${r} is too small for type ${String(type)}: r̂ would be ${R}`);
  return R;
}
