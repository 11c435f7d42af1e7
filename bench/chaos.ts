import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinatorServer } from '../src/coordinator/server.js';
import { BUILTIN_WORKER_TYPES } from '../src/core/worker-types.js';
import { startLocalWorker, type LocalWorker } from '../src/providers/local.js';
import { openStore } from '../src/store/open.js';
import { median, round, seeded, type Bench } from './figures.js';

// Chaos: real worker processes are killed with SIGKILL at random during a run (and replaced, as a
// provider would). Prints tasks lost and duplicated (both must be 0) and how fast a dead worker's
// tasks go back to the queue (failure_requeue_ms: from the kill to the requeue of its last task).

export const chaosBench: Bench = {
  name: 'chaos',
  description: 'kill random workers during a run: tasks lost, tasks duplicated, failure_requeue_ms',
  async run(ctx) {
    const kills = ctx.quick ? 3 : 6;
    const taskCount = ctx.quick ? 60 : 200;
    const dir = await mkdtemp(join(tmpdir(), 'drm-chaos-'));
    const store = await openStore(join(dir, 'drm.duckdb'));
    const server = await startCoordinatorServer({ store, logger: pino({ level: 'silent' }), port: 0 });
    const coordinator = server.coordinator;
    const cpu = BUILTIN_WORKER_TYPES[0];
    const workers = new Map<string, LocalWorker>();
    let finishing = false;
    let seq = 0;
    const addWorker = async () => {
      const id = `chaos-${++seq}`;
      const w = await startLocalWorker({ id, type: cpu, coordinatorUrl: server.url });
      workers.set(id, w);
      // The provider sees the process die: its tasks are requeued at once, and a replacement starts.
      void w.exited.then(async () => {
        workers.delete(id);
        if (finishing) return;
        await coordinator.markWorkerGone(id, 'process exited');
        await addWorker();
      });
    };
    try {
      for (let i = 0; i < 4; i++) await addWorker();
      const random = seeded(12345);
      const tasks = Array.from({ length: taskCount }, (_, i) => ({
        name: `chaos-${i}`,
        command: [process.execPath, '-e', `setTimeout(() => {}, ${100 + Math.floor(random() * 500)})`],
        resources: { cpu: 1, memoryMb: 128 },
      }));
      const requeues = new Map<string, number>();
      coordinator.bus.on('task', (e) => {
        const m = e.state === 'pending' && e.reason ? /worker (\S+) lost/.exec(e.reason) : null;
        if (m) requeues.set(m[1], Date.now());
      });
      let done = false;
      const ended = new Promise<void>((resolve) => coordinator.bus.on('run', () => resolve()));
      void ended.then(() => (done = true));
      const { runId } = await coordinator.submit({ suite: 'chaos', tasks: tasks.map((t) => ({ ...t, kind: 'command' as const, priority: 0, timeoutSec: 60, maxRetries: 0 })) });
      const requeueMs: number[] = [];
      for (let k = 0; k < kills; k++) {
        // Kill one of the workers running something, so there is work to lose, while the run is in full
        // swing (at least two busy). Near the end the only busy worker is the one running the last retried
        // tasks: killing it again and again measures the retry budget (infraRetries, 3 by default, as
        // Ray's max_retries), not whether a crash loses work, and is not random.
        const busyWorkers = () => coordinator.workerViews().filter((w) => w.runningTasks.length > 0 && workers.has(w.id));
        while (!done && busyWorkers().length < 2) await new Promise((r) => setTimeout(r, 10));
        const busy = busyWorkers();
        if (done || busy.length < 2) break;
        const victim = busy[Math.floor(random() * busy.length)];
        const killedAt = Date.now();
        workers.get(victim.id)!.process.kill('SIGKILL');
        const deadline = Date.now() + 30_000;
        while (!requeues.has(victim.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        if (requeues.has(victim.id)) requeueMs.push(requeues.get(victim.id)! - killedAt);
        ctx.log(`chaos: killed ${victim.id} (of ${busy.length} busy) running ${victim.runningTasks.length} task(s); requeued after ${requeues.has(victim.id) ? requeues.get(victim.id)! - killedAt : '?'} ms`);
        await new Promise((r) => setTimeout(r, 300));
      }
      await ended;
      const stored = await store.listTasks({ runId });
      const notDone = stored.filter((t) => t.state !== 'succeeded');
      for (const t of notDone) ctx.log(`chaos: ${t.name} ended ${t.state} after ${t.attempts} attempt(s): ${t.reason}`);
      const lost = notDone.length;
      let duplicated = 0;
      for (const t of stored) if ((await store.listAttempts(t.id)).filter((a) => a.state === 'succeeded').length > 1) duplicated++;
      const context = { tasks: taskCount, kills: requeueMs.length };
      return [
        { bench: 'chaos_tasks_lost', value: lost, unit: 'tasks', goal: '0', ...context },
        { bench: 'chaos_tasks_duplicated', value: duplicated, unit: 'tasks', goal: '0', ...context },
        { bench: 'failure_requeue_ms', value: round(median(requeueMs)), unit: 'ms', max: round(Math.max(...requeueMs)), detection: 'provider observes the process exit', ...context },
      ];
    } finally {
      finishing = true;
      await Promise.all([...workers.values()].map((w) => w.stop('SIGKILL')));
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
