// WGSL loading: files under kernels/ by name, `#include "x.wgsl"` pasted in once, and a pipeline
// cache keyed by shader + entry point + pipeline-overridable constants (tile sizes, op codes).
// Shapes travel as uniforms, so one pipeline serves every shape. A shader name may join files with
// `+` (`mora_forward+mora_product_sg`: a kernel and the variant of a piece it leaves open); the
// files' `enable` directives move to the top, where WGSL wants them. A name may end in module
// constants, `#NAME=V` each (`mora_dm#ST_ROWS=128`): `const NAME: u32 = Vu;` goes before the files,
// for what an override cannot size (WGSL sizes private arrays with const expressions only) and for
// the names of the ops' code tables (`withConstants` in backend/interface.ts: `case GELU_TANH:`).
// Constant names are checked both ways: an UPPER_CASE name the kernel uses that nothing declares,
// and an injected constant the kernel never uses, are errors here (not a WGSL compile error later).
// A name ending in `@f16` is the float16 specialisation of a kernel that declares the element type
// of its float buffers as `alias T = f32;` (KernelDef.f16 = 'alias'; raw 32-bit words that move
// float32 and int32 alike: `alias W = u32;`): each such line becomes `alias T = f16;` and
// `enable f16;` goes on top; a kernel without an alias line has no such specialisation (an error
// here, never an f32 kernel reading half buffers).
// Shaders registered at run time (the users' kernels of mg.customOp) are used verbatim, so the
// compiler's line numbers are the user's; their compile errors are reported against their origin.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { globals } from 'webgpu';
import { fail } from '../../errors.js';
import { F16_SUFFIX } from '../interface.js';

const COMPUTE = (globals as unknown as { GPUShaderStage: { COMPUTE: number } }).GPUShaderStage.COMPUTE;

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
    const f16 = name.endsWith(F16_SUFFIX);
    const [files, ...defs] = (f16 ? name.slice(0, -F16_SUFFIX.length) : name).split('#');
    const consts = defs.map((d) => {
      const m = /^([A-Za-z_]\w*)=(\d+)$/.exec(d);
      if (!m) fail('kernels', `shader '${name}': a module constant is written #NAME=<u32>, got '#${d}'`);
      return `const ${m[1]}: u32 = ${m[2]}u;`;
    });
    const seen = new Set<string>();
    let body = files
      .split('+')
      .map((part) => expand(part, seen))
      .join('\n');
    if (f16) {
      const alias = /^alias (\w+) = (?:f32|u32);/gm;
      if (!alias.test(body)) fail('kernels', `shader '${name}': the kernel declares no \`alias T = f32;\`, so it has no float16 variant`);
      body = `enable f16;\n${body.replace(alias, 'alias $1 = f16;')}`;
    }
    const enables = new Set<string>();
    const rest = body.replace(/^enable [\w\s,]+;[^\S\n]*$/gm, (line) => {
      enables.add(line.trim());
      return '';
    });
    src = [...enables, ...consts, rest].join('\n');
    checkNames(
      name,
      src,
      defs.map((d) => d.split('=')[0]),
    );
    sources.set(name, src);
  }
  return src;
}

