import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinatorServer } from '../src/coordinator/server.js';
import { openStore } from '../src/store/open.js';
import { median, round, type Bench, type Figure } from './figures.js';
import { startProtocolWorkers } from './protocol-workers.js';
import { measureBullmq, redisAnswers } from './bullmq.js';
import { measureProtocolCeiling } from './protocol-ceiling.js';

// End-to-end dispatch throughput of no-op tasks through a real coordinator, every state change
// persisted to DuckDB on disk (in its tables, not only in the write journal), with 50 and 500
// protocol-level workers. Each round also measures the protocol's own ceiling (protocol-ceiling.ts):
// the same clients and frames against a server that does nothing else.

/** Concurrent tasks per worker, on both systems. */
const SLOTS = 4;
const WARM_UP_TASKS = 2_000;
const ROUNDS = 3;

export async function measureDrmDispatch(workers: number, tasks: number): Promise<{ tasksPerSec: number; elapsedMs: number; acknowledgedTasksPerSec: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'drm-dispatch-'));
  const store = await openStore(join(dir, 'drm.duckdb'));
  const server = await startCoordinatorServer({ store, logger: pino({ level: 'silent' }), port: 0 });
  const fleet = await startProtocolWorkers(server.url, workers, SLOTS);
  try {
    const ended = new Promise<void>((resolve) => server.coordinator.bus.on('run', () => resolve()));
    // Registration is not what is measured: its writes reach the tables before the clock starts.
    await store.listWorkers();
    const started = performance.now();
    const body = { suite: 'dispatch', tasks: Array.from({ length: tasks }, (_, i) => ({ name: `noop-${i}`, kind: 'command' as const, command: ['true'], resources: { cpu: 1, memoryMb: 64 }, priority: 0, timeoutSec: 60, maxRetries: 0 })) };
    const { runId } = await server.coordinator.submit(body);
    await ended;
    const acknowledgedMs = performance.now() - started;
    // The clock stops once the tables hold every change, not when the last one was acknowledged (durable
    // in the write journal): a read through the store applies what is still pending.
    if ((await store.getRun(runId))?.state !== 'succeeded') throw new Error(`dispatch run ${runId} did not succeed`);
    const elapsedMs = performance.now() - started;
    return { tasksPerSec: (tasks / elapsedMs) * 1000, elapsedMs, acknowledgedTasksPerSec: (tasks / acknowledgedMs) * 1000 };
  } finally {
    await fleet.close();
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const dispatchBench: Bench = {
  name: 'dispatch',
  description: 'no-op tasks through a real coordinator (DuckDB persisted) with 50 and 500 protocol-level workers',
  async run(ctx) {
    const tasks = ctx.quick ? 5_000 : 20_000;
    // Single runs on 2 shared cores vary by +-15%: the figures are medians of interleaved rounds.
    const rounds = ctx.quick ? 1 : ROUNDS;
    const figures: Figure[] = [];
    const noRedis = await redisAnswers();
    if (noRedis) ctx.log(`dispatch: dispatch_vs_bullmq_ratio skipped: ${noRedis}`);
    // One uncounted round of each first: the first run in a process also pays for JIT compilation and
    // heap growth (it measured up to 30% below the next).
    await measureDrmDispatch(50, WARM_UP_TASKS);
    if (!noRedis) await measureBullmq(50, SLOTS, WARM_UP_TASKS);
    for (const workers of [50, 500]) {
      const drm: Array<Awaited<ReturnType<typeof measureDrmDispatch>>> = [];
      const bull: number[] = [];
      const ceiling: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const r = await measureDrmDispatch(workers, tasks);
        ctx.log(`dispatch: drm, ${workers} workers x ${SLOTS} slots, ${tasks} tasks in ${round(r.elapsedMs)} ms`);
        drm.push(r);
        const c = await measureProtocolCeiling(workers, SLOTS, tasks);
        ctx.log(`dispatch: protocol alone (no scheduler, no store), ${workers} workers x ${SLOTS} slots, ${tasks} tasks in ${round(c.elapsedMs)} ms`);
        ceiling.push(c.tasksPerSec);
        if (noRedis) continue;
        const b = await measureBullmq(workers, SLOTS, tasks);
        ctx.log(`dispatch: BullMQ, ${workers} workers x ${SLOTS} concurrency, ${tasks} jobs in ${round(b.elapsedMs)} ms`);
        bull.push(b.tasksPerSec);
      }
      const perSec = median(drm.map((r) => r.tasksPerSec));
      const rates = (values: number[]) => values.map((v) => round(v, 0));
      figures.push({
        bench: 'dispatch_tasks_per_s',
        value: round(perSec, 0),
        unit: 'tasks/s',
        workers,
        slotsPerWorker: SLOTS,
        tasks,
        rounds: rates(drm.map((r) => r.tasksPerSec)),
        acknowledgedTasksPerSec: round(median(drm.map((r) => r.acknowledgedTasksPerSec)), 0),
        goal: '>= 10000',
      });
      const ceilingPerSec = median(ceiling);
      figures.push({ bench: 'dispatch_protocol_ceiling_tasks_per_s', value: round(ceilingPerSec, 0), unit: 'tasks/s', workers, slotsPerWorker: SLOTS, tasks, rounds: rates(ceiling), drmShare: round(perSec / ceilingPerSec) });
      if (noRedis) continue;
      const baseline = median(bull);
      // protocolCeilingRatio: the best ratio any coordinator speaking this protocol could reach here.
      figures.push({ bench: 'dispatch_vs_bullmq_ratio', value: round(perSec / baseline), unit: 'ratio', baseline: round(baseline, 0), baselineUnit: 'tasks/s', baselineName: 'BullMQ tasks/s (Redis)', baselineRounds: rates(bull), drmTasksPerSec: round(perSec, 0), workers, tasks, goal: '>= 2', protocolCeilingRatio: round(ceilingPerSec / baseline) });
    }
    return figures;
  },
};
