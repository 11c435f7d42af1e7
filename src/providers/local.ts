import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResources } from '../core/resources.js';
import type { WorkerType } from '../core/worker-types.js';

/** The compiled CLI that local worker processes run (from dist/, also when this module runs from src/ in tests). */
export const CLI_PATH = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, '..', 'cli.js');
  return existsSync(sibling) ? sibling : join(here, '..', '..', 'dist', 'src', 'cli.js');
})();

export interface LocalWorkerOptions {
  id: string;
  type: WorkerType;
  coordinatorUrl: string;
  token?: string;
  /** Worker logs (JSON lines) go to this file; none when absent. */
  logFile?: string;
  logLevel?: string;
}

export interface LocalWorker {
  id: string;
  type: string;
  process: ChildProcess;
  /** Resolves with the exit code (or signal) when the process is gone. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts a real `drm worker` process with the type's declared resources. */
export async function startLocalWorker(opts: LocalWorkerOptions): Promise<LocalWorker> {
  const args = [CLI_PATH, 'worker', '--coordinator', opts.coordinatorUrl, '--id', opts.id, '--type', opts.type.name, '--resources', formatResources(opts.type.resources)];
  if (opts.type.labels) args.push('--labels', Object.entries(opts.type.labels).map(([k, v]) => `${k}=${v}`).join(','));
  if (opts.logLevel) args.push('--log-level', opts.logLevel);
  // The token travels in the environment so it stays out of process lists.
  const env = { ...process.env, ...(opts.token ? { DRM_WORKER_TOKEN: opts.token } : {}) };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', opts.logFile ? 'pipe' : 'ignore'] });
  if (opts.logFile && child.stderr) {
    await mkdir(dirname(opts.logFile), { recursive: true });
    child.stderr.pipe(createWriteStream(opts.logFile, { flags: 'a' }));
  }
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    id: opts.id,
    type: opts.type.name,
    process: child,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
