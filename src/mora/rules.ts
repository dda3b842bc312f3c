// MoRA's rules, once: the types and their names, the one type check, "type 6 needs an even r̂", the
// rank formula and the geometry of one (k, d, r̂, type). Everything else (the op, the kernels, the
// layer, the file loader, ReMoRA) asks here. Semantics: shared/reference/mora-spec.md.
//
// Notation: k = inFeatures, d = outFeatures, R = r̂ (M is R x R), n = ceil(k/R) input chunks,
// pad = nR - k, and the wrap-around padding x_pad[p] = x[p mod k] (p < nR).
import { fail } from '../errors.js';

/**
 * Compression / decompression type (`mora_type` of the reference): 1 sharing-strided + tile,
 * 2 contiguous groups + repeat-interleave, 3 groups + tile, 4 strided + interleave, 6 chunks rotated
 * by RoPE of the chunk index; the paper-only 'truncation' and 'decoupling' (6 without rotation).
 */
export type MoraType = 1 | 2 | 3 | 4 | 6 | 'truncation' | 'decoupling';

/**
 * Every type with its code: the TYPE override of the kernels, and the name of that code in WGSL
 * (module constants generated from this table, kernels/mora_common.wgsl: `TYPE == TYPE_6`).
 */
const TYPES: readonly (readonly [MoraType, number, string])[] = [
  [1, 1, 'TYPE_1'],
  [2, 2, 'TYPE_2'],
  [3, 3, 'TYPE_3'],
  [4, 4, 'TYPE_4'],
  [6, 6, 'TYPE_6'],
  ['truncation', 7, 'TYPE_TRUNCATION'],
  ['decoupling', 8, 'TYPE_DECOUPLING'],
];

/** Every accepted type. Types 1 and 6 are the ones meant for end users (6 for small r, 1 for large r). */
export const MORA_TYPES: readonly MoraType[] = TYPES.map(([t]) => t);

/** The kernels' type codes by WGSL name (module constants of every MoRA shader). */
export const MORA_TYPE_CONSTANTS: Readonly<Record<string, number>> = Object.fromEntries(TYPES.map(([, c, name]) => [name, c]));

const CODE = new Map(TYPES.map(([t, c]) => [t, c]));

/** A type as written in code and messages: 6, 'truncation'. */
export function typeName(t: unknown): string {
  return typeof t === 'string' ? `'${t}'` : String(t);
}

/**
 * `t` as a MoraType, or a MoragradError from `op`: "unknown <what> <t>; expected one of 1, 2, 3, 4,
 * 6, 'truncation', 'decoupling' (there is no type 5)". `what` names the field ('type', 'mora_type').
 */
export function checkType(op: string, t: unknown, what = 'type'): MoraType {
  if (!CODE.has(t as MoraType))
    fail(op, `unknown ${what} ${typeName(t)}; expected one of ${MORA_TYPES.map(typeName).join(', ')} (there is no type 5)`);
  return t as MoraType;
}

/** Type 6 rotates pairs (j, j + R/2): it needs an even R. `where` says whose R it is. */
export function checkEvenR(op: string, type: MoraType, R: number, where: string): void {
  if (type === 6 && R % 2 !== 0)
    fail(op, `type 6 rotates pairs (j, j + R/2) and needs an even R, got ${where} (mg.mora.rank rounds R down to even for type 6)`);
}

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
  checkType(op, type);
  let R = Math.floor(Math.sqrt((inFeatures + outFeatures) * r) + 0.5);
  if (type === 6) R = 2 * Math.floor(R / 2);
  if (R < 1 || (type === 6 && R < 2))
    fail(op, `(${inFeatures} + ${outFeatures})·${r} is too small for type ${typeName(type)}: r̂ would be ${R}`);
  return R;
}

/** Shape facts of one (k, d, R, type), shared by the op, the loops and the kernels' uniforms. */
export interface MoraGeometry {
  type: MoraType;
  /** The kernels' TYPE code. */
  code: number;
  k: number;
  d: number;
  R: number;
  /** Input chunks ceil(k / R). */
  n: number;
  /** Wrap-around padding nR - k. */
  pad: number;
  /** Chunks whose outputs reach y (types 6 / decoupling: min(n, ceil(d / R))), else 1. */
  nc: number;
  /** dx[0 .. nfold) receive several x_pad positions (types 1, 4, 6, decoupling with pad > 0). */
  nfold: number;
}

// What a type code means (kernels/mora_common.wgsl has the same predicates).
/** Compression c[j] = Σ_m x_pad[mR + j] (types 1, 4). */
export const isStrided = (c: number) => c === 1 || c === 4;
/** Compression over uneven contiguous groups (types 2, 3). */
export const isGroups = (c: number) => c === 2 || c === 3;
/** Decompression y[o] = z[o mod R] (types 1, 3). */
export const isTileOut = (c: number) => c === 1 || c === 3;
/** Decompression y[o] = z[group_d(o)] (types 2, 4). */
export const isGroupsOut = (c: number) => c === 2 || c === 4;
/** n chunks, each times M (types 6, decoupling). */
export const isChunked = (c: number) => c === 6 || c === 8;
/** Chunks rotated by RoPE of the chunk index (type 6). */
export const isRotated = (c: number) => c === 6;
/** c = x[0..R), y = [z; 0] ('truncation'). */
export const isTruncation = (c: number) => c === 7;

export function moraGeometry(k: number, d: number, R: number, type: MoraType): MoraGeometry {
  const code = CODE.get(checkType('moraGeometry', type))!;
  const n = Math.ceil(k / R);
  const pad = n * R - k;
  const folds = isStrided(code) || isChunked(code);
  return { type, code, k, d, R, n, pad, nc: isChunked(code) ? Math.min(n, Math.ceil(d / R)) : 1, nfold: folds ? Math.min(pad, k) : 0 };
}
