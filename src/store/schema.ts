// Versioned migrations, shared by the DuckDB and PostgreSQL stores.
//
// The SQL is the common subset of both dialects (TEXT, INTEGER, BIGINT, DOUBLE PRECISION, BOOLEAN; JSON
// kept as TEXT; times as BIGINT epoch milliseconds), so one list serves both backends. A migration, once
// released, never changes: a schema change is a new entry with the next version. Column names are a
// public contract (users query the tables directly), documented in TABLES.md and the README.
//
// Names avoid words DuckDB reserves (a column called `at` does not parse there), hence sampled_at and
// decided_at.

export type Dialect = 'duckdb' | 'postgres';

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
  /** Set when the change concerns one dialect only: the others record the version and run nothing. */
  dialect?: Dialect;
}

/** The bookkeeping table; created outside the migrations because it records them. */
export const SCHEMA_MIGRATIONS_DDL =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT
      )`,
      `CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        command TEXT NOT NULL,
        env TEXT NOT NULL,
        cwd TEXT,
        declared_cpu DOUBLE PRECISION,
        declared_memory_mb DOUBLE PRECISION,
        declared_gpus INTEGER,
        declared_gpu_memory_mb DOUBLE PRECISION,
        declared_custom_resources TEXT,
        cpu DOUBLE PRECISION NOT NULL,
        memory_mb DOUBLE PRECISION NOT NULL,
        gpus INTEGER NOT NULL,
        gpu_memory_mb DOUBLE PRECISION NOT NULL,
        custom_resources TEXT,
        labels TEXT NOT NULL,
        priority INTEGER NOT NULL,
        timeout_sec DOUBLE PRECISION NOT NULL,
        max_retries INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        suite TEXT,
        model_type TEXT,
        model_name TEXT,
        batch_size INTEGER,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        current_attempt_id TEXT,
        worker_id TEXT,
        worker_type TEXT,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        duration_ms DOUBLE PRECISION,
        exit_code INTEGER,
        peak_memory_mb DOUBLE PRECISION,
        cpu_seconds DOUBLE PRECISION,
        reason TEXT,
        stdout_tail TEXT,
        stderr_tail TEXT
      )`,
      'CREATE INDEX tasks_state_idx ON tasks (state)',
      'CREATE INDEX tasks_run_id_idx ON tasks (run_id)',
      `CREATE TABLE attempts (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        worker_type TEXT NOT NULL,
        state TEXT NOT NULL,
        gpu_indices TEXT NOT NULL,
        assigned_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        pid INTEGER,
        exit_code INTEGER,
        duration_ms DOUBLE PRECISION,
        peak_memory_mb DOUBLE PRECISION,
        cpu_seconds DOUBLE PRECISION,
        reason TEXT,
        stdout_tail TEXT,
        stderr_tail TEXT
      )`,
      'CREATE INDEX attempts_task_id_idx ON attempts (task_id)',
      `CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        provider TEXT NOT NULL,
        cpu DOUBLE PRECISION NOT NULL,
        memory_mb DOUBLE PRECISION NOT NULL,
        gpus INTEGER NOT NULL,
        gpu_memory_mb DOUBLE PRECISION NOT NULL,
        custom_resources TEXT,
        labels TEXT NOT NULL,
        state TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL
      )`,
      `CREATE TABLE usage_samples (
        worker_id TEXT NOT NULL,
        sampled_at BIGINT NOT NULL,
        cpu DOUBLE PRECISION NOT NULL,
        memory_mb DOUBLE PRECISION NOT NULL,
        gpus DOUBLE PRECISION,
        gpu_memory_mb DOUBLE PRECISION
      )`,
      'CREATE INDEX usage_samples_worker_idx ON usage_samples (worker_id, sampled_at)',
      `CREATE TABLE scaling_decisions (
        id TEXT PRIMARY KEY,
        decided_at BIGINT NOT NULL,
        action TEXT NOT NULL,
        worker_type TEXT,
        worker_count INTEGER NOT NULL,
        worker_ids TEXT NOT NULL,
        reason TEXT NOT NULL,
        utilization_cpu DOUBLE PRECISION NOT NULL,
        utilization_memory DOUBLE PRECISION NOT NULL,
        utilization_gpu DOUBLE PRECISION NOT NULL,
        utilization_overall DOUBLE PRECISION NOT NULL,
        pending_cpu DOUBLE PRECISION NOT NULL,
        pending_memory_mb DOUBLE PRECISION NOT NULL,
        pending_gpus INTEGER NOT NULL,
        pending_gpu_memory_mb DOUBLE PRECISION NOT NULL,
        pending_custom_resources TEXT,
        executed BOOLEAN NOT NULL
      )`,
      `CREATE TABLE task_history (
        attempt_id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        model_type TEXT,
        model_name TEXT,
        batch_size INTEGER,
        labels TEXT NOT NULL,
        worker_type TEXT NOT NULL,
        succeeded BOOLEAN NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        peak_memory_mb DOUBLE PRECISION NOT NULL,
        cpu_seconds DOUBLE PRECISION NOT NULL,
        gpu_memory_mb DOUBLE PRECISION,
        predicted_duration_ms DOUBLE PRECISION,
        predicted_memory_mb DOUBLE PRECISION,
        finished_at BIGINT NOT NULL
      )`,
      'CREATE INDEX task_history_model_type_idx ON task_history (model_type)',
      'CREATE INDEX task_history_name_idx ON task_history (name)',
      `CREATE TABLE leader_lease (
        name TEXT PRIMARY KEY,
        holder TEXT,
        epoch BIGINT,
        expires_at BIGINT
      )`,
    ],
  },
  {
    // DuckDB updates an indexed column as a delete and re-insert of the whole row, so with this index
    // every state change of a task (two or more per task) rewrote the row: a state update of 200
    // tasks took ~7.7 ms instead of ~1.6 ms. What it costs: reads by state scan, so listing the 100
    // live tasks among 100,000 (a coordinator's recovery at start) takes ~14 ms instead of ~5 ms.
    // PostgreSQL keeps it: there an update is a new row version whatever it changes.
    version: 2,
    name: 'no tasks(state) index on DuckDB',
    dialect: 'duckdb',
    statements: ['DROP INDEX IF EXISTS tasks_state_idx'],
  },
  {
    version: 3,
    name: 'write journal position on DuckDB',
    dialect: 'duckdb',
    // The last write-journal entry the tables hold (see src/store/journal.ts), in the transactions that apply them.
    statements: ['CREATE TABLE write_journal_state (applied_seq BIGINT NOT NULL)', 'INSERT INTO write_journal_state VALUES (0)'],
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** What a migration runs on `dialect`: nothing when it belongs to another one. */
export function migrationStatements(migration: Migration, dialect: Dialect): readonly string[] {
  return migration.dialect === undefined || migration.dialect === dialect ? migration.statements : [];
}

/** The migrations still to run, in order, given the versions already recorded in schema_migrations. */
export function pendingMigrations(applied: readonly number[]): Migration[] {
  const newest = Math.max(0, ...applied);
  // A database written by a newer drm may hold tables this version does not understand; refuse to touch it.
  if (newest > LATEST_SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${newest} is newer than this drm supports (${LATEST_SCHEMA_VERSION}); upgrade drm`,
    );
  }
  const done = new Set(applied);
  return MIGRATIONS.filter((m) => !done.has(m.version));
}
