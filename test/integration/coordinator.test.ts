import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { TestCluster, nodeTask } from '../helpers/cluster.js';
import { processAlive, waitFor } from '../helpers/wait.js';

// Real coordinator + real worker processes on loopback, DuckDB on disk.
describe('coordinator with real workers', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await Promise.all([cluster.addWorker('cpu'), cluster.addWorker('high-memory'), cluster.addWorker('gpu')]);
  });
  afterAll(async () => cluster?.stop());

  it('places CPU, memory-heavy and GPU tasks on the worker types that fit them, and stores the results', async () => {
    const { status, body } = await cluster.api('POST', '/api/v1/tasks', {
      suite: 'placement',
      tasks: [
        { name: 'cpu-task', command: nodeTask('console.log("cpu ok")'), resources: { cpu: 1, memoryMb: 256 } },
        { name: 'memory-task', command: nodeTask('console.log("mem ok")'), resources: { cpu: 1, memoryMb: 20480 } },
        {
          name: 'gpu-task',
          command: nodeTask('if (!process.env.CUDA_VISIBLE_DEVICES) { console.error("no GPU given"); process.exit(1) } console.log("gpus=" + process.env.CUDA_VISIBLE_DEVICES)'),
          resources: { gpus: 1, gpuMemoryMb: 8000, memoryMb: 8192 },
        },
      ],
    });
    expect(status).toBe(201);
    const run = await cluster.waitForRun(body.runId);
    expect(run.state).toBe('succeeded');
    const tasks = await cluster.store.listTasks({ runId: body.runId });
    const byName = Object.fromEntries(tasks.map((t) => [t.name, t]));
    expect(byName['cpu-task'].workerType).toBe('cpu');
    expect(byName['memory-task'].workerType).toBe('high-memory');
    expect(byName['gpu-task'].workerType).toBe('gpu');
    expect(byName['gpu-task'].stdoutTail).toContain('gpus=0');
    for (const t of tasks) {
      expect(t.exitCode).toBe(0);
      expect(t.durationMs).toBeGreaterThan(0);
      expect(t.peakMemoryMb).toBeGreaterThanOrEqual(0);
      const attempts = await cluster.store.listAttempts(t.id);
      expect(attempts).toHaveLength(1);
      expect(attempts[0].state).toBe('succeeded');
    }
    const history = await cluster.store.listTaskHistory({ name: 'cpu-task' });
    expect(history).toHaveLength(1);

    const one = await cluster.api('GET', `/api/v1/tasks/${byName['gpu-task'].id}`);
    expect(one.body).toMatchObject({ name: 'gpu-task', state: 'succeeded', attempts: 1, workerType: 'gpu' });
    expect(one.body.history).toHaveLength(1);
    const runView = await cluster.api('GET', `/api/v1/runs/${body.runId}`);
    expect(runView.body).toMatchObject({ id: body.runId, name: 'placement', state: 'succeeded', summary: { total: 3, succeeded: 3 } });
  });

  it('cancel kills the running process group and records the task as canceled', async () => {
    const { body } = await cluster.api('POST', '/api/v1/tasks', {
      tasks: [{ name: 'sleeper', command: nodeTask('console.log("pid", process.pid); setInterval(() => {}, 1000)'), resources: { cpu: 0.5, memoryMb: 128 } }],
    });
    const taskId = body.taskIds[0];
    const attempt = await waitFor('the task to start', async () => {
      const [a] = await cluster.store.listAttempts(taskId);
      return a?.state === 'running' && a.pid ? a : undefined;
    });
    expect(processAlive(attempt.pid!)).toBe(true);
    const cancel = await cluster.api('POST', `/api/v1/tasks/${taskId}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body.state).toBe('canceled');
    await waitFor('the process to be killed', () => !processAlive(attempt.pid!));
    const done = await waitFor('the attempt to be recorded as canceled', async () => {
      const [a] = await cluster.store.listAttempts(taskId);
      return a?.state === 'canceled' ? a : undefined;
    });
    expect(done.finishedAt).not.toBeNull();
    expect((await cluster.store.getTask(taskId))!.state).toBe('canceled');
    expect((await cluster.api('POST', `/api/v1/tasks/${taskId}/cancel`)).status).toBe(409);
  });

  it('a task that runs past its timeout is killed and recorded as timed out', async () => {
    const { body } = await cluster.api('POST', '/api/v1/tasks', {
      tasks: [{ name: 'too-slow', command: nodeTask('setInterval(() => {}, 1000)'), timeoutSec: 1, resources: { cpu: 0.5, memoryMb: 128 } }],
    });
    const run = await cluster.waitForRun(body.runId);
    expect(run.state).toBe('failed');
    const task = (await cluster.store.getTask(body.taskIds[0]))!;
    expect(task.state).toBe('timed_out');
    expect(task.reason).toMatch(/timed out/);
    const [attempt] = await cluster.store.listAttempts(task.id);
    await waitFor('the timed-out process to be gone', () => !processAlive(attempt.pid!));
  });

  it('dependsOn: a task starts only after its dependencies succeeded; a failed dependency cancels its dependents', async () => {
    const { body } = await cluster.api('POST', '/api/v1/tasks', {
      tasks: [
        { name: 'first', command: nodeTask('setTimeout(() => {}, 300)'), resources: { cpu: 0.5, memoryMb: 64 } },
        { name: 'second', command: nodeTask(''), resources: { cpu: 0.5, memoryMb: 64 }, dependsOn: ['first'] },
        { name: 'third', command: nodeTask(''), resources: { cpu: 0.5, memoryMb: 64 }, dependsOn: ['second', 'first'] },
        { name: 'broken', command: nodeTask('process.exit(3)'), resources: { cpu: 0.5, memoryMb: 64 } },
        { name: 'after-broken', command: nodeTask(''), resources: { cpu: 0.5, memoryMb: 64 }, dependsOn: ['broken'] },
      ],
    });
    const run = await cluster.waitForRun(body.runId);
    expect(run.state).toBe('failed');
    const tasks = Object.fromEntries((await cluster.store.listTasks({ runId: body.runId })).map((t) => [t.name, t]));
    expect(tasks.first.state).toBe('succeeded');
    expect(tasks.second.state).toBe('succeeded');
    expect(tasks.third.state).toBe('succeeded');
    const [secondAttempt] = await cluster.store.listAttempts(tasks.second.id);
    const [thirdAttempt] = await cluster.store.listAttempts(tasks.third.id);
    expect(secondAttempt.assignedAt).toBeGreaterThanOrEqual(tasks.first.finishedAt!);
    expect(thirdAttempt.assignedAt).toBeGreaterThanOrEqual(tasks.second.finishedAt!);
    expect(tasks.broken.state).toBe('failed');
    expect(tasks.broken.exitCode).toBe(3);
    expect(tasks['after-broken'].state).toBe('canceled');
    expect(tasks['after-broken'].reason).toMatch(/dependency broken failed/);
    expect(await cluster.store.listAttempts(tasks['after-broken'].id)).toHaveLength(0);
  });

  it('a task that fits no worker stays pending with a reason', async () => {
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'huge', command: nodeTask(''), resources: { cpu: 64 } }] });
    const view = await waitFor('a pending reason', async () => {
      const r = await cluster.api('GET', `/api/v1/tasks/${body.taskIds[0]}`);
      return r.body.reason ? r.body : undefined;
    });
    expect(view.state).toBe('pending');
    expect(view.reason).toMatch(/cpu 64/);
    await cluster.api('POST', `/api/v1/tasks/${body.taskIds[0]}/cancel`);
  });

  it('rejects invalid API requests with 400 and stores nothing', async () => {
    const before = (await cluster.store.listRuns(1000)).length;
    const bad = [
      { tasks: [] },
      { tasks: [{ name: 'x', command: 'not-an-array' }] },
      { tasks: [{ name: 'x', command: ['true'], resources: { cpu: -1 } }] },
      { tasks: [{ name: 'x', command: ['true'], surprise: 1 }] },
      { tasks: [{ name: 'a', command: ['true'], dependsOn: ['b'] }, { name: 'b', command: ['true'], dependsOn: ['a'] }] },
      { tasks: [{ name: 'a', command: ['true'], dependsOn: ['nope'] }] },
      { tasks: [{ name: 'a', command: ['true'] }, { name: 'a', command: ['true'] }] },
    ];
    for (const body of bad) {
      const res = await cluster.api('POST', '/api/v1/tasks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      expect(res.body.error.details).toBeDefined();
    }
    const garbled = await cluster.api('POST', '/api/v1/tasks', '{"tasks": [', { 'content-type': 'application/json' });
    expect(garbled.status).toBe(400);
    expect(garbled.body.error.code).toBe('invalid_json');
    expect((await cluster.api('GET', '/api/v1/tasks?state=bogus')).status).toBe(400);
    expect((await cluster.api('GET', '/api/v1/tasks/nope')).status).toBe(404);
    expect((await cluster.store.listRuns(1000)).length).toBe(before);
  });

  it('a garbled worker message closes only that connection, with a reason', async () => {
    const ws = new WebSocket(cluster.url.replace('http', 'ws') + '/api/v1/worker');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send('{"type": "hello", "workerId": 42}');
    const { code, reason } = await closed;
    expect(code).toBe(4002);
    expect(reason).toMatch(/invalid hello message: workerId/);
    // Everyone else goes on.
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'still-works', command: nodeTask(''), resources: { cpu: 0.5, memoryMb: 64 } }] });
    expect((await cluster.waitForRun(body.runId)).state).toBe('succeeded');
  });

  it('reports cluster totals and worker reservations', async () => {
    const cluster_ = await cluster.api('GET', '/api/v1/cluster');
    expect(cluster_.body.workers.total).toBe(3);
    expect(cluster_.body.capacity.gpus).toBe(1);
    const workers = await cluster.api('GET', '/api/v1/workers');
    expect(workers.body.workers.map((w: any) => w.type).sort()).toEqual(['cpu', 'gpu', 'high-memory']);
    expect((await cluster.api('GET', '/healthz')).status).toBe(200);
    expect((await cluster.api('GET', '/readyz')).status).toBe(200);
  });
});
