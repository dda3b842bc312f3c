// WGSL loading: files under kernels/ by name, `#include "x.wgsl"` pasted in once, and a pipeline
// cache keyed by shader + entry point + pipeline-overridable constants (tile sizes, op codes).
// Shapes travel as uniforms, so one pipeline serves every shape. A shader name may join files with
// `+` (`mora_forward+mora_product_sg`: a kernel and the variant of a piece it leaves open); the
// files' `enable` directives move to the top, where WGSL wants them. A name may end in module
// constants, `#NAME=V` each (`mora_dm#ST_ROWS=128`): `const NAME: u32 = Vu;` goes before the files,
// for what an override cannot size (WGSL sizes private arrays with const expressions only).
// Shaders registered at run time (the users' kernels of mg.customOp) are used verbatim, so the
// compiler's line numbers are the user's; their compile errors are reported against their origin.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../../errors.js';

/** The package's kernels/ folder (works from src/ under tsx/vitest and from dist/). */
export const KERNEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'kernels');

const sources = new Map<string, string>();
/** Where each run-time shader came from (a file path, or a label for inline source). */
const origins = new Map<string, string>();

/** Registers WGSL under `name` (not a kernels/ file): used verbatim, errors reported against `origin`. */
export function registerShader(name: string, source: string, origin: string): void {
  sources.set(name, source);
  origins.set(name, origin);
}

/** The origin of a run-time shader; undefined for the engine's own kernels/ files. */
export function shaderOrigin(name: string): string | undefined {
  return origins.get(name);
}

/**
 * The compiler's error messages for a module as `origin:line:col: message`, each followed by the
 * source line and a caret; null when it compiled.
 */
export async function compileErrors(module: GPUShaderModule, source: string, origin: string): Promise<string | null> {
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length === 0) return null;
  const lines = source.split('\n');
  return errors
    .map((m) => {
      const line = lines[m.lineNum - 1] ?? '';
      return `${origin}:${m.lineNum}:${m.linePos}: error: ${m.message}\n    ${line}\n    ${' '.repeat(Math.max(0, m.linePos - 1))}^`;
    })
    .join('\n');
}

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
      p = this.device.createComputePipeline({ layout: 'auto', label: key, compute: { module: this.module(shader), entryPoint: entry, constants } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** The compiled module of `shader` (created once). */
  module(shader: string): GPUShaderModule {
    let module = this.modules.get(shader);
    if (!module) {
      module = this.device.createShaderModule({ code: wgslSource(shader), label: shader });
      this.modules.set(shader, module);
    }
    return module;
  }
}
