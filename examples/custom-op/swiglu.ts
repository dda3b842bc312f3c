// The op of docs/custom-ops.md, step by step: SwiGLU, y = silu(a) · b (the gated unit of LLaMA's
// MLP), first composed from existing ops, then as a custom op with its own backward, then fused
// into one WGSL kernel each way with float64 cpu loops. test/custom/tutorial.test.ts runs all of it.
//
// In your own project import the package instead: import * as mg from 'moragrad';
import * as mg from '../../src/index.js';

// ---- step 1: composition. Autograd differentiates it; it is also the naive twin of the fused op.
export function swigluNaive(a: mg.Tensor, b: mg.Tensor): mg.Tensor {
  return mg.mul(mg.silu(a), b);
}

// ---- step 2: a custom op, forward composed, backward written by hand.
//   y = a·σ(a)·b
//   da = g·b·σ(a)·(1 + a·(1 - σ(a))),   db = g·a·σ(a)
export const swigluComposed = mg.customOp({
  name: 'swigluComposed',
  forward(ctx, a: mg.Tensor, b: mg.Tensor) {
    ctx.save(a, b);
    return mg.mul(mg.silu(a), b);
  },
  backward(ctx, g) {
    const [a, b] = ctx.saved;
    const s = mg.sigmoid(a);
    const da = mg.mul(mg.mul(g, b), mg.mul(s, mg.add(mg.mul(a, mg.add(mg.neg(s), 1)), 1)));
    const db = mg.mul(g, mg.mul(a, s));
    return [da, db];
  },
});

// ---- step 3: fused. One dispatch forward, one dispatch for both gradients; the float64 loops make
// the op run on the cpu backend (and gradcheck there).
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export const swiglu = mg.customOp({
  name: 'swiglu',
  wgsl: {
    forward: new URL('./swiglu.wgsl', import.meta.url),
    backward: new URL('./swiglu_backward.wgsl', import.meta.url),
  },
  cpu: {
    forward: ([a, b], [y]) => {
      for (let i = 0; i < y.length; i++) y[i] = a[i] * sigmoid(a[i]) * b[i];
    },
    backward: ([g, a, b], [da, db]) => {
      for (let i = 0; i < g.length; i++) {
        const s = sigmoid(a[i]);
        da[i] = g[i] * b[i] * s * (1 + a[i] * (1 - s));
        db[i] = g[i] * a[i] * s;
      }
    },
  },
  forward(ctx, a: mg.Tensor, b: mg.Tensor) {
    if (a.shape.join() !== b.shape.join())
      throw new mg.MoragradError('swiglu', `a ${JSON.stringify(a.shape)} and b ${JSON.stringify(b.shape)} must have the same shape`);
    ctx.save(a, b);
    const [y] = ctx.kernel('forward', {
      inputs: [a, b],
      outputs: [{ shape: a.shape }],
      params: { n: ['u32', a.size] },
      workgroups: Math.ceil(a.size / 64),
    });
    return y;
  },
  backward(ctx, g) {
    const [a, b] = ctx.saved;
    const [da, db] = ctx.kernel('backward', {
      inputs: [g, a, b],
      outputs: [{ shape: a.shape }, { shape: b.shape }],
      params: { n: ['u32', a.size] },
      workgroups: Math.ceil(a.size / 64),
    });
    // Only what is asked for: drop a gradient nobody needs.
    return [ctx.needsInputGrad[0] ? da : null, ctx.needsInputGrad[1] ? db : null];
  },
});
