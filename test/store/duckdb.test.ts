import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../src/store/duckdb.js';
import { TABLE_MAPPINGS, TASKS } from '../../src/store/mapping.js';
import { DEFAULT_DUCKDB_PATH, openStore } from '../../src/store/open.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, SCHEMA_MIGRATIONS_DDL } from '../../src/store/schema.js';
import type { Change } from '../../src/store/store.js';
import { run, storeContract, task } from './contract.js';

let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-store-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

storeContract('duckdb :memory:', () => DuckDbStore.open(':memory:'));
// A nested path also checks that open() creates the parent directories.
storeContract('duckdb file', () => DuckDbStore.open(join(dir, `contract-${files++}`, 'nested', 'drm.duckdb')));

describe('DuckDbStore', () => {
  it('keeps data across reopen and does not rerun migrations', async () => {
    const path = join(dir, 'reopen', 'drm.duckdb');
    const first = await DuckDbStore.open(path);
    await first.migrate();
    const applied = await first.appliedMigrations();
    expect(applied.map((m) => m.version)).toStrictEqual(MIGRATIONS.map((m) => m.version));
    await first.write([{ kind: 'runInsert', run: run() }, { kind: 'taskInsert', task: task() }]);
    await first.close();

    const second = await DuckDbStore.open(path);
    await second.migrate();
    expect(await second.appliedMigrations()).toStrictEqual(applied);
    expect(await second.getRun('run-1')).toStrictEqual(run());
    expect(await second.getTask('task-1')).toStrictEqual(task());
    expect(await second.maxTaskSeq()).toBe(1);
    await second.close();
  });

  it('has every mapped column and the documented indexes after migrating', async () => {
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    for (const mapping of TABLE_MAPPINGS) {
      const rows = await store.query(
        'SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position',
        [mapping.table],
      );
      expect(rows.map((r) => r.column_name), mapping.table).toStrictEqual(mapping.columns.map((c) => c.name));
    }
    const lease = await store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'leader_lease' ORDER BY ordinal_position");
    expect(lease.map((r) => r.column_name)).toStrictEqual(['name', 'holder', 'epoch', 'expires_at']);
    const indexes = await store.query('SELECT index_name FROM duckdb_indexes() ORDER BY index_name');
    expect(indexes.map((r) => r.index_name)).toStrictEqual([
      'attempts_task_id_idx',
      'task_history_model_type_idx',
      'task_history_name_idx',
      'tasks_run_id_idx',
      // No tasks(state) on DuckDB (migration 2): every state change rewrote the whole row.
      'usage_samples_worker_idx',
    ]);
    await store.close();
  });

  it('returns fresh results when the same read runs before and after rows change', async () => {
    // Guards against reusing prepared statements: DuckDB plans them with the statistics of the moment
    // (duckdb/duckdb#23704), so a cached read planned on an empty table returned garbage strings.
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    expect(await store.listTasks({ states: ['pending'] })).toStrictEqual([]);
    expect(await store.getTask('task-1')).toBeUndefined();
    const long = task({ stdoutTail: 'a much longer string than anything before ✓ 🚀'.repeat(20) });
    await store.write([{ kind: 'taskInsert', task: long }]);
    expect(await store.listTasks({ states: ['pending'] })).toStrictEqual([long]);
    expect(await store.getTask('task-1')).toStrictEqual(long);
    await store.write([{ kind: 'taskInsert', task: task({ id: 'task-2', seq: 2 ** 40, priority: -1000 }) }]);
    expect((await store.listTasks({ states: ['pending'] })).map((t) => t.seq)).toStrictEqual([1, 2 ** 40]);
    await store.close();
  });

  it('upgrades a version 1 database: drops the tasks(state) index, keeps the rows', async () => {
    const store = await DuckDbStore.open(':memory:');
    await store.query(SCHEMA_MIGRATIONS_DDL);
    for (const sql of MIGRATIONS[0].statements) await store.query(sql);
    await store.query('INSERT INTO schema_migrations VALUES (?, ?, ?)', [1, MIGRATIONS[0].name, 0]);
    await store.query(`INSERT INTO tasks (${TASKS.columnList()}) VALUES (${TASKS.columns.map(() => '?').join(', ')})`, TASKS.encode(task()));
    expect((await store.query("SELECT index_name FROM duckdb_indexes() WHERE index_name = 'tasks_state_idx'")).length).toBe(1);
    await store.migrate();
    expect((await store.query("SELECT index_name FROM duckdb_indexes() WHERE index_name = 'tasks_state_idx'")).length).toBe(0);
    expect((await store.appliedMigrations()).map((m) => m.version)).toStrictEqual(MIGRATIONS.map((m) => m.version));
    await store.write(['a', 'b', 'c'].map((id, i): Change => ({ kind: 'taskInsert', task: task({ id, seq: i + 2 }) })));
    await store.write(['task-1', 'a', 'b', 'c'].map((id): Change => ({ kind: 'taskUpdate', id, patch: { state: 'running' } })));
    expect((await store.listTasks({ states: ['running'] })).map((t) => t.id)).toStrictEqual(['task-1', 'a', 'b', 'c']);
    await store.close();
  });

  it('holds no more than one write\'s rows in its staging tables, however many writes staged updates', async () => {
    // Emptying a TEMP table with DELETE keeps the removed rows in DuckDB's storage: it grew with every write.
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    await store.write(Array.from({ length: 10 }, (_, i): Change => ({ kind: 'taskInsert', task: task({ id: `t${i}`, seq: i + 1 }) })));
    for (let w = 0; w < 20; w++) {
      await store.write(Array.from({ length: 10 }, (_, i): Change => ({ kind: 'taskUpdate', id: `t${i}`, patch: { state: 'running', attempts: w } })));
    }
    const stages = await store.query('SELECT table_name, estimated_size FROM duckdb_tables() WHERE temporary');
    expect(stages.length).toBeGreaterThan(0);
    for (const stage of stages) expect(stage.estimated_size, String(stage.table_name)).toBeLessThanOrEqual(10);
    expect((await store.listTasks()).map((t) => t.attempts)).toStrictEqual(Array(10).fill(19));
    await store.close();
  });

  it('refuses a database written by a newer schema version', async () => {
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    await store.query('INSERT INTO schema_migrations VALUES (?, ?, ?)', [LATEST_SCHEMA_VERSION + 1, 'from the future', 0]);
    await expect(store.migrate()).rejects.toThrow(/newer than this drm supports/);
    await store.close();
  });

  it('rejects calls after close, and close twice is harmless', async () => {
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    await Promise.all([store.close(), store.close()]);
    await expect(store.listRuns()).rejects.toThrow(/closed/);
    await expect(store.write([{ kind: 'runInsert', run: run() }])).rejects.toThrow(/closed/);
  });

  it('writes 1,000 task inserts in one write quickly', async () => {
    const store = await DuckDbStore.open(':memory:');
    await store.migrate();
    const changes = Array.from({ length: 1_000 }, (_, i): Change => ({ kind: 'taskInsert', task: task({ id: `t-${i}`, seq: i + 1 }) }));
    const started = performance.now();
    await store.write(changes);
    const elapsed = performance.now() - started;
    expect(await store.maxTaskSeq()).toBe(1_000);
    // Generous bound for a loaded 2-core machine; typical is ~50 ms (single-row INSERTs took ~1 s).
    expect(elapsed).toBeLessThan(2_000);
    await store.close();
  });
});

describe('openStore', () => {
  it('opens and migrates a DuckDB file', async () => {
    const store = await openStore(join(dir, 'open', DEFAULT_DUCKDB_PATH));
    await store.write([{ kind: 'runInsert', run: run() }]);
    expect(await store.getRun('run-1')).toStrictEqual(run());
    await store.close();
  });

  it('takes a postgres:// or postgresql:// URL as PostgreSQL, and says so without the password when it does not answer', async () => {
    // Port 1 refuses at once; the selection is what is tested here (test/store/postgres.test.ts opens real ones).
    for (const url of ['postgres://u:s3cret@127.0.0.1:1/drm', 'postgresql://u:s3cret@127.0.0.1:1/drm', 'POSTGRES://u:s3cret@127.0.0.1:1/x']) {
      const error = await openStore(url).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(/^cannot connect to PostgreSQL at postgres(ql)?:\/\/u:\*\*\*@127\.0\.0\.1:1\//);
      expect(error?.message).not.toContain('s3cret');
    }
  });
});
