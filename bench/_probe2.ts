import { ortSession } from './onnx.js';
for (const [op, ins, out, attrs] of [
  ['MatMul', [['a', [1024, 1024]], ['b', [1024, 1024]]], [1024, 1024], {}],
  ['Gemm', [['a', [512, 2048]], ['b', [512, 2048]]], [2048, 2048], { transA: 1 }],
  ['Add', [['a', [1 << 22]], ['b', [1 << 22]]], [1 << 22], {}],
  ['Softmax', [['a', [4096, 256]]], [4096, 256], { axis: -1 }],
  ['LayerNormalization', [['a', [4096, 256]], ['s', [256]], ['b', [256]]], [4096, 256], { axis: -1, epsilon: { float: 1e-5 } }],
  ['ReduceSum', [['a', [4096, 1024]]], [4096], { keepdims: 0 }],
] as const) {
  const s = await ortSession(op, ins as any, out as any, { threads: 2, attrs: attrs as any });
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) await s!.run();
  console.log(op, ((performance.now() - t0) / 5).toFixed(2), 'ms');
}
