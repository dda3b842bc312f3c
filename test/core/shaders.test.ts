// The WGSL loader (src/backend/webgpu/shaders.ts): includes pasted once, `a+b` joins files, the
// files' `enable` directives move to the top (WGSL wants them before any declaration), and
// `#NAME=V` suffixes become module constants.
import { describe, expect, it } from 'vitest';
import { wgslSource } from '../../src/backend/webgpu/shaders.js';

describe('WGSL loader', () => {
  it('joins files with + and hoists their enable directives, each once', () => {
    const src = wgslSource('mora_forward+mora_product_sg');
    const lines = src.split('\n');
    expect(lines[0]).toBe('enable subgroups;');
    expect(lines.filter((l) => /^enable /.test(l))).toEqual(['enable subgroups;']);
    // the shared includes are pasted once although both files reach them
    expect(src.match(/^struct Params \{/gm)).toHaveLength(1);
    expect(src.match(/^fn product_range\(/gm)).toHaveLength(1);
    expect(src).toContain('subgroupBroadcast');
  });

  it('the workgroup-memory variant has no subgroup code and no enable', () => {
    const src = wgslSource('mora_backward+mora_product_smem');
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

  it('names a missing file in its error', () => {
    expect(() => wgslSource('mora_forward+no_such_kernel')).toThrow(/no_such_kernel/);
  });
});
