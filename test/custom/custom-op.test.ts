// mg.customOp's contract: kernels given as inline source or a file, params of every type, int32
// outputs, non-tensor arguments, tidy / noGrad / checkFinite, shader compile errors with the user's
// file and line (at the next read and from compile()), mismatched bindings, and loud errors for a
// malformed backward or a missing cpu loop.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();
afterEach(() => mg.setCheckFinite(false));

// y = x·scale + shift[i mod k] for x of dims [.., k]; dims and i32 exercised through the struct.
const AFFINE = `
struct Params { n: u32, scale: f32, shift: i32, dims: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> idx: array<i32>;
@group(0) @binding(3) var<uniform> u: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.n) { return; }
  let k = u.dims[0].y;
  y[i] = x[i] * u.scale + f32(u.shift);
  idx[i] = i32(i % k);
}`;

function affineOp() {
  return mg.customOp({
    name: 'affine',
    wgsl: { affine: AFFINE },
    cpu: {
      affine: ([x], [y, idx], p) => {
        const k = (p.dims as number[])[1];
        for (let i = 0; i < y.length; i++) {
          y[i] = x[i] * (p.scale as number) + (p.shift as number);
          idx[i] = i % k;
        }
      },
    },
    forward(ctx, x: mg.Tensor, scale: number) {
      const [y, idx] = ctx.kernel('affine', {
        inputs: [x],
        outputs: [{ shape: x.shape }, { shape: x.shape, dtype: 'int32' }],
        params: { n: ['u32', x.size], scale: ['f32', scale], shift: ['i32', -2], dims: ['dims', x.shape] },
        workgroups: Math.ceil(x.size / 64),
      });
      ctx.save(idx); // made by forward: lives as long as the graph
      return y;
    },
    // dy/dx = scale; the number argument gets null
    backward: (ctx, g) => [mg.mul(g, ctx.args[1] as number), null],
  });
}

describe('customOp: kernels, params, arguments', () => {
  it('inline WGSL with u32 / f32 / i32 / dims params and an int32 output; a number argument; backward', async () => {
    const affine = affineOp();
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend, requiresGrad: true });
      const y = affine(x, 0.5);
      expectClose(await y.data(), [-1.5, -1, -0.5, 0, 0.5, 1], { rtol: 1e-7 }, backend);
      expect(y.node?.op).toBe('affine');
      y.sum().backward();
      expectClose(await x.grad!.data(), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], { rtol: 1e-7 }, `${backend} grad`);
    }
  });

  it('a kernel from a .wgsl path; gradcheck on cpu; the forward may compose ops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-custom-'));
    const file = join(dir, 'square.wgsl');
    writeFileSync(
      file,
      'struct P { n: u32 }\n@group(0) @binding(0) var<storage, read> x: array<f32>;\n@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@group(0) @binding(2) var<uniform> u: P;\n@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) g: vec3<u32>) {\n  if (g.x < u.n) { y[g.x] = x[g.x] * x[g.x]; }\n}\n',
    );
    const square = mg.customOp({
      name: 'square',
      cpu: { square: ([x], [y]) => y.forEach((_, i) => (y[i] = x[i] * x[i])) },
      forward(ctx, x: mg.Tensor) {
        ctx.save(x);
        return ctx.kernel(file, {
          inputs: [x],
          outputs: [{ shape: x.shape }],
          params: { n: ['u32', x.size] },
          workgroups: Math.ceil(x.size / 64),
        })[0];
      },
      backward: (ctx, g) => mg.mul(mg.mul(g, ctx.saved[0]), 2), // d x²/dx = 2x; one argument: the bare gradient
    });
    const x = mg.tensor([0.5, -1.5, 2, 3], [4], { backend: 'cpu' });
    const r = await mg.testing.gradcheck(square, [x]);
    expect(r.ok).toBe(true);
    const xg = mg.tensor([0.5, -1.5, 2, 3], [4]);
    expectClose(await square(xg).data(), [0.25, 2.25, 4, 9], { rtol: 1e-7 }, 'webgpu');
    // profile names it after the file
    const { kernels } = await mg.profile(() => square(xg));
    expect(kernels.map((k) => k.kernel)).toEqual(['square.square']);
  });

  it('two inline sources of one op are two kernels (not one cached pipeline)', async () => {
    const src = (v: number) =>
      `@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main() { y[0] = ${v}.0; }`;
    const pick = mg.customOp({
      name: 'pick',
      forward: (ctx, _x: mg.Tensor, v: number) => ctx.kernel(src(v), { inputs: [], outputs: [{ shape: [1] }], workgroups: 1 })[0],
      backward: () => [null, null],
    });
    const x = mg.zeros([1]);
    expect(Array.from(await pick(x, 3).data())).toEqual([3]);
    expect(Array.from(await pick(x, 5).data())).toEqual([5]);
  });

  it('tidy frees forward temporaries and what it saved; noGrad records nothing; no tensors leak', async () => {
    const affine = affineOp();
    const x = mg.randn([5, 7], { seed: 1, requiresGrad: true });
    const before = mg.memory().liveTensors;
    mg.tidy(() => {
      const y = affine(x, 2);
      y.sum().backward();
    });
    expect(mg.memory().liveTensors).toBe(before + 1); // x.grad
    const y = mg.noGrad(() => affine(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBe(null);
    y.dispose();
    expect(mg.memory().liveTensors).toBe(before + 1);
  });

  it('the finite check names the op and kernel whose output is NaN', async () => {
    const logOp = mg.customOp({
      name: 'mylog',
      wgsl: {
        log: '@group(0) @binding(0) var<storage, read> x: array<f32>;\n@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x] = log(x[g.x]); }',
      },
      cpu: { log: ([x], [y]) => y.forEach((_, i) => (y[i] = Math.log(x[i]))) },
      forward: (ctx, x: mg.Tensor) => ctx.kernel('log', { inputs: [x], outputs: [{ shape: x.shape }], workgroups: x.size })[0],
      backward: () => [null],
    });
    mg.setCheckFinite(true);
    const bad = [1, -1];
    expect(() => logOp(mg.tensor(bad, [2], { backend: 'cpu' }))).toThrow(/mylog\.log: produced NaN or Inf/);
    const y = logOp(mg.tensor(bad, [2]));
    await expect(y.data()).rejects.toThrow(/mylog\.log: produced NaN or Inf/);
  });
});

