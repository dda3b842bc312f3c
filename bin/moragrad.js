#!/usr/bin/env node
// The moragrad command line (compiled from src/cli). main() prints failures as one line (the stack
// with MORAGRAD_DEBUG=1) and resolves to the exit code: 0, 1 runtime, 2 usage, 130 interrupted.
import { main } from '../dist/app/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    // not reached: main catches everything; kept so a bug there still ends as one line
    console.error(`moragrad: ${err?.message ?? err}`);
    process.exit(1);
  },
);
