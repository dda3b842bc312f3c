// The WGSL loader (src/backend/webgpu/shaders.ts): includes pasted once, `a+b` joins files, the
// files' `enable` directives move to the top (WGSL wants them before any declaration), and
// `#NAME=V` suffixes become module constants; the ops' code tables become named constants the
// kernels use (`case GELU_TANH:`), checked both ways.
import { describe, expect, it } from 'vitest';
import { withConstants } from '../../src/backend/interface.js';
import { entryBindings, wgslSource } from '../../src/backend/webgpu/shaders.js';
import { MORA_TYPE_CONSTANTS } from '../../src/mora/rules.js';
import * as mg from '../../src/index.js';
import { setupBackends } from '../helpers.js';

setupBackends();
const T = MORA_TYPE_CONSTANTS;

describe('WGSL loader', () => {
  it('joins files with + and hoists their enable directives, each once', () => {
    const src = wgslSource(withConstants('mora_forward+mora_product_sg', { ...T, ST_ROWS: 64 }));
    const lines = src.split('\n');
    expect(lines[0]).toBe('enable subgroups;');
    expect(lines.filter((l) => /^enable /.test(l))).toEqual(['enable subgroups;']);
    // the shared includes are pasted once although both files reach them
    expect(src.match(/^struct Params \{/gm)).toHaveLength(1);
    expect(src.match(/^fn product_range\(/gm)).toHaveLength(1);
    expect(src).toContain('subgroupBroadcast');
  });

  it('the workgroup-memory variant has no subgroup code and no enable', () => {
    const src = wgslSource(withConstants('mora_backward+mora_product_smem', T));
    expect(src).not.toMatch(/^enable /m);
    expect(src).not.toContain('subgroupBroadcast');
    expect(src.match(/^fn product_range\(/gm)).toHaveLength(1);
  });

  it('puts the #NAME=V module constants after the enables, before the files', () => {
    const src = wgslSource('mora_dm#ST_ROWS=48');
    const lines = src.split('\n');
    expect(lines[0]).toBe('enable subgroups;');
    expect(lines[1]).toBe('const ST_ROWS: u32 = 48u;');
    expect(src).toContain('array<vec4<f32>, ST_ROWS>');
    expect(() => wgslSource('mora_dm#ST_ROWS=-1')).toThrow(/#NAME=<u32>.*'#ST_ROWS=-1'/);
  });

  it('a kernel naming a constant nobody declares, or a constant the kernel never names, is a loud error', () => {
    expect(() => wgslSource(withConstants('unary', { RELU: 6 }))).toThrow(
      /shader 'unary#RELU=6' uses NEG, EXP, .*GELU_TANH.*, which nothing declares/,
    );
    expect(() => wgslSource(withConstants('mora_delta', { TYPE_1: 1 }))).toThrow(/uses .*TYPE_6.*, which nothing declares/);
    const binary = {
      ADD: 0,
      SUB: 1,
      MUL: 2,
      DIV: 3,
      MAXIMUM: 4,
      MINIMUM: 5,
      LT: 6,
      LE: 7,
      GT: 8,
      GE: 9,
      EQ: 10,
      NE: 11,
      POW: 12,
      POW_GRAD_BASE: 13,
      POW_GRAD_EXP: 14,
    };
    expect(() => wgslSource(withConstants('binary', binary))).not.toThrow();
    expect(() => wgslSource(withConstants('binary', { ...binary, ATAN2: 15 }))).toThrow(
      /module constant\(s\) ATAN2 are not used by the kernel/,
    );
    expect(() => wgslSource(withConstants('binary', { ...binary, WG: 64 }))).toThrow(/WG are also declared by the kernel/);
  });

  it('the ops pass their whole code tables: every generated constant is declared once and used', async () => {
    const x = mg.randn([4, 6], { seed: 1, backend: 'webgpu' });
    const M = mg.randn([6, 6], { seed: 2, backend: 'webgpu' });
    const opts = { inFeatures: 6, outFeatures: 5, type: 6 as const };
    const { kernels } = await mg.profile(() => [
      x.relu(),
      x.gelu('tanh'),
      x.add(x),
      x.maximum(x),
      x.sum(-1),
      x.max(-1),
      mg.mora.apply(x, M, opts),
      mg.mora.deltaWeight(M, opts),
    ]);
    const tables: Record<string, string[]> = {
      unary: ['NEG', 'EXP', 'RELU', 'GELU_TANH', 'GELU_ERF', 'SILU_GRAD'],
      binary: ['ADD', 'SUB', 'MAXIMUM', 'NE'],
      reduce: ['SUM', 'MAX', 'MIN'],
      mora_delta: Object.keys(T),
    };
    // the forward's file: mora_forward_rows on CPU adapters (the row-staged kernel), else mora_forward
    const forward = kernels.map((k) => k.shader.split(/[+#]/)[0]).find((f) => f.startsWith('mora_forward'));
    tables[forward ?? 'mora_forward'] = Object.keys(T);
    for (const [file, names] of Object.entries(tables)) {
      const shader = kernels.map((k) => k.shader).find((s) => s.split(/[+#]/)[0] === file);
      expect(shader, file).toBeDefined();
      const src = wgslSource(shader!);
      for (const c of names) {
        expect(src.match(new RegExp(`^const ${c}: u32 = \\d+u;$`, 'gm')), `${c} in ${file}`).toHaveLength(1);
        expect(src.match(new RegExp(`\\b${c}\\b`, 'g'))!.length, `${c} used by ${file}`).toBeGreaterThan(1);
      }
    }
  });

  it('names a missing file in its error', () => {
    expect(() => wgslSource('mora_forward+no_such_kernel')).toThrow(/no_such_kernel/);
  });
});

describe('bind group layouts from the WGSL', () => {
  const src = `
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;
@group(0) @binding(0) var<storage> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
fn helper(i: u32) -> f32 { return x[i]; }
@compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < u.n) { y[id.x] = helper(id.x); } // id.x is a member, not the binding x
}
@compute @workgroup_size(64) fn backward(@builtin(global_invocation_id) id: vec3u) {
  let v = vec2f(1.0, 2.0);
  dx[id.x] = g[id.x] * v.x; // v.x is a member, not the binding x
}`;
  it("finds the bindings an entry point uses, through the functions it calls, as Dawn's 'auto' layout does", () => {
    expect(entryBindings(src, 'forward')).toEqual(['read-only-storage', 'storage', 'uniform']);
    expect(entryBindings(src, 'backward')).toEqual(['read-only-storage', 'storage']);
  });
  it('gives up (null: the auto layout) on a gap in the binding numbers, another group, or a texture', () => {
    expect(entryBindings(src, 'missing')).toBeNull();
    expect(
      entryBindings(src.replace('@binding(1) var<storage, read_write> y', '@binding(3) var<storage, read_write> y'), 'forward'),
    ).toBeNull();
    expect(entryBindings(src.replace('@group(0) @binding(2)', '@group(1) @binding(2)'), 'forward')).toBeNull();
    expect(
      entryBindings(
        `@group(0) @binding(0) var t: texture_2d<f32>;\n@compute @workgroup_size(1) fn main() { let d = textureDimensions(t); }`,
        'main',
      ),
    ).toBeNull();
  });
});
