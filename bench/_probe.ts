import * as mg from '../src/index.js';
import { DEFAULT_TRAIN, prepareData } from '../src/train/gpt.js';
import { gpuSync } from './common.js';
await mg.init();
const { tokenizer, ids } = prepareData('char');
console.log('vocab', tokenizer.vocabSize, ids.length);
const m = DEFAULT_TRAIN.model;
const model = new mg.nn.GPT({ ...m, vocabSize: tokenizer.vocabSize, seed: 1 });
console.log('params', model.numParameters());
const opt = new mg.optim.AdamW(model.parameters(), { lr: 1e-3 });
const B = 16, T = m.blockSize;
const x = mg.tensor(Array.from({ length: B * T }, (_, i) => ids[i]), [B, T], { dtype: 'int32' });
const y = mg.tensor(Array.from({ length: B * T }, (_, i) => ids[i + 1]), [B, T], { dtype: 'int32' });
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  mg.tidy(() => { const l = model.forward(x, y).loss!; l.backward(); });
  opt.step(); opt.zeroGrad();
  await gpuSync();
  console.log('step', (performance.now() - t0).toFixed(1), 'ms', mg.memory('webgpu'));
}
const p = await mg.profile(async () => { mg.tidy(() => { const l = model.forward(x, y).loss!; l.backward(); }); opt.step(); opt.zeroGrad(); await gpuSync(); });
console.log(p.kernels.length, p.gpuMs);
const agg = new Map<string, [number, number]>();
for (const k of p.kernels) { const a = agg.get(k.kernel) ?? [0, 0]; a[0]++; a[1] += k.gpuMs ?? 0; agg.set(k.kernel, a); }
console.log([...agg].sort((a, b) => b[1][1] - a[1][1]).map(([k, [n, ms]]) => `${k} ${n} ${ms.toFixed(1)}`).join('\n'));
process.exit(0);
