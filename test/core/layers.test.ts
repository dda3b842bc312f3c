// The layering rule (scripts/check-layers.mjs, drawn in docs/architecture.md) holds for src/, and the
// check itself catches a forbidden import.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script, no type declarations
import { checkLayers } from '../../scripts/check-layers.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const check = checkLayers as (root: string, extra?: Record<string, string>) => string[];

describe('layers', () => {
  it('src/ imports only what its layer may', () => {
    expect(check(root)).toEqual([]);
  });

  it('catches an op importing nn, the engine importing the application or its packages, and a multi-line import', () => {
    const bad = {
      'src/ops/bad.ts': "import { Linear } from '../nn/linear.js';\n",
      'src/nn/bad.ts': "export {\n  runSentiment,\n} from '../app/experiments/sentiment/index.js';\nconst plot = await import('vega');\n",
      'src/backend/bad.ts': "import type { Tensor } from '../tensor.js';\n",
      'src/app/cli/ok.ts': "import * as mg from '../../index.js';\nimport { runDemo } from '../experiments/demo.js';\n",
    };
    expect(check(root, bad)).toEqual([
      'src/ops/bad.ts -> src/nn/linear.ts (ops may not import nn)',
      'src/nn/bad.ts -> src/app/experiments/sentiment/index.ts (nn may not import experiments: the engine never imports the application)',
      "src/nn/bad.ts -> 'vega' (the engine imports only node: builtins and webgpu, fast-check, zod)",
      'src/backend/bad.ts -> src/tensor.ts (backend may not import tensor)',
    ]);
  });
});
