import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/open.js';
import type { AttemptRecord, Change, Store, TaskHistoryRecord, TaskRecord } from '../src/store/store.js';
import { median, round, type Bench, type Figure } from './figures.js';

// store_write_tasks_per_s: the store's share of persisted dispatch, per backend. For each batch of
// tasks, the two writes the coordinator makes: a scheduling cycle's assignment (an attempt insert and
// a task update per task) and a group commit of the results (attempt running, task running, attempt
// finished, history row, task finished, per task). Tasks/s = tasks / (time spent in those writes +
// the time after the last one until the tables hold them all): what the coordinator could dispatch if
// persisting were all it did. DuckDB on a file (as `drm` runs it, with its write journal), and
// PostgreSQL in a throwaway schema when it answers at DRM_PG_URL.

const PG_URL = process.env.DRM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Tasks per scheduling cycle and per group commit. */
const BATCH = 200;
/** Batches run before timing: the first writes create the DuckDB staging tables. */
const WARMUP_BATCHES = 2;
const T0 = 1_760_000_000_000;

function task(i: number): TaskRecord {
  const resources = { cpu: 1, memoryMb: 64, gpus: 0, gpuMemoryMb: 0 };
  return {
    id: `t${i}`, runId: 'run', seq: i + 1, name: `noop-${i}`, kind: 'command', command: ['true'], env: {}, cwd: null,
    declaredResources: resources, resources, labels: {}, priority: 0, timeoutSec: 60, maxRetries: 0, dependsOn: [],
    suite: null, modelType: null, modelName: null, batchSize: null, state: 'pending', attempts: 0, currentAttemptId: null,
    workerId: null, workerType: null, createdAt: T0, startedAt: null, finishedAt: null, durationMs: null, exitCode: null,
    peakMemoryMb: null, cpuSeconds: null, reason: null, stdoutTail: null, stderrTail: null,
  };
}

function attempt(i: number): AttemptRecord {
  return {
    id: `a${i}`, taskId: `t${i}`, workerId: `w${i % 50}`, workerType: 'cpu', state: 'assigned', gpuIndices: [], assignedAt: T0 + 1,
    startedAt: null, finishedAt: null, pid: null, exitCode: null, durationMs: null, peakMemoryMb: null, cpuSeconds: null,
    reason: null, stdoutTail: null, stderrTail: null,
  };
}

function history(i: number): TaskHistoryRecord {
  return {
    attemptId: `a${i}`, taskId: `t${i}`, name: `noop-${i}`, kind: 'command', modelType: null, modelName: null, batchSize: null,
    labels: {}, workerType: 'cpu', succeeded: true, durationMs: 1, peakMemoryMb: 10, cpuSeconds: 0, gpuMemoryMb: null,
    predictedDurationMs: null, predictedMemoryMb: null, finishedAt: T0 + 3,
  };
}

/** The scheduling cycle's write: one attempt per task, and the task assigned to it. */
function assignWrite(ids: readonly number[]): Change[] {
  return ids.flatMap((i): Change[] => [
    { kind: 'attemptInsert', attempt: attempt(i) },
    { kind: 'taskUpdate', id: `t${i}`, patch: { state: 'assigned', attempts: 1, currentAttemptId: `a${i}`, workerId: `w${i % 50}`, workerType: 'cpu', reason: null } },
  ]);
}

/** The group commit's write: each task started and finished within it. */
function resultWrite(ids: readonly number[]): Change[] {
  return ids.flatMap((i): Change[] => [
    { kind: 'attemptUpdate', id: `a${i}`, patch: { state: 'running', startedAt: T0 + 2, pid: 1000 + i } },
    { kind: 'taskUpdate', id: `t${i}`, patch: { state: 'running', startedAt: T0 + 2 } },
    {
      kind: 'attemptUpdate',
      id: `a${i}`,
      patch: { state: 'succeeded', finishedAt: T0 + 3, exitCode: 0, durationMs: 1, peakMemoryMb: 10, cpuSeconds: 0, reason: null, stdoutTail: '', stderrTail: '' },
    },
    { kind: 'taskHistory', row: history(i) },
    {
      kind: 'taskUpdate',
      id: `t${i}`,
      patch: { state: 'succeeded', finishedAt: T0 + 3, durationMs: 1, exitCode: 0, peakMemoryMb: 10, cpuSeconds: 0, stdoutTail: '', stderrTail: '', reason: null },
    },
  ]);
}

export interface StoreWriteResult {
  tasksPerSec: number;
  /** Mean time of one batch's assignment write and result write. */
  assignMs: number;
  resultMs: number;
  /** After the last write, until the tables hold every change (DuckDB's journal applying what is pending). */
  catchUpMs: number;
  /** CPU time of the whole process (every thread: DuckDB's too) per task, from the first timed write until caught up. */
  cpuUsPerTask: number;
}

