#!/usr/bin/env node
// The moragrad command line. Commands land here as they are built (train, finetune, demo ...).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(`moragrad: ${err?.message ?? err}`);
    process.exit(1);
  },
);
