import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinatorServer, type CoordinatorServer } from '../../src/coordinator/server.js';
import type { SettingsInput } from '../../src/coordinator/config.js';
import { BUILTIN_WORKER_TYPES } from '../../src/core/worker-types.js';
import { createLogger } from '../../src/logging.js';
import { startLocalWorker, type LocalWorker } from '../../src/providers/local.js';
import { buildReport } from '../../src/reports/report.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { nodeTask } from '../helpers/cluster.js';
import { ProtocolWorker } from '../helpers/protocol-worker.js';
import { waitFor } from '../helpers/wait.js';

// Hostile and unauthorized input against a real coordinator (DuckDB on disk, HTTP and WebSocket on
// loopback) and, where a task must really run, a real `drm worker` process (`npm run build` first).

const ADMIN = 'admin-token-7f3a9c';
const WORKER = 'worker-token-b81d22';
const SECRET = 'sup3r-s3cret-value-91';

interface Fixture {
  server: CoordinatorServer;
  store: Store;
  dir: string;
  url: string;
  logFile: string;
  logger: Logger;
  workers: LocalWorker[];
  stop(): Promise<void>;
}

async function start(opts: { token?: string; workerToken?: string; settings?: SettingsInput; dir?: string; logFile?: string } = {}): Promise<Fixture> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'drm-security-')));
  const logFile = opts.logFile ?? join(dir, 'coordinator.log');
  const logger = createLogger({ level: 'debug', file: logFile, name: 'coordinator' });
  const store = await openStore(join(dir, 'drm.duckdb'));
  const server = await startCoordinatorServer({ store, logger, host: '127.0.0.1', port: 0, token: opts.token, workerToken: opts.workerToken, settings: opts.settings });
  const workers: LocalWorker[] = [];
  return {
    server,
    store,
    dir,
    url: server.url,
    logFile,
    logger,
    workers,
    async stop() {
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      await server.close();
      await store.close();
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}

async function api(f: Fixture, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(f.url + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the test says what it expected
  }
  return { status: res.status, body: json, text };
}

/** One request on its own connection (no keep-alive pool), so that connection counts are exact. */
function rawRequest(url: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function counts(store: Store): Promise<{ runs: number; seq: number; workers: number }> {
  return { runs: (await store.listRuns(100_000)).length, seq: await store.maxTaskSeq(), workers: (await store.listWorkers()).length };
}

async function rejections(url: string): Promise<Record<string, number>> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(url + '/metrics', { agent: false }, (r) => {
      let t = '';
      r.setEncoding('utf8');
      r.on('data', (c) => (t += c));
      r.on('end', () => resolve(t));
    });
    req.on('error', reject);
    req.end();
  });
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/^drm_rejections_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

const ADMIN_ENDPOINTS: Array<[string, string, unknown?]> = [
  ['GET', '/api/v1/tasks'],
  ['GET', '/api/v1/tasks/task_x'],
  ['POST', '/api/v1/tasks', { tasks: [{ name: 'sneaky', command: ['true'] }] }],
  ['POST', '/api/v1/tasks/task_x/cancel'],
  ['GET', '/api/v1/runs'],
  ['GET', '/api/v1/runs/run_x'],
  ['GET', '/api/v1/workers'],
  ['POST', '/api/v1/workers/w_x/drain'],
  ['GET', '/api/v1/cluster'],
  ['GET', '/api/v1/scaling/decisions'],
  ['GET', '/api/v1/predictions?modelType=m'],
  ['GET', '/api/v1/dashboard'],
  ['GET', '/api/v1/events'],
  ['GET', '/api/v1/no-such-route'],
];

