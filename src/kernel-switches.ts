// Kernel switches: one mechanism for forcing an op's kernel variant in tests and benchmarks (like
// llm.c's kernel number). An op with several kernels declares its switch here with its variants and
// each variant's integer knobs; its chooser asks `forced()` first and picks by shape otherwise.
//
//   const restore = mg.testing.forceKernel('matmul', 'vec4', { rm: 4 });   // until restore()
//   await mg.testing.withKernel('reduce', 'naive', async () => { ... });   // scoped
//   MORAGRAD_KERNEL=matmul=naive,reduce=naive node ...                     // process-wide
//
// A programmatic force wins over the environment. Unknown names, variants and knobs are errors that
// list what exists. docs/kernels.md lists every switch.
import { fail } from './errors.js';

/** What a switch is forced to: the variant and its knobs (unset knobs: the op's default). */
export interface Forced {
  variant: string;
  params: Readonly<Record<string, number>>;
}

interface SwitchDef {
  /** variant -> the integer knobs it takes, and what it is. */
  variants: Readonly<Record<string, { knobs: readonly string[]; about: string }>>;
  forced: Forced | null;
}

const switches = new Map<string, SwitchDef>();

/** The switch of one op; `forced()` is what a test forced (or MORAGRAD_KERNEL says), else null. */
export interface KernelSwitch<V extends string> {
  readonly name: string;
  forced(): (Forced & { variant: V }) | null;
}

/** Declares the switch `name` (once, by the op's module) with its variants. */
export function defineKernelSwitch<V extends string>(
  name: string,
  variants: Record<V, { knobs?: readonly string[]; about: string }>,
): KernelSwitch<V> {
  if (switches.has(name)) fail('defineKernelSwitch', `switch '${name}' is declared twice`);
  const def: SwitchDef = {
    variants: Object.fromEntries(
      Object.entries<{ knobs?: readonly string[]; about: string }>(variants).map(([v, s]) => [v, { knobs: s.knobs ?? [], about: s.about }]),
    ),
    forced: null,
  };
  switches.set(name, def);
  return {
    name,
    forced: () => (def.forced ?? fromEnv(name)) as (Forced & { variant: V }) | null,
  };
}

function lookup(op: string, name: string, variant: string, params: Record<string, number>): SwitchDef {
  const def = switches.get(name);
  if (!def) fail(op, `no kernel switch '${name}'; the switches are ${[...switches.keys()].sort().join(', ')}`);
  const v = def.variants[variant];
  if (!v) fail(op, `'${name}' has no variant '${variant}'; its variants are ${Object.keys(def.variants).join(', ')}`);
  for (const [k, x] of Object.entries(params)) {
    if (!v.knobs.includes(k))
      fail(
        op,
        `'${name}' variant '${variant}' has no knob '${k}'${v.knobs.length ? `; its knobs are ${v.knobs.join(', ')}` : ' (it takes none)'}`,
      );
    if (!Number.isInteger(x) || x < 0) fail(op, `'${name}' knob ${k} must be a non-negative integer, got ${String(x)}`);
  }
  return def;
}

/**
 * Forces `name`'s kernel to `variant` (with integer knobs `params`) for every call until the
 * returned function restores the previous state.
 */
export function forceKernel(name: string, variant: string, params: Record<string, number> = {}): () => void {
  const def = lookup('forceKernel', name, variant, params);
  const prev = def.forced;
  def.forced = { variant, params: { ...params } };
  return () => {
    def.forced = prev;
  };
}

/** Runs `fn` with `name` forced to `variant`; restores afterwards (also when fn throws or rejects). */
export function withKernel<T>(name: string, variant: string, fn: () => T, params: Record<string, number> = {}): T {
  const restore = forceKernel(name, variant, params);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/** Every switch: name -> variant -> { knobs, about } (for docs and tests). */
export function kernelSwitches(): Record<string, Record<string, { knobs: readonly string[]; about: string }>> {
  return Object.fromEntries([...switches].map(([n, d]) => [n, d.variants]));
}

/** Clears every forced switch (tests' afterEach). */
export function resetKernels(): void {
  for (const d of switches.values()) d.forced = null;
}

// MORAGRAD_KERNEL=name=variant,name=variant (no knobs), parsed once per value.
let envCache: { value: string; map: Map<string, Forced> } | null = null;

function fromEnv(name: string): Forced | null {
  const value = process.env.MORAGRAD_KERNEL ?? '';
  if (value === '') return null;
  if (envCache?.value !== value) {
    const map = new Map<string, Forced>();
    for (const part of value.split(',')) {
      const m = /^\s*([\w.]+)=([\w]+)\s*$/.exec(part);
      if (!m) fail('MORAGRAD_KERNEL', `expected name=variant[,name=variant...], got '${value}'`);
      lookup(`MORAGRAD_KERNEL='${value}'`, m[1], m[2], {});
      map.set(m[1], { variant: m[2], params: {} });
    }
    envCache = { value, map };
  }
  return envCache.map.get(name) ?? null;
}
