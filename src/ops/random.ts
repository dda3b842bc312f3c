// The counter-based generator shared by both backends (mirrors kernels/random.wgsl bit for bit).
// A stream is a 32-bit key; element i is pcg(pcg(i) ^ key). Calls without a seed draw their key from
// a global sequence set by `manualSeed`.

export function pcg(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function streamKey(seed: number): number {
  return pcg(seed >>> 0);
}

export function bits(key: number, i: number): number {
  return pcg((pcg(i) ^ key) >>> 0);
}

/** Uniform in [0, 1) with 24 random bits (exactly representable in float32). */
export function uniformAt(key: number, i: number): number {
  return (bits(key, i) >>> 8) / 16777216;
}

/** Standard normal by Box-Muller from elements 2i and 2i+1 of the stream. */
export function normalAt(key: number, i: number): number {
  const u1 = ((bits(key, 2 * i) >>> 8) + 1) / 16777216;
  const u2 = (bits(key, 2 * i + 1) >>> 8) / 16777216;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

let globalState = 0x2545f491;

/** Seeds the global sequence used by random functions called without `seed`. */
export function manualSeed(seed: number): void {
  globalState = pcg(seed >>> 0);
}

/** The next seed of the global sequence. */
export function nextSeed(): number {
  globalState = pcg((globalState + 0x9e3779b9) >>> 0);
  return globalState;
}

/** Seeded random integers in [0, n) on the host (data shuffling, dropout masks on cpu tests). */
export class HostRng {
  private i = 0;
  private readonly key: number;
  constructor(seed: number) {
    this.key = streamKey(seed);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return uniformAt(this.key, this.i++);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    return normalAt(this.key, this.i++);
  }
  /** State for checkpoints. */
  get position(): number {
    return this.i;
  }
  set position(p: number) {
    this.i = p;
  }
}