describe('tokens, identity and secrets (separate API and worker tokens)', () => {
  let f: Fixture;

  beforeAll(async () => {
    f = await start({ token: ADMIN, workerToken: WORKER });
    const type = BUILTIN_WORKER_TYPES.find((t) => t.name === 'cpu')!;
    const worker = await startLocalWorker({ id: 'w-sec-1', type, coordinatorUrl: f.url, token: WORKER, logFile: join(f.dir, 'w-sec-1.log'), logLevel: 'debug' });
    f.workers.push(worker);
    await waitFor('the worker to join', () => f.server.coordinator.workerViews().some((w) => w.id === 'w-sec-1' && w.state === 'active'));
  });
  afterAll(async () => {
    await f?.stop();
    if (f) await rm(f.dir, { recursive: true, force: true });
  });

  it('refuses every API endpoint without a token (401) and stores nothing', async () => {
    const before = await counts(f.store);
    for (const [method, path, body] of ADMIN_ENDPOINTS) {
      const res = await api(f, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error).toMatchObject({ code: 'unauthorized', message: expect.any(String) });
    }
    // A wrong token, a token in the query string, a percent-encoded path: all refused.
    expect((await api(f, 'POST', '/api/v1/tasks', { tasks: [{ name: 'a', command: ['true'] }] }, 'wrong')).status).toBe(401);
    expect((await api(f, 'GET', `/api/v1/tasks?token=${ADMIN}`)).status).toBe(401);
    expect((await api(f, 'POST', '/%61pi/v1/tasks', { tasks: [{ name: 'encoded', command: ['true'] }] })).status).toBe(401);
    expect((await api(f, 'GET', '/%61pi/v1/workers')).status).toBe(401);
    expect(await counts(f.store)).toEqual(before);
    // What holds no data stays public.
    for (const path of ['/healthz', '/readyz', '/metrics', '/']) expect((await api(f, 'GET', path)).status, path).toBe(200);
  });

  it('refuses the worker token on every API endpoint (403) and the API token on the worker socket (401)', async () => {
    const before = await counts(f.store);
    for (const [method, path, body] of ADMIN_ENDPOINTS) {
      const res = await api(f, method, path, body, WORKER);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    expect((await api(f, 'GET', `/api/v1/events?token=${WORKER}`)).status).toBe(403);
    await expect(ProtocolWorker.connect(f.url, ADMIN)).rejects.toMatchObject({ status: 401 });
    await expect(ProtocolWorker.connect(f.url)).rejects.toMatchObject({ status: 401 });
    // The token travels in the header only, not in the URL.
    const viaQuery = new WebSocket(`${f.url.replace('http', 'ws')}/api/v1/worker?token=${WORKER}`);
    const status = await new Promise((resolve) => viaQuery.once('unexpected-response', (_req, res) => resolve(res.statusCode)).once('open', () => resolve('open')));
    viaQuery.on('error', () => {});
    viaQuery.terminate();
    expect(status).toBe(401);
    expect(await counts(f.store)).toEqual(before);
    const r = await rejections(f.url);
    expect(r.unauthorized).toBeGreaterThan(0);
    expect(r.forbidden).toBeGreaterThanOrEqual(ADMIN_ENDPOINTS.length);
  });

  it('serves every admin endpoint with the API token', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/tasks'],
      ['GET', '/api/v1/runs'],
      ['GET', '/api/v1/workers'],
      ['GET', '/api/v1/cluster'],
      ['GET', '/api/v1/scaling/decisions'],
      ['GET', '/api/v1/predictions?modelType=m'],
      ['GET', '/api/v1/dashboard'],
    ]) {
      expect((await api(f, method, path, undefined, ADMIN)).status, path).toBe(200);
    }
    // The event stream takes the token as ?token= (EventSource cannot send headers).
    const controller = new AbortController();
    const events = await fetch(`${f.url}/api/v1/events?token=${ADMIN}`, { signal: controller.signal });
    expect(events.status).toBe(200);
    controller.abort();
    // Elsewhere a token in the query string is an unknown parameter, named as one.
    const queried = await api(f, 'GET', `/api/v1/workers?token=${ADMIN}`, undefined, ADMIN);
    expect(queried.status).toBe(400);
    expect(queried.body.error.message).toMatch(/^query: Unrecognized key: "token"/);
    const workers = await api(f, 'GET', '/api/v1/workers', undefined, ADMIN);
    expect(workers.body.workers.map((w: any) => w.id)).toContain('w-sec-1');
  });

  it('runs a task with its secret env, which no API answer, report or log shows', async () => {
    const script = [
      'const k = process.env.API_KEY;',
      'console.log("key=" + k + " len=" + k.length + " plain=" + process.env.PLAIN);',
      // The worker's own token is not inherited by tasks.
      'if (process.env.DRM_WORKER_TOKEN || process.env.DRM_TOKEN) { console.error("worker token leaked"); process.exit(9) }',
    ].join('\n');
    const submitted = await api(f, 'POST', '/api/v1/tasks', { suite: 'secrets', tasks: [{ name: 'uses-secret', command: nodeTask(script), env: { PLAIN: 'visible' }, secretEnv: { API_KEY: SECRET }, resources: { cpu: 1, memoryMb: 128 } }] }, ADMIN);
    expect(submitted.status).toBe(201);
    expect(submitted.text).not.toContain(SECRET);
    const runId = submitted.body.runId;
    const run = await waitFor('the run to finish', async () => {
      const r = await f.store.getRun(runId);
      return r && r.state !== 'running' ? r : undefined;
    });
    const [taskId] = submitted.body.taskIds;
    const task = (await f.store.getTask(taskId))!;
    expect(run.state, `${task.reason} ${task.stderrTail}`).toBe('succeeded');
    // The process had the value (its length), its output has it masked.
    expect(task.stdoutTail).toContain(`key=*** len=${SECRET.length} plain=visible`);
    // At rest it is sealed: the stored env holds no plaintext.
    expect(JSON.stringify(task.env)).not.toContain(SECRET);
    expect(Object.keys(task.env)).toEqual(expect.arrayContaining(['PLAIN', 'secret:API_KEY']));

    const detail = await api(f, 'GET', `/api/v1/tasks/${taskId}`, undefined, ADMIN);
    expect(detail.body.env).toEqual({ PLAIN: 'visible', API_KEY: '***' });
    for (const path of [`/api/v1/tasks/${taskId}`, '/api/v1/tasks', `/api/v1/runs/${runId}`, '/api/v1/runs', '/api/v1/dashboard', '/api/v1/cluster']) {
      expect((await api(f, 'GET', path, undefined, ADMIN)).text, path).not.toContain(SECRET);
    }
    expect(JSON.stringify(await buildReport(f.store, runId))).not.toContain(SECRET);
    const attempts = await f.store.listAttempts(taskId);
    expect(JSON.stringify(attempts)).not.toContain(SECRET);
  });

  it('refuses a secret that is also a plain variable, and an env name that is not one', async () => {
    const before = await counts(f.store);
    const both = await api(f, 'POST', '/api/v1/tasks', { tasks: [{ name: 'both', command: ['true'], env: { K: 'a' }, secretEnv: { K: 'b' } }] }, ADMIN);
    expect(both.status).toBe(400);
    expect(both.body.error.message).toMatch(/K in both env and secretEnv/);
    const badName = await api(f, 'POST', '/api/v1/tasks', { tasks: [{ name: 'bad', command: ['true'], secretEnv: { 'secret:X': 'b' } }] }, ADMIN);
    expect(badName.status).toBe(400);
    expect(await counts(f.store)).toEqual(before);
  });

  it('refuses a forged result for another worker\'s attempt; the task is unchanged and the coordinator keeps serving', async () => {
    const a = await ProtocolWorker.join(f.url, WORKER, 'forge-a', { cpu: 1, memoryMb: 1024 });
    const b = await ProtocolWorker.join(f.url, WORKER, 'forge-b', { cpu: 1, memoryMb: 1024 });
    // The real worker takes nothing more: the task goes to one of the protocol workers.
    await f.server.coordinator.drain('w-sec-1');
    try {
      const { body } = await api(f, 'POST', '/api/v1/tasks', { tasks: [{ name: 'victim', command: ['true'], resources: { cpu: 1, memoryMb: 512 } }] }, ADMIN);
      const taskId = body.taskIds[0];
      const assign = await Promise.race([a.next('assign', (m) => m.task.taskId === taskId), b.next('assign', (m) => m.task.taskId === taskId)]);
      const owner = a.received.includes(assign) ? a : b;
      const forger = owner === a ? b : a;
      const forgerId = owner === a ? 'forge-b' : 'forge-a';
      const refused: string[] = [];
      const off = f.server.coordinator.bus.on('resultRefused', (e) => refused.push(`${e.workerId}:${e.reason}`));
      const result = { type: 'result', attemptId: assign.attemptId, status: 'succeeded', exitCode: 0, durationMs: 5, usage: { peakMemoryMb: 1, cpuSeconds: 0 }, stdoutTail: 'forged', stderrTail: '' };
      forger.send({ type: 'started', attemptId: assign.attemptId, pid: 4242 });
      forger.send(result);
      await waitFor('the forged result to be refused', () => refused.length > 0);
      off();
      expect(refused[0]).toMatch(new RegExp(`^${forgerId}:attempt belongs to worker`));
      await f.server.coordinator.idle();
      const task = (await f.store.getTask(taskId))!;
      expect(task.state).toBe('assigned');
      expect(task.stdoutTail).toBeNull();
      const [attempt] = await f.store.listAttempts(taskId);
      expect(attempt).toMatchObject({ state: 'assigned', pid: null });
      expect(forger.received.some((m) => m.type === 'ack')).toBe(false);
      // The forger is still connected (a refused result is not a protocol error), and everyone goes on.
      expect((await api(f, 'GET', '/healthz')).status).toBe(200);
      // The owner's own report counts.
      owner.send({ type: 'started', attemptId: assign.attemptId, pid: 4243 });
      owner.send({ ...result, stdoutTail: 'real' });
      await owner.next('ack', (m) => m.attemptId === assign.attemptId);
      const done = (await f.store.getTask(taskId))!;
      expect(done).toMatchObject({ state: 'succeeded', stdoutTail: 'real' });
    } finally {
      a.close();
      b.close();
    }
  });

  it('never writes a token or a secret value to the coordinator or worker logs', async () => {
    await new Promise<void>((resolve) => f.logger.flush(() => resolve()));
    await new Promise((r) => setTimeout(r, 300));
    const files = (await readdir(f.dir)).filter((n) => n.endsWith('.log'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const name of files) {
      const text = await readFile(join(f.dir, name), 'utf8');
      expect(text.length, name).toBeGreaterThan(0);
      for (const s of [ADMIN, WORKER, SECRET]) expect(text.includes(s), `${s} in ${name}`).toBe(false);
    }
  });
});

