import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinatorServer, type CoordinatorServer } from '../../src/coordinator/server.js';
import type { CoordinatorSettings } from '../../src/coordinator/config.js';
import { BUILTIN_WORKER_TYPES, findWorkerType, type WorkerType } from '../../src/core/worker-types.js';
import { startLocalWorker, type LocalWorker } from '../../src/providers/local.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { waitFor } from './wait.js';

/**
 * A real coordinator (in this process, DuckDB in a temp dir, HTTP and WebSocket on loopback) and
 * real `drm worker` processes (the compiled CLI: `npm test` builds it first).
 */
export class TestCluster {
  readonly workers: LocalWorker[] = [];
  private constructor(
    readonly server: CoordinatorServer,
    readonly store: Store,
    readonly dir: string,
    private readonly token?: string,
  ) {}

  static async start(opts: { settings?: Partial<CoordinatorSettings>; token?: string; workerToken?: string } = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'drm-test-'));
    const store = await openStore(join(dir, 'drm.duckdb'));
    const server = await startCoordinatorServer({
      store,
      logger: pino({ level: process.env.DRM_TEST_LOG ?? 'silent' }),
      host: '127.0.0.1',
      port: 0,
      token: opts.token,
      workerToken: opts.workerToken,
      settings: opts.settings,
    });
    return new TestCluster(server, store, dir, opts.workerToken ?? opts.token);
  }

  get url(): string {
    return this.server.url;
  }

  /** Starts a worker process of a built-in (or given) type and waits until it has joined. */
  async addWorker(type: string | WorkerType, id = `w-${typeof type === 'string' ? type : type.name}-${this.workers.length + 1}`, coordinatorUrl = this.url): Promise<LocalWorker> {
    const wt = typeof type === 'string' ? findWorkerType(BUILTIN_WORKER_TYPES, type)! : type;
    const worker = await startLocalWorker({ id, type: wt, coordinatorUrl, token: this.token, logFile: join(this.dir, `${id}.log`), logLevel: 'debug' });
    this.workers.push(worker);
    await waitFor(`worker ${id} to join`, () => this.server.coordinator.workerViews().some((w) => w.id === id && w.state === 'active'));
    return worker;
  }

  async api<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async waitForRun(runId: string, timeoutMs = 60_000): Promise<any> {
    return waitFor(`run ${runId} to finish`, async () => {
      const run = await this.store.getRun(runId);
      return run && run.state !== 'running' ? run : undefined;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop('SIGKILL')));
    await this.server.close();
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export const MARKER_TASK = join(import.meta.dirname, '..', 'fixtures', 'marker-task.js');

/** Runs of a marker task (test/fixtures/marker-task.js) found in `dir`: attempt ids that started and finished. */
export async function markerRuns(dir: string, taskId: string): Promise<{ started: string[]; done: string[] }> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(taskId + '.'));
  const attempt = (f: string) => f.slice(taskId.length + 1).replace(/\.(start|done)$/, '');
  return { started: files.filter((f) => f.endsWith('.start')).map(attempt), done: files.filter((f) => f.endsWith('.done')).map(attempt) };
}

/** A node one-liner as a task command. */
export function nodeTask(script: string): string[] {
  return [process.execPath, '-e', script];
}
