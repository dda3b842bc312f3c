// NaN/Inf detection: `mg.checkFinite(t)` on demand, and the opt-in check after every op
// (`mg.setCheckFinite(true)` or MORAGRAD_CHECK_FINITE=1). On the GPU the per-op check is a kernel
// writing a flag; the flags are read at the next readback, which throws naming the first op whose
// output was not finite.
import { defineKernel } from '../backend/interface.js';
import { fail, fmtShape } from '../errors.js';
import type { CpuBackend } from '../backend/cpu/cpu.js';
import { keep, readHooks } from '../runtime.js';
import { Tensor } from '../tensor.js';

const finiteKernel = defineKernel<{ n: number }>({
  name: 'finite',
  cpu: ([x], [flag], { n }) => {
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) bad++;
    flag[0] = bad;
  },
  f16: 'alias',
  gpu: { shader: 'finite', uniforms: ({ n }) => [['u32', n]], workgroups: () => [1, 1, 1] },
});

const pending: { op: string; shape: readonly number[]; flag: Tensor }[] = [];

/** Records a finite check of an op's output (called by runKernel when the check is on). */
export function afterOp(op: string, out: Tensor): void {
  if (out.dtype === 'int32' || out.size === 0) return;
  const b = out.backend;
  const flag = b.alloc(1, 'int32');
  b.run({ kernel: finiteKernel, inputs: [out.storage], outputs: [flag], params: { n: out.size }, shapes: [out.shape] });
  const t = new Tensor(flag, [1], 'int32');
  pending.push({ op, shape: out.shape, flag: keep(t) }); // internal: never part of a user's tidy scope
  if (b.name === 'cpu') {
    // The cpu loop already ran: report at once.
    const bad = (b as CpuBackend).readSync(flag)[0] > 0;
    pending.pop();
    t.dispose();
    if (bad) fail(op, `produced NaN or Inf in its output ${fmtShape(out.shape)} (found by the finite check after every op)`);
  }
}

/** Reads pending flags; throws for the first op that produced NaN/Inf. */
export async function flushChecks(): Promise<void> {
  const list = pending.splice(0);
  let firstBad: (typeof list)[number] | null = null;
  for (const p of list) {
    const v = (await p.flag.data())[0];
    p.flag.dispose();
    if (v > 0 && !firstBad) firstBad = p;
  }
  if (firstBad)
    fail(firstBad.op, `produced NaN or Inf in its output ${fmtShape(firstBad.shape)} (found by the finite check after every op)`);
}
readHooks.push(flushChecks);

/** Throws if `t` holds NaN or ±Inf, naming `label`, the count and the first bad index. */
export async function checkFinite(t: Tensor, label = t.describe()): Promise<void> {
  const d = await t.data();
  let count = 0;
  let first = -1;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) fail('checkFinite', `${label} holds ${count} non-finite value(s); the first at flat index ${first} is ${d[first]}`);
}
