import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_WORKER_TYPES } from '../../src/core/worker-types.js';
import { startLocalWorker, type LocalWorker } from '../../src/providers/local.js';
import { openStore } from '../../src/store/open.js';
import { drmDaemon } from '../helpers/cli.js';
import { MARKER_TASK, TestCluster, markerRuns } from '../helpers/cluster.js';
import { TcpProxy, freePort } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

// Real worker processes are killed, stopped and cut off; nothing may be lost or finish twice.

let markers: string;
beforeEach(async () => {
  markers = await mkdtemp(join(tmpdir(), 'drm-markers-'));
});
afterEach(async () => rm(markers, { recursive: true, force: true }));

const markerTask = (name: string, ms: number) => ({ name, command: [process.execPath, MARKER_TASK, markers, String(ms)], resources: { cpu: 1, memoryMb: 128 } });

async function runningOn(cluster: TestCluster, taskId: string): Promise<string> {
  return waitFor(`task ${taskId} to run`, async () => {
    const t = await cluster.store.getTask(taskId);
    return t?.state === 'running' ? t.workerId! : undefined;
  });
}

describe('fault tolerance with real processes', () => {
  let cluster: TestCluster;
  afterEach(async () => cluster?.stop());

  it('SIGKILL of a worker mid-task: the task is reassigned and succeeds, once', async () => {
    cluster = await TestCluster.start({ settings: { reconnectGraceMs: 1000 } });
    const a = await cluster.addWorker('cpu', 'kill-a');
    const b = await cluster.addWorker('cpu', 'kill-b');
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [markerTask('survivor', 1500)] });
    const taskId = body.taskIds[0];
    const victim = (await runningOn(cluster, taskId)) === 'kill-a' ? a : b;
    await waitFor('the first attempt to start its process', async () => (await markerRuns(markers, taskId)).started.length === 1);
    victim.process.kill('SIGKILL');

    const run = await cluster.waitForRun(body.runId);
    expect(run.state).toBe('succeeded');
    const task = (await cluster.store.getTask(taskId))!;
    expect(task.attempts).toBe(2);
    expect(task.workerId).not.toBe(victim.id);
    const attempts = await cluster.store.listAttempts(taskId);
    expect(attempts.map((x) => x.state)).toEqual(['lost', 'succeeded']);
    expect(attempts[0].reason).toMatch(/did not reconnect/);
    const runs = await markerRuns(markers, taskId);
    expect(runs.done.filter((id) => id === attempts[1].id)).toHaveLength(1);
    expect(attempts.filter((x) => x.state === 'succeeded')).toHaveLength(1);
  });

  it('SIGSTOP of a worker: lost after the heartbeat timeout, its task reassigned; resumed, its stale result is refused', async () => {
    cluster = await TestCluster.start({ settings: { heartbeatMs: 300, heartbeatTimeoutMs: 1500 } });
    const a = await cluster.addWorker('cpu', 'stop-a');
    const b = await cluster.addWorker('cpu', 'stop-b');
    const refused: string[] = [];
    cluster.server.coordinator.bus.on('resultRefused', (e) => refused.push(e.attemptId));
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [markerTask('frozen', 2000)] });
    const taskId = body.taskIds[0];
    const victim = (await runningOn(cluster, taskId)) === 'stop-a' ? a : b;
    const [first] = await cluster.store.listAttempts(taskId);
    victim.process.kill('SIGSTOP');
    try {
      const lost = await waitFor('the stopped worker to be declared lost', async () => {
        const [att] = await cluster.store.listAttempts(taskId);
        return att.state === 'lost' ? att : undefined;
      });
      expect(lost.reason).toMatch(/no heartbeat/);
      const run = await cluster.waitForRun(body.runId);
      expect(run.state).toBe('succeeded');
      // The first attempt's process ran on while its worker was stopped: it finished too.
      await waitFor('the first attempt to finish its process', async () => (await markerRuns(markers, taskId)).done.includes(first.id));
    } finally {
      victim.process.kill('SIGCONT');
    }
    await waitFor('the resumed worker to report its stale result', () => refused.includes(first.id));
    const attempts = await cluster.store.listAttempts(taskId);
    expect(attempts.map((x) => x.state)).toEqual(['lost', 'succeeded']);
    expect(attempts[1].workerId).not.toBe(victim.id);
    const task = (await cluster.store.getTask(taskId))!;
    expect(task.currentAttemptId).toBe(attempts[1].id);
    await waitFor('the resumed worker to rejoin', () => cluster.server.coordinator.workerViews().some((w) => w.id === victim.id && w.state === 'active'));
  });

  it('a worker whose tasks keep getting killed is quarantined, then given one trial task', async () => {
    cluster = await TestCluster.start({ settings: { quarantineAfterFailures: 2, quarantineMs: 1500 } });
    await cluster.addWorker('cpu', 'cursed');
    // Killed by a signal nobody on our side sent, like the OOM killer: an infrastructure failure.
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'oom', command: [process.execPath, '-e', 'process.kill(process.pid, "SIGKILL")'], resources: { cpu: 1, memoryMb: 64 } }] });
    const run = await cluster.waitForRun(body.runId);
    expect(run.state).toBe('failed');
    const attempts = await cluster.store.listAttempts(body.taskIds[0]);
    // Retried as an infrastructure failure (maxRetries 0 notwithstanding): 1 + 3 attempts.
    expect(attempts).toHaveLength(4);
    expect(attempts.every((a) => a.state === 'failed' && /SIGKILL/.test(a.reason ?? ''))).toBe(true);
    // The second failure opened the breaker: the third attempt waited out the quarantine.
    expect(attempts[2].assignedAt - attempts[1].finishedAt!).toBeGreaterThanOrEqual(1500);
    expect(attempts[3].assignedAt - attempts[2].finishedAt!).toBeGreaterThanOrEqual(1500);
  });

  it('a short network drop: the running task is not restarted', async () => {
    cluster = await TestCluster.start({ settings: { reconnectGraceMs: 5000 } });
    const proxy = await TcpProxy.start(cluster.server.port);
    try {
      await cluster.addWorker('cpu', 'flaky', proxy.url);
      const joins: string[] = [];
      cluster.server.coordinator.bus.on('worker', (e) => e.state === 'active' && joins.push(e.workerId));
      const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [markerTask('steady', 2000)] });
      const taskId = body.taskIds[0];
      await runningOn(cluster, taskId);
      expect(proxy.dropAll()).toBeGreaterThan(0);
      await waitFor('the worker to reconnect', () => joins.includes('flaky'));
      const run = await cluster.waitForRun(body.runId);
      expect(run.state).toBe('succeeded');
      const attempts = await cluster.store.listAttempts(taskId);
      expect(attempts).toHaveLength(1);
      expect(attempts[0].state).toBe('succeeded');
      expect((await markerRuns(markers, taskId)).started).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('coordinator restart', () => {
  let workers: LocalWorker[] = [];
  let dir: string;
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    workers = [];
    await rm(dir, { recursive: true, force: true });
  });

  it('kill -9 of the coordinator mid-run, restarted on the same database: the run completes, nothing lost or finished twice', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drm-restart-'));
    const db = join(dir, 'drm.duckdb');
    const config = join(dir, 'settings.json');
    await writeFile(config, JSON.stringify({ heartbeatMs: 500, reconnectGraceMs: 8000 }));
    const port = await freePort();
    const args = ['coordinator', '--port', String(port), '--db', db, '--config', config, '--log-level', 'warn'];
    let coordinator = await drmDaemon(args, /listening on (http:\/\/\S+)/);
    const url = coordinator.match[1];
    const cpu = BUILTIN_WORKER_TYPES.find((t) => t.name === 'cpu')!;
    for (const id of ['restart-a', 'restart-b']) workers.push(await startLocalWorker({ id, type: cpu, coordinatorUrl: url, logFile: join(dir, `${id}.log`) }));

    const tasks = Array.from({ length: 10 }, (_, i) => markerTask(`t${i}`, 400 + (i % 3) * 400));
    const submit = await fetch(`${url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ suite: 'restart', tasks }) });
    const { runId, taskIds } = (await submit.json()) as { runId: string; taskIds: string[] };
    const get = async (path: string) => (await fetch(url + path)).json() as Promise<any>;
    // Crash while some tasks are done and others run.
    await waitFor('some tasks to finish and others to run', async () => {
      const { summary } = await get(`/api/v1/runs/${runId}`);
      return summary.succeeded >= 2 && summary.running >= 1;
    });
    const firstLog = coordinator.output();
    coordinator.child.kill('SIGKILL');
    await new Promise((resolve) => coordinator.child.once('exit', resolve));

    coordinator = await drmDaemon(args, /listening on/);
    try {
      const run = await waitFor('the run to finish after the restart', async () => {
        const r = await get(`/api/v1/runs/${runId}`);
        return r.state !== 'running' ? r : undefined;
      }, 90_000, 200);
      expect(run.state).toBe('succeeded');
      expect(run.summary).toMatchObject({ total: 10, succeeded: 10 });
    } finally {
      coordinator.child.kill('SIGTERM');
      await new Promise((resolve) => coordinator.child.once('exit', resolve));
    }
    const store = await openStore(db);
    try {
      for (const id of taskIds) {
        const attempts = await store.listAttempts(id);
        expect(attempts.filter((a) => a.state === 'succeeded'), id).toHaveLength(1);
        const runs = await markerRuns(markers, id);
        // Finished exactly once: no succeeded attempt ran its process to the end twice.
        expect(runs.done.filter((a) => attempts.some((x) => x.id === a && x.state === 'succeeded')), id).toHaveLength(1);
        expect(runs.done.length, `${id} finished ${runs.done.length} times: ${JSON.stringify(attempts.map((a) => [a.id, a.state, a.workerId, a.reason]))}\n${firstLog}\n${coordinator.output()}`).toBe(1);
      }
    } finally {
      await store.close();
    }
  });
});
