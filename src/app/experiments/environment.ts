// Where and with what a run ran: the `environment` block of every run record (metrics.json of
// `moragrad demo` / `compare` and of `moragrad finetune --model use-lite`).
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { getBackend, type BackendName } from '../../runtime.js';
import type { Environment } from './metrics.js';

/** moragrad's package version (package.json of this checkout or install). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The environment of a run on `backend` (default: the default backend), dated now. */
export function runEnvironment(backend?: BackendName): Environment {
  const be = getBackend(backend);
  return {
    adapter: be.description,
    backend: be.name,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpus().length,
    moragrad: packageVersion(),
    date: new Date().toISOString(),
  };
}