describe('secret env across a coordinator restart', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drm-secret-restart-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('a coordinator with the same token opens the stored secrets; one with another token fails those tasks with a reason', async () => {
    const first = await start({ token: ADMIN, dir });
    // Fits no worker, so it stays pending across restarts.
    const { body } = await api(first, 'POST', '/api/v1/tasks', { tasks: [{ name: 'later', command: ['true'], secretEnv: { API_KEY: SECRET }, resources: { cpu: 64 } }] }, ADMIN);
    const taskId = body.taskIds[0];
    await first.stop();

    const same = await start({ token: ADMIN, dir, logFile: join(dir, 'second.log') });
    await same.server.coordinator.idle();
    expect((await same.store.getTask(taskId))!.state).toBe('pending');
    // A worker that fits now gets the secret in its assignment, apart from the plain env.
    const w = await ProtocolWorker.join(same.url, ADMIN, 'big', { cpu: 64, memoryMb: 4096 });
    const assign = await w.next('assign', (m) => m.task.taskId === taskId);
    expect(assign.task.secretEnv).toEqual({ API_KEY: SECRET });
    expect(assign.task.env).toEqual({});
    w.close();
    await same.stop();

    const other = await start({ token: 'another-token', dir, logFile: join(dir, 'third.log') });
    await other.server.coordinator.idle();
    const task = (await other.store.getTask(taskId))!;
    expect(task.state).toBe('failed');
    expect(task.reason).toMatch(/secret env \(API_KEY\) cannot be decrypted/);
    await other.stop();
  });
});

