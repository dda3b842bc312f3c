// The back-off of Dawn's completion polling (src/backend/webgpu/polling.ts): during a wait older
// than the spin period, the binding's re-posted poll (a native function of no arguments; a bound
// function stands in for it here) goes through setTimeout(1 ms); other callbacks do not.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as mg from '../../src/index.js';
import { enableBackoff, waitGpu } from '../../src/backend/webgpu/polling.js';
import { setupBackends } from '../helpers.js';

setupBackends();

afterEach(() => {
  vi.restoreAllMocks();
});

function busy(ms: number): void {
  const t = performance.now();
  while (performance.now() - t < ms);
}

describe('Dawn polling back-off', () => {
  it('defers only the poll callback, only inside a wait past the spin period', async () => {
    enableBackoff(); // idempotent: the webgpu backend has installed it on lavapipe already
    const timeout = vi.spyOn(globalThis, 'setTimeout');
    const poll = (() => {}).bind(null); // native code, length 0: shaped like Dawn's poll
    const jsCallback = () => {};
    const resolverLike = ((_v: unknown) => {}).bind(null); // native, one argument (a Promise resolver)

    setImmediate(poll); // no wait in flight: untouched
    expect(timeout).not.toHaveBeenCalled();

    let release!: (v: number) => void;
    const wait = waitGpu(new Promise<number>((r) => (release = r)));
    setImmediate(poll); // inside the spin period: untouched
    expect(timeout).not.toHaveBeenCalled();
    busy(3);
    setImmediate(jsCallback);
    setImmediate(resolverLike);
    expect(timeout).not.toHaveBeenCalled();
    setImmediate(poll);
    expect(timeout).toHaveBeenCalledTimes(1);
    expect(timeout.mock.calls[0].slice(0, 2)).toEqual([poll, 1]);
    release(7);
    expect(await wait).toBe(7);
    setImmediate(poll); // the wait is over: untouched
    expect(timeout).toHaveBeenCalledTimes(1);
  });

  it('GPU reads still return the right data with the back-off on', async () => {
    const t = mg.arange(0, 1000, 1, { backend: 'webgpu' }).mul(2);
    const d = await t.data();
    expect(d[999]).toBe(1998);
  });
});
