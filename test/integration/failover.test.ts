import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BUILTIN_WORKER_TYPES } from '../../src/core/worker-types.js';
import { startLocalWorker, type LocalWorker } from '../../src/providers/local.js';
import { openStore } from '../../src/store/open.js';
import { describePg, testSchemas, type TestSchema } from '../store/pg-available.js';
import { drmDaemon } from '../helpers/cli.js';
import { MARKER_TASK, markerRuns } from '../helpers/cluster.js';
import { freePort } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

// Two coordinator processes share PostgreSQL; the leader is killed mid-run and the follower takes over.
await describePg('coordinator failover on PostgreSQL', () => {
  const schemas = testSchemas();
  let schema: TestSchema;
  let dir: string;
  const workers: LocalWorker[] = [];
  const daemons: Array<{ child: import('node:child_process').ChildProcess }> = [];

  beforeAll(async () => {
    schema = await schemas.create();
    dir = await mkdtemp(join(tmpdir(), 'drm-failover-'));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    for (const d of daemons) d.child.kill('SIGKILL');
    await schemas.dropAll();
    await rm(dir, { recursive: true, force: true });
  });

  const readyz = async (url: string) => {
    try {
      const res = await fetch(`${url}/readyz`);
      return { status: res.status, body: (await res.json()) as { leader: { url: string | null } } };
    } catch {
      return { status: 0, body: { leader: { url: null } } };
    }
  };

  it('SIGKILL of the leader mid-run: the follower takes over, the suite completes, nothing lost or completed twice', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const start = (port: number) => drmDaemon(['coordinator', '--port', String(port), '--db', schema.url, '--log-level', 'warn'], /listening on (http:\/\/\S+)/);
    const a = await start(portA);
    daemons.push(a);
    const urlA = a.match[1];
    await waitFor('A to lead', async () => (await readyz(urlA)).status === 200);
    const b = await start(portB);
    daemons.push(b);
    const urlB = b.match[1];
    await waitFor('B to know the leader', async () => (await readyz(urlB)).body.leader.url === urlA);
    expect((await readyz(urlB)).status).toBe(503);
    // A follower sends API clients to the leader.
    const redirected = await fetch(`${urlB}/api/v1/cluster`, { redirect: 'manual' });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get('location')).toBe(`${urlA}/api/v1/cluster`);

    const cpu = BUILTIN_WORKER_TYPES.find((t) => t.name === 'cpu')!;
    for (let i = 0; i < 3; i++) workers.push(await startLocalWorker({ id: `ha-${i}`, type: cpu, coordinatorUrl: `${urlA},${urlB}`, logFile: join(dir, `ha-${i}.log`) }));
    await waitFor('three workers on the leader', async () => ((await (await fetch(`${urlA}/api/v1/workers`)).json()) as { workers: unknown[] }).workers.length === 3);

    const tasks = Array.from({ length: 12 }, (_, i) => ({ name: `ha-${i}`, command: [process.execPath, MARKER_TASK, dir, String(500 + (i % 3) * 300)], resources: { cpu: 1, memoryMb: 128 } }));
    const submitted = await fetch(`${urlA}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ suite: 'failover', tasks }) });
    const { runId, taskIds } = (await submitted.json()) as { runId: string; taskIds: string[] };
    await waitFor('the run to be under way', async () => {
      const run = (await (await fetch(`${urlA}/api/v1/runs/${runId}`)).json()) as { summary: { succeeded: number; running: number } };
      return run.summary.succeeded >= 2 && run.summary.running >= 1;
    });

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await waitFor('B to take over', async () => (await readyz(urlB)).status === 200, 30_000, 20);
    const takeoverMs = Date.now() - killedAt;
    console.log(`failover_takeover_ms=${takeoverMs}`);
    expect(takeoverMs).toBeLessThan(15_000);

    const run = await waitFor('the run to complete on the new leader', async () => {
      const r = (await (await fetch(`${urlB}/api/v1/runs/${runId}`)).json()) as { state: string; summary: Record<string, number> };
      return r.state !== 'running' ? r : undefined;
    }, 90_000, 200);
    expect(run.state).toBe('succeeded');
    expect(run.summary).toMatchObject({ total: 12, succeeded: 12 });

    const store = await openStore(schema.url);
    try {
      for (const id of taskIds) {
        const attempts = await store.listAttempts(id);
        expect(attempts.filter((x) => x.state === 'succeeded'), id).toHaveLength(1);
        expect((await markerRuns(dir, id)).done, `${id} ran to completion once`).toHaveLength(1);
      }
      const lease = await store.getLease('coordinator');
      expect(lease?.epoch).toBe(2);
    } finally {
      await store.close();
    }
  });
});
