import { describe, expect, it } from 'vitest';
import {
  dollarNumbers,
  insertStatements,
  planWrite,
  questionMarks,
  reads,
  RUNS,
  TASKS,
  updateStatement,
  upsertStatements,
  WORKERS,
} from '../../src/store/mapping.js';
import { MIGRATIONS, pendingMigrations } from '../../src/store/schema.js';
import { fullTask, run, task, worker } from './contract.js';

describe('mapping', () => {
  it('renders both placeholder styles', () => {
    const q = reads.listTasks({ states: ['pending', 'running'], runId: 'r1', limit: 5 }, dollarNumbers);
    expect(q.sql).toBe(
      `SELECT ${TASKS.columnList()} FROM tasks WHERE state IN ($1, $2) AND run_id = $3 ORDER BY seq DESC LIMIT $4`,
    );
    expect(q.values).toStrictEqual(['pending', 'running', 'r1', 5]);
    expect(q.types).toStrictEqual(['text', 'text', 'text', 'bigint']);
    expect(reads.getRun('x', questionMarks).sql).toBe(`SELECT ${RUNS.columnList()} FROM runs WHERE id = ? ORDER BY id`);
  });

  it('updates only the patched columns, expanding a resource vector', () => {
    const s = updateStatement(TASKS, 't1', { state: 'running', resources: { cpu: 0.5, memoryMb: 64, gpus: 0, gpuMemoryMb: 0 } }, dollarNumbers);
    expect(s?.sql).toBe(
      'UPDATE tasks SET state = $1, cpu = $2, memory_mb = $3, gpus = $4, gpu_memory_mb = $5, custom_resources = $6 WHERE id = $7',
    );
    expect(s?.values).toStrictEqual(['running', 0.5, 64, 0, 0, null, 't1']);
    expect(updateStatement(TASKS, 't1', { state: undefined }, dollarNumbers)).toBeNull();
    expect(() => updateStatement(TASKS, 't1', { seq: 3 }, dollarNumbers)).toThrow(/cannot be updated/);
    expect(() => updateStatement(TASKS, 't1', { bogus: 1 }, dollarNumbers)).toThrow(/unknown field/);
  });

  it('builds an upsert that replaces every non-key column', () => {
    const [s] = upsertStatements(WORKERS, [WORKERS.encode(worker())], dollarNumbers);
    expect(s.sql).toMatch(/^INSERT INTO workers \(id, type, .*\) VALUES \(\$1, \$2, .*\$12\) ON CONFLICT \(id\) DO UPDATE SET type = excluded\.type, /);
    expect(s.sql).not.toMatch(/SET id = /);
    expect(s.values).toHaveLength(WORKERS.columns.length);
  });

  it('splits multi-row inserts under the parameter budget and numbers parameters per statement', () => {
    const rows = Array.from({ length: 10 }, (_, i) => TASKS.encode(task({ id: `t${i}` })));
    const statements = insertStatements(TASKS, rows, dollarNumbers, TASKS.columns.length * 4);
    expect(statements.map((s) => s.values.length / TASKS.columns.length)).toStrictEqual([4, 4, 2]);
    expect(statements[1].sql).toContain(`($1, $2,`);
    expect(statements[1].sql).toContain(`$${TASKS.columns.length * 4})`);
  });

  it('batches inserts and updates across the whole write, merging consecutive patches to one row', () => {
    const steps = planWrite(
      [
        { kind: 'runInsert', run: run() },
        { kind: 'taskUpdate', id: 'a', patch: { state: 'assigned', workerId: 'w1' } },
        { kind: 'taskInsert', task: task({ id: 'c' }) },
        // Fields named in another order still share a's step.
        { kind: 'taskUpdate', id: 'b', patch: { workerId: 'w2', state: 'assigned' } },
        // Laid over a's first patch: state changes, workerId (undefined here) stays.
        { kind: 'taskUpdate', id: 'a', patch: { state: 'running', workerId: undefined } },
      ]);
    const describe = (s: (typeof steps)[number]) =>
      s.op === 'insert' ? `insert ${s.mapping.table} ${s.rows.length}` : s.op === 'update' ? `update ${s.mapping.table} ${s.rows.map((r) => r.id).join('+')}` : s.op;
    expect(steps.map(describe)).toStrictEqual(['insert runs 1', 'update tasks a+b', 'insert tasks 1']);
    const update = steps[1];
    expect(update.op === 'update' && update.columns.map((c) => c.name)).toStrictEqual(['state', 'worker_id']);
    expect(update.op === 'update' && update.rows).toStrictEqual([
      { id: 'a', values: ['running', 'w1'] },
      { id: 'b', values: ['assigned', 'w2'] },
    ]);
  });

  it('lays patches of a row inserted in the same write over the inserted row', () => {
    const steps = planWrite(
      [
        { kind: 'taskInsert', task: task({ id: 'a' }) },
        { kind: 'taskInsert', task: task({ id: 'b' }) },
        { kind: 'taskUpdate', id: 'a', patch: { state: 'assigned', workerId: 'w1' } },
        { kind: 'taskUpdate', id: 'a', patch: { state: 'running' } },
      ]);
    expect(steps.map((s) => s.op)).toStrictEqual(['insert']);
    const rows = steps[0].op === 'insert' ? steps[0].rows : [];
    const column = (name: string) => TASKS.columns.findIndex((c) => c.name === name);
    expect(rows.map((r) => [r[column('id')], r[column('state')], r[column('worker_id')]])).toStrictEqual([
      ['a', 'running', 'w1'],
      ['b', 'pending', null],
    ]);
    // The patch is still checked like any update.
    expect(() => planWrite([{ kind: 'taskInsert', task: task({ id: 'a' }) }, { kind: 'taskUpdate', id: 'a', patch: { seq: 9 } as never }])).toThrow(/cannot be updated/);
  });

  it('does not merge patches across another change to the same row, and keeps their order', () => {
    const steps = planWrite(
      [
        { kind: 'workerUpdate', id: 'w-1', patch: { state: 'draining' } },
        { kind: 'workerUpdate', id: 'w-2', patch: { state: 'draining' } },
        { kind: 'workerUpsert', worker: worker() },
        { kind: 'workerUpdate', id: 'w-1', patch: { state: 'lost' } },
        { kind: 'workerUpdate', id: 'w-2', patch: { lastSeenAt: 5 } },
      ]);
    const describe = (s: (typeof steps)[number]) =>
      s.op === 'update' ? `update ${s.rows.map((r) => `${r.id}=${r.values.join(',')}`).join(' ')}` : s.op;
    // w-2's patches merge (nothing touched w-2 between them), so it sets other columns than w-1's first.
    expect(steps.map(describe)).toStrictEqual(['update w-1=draining', 'update w-2=draining,5', 'upsert', 'update w-1=lost']);
  });

  it('upserts many workers in one multi-row statement, a second upsert of one worker in a later one', () => {
    const steps = planWrite([
      { kind: 'workerUpsert', worker: worker({ id: 'w-1' }) },
      { kind: 'workerUpsert', worker: worker({ id: 'w-2' }) },
      { kind: 'workerUpsert', worker: worker({ id: 'w-1', state: 'draining' }) },
    ]);
    expect(steps.map((s) => (s.op === 'upsert' ? `upsert ${s.rows.map((r) => r[0]).join('+')}` : s.op))).toStrictEqual(['upsert w-1+w-2', 'upsert w-1']);
    const [statement] = upsertStatements(WORKERS, steps[0].op === 'upsert' ? steps[0].rows : [], dollarNumbers);
    expect(statement.sql).toMatch(/^INSERT INTO workers \(id, .*\) VALUES \(\$1, .*\), \(\$13, .*\) ON CONFLICT \(id\) DO UPDATE SET type = excluded\.type, /);
    expect(statement.values).toHaveLength(2 * WORKERS.columns.length);
  });

  it('decodes driver values: BIGINT as bigint or string, JSON text, nulls', () => {
    const t = fullTask();
    const row = Object.fromEntries(
      TASKS.columns.map((c, i) => {
        const v = TASKS.encode(t)[i];
        // pg returns BIGINT as a string, DuckDB as a bigint.
        return [c.name, c.type === 'bigint' && v !== null ? (i % 2 ? String(v) : BigInt(v as number)) : v];
      }),
    );
    expect(TASKS.decode(row)).toStrictEqual(t);
  });
});

describe('migrations', () => {
  it('have unique, increasing versions', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toStrictEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions[0]).toBe(1);
  });

  it('lists only the ones not applied yet', () => {
    expect(pendingMigrations([])).toStrictEqual(MIGRATIONS);
    expect(pendingMigrations(MIGRATIONS.map((m) => m.version))).toStrictEqual([]);
  });
});
