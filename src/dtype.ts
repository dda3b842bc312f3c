/** float32 on the GPU (float64 on the cpu reference backend); int32 for indices. */
export type DType = 'float32' | 'int32';
export const BYTES_PER_ELEMENT = 4;
