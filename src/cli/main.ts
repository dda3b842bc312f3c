// The moragrad CLI entry. `moragrad info` prints the WebGPU adapter, its limits and the features used.
import { readFileSync } from 'node:fs';
import { init, getBackend } from '../runtime.js';
import type { WebGpuBackend } from '../backend/webgpu/webgpu.js';

const USAGE = `usage: moragrad <command>

commands:
  info        the WebGPU adapter moragrad finds, its limits and features
  --version   the package version
  --help      this text`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  if (cmd === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  if (cmd === 'info') {
    if (rest.length) throw new Error(`info takes no arguments, got '${rest.join(' ')}'`);
    await init();
    const b = getBackend('webgpu') as WebGpuBackend;
    const L = b.device.limits;
    console.log(`adapter: ${b.description}`);
    console.log(`features: ${[...b.device.features].filter((f) => ['timestamp-query', 'shader-f16', 'subgroups'].includes(f)).join(', ') || 'none'}`);
    console.log(`maxStorageBufferBindingSize: ${L.maxStorageBufferBindingSize} bytes; maxComputeWorkgroupStorageSize: ${L.maxComputeWorkgroupStorageSize}; maxComputeInvocationsPerWorkgroup: ${L.maxComputeInvocationsPerWorkgroup}`);
    console.log(`LP_NUM_THREADS: ${process.env.LP_NUM_THREADS ?? '(unset)'}`);
    return 0;
  }
  throw new Error(`unknown command '${cmd}' (try --help)`);
}
