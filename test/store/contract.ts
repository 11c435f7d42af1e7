import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/store/store.js';
import type {
  AttemptRecord,
  Change,
  RunRecord,
  ScalingDecisionRecord,
  Store,
  TaskHistoryRecord,
  TaskRecord,
  UsageSampleRecord,
  WorkerRecord,
} from '../../src/store/store.js';

// The behaviour every Store backend must show. A backend's test file calls storeContract with a factory
// that returns a fresh, empty, not yet migrated store each time.
//
// Records are compared with toStrictEqual: null vs undefined and absent vs undefined-valued keys matter,
// because callers serialize these records straight into API responses and reports.

const T0 = 1_760_000_000_000;

export function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return { id: 'run-1', name: 'suite-a', state: 'running', createdAt: T0, startedAt: null, finishedAt: null, ...overrides };
}

/** A task with every optional field empty. */
export function task(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: 'task-1',
    runId: 'run-1',
    seq: 1,
    name: 'unit-math',
    kind: 'test',
    command: ['node', '--test'],
    env: {},
    cwd: null,
    declaredResources: null,
    resources: { cpu: 1, memoryMb: 512, gpus: 0, gpuMemoryMb: 0 },
    labels: {},
    priority: 0,
    timeoutSec: 600,
    maxRetries: 0,
    dependsOn: [],
    suite: null,
    modelType: null,
    modelName: null,
    batchSize: null,
    state: 'pending',
    attempts: 0,
    currentAttemptId: null,
    workerId: null,
    workerType: null,
    createdAt: T0,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    exitCode: null,
    peakMemoryMb: null,
    cpuSeconds: null,
    reason: null,
    stdoutTail: null,
    stderrTail: null,
    ...overrides,
  };
}

/** A task with every field set, to the awkward values: fractions, custom resources, unicode, quotes. */
export function fullTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return task({
    id: 'task-full',
    seq: 2,
    name: 'llm-gpu',
    kind: 'benchmark',
    command: ['node', 'bench/generate.js', '--prompt', 'say "hi" \\ ünïcödé 🚀', ''],
    env: { CUDA_VISIBLE_DEVICES: '0', QUOTE: `it's "quoted"` },
    cwd: '/tmp/work dir',
    declaredResources: { cpu: 0.25, memoryMb: 8192.5, gpus: 1, gpuMemoryMb: 8000, custom: { license: 2, 'fpga.slots': 0.5 } },
    resources: { cpu: 0.25, memoryMb: 8192.5, gpus: 1, gpuMemoryMb: 8000, custom: { license: 2, 'fpga.slots': 0.5 } },
    labels: { team: 'ml', 'ci/stage': 'nightly' },
    priority: -5,
    timeoutSec: 90.5,
    maxRetries: 3,
    dependsOn: ['task-1', 'task-0'],
    suite: 'example',
    modelType: 'text_generation',
    modelName: 'tiny-llm',
    batchSize: 16,
    state: 'succeeded',
    attempts: 2,
    currentAttemptId: 'att-2',
    workerId: 'w-gpu',
    workerType: 'gpu',
    startedAt: T0 + 1_000,
    finishedAt: T0 + 61_000,
    durationMs: 60_000.75,
    exitCode: 0,
    peakMemoryMb: 7000.125,
    cpuSeconds: 12.5,
    reason: 'retried after worker loss',
    stdoutTail: 'ok ✓ 完了 — résumé\nline 2\ttab "q" \'s\' \\ 🎉',
    stderrTail: '',
    ...overrides,
  });
}

export function attempt(overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    id: 'att-1',
    taskId: 'task-1',
    workerId: 'w-1',
    workerType: 'cpu',
    state: 'assigned',
    gpuIndices: [],
    assignedAt: T0 + 10,
    startedAt: null,
    finishedAt: null,
    pid: null,
    exitCode: null,
    durationMs: null,
    peakMemoryMb: null,
    cpuSeconds: null,
    reason: null,
    stdoutTail: null,
    stderrTail: null,
    ...overrides,
  };
}

export function worker(overrides: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    id: 'w-1',
    type: 'cpu',
    provider: 'local',
    resources: { cpu: 4, memoryMb: 16384, gpus: 0, gpuMemoryMb: 0 },
    labels: {},
    state: 'connecting',
    registeredAt: T0,
    lastSeenAt: T0,
    ...overrides,
  };
}

export function decision(overrides: Partial<ScalingDecisionRecord> = {}): ScalingDecisionRecord {
  return {
    id: 'dec-1',
    at: T0,
    action: 'maintain',
    workerType: null,
    count: 0,
    workerIds: [],
    reason: 'utilization within thresholds',
    utilization: { cpu: 0.5, memory: 0.25, gpu: 0, overall: 0.375 },
    pendingDemand: { cpu: 0, memoryMb: 0, gpus: 0, gpuMemoryMb: 0 },
    executed: false,
    ...overrides,
  };
}

export function history(overrides: Partial<TaskHistoryRecord> = {}): TaskHistoryRecord {
  return {
    attemptId: 'att-1',
    taskId: 'task-1',
    name: 'embed-bench',
    kind: 'benchmark',
    modelType: 'text_embedding',
    modelName: null,
    batchSize: 16,
    labels: {},
    workerType: 'cpu',
    succeeded: true,
    durationMs: 1234.5,
    peakMemoryMb: 300.25,
    cpuSeconds: 2.75,
    gpuMemoryMb: null,
    predictedDurationMs: null,
    predictedMemoryMb: null,
    finishedAt: T0,
    ...overrides,
  };
}

