// The moragrad CLI. Flags are parsed by commander; each command's work lives below src/cli and
// reports progress through callbacks rendered here. Errors end as one line and a non-zero exit.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { init, getBackend } from '../runtime.js';
import type { WebGpuBackend } from '../backend/webgpu/webgpu.js';
import { registerTrain } from './train.js';
import { registerExperiments } from './experiments.js';
import { registerFinetuneUse } from './finetune-use.js';

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('moragrad')
    .description('tensors, autograd and MoRA on WebGPU')
    .version(version())
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  program
    .command('info')
    .description('the WebGPU adapter moragrad finds, its limits and features')
    .action(async () => {
      await init();
      const b = getBackend('webgpu') as WebGpuBackend;
      const L = b.device.limits;
      console.log(`adapter: ${b.description}`);
      console.log(`features: ${[...b.device.features].filter((f) => ['timestamp-query', 'shader-f16', 'subgroups'].includes(f)).join(', ') || 'none'}`);
      console.log(`maxStorageBufferBindingSize: ${L.maxStorageBufferBindingSize} bytes; maxComputeWorkgroupStorageSize: ${L.maxComputeWorkgroupStorageSize}; maxComputeInvocationsPerWorkgroup: ${L.maxComputeInvocationsPerWorkgroup}`);
      console.log(`LP_NUM_THREADS: ${process.env.LP_NUM_THREADS ?? '(unset)'}`);
    });
  registerTrain(program);
  registerExperiments(program);
  registerFinetuneUse(program); // as 'finetune-use'; `finetune --model use-lite` is routed to it
  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(routeFinetune(argv), { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed its one line
    throw e;
  }
}

/** `finetune --model use-lite ...` is the pretrained-encoder fine-tune (its own flags). */
function routeFinetune(argv: string[]): string[] {
  if (argv[0] !== 'finetune') return argv;
  const i = argv.indexOf('--model');
  const model = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--model='))?.slice(8);
  return model === 'use-lite' ? ['finetune-use', ...argv.slice(1)] : argv;
}
