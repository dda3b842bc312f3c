#!/usr/bin/env node
// The moragrad command line (compiled from src/cli). Errors are one line unless MORAGRAD_DEBUG=1.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (process.env.MORAGRAD_DEBUG === '1') console.error(err);
    else console.error(`moragrad: ${err?.message ?? err}`);
    process.exit(1);
  },
);
