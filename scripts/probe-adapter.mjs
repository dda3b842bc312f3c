// Prints the WebGPU adapter Dawn finds (exit 0), or why there is none (exit 1).
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.log('no WebGPU adapter');
  process.exit(1);
}
const i = adapter.info;
console.log(
  `WebGPU adapter: ${i.description || i.device} (vendor ${i.vendor}, architecture ${i.architecture}, backend ${i.backendType ?? 'vulkan'})`,
);
process.exit(0);