/** Submits batches x BATCH tasks to a migrated, empty store, then times their assignment and result writes. */
export async function measureStoreWrites(store: Store, batches: number): Promise<StoreWriteResult> {
  const total = (WARMUP_BATCHES + batches) * BATCH;
  await store.write([
    { kind: 'runInsert', run: { id: 'run', name: 'store-writes', state: 'running', createdAt: T0, startedAt: T0, finishedAt: null } },
    ...Array.from({ length: total }, (_, i): Change => ({ kind: 'taskInsert', task: task(i) })),
  ]);
  let cpuFrom = process.cpuUsage();
  let assignMs = 0;
  let resultMs = 0;
  for (let b = 0; b < WARMUP_BATCHES + batches; b++) {
    const ids = Array.from({ length: BATCH }, (_, i) => b * BATCH + i);
    const assign = assignWrite(ids);
    const result = resultWrite(ids);
    if (b === WARMUP_BATCHES) cpuFrom = process.cpuUsage();
    const started = performance.now();
    await store.write(assign);
    const assigned = performance.now();
    await store.write(result);
    const finished = performance.now();
    if (b < WARMUP_BATCHES) continue;
    assignMs += assigned - started;
    resultMs += finished - assigned;
  }
  // A read through the store waits until the tables hold every acknowledged write: writes count as
  // persisted once they are in the tables, not only in DuckDB's write journal.
  const caughtUp = performance.now();
  await store.listWorkers();
  const catchUpMs = performance.now() - caughtUp;
  const cpu = process.cpuUsage(cpuFrom);
  return {
    tasksPerSec: (batches * BATCH * 1000) / (assignMs + resultMs + catchUpMs),
    assignMs: assignMs / batches,
    resultMs: resultMs / batches,
    catchUpMs,
    cpuUsPerTask: (cpu.user + cpu.system) / (batches * BATCH),
  };
}

/** Runs `reps` measurements on fresh stores; the figure is their median. */
async function figure(backend: string, reps: number, batches: number, open: () => Promise<{ store: Store; dispose: () => Promise<void> }>, log: (line: string) => void): Promise<Figure> {
  const results: StoreWriteResult[] = [];
  for (let r = 0; r < reps; r++) {
    const { store, dispose } = await open();
    try {
      results.push(await measureStoreWrites(store, batches));
    } finally {
      await store.close();
      await dispose();
    }
    const last = results[results.length - 1];
    log(`store-writes: ${backend}: ${round(last.tasksPerSec, 0)} tasks/s (per ${BATCH} tasks: assign ${round(last.assignMs)} ms, results ${round(last.resultMs)} ms; tables caught up ${round(last.catchUpMs)} ms after the last write)`);
  }
  const rates = results.map((r) => r.tasksPerSec);
  return {
    bench: 'store_write_tasks_per_s',
    value: round(median(rates), 0),
    unit: 'tasks/s',
    backend,
    batch: BATCH,
    batches,
    min: round(Math.min(...rates), 0),
    max: round(Math.max(...rates), 0),
    assignMs: round(median(results.map((r) => r.assignMs))),
    resultMs: round(median(results.map((r) => r.resultMs))),
    catchUpMs: round(median(results.map((r) => r.catchUpMs))),
    cpuUsPerTask: round(median(results.map((r) => r.cpuUsPerTask)), 0),
    goal: '>= 10000',
  };
}

export const storeWritesBench: Bench = {
  name: 'store-writes',
  description: `the store's writes per dispatched task (assignment + result group commit, ${BATCH} tasks a batch), DuckDB file and PostgreSQL`,
  async run(ctx) {
    const reps = ctx.quick ? 1 : 3;
    const batches = ctx.quick ? 10 : 40;
    const figures: Figure[] = [];
    figures.push(
      await figure('duckdb-file', reps, batches, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'drm-store-writes-'));
        return { store: await openStore(join(dir, 'drm.duckdb')), dispose: () => rm(dir, { recursive: true, force: true }) };
      }, ctx.log),
    );

    const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await admin.connect();
    } catch (err) {
      ctx.log(`store-writes: PostgreSQL skipped, it does not answer at ${PG_URL}: ${(err as Error).message}`);
      await admin.end().catch(() => undefined);
      return figures;
    }
    try {
      figures.push(
        await figure('postgres', reps, batches, async () => {
          const schema = `drm_bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
          await admin.query(`CREATE SCHEMA ${schema}`);
          const url = new URL(PG_URL);
          url.searchParams.set('options', `-c search_path=${schema}`);
          try {
            return { store: await openStore(url.toString()), dispose: async () => void (await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
          } catch (error) {
            await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
            throw error;
          }
        }, ctx.log),
      );
    } finally {
      await admin.end();
    }
    return figures;
  },
};
