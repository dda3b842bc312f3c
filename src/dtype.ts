// Element types. float32 (float64 on the cpu reference backend), float16 (IEEE binary16 storage:
// 2 bytes per element on the GPU, needing the adapter's `shader-f16`; kernels accumulate in f32),
// int32 for indices. The binary16 / bfloat16 conversions below are exact and round to nearest even,
// as the hardware's and torch's.

/** float32 on the GPU (float64 on the cpu reference backend), float16 storage, int32 for indices. */
export type DType = 'float32' | 'float16' | 'int32';
export const DTYPES: readonly DType[] = ['float32', 'float16', 'int32'];
export const BYTES_PER_ELEMENT = 4;

/** Bytes per element of `dtype` in a device buffer. */
export function bytesPer(dtype: DType): number {
  return dtype === 'float16' ? 2 : 4;
}

/** float32 or float16. */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16';
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** binary16 bits -> its value (exact). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24; // zero and subnormals
  if (e === 31) return m === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/**
 * A number (float64, so float32 values too) -> the nearest binary16 bits, ties to even; beyond the
 * largest finite half (65504) by half an ulp or more it is ±Inf; NaN -> a quiet NaN (0x7e00).
 * Rounds once, from the exact value (no double rounding through float32).
 */
export function numberToF16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // subnormal range: units of 2^-24, rounded to nearest even (a result of 1024 units is the smallest normal)
    return sign | roundEven(a * 2 ** 24);
  }
  // Math.log2 may be off by one beside a power of two: 2^e <= a < 2^(e+1) is made exact
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a = (1 + f) 2^e; the 10-bit mantissa in units of 2^(e-10)
  let q = roundEven(a * 2 ** (10 - e)); // in [1024, 2048]
  if (q === 2048) {
    q = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (q - 1024);
}

/** Round half to even of a non-negative number (exact for the magnitudes used here). */
function roundEven(x: number): number {
  const f = Math.floor(x);
  const r = x - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The value of `v` rounded to binary16 (Math.f16round). */
export function f16round(v: number): number {
  return f16BitsToNumber(numberToF16Bits(v));
}

/** bfloat16 bits -> its value (exact: the high half of a float32). */
export function bf16BitsToNumber(h: number): number {
  U32[0] = (h & 0xffff) << 16;
  return F32[0];
}

/**
 * A float32 value -> the nearest bfloat16 bits, ties to even (as torch's `.to(torch.bfloat16)`);
 * NaN -> a quiet NaN keeping the sign. `v` is rounded to float32 first: callers pass float32 data.
 */
export function float32ToBf16Bits(v: number): number {
  F32[0] = v;
  const u = U32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) & 0x8000) | 0x7fc0;
  const lsb = (u >>> 16) & 1;
  return ((u + 0x7fff + lsb) >>> 16) & 0xffff;
}