const ids = (records: readonly { id: string }[]) => records.map((r) => r.id);

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('migrate', () => {
      it('is idempotent and keeps data', async () => {
        await store.write([{ kind: 'runInsert', run: run() }]);
        await store.migrate();
        await store.migrate();
        expect(await store.getRun('run-1')).toStrictEqual(run());
        await store.write([{ kind: 'taskInsert', task: task() }]);
        expect(await store.getTask('task-1')).toStrictEqual(task());
      });
    });

    describe('runs and tasks', () => {
      it('inserts a run and its tasks in one write and reads them back unchanged', async () => {
        const tasks = [task(), fullTask()];
        await store.write([{ kind: 'runInsert', run: run() }, ...tasks.map((t): Change => ({ kind: 'taskInsert', task: t }))]);
        expect(await store.getRun('run-1')).toStrictEqual(run());
        expect(await store.getTask('task-1')).toStrictEqual(task());
        expect(await store.getTask('task-full')).toStrictEqual(fullTask());
        expect(await store.listTasks()).toStrictEqual(tasks);
      });

      it('reads back a large batch of varied tasks unchanged (bulk insert path)', async () => {
        const tasks = Array.from({ length: 40 }, (_, i) =>
          i % 2 === 0
            ? task({ id: `t-${i}`, seq: i + 1, resources: { cpu: i / 8, memoryMb: 100 + i, gpus: i % 3, gpuMemoryMb: i * 0.5 } })
            : fullTask({ id: `t-${i}`, seq: i + 1, stdoutTail: `row ${i} ✓ 🚀`, exitCode: i === 1 ? -1 : 137 }),
        );
        await store.write([{ kind: 'runInsert', run: run() }, ...tasks.map((t): Change => ({ kind: 'taskInsert', task: t }))]);
        expect(await store.listTasks()).toStrictEqual(tasks);
        expect(await store.getTask('t-3')).toStrictEqual(tasks[3]);
      });

      it('keeps times and seq beyond 32 bits, and an empty custom resources object', async () => {
        const t = task({
          seq: 2 ** 40,
          createdAt: 4_102_444_800_000,
          resources: { cpu: 0.1, memoryMb: 0.5, gpus: 0, gpuMemoryMb: 0, custom: {} },
        });
        await store.write([{ kind: 'taskInsert', task: t }]);
        expect(await store.getTask(t.id)).toStrictEqual(t);
        expect(await store.maxTaskSeq()).toBe(2 ** 40);
      });

      it('updates only the fields a task patch names', async () => {
        await store.write([{ kind: 'taskInsert', task: fullTask() }]);
        await store.write([
          {
            kind: 'taskUpdate',
            id: 'task-full',
            patch: {
              state: 'running',
              workerId: null,
              exitCode: null,
              resources: { cpu: 2.5, memoryMb: 1024, gpus: 0, gpuMemoryMb: 0 },
              labels: { changed: 'yes' },
              stdoutTail: undefined,
            },
          },
        ]);
        expect(await store.getTask('task-full')).toStrictEqual(
          fullTask({
            state: 'running',
            workerId: null,
            exitCode: null,
            resources: { cpu: 2.5, memoryMb: 1024, gpus: 0, gpuMemoryMb: 0 },
            labels: { changed: 'yes' },
          }),
        );
        await store.write([{ kind: 'taskUpdate', id: 'task-full', patch: { declaredResources: null, dependsOn: [] } }]);
        const after = await store.getTask('task-full');
        expect(after?.declaredResources).toBeNull();
        expect(after?.dependsOn).toStrictEqual([]);
        expect(after?.state).toBe('running');
      });

      it('applies several updates to the same task in one write, in order', async () => {
        await store.write([
          { kind: 'taskInsert', task: task() },
          { kind: 'taskUpdate', id: 'task-1', patch: { state: 'assigned', attempts: 1, currentAttemptId: 'att-1' } },
          { kind: 'taskUpdate', id: 'task-1', patch: { state: 'running', startedAt: T0 + 5 } },
          { kind: 'taskUpdate', id: 'task-1', patch: { state: 'succeeded', finishedAt: T0 + 9, exitCode: 0 } },
        ]);
        expect(await store.getTask('task-1')).toStrictEqual(
          task({ state: 'succeeded', attempts: 1, currentAttemptId: 'att-1', startedAt: T0 + 5, finishedAt: T0 + 9, exitCode: 0 }),
        );
        expect(await store.listTasks({ states: ['pending'] })).toStrictEqual([]);
      });

      it('applies a scheduling cycle\'s worth of interleaved attempt inserts and task updates to many rows', async () => {
        const n = 300;
        await store.write([{ kind: 'runInsert', run: run() }, ...Array.from({ length: n }, (_, i) => ({ kind: 'taskInsert' as const, task: task({ id: `t${i}`, seq: i + 1 }) }))]);
        const cycle = Array.from({ length: n }, (_, i) => [
          { kind: 'attemptInsert' as const, attempt: attempt({ id: `a${i}`, taskId: `t${i}` }) },
          { kind: 'taskUpdate' as const, id: `t${i}`, patch: { state: 'assigned' as const, attempts: 1, currentAttemptId: `a${i}`, workerId: i % 2 ? 'w1' : null } },
        ]).flat();
        await store.write(cycle);
        const done = Array.from({ length: n }, (_, i) => [
          { kind: 'attemptUpdate' as const, id: `a${i}`, patch: { state: 'succeeded' as const, exitCode: i % 3 === 0 ? null : 0 } },
          { kind: 'taskUpdate' as const, id: `t${i}`, patch: { state: 'succeeded' as const, exitCode: i % 3 === 0 ? null : 0 } },
        ]).flat();
        await store.write(done);
        const tasks = await store.listTasks();
        expect(tasks).toHaveLength(n);
        for (const [i, t] of tasks.entries()) {
          expect(t).toStrictEqual(task({ id: `t${i}`, seq: i + 1, state: 'succeeded', attempts: 1, currentAttemptId: `a${i}`, workerId: i % 2 ? 'w1' : null, exitCode: i % 3 === 0 ? null : 0 }));
        }
        expect((await store.getAttempt('a7'))!.state).toBe('succeeded');
      });

      it('updates only the fields a run patch names; lists runs newest first', async () => {
        await store.write([
          { kind: 'runInsert', run: run() },
          { kind: 'runInsert', run: run({ id: 'run-2', name: 'suite-b', createdAt: T0 + 100 }) },
          { kind: 'runInsert', run: run({ id: 'run-3', name: 'suite-c', createdAt: T0 + 50 }) },
        ]);
        await store.write([{ kind: 'runUpdate', id: 'run-1', patch: { state: 'succeeded', finishedAt: T0 + 999 } }]);
        expect(await store.getRun('run-1')).toStrictEqual(run({ state: 'succeeded', finishedAt: T0 + 999 }));
        expect(ids(await store.listRuns())).toStrictEqual(['run-2', 'run-3', 'run-1']);
        expect(ids(await store.listRuns(2))).toStrictEqual(['run-2', 'run-3']);
      });

      it('treats an empty patch as a no-op', async () => {
        await store.write([{ kind: 'runInsert', run: run() }]);
        await store.write([{ kind: 'runUpdate', id: 'run-1', patch: {} }]);
        expect(await store.getRun('run-1')).toStrictEqual(run());
      });
    });

    describe('batched writes', () => {
      // A write groups its changes by table and columns set; large groups take a backend's bulk path
      // (DuckDB: a staging table per columns set, reused across writes), small ones a per-row path.
      const tasks = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => task({ id: `${prefix}${i}`, seq: i + 1 }));
      const insert = (ts: TaskRecord[]): Change[] => ts.map((t) => ({ kind: 'taskInsert', task: t }));

      it('applies several patches to one row as if one after the other, interleaved with other rows', async () => {
        await store.write(insert(tasks(20)));
        const changes: Change[] = [];
        for (let i = 0; i < 20; i++) changes.push({ kind: 'taskUpdate', id: `t${i}`, patch: { state: 'running', workerId: 'w1', exitCode: 3 } });
        for (let i = 0; i < 20; i++) {
          // undefined leaves the earlier patch's value; null replaces it.
          changes.push({ kind: 'taskUpdate', id: `t${i}`, patch: { workerId: undefined, exitCode: null, reason: i % 2 ? 'odd' : null } });
        }
        changes.push({ kind: 'taskUpdate', id: 't5', patch: { state: 'failed', workerId: 'w2' } });
        await store.write(changes);
        const got = await store.listTasks();
        expect(got).toStrictEqual(
          tasks(20).map((t, i) => ({ ...t, state: i === 5 ? 'failed' : 'running', workerId: i === 5 ? 'w2' : 'w1', exitCode: null, reason: i % 2 ? 'odd' : null })),
        );
      });

      it('keeps a patch after an upsert of the same row after it', async () => {
        const ws = Array.from({ length: 5 }, (_, i) => worker({ id: `w${i}`, registeredAt: T0 + i }));
        await store.write(ws.map((w): Change => ({ kind: 'workerUpsert', worker: w })));
        await store.write([
          ...ws.map((w): Change => ({ kind: 'workerUpdate', id: w.id, patch: { state: 'draining' } })),
          ...ws.map((w): Change => ({ kind: 'workerUpsert', worker: { ...w, labels: { again: 'yes' } } })),
          ...ws.map((w): Change => ({ kind: 'workerUpdate', id: w.id, patch: { state: 'lost' } })),
        ]);
        expect(await store.listWorkers()).toStrictEqual(ws.map((w) => ({ ...w, labels: { again: 'yes' }, state: 'lost' })));
      });

      it('changes only the rows each write names when consecutive writes set the same columns', async () => {
        await store.write(insert(tasks(30)));
        for (let w = 0; w < 3; w++) {
          await store.write(
            Array.from({ length: 10 }, (_, i): Change => ({ kind: 'taskUpdate', id: `t${w * 10 + i}`, patch: { state: 'assigned', workerId: `w${w}` } })),
          );
          // A small write of the same columns between large ones: no later write may undo it.
          if (w === 0) await store.write([{ kind: 'taskUpdate', id: 't0', patch: { state: 'running', workerId: 'solo' } }]);
        }
        const got = await store.listTasks();
        expect(got.map((t) => `${t.id}:${t.state}:${t.workerId}`)).toStrictEqual(
          tasks(30).map((t, i) => (i === 0 ? 't0:running:solo' : `${t.id}:assigned:w${Math.floor(i / 10)}`)),
        );
      });

      it('stores nothing from a failed write after a bulk update, and the next write is unaffected by it', async () => {
        await store.write([{ kind: 'runInsert', run: run() }, ...insert(tasks(10))]);
        await expect(
          store.write([
            ...tasks(10).map((t): Change => ({ kind: 'taskUpdate', id: t.id, patch: { state: 'assigned', workerId: 'doomed' } })),
            { kind: 'runInsert', run: run() },
          ]),
        ).rejects.toThrow();
        expect(await store.listTasks()).toStrictEqual(tasks(10));
        await store.write(['t3', 't4', 't5'].map((id): Change => ({ kind: 'taskUpdate', id, patch: { state: 'assigned', workerId: 'ok' } })));
        expect((await store.listTasks()).map((t) => t.workerId)).toStrictEqual([null, null, null, 'ok', 'ok', 'ok', null, null, null, null]);
      });

      it('fails a bulk update naming a missing id, storing nothing', async () => {
        await store.write(insert(tasks(10)));
        const changes = tasks(10).map((t): Change => ({ kind: 'taskUpdate', id: t.id, patch: { state: 'running' } }));
        changes.splice(4, 0, { kind: 'taskUpdate', id: 'ghost-task', patch: { state: 'running' } });
        await expect(store.write([{ kind: 'runInsert', run: run() }, ...changes])).rejects.toThrow(/ghost-task/);
        expect(await store.listTasks()).toStrictEqual(tasks(10));
        expect(await store.getRun('run-1')).toBeUndefined();
      });

      it('persists a whole dispatch cycle: assignment, then start and finish in one group commit', async () => {
        const n = 250;
        await store.write([{ kind: 'runInsert', run: run() }, ...insert(tasks(n))]);
        await store.write(
          tasks(n).flatMap((t, i): Change[] => [
            { kind: 'attemptInsert', attempt: attempt({ id: `a${i}`, taskId: t.id }) },
            { kind: 'taskUpdate', id: t.id, patch: { state: 'assigned', attempts: 1, currentAttemptId: `a${i}`, workerId: 'w-1', workerType: 'cpu' } },
          ]),
        );
        await store.write(
          tasks(n).flatMap((t, i): Change[] => [
            { kind: 'attemptUpdate', id: `a${i}`, patch: { state: 'running', startedAt: T0 + 20, pid: 100 + i } },
            { kind: 'taskUpdate', id: t.id, patch: { state: 'running', startedAt: T0 + 20 } },
            { kind: 'attemptUpdate', id: `a${i}`, patch: { state: i % 7 ? 'succeeded' : 'failed', finishedAt: T0 + 30, exitCode: i % 7 ? 0 : 1, stdoutTail: `out ${i}` } },
            { kind: 'taskHistory', row: history({ attemptId: `a${i}`, taskId: t.id, finishedAt: T0 + 30 + i }) },
            { kind: 'taskUpdate', id: t.id, patch: { state: i % 7 ? 'succeeded' : 'failed', finishedAt: T0 + 30, exitCode: i % 7 ? 0 : 1 } },
          ]),
        );
        const got = await store.listTasks();
        expect(got).toStrictEqual(
          tasks(n).map((t, i) => ({
            ...t,
            state: i % 7 ? 'succeeded' : 'failed',
            attempts: 1,
            currentAttemptId: `a${i}`,
            workerId: 'w-1',
            workerType: 'cpu',
            startedAt: T0 + 20,
            finishedAt: T0 + 30,
            exitCode: i % 7 ? 0 : 1,
          })),
        );
        expect(await store.getAttempt('a7')).toStrictEqual(
          attempt({ id: 'a7', taskId: 't7', state: 'failed', startedAt: T0 + 20, pid: 107, finishedAt: T0 + 30, exitCode: 1, stdoutTail: 'out 7' }),
        );
        expect(await store.listTaskHistory({ limit: 1 })).toStrictEqual([history({ attemptId: `a${n - 1}`, taskId: `t${n - 1}`, finishedAt: T0 + 30 + n - 1 })]);
      });
    });

    describe('listTasks and maxTaskSeq', () => {
      beforeEach(async () => {
        await store.write([
          { kind: 'taskInsert', task: task({ id: 'a', seq: 3, runId: 'r1', state: 'pending' }) },
          { kind: 'taskInsert', task: task({ id: 'b', seq: 1, runId: 'r1', state: 'running' }) },
          { kind: 'taskInsert', task: task({ id: 'c', seq: 2, runId: 'r2', state: 'pending' }) },
          { kind: 'taskInsert', task: task({ id: 'd', seq: 5, runId: 'r2', state: 'failed' }) },
          { kind: 'taskInsert', task: task({ id: 'e', seq: 4, runId: 'r1', state: 'pending' }) },
        ]);
      });

      it('returns every task in seq order without a filter', async () => {
        expect(ids(await store.listTasks())).toStrictEqual(['b', 'c', 'a', 'e', 'd']);
        expect(ids(await store.listTasks({}))).toStrictEqual(['b', 'c', 'a', 'e', 'd']);
      });

      it('filters by states, by run, and by both', async () => {
        expect(ids(await store.listTasks({ states: ['pending'] }))).toStrictEqual(['c', 'a', 'e']);
        expect(ids(await store.listTasks({ states: ['running', 'failed'] }))).toStrictEqual(['b', 'd']);
        expect(ids(await store.listTasks({ runId: 'r2' }))).toStrictEqual(['c', 'd']);
        expect(ids(await store.listTasks({ runId: 'r1', states: ['pending'] }))).toStrictEqual(['a', 'e']);
        expect(await store.listTasks({ runId: 'nope' })).toStrictEqual([]);
        expect(await store.listTasks({ states: [] })).toStrictEqual([]);
      });

      it('returns the newest first when a limit is given', async () => {
        expect(ids(await store.listTasks({ limit: 2 }))).toStrictEqual(['d', 'e']);
        expect(ids(await store.listTasks({ limit: 10, states: ['pending'] }))).toStrictEqual(['e', 'a', 'c']);
        expect(ids(await store.listTasks({ limit: 1, runId: 'r1', states: ['pending', 'running'] }))).toStrictEqual(['e']);
        expect(await store.listTasks({ limit: 0 })).toStrictEqual([]);
      });

      it('reports the highest seq', async () => {
        expect(await store.maxTaskSeq()).toBe(5);
      });
    });

    it('reports seq 0 for an empty store', async () => {
      expect(await store.maxTaskSeq()).toBe(0);
    });

    describe('attempts', () => {
      it('inserts, patches only the named fields, and lists a task\'s attempts oldest first', async () => {
        const a1 = attempt();
        const a2 = attempt({ id: 'att-2', assignedAt: T0 + 20, workerId: 'w-gpu', workerType: 'gpu', gpuIndices: [0, 3] });
        await store.write([
          { kind: 'attemptInsert', attempt: a2 },
          { kind: 'attemptInsert', attempt: a1 },
          { kind: 'attemptInsert', attempt: attempt({ id: 'att-x', taskId: 'other' }) },
        ]);
        expect(await store.getAttempt('att-2')).toStrictEqual(a2);
        expect(await store.listAttempts('task-1')).toStrictEqual([a1, a2]);

        await store.write([
          { kind: 'attemptUpdate', id: 'att-1', patch: { state: 'running', startedAt: T0 + 11, pid: 4242 } },
          {
            kind: 'attemptUpdate',
            id: 'att-1',
            patch: {
              state: 'failed',
              finishedAt: T0 + 99,
              exitCode: 1,
              durationMs: 88.5,
              peakMemoryMb: 12.25,
              cpuSeconds: 0.5,
              stderrTail: 'Error: boom ✗',
            },
          },
          { kind: 'attemptUpdate', id: 'att-2', patch: { state: 'lost', reason: 'worker lost' } },
        ]);
        expect(await store.getAttempt('att-1')).toStrictEqual(
          attempt({
            state: 'failed',
            startedAt: T0 + 11,
            pid: 4242,
            finishedAt: T0 + 99,
            exitCode: 1,
            durationMs: 88.5,
            peakMemoryMb: 12.25,
            cpuSeconds: 0.5,
            stderrTail: 'Error: boom ✗',
          }),
        );
        expect(await store.getAttempt('att-2')).toStrictEqual({ ...a2, state: 'lost', reason: 'worker lost' });
        expect(await store.listAttempts('unknown')).toStrictEqual([]);
      });
    });

    describe('workers', () => {
      it('upserts: inserts, then replaces the same id', async () => {
        const w = worker({ labels: { zone: 'a' } });
        await store.write([{ kind: 'workerUpsert', worker: w }]);
        expect(await store.listWorkers()).toStrictEqual([w]);

        const again = worker({
          state: 'active',
          lastSeenAt: T0 + 500,
          resources: { cpu: 7.5, memoryMb: 32768, gpus: 2, gpuMemoryMb: 48000, custom: { license: 1 } },
          labels: {},
        });
        await store.write([{ kind: 'workerUpsert', worker: again }]);
        expect(await store.listWorkers()).toStrictEqual([again]);
      });

      it('upserts the same id twice in one write, and orders workers by registration', async () => {
        const gpu = worker({ id: 'w-gpu', type: 'gpu', registeredAt: T0 - 10 });
        await store.write([
          { kind: 'workerUpsert', worker: worker() },
          { kind: 'workerUpsert', worker: gpu },
          { kind: 'workerUpsert', worker: worker({ state: 'active' }) },
        ]);
        expect(await store.listWorkers()).toStrictEqual([gpu, worker({ state: 'active' })]);
      });

      it('updates only the fields a worker patch names', async () => {
        await store.write([{ kind: 'workerUpsert', worker: worker({ labels: { zone: 'a' } }) }]);
        await store.write([{ kind: 'workerUpdate', id: 'w-1', patch: { state: 'lost', lastSeenAt: T0 + 42 } }]);
        expect(await store.listWorkers()).toStrictEqual([worker({ labels: { zone: 'a' }, state: 'lost', lastSeenAt: T0 + 42 })]);
      });
    });

    describe('write atomicity', () => {
      it('stores nothing from a write whose second change violates a primary key', async () => {
        await store.write([{ kind: 'runInsert', run: run() }]);
        await expect(
          store.write([
            { kind: 'runInsert', run: run({ id: 'run-new' }) },
            { kind: 'runInsert', run: run({ name: 'duplicate' }) },
          ]),
        ).rejects.toThrow();
        expect(await store.getRun('run-new')).toBeUndefined();
        expect(await store.getRun('run-1')).toStrictEqual(run());
        expect(ids(await store.listRuns())).toStrictEqual(['run-1']);
      });

      it('rolls back updates and inserts of other kinds too', async () => {
        await store.write([{ kind: 'taskInsert', task: task() }, { kind: 'workerUpsert', worker: worker() }]);
        await expect(
          store.write([
            { kind: 'taskUpdate', id: 'task-1', patch: { state: 'assigned', workerId: 'w-1' } },
            { kind: 'attemptInsert', attempt: attempt() },
            { kind: 'workerUpdate', id: 'w-1', patch: { state: 'active' } },
            { kind: 'usageSamples', samples: [{ workerId: 'w-1', at: T0, cpu: 1, memoryMb: 2, gpus: null, gpuMemoryMb: null }] },
            { kind: 'taskInsert', task: task({ name: 'duplicate id' }) },
          ]),
        ).rejects.toThrow();
        expect(await store.getTask('task-1')).toStrictEqual(task());
        expect(await store.getAttempt('att-1')).toBeUndefined();
        expect(await store.listWorkers()).toStrictEqual([worker()]);
        expect(await store.listUsageSamples('w-1')).toStrictEqual([]);
      });

      it('stores nothing from a large batch containing one duplicate id', async () => {
        const tasks = Array.from({ length: 50 }, (_, i) => task({ id: `t-${i}`, seq: i + 1 }));
        tasks.push(task({ id: 't-7', seq: 99 }));
        await expect(store.write(tasks.map((t): Change => ({ kind: 'taskInsert', task: t })))).rejects.toThrow();
        expect(await store.listTasks()).toStrictEqual([]);
        expect(await store.maxTaskSeq()).toBe(0);
      });

      it('fails the whole write when an update names an unknown id', async () => {
        await expect(
          store.write([
            { kind: 'runInsert', run: run() },
            { kind: 'taskUpdate', id: 'no-such-task', patch: { state: 'running' } },
          ]),
        ).rejects.toThrow(/no-such-task/);
        expect(await store.getRun('run-1')).toBeUndefined();
        for (const change of [
          { kind: 'runUpdate', id: 'x', patch: { state: 'failed' } },
          { kind: 'attemptUpdate', id: 'x', patch: { state: 'lost' } },
          { kind: 'workerUpdate', id: 'x', patch: { state: 'lost' } },
        ] satisfies Change[]) {
          await expect(store.write([change])).rejects.toThrow(/"x"/);
        }
      });

      it('rejects a non-integer where the schema has an integer, storing nothing', async () => {
        await expect(
          store.write([
            { kind: 'runInsert', run: run() },
            { kind: 'taskInsert', task: task({ resources: { cpu: 1, memoryMb: 1, gpus: 0.5, gpuMemoryMb: 0 } }) },
          ]),
        ).rejects.toThrow(/gpus/);
        expect(await store.getRun('run-1')).toBeUndefined();
      });

      it('stays usable after a failed write', async () => {
        await expect(store.write([{ kind: 'runInsert', run: run() }, { kind: 'runInsert', run: run() }])).rejects.toThrow();
        await store.write([{ kind: 'runInsert', run: run() }]);
        expect(await store.getRun('run-1')).toStrictEqual(run());
      });

      it('accepts an empty write', async () => {
        await store.write([]);
        expect(await store.listRuns()).toStrictEqual([]);
      });

      it('serializes concurrent writes and reads without interleaving transactions', async () => {
        await store.write([{ kind: 'runInsert', run: run() }]);
        const writes: Promise<void>[] = [];
        const readsDuring: Promise<TaskRecord[]>[] = [];
        for (let i = 0; i < 30; i++) {
          writes.push(
            store.write([
              { kind: 'taskInsert', task: task({ id: `c-${i}`, seq: i + 1 }) },
              { kind: 'taskUpdate', id: `c-${i}`, patch: { state: 'assigned', attempts: 1 } },
              // Every third write fails on its last change; its task must not survive.
              ...(i % 3 === 2 ? [{ kind: 'runInsert', run: run() } as Change] : []),
            ]),
          );
          readsDuring.push(store.listTasks({ states: ['pending'] }));
        }
        const results = await Promise.allSettled(writes);
        expect(results.filter((r) => r.status === 'rejected')).toHaveLength(10);
        // No read may observe a task between its insert and its update in the same write.
        for (const pending of await Promise.all(readsDuring)) expect(pending).toStrictEqual([]);
        const stored = await store.listTasks();
        expect(stored).toHaveLength(20);
        expect(stored.every((t) => t.state === 'assigned' && Number(t.id.slice(2)) % 3 !== 2)).toBe(true);
      });
    });

    describe('usage samples', () => {
      it('lists one worker\'s samples oldest first, from sinceAt inclusive', async () => {
        const s = (at: number, extra: Partial<UsageSampleRecord> = {}): UsageSampleRecord => ({
          workerId: 'w-1',
          at,
          cpu: 0.75,
          memoryMb: 1024.5,
          gpus: null,
          gpuMemoryMb: null,
          ...extra,
        });
        await store.write([
          { kind: 'usageSamples', samples: [s(T0 + 20), s(T0), s(T0 + 10, { gpus: 0.5, gpuMemoryMb: 2048 })] },
          { kind: 'usageSamples', samples: [s(T0 + 5, { workerId: 'w-2' })] },
          { kind: 'usageSamples', samples: [] },
        ]);
        expect(await store.listUsageSamples('w-1')).toStrictEqual([s(T0), s(T0 + 10, { gpus: 0.5, gpuMemoryMb: 2048 }), s(T0 + 20)]);
        expect(await store.listUsageSamples('w-1', T0 + 10)).toStrictEqual([s(T0 + 10, { gpus: 0.5, gpuMemoryMb: 2048 }), s(T0 + 20)]);
        expect(await store.listUsageSamples('w-2')).toStrictEqual([s(T0 + 5, { workerId: 'w-2' })]);
        expect(await store.listUsageSamples('w-3')).toStrictEqual([]);
      });

      it('stores a large batch of samples', async () => {
        const samples = Array.from({ length: 500 }, (_, i) => ({
          workerId: 'w-1',
          at: T0 + i,
          cpu: i / 100,
          memoryMb: i,
          gpus: i % 2 ? null : 1,
          gpuMemoryMb: null,
        }));
        await store.write([{ kind: 'usageSamples', samples }]);
        expect(await store.listUsageSamples('w-1')).toStrictEqual(samples);
      });
    });

    describe('scaling decisions', () => {
      it('lists decisions newest first, with a limit, unchanged', async () => {
        const d1 = decision();
        const d2 = decision({
          id: 'dec-2',
          at: T0 + 2_000,
          action: 'scale_up',
          workerType: 'gpu',
          count: 2,
          workerIds: ['w-9', 'w-10'],
          reason: 'pending GPU demand: 2 tasks need gpus=1',
          utilization: { cpu: 0.95, memory: 0.8, gpu: 1, overall: 0.9166 },
          pendingDemand: { cpu: 4.5, memoryMb: 16384, gpus: 2, gpuMemoryMb: 16000, custom: { license: 1 } },
          executed: true,
        });
        const d3 = decision({ id: 'dec-3', at: T0 + 1_000, action: 'scale_down', workerType: 'cpu', count: 1, workerIds: ['w-1'] });
        await store.write([{ kind: 'scalingDecision', decision: d1 }, { kind: 'scalingDecision', decision: d2 }]);
        await store.write([{ kind: 'scalingDecision', decision: d3 }]);
        expect(await store.listScalingDecisions()).toStrictEqual([d2, d3, d1]);
        expect(await store.listScalingDecisions(2)).toStrictEqual([d2, d3]);
      });
    });

    describe('task history', () => {
      it('filters by model type and name, newest first, with a limit, unchanged', async () => {
        const h1 = history();
        const h2 = history({
          attemptId: 'att-2',
          taskId: 'task-2',
          finishedAt: T0 + 100,
          succeeded: false,
          modelName: 'minilm',
          batchSize: null,
          labels: { gpu: 'a100' },
          workerType: 'gpu',
          gpuMemoryMb: 4000.5,
          predictedDurationMs: 1500,
          predictedMemoryMb: 256.75,
        });
        const h3 = history({ attemptId: 'att-3', taskId: 'task-3', name: 'llm-gpu', modelType: 'text_generation', finishedAt: T0 + 50 });
        const h4 = history({ attemptId: 'att-4', taskId: 'task-4', name: 'unit-math', kind: 'test', modelType: null, finishedAt: T0 + 70 });
        await store.write([h1, h2, h3, h4].map((row): Change => ({ kind: 'taskHistory', row })));
        expect(await store.listTaskHistory()).toStrictEqual([h2, h4, h3, h1]);
        expect(await store.listTaskHistory({ modelType: 'text_embedding' })).toStrictEqual([h2, h1]);
        expect(await store.listTaskHistory({ name: 'llm-gpu' })).toStrictEqual([h3]);
        expect(await store.listTaskHistory({ name: 'embed-bench', modelType: 'text_embedding', limit: 1 })).toStrictEqual([h2]);
        expect(await store.listTaskHistory({ limit: 3 })).toStrictEqual([h2, h4, h3]);
        expect(await store.listTaskHistory({ modelType: 'nothing' })).toStrictEqual([]);
      });

      it('rejects a second row for the same attempt', async () => {
        await store.write([{ kind: 'taskHistory', row: history() }]);
        await expect(store.write([{ kind: 'taskHistory', row: history({ durationMs: 1 }) }])).rejects.toThrow();
        expect(await store.listTaskHistory()).toStrictEqual([history()]);
      });
    });

    describe('unknown ids', () => {
      it('returns undefined or an empty list', async () => {
        expect(await store.getRun('nope')).toBeUndefined();
        expect(await store.getTask('nope')).toBeUndefined();
        expect(await store.getAttempt('nope')).toBeUndefined();
        expect(await store.listAttempts('nope')).toStrictEqual([]);
        expect(await store.listUsageSamples('nope')).toStrictEqual([]);
        expect(await store.listRuns()).toStrictEqual([]);
        expect(await store.listWorkers()).toStrictEqual([]);
        expect(await store.listScalingDecisions()).toStrictEqual([]);
        expect(await store.listTaskHistory()).toStrictEqual([]);
        expect(await store.listTasks()).toStrictEqual([]);
      });

      it('stores NUL in text as U+FFFD (PostgreSQL text cannot hold NUL), in both backends alike', async () => {
        await store.write([{ kind: 'taskInsert', task: task({ stdoutTail: 'a\u0000b', env: { X: '\u0000' } }) }]);
        expect(await store.getTask('task-1')).toStrictEqual(task({ stdoutTail: 'a\uFFFDb', env: { X: '\u0000' } }));
      });

      it('handles ids with quotes and unicode as plain values', async () => {
        const id = `it's "odd" ✓; DROP TABLE tasks; --`;
        await store.write([{ kind: 'taskInsert', task: task({ id }) }]);
        expect(await store.getTask(id)).toStrictEqual(task({ id }));
        expect(await store.getTask(`it's`)).toBeUndefined();
      });
    });

    describe('leader lease and fencing', () => {
      const TTL = 5_000;
      const L = 'leader';
      /** Awaits a promise that must fail with FencedError, and returns the error. */
      async function fenced(p: Promise<unknown>): Promise<FencedError> {
        const error = await p.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(FencedError);
        return error as FencedError;
      }

      it('takes a free lease at epoch 1, renews it for the same holder, refuses others until it expires', async () => {
        expect(await store.getLease(L)).toBeUndefined();
        expect(await store.acquireLease(L, 'a', TTL, T0)).toStrictEqual({ acquired: true, holder: 'a', epoch: 1, expiresAt: T0 + TTL });
        expect(await store.acquireLease(L, 'a', TTL, T0 + 1_000)).toStrictEqual({
          acquired: true,
          holder: 'a',
          epoch: 1,
          expiresAt: T0 + 1_000 + TTL,
        });
        expect(await store.acquireLease(L, 'b', TTL, T0 + 2_000)).toStrictEqual({
          acquired: false,
          holder: 'a',
          epoch: 1,
          expiresAt: T0 + 1_000 + TTL,
        });
        // Expiry is inclusive: at expires_at the lease is free.
        expect(await store.acquireLease(L, 'b', TTL, T0 + 1_000 + TTL)).toStrictEqual({
          acquired: true,
          holder: 'b',
          epoch: 2,
          expiresAt: T0 + 1_000 + 2 * TTL,
        });
        expect(await store.getLease(L)).toStrictEqual({ name: L, holder: 'b', epoch: 2, expiresAt: T0 + 1_000 + 2 * TTL });
        // The deposed holder can neither renew nor take it back while b's lease is live.
        expect(await store.renewLease(L, 'a', 1, TTL, T0 + 6_500)).toBe(false);
        expect((await store.acquireLease(L, 'a', TTL, T0 + 6_500)).acquired).toBe(false);
      });

      it('renews only the current holder at the current epoch, and only before expiry', async () => {
        await store.acquireLease(L, 'a', TTL, T0);
        expect(await store.renewLease(L, 'a', 1, TTL, T0 + 4_000)).toBe(true);
        expect((await store.getLease(L))?.expiresAt).toBe(T0 + 4_000 + TTL);
        expect(await store.renewLease(L, 'a', 2, TTL, T0 + 4_500)).toBe(false);
        expect(await store.renewLease(L, 'b', 1, TTL, T0 + 4_500)).toBe(false);
        expect(await store.renewLease('other', 'a', 1, TTL, T0 + 4_500)).toBe(false);
        expect(await store.renewLease(L, 'a', 1, TTL, T0 + 4_000 + TTL)).toBe(false);
        // Lapsed but not taken: the same holder gets it back at the same epoch (nobody led in between).
        expect(await store.acquireLease(L, 'a', TTL, T0 + 20_000)).toStrictEqual({ acquired: true, holder: 'a', epoch: 1, expiresAt: T0 + 20_000 + TTL });
      });

      it('releases the lease so another holder takes it at once, at the next epoch', async () => {
        await store.acquireLease(L, 'a', TTL, T0);
        expect(await store.releaseLease(L, 'b', 1)).toBe(false);
        expect(await store.releaseLease(L, 'a', 2)).toBe(false);
        expect(await store.releaseLease(L, 'a', 1)).toBe(true);
        expect(await store.getLease(L)).toStrictEqual({ name: L, holder: null, epoch: 1, expiresAt: null });
        expect(await store.renewLease(L, 'a', 1, TTL, T0 + 1)).toBe(false);
        expect(await store.acquireLease(L, 'b', TTL, T0 + 2)).toStrictEqual({ acquired: true, holder: 'b', epoch: 2, expiresAt: T0 + 2 + TTL });
        // Re-taking a released lease is a change of holder too, even for the one who released it.
        await store.releaseLease(L, 'b', 2);
        expect((await store.acquireLease(L, 'b', TTL, T0 + 3)).epoch).toBe(3);
      });

      it('keeps leases of different names apart', async () => {
        expect((await store.acquireLease('x', 'a', TTL, T0)).acquired).toBe(true);
        expect(await store.acquireLease('y', 'b', TTL, T0)).toStrictEqual({ acquired: true, holder: 'b', epoch: 1, expiresAt: T0 + TTL });
        expect((await store.acquireLease('x', 'b', TTL, T0)).acquired).toBe(false);
      });

      it('uses the store clock when no time is given', async () => {
        const before = Date.now();
        const got = await store.acquireLease(L, 'a', TTL);
        const after = Date.now();
        expect(got.acquired).toBe(true);
        // PostgreSQL judges by the server clock; here it runs on this host, so allow a little skew.
        expect(got.expiresAt).toBeGreaterThanOrEqual(before + TTL - 1_000);
        expect(got.expiresAt).toBeLessThanOrEqual(after + TTL + 1_000);
        expect(await store.renewLease(L, 'a', 1, TTL)).toBe(true);
        await store.write([{ kind: 'runInsert', run: run() }], { name: L, holder: 'a', epoch: 1 });
        expect(await store.getRun('run-1')).toStrictEqual(run());
      });

      it('rejects a deposed leader\'s fenced write, storing nothing, and stores the new leader\'s', async () => {
        await store.acquireLease(L, 'a', TTL, T0);
        await store.write([{ kind: 'runInsert', run: run({ id: 'by-a' }) }], { name: L, holder: 'a', epoch: 1, now: T0 + 1 });
        await store.acquireLease(L, 'b', TTL, T0 + TTL);

        const error = await fenced(
          store.write(
            [
              { kind: 'runInsert', run: run() },
              { kind: 'taskInsert', task: task() },
              { kind: 'runUpdate', id: 'by-a', patch: { state: 'failed' } },
            ],
            { name: L, holder: 'a', epoch: 1, now: T0 + TTL + 1 },
          ),
        );
        expect(error.name).toBe('FencedError');
        expect(error.message).toMatch(/"b" at epoch 2/);
        expect(error.fence).toStrictEqual({ name: L, holder: 'a', epoch: 1, now: T0 + TTL + 1 });
        expect(error.current).toStrictEqual({ name: L, holder: 'b', epoch: 2, expiresAt: T0 + 2 * TTL });
        expect(await store.getRun('run-1')).toBeUndefined();
        expect(await store.listTasks()).toStrictEqual([]);
        expect(await store.getRun('by-a')).toStrictEqual(run({ id: 'by-a' }));

        // Right holder, stale epoch: still refused.
        await fenced(store.write([{ kind: 'runInsert', run: run() }], { name: L, holder: 'b', epoch: 1, now: T0 + TTL + 1 }));

        await store.write(
          [{ kind: 'runInsert', run: run() }, { kind: 'taskInsert', task: task() }],
          { name: L, holder: 'b', epoch: 2, now: T0 + TTL + 1 },
        );
        expect(await store.getRun('run-1')).toStrictEqual(run());
        expect(await store.listTasks()).toStrictEqual([task()]);
      });

      it('rejects a fenced write when the lease has expired, was released or never existed', async () => {
        await store.acquireLease(L, 'a', TTL, T0);
        const fence = { name: L, holder: 'a', epoch: 1 };
        expect((await fenced(store.write([{ kind: 'runInsert', run: run() }], { ...fence, now: T0 + TTL }))).message).toMatch(/expired/);
        await fenced(store.write([{ kind: 'runInsert', run: run() }], { ...fence, name: 'no-such-lease', now: T0 }));
        // An empty fenced write still checks: a cheap "am I still the leader" probe.
        await fenced(store.write([], { ...fence, now: T0 + TTL }));
        await store.write([], { ...fence, now: T0 + 1 });
        await store.releaseLease(L, 'a', 1);
        await fenced(store.write([{ kind: 'runInsert', run: run() }], { ...fence, now: T0 + 1 }));
        expect(await store.listRuns()).toStrictEqual([]);
        // Unfenced writes are not affected by the lease.
        await store.write([{ kind: 'runInsert', run: run() }]);
        expect(await store.getRun('run-1')).toStrictEqual(run());
      });

      it('validates lease arguments', async () => {
        await expect(store.acquireLease('', 'a', TTL, T0)).rejects.toThrow(/lease name/);
        await expect(store.acquireLease(L, '', TTL, T0)).rejects.toThrow(/lease holder/);
        await expect(store.acquireLease(L, 'a', 0, T0)).rejects.toThrow(/ttlMs/);
        await expect(store.acquireLease(L, 'a', 1.5, T0)).rejects.toThrow(/ttlMs/);
        await expect(store.renewLease(L, 'a', 1, TTL, Number.NaN)).rejects.toThrow(/now/);
        await expect(store.write([], { name: L, holder: 'a', epoch: -1 })).rejects.toThrow(/epoch/);
        await expect(store.releaseLease(L, 'a', 0.5)).rejects.toThrow(/epoch/);
        expect(await store.getLease(L)).toBeUndefined();
      });
    });
  });
}
