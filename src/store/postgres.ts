import pg from 'pg';
import { dollarNumbers, missingRowError, planWrite, toNumber, type Query, type Row, type SqlValue, type Statement, type WriteStep } from './mapping.js';
import { bulkInsertStatements, bulkUpdateStatements, type BulkStatement } from './pg-bulk.js';
import { SqlReads } from './sql-reads.js';
import {
  acquireLeaseStatement,
  checkFence,
  fenceQuery,
  leaseClock,
  POSTGRES_CLOCK,
  releaseLeaseStatement,
  renewLeaseStatement,
} from './lease.js';
import { migrationStatements, pendingMigrations, SCHEMA_MIGRATIONS_DDL } from './schema.js';
import type {
  Change,
  Fence,
  LeaseAcquisition,
  Store,
} from './store.js';

// The PostgreSQL store, for several coordinators sharing one database (high availability). Same SQL as
// DuckDB (mapping.ts, lease.ts, schema.ts) with $n placeholders. Reads go to any pooled connection;
// each write takes one connection for its transaction. Tables live in the connection's search_path
// schema (public by default; `?options=-c%20search_path%3Dname` in the URL picks another).

export interface PostgresStoreOptions {
  /** Connections in the pool (default 4): a coordinator's writes are few and short. */
  poolSize?: number;
  /** How long to wait for a connection to the server (default 10,000 ms). */
  connectTimeoutMs?: number;
}

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Distinguishes drm's migration lock from other users of advisory locks in the same database ('drm'). */
const MIGRATION_LOCK_CLASS = 0x64726d;

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Parsers for this store's pools only (the global pg.types stay untouched for other pg users in the
 * process): BIGINT and NUMERIC arrive as numbers. Every integer drm writes is a safe integer (mapping.ts
 * checks), so Number() is exact for them.
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (oid === INT8_OID || oid === NUMERIC_OID) && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
}

