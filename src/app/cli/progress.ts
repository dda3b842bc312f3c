// Progress bars (cli-progress) for long steps: one line that redraws, with loss, tokens/s and ETA;
// several at once for runs side by side.
import cliProgress from 'cli-progress';

export interface Bar {
  update(value: number, payload?: Record<string, string | number>): void;
  log(line: string): void;
  stop(): void;
}

/** A bar over `total` steps; `format` may use {loss}, {tps} and other payload keys. */
export function progressBar(total: number, start: number, format: string, payload: Record<string, string | number>): Bar {
  if (!process.stderr.isTTY) return lineBar(total, payload);
  const bar = new cliProgress.SingleBar(
    {
      format: `  {bar} {value}/{total} | ${format} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, payload);
  return {
    update: (v, p) => bar.update(v, p),
    log(line) {
      bar.stop();
      process.stderr.write(`${line}\n`);
      bar.start(total, (bar as unknown as { value: number }).value, payload);
    },
    stop: () => bar.stop(),
  };
}

/**
 * Bars for runs side by side, one per `create`, with lines logged above them; `close()` stops them
 * all. Not on a terminal, each bar prints its label on its lines instead.
 */
export function progressBars(): {
  create(label: string, total: number, start: number, format: string, payload: Record<string, string | number>): Bar;
  log(line: string): void;
  close(): void;
} {
  if (!process.stderr.isTTY)
    return {
      create: (label, total, _start, _format, payload) => lineBar(total, payload, label),
      log: (line) => process.stderr.write(`${line}\n`),
      close() {},
    };
  const multi = new cliProgress.MultiBar(
    { hideCursor: true, clearOnComplete: false, etaBuffer: 20, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  return {
    create(label, total, start, format, payload) {
      const bar = multi.create(total, start, payload, { format: `  {bar} {value}/{total} | ${label} ${format} | ETA {eta_formatted}` });
      return {
        update: (v, p) => bar.update(v, p),
        log: (line) => multi.log(`${line}\n`),
        stop: () => multi.remove(bar),
      };
    },
    log: (line) => multi.log(`${line}\n`),
    close: () => multi.stop(),
  };
}

/** Not a terminal (CI, pipes): one line per ~10% instead of redraws. */
function lineBar(total: number, payload: Record<string, string | number>, label = ''): Bar {
  let last = -1;
  return {
    update(v, p = {}) {
      const decile = Math.floor((v / total) * 10);
      if (decile !== last || v === total) {
        last = decile;
        const fields = Object.entries({ ...payload, ...p })
          .map(([k, x]) => `${k} ${x}`)
          .join('  ');
        process.stderr.write(`  ${label ? `${label}  ` : ''}${v}/${total}  ${fields}\n`);
      }
    },
    log: (line) => process.stderr.write(`${line}\n`),
    stop() {},
  };
}

let interrupted = false;

/** Whether an interrupt arrived during the current command (main exits 130 then). */
export function wasInterrupted(): boolean {
  return interrupted;
}
export function resetInterrupted(): void {
  interrupted = false;
}

/**
 * Ctrl-C (SIGINT) or SIGTERM once: ask the running job to stop cleanly (it saves what it has);
 * twice: exit at once. Either way the command's exit code is 130.
 */
export function onInterrupt(): { requested(): boolean; dispose(): void } {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    interrupted = true;
    if (count === 1)
      process.stderr.write(
        `\n  ${signal === 'SIGTERM' ? 'terminated' : 'interrupted'}: finishing the step and saving (Ctrl-C again to quit at once)\n`,
      );
    else process.exit(130);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    requested: () => count > 0,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