describe('customOp: errors', () => {
  it('a WGSL compile error comes back with the file, line and column, at the next read and from compile()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-custom-'));
    const file = join(dir, 'broken.wgsl');
    writeFileSync(
      file,
      '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main() {\n  y[0] = undefined_name;\n}\n',
    );
    const broken = mg.customOp({
      name: 'broken',
      wgsl: { k: file },
      forward: (ctx, x: mg.Tensor) => ctx.kernel('k', { inputs: [], outputs: [{ shape: x.shape }], workgroups: 1 })[0],
      backward: () => [null],
    });
    const where = new RegExp(
      `broken\\.k: the WGSL does not compile:\\n${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:10: error: unresolved value 'undefined_name'`,
    );
    await expect(broken.compile()).rejects.toThrow(where);
    // compile() marked it broken: a dispatch now fails at once, naming the same place
    expect(() => broken(mg.zeros([1]))).toThrow(where);

    const inline = mg.customOp({
      name: 'inlineBroken',
      forward: (ctx, x: mg.Tensor) =>
        ctx.kernel('@compute @workgroup_size(1)\nfn main() {\n  let v: f32 = 1u;\n}\n', {
          inputs: [],
          outputs: [{ shape: x.shape }],
          workgroups: 1,
          name: 'k',
        })[0],
      backward: () => [null],
    });
    const y = inline(mg.zeros([2]));
    await expect(y.data()).rejects.toThrow(
      /inlineBroken\.k: the WGSL does not compile:\ninlineBroken\.k \(inline WGSL\):3:7: error: cannot initialize .let. of type .f32. with value of type .u32.\n\s+let v: f32 = 1u;\n\s+\^/,
    );
    // the engine's own work is unaffected
    expect(Array.from(await mg.add(mg.ones([2]), 1).data())).toEqual([2, 2]);
  });

  it('bindings that do not match the shader are reported naming the kernel', async () => {
    const op = mg.customOp({
      name: 'mismatch',
      wgsl: {
        k: '@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read> b: array<f32>;\n@group(0) @binding(2) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main() { y[0] = a[0] + b[0]; }',
      },
      forward: (ctx, a: mg.Tensor) => ctx.kernel('k', { inputs: [a], outputs: [{ shape: [1] }], workgroups: 1 })[0],
      backward: () => [null],
    });
    const y = op(mg.ones([1]));
    await expect(y.data()).rejects.toThrow(/mismatch\.k: WebGPU rejected the dispatch of mismatch\.k \(inline WGSL\)/);
  });

  it('a malformed backward, a missing cpu loop, bad params and bad specs fail loudly', async () => {
    const mk = (backward: mg.CustomOpSpec['backward']) =>
      mg.customOp({ name: 'ident', forward: (_ctx, x: mg.Tensor) => mg.mul(x, 1), backward });
    const x = mg.randn([2, 3], { seed: 1, requiresGrad: true, backend: 'cpu' });
    expect(() =>
      mk(() => [null, null])(x)
        .sum()
        .backward(),
    ).toThrow(/ident: backward must return one gradient \(or null\) per argument: 1 expected, got 2/);
    expect(() =>
      mk((_c, g) => [mg.sum(g, 0)])(x)
        .sum()
        .backward(),
    ).toThrow(/ident: backward: gradient 0 has shape \[3\], but argument 0 has shape \[2, 3\]/);
    expect(() =>
      mk(() => ['nope' as unknown as mg.Tensor])(x)
        .sum()
        .backward(),
    ).toThrow(/gradient 0 must be a Tensor or null/);
    // forward returning its input gets a copy, and a backward returning g passes it through
    const id = mk((_c, g) => [g]);
    const y = id(x);
    expect(y).not.toBe(x);
    mg.tidy(() => id(x).sum().backward());
    expectClose(await x.grad!.data(), [1, 1, 1, 1, 1, 1], {}, 'identity grad');

    const noCpu = mg.customOp({
      name: 'gpuOnly',
      wgsl: { k: '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main() { y[0] = 1.0; }' },
      forward: (ctx, _x: mg.Tensor) => ctx.kernel('k', { inputs: [], outputs: [{ shape: [1] }], workgroups: 1 })[0],
      backward: () => [null],
    });
    expect(() => noCpu(mg.zeros([1], { backend: 'cpu' }))).toThrow(
      /gpuOnly: kernel 'k' has no cpu loop.*cpu: \{ "k": \(inputs, outputs, params\) => \.\.\. \}/,
    );
    const badParam = mg.customOp({
      name: 'badParam',
      forward: (ctx, v: mg.Tensor) =>
        ctx.kernel('@compute @workgroup_size(1) fn main() {}', {
          inputs: [v],
          outputs: [{ shape: [1] }],
          params: { n: ['u32', -1] },
          workgroups: 1,
        })[0],
      backward: () => [null],
    });
    expect(() => badParam(mg.zeros([1]))).toThrow(/badParam: ctx\.kernel\(source\): param 'n' is u32 but -1 is not an integer/);
    expect(() => mg.customOp({ name: 'x y', forward: () => mg.zeros([1]), backward: () => [] })).toThrow(/name must be/);
    expect(() => mg.customOp({ name: 'nob', forward: () => mg.zeros([1]) } as unknown as mg.CustomOpSpec)).toThrow(
      /nob: customOp needs backward/,
    );
    expect(() =>
      (mk(() => [null]) as unknown as (...a: mg.Tensor[]) => mg.Tensor)(mg.zeros([1]), mg.zeros([1], { backend: 'cpu' })),
    ).toThrow(/ident: tensors live on different backends/);
  });
});

describe('checkOp', () => {
  it('checks engine ops too, with an int32 argument (indices) left out of the gradients', async () => {
    const shapes = fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }))
      .map(([rows, cols, k]) => [[rows, cols], [k]]);
    const report = await mg.testing.checkOp((x, idx) => mg.indexSelect(x, 0, idx), {
      shapes,
      dtypes: ['float32', 'int32'],
      arbitraries: [undefined, (s) => fc.array(fc.integer({ min: 0, max: 0 }), { minLength: s[0], maxLength: s[0] })],
      numRuns: 3,
    });
    expect(report.ok).toBe(true);
    expect(report.twin).toBe(null);
    expect(report.gpu!.compared).toBeGreaterThan(0);
  });

  it('refuses to skip webgpu silently and rejects options without shapes', async () => {
    await expect(mg.testing.checkOp(mg.exp, {} as never)).rejects.toThrow(/checkOp: exp: options need shapes/);
  });
});
