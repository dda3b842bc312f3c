// Fixed costs: dispatch overhead per op (recorded into the batched command encoder), one op with a
// submit + wait per call, and the readback round trip of a small tensor; and the peers' cost per tiny
// op measured the same way. tfjs-webgpu runs ops on [4] tensors on its CPU backend
// (WEBGPU_CPU_FORWARD, inputs under 1000 elements that already sit on the CPU), so its number here
// is that forwarding path, which is tfjs's default behaviour.
import * as mg from '../src/index.js';
import { type Args, gpuSync, measure, type Timing } from './common.js';
import { type Peers, TF_PEERS, type TfPeer } from './peers.js';

export interface OverheadResult {
  /** 1000 tiny adds, then one gpuSync: per dispatch (includes the batch submits every 256). */
  batchedDispatchUs: number;
  /** Recording those 1000 dispatches on the CPU side alone (no wait), per dispatch. */
  recordUs: number;
  /** Submits the backend made for those 1000 dispatches. */
  submitsPer1000: number;
  /** One tiny add followed by gpuSync (submit + wait), per call. */
  syncedOpUs: number;
  /** `await t.data()` of a [4] tensor whose value is already computed. */
  readbackUs: number;
  /** A tiny add then `await y.data()`: the round trip a training loop pays for reading a loss. */
  opReadbackUs: number;
  raw: Record<string, Timing>;
}

export async function benchOverhead(args: Args, log: (s: string) => void = () => {}): Promise<OverheadResult> {
  const x = mg.ones([4]);
  const N = 1000;
  const maxTime = args.quick ? 0.5 : 2;
  const raw: Record<string, Timing> = {};

  raw.batched = await measure(
    '1000 adds',
    async () => {
      mg.tidy(() => {
        let y = x;
        for (let i = 0; i < N; i++) y = y.add(x);
      });
      await gpuSync();
    },
    { maxTime },
  );
  const before = mg.memory('webgpu').submits;
  let recordMs = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    mg.tidy(() => {
      let y = x;
      for (let i = 0; i < N; i++) y = y.add(x);
    });
    recordMs = Math.min(recordMs, performance.now() - t0);
    await gpuSync();
  }
  const submitsPer1000 = (mg.memory('webgpu').submits - before) / 5;

  raw.synced = await measure(
    'add + sync',
    async () => {
      const y = x.add(x);
      await gpuSync();
      y.dispose();
    },
    { maxTime },
  );

  const z = x.add(x);
  await z.data();
  raw.readback = await measure(
    'readback [4]',
    async () => {
      await z.data();
    },
    { maxTime },
  );

  raw.opReadback = await measure(
    'add + readback',
    async () => {
      const y = x.add(x);
      await y.data();
      y.dispose();
    },
    { maxTime },
  );
  z.dispose();
  x.dispose();

  const r: OverheadResult = {
    batchedDispatchUs: (raw.batched.mean / N) * 1e6,
    recordUs: (recordMs / N) * 1e3,
    submitsPer1000,
    syncedOpUs: raw.synced.mean * 1e6,
    readbackUs: raw.readback.mean * 1e6,
    opReadbackUs: raw.opReadback.mean * 1e6,
    raw,
  };
  log(
    `  dispatch ${r.batchedDispatchUs.toFixed(1)} µs (batched; recording ${r.recordUs.toFixed(1)} µs), op+sync ${r.syncedOpUs.toFixed(0)} µs, readback ${r.readbackUs.toFixed(0)} µs`,
  );
  return r;
}

/**
 * The peers' cost per tiny op, measured the same way (1000 adds of a [4] tensor, then one sync).
 * tfjs-webgpu twice: as shipped (tiny ops forwarded to its CPU backend) and with
 * WEBGPU_CPU_FORWARD off (every op a GPU dispatch, like moragrad's).
 */
export async function benchPeerOverhead(
  args: Args,
  peers: Peers,
  log: (s: string) => void = () => {},
): Promise<Record<string, number | { skipped: string }>> {
  const out: Record<string, number | { skipped: string }> = {};
  const N = 1000;
  const variants: [string, TfPeer, boolean][] = TF_PEERS.flatMap((p): [string, TfPeer, boolean][] =>
    p === 'tfjs-webgpu'
      ? [
          [p, p, true],
          [`${p} (GPU dispatch: WEBGPU_CPU_FORWARD off)`, p, false],
        ]
      : [[p, p, true]],
  );
  for (const [name, p, cpuForward] of variants) {
    const tf = peers.tf;
    if (!tf || !peers.available(p)) {
      out[name] = { skipped: 'not loaded' };
      continue;
    }
    try {
      await peers.use(p);
      if (p === 'tfjs-webgpu') tf.env().set('WEBGPU_CPU_FORWARD', cpuForward);
      const x = tf.tidy(() => tf.add(tf.ones([4]), 0)); // a computed tensor (on the GPU when not forwarded)
      const t = await measure(
        `1000 adds ${name}`,
        async () => {
          tf.tidy(() => {
            let y = x;
            for (let i = 0; i < N; i++) y = tf.add(y, x);
          });
          await peers.sync(p);
        },
        { maxTime: args.quick ? 0.5 : 2 },
      );
      x.dispose();
      out[name] = (t.median / N) * 1e6;
      log(`  ${name}: ${((t.median / N) * 1e6).toFixed(1)} µs per tiny op`);
    } catch (e) {
      out[name] = { skipped: `error: ${(e as Error).message.split('\n')[0].slice(0, 80)}` };
    } finally {
      if (p === 'tfjs-webgpu') tf.env().set('WEBGPU_CPU_FORWARD', true);
    }
  }
  return out;
}
