import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBInstance,
  INTEGER,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBPreparedStatement,
  type DuckDBType,
} from '@duckdb/node-api';
import {
  dollarNumbers,
  missingRowError,
  planWrite,
  questionMarks,
  rowUpdateStatement,
  SQL_TYPES,
  toNumber,
  type ColumnType,
  type Query,
  type Row,
  type SqlValue,
  type Statement,
  type TableMapping,
  type WriteStep,
  upsertStatements,
} from './mapping.js';
import { SqlReads } from './sql-reads.js';
import {
  acquireLeaseStatement,
  checkFence,
  fenceQuery,
  getLeaseQuery,
  leaseClock,
  releaseLeaseStatement,
  renewLeaseStatement,
  type LeaseClock,
} from './lease.js';
import { migrationStatements, pendingMigrations, SCHEMA_MIGRATIONS_DDL } from './schema.js';
import type { JournalBackend } from './journal.js';
import type {
  Change,
  Fence,
  LeaseAcquisition,
} from './store.js';

// The embedded store: one DuckDB file (or ':memory:'), one connection, every call queued behind the
// previous one so a transaction never interleaves with another caller's statements.

/** Explicit parameter types: inferred ones would send an integral double (1e300) as an out-of-range BIGINT. */
const DUCKDB_TYPES: Record<ColumnType, DuckDBType> = {
  text: VARCHAR,
  integer: INTEGER,
  bigint: BIGINT,
  double: DOUBLE,
  boolean: BOOLEAN,
};

/**
 * Lease statements use numbered parameters: DuckDB numbers `?` in the order it transforms clauses, not
 * in text order, and for UPDATE ... SET ... FROM it took the FROM clause's parameter first.
 */
const LEASE_PLACEHOLDER = dollarNumbers;

// Inserts always go through the appender. Measured for 1,000 tasks in one transaction: appender
// ~25-45 ms, multi-row VALUES ~300 ms, single-row INSERTs ~1.8 s; and for a single row the appender
// still beats preparing and running an INSERT (~0.5 ms against ~1.3 ms).

/**
 * From this many rows, an update step is staged: its rows appended to a TEMP table and applied with one
 * `UPDATE ... FROM` that table; below it, one `UPDATE ... WHERE key = ?` per row. For 200 tasks
 * DuckDB took ~37 ms to plan and bind `UPDATE ... FROM (VALUES ...)` (mostly planning the list:
 * inlined literals still took ~21 ms), ~9 ms staged. A staged update costs about two single-row ones
 * (the join has a fixed cost of ~1 ms), hence 3.
 */
const STAGE_MIN_ROWS = 3;

type UpdateStep = Extract<WriteStep, { op: 'update' }>;

/** A TEMP table that stages the rows of updates setting one columns set of one table. */
interface Stage {
  name: string;
  /** CREATE OR REPLACE: creates it empty, or empties it. */
  create: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
}

