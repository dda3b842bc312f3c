// LoRALinear and MoRALinear: init (A Kaiming-uniform, B / M zero, base frozen), forward against an
// independent host computation (base + x·ΔWᵀ; ΔW of type 1 rebuilt from the spec's closed form),
// zero init (output == base at step 0, yet B / M get a gradient), dropout placement, gradcheck on cpu
// (float64) and webgpu, merge / unmerge exact to the backend's float (W += ΔW then W -= ΔW), merged
// forward == unmerged, the in <= R case the reference cannot merge, and errors.
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { LoRALinear, MoRALinear } from '../../src/adapters/index.js';
import { dropout } from '../../src/ops/dropout.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
const { gradcheck } = mg.testing;
type B = 'cpu' | 'webgpu';
const BACKENDS: B[] = ['cpu', 'webgpu'];

const randData = (n: number, seed: number, scale = 1): number[] => {
  const r = new mg.HostRng(seed);
  return Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
};

/** Overwrites a parameter with deterministic random values (in place). */
function fill(p: mg.Tensor, seed: number, scale = 0.5): void {
  nn.copyInto(p, mg.tensor(randData(p.size, seed, scale), p.shape, { backend: 'cpu' }));
}

/** Runs fn with the given fields of `obj` temporarily replaced (gradcheck feeds its own leaves). */
function withFields<T>(pairs: [Record<string, unknown>, string, mg.Tensor][], fn: () => T): T {
  const saved = pairs.map(([o, k]) => o[k]);
  pairs.forEach(([o, k, t]) => (o[k] = t));
  try {
    return fn();
  } finally {
    pairs.forEach(([o, k], i) => (o[k] = saved[i]));
  }
}

/** Host y = x Wᵀ + b + x ΔWᵀ for x (rows, in). */
function hostAffine(
  x: ArrayLike<number>,
  rows: number,
  W: ArrayLike<number>,
  b: ArrayLike<number> | null,
  dW: ArrayLike<number>,
  k: number,
  d: number,
): number[] {
  const y: number[] = [];
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < d; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < k; i++) s += x[t * k + i] * (W[o * k + i] + dW[o * k + i]);
      y.push(s);
    }
  }
  return y;
}

/** ΔW of type 1 from the spec's closed form: M[o mod R, i mod R] + [i < pad]·M[o mod R, (k + i) mod R]. */
function deltaType1(M: ArrayLike<number>, R: number, k: number, d: number): number[] {
  const n = Math.ceil(k / R);
  const pad = n * R - k;
  const out: number[] = [];
  for (let o = 0; o < d; o++) {
    for (let i = 0; i < k; i++) {
      // every x_pad position p ≡ i (mod k) below nR feeds column i through M[., p mod R]
      let s = 0;
      for (let p = i; p < n * R; p += k) s += M[(o % R) * R + (p % R)];
      out.push(s);
    }
  }
  expect(pad).toBeGreaterThanOrEqual(0);
  return out;
}

