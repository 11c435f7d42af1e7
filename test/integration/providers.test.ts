import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { BUILTIN_WORKER_TYPES, findWorkerType } from '../../src/core/worker-types.js';
import { LocalProvider } from '../../src/providers/local.js';
import { CloudProviderManager } from '../../src/providers/manager.js';
import { WORKER_PATH } from '../../src/worker/agent.js';
import { waitFor } from '../helpers/wait.js';

const cpu = findWorkerType(BUILTIN_WORKER_TYPES, 'cpu')!;
const gpu = findWorkerType(BUILTIN_WORKER_TYPES, 'gpu')!;

interface Hello {
  workerId: string;
  workerType: string;
  resources: Record<string, number>;
  authorization: string | undefined;
}

/**
 * Stands in for a coordinator: accepts worker connections on the worker path, records each `hello` and answers
 * `welcome`. The workers are real `drm worker` processes (the compiled CLI: run `npm run build` first).
 */
class HelloServer {
  readonly hellos: Hello[] = [];
  readonly closed: string[] = [];
  private wss!: WebSocketServer;

  async start(): Promise<string> {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: WORKER_PATH });
    await new Promise<void>((resolve) => this.wss.once('listening', () => resolve()));
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      let id = '';
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data));
        if (msg.type !== 'hello') return;
        id = msg.workerId;
        this.hellos.push({ workerId: msg.workerId, workerType: msg.workerType, resources: msg.resources, authorization: req.headers.authorization });
        ws.send(JSON.stringify({ type: 'welcome', workerId: msg.workerId, heartbeatMs: 1000 }));
      });
      ws.on('close', () => id && this.closed.push(id));
    });
    return `http://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

describe('LocalProvider with real worker processes', () => {
  let server: HelloServer;
  let url: string;
  let dir: string;
  let provider: LocalProvider;

  beforeEach(async () => {
    server = new HelloServer();
    url = await server.start();
    dir = await mkdtemp(join(tmpdir(), 'drm-providers-'));
    provider = new LocalProvider({ logDir: dir, logLevel: 'debug', killGraceMs: 10_000 });
  });

  afterEach(async () => {
    await provider.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts a drm worker process with the type resources and token, and stops it with SIGTERM', async () => {
    const instance = await provider.create(gpu, { id: 'local-gpu-1', coordinatorUrl: url, token: 'worker-secret' });
    expect(instance).toMatchObject({ id: 'local-gpu-1', workerId: 'local-gpu-1', type: 'gpu', provider: 'local', state: 'running' });

    const hello = await waitFor('the worker to say hello', () => server.hellos.find((h) => h.workerId === 'local-gpu-1'));
    expect(hello.workerType).toBe('gpu');
    // Declared from the type, not detected: this machine has no GPU.
    expect(hello.resources).toMatchObject({ cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 });
    expect(hello.authorization).toBe('Bearer worker-secret');
    expect((await provider.list()).map((i) => [i.id, i.state])).toEqual([['local-gpu-1', 'running']]);

    await provider.delete('local-gpu-1');
    const ended = await waitFor('the worker process to exit', async () => (await provider.list()).find((i) => i.state === 'terminated'));
    // SIGTERM lets the agent close cleanly: exit code 0, not a kill by signal.
    expect(ended).toMatchObject({ id: 'local-gpu-1', reason: 'exited with 0' });
    expect(server.closed).toContain('local-gpu-1');
    // Reported terminated once, then absent.
    expect(await provider.list()).toEqual([]);
    expect(await readFile(join(dir, 'local-gpu-1.log'), 'utf8')).toContain('local-gpu-1');
    // Deleting again is not an error.
    await provider.delete('local-gpu-1');
  });

  it('runs the CloudProviderManager lifecycle on real processes: provision, join, drain, terminate, observed gone', async () => {
    let n = 0;
    const manager = new CloudProviderManager({
      providers: [{ provider, types: [{ type: cpu, maxInstances: 2 }] }],
      coordinatorUrl: url,
      token: 'wt',
      newWorkerId: (t) => `${t}-${++n}`,
    });
    const result = await manager.provision('cpu', 1);
    expect(result.started).toEqual(['cpu-1']);
    expect(manager.inFlight()).toEqual([{ type: 'cpu', count: 1 }]);

    await waitFor('cpu-1 to say hello', () => server.hellos.some((h) => h.workerId === 'cpu-1'));
    expect(manager.observeWorkerJoined('cpu-1')).toBe(true);
    expect(manager.inFlight()).toEqual([]);
    expect(manager.observeWorkerDraining('cpu-1')).toBe(true);

    expect(await manager.terminate('cpu-1')).toBe(true);
    expect(manager.get('cpu-1')!.state).toBe('terminating');
    await waitFor('cpu-1 to be observed terminated', async () => {
      await manager.reconcile();
      return manager.get('cpu-1')!.state === 'terminated';
    });
    expect(manager.get('cpu-1')!.reason).toBe('terminated on request');
    expect(manager.stats()).toMatchObject({ requested: 1, joined: 1, terminated: 1, lost: 0, provisionTimeouts: 0 });
  });
});
