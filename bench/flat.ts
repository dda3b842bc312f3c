// The bench's long run (bench/memory.ts benchFlat) in a process of its own: the other sections load
// the peers' WebGPU device and many models, whose memory mappings would count against this run's.
//
//   node --import tsx bench/flat.ts <steps>    # prints the FlatResult as JSON on the last line
import * as mg from '../src/index.js';
import { benchFlat } from './memory.js';
import { gptSetup } from './training.js';

const steps = Number(process.argv[2] ?? 10_000);
await mg.init();
const setup = gptSetup();
const r = await benchFlat(setup.shape.vocab, setup.ids, steps, steps / 10);
console.log(JSON.stringify(r));
