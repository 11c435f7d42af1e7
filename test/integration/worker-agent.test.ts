import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { HelloSchema, WorkerMessageSchema, type WorkerMessage } from '../../src/schema/protocol.js';
import { startWorkerAgent, UnauthorizedError, type WorkerAgent, type WorkerAgentOptions } from '../../src/worker/agent.js';
import { isGone, waitFor } from '../unit/worker/helpers.js';

// A minimal coordinator played by the test: a ws server that records every frame (validated against the
// protocol) and lets the test answer.

const logger = pino({ level: process.env.DRM_TEST_LOG ?? 'silent' });

class Session {
  readonly messages: WorkerMessage[] = [];
  private readonly taken = new Set<number>();
  closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly req: IncomingMessage,
    invalid: string[],
  ) {
    ws.on('message', (data) => {
      const parsed = WorkerMessageSchema.safeParse(JSON.parse(data.toString()));
      if (parsed.success) this.messages.push(parsed.data);
      else invalid.push(`${data.toString()}: ${parsed.error.message}`);
    });
    ws.on('close', () => (this.closed = true));
  }

  /** The next not yet taken message of `type` (matching `pred`), waiting for it. */
  async next<T extends WorkerMessage['type']>(type: T, pred: (m: Extract<WorkerMessage, { type: T }>) => boolean = () => true) {
    return waitFor(`a ${type} message`, () => {
      const i = this.messages.findIndex((m, idx) => !this.taken.has(idx) && m.type === type && pred(m as Extract<WorkerMessage, { type: T }>));
      if (i < 0) return undefined;
      this.taken.add(i);
      return this.messages[i] as Extract<WorkerMessage, { type: T }>;
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
}

class FakeCoordinator {
  readonly sessions: Session[] = [];
  readonly invalid: string[] = [];
  private seen = 0;

  private constructor(readonly wss: WebSocketServer) {
    wss.on('connection', (ws, req) => this.sessions.push(new Session(ws, req, this.invalid)));
  }

  static async start(opts: { rejectUpgradeWith?: number } = {}): Promise<FakeCoordinator> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/api/v1/worker',
      verifyClient: opts.rejectUpgradeWith ? (_info, cb) => cb(false, opts.rejectUpgradeWith) : undefined,
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new FakeCoordinator(wss);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** The next session the worker opens. */
  async nextSession(): Promise<Session> {
    const s = await waitFor('a worker connection', () => this.sessions[this.seen]);
    this.seen++;
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

const coordinators: FakeCoordinator[] = [];
const agents: WorkerAgent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await Promise.all(coordinators.splice(0).map((c) => c.close()));
});

async function coordinator(opts?: { rejectUpgradeWith?: number }): Promise<FakeCoordinator> {
  const c = await FakeCoordinator.start(opts);
  coordinators.push(c);
  return c;
}

async function agent(urls: string[], extra: Partial<WorkerAgentOptions> = {}): Promise<WorkerAgent> {
  const a = await startWorkerAgent({
    coordinatorUrls: urls,
    workerId: 'w-test',
    workerType: 'cpu',
    resources: { cpu: 2, memoryMb: 4096, gpus: 0, gpuMemoryMb: 0 },
    labels: { zone: 'test' },
    logger,
    reconnect: { initialMs: 20, maxMs: 200 },
    executor: { killGraceMs: 500, sampleIntervalMs: 100 },
    strictMessages: true,
    ...extra,
  });
  agents.push(a);
  return a;
}

let seq = 0;
function assign(command: string[], gpuIndices: number[] = []) {
  seq++;
  return {
    type: 'assign',
    attemptId: `att-${seq}`,
    gpuIndices,
    task: { taskId: `task-${seq}`, name: `n${seq}`, kind: 'command', command, env: {}, timeoutSec: 60, resources: { cpu: 1 } },
  } as const;
}

const node = (script: string) => [process.execPath, '-e', script];

describe('worker agent against a coordinator', () => {
  it('says hello with a token, runs an assignment, reports it, and re-sends unacked results after a reconnect', async () => {
    const coord = await coordinator();
    const a = await agent([coord.url], { token: 's3cret' });

    const s1 = await coord.nextSession();
    expect(s1.req.headers.authorization).toBe('Bearer s3cret');
    const hello = HelloSchema.parse(await s1.next('hello'));
    expect(hello).toMatchObject({ workerId: 'w-test', workerType: 'cpu', labels: { zone: 'test' }, provider: 'manual', running: [] });
    expect(hello.resources).toEqual({ cpu: 2, memoryMb: 4096, gpus: 0, gpuMemoryMb: 0 });
    s1.send({ type: 'welcome', workerId: 'w-test', heartbeatMs: 100 });

    // Frames that break the protocol are ignored; the session goes on.
    s1.send('not json');
    s1.send({ type: 'assign', attemptId: 'x' });

    const first = assign(node('console.log("hi from task")'));
    s1.send(first);
    const started = await s1.next('started');
    expect(started.attemptId).toBe(first.attemptId);
    expect(started.pid).toBeGreaterThan(0);
    const result = await s1.next('result');
    expect(result).toMatchObject({ attemptId: first.attemptId, status: 'succeeded', exitCode: 0, stdoutTail: 'hi from task\n' });
    expect(a.unackedResults()).toEqual([first.attemptId]);
    s1.send({ type: 'ack', attemptId: first.attemptId });
    await waitFor('the ack to be applied', () => a.unackedResults().length === 0);

    const heartbeat = await s1.next('heartbeat');
    expect(heartbeat.usage.cpu).toBeGreaterThanOrEqual(0);

    // A result the coordinator never acked comes back after the connection drops.
    const second = assign(node('process.exit(5)'));
    s1.send(second);
    expect(await s1.next('result', (m) => m.attemptId === second.attemptId)).toMatchObject({ status: 'failed', exitCode: 5 });
    s1.ws.close(1012, 'restarting');

    const s2 = await coord.nextSession();
    expect(HelloSchema.parse(await s2.next('hello')).running).toEqual([]);
    const resent = await s2.next('result');
    expect(resent).toMatchObject({ attemptId: second.attemptId, status: 'failed', exitCode: 5, reason: 'exited with code 5' });
    s2.send({ type: 'ack', attemptId: second.attemptId });
    await waitFor('the re-sent result to be acked', () => a.unackedResults().length === 0);
    expect(coord.invalid).toEqual([]);
  });

  it('announces a task still running in hello after a reconnect, then cancels it on request', async () => {
    const coord = await coordinator();
    const a = await agent([coord.url]);
    const s1 = await coord.nextSession();
    await s1.next('hello');
    s1.send({ type: 'welcome', workerId: 'w-test', heartbeatMs: 100 });

    const long = assign(node('setInterval(() => {}, 1000)'));
    s1.send(long);
    const { pid } = await s1.next('started');
    // Memory shows up in heartbeats once the task has been sampled.
    await s1.next('heartbeat', (m) => m.usage.memoryMb > 0);
    s1.ws.terminate();

    const s2 = await coord.nextSession();
    const hello = HelloSchema.parse(await s2.next('hello'));
    expect(hello.running).toEqual([{ taskId: long.task.taskId, attemptId: long.attemptId }]);
    expect(a.runningAttempts()).toEqual([long.attemptId]);
    s2.send({ type: 'welcome', workerId: 'w-test', heartbeatMs: 100 });

    // A repeated assignment of a running attempt does not start it twice.
    s2.send(long);
    s2.send({ type: 'cancel', attemptId: long.attemptId, reason: 'user request' });
    const result = await s2.next('result');
    expect(result).toMatchObject({ attemptId: long.attemptId, status: 'canceled', reason: 'canceled: user request' });
    expect(s2.messages.filter((m) => m.type === 'started')).toEqual([]);
    await waitFor('the task process to end', () => isGone(pid));
    expect(coord.invalid).toEqual([]);
  });

  it('follows a redirect to the leader', async () => {
    const follower = await coordinator();
    const leader = await coordinator();
    await agent([follower.url]);
    const s1 = await follower.nextSession();
    await s1.next('hello');
    s1.send({ type: 'redirect', leader: leader.url });
    const s2 = await leader.nextSession();
    expect(HelloSchema.parse(await s2.next('hello')).workerId).toBe('w-test');
  });

  it('cycles through coordinator URLs until one answers', async () => {
    const coord = await coordinator();
    // Port 9 on loopback: nothing listens there, the connection is refused.
    await agent(['http://127.0.0.1:9', coord.url]);
    const s = await coord.nextSession();
    expect((await s.next('hello')).type).toBe('hello');
  });

  it('stops for good when the coordinator closes with 4001', async () => {
    const coord = await coordinator();
    const a = await agent([coord.url], { token: 'wrong' });
    const s1 = await coord.nextSession();
    await s1.next('hello');
    s1.ws.close(4001, 'unauthorized: bad worker token');
    await expect(a.done).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(a.done).rejects.toThrow(/bad worker token/);
    // Stopped agents schedule no reconnect; any that slipped through would have arrived by now.
    await new Promise((r) => setTimeout(r, 300));
    expect(coord.sessions).toHaveLength(1);
  });

  it('stops for good when the upgrade is refused with HTTP 401', async () => {
    const coord = await coordinator({ rejectUpgradeWith: 401 });
    const a = await agent([coord.url], { token: 'wrong' });
    await expect(a.done).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('stop() kills running tasks and resolves', async () => {
    const coord = await coordinator();
    const a = await agent([coord.url]);
    const s1 = await coord.nextSession();
    await s1.next('hello');
    s1.send({ type: 'welcome', workerId: 'w-test', heartbeatMs: 100 });
    s1.send(assign(node('process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)')));
    const { pid } = await s1.next('started');
    await a.stop();
    await expect(a.done).resolves.toBeUndefined();
    await waitFor('the task process to end', () => isGone(pid));
    await waitFor('the socket to close', () => s1.closed);
    expect(coord.invalid).toEqual([]);
  });
});
