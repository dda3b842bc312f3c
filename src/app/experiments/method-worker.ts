// A child process of a WorkerPool (src/app/experiments/jobs.ts): opens its own device on the backend
// named by its argument, says 'ready', then answers each request: 'run' a fine-tuning job
// (runMethod, sending its progress and its result or error back), 'mechanism' the mechanism
// experiment (cpu backend), 'warm' the kernel warm-up (src/app/experiments/warm.ts). 'stop' asks the
// running job to stop after its step, as Ctrl-C does in the parent. It exits when the parent closes
// the channel or kills it.
import { init, type BackendName } from '../../runtime.js';
import { runMethod } from './finetune.js';
import { runMechanism } from './mechanism.js';
import { warmKernels } from './warm.js';
import type { FromWorker, ToWorker } from './jobs.js';

const send = (m: FromWorker) => process.send!(m);
let stop = false;

process.on('message', async (m: ToWorker) => {
  if (m.type === 'stop') {
    stop = true;
    return;
  }
  const { id } = m;
  try {
    if (m.type === 'mechanism') return send({ type: 'done', id, result: await runMechanism(m.config) });
    if (m.type === 'warm') return send({ type: 'done', id, result: await warmKernels(m.request) });
    stop = false;
    const result = await runMethod(m.spec, {
      ...m.options,
      callbacks: {
        onStep: (method, step, steps, loss, seed) => send({ type: 'step', id, method, step, steps, loss, seed }),
        onPhase: (method, phase, seed) => send({ type: 'phase', id, method, phase, seed }),
        shouldStop: () => stop,
      },
    });
    send({ type: 'done', id, result });
  } catch (e) {
    send({ type: 'error', id, message: (e as Error).message ?? String(e) });
  }
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent turns it into a 'stop', so the job ends after its
// step and reports what it ran instead of dying mid-step.
process.on('SIGINT', () => {});

await init({ backend: (process.argv[2] ?? 'webgpu') as BackendName });
send({ type: 'ready' });