export class DuckDbStore extends SqlReads implements JournalBackend {
  protected readonly placeholder = questionMarks;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Per table, where the appender finds each physical column's value (see appendOrder). */
  private readonly appendOrders = new Map<string, number[]>();
  /** The TEMP table staging updates of each (table, columns set), by stageKey: its name and definition. */
  private readonly stages = new Map<string, Stage>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly path: string,
  ) {
    super();
  }

  /** Opens (creating it and its parent directories if needed) a DuckDB file; ':memory:' for a throwaway one. */
  static async open(path: string): Promise<DuckDbStore> {
    if (!path) throw new Error('DuckDB store path is empty');
    if (path !== ':memory:') await mkdir(dirname(resolve(path)), { recursive: true });
    const instance = await DuckDBInstance.create(path);
    try {
      return new DuckDbStore(instance, await instance.connect(), path);
    } catch (error) {
      instance.closeSync();
      throw error;
    }
  }

  migrate(): Promise<void> {
    return this.serial(async () => {
      await this.connection.run(SCHEMA_MIGRATIONS_DDL);
      const applied = await this.rows({ sql: 'SELECT version FROM schema_migrations', values: [], types: [] });
      for (const migration of pendingMigrations(applied.map((r) => toNumber(r.version)))) {
        await this.transaction(async () => {
          for (const sql of migrationStatements(migration, 'duckdb')) await this.connection.run(sql);
          await this.execute({
            sql: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
            values: [migration.version, migration.name, Date.now()],
            types: ['integer', 'text', 'bigint'],
          });
        });
      }
      // Column orders cached before a schema change may describe the old tables.
      this.appendOrders.clear();
    });
  }

  /** What schema_migrations records, oldest first (diagnostics and tests). */
  appliedMigrations(): Promise<AppliedMigration[]> {
    return this.serial(async () => {
      const rows = await this.rows({
        sql: 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
        values: [],
        types: [],
      });
      return rows.map((r) => ({ version: toNumber(r.version), name: String(r.name), appliedAt: toNumber(r.applied_at) }));
    });
  }

  /** A raw query for diagnostics and tests, queued like every other call; BIGINTs come back as numbers. */
  query(sql: string, values: SqlValue[] = []): Promise<Row[]> {
    return this.serial(async () => {
      const reader = await this.connection.runAndReadAll(sql, values);
      return reader
        .getRowObjects()
        .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
    });
  }

  close(): Promise<void> {
    this.closing ??= this.serial(async () => {
      this.connection.closeSync();
      this.instance.closeSync();
      this.closed = true;
    });
    return this.closing;
  }

  async write(changes: readonly Change[], fence?: Fence): Promise<void> {
    // Encoding (and its validation) happens now, so a bad record fails before the queue and a caller
    // mutating its objects after the call cannot change what gets stored.
    await this.writeSteps(planWrite(changes), fence);
  }

  // The write journal (see journal.ts): its entries are applied in bulk, with their position.

  /** Applies steps and records `throughSeq` as the journal position the tables hold, in one transaction. */
  applyJournal(steps: readonly WriteStep[], throughSeq: number): Promise<void> {
    const position: WriteStep = { op: 'exec', statement: { sql: 'UPDATE write_journal_state SET applied_seq = ?', values: [throughSeq], types: ['bigint'] } };
    return this.writeSteps([...steps, position]);
  }

  /** The last journal entry the tables hold (0 when none ever was). */
  async journalPosition(): Promise<number> {
    const rows = await this.all({ sql: 'SELECT applied_seq FROM write_journal_state', values: [], types: [], decode: (row) => toNumber(row.applied_seq) });
    return rows[0] ?? 0;
  }

  private async writeSteps(steps: readonly WriteStep[], fence?: Fence): Promise<void> {
    await this.serial(async () => {
      if (steps.length === 0 && !fence) return;
      // The write's staging tables are created afresh with the BEGIN, in its round trip; `fresh` holds
      // those not used yet in this transaction.
      const stages = this.stagesFor(steps);
      const fresh = new Set(stages.map((stage) => stage.name));
      // One connection and every call queued: nothing can take the lease between this check and the commit.
      await this.transaction(async () => {
        if (fence) {
          // The clock is read here, when the write runs, not when it was queued.
          const check = fenceQuery(fence, leaseClock(fence.now, localClock), false, LEASE_PLACEHOLDER);
          checkFence(fence, (await this.rows(check)).map(check.decode)[0]);
        }
        for (const step of steps) await this.apply(step, fresh);
      }, stages.map((stage) => stage.create));
    });
  }

  acquireLease(name: string, holder: string, ttlMs: number, now?: number): Promise<LeaseAcquisition> {
    return this.serial(async () => {
      const statement = acquireLeaseStatement(name, holder, ttlMs, leaseClock(now, localClock), LEASE_PLACEHOLDER);
      const taken = (await this.rows(statement)).map(statement.decode)[0];
      if (taken) return { acquired: true, holder, epoch: taken.epoch, expiresAt: taken.expiresAt ?? 0 };
      // Not taken means the row exists and another holder's lease is live; the queue keeps it so.
      const read = getLeaseQuery(name, LEASE_PLACEHOLDER);
      const current = (await this.rows(read)).map(read.decode)[0];
      return { acquired: false, holder: current.holder, epoch: current.epoch, expiresAt: current.expiresAt ?? 0 };
    });
  }

  renewLease(name: string, holder: string, epoch: number, ttlMs: number, now?: number): Promise<boolean> {
    return this.serial(async () => {
      const statement = renewLeaseStatement(name, holder, epoch, ttlMs, leaseClock(now, localClock), LEASE_PLACEHOLDER);
      return (await this.rows(statement)).length > 0;
    });
  }

  releaseLease(name: string, holder: string, epoch: number): Promise<boolean> {
    return this.serial(async () => (await this.rows(releaseLeaseStatement(name, holder, epoch, LEASE_PLACEHOLDER))).length > 0);
  }


  // -------------------------------------------------------------------------------------------------

  /** Runs `fn` after every call made before it has finished; a failure does not block later calls. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      if (this.closed) throw new Error(`store ${this.path} is closed`);
      return fn();
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** BEGIN, `fn`, COMMIT; ROLLBACK on failure. `prologue` statements run with the BEGIN, in one round trip. */
  private async transaction(fn: () => Promise<void>, prologue: readonly string[] = []): Promise<void> {
    try {
      await this.connection.run(['BEGIN TRANSACTION', ...prologue].join('; '));
      await fn();
      await this.connection.run('COMMIT');
    } catch (error) {
      try {
        await this.connection.run('ROLLBACK');
      } catch {
        // A failed BEGIN or COMMIT leaves no transaction to roll back; the original error is the one to report.
      }
      throw error;
    }
  }

  /** Runs one step; `fresh`: the staging tables still empty in this transaction. */
  private async apply(step: WriteStep, fresh: Set<string>): Promise<void> {
    switch (step.op) {
      case 'insert':
        return this.append(step.mapping, step.rows);
      case 'update':
        if (step.rows.length >= STAGE_MIN_ROWS) return this.stagedUpdate(step, fresh);
        for (const row of step.rows) {
          if ((await this.execute(rowUpdateStatement(step.mapping, step.columns, row, dollarNumbers))) !== 1) {
            throw missingRowError(step.what, [row.id], new Set());
          }
        }
        return;
      case 'upsert':
        for (const statement of upsertStatements(step.mapping, step.rows, questionMarks)) await this.execute(statement);
        return;
      case 'exec':
        await this.execute(step.statement);
        return;
    }
  }

  /**
   * The staging tables the steps' large updates use, each once. A write recreates them (CREATE OR
   * REPLACE) rather than emptying them: DuckDB keeps the rows a DELETE or TRUNCATE removed from a TEMP
   * table, so its storage grew by every row ever staged (6,000 writes of 200 rows: +42 MB, and each
   * write 2.4 -> 3.5 ms). DDL is transactional, so a write that rolls back leaves the previous ones.
   */
  private stagesFor(steps: readonly WriteStep[]): Stage[] {
    const used = new Map<string, Stage>();
    for (const step of steps) {
      if (step.op !== 'update' || step.rows.length < STAGE_MIN_ROWS) continue;
      const key = stageKey(step);
      let stage = this.stages.get(key);
      if (!stage) {
        const name = `drm_stage_${this.stages.size + 1}`;
        const columns = [step.mapping.key, ...step.columns].map((c) => `${c.name} ${SQL_TYPES[c.type]}`);
        stage = { name, create: `CREATE OR REPLACE TEMP TABLE ${name} (${columns.join(', ')})` };
        this.stages.set(key, stage);
      }
      used.set(stage.name, stage);
    }
    return [...used.values()];
  }

  /**
   * An update of many rows as: append them to the step's staging table (recreated first if an earlier
   * step of this write used it), then one `UPDATE ... FROM` it. Ids within a step are unique (planWrite
   * merges patches to one row), so the rows changed equal the rows staged unless an id is missing.
   */
  private async stagedUpdate(step: UpdateStep, fresh: Set<string>): Promise<void> {
    const stage = this.stages.get(stageKey(step));
    if (!stage) throw new Error(`no staging table for ${stageKey(step)}`);
    const { mapping, columns, rows } = step;
    const key = mapping.key;
    if (!fresh.delete(stage.name)) await this.connection.run(stage.create);
    const appender = await this.connection.createAppender(stage.name, 'main', 'temp');
    try {
      for (const row of rows) {
        appendValue(appender, row.id, key.type);
        for (let i = 0; i < columns.length; i++) appendValue(appender, row.values[i], columns[i].type);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      closeAppender(appender);
    }
    const sets = columns.map((c) => `${c.name} = s.${c.name}`).join(', ');
    const result = await this.connection.run(`UPDATE ${mapping.table} SET ${sets} FROM ${stage.name} AS s WHERE ${mapping.table}.${key.name} = s.${key.name}`);
    if (result.rowsChanged !== rows.length) {
      const found = await this.rows({ sql: `SELECT ${key.name} AS id FROM ${mapping.table} WHERE ${key.name} IN (SELECT ${key.name} FROM ${stage.name})`, values: [], types: [] });
      throw missingRowError(step.what, rows.map((r) => r.id), new Set(found.map((r) => String(r.id))));
    }
  }

  /** Bulk insert through DuckDB's appender; it writes inside the open transaction and checks keys on flush. */
  private async append(mapping: TableMapping<object>, rows: readonly SqlValue[][]): Promise<void> {
    const order = await this.appendOrder(mapping);
    const appender = await this.connection.createAppender(mapping.table);
    try {
      for (const row of rows) {
        for (const i of order) {
          if (i < 0) appender.appendDefault();
          else appendValue(appender, row[i], mapping.columns[i].type);
        }
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      closeAppender(appender);
    }
  }

  /**
   * For each physical column of the mapping's table, in table order, the position of its value in an
   * encoded row, or -1 for a column the mapping does not know (appended as its default). The appender
   * fills columns in physical order, and a later ALTER TABLE appends columns at the end.
   */
  private async appendOrder(mapping: TableMapping<object>): Promise<number[]> {
    let order = this.appendOrders.get(mapping.table);
    if (!order) {
      const rows = await this.rows({
        sql:
          'SELECT column_name FROM information_schema.columns ' +
          'WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
        values: [mapping.table],
        types: ['text'],
      });
      const physical = rows.map((r) => String(r.column_name));
      const missing = mapping.columns.filter((c) => !physical.includes(c.name)).map((c) => c.name);
      if (missing.length > 0) throw new Error(`table ${mapping.table} lacks columns ${missing.join(', ')}; run migrate()`);
      order = physical.map((name) => mapping.columns.findIndex((c) => c.name === name));
      this.appendOrders.set(mapping.table, order);
    }
    return order;
  }

  /**
   * Prepares, binds and runs one statement, then frees it. Prepared statements are deliberately never
   * reused: DuckDB plans them with the table statistics of the moment, and a plan prepared on an empty
   * table later returns corrupt strings, drops rows or crashes (duckdb/duckdb#23704, fixed by #24696).
   */
  private async run<T>(statement: Statement, read: (prepared: DuckDBPreparedStatement) => Promise<T>): Promise<T> {
    const prepared = await this.connection.prepare(statement.sql);
    try {
      statement.values.forEach((value, i) => {
        if (value === null) prepared.bindNull(i + 1);
        else prepared.bindValue(i + 1, value, DUCKDB_TYPES[statement.types[i]]);
      });
      return await read(prepared);
    } finally {
      prepared.destroySync();
    }
  }

  /** Executes a statement; returns the number of rows it changed. */
  private execute(statement: Statement): Promise<number> {
    return this.run(statement, async (prepared) => (await prepared.run()).rowsChanged);
  }

  private rows(statement: Statement): Promise<Row[]> {
    return this.run(statement, async (prepared) => (await prepared.runAndReadAll()).getRowObjects());
  }

  protected all<T>(query: Query<T>): Promise<T[]> {
    return this.serial(async () => (await this.rows(query)).map((row) => query.decode(row)));
  }

  protected override leasePlaceholder() {
    return LEASE_PLACEHOLDER;
  }
}

/** Update steps with the same key can share a staging table: same table, same columns in the same order. */
function stageKey(step: UpdateStep): string {
  return `${step.mapping.table}:${step.columns.map((c) => c.name).join(',')}`;
}

/** One process owns a DuckDB file, so its own clock is the only one. */
function localClock(): LeaseClock {
  return { at: Date.now() };
}

function closeAppender(appender: DuckDBAppender): void {
  try {
    appender.closeSync();
  } catch {
    // After a failed flush the appender still holds the rejected rows; the flush error is the one to report.
  }
}

function appendValue(appender: DuckDBAppender, value: SqlValue, type: ColumnType): void {
  if (value === null) return appender.appendNull();
  switch (type) {
    case 'text':
      return appender.appendVarchar(value as string);
    case 'boolean':
      return appender.appendBoolean(value as boolean);
    case 'double':
      return appender.appendDouble(value as number);
    case 'integer':
      return appender.appendInteger(value as number);
    case 'bigint':
      return appender.appendBigInt(BigInt(value as number));
  }
}