describe('limits', () => {
  let f: Fixture;
  const LIMITS = { bodyBytes: 64 * 1024, frameBytes: 16 * 1024, tasksPerSubmission: 5, connectionsPerAddress: 6, exemptLoopback: false };

  beforeAll(async () => {
    f = await start({ settings: { limits: LIMITS } });
  });
  afterAll(async () => {
    await f?.stop();
    if (f) await rm(f.dir, { recursive: true, force: true });
  });

  const task = (i: number) => ({ name: `t${i}`, command: ['true'], resources: { cpu: 64 } });

  it('refuses an oversized body with 413 and stores nothing; the next request is served', async () => {
    const before = await counts(f.store);
    const huge = JSON.stringify({ tasks: [{ name: 'big', command: ['true', 'x'.repeat(LIMITS.bodyBytes)] }] });
    const res = await rawRequest(`${f.url}/api/v1/tasks`, 'POST', huge);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'body_too_large', message: expect.stringContaining(String(LIMITS.bodyBytes)) });
    expect(await counts(f.store)).toEqual(before);
    expect((await rawRequest(`${f.url}/api/v1/tasks`, 'POST', JSON.stringify({ tasks: [task(0)] }))).status).toBe(201);
  });

  it('refuses a submission of more tasks than the limit with 413 naming it; one at the limit is taken', async () => {
    const before = await counts(f.store);
    const res = await rawRequest(`${f.url}/api/v1/tasks`, 'POST', JSON.stringify({ tasks: Array.from({ length: 6 }, (_, i) => task(i)) }));
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'too_many_tasks', details: { limit: 5, tasks: 6 } });
    expect(res.body.error.message).toMatch(/at most 5 tasks/);
    expect(await counts(f.store)).toEqual(before);
    expect((await rawRequest(`${f.url}/api/v1/tasks`, 'POST', JSON.stringify({ tasks: Array.from({ length: 5 }, (_, i) => task(i)) }))).status).toBe(201);
  });

  it('closes a worker connection that sends an oversized frame with 1009; others go on', async () => {
    const before = await counts(f.store);
    const w = await ProtocolWorker.join(f.url, undefined, 'frame-w');
    const other = await ProtocolWorker.join(f.url, undefined, 'frame-ok');
    w.send({ type: 'heartbeat', usage: { cpu: 0, memoryMb: 0 }, padding: 'x'.repeat(LIMITS.frameBytes) });
    const closed = await w.closed;
    expect(closed.code).toBe(1009);
    other.send({ type: 'heartbeat', usage: { cpu: 0.5, memoryMb: 10 } });
    await waitFor('the other worker to be heard', () => f.server.coordinator.workerViews().find((x) => x.id === 'frame-ok')?.usage?.cpu === 0.5);
    other.close();
    expect((await rawRequest(`${f.url}/healthz`)).status).toBe(200);
    expect((await counts(f.store)).runs).toBe(before.runs);
  });

  it('answers a connection beyond the per-address limit with 429, HTTP and WebSocket alike, until others close', async () => {
    // Idle connections held open (keep-alive clients do this).
    const held: Socket[] = [];
    for (let i = 0; i < LIMITS.connectionsPerAddress; i++) {
      const s = connect(f.server.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      held.push(s);
    }
    try {
      const res = await rawRequest(`${f.url}/api/v1/runs`);
      expect(res.status).toBe(429);
      expect(res.body.error).toMatchObject({ code: 'too_many_connections', message: expect.stringMatching(/limit 6/) });
      await expect(ProtocolWorker.connect(f.url)).rejects.toMatchObject({ status: 429 });
    } finally {
      for (const s of held) s.destroy();
    }
    await waitFor('the connections to close', async () => (await rawRequest(`${f.url}/healthz`)).status === 200);
    const r = await rejections(f.url);
    expect(r).toMatchObject({ too_many_connections: expect.any(Number), body_too_large: 1, too_many_tasks: 1, frame_too_large: 1 });
    expect(r.too_many_connections).toBeGreaterThanOrEqual(2);
  });
});

describe('a quiet logger', () => {
  it('redacts tokens and secrets by field name', async () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s) };
    const { REDACTED_PATHS } = await import('../../src/logging.js');
    const log = pino({ redact: { paths: REDACTED_PATHS, censor: '***' } }, stream);
    log.info({ token: ADMIN, req: { headers: { authorization: `Bearer ${ADMIN}` } }, task: { secretEnv: { K: SECRET } }, opts: { workerToken: WORKER } }, 'hello');
    expect(lines.join('')).not.toMatch(new RegExp(`${ADMIN}|${WORKER}|${SECRET}`));
    expect(lines.join('')).toContain('***');
  });
});
