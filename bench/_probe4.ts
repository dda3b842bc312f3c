import * as mg from '../src/index.js';
import { gpuSync } from './common.js';
await mg.init();
const N = 1 << 21;
const a = mg.randn([N], { seed: 1 }), b = mg.randn([N], { seed: 2 });
const x = mg.randn([4096, 256], { seed: 3 });
const r = mg.randn([2048, 1024], { seed: 3 });
for (const [name, f] of [['add', () => mg.add(a, b)], ['exp', () => mg.exp(a)], ['softmax', () => mg.softmax(x, -1)], ['rowsum', () => mg.sum(r, -1)], ['colsum', () => mg.sum(r, 0)]] as const) {
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const p = await mg.profile(async () => { const y = f(); await gpuSync(); return y; });
    const wall = performance.now() - t0;
    p.result.dispose();
    const t1 = performance.now();
    const y = f(); await gpuSync(); y.dispose();
    console.log(name, 'wall(profiled)', wall.toFixed(1), 'gpu', p.gpuMs?.toFixed(1), p.kernels.map(k => `${k.kernel} ${JSON.stringify(k.workgroups)}`).join(';'), 'wall', (performance.now() - t1).toFixed(1));
  }
}
process.exit(0);
