// Elementwise losses, as torch.nn.functional's: mseLoss, l1Loss, smoothL1Loss, bceWithLogits. Each is
// a composite of elementwise ops (a few dispatches over the inputs, one reduction), so autograd gives
// the gradients of both arguments; the derivatives are written beside each. Input and target must
// have the same shape (torch broadcasts them with a warning that it is likely a bug; here it is an
// error). Reductions: 'mean' (default) over all elements (NaN for none, as torch), 'sum', 'none'.
import { fail, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { add, lt, maximum, mul, sub, where } from './binary.js';
import type { Reduction } from './loss.js';
import { mean, sum } from './reduce.js';
import { abs, exp, log, neg } from './unary.js';

function checkPair(op: string, input: Tensor, target: Tensor, reduction: unknown): Reduction {
  for (const [name, t] of [
    ['input', input],
    ['target', target],
  ] as const) {
    if (!t || typeof t !== 'object' || !('shape' in t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
    if (t.dtype !== 'float32') fail(op, `${name} must be float32, got ${t.describe()}`);
  }
  if (input.shape.join() !== target.shape.join())
    fail(op, `target ${fmtShape(target.shape)} must have the shape of input ${fmtShape(input.shape)}`);
  const r = reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') fail(op, `reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`);
  return r;
}

function reduce(x: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? x : reduction === 'sum' ? sum(x) : mean(x);
}

export interface LossOptions {
  /** 'mean' (default) over every element, 'sum', or 'none' (the elementwise losses). */
  reduction?: Reduction;
}

/**
 * (x - y)², reduced (torch.nn.functional.mse_loss).
 * d/dx = 2(x - y), d/dy = -2(x - y)
 */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const r = checkPair('mseLoss', input, target, opts.reduction);
  const d = sub(input, target);
  return reduce(mul(d, d), r);
}

/**
 * |x - y|, reduced (torch.nn.functional.l1_loss).
 * d/dx = sign(x - y) (0 at x = y, as torch), d/dy = -sign(x - y)
 */
export function l1Loss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const r = checkPair('l1Loss', input, target, opts.reduction);
  return reduce(abs(sub(input, target)), r);
}

export interface SmoothL1Options extends LossOptions {
  /** Where the loss turns from quadratic to linear (default 1, > = 0; 0 is l1Loss), as torch's beta. */
  beta?: number;
}

/**
 * Huber-like loss (torch.nn.functional.smooth_l1_loss), d = x - y:
 *   0.5·d²/β where |d| < β, else |d| - 0.5·β        (β = 0: |d|)
 * d/dx = d/β where |d| < β, else sign(d);   d/dy = -d/dx
 */
export function smoothL1Loss(input: Tensor, target: Tensor, opts: SmoothL1Options = {}): Tensor {
  const r = checkPair('smoothL1Loss', input, target, opts.reduction);
  const beta = opts.beta ?? 1;
  if (typeof beta !== 'number' || !(beta >= 0) || beta === Infinity)
    fail('smoothL1Loss', `beta must be a finite number >= 0, got ${String(beta)}`);
  const d = sub(input, target);
  const a = abs(d);
  if (beta === 0) return reduce(a, r);
  // where(|d| < β, ...) picks the linear branch at NaN (comparisons with NaN are false): NaN stays NaN
  return reduce(where(lt(a, beta), mul(mul(d, d), 0.5 / beta), sub(a, 0.5 * beta)), r);
}

export interface BceWithLogitsOptions extends LossOptions {
  /** Rescales each element's loss; broadcast against the input (torch's weight). */
  weight?: Tensor;
  /** Weight of the positive term, broadcast against the input (usually [C], one per class; torch's pos_weight). */
  posWeight?: Tensor;
}

/**
 * Binary cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits), stable for
 * any logit, written as torch computes it (p = posWeight, 1 without; w = weight, 1 without):
 *   loss = w·((1 - y)·x + (1 + (p - 1)·y)·(log(1 + exp(-|x|)) + max(-x, 0)))
 * which is w·(-p·y·log σ(x) - (1 - y)·log(1 - σ(x))).
 * d/dx = w·((1 - y) - (1 + (p - 1)·y)·σ(-x)),   d/dy = w·(-x - (p - 1)·softplus(-x)); at x = 0 the
 * kinks of |x| and max(-x, 0) cancel (abs' = 0 and maximum's tie split ½/½ give the exact σ(0) = ½).
 */
export function bceWithLogits(input: Tensor, target: Tensor, opts: BceWithLogitsOptions = {}): Tensor {
  const op = 'bceWithLogits';
  const r = checkPair(op, input, target, opts.reduction);
  for (const [name, t] of [
    ['weight', opts.weight],
    ['posWeight', opts.posWeight],
  ] as const) {
    if (t === undefined) continue;
    if (!t || typeof t !== 'object' || !('shape' in t)) fail(op, `${name} must be a Tensor, got ${String(t)}`);
    if (t.dtype !== 'float32') fail(op, `${name} must be float32, got ${t.describe()}`);
    const s = t.shape;
    const fits = s.length <= input.ndim && s.every((d, i) => d === 1 || d === input.shape[input.ndim - s.length + i]);
    if (!fits) fail(op, `${name} ${fmtShape(s)} does not broadcast to input ${fmtShape(input.shape)}`);
  }
  const sp = add(log(add(exp(neg(abs(input))), 1)), maximum(neg(input), 0)); // softplus(-x) = log(1 + e^-|x|) + max(-x, 0)
  const lw = opts.posWeight ? add(mul(sub(opts.posWeight, 1), target), 1) : null; // 1 + (p - 1)·y
  let loss = add(mul(add(neg(target), 1), input), lw ? mul(lw, sp) : sp); // (1 - y)·x + lw·softplus(-x)
  if (opts.weight) loss = mul(loss, opts.weight);
  return reduce(loss, r);
}