/** UPPER_CASE names used but never declared, and injected constants never used, are errors. */
function checkNames(name: string, src: string, injected: string[]): void {
  const code = src.replace(/\/\/.*$/gm, '');
  const declared = new Set<string>();
  for (const m of code.matchAll(/\b(?:const|override|let|var|alias|struct|fn)\s+([A-Za-z_]\w*)/g)) declared.add(m[1]);
  for (const m of code.matchAll(/(?<![\w.]|case\s+)([A-Za-z_]\w*)\s*:(?!:)/g)) declared.add(m[1]); // struct fields, parameters
  const uses = new Map<string, number>();
  for (const m of code.matchAll(/(?<![\w.])([A-Z][A-Z0-9_]+)\b/g)) uses.set(m[1], (uses.get(m[1]) ?? 0) + 1);
  const unknown = [...uses.keys()].filter((u) => !declared.has(u));
  if (unknown.length)
    fail('kernels', `shader '${name}' uses ${unknown.join(', ')}, which nothing declares (a constant table the op did not pass?)`);
  const twice = injected.filter((c) => (code.match(new RegExp(`\\b(?:const|override)\\s+${c}\\b`, 'g')) ?? []).length > 1);
  if (twice.length) fail('kernels', `shader '${name}': the module constant(s) ${twice.join(', ')} are also declared by the kernel`);
  const unused = injected.filter((c) => (uses.get(c) ?? 0) < 2);
  if (unused.length)
    fail(
      'kernels',
      `shader '${name}': the module constant(s) ${unused.join(', ')} are not used by the kernel (table and kernel out of sync?)`,
    );
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

/** A binding's type, as a bind group layout entry names it. */
type BindingType = 'read-only-storage' | 'storage' | 'uniform';

/**
 * The group-0 bindings that entry point `entry` of a WGSL source uses, by binding number, as
 * 'auto' layouts find them: the module-scope variables named in the entry function or in the
 * functions it calls. Null when they are not exactly 0..n-1 buffers, or the source is beyond this
 * reading (then the pipeline keeps Dawn's 'auto' layout). A name that only looks used (a local
 * shadowing a binding) adds an entry the shader ignores, which a layout may hold.
 */
export function entryBindings(src: string, entry: string): BindingType[] | null {
  const code = src.replace(/\/\/.*$/gm, '');
  const bodies = new Map<string, string>();
  for (const m of code.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    const open = code.indexOf('{', m.index);
    if (open < 0) return null;
    let depth = 0;
    let i = open;
    for (; i < code.length; i++) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}' && --depth === 0) break;
    }
    bodies.set(m[1], code.slice(m.index, i + 1));
  }
  if (!bodies.has(entry)) return null;
  const used = new Set<string>();
  const todo = [entry];
  const seen = new Set(todo);
  while (todo.length > 0) {
    for (const [name] of bodies.get(todo.pop()!)!.matchAll(/(?<![.\w])[A-Za-z_]\w*/g)) {
      used.add(name); // not after '.': `v.x` is a member, not the binding `x`
      if (bodies.has(name) && !seen.has(name)) {
        seen.add(name);
        todo.push(name);
      }
    }
  }
  const types: BindingType[] = [];
  for (const m of code.matchAll(/((?:@\w+\s*\([^)]*\)\s*)+)var\s*(<[^>]*>)?\s*(\w+)/g)) {
    const binding = /@binding\s*\(\s*(\d+)\s*\)/.exec(m[1]);
    if (!binding || !used.has(m[3])) continue;
    if (!/@group\s*\(\s*0\s*\)/.test(m[1])) return null;
    const space = (m[2] ?? '').replace(/\s/g, '');
    const type: BindingType | null =
      space === '<uniform>'
        ? 'uniform'
        : space === '<storage,read_write>'
          ? 'storage'
          : /^<storage(,read)?>$/.test(space)
            ? 'read-only-storage'
            : null;
    const i = Number(binding[1]);
    if (type === null || (types[i] !== undefined && types[i] !== type)) return null;
    types[i] = type;
  }
  for (let i = 0; i < types.length; i++) if (types[i] === undefined) return null;
  return types;
}

/**
 * A compiled pipeline and its bind group layout. `dynamic`: every binding has a dynamic offset (the
 * layout is built from the bindings the WGSL's entry point uses), so one bind group serves every slot of the same
 * buffers; otherwise (static offsets asked for, a user's shader, or more bindings than the device
 * allows dynamic) the layout is 'auto' and offsets are part of the bind group. `id` names it in the bind-group cache's keys.
 */
export interface PipelineEntry {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly dynamic: boolean;
  readonly id: number;
}

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, PipelineEntry>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  /**
   * Keyed by shader, entry point and the constants in their given order (a kernel's constants
   * function always lists them alike). `bindings`: how many buffers the backend binds; `dynamic`:
   * a layout with dynamic offsets is wanted (given where possible).
   */
  get(shader: string, entry: string, constants: Record<string, number> | undefined, bindings: number, dynamic: boolean): PipelineEntry {
    let key = `${shader}:${entry}${dynamic ? ':dyn' : ''}`;
    if (constants) for (const k in constants) key += `:${k}=${constants[k]}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const explicit = dynamic && shaderOrigin(shader) === undefined ? this.dynamicLayout(wgslSource(shader), entry, bindings) : null;
      const pipeline = this.device.createComputePipeline({
        layout: explicit ? this.device.createPipelineLayout({ bindGroupLayouts: [explicit] }) : 'auto',
        label: key,
        compute: { module: this.module(shader), entryPoint: entry, constants: constants ?? {} },
      });
      p = { pipeline, layout: explicit ?? pipeline.getBindGroupLayout(0), dynamic: explicit !== null, id: this.pipelines.size };
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A layout with dynamic offsets for every binding the entry point uses, when there are `bindings` of them and the device allows as many. */
  private dynamicLayout(src: string, entry: string, bindings: number): GPUBindGroupLayout | null {
    const types = entryBindings(src, entry);
    if (!types || types.length !== bindings) return null;
    const L = this.device.limits;
    const uniforms = types.filter((t) => t === 'uniform').length;
    if (uniforms > L.maxDynamicUniformBuffersPerPipelineLayout || types.length - uniforms > L.maxDynamicStorageBuffersPerPipelineLayout)
      return null;
    return this.device.createBindGroupLayout({
      entries: types.map((type, binding) => ({ binding, visibility: COMPUTE, buffer: { type, hasDynamicOffset: true } })),
    });
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