describe('LoRALinear', () => {
  it('init: A ~ U(-1/√in, 1/√in) [r, in], B = 0 [out, r], scale α/r (PEFT default α = 8), base frozen', async () => {
    const base = new nn.Linear(16, 6, { seed: 1, backend: 'cpu' });
    const l = new LoRALinear(base, { r: 4, seed: 2 });
    expect(l.lora_A.shape).toEqual([4, 16]);
    expect(l.lora_B.shape).toEqual([6, 4]);
    expect(l.alpha).toBe(8);
    expect(l.scaling).toBe(2);
    expect(new LoRALinear(new nn.Linear(4, 4, { backend: 'cpu' }), { r: 4, alpha: 4, rslora: true }).scaling).toBe(2);
    const A = Array.from(await l.lora_A.data());
    expect(Math.max(...A.map(Math.abs))).toBeLessThan(0.25);
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.15);
    expect(Array.from(await l.lora_B.data()).every((v) => v === 0)).toBe(true);
    expect(base.weight.requiresGrad).toBe(false);
    expect(base.bias!.requiresGrad).toBe(false);
    expect(l.lora_A.requiresGrad && l.lora_B.requiresGrad).toBe(true);
    expect(l.namedParameters().map(([n]) => n)).toEqual(['lora_A', 'lora_B', 'base.weight', 'base.bias']);
    expect([l.inFeatures, l.outFeatures, l.weight, l.bias]).toEqual([16, 6, base.weight, base.bias]);
    expect(l.adapterSize).toBe(4 * (16 + 6));
  });

  it('zero init: output == base output at step 0, B gets a gradient, A does not (B = 0)', async () => {
    for (const b of BACKENDS) {
      const base = new nn.Linear(5, 3, { seed: 3, backend: b });
      const l = new LoRALinear(base, { r: 2, seed: 4 });
      const x2 = mg.tensor(randData(20, 5), [4, 5], { backend: b });
      const y = l.forward(x2);
      expect(Array.from(await y.data())).toEqual(Array.from(await base.forward(x2).data()));
      y.sum().backward();
      expect(Array.from(await l.lora_B.grad!.data()).some((v) => v !== 0)).toBe(true);
      expect(Array.from(await l.lora_A.grad!.data()).every((v) => v === 0)).toBe(true);
      expect(base.weight.grad).toBeNull();
    }
  });

  it('forward == base + (α/r)·x·(BA)ᵀ (host loop), for 1-D and 3-D x', async () => {
    for (const b of BACKENDS) {
      const base = new nn.Linear(5, 7, { seed: 6, backend: b });
      const l = new LoRALinear(base, { r: 3, alpha: 6, seed: 7 });
      fill(l.lora_B, 8);
      const [A, Bm, W, bias] = await Promise.all([l.lora_A, l.lora_B, base.weight, base.bias!].map((t) => t.data()));
      const dW: number[] = [];
      for (let o = 0; o < 7; o++)
        for (let i = 0; i < 5; i++) {
          let s = 0;
          for (let j = 0; j < 3; j++) s += Bm[o * 3 + j] * A[j * 5 + i];
          dW.push(2 * s);
        }
      expectClose(await l.deltaWeight().data(), dW, { rtol: 1e-5, atol: 1e-6 }, `${b} ΔW`);
      const xd = randData(2 * 3 * 5, 9);
      const y = l.forward(mg.tensor(xd, [2, 3, 5], { backend: b }));
      expect(y.shape).toEqual([2, 3, 7]);
      expectClose(await y.data(), hostAffine(xd, 6, W, bias, dW, 5, 7), { rtol: 1e-5, atol: 1e-5 }, `${b} forward`);
      const y1 = l.forward(mg.tensor(xd.slice(0, 5), [5], { backend: b }));
      expect(y1.shape).toEqual([7]);
      expectClose(await y1.data(), hostAffine(xd, 1, W, bias, dW, 5, 7), { rtol: 1e-5, atol: 1e-5 }, `${b} forward 1-D`);
    }
  });

  it('dropout is applied to x before A (training), not in eval mode', async () => {
    const b: B = 'cpu';
    const base = new nn.Linear(6, 4, { seed: 10, backend: b });
    const l = new LoRALinear(base, { r: 2, alpha: 2, dropout: 0.5, seed: 11 });
    fill(l.lora_B, 12);
    const x = mg.tensor(randData(18, 13), [3, 6], { backend: b });
    const xd = dropout(x, 0.5, { seed: nn.subSeed(l.dropout.seed, 0) });
    const expected = base.forward(x).add(xd.matmul(l.lora_A.transpose()).matmul(l.lora_B.transpose()));
    expectClose(await l.forward(x).data(), await expected.data(), { rtol: 1e-12, atol: 1e-12 }, 'train');
    l.eval();
    const plain = base.forward(x).add(x.matmul(l.lora_A.transpose()).matmul(l.lora_B.transpose()));
    expectClose(await l.forward(x).data(), await plain.data(), { rtol: 1e-12, atol: 1e-12 }, 'eval');
  });

  it('gradcheck w.r.t. x, W, b, A, B (cpu float64 and webgpu)', async () => {
    for (const b of BACKENDS) {
      const l = new LoRALinear(new nn.Linear(5, 4, { seed: 14, backend: b }), { r: 2, alpha: 3, seed: 15 });
      fill(l.lora_B, 16);
      const x = mg.tensor(randData(3 * 5, 17), [3, 5], { backend: b });
      const fields = (xs: mg.Tensor[]): [Record<string, unknown>, string, mg.Tensor][] => [
        [l.base as unknown as Record<string, unknown>, 'weight', xs[0]],
        [l.base as unknown as Record<string, unknown>, 'bias', xs[1]],
        [l as unknown as Record<string, unknown>, 'lora_A', xs[2]],
        [l as unknown as Record<string, unknown>, 'lora_B', xs[3]],
      ];
      const tol = b === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-3, rtol: 1e-2 };
      const r = await gradcheck(
        (xi, ...ps) => withFields(fields(ps), () => l.forward(xi)),
        [x, l.base.weight, l.base.bias!, l.lora_A, l.lora_B],
        tol,
      );
      expect(r.ok).toBe(true);
      expect(r.checked).toBe(15 + 20 + 4 + 10 + 8);
    }
  });
});

