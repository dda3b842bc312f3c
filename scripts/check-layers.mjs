#!/usr/bin/env node
// The layering rule of src/ (docs/architecture.md draws it): which folder may import which, and
// that the engine (`import * as mg from 'moragrad'`) imports nothing from the application (models,
// experiments, cli) and no package outside its own list. Reads every import/export ... from and
// import() of src/**/*.ts; run by test/core/layers.test.ts inside `npm test`, or directly:
//
//   node scripts/check-layers.mjs        # exit 1 and one line per forbidden import
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Each layer: the files it holds (by path under src/) and the layers it may import. */
export const LAYERS = [
  // the engine, bottom to top
  { name: 'core', files: ['errors.ts', 'dtype.ts', 'shape.ts', 'kernel-switches.ts'], may: [] },
  { name: 'backend', files: ['backend/'], may: ['core'] },
  { name: 'tensor', files: ['tensor.ts', 'autograd.ts', 'runtime.ts', 'tape-hold.ts'], may: ['core', 'backend'] },
  { name: 'mora-rules', files: ['mora/rules.ts'], may: ['core'] },
  { name: 'ops', files: ['ops/'], may: ['core', 'backend', 'tensor', 'mora-rules'] },
  { name: 'custom', files: ['custom/'], may: ['core', 'backend', 'tensor', 'ops'] },
  { name: 'testing', files: ['testing/'], may: ['core', 'backend', 'tensor', 'ops'] },
  { name: 'io', files: ['io/'], may: ['core', 'tensor', 'ops'] },
  { name: 'data', files: ['data/'], may: ['core', 'tensor', 'ops', 'io'] },
  { name: 'nn', files: ['nn/'], may: ['core', 'backend', 'tensor', 'ops'] },
  { name: 'optim', files: ['optim/'], may: ['core', 'backend', 'tensor', 'ops', 'nn'] },
  { name: 'mora', files: ['mora/'], may: ['mora-rules', 'ops'] },
  { name: 'adapters', files: ['adapters/'], may: ['core', 'tensor', 'ops', 'custom', 'io', 'nn', 'optim', 'mora', 'mora-rules'] },
  { name: 'train', files: ['train/'], may: ['core', 'tensor', 'ops', 'io', 'data', 'nn', 'optim', 'adapters'] },
  {
    name: 'entry',
    files: ['index.ts'],
    may: ['core', 'backend', 'tensor', 'mora-rules', 'ops', 'custom', 'testing', 'io', 'data', 'nn', 'optim', 'mora', 'adapters', 'train'],
  },
  // the application, on top of the engine
  { name: 'models', files: ['app/models/'], may: ['engine'] },
  { name: 'experiments', files: ['app/experiments/'], may: ['engine', 'models'] },
  { name: 'cli', files: ['app/cli/'], may: ['engine', 'models', 'experiments'] },
];

const APPLICATION = new Set(['models', 'experiments', 'cli']);
const ENGINE = LAYERS.filter((l) => !APPLICATION.has(l.name)).map((l) => l.name);

/** Packages engine files may import (besides node: builtins); the application's own (vega, commander ...) stay out. zod: the schemas of the files the engine reads (src/io/schema.ts). */
export const ENGINE_PACKAGES = ['webgpu', 'fast-check', 'zod'];

/**
 * Forbidden edges that exist today and are scheduled to go: the package entry still re-exports the
 * application (mg.experiments, mg.models) until those move to subpath exports. The check fails when
 * one of these is gone, so the list cannot go stale.
 */
export const PENDING = [];

/** The layer of a path under src/ (the most specific match: a file before its folder). */
export function layerOf(rel) {
  let best = null;
  for (const l of LAYERS) {
    for (const f of l.files) {
      const hit = f.endsWith('/') ? rel.startsWith(f) : rel === f;
      if (hit && (!best || f.length > best.len)) best = { name: l.name, len: f.length };
    }
  }
  return best?.name ?? null;
}

function allowed(from, to) {
  if (from === to) return true;
  const may = LAYERS.find((l) => l.name === from).may.flatMap((m) => (m === 'engine' ? ENGINE : [m]));
  return may.includes(to);
}

function sourceFiles(dir) {
  const out = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The module specifiers one file imports (static imports, re-exports, import()). */
export function importsOf(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = [];
  for (const m of code.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g))
    specs.push(m[1] ?? m[2]);
  return specs;
}

/**
 * Every forbidden import under `root`/src, as 'a -> b (why)' lines. `extra` adds virtual files
 * ({ 'src/ops/x.ts': 'import ...' }) for testing the check itself.
 */
export function checkLayers(root, extra = {}) {
  const src = join(root, 'src');
  const texts = new Map(sourceFiles(src).map((p) => [relative(root, p), readFileSync(p, 'utf8')]));
  for (const [p, t] of Object.entries(extra)) texts.set(p, t);
  const problems = [];
  const seen = new Set();
  for (const [file, text] of texts) {
    const from = layerOf(relative('src', file));
    if (!from) {
      problems.push(`${file}: in no layer (add its folder to LAYERS in scripts/check-layers.mjs)`);
      continue;
    }
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (ENGINE.includes(from) && !spec.startsWith('node:') && !ENGINE_PACKAGES.includes(pkg)) {
          problems.push(`${file} -> '${spec}' (the engine imports only node: builtins and ${ENGINE_PACKAGES.join(', ')})`);
        }
        continue;
      }
      const target = relative(root, resolve(dirname(join(root, file)), spec)).replace(/\.js$/, '.ts');
      const to = layerOf(relative('src', target));
      const edge = `${file} -> ${target}`;
      if (!to) problems.push(`${edge}: the target is in no layer`);
      else if (!allowed(from, to)) {
        if (PENDING.includes(edge)) seen.add(edge);
        else
          problems.push(
            `${edge} (${from} may not import ${to}${APPLICATION.has(to) && ENGINE.includes(from) ? ': the engine never imports the application' : ''})`,
          );
      }
    }
  }
  for (const p of PENDING)
    if (!seen.has(p)) problems.push(`PENDING lists '${p}', which is no longer imported: remove it from scripts/check-layers.mjs`);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkLayers(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`${problems.length} forbidden import(s); the rule is in scripts/check-layers.mjs and docs/architecture.md`);
    process.exit(1);
  }
  console.log('layers: ok');
}
