// The main example: a two-layer network's gradients on WebGPU, checked against the float64 cpu
// backend, with the kernels it dispatched and their GPU times.
//   npm run example
import * as mg from 'moragrad';

const backend = await mg.init(); // webgpu by default
console.log(`backend: ${backend.description}`);

const x = mg.randn([64, 128], { seed: 1, requiresGrad: true });
const w = mg.randn([128, 32], { seed: 2, requiresGrad: true });

const {
  result: loss,
  kernels,
  gpuMs,
} = await mg.profile(() => {
  const loss = x.matmul(w).relu().sum();
  loss.backward();
  return loss;
});
console.log(`loss = ${(await loss.item()).toFixed(3)}`);
const g = await w.grad.toArray();
console.log(
  `w.grad[0][0..4] = [${g[0]
    .slice(0, 4)
    .map((v) => v.toFixed(4))
    .join(', ')}]  (shape ${w.grad.shape})`,
);

console.log(`\n${kernels.length} kernels dispatched (forward + backward):`);
for (const k of kernels) {
  const t = k.gpuMs === undefined ? '' : `${k.gpuMs.toFixed(3)} ms`;
  console.log(
    `  ${k.kernel.padEnd(18)} workgroups ${k.workgroups.join('x').padEnd(10)} inputs ${k.shapes
      .map((s) => `[${s}]`)
      .join(' ')
      .padEnd(22)} ${t}`,
  );
}
if (gpuMs !== null) console.log(`  total GPU time ${gpuMs.toFixed(3)} ms`);

// The same computation on the float64 reference backend.
const xc = await x.detach().to('cpu');
const wc = await w.detach().to('cpu');
xc.requiresGrad = wc.requiresGrad = true;
xc.matmul(wc).relu().sum().backward();
const a = await w.grad.data();
const b = await wc.grad.data();
let worst = 0;
for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
console.log(`\nwebgpu vs float64 cpu: max relative difference of w.grad = ${worst.toExponential(2)}`);
console.log('memory:', mg.memory());
