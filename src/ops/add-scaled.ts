// out = a + α·b (+ bias along the last dim): an adapter layer's base product, its scaled adapter
// path and the layer's bias in one dispatch (kernels/add_scaled.wgsl) instead of a scale, a bias add
// and a sum. The composed ops `add(add(a, mul(b, α)), bias)` are its twin (addScaledNaive).
import { record } from '../autograd.js';
import { defineKernel } from '../backend/interface.js';
import { isFloat } from '../dtype.js';
import { fail, fmtShape } from '../errors.js';
import { sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { floatDtypeOf, run1 } from './apply.js';
import { add, mul } from './binary.js';
import { elementwisePath, withVec4 } from './elementwise.js';
import { grid1d } from './grid.js';
import { sumTo } from './reduce.js';
import { unary } from './unary.js';

interface AddScaledParams {
  n: number;
  /** Length of the bias (the last dim); 0 without one. */
  c: number;
  alpha: number;
}

const kernel = defineKernel<AddScaledParams>({
  name: 'addScaled',
  cpu: ([a, b, bias], [y], p) => {
    for (let i = 0; i < p.n; i++) y[i] = a[i] + p.alpha * b[i] + (p.c > 0 ? bias[i % p.c] : 0);
  },
  f16: 'alias',
  gpu: {
    shader: 'add_scaled',
    uniforms: (p) => [
      ['u32', p.n],
      ['u32', p.c],
      ['f32', p.alpha],
    ],
    workgroups: (p) => grid1d(p.n, 256),
  },
});
const PLAIN = withVec4(kernel);
const biasPaths = withVec4({ ...kernel, gpu: { ...kernel.gpu, entry: 'with_bias' } });
const WITH_BIAS = { scalar: biasPaths.scalar, vec4: { ...biasPaths.vec4, gpu: { ...biasPaths.vec4.gpu, entry: 'with_bias_vec4' } } };

function check(a: Tensor, b: Tensor, alpha: number, bias: Tensor | null): void {
  const op = 'addScaled';
  if (!isFloat(a.dtype)) fail(op, `expects float tensors, got ${a.describe()}`);
  if (!sameShape(a.shape, b.shape)) fail(op, `a and b must have one shape, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(op, `alpha must be a finite number, got ${String(alpha)}`);
  if (bias && (bias.ndim !== 1 || a.ndim < 1 || bias.shape[0] !== a.shape[a.ndim - 1]))
    fail(op, `the bias must be [${a.shape[a.ndim - 1] ?? '?'}] (the last dim of ${fmtShape(a.shape)}), got ${fmtShape(bias.shape)}`);
  floatDtypeOf(op, [a, b, bias]);
}

/**
 * a + α·b, plus `bias` [C] broadcast along the last dim of a and b ([..., C], one shape).
 */
// y = a + α·b + bias                      -> ga = g, gb = α·g, gbias = Σ_rows g
export function addScaled(a: Tensor, b: Tensor, alpha: number, bias: Tensor | null = null): Tensor {
  check(a, b, alpha, bias);
  const c = bias ? bias.shape[0] : 0;
  const p = { n: a.size, c, alpha };
  const k = bias ? WITH_BIAS : PLAIN;
  const y = run1('addScaled', k[elementwisePath(a.size % 4 === 0 && c % 4 === 0)], bias ? [a, b, bias] : [a, b], { shape: a.shape }, p);
  const inputs = bias ? [a, b, bias] : [a, b];
  return record(y, 'addScaled', inputs, (g) => [
    a.requiresGrad ? g : null,
    b.requiresGrad ? (alpha === 1 ? g : unary('affine', g, alpha, 0)) : null,
    ...(bias ? [bias.requiresGrad ? sumTo(g, bias.shape) : null] : []),
  ]);
}

/** The same from composed ops (the fused kernel's twin). */
export function addScaledNaive(a: Tensor, b: Tensor, alpha: number, bias: Tensor | null = null): Tensor {
  check(a, b, alpha, bias);
  const y = add(a, mul(b, alpha));
  return bias ? add(y, bias) : y;
}
