// Parameter initialisers (each returns a fresh Parameter on the requested backend). Seeded ones
// draw from the counter-based RNG, so the same seed gives the same weights on cpu and webgpu.
import { full, rand, randn } from '../ops/creation.js';
import { fail, fmtShape } from '../errors.js';
import { noGrad } from '../autograd.js';
import type { BackendName } from '../runtime.js';
import { Parameter } from './module.js';

export interface InitOptions {
  seed?: number;
  backend?: BackendName;
}

function check(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
    fail(op, `shape ${Array.isArray(shape) ? fmtShape(shape) : String(shape)} must hold non-negative integers`);
}

/** U(low, high). */
export function uniform(shape: readonly number[], low: number, high: number, opts: InitOptions = {}): Parameter {
  check('init.uniform', shape);
  return noGrad(() => new Parameter(rand(shape, { seed: opts.seed, backend: opts.backend, low, high })));
}

/** N(0, std²). */
export function normal(shape: readonly number[], std: number, opts: InitOptions = {}): Parameter {
  check('init.normal', shape);
  if (!(std >= 0)) fail('init.normal', `std must be >= 0, got ${std}`);
  return noGrad(() => new Parameter(randn(shape, { seed: opts.seed, backend: opts.backend, std })));
}

/** A constant. */
export function constant(shape: readonly number[], value: number, opts: InitOptions = {}): Parameter {
  check('init.constant', shape);
  return noGrad(() => new Parameter(full(shape, value, { backend: opts.backend })));
}

/**
 * torch.nn.Linear's default (kaiming_uniform_ with a = √5): U(-1/√fanIn, 1/√fanIn); torch uses the
 * same bound for the bias.
 */
export function kaimingUniform(shape: readonly number[], fanIn: number, opts: InitOptions = {}): Parameter {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(shape, -bound, bound, opts);
}