describe('MoRALinear', () => {
  it('init: R = rank(in, out, r, type), M [R, R] zero, no scaling, base frozen; type defaults to 6', async () => {
    const base = new nn.Linear(768, 768, { seed: 1, backend: 'cpu', bias: false });
    const l6 = new MoRALinear(base, { r: 8 });
    expect([l6.type, l6.R, l6.r]).toEqual([6, 110, 8]);
    expect(l6.M.shape).toEqual([110, 110]);
    expect(Array.from(await l6.M.data()).every((v) => v === 0)).toBe(true);
    expect(base.weight.requiresGrad).toBe(false);
    expect(l6.M.requiresGrad).toBe(true);
    expect(l6.adapterSize).toBe(110 * 110);
    const l1 = new MoRALinear(new nn.Linear(768, 768, { backend: 'cpu', bias: false }), { r: 8, type: 1 });
    expect(l1.R).toBe(111);
    expect(l6.namedParameters().map(([n]) => n)).toEqual(['M', 'base.weight']);
  });

  it('zero init: output == base at step 0 and M still gets a non-zero gradient', async () => {
    for (const b of BACKENDS) {
      for (const type of [1, 6] as const) {
        const base = new nn.Linear(10, 6, { seed: 2, backend: b });
        const l = new MoRALinear(base, { r: 2, type });
        const x = mg.tensor(randData(30, 3), [3, 10], { backend: b });
        const y = l.forward(x);
        expect(Array.from(await y.data())).toEqual(Array.from(await base.forward(x).data()));
        y.mul(mg.tensor(randData(18, 4), [3, 6], { backend: b }))
          .sum()
          .backward();
        const g = Array.from(await l.M.grad!.data());
        expect(g.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      }
    }
  });

  it('forward == base + x·ΔWᵀ for every type, incl. pad > 0 and out < R; ΔW of type 1 matches the closed form', async () => {
    for (const b of BACKENDS) {
      for (const [k, d] of [
        [10, 7],
        [7, 13],
      ]) {
        // every type on cpu; webgpu runs 1 and 6 (the op's own tests cover every type there)
        for (const type of b === 'cpu' ? ([1, 2, 3, 4, 6, 'truncation', 'decoupling'] as const) : ([1, 6] as const)) {
          const base = new nn.Linear(k, d, { seed: k + d, backend: b });
          const l = new MoRALinear(base, { r: 1, type });
          fill(l.M, 21);
          const [M, W, bias] = await Promise.all([l.M, base.weight, base.bias!].map((t) => t.data()));
          const dW = await l.deltaWeight().data();
          if (type === 1) expectClose(dW, deltaType1(M, l.R, k, d), { rtol: 1e-6, atol: 1e-6 }, `${b} ΔW type 1`);
          const xd = randData(2 * 2 * k, 22);
          const y = l.forward(mg.tensor(xd, [2, 2, k], { backend: b }));
          expect(y.shape).toEqual([2, 2, d]);
          expectClose(await y.data(), hostAffine(xd, 4, W, bias, dW, k, d), { rtol: 1e-5, atol: 1e-5 }, `${b} ${k}->${d} type ${type}`);
        }
      }
    }
  });

  it('gradcheck w.r.t. x, W, b, M for types 1 and 6 (cpu float64 and webgpu)', async () => {
    for (const b of BACKENDS) {
      for (const type of [1, 6] as const) {
        const l = new MoRALinear(new nn.Linear(5, 7, { seed: 30, backend: b }), { r: 1, type });
        fill(l.M, 31);
        const x = mg.tensor(randData(2 * 5, 32), [2, 5], { backend: b });
        const fields = (xs: mg.Tensor[]): [Record<string, unknown>, string, mg.Tensor][] => [
          [l.base as unknown as Record<string, unknown>, 'weight', xs[0]],
          [l.base as unknown as Record<string, unknown>, 'bias', xs[1]],
          [l as unknown as Record<string, unknown>, 'M', xs[2]],
        ];
        const tol = b === 'cpu' ? { atol: 1e-7, rtol: 1e-6 } : { atol: 1e-3, rtol: 1e-2 };
        const r = await gradcheck((xi, ...ps) => withFields(fields(ps), () => l.forward(xi)), [x, l.base.weight, l.base.bias!, l.M], tol);
        expect(r.ok).toBe(true);
        expect(r.checked).toBe(10 + 35 + 7 + l.R * l.R);
      }
    }
  });

  it('in <= R (the reference crashes merging this): merge works and forward == base + x·ΔWᵀ', async () => {
    for (const b of BACKENDS) {
      for (const type of [1, 4, 6] as const) {
        const base = new nn.Linear(3, 40, { seed: 40, backend: b });
        const l = new MoRALinear(base, { r: 8, type });
        expect(l.R).toBeGreaterThan(3);
        fill(l.M, 41);
        const x = mg.tensor(randData(6, 42), [2, 3], { backend: b });
        const y0 = await l.forward(x).data();
        const [W, bias] = await Promise.all([base.weight.data(), base.bias!.data()]);
        const dW = await l.deltaWeight().data();
        expectClose(y0, hostAffine(await x.data(), 2, W, bias, dW, 3, 40), { rtol: 1e-5, atol: 1e-5 }, `${b} type ${type}`);
        l.merge();
        expectClose(await l.forward(x).data(), y0, { rtol: 1e-5, atol: 1e-5 }, `${b} type ${type} merged`);
        l.unmerge();
      }
    }
  });
});

describe('merge / unmerge', () => {
  const make = (kind: 'lora' | 'mora', b: B) => {
    const base = new nn.Linear(9, 6, { seed: 50, backend: b });
    if (kind === 'lora') {
      const l = new LoRALinear(base, { r: 2, alpha: 5, seed: 51 });
      fill(l.lora_B, 52);
      return l;
    }
    const l = new MoRALinear(base, { r: 1, type: 1 });
    fill(l.M, 53);
    return l;
  };

  for (const kind of ['lora', 'mora'] as const) {
    it(`${kind}: W += ΔW exactly (in the backend's float), W -= ΔW on unmerge, merged forward skips the adapter`, async () => {
      for (const b of BACKENDS) {
        const l = make(kind, b);
        const round = b === 'cpu' ? (v: number) => v : Math.fround; // cpu holds float64, webgpu float32
        const x = mg.tensor(randData(4 * 9, 54), [4, 9], { backend: b });
        const yUnmerged = await l.forward(x).data();
        const W0 = Array.from(await l.weight.data());
        const dW = Array.from(await l.deltaWeight().data());
        const weightObject = l.weight;
        l.merge();
        expect(l.merged).toBe(true);
        expect(l.weight).toBe(weightObject); // in place
        const W1 = Array.from(await l.weight.data());
        expect(W1).toEqual(W0.map((w, i) => round(w + dW[i])));
        // merged: forward = base alone (no adapter dispatch) and equal to the unmerged output
        const names = async (f: () => mg.Tensor) => (await mg.profile(f, b)).kernels.map((kk) => kk.kernel);
        expect(await names(() => l.forward(x))).toEqual(await names(() => l.base.forward(x)));
        expectClose(await l.forward(x).data(), yUnmerged, { rtol: 1e-5, atol: 1e-5 }, `${b} merged forward`);
        l.unmerge();
        const W2 = Array.from(await l.weight.data());
        expect(W2).toEqual(W1.map((w, i) => round(w - dW[i])));
        expectClose(W2, W0, { rtol: 0, atol: b === 'cpu' ? 1e-15 : 1.2e-7 }, `${b} round trip`);
        expectClose(await l.forward(x).data(), yUnmerged, { rtol: 1e-5, atol: 1e-5 }, `${b} unmerged again`);
      }
    });
  }

  it('errors: double merge, unmerge when unmerged, bad options, wrapping an adapter', () => {
    const base = new nn.Linear(4, 4, { backend: 'cpu' });
    const l = new LoRALinear(base, { r: 2 });
    expect(() => l.unmerge()).toThrow(/LoRALinear\.unmerge: not merged/);
    l.merge();
    expect(() => l.merge()).toThrow(/LoRALinear\.merge: already merged/);
    expect(() => new LoRALinear(new nn.Linear(4, 4, { backend: 'cpu' }), { r: 0 })).toThrow(
      /LoRALinear: r must be a positive integer, got 0/,
    );
    expect(() => new LoRALinear(new nn.Linear(4, 4, { backend: 'cpu' }), { dropout: 1.5 })).toThrow(/dropout must be a probability/);
    expect(() => new LoRALinear({} as nn.Linear)).toThrow(/LoRALinear: expects the nn.Linear to wrap, got Object/);
    expect(() => new MoRALinear(l as unknown as nn.Linear)).toThrow(/MoRALinear: the layer is already an adapter/);
    expect(() => new MoRALinear(new nn.Linear(4, 4, { backend: 'cpu' }), { type: 5 as never })).toThrow(/unknown type 5.*no type 5/);
    const m = new MoRALinear(new nn.Linear(5, 4, { backend: 'cpu' }), { r: 1, type: 1 }); // R = 3
    expect(() => (m.type = 6)).toThrow(/type 6 rotates pairs .* needs an even R, got R = 3 in this layer/);
  });
});
