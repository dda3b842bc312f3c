// Builds dist/ from src/: every .ts file transpiled on its own by esbuild (ES modules, source maps),
// the same per-file transform vitest runs the tests through (tsconfig's isolatedModules keeps the
// code transpilable that way). Type checking is `npm run typecheck` (part of `npm test`), not this.
//
//   node scripts/build.mjs            # JavaScript only (npm's `prepare`, setup.sh: about a second)
//   node scripts/build.mjs --types    # a clean dist/ with the .d.ts files too (tsc; `npm run build`, `prepack`)
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const args = process.argv.slice(2);
if (args.some((a) => a !== '--types')) {
  console.error(`build: unknown argument(s) ${args.join(' ')} (expected none, or --types)`);
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entryPoints = readdirSync(join(root, 'src'), { recursive: true })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, 'src', f));

// --types starts from an empty dist/ (no stale file of a deleted source). The plain build keeps what
// is there: `npm pack` runs `prepack` (--types) and then `prepare`, which must not remove the .d.ts.
if (args.includes('--types')) rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints,
  outbase: join(root, 'src'),
  outdir: join(root, 'dist'),
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  tsconfig: join(root, 'tsconfig.build.json'),
  logLevel: 'warning',
});
if (args.includes('--types')) {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--emitDeclarationOnly'], { cwd: root, stdio: 'inherit' });
}
