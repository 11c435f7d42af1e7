import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResources } from '../core/resources.js';
import type { WorkerType } from '../core/worker-types.js';
import type { CreateOptions, Instance, Provider } from './provider.js';

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
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    // Listened to at once: a process that cannot be spawned emits 'error' (maybe without 'exit'), which unheard
    // would crash the caller.
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  if (opts.logFile && child.stderr) {
    await mkdir(dirname(opts.logFile), { recursive: true });
    child.stderr.pipe(createWriteStream(opts.logFile, { flags: 'a' }));
  }
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

export interface LocalProviderOptions {
  /** Each worker logs (JSON lines) to `<logDir>/<workerId>.log`; nowhere when absent. */
  logDir?: string;
  logLevel?: string;
  /** After SIGTERM, a worker still running this long later gets SIGKILL (default 30 s). */
  killGraceMs?: number;
  now?: () => number;
}

interface LocalEntry {
  worker: LocalWorker;
  instance: Instance;
  stopping: boolean;
  exit?: string;
  killTimer?: NodeJS.Timeout;
  /** Settles when the process is gone (exited, or never started). */
  gone: Promise<void>;
  markGone: () => void;
}

/**
 * The `local` provider: each instance is a real `drm worker` process on this machine, started with the type's
 * declared resources. delete() sends SIGTERM (the manager deletes only drained, idle workers, so no task is
 * killed) and SIGKILL after killGraceMs if the process is still there.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly entries = new Map<string, LocalEntry>();
  private readonly killGraceMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: LocalProviderOptions = {}) {
    this.killGraceMs = opts.killGraceMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  async create(type: WorkerType, opts: CreateOptions): Promise<Instance> {
    const existing = this.entries.get(opts.id);
    if (existing && existing.exit === undefined) throw new Error(`local worker ${opts.id} is already running`);
    const worker = await startLocalWorker({
      id: opts.id,
      type,
      coordinatorUrl: opts.coordinatorUrl,
      token: opts.token,
      logFile: this.opts.logDir ? join(this.opts.logDir, `${opts.id}.log`) : undefined,
      logLevel: this.opts.logLevel,
    });
    let markGone = () => {};
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    const entry: LocalEntry = {
      worker,
      instance: { id: opts.id, workerId: opts.id, type: type.name, provider: this.name, state: 'running', createdAt: this.now() },
      stopping: false,
      gone,
      markGone,
    };
    this.entries.set(opts.id, entry);
    void worker.exited.then((code) => this.ended(entry, `exited with ${code}`));
    return this.snapshot(entry);
  }

  async delete(instanceId: string): Promise<void> {
    const entry = this.entries.get(instanceId);
    if (!entry || entry.exit !== undefined || entry.stopping) return;
    entry.stopping = true;
    entry.worker.process.kill('SIGTERM');
    entry.killTimer = setTimeout(() => entry.worker.process.kill('SIGKILL'), this.killGraceMs);
    entry.killTimer.unref();
  }

  async list(): Promise<Instance[]> {
    const out = [...this.entries.values()].map((e) => this.snapshot(e));
    // A terminated instance is reported once; after that it is simply absent (which also reads as terminated).
    for (const [id, e] of this.entries) if (e.exit !== undefined) this.entries.delete(id);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The pid of an instance's `drm worker` process while it runs (for fault injection: `drm e2e` SIGKILLs one). */
  pid(instanceId: string): number | undefined {
    const entry = this.entries.get(instanceId);
    return entry && entry.exit === undefined ? entry.worker.process.pid : undefined;
  }

  /** Stops every worker (SIGTERM, SIGKILL after the grace) and waits for the processes to exit. */
  async close(): Promise<void> {
    const running = [...this.entries.values()].filter((e) => e.exit === undefined);
    await Promise.all(running.map((e) => this.delete(e.instance.id)));
    await Promise.all(running.map((e) => e.gone));
  }

  private ended(entry: LocalEntry, why: string): void {
    if (entry.exit !== undefined) return;
    entry.exit = why;
    clearTimeout(entry.killTimer);
    entry.markGone();
  }

  private snapshot(e: LocalEntry): Instance {
    if (e.exit !== undefined) return { ...e.instance, state: 'terminated', reason: e.exit };
    return { ...e.instance, state: e.stopping ? 'terminating' : 'running' };
  }
}
