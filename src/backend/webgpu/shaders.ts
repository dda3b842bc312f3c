// WGSL loading: files under kernels/ by name, `#include "x.wgsl"` pasted in once, and a pipeline
// cache keyed by shader + entry point + pipeline-overridable constants (tile sizes, op codes).
// Shapes travel as uniforms, so one pipeline serves every shape. A shader name may join files with
// `+` (`mora_forward+mora_product_sg`: a kernel and the variant of a piece it leaves open); the
// files' `enable` directives move to the top, where WGSL wants them. A name may end in module
// constants, `#NAME=V` each (`mora_dm#ST_ROWS=128`): `const NAME: u32 = Vu;` goes before the files,
// for what an override cannot size (WGSL sizes private arrays with const expressions only).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../../errors.js';

/** The package's kernels/ folder (works from src/ under tsx/vitest and from dist/). */
export const KERNEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'kernels');

const sources = new Map<string, string>();

/**
 * The WGSL of `kernels/<name>.wgsl` (or of `a+b`: a.wgsl then b.wgsl) with its includes resolved,
 * after the constants of `name#K=V#...`.
 */
export function wgslSource(name: string): string {
  let src = sources.get(name);
  if (src === undefined) {
    const [files, ...defs] = name.split('#');
    const consts = defs.map((d) => {
      const m = /^([A-Za-z_]\w*)=(\d+)$/.exec(d);
      if (!m) fail('kernels', `shader '${name}': a module constant is written #NAME=<u32>, got '#${d}'`);
      return `const ${m[1]}: u32 = ${m[2]}u;`;
    });
    const seen = new Set<string>();
    const body = files
      .split('+')
      .map((part) => expand(part, seen))
      .join('\n');
    const enables = new Set<string>();
    const rest = body.replace(/^enable [\w\s,]+;[^\S\n]*$/gm, (line) => {
      enables.add(line.trim());
      return '';
    });
    src = [...enables, ...consts, rest].join('\n');
    sources.set(name, src);
  }
  return src;
}

function expand(name: string, seen: Set<string>): string {
  const file = join(KERNEL_DIR, name.endsWith('.wgsl') ? name : `${name}.wgsl`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    fail('kernels', `no WGSL file ${file} (kernel '${name}')`);
  }
  seen.add(name);
  return text.replace(/^#include "([\w./-]+)"\s*$/gm, (_m, inc: string) => {
    const key = inc.replace(/\.wgsl$/, '');
    if (seen.has(key)) return '';
    return expand(key, seen);
  });
}

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(shader: string, entry: string, constants: Record<string, number>): GPUComputePipeline {
    const ckeys = Object.keys(constants).sort();
    const key = `${shader}:${entry}:${ckeys.map((k) => `${k}=${constants[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module = this.modules.get(shader);
      if (!module) {
        module = this.device.createShaderModule({ code: wgslSource(shader), label: shader });
        this.modules.set(shader, module);
      }
      p = this.device.createComputePipeline({ layout: 'auto', label: key, compute: { module, entryPoint: entry, constants } });
      this.pipelines.set(key, p);
    }
    return p;
  }
}
