// The moragrad CLI. Flags are parsed by commander; each command's work lives below src/app/cli and
// reports progress through callbacks rendered here. Every failure ends as one line on stderr and an
// exit code: 2 for usage errors (flags, values, arguments), 1 for runtime failures, 130 after an
// interrupt (Ctrl-C or SIGTERM: the command saved what it had). MORAGRAD_DEBUG=1 prints the stack.
import { Command, CommanderError } from 'commander';
import { init, getBackend } from '../../runtime.js';
import type { WebGpuBackend } from '../../backend/webgpu/webgpu.js';
import { packageVersion } from '../experiments/environment.js';
import { registerTrain } from './train.js';
import { registerExperiments } from './experiments.js';
import { registerFinetuneUse } from './finetune-use.js';
import { resetInterrupted, wasInterrupted } from './progress.js';

/** Exit codes. */
export const EXIT = { ok: 0, runtime: 1, usage: 2, interrupted: 130 } as const;

export function buildProgram(output: { printed: boolean } = { printed: false }): Command {
  const program = new Command('moragrad')
    .description('tensors, autograd and MoRA on WebGPU')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({
      writeErr: (str) => process.stderr.write(str),
      // commander's parse errors, as one line like every other failure
      outputError: (str, write) => {
        output.printed = true;
        write(`moragrad: ${str.replace(/^error: /, '').trimEnd()} (see --help)\n`);
      },
    });
  program
    .command('info')
    .description('the WebGPU adapter moragrad finds, its limits and features')
    .action(async () => {
      await init();
      const b = getBackend('webgpu') as WebGpuBackend;
      const L = b.device.limits;
      console.log(`adapter: ${b.description}`);
      console.log(
        `features: ${[...b.device.features].filter((f) => ['timestamp-query', 'shader-f16', 'subgroups'].includes(f)).join(', ') || 'none'}`,
      );
      console.log(
        `maxStorageBufferBindingSize: ${L.maxStorageBufferBindingSize} bytes; maxComputeWorkgroupStorageSize: ${L.maxComputeWorkgroupStorageSize}; maxComputeInvocationsPerWorkgroup: ${L.maxComputeInvocationsPerWorkgroup}`,
      );
      console.log(`LP_NUM_THREADS: ${process.env.LP_NUM_THREADS ?? '(unset)'}`);
    });
  registerTrain(program);
  registerExperiments(program);
  registerFinetuneUse(program); // as 'finetune-use'; `finetune --model use-lite` is routed to it
  return program;
}

/** Runs the CLI; prints any failure as one line and resolves to the exit code (it never rejects). */
export async function main(argv: string[]): Promise<number> {
  const output = { printed: false };
  const program = buildProgram(output);
  resetInterrupted();
  try {
    await program.parseAsync(routeFinetune(argv), { from: 'user' });
    return wasInterrupted() ? EXIT.interrupted : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      // parse errors were printed by commander; a parser's error thrown inside an action was not
      if (!output.printed) printError(e);
      return EXIT.usage;
    }
    printError(e);
    return wasInterrupted() ? EXIT.interrupted : EXIT.runtime;
  }
}

function printError(e: unknown): void {
  if (process.env.MORAGRAD_DEBUG === '1') console.error(e);
  else console.error(`moragrad: ${oneLine(e instanceof Error ? e.message : String(e))}`);
}

/** The first line of a message (a stack or a multi-line native message stays out of the one-line error). */
function oneLine(msg: string): string {
  const first = msg.split('\n').find((l) => l.trim() !== '') ?? msg;
  return first.replace(/^error: /, '');
}

/** `finetune --model use-lite ...` is the pretrained-encoder fine-tune (its own flags). */
function routeFinetune(argv: string[]): string[] {
  if (argv[0] !== 'finetune') return argv;
  const i = argv.indexOf('--model');
  const model = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--model='))?.slice(8);
  return model === 'use-lite' ? ['finetune-use', ...argv.slice(1)] : argv;
}