export class PostgresStore extends SqlReads implements Store {
  protected readonly placeholder = dollarNumbers;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    /** The URL without its password, for messages. */
    readonly location: string,
  ) {
    super();
  }

  /** Connects (checking the server answers) to a postgres:// or postgresql:// URL; call migrate() next. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      application_name: 'drm',
      types: TYPES,
    });
    // An idle connection the server drops emits 'error' on the pool, which would crash the process
    // unhandled; the pool discards that connection and the next query opens a fresh one.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool, redact(url));
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot connect to PostgreSQL at ${store.location}: ${(error as Error).message}`, { cause: error });
    }
    return store;
  }

  /**
   * Applies pending migrations in one transaction under a transaction-scoped advisory lock (per schema),
   * so coordinators starting together run them once: the others wait, then find nothing pending.
   */
  migrate(): Promise<void> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), \'\')))', [MIGRATION_LOCK_CLASS]);
      await client.query(SCHEMA_MIGRATIONS_DDL);
      const applied = await client.query('SELECT version FROM schema_migrations');
      for (const migration of pendingMigrations(applied.rows.map((r: Row) => toNumber(r.version)))) {
        for (const sql of migrationStatements(migration, 'postgres')) await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now(),
        ]);
      }
    });
  }

  /** What schema_migrations records, oldest first (diagnostics and tests). */
  async appliedMigrations(): Promise<AppliedMigration[]> {
    const rows = await this.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    return rows.map((r) => ({ version: toNumber(r.version), name: String(r.name), appliedAt: toNumber(r.applied_at) }));
  }

  /** A raw query for diagnostics and tests; BIGINTs come back as numbers. */
  async query(sql: string, values: SqlValue[] = []): Promise<Row[]> {
    this.checkOpen();
    return (await this.pool.query(sql, values)).rows as Row[];
  }

  /** Waits for checked-out connections to be returned, then closes the pool; calls after it are refused. */
  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }

  async write(changes: readonly Change[], fence?: Fence): Promise<void> {
    this.checkOpen();
    // Encoded before a connection is taken, so a bad record costs no round trip.
    const steps = planWrite(changes);
    if (steps.length === 0 && !fence) return;
    await this.transaction(async (client) => {
      if (fence) {
        // First statement of the transaction, so the lease row stays share-locked until COMMIT.
        const check = fenceQuery(fence, leaseClock(fence.now, () => POSTGRES_CLOCK), true, dollarNumbers);
        checkFence(fence, (await run(client, check)).rows.map(check.decode)[0]);
      }
      for (const step of steps) await apply(client, step);
    });
  }

  async acquireLease(name: string, holder: string, ttlMs: number, now?: number): Promise<LeaseAcquisition> {
    const statement = acquireLeaseStatement(name, holder, ttlMs, leaseClock(now, () => POSTGRES_CLOCK), dollarNumbers);
    // The take is one statement; reading who holds it instead is a second, so the holder may be gone by
    // then (released or expired): try again, a few times, rather than report a free lease as held.
    for (let tries = 0; ; tries++) {
      const taken = (await this.run(statement)).rows.map(statement.decode)[0];
      if (taken) return { acquired: true, holder, epoch: taken.epoch, expiresAt: taken.expiresAt ?? 0 };
      const current = await this.getLease(name);
      const held = current !== undefined && current.holder !== null && current.expiresAt !== null;
      if (held || tries >= 2) {
        return { acquired: false, holder: current?.holder ?? null, epoch: current?.epoch ?? 0, expiresAt: current?.expiresAt ?? 0 };
      }
    }
  }

  async renewLease(name: string, holder: string, epoch: number, ttlMs: number, now?: number): Promise<boolean> {
    const statement = renewLeaseStatement(name, holder, epoch, ttlMs, leaseClock(now, () => POSTGRES_CLOCK), dollarNumbers);
    return ((await this.run(statement)).rowCount ?? 0) > 0;
  }

  async releaseLease(name: string, holder: string, epoch: number): Promise<boolean> {
    return ((await this.run(releaseLeaseStatement(name, holder, epoch, dollarNumbers))).rowCount ?? 0) > 0;
  }


  // -------------------------------------------------------------------------------------------------

  private checkOpen(): void {
    // pg's own message ("Cannot use a pool after calling end") does not say which store.
    if (this.closing) throw new Error(`store ${this.location} is closed`);
  }

  /** BEGIN ... COMMIT on one connection; ROLLBACK on failure, and a connection that cannot roll back is discarded. */
  private async transaction(fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    this.checkOpen();
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await fn(client);
      await client.query('COMMIT');
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private async run(statement: Statement): Promise<pg.QueryResult<Row>> {
    this.checkOpen();
    return run(this.pool, statement);
  }

  protected async all<T>(query: Query<T>): Promise<T[]> {
    return (await this.run(query)).rows.map((row) => query.decode(row));
  }
}

function run(on: pg.Pool | pg.PoolClient, statement: Statement | BulkStatement): Promise<pg.QueryResult<Row>> {
  return on.query<Row>(statement.sql, statement.values);
}

async function apply(client: pg.PoolClient, step: WriteStep): Promise<void> {
  switch (step.op) {
    case 'insert':
    case 'upsert':
      for (const statement of bulkInsertStatements(step.mapping, step.rows, step.op === 'upsert')) await run(client, statement);
      return;
    case 'update': {
      let changed = 0;
      for (const statement of bulkUpdateStatements(step.mapping, step.columns, step.rows)) changed += (await run(client, statement)).rowCount ?? 0;
      if (changed !== step.rows.length) {
        const ids = step.rows.map((r) => r.id);
        const found = await client.query<{ id: string }>(`SELECT ${step.mapping.key.name} AS id FROM ${step.mapping.table} WHERE ${step.mapping.key.name} = ANY($1)`, [ids]);
        throw missingRowError(step.what, ids, new Set(found.rows.map((r) => r.id)));
      }
      return;
    }
    case 'exec':
      await run(client, step.statement);
      return;
  }
}

/** The URL with any password replaced, safe to put in messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
