import { describe, expect, it } from 'vitest';
import { TASKS, WORKERS } from '../../src/store/mapping.js';
import { bulkInsertStatements, bulkUpdateStatements } from '../../src/store/pg-bulk.js';
import { task, worker } from './contract.js';

describe('PostgreSQL bulk statements', () => {
  it('updates many rows from one typed array per column', () => {
    const { columns } = TASKS.encodePatch({ state: 'running', startedAt: 5 });
    const [s] = bulkUpdateStatements(TASKS, columns, [{ id: 'a', values: ['running', 5] }, { id: 'b', values: ['running', null] }]);
    expect(s.sql).toBe(
      'UPDATE tasks SET state = v.state, started_at = v.started_at FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS v(id, state, started_at) WHERE tasks.id = v.id',
    );
    expect(s.values).toStrictEqual([['a', 'b'], ['running', 'running'], [5, null]]);
  });

  it('inserts rows as columns, with as many parameters as the table has columns whatever the row count', () => {
    const rows = Array.from({ length: 5 }, (_, i) => TASKS.encode(task({ id: `t${i}` })));
    const [s] = bulkInsertStatements(TASKS, rows);
    expect(s.sql).toMatch(/^INSERT INTO tasks \(id, run_id, .*\) SELECT \* FROM unnest\(\$1::TEXT\[\], \$2::TEXT\[\], \$3::BIGINT\[\], /);
    expect(s.sql).not.toContain('ON CONFLICT');
    expect(s.values).toHaveLength(TASKS.columns.length);
    expect(s.values[0]).toStrictEqual(['t0', 't1', 't2', 't3', 't4']);
  });

  it('splits very large writes into statements of at most the given rows', () => {
    const rows = Array.from({ length: 5 }, (_, i) => TASKS.encode(task({ id: `t${i}` })));
    expect(bulkInsertStatements(TASKS, rows, false, 2).map((s) => s.values[0])).toStrictEqual([['t0', 't1'], ['t2', 't3'], ['t4']]);
  });

  it('makes an upsert replace every non-key column', () => {
    const [s] = bulkInsertStatements(WORKERS, [WORKERS.encode(worker({ id: 'w-1' })), WORKERS.encode(worker({ id: 'w-2' }))], true);
    expect(s.sql).toMatch(/ FROM unnest\(.*\) ON CONFLICT \(id\) DO UPDATE SET type = excluded\.type, /);
    expect(s.sql).not.toMatch(/SET id = /);
    expect(s.values[0]).toStrictEqual(['w-1', 'w-2']);
  });
});
