import type { Resources } from '../core/resources.js';
import type {
  AttemptRecord,
  Change,
  RunRecord,
  ScalingDecisionRecord,
  TaskFilter,
  TaskHistoryRecord,
  TaskRecord,
  UsageSampleRecord,
  WorkerRecord,
} from './store.js';

// Record <-> row mapping and SQL generation shared by both SQL backends (DuckDB and PostgreSQL; the
// latter's bulk statements are in pg-bulk.ts).
// A backend only supplies its placeholder style (`?` or `$1`), executes the statements built here and
// hands rows back as plain objects keyed by column name; encoding, decoding and the SQL text live here so
// both backends store and return exactly the same thing.

export type ColumnType = 'text' | 'integer' | 'bigint' | 'double' | 'boolean';
export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

/** Renders the n-th (1-based) parameter of a statement. */
export type Placeholder = (position: number) => string;
export const questionMarks: Placeholder = () => '?';
export const dollarNumbers: Placeholder = (position) => `$${position}`;

/** SQL with its parameters; `types` says what each parameter is, for drivers that bind by type. */
export interface Statement {
  sql: string;
  values: SqlValue[];
  types: ColumnType[];
}

/** A read: its statement and how to turn one result row into a record. */
export interface Query<T> extends Statement {
  decode(row: Row): T;
}

// ---------------------------------------------------------------------------------------------------
// Values

/** Drivers return BIGINT as bigint (DuckDB) or string (pg); records carry plain numbers. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    if (!Number.isNaN(n)) return n;
  }
  throw new TypeError(`expected a number from the database, got ${typeof value} ${String(value)}`);
}

function checkValue(value: unknown, type: ColumnType, where: string): SqlValue {
  switch (type) {
    case 'text':
      // PostgreSQL text cannot hold NUL (a task's output tail may); both backends store U+FFFD instead so they agree.
      if (typeof value === 'string') return value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'double':
      if (typeof value === 'number') return value;
      break;
    case 'integer':
    case 'bigint':
      // Checked here rather than left to the database: DuckDB would round 0.5 GPUs silently, pg would reject it.
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
  }
  throw new TypeError(`${where}: expected ${type === 'bigint' || type === 'integer' ? 'an integer' : `a ${type}`}, got ${JSON.stringify(value)}`);
}

function decodeValue(value: unknown, type: ColumnType): string | number | boolean {
  switch (type) {
    case 'text':
      return String(value);
    case 'boolean':
      return value === true || value === 'true' || value === 't' || value === 1;
    default:
      return toNumber(value);
  }
}

// ---------------------------------------------------------------------------------------------------
// Fields: one record field stored in one or more columns

interface Field {
  readonly field: string;
  readonly columns: readonly Column[];
  /** Appends the field's column values to `out`. */
  encode(value: unknown, table: string, out: SqlValue[]): void;
  decode(row: Row): unknown;
}

interface FieldOptions {
  /** Column name when it is not the snake_case of the field. */
  column?: string;
  nullable?: boolean;
}

export function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** One column; absent values are NULL (allowed only when nullable), present ones go through encode/decode. */
function singleColumn(
  field: string,
  type: ColumnType,
  options: FieldOptions,
  encodeValue: (value: unknown, where: string) => SqlValue,
  decodeValue: (value: unknown) => unknown,
): Field {
  const column: Column = { name: options.column ?? snakeCase(field), type };
  return {
    field,
    columns: [column],
    encode(value, table, out) {
      if (value === null || value === undefined) {
        if (!options.nullable) throw new TypeError(`${table}.${column.name}: a value is required`);
        out.push(null);
      } else {
        out.push(encodeValue(value, `${table}.${column.name}`));
      }
    },
    decode(row) {
      const v = row[column.name];
      return v === null || v === undefined ? null : decodeValue(v);
    },
  };
}

function scalar(field: string, type: ColumnType, options: FieldOptions = {}): Field {
  return singleColumn(field, type, options, (v, where) => checkValue(v, type, where), (v) => decodeValue(v, type));
}

const text = (field: string, o?: FieldOptions) => scalar(field, 'text', o);
const integer = (field: string, o?: FieldOptions) => scalar(field, 'integer', o);
const bigint = (field: string, o?: FieldOptions) => scalar(field, 'bigint', o);
const double = (field: string, o?: FieldOptions) => scalar(field, 'double', o);
const boolean = (field: string, o?: FieldOptions) => scalar(field, 'boolean', o);

/** Objects and arrays are stored as JSON text: portable, and readable from SQL with json functions. */
function json(field: string, options: FieldOptions = {}): Field {
  return singleColumn(field, 'text', options, (v) => JSON.stringify(v), (v) => JSON.parse(String(v)));
}

/**
 * A resource vector as one numeric column per dimension (so SQL can sum and filter them) plus the
 * custom resources as JSON. A nullable vector is null when its cpu column is null.
 */
function resourceVector(field: string, prefix: string, options: { nullable?: boolean } = {}): Field {
  const cols = {
    cpu: { name: `${prefix}cpu`, type: 'double' },
    memoryMb: { name: `${prefix}memory_mb`, type: 'double' },
    gpus: { name: `${prefix}gpus`, type: 'integer' },
    gpuMemoryMb: { name: `${prefix}gpu_memory_mb`, type: 'double' },
    custom: { name: `${prefix}custom_resources`, type: 'text' },
  } as const satisfies Record<keyof Resources, Column>;
  const numeric = [cols.cpu, cols.memoryMb, cols.gpus, cols.gpuMemoryMb];
  return {
    field,
    columns: [...numeric, cols.custom],
    encode(value, table, out) {
      if (value === null || value === undefined) {
        if (!options.nullable) throw new TypeError(`${table}.${field}: a resource vector is required`);
        out.push(null, null, null, null, null);
        return;
      }
      const r = value as Resources;
      out.push(
        checkValue(r.cpu, 'double', `${table}.${cols.cpu.name}`),
        checkValue(r.memoryMb, 'double', `${table}.${cols.memoryMb.name}`),
        checkValue(r.gpus, 'integer', `${table}.${cols.gpus.name}`),
        checkValue(r.gpuMemoryMb, 'double', `${table}.${cols.gpuMemoryMb.name}`),
        r.custom === undefined ? null : JSON.stringify(r.custom),
      );
    },
    decode(row) {
      if (row[cols.cpu.name] === null || row[cols.cpu.name] === undefined) return null;
      const r: Resources = {
        cpu: toNumber(row[cols.cpu.name]),
        memoryMb: toNumber(row[cols.memoryMb.name]),
        gpus: toNumber(row[cols.gpus.name]),
        gpuMemoryMb: toNumber(row[cols.gpuMemoryMb.name]),
      };
      const custom = row[cols.custom.name];
      // Absent custom stays absent (not undefined-valued) so records compare strictly equal.
      if (custom !== null && custom !== undefined) r.custom = JSON.parse(String(custom)) as Record<string, number>;
      return r;
    },
  };
}

/** A small object of numbers flattened into one double column per key. */
function numberObject(field: string, columnsByKey: Record<string, string>): Field {
  const entries = Object.entries(columnsByKey);
  return {
    field,
    columns: entries.map(([, name]) => ({ name, type: 'double' as const })),
    encode(value, table, out) {
      if (value === null || typeof value !== 'object') throw new TypeError(`${table}.${field}: an object is required`);
      const o = value as Record<string, unknown>;
      for (const [key, name] of entries) out.push(checkValue(o[key], 'double', `${table}.${name}`));
    },
    decode(row) {
      return Object.fromEntries(entries.map(([key, name]) => [key, toNumber(row[name])]));
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Tables

export class TableMapping<R extends object> {
  readonly columns: readonly Column[];
  readonly key: Column;
  private readonly byField: ReadonlyMap<string, Field>;
  /** Position in `columns` of each field's first column. */
  private readonly fieldStart: ReadonlyMap<Field, number>;

  constructor(
    readonly table: string,
    /** The primary-key field; updates and upserts address rows by it. */
    readonly keyField: keyof R & string,
    readonly fields: readonly Field[],
    /** Fields a patch may not change (the key, and what identity or ordering depends on). */
    readonly immutable: readonly string[] = [],
  ) {
    this.columns = fields.flatMap((f) => f.columns);
    this.byField = new Map(fields.map((f) => [f.field, f]));
    let start = 0;
    this.fieldStart = new Map(fields.map((f) => [f, (start += f.columns.length) - f.columns.length]));
    const key = this.byField.get(this.keyField);
    if (!key || key.columns.length !== 1) throw new Error(`${table}: key ${this.keyField} must map to one column`);
    this.key = key.columns[0];
  }

  /** Values for every column, in `columns` order. */
  encode(record: R): SqlValue[] {
    const r = record as Record<string, unknown>;
    const out: SqlValue[] = [];
    for (const f of this.fields) f.encode(r[f.field], this.table, out);
    return out;
  }

  decode(row: Row): R {
    const out: Record<string, unknown> = {};
    for (const f of this.fields) out[f.field] = f.decode(row);
    return out as R;
  }

  /** The columns and values a patch sets; fields that are absent or undefined are left alone. */
  encodePatch(patch: object): { columns: Column[]; values: SqlValue[] } {
    const columns: Column[] = [];
    const values: SqlValue[] = [];
    for (const [name, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      const f = this.updatableField(name);
      for (const c of f.columns) columns.push(c);
      f.encode(value, this.table, values);
    }
    return { columns, values };
  }

  /**
   * Lays a patch over `set` (encoded values by column position): the columns of the fields it names
   * get their new values; fields that are absent or undefined are left alone.
   */
  patchInto(patch: object, set: Array<SqlValue | undefined>): void {
    const p = patch as Record<string, unknown>;
    const encoded: SqlValue[] = [];
    for (const name of Object.keys(p)) {
      const value = p[name];
      if (value === undefined) continue;
      const f = this.updatableField(name);
      const from = encoded.length;
      f.encode(value, this.table, encoded);
      const start = (this.fieldStart.get(f) as number) - from;
      for (let i = from; i < encoded.length; i++) set[start + i] = encoded[i];
    }
  }

  private updatableField(name: string): Field {
    const f = this.byField.get(name);
    if (!f) throw new TypeError(`${this.table}: unknown field "${name}" in update`);
    if (name === this.keyField || this.immutable.includes(name)) throw new TypeError(`${this.table}: field "${name}" cannot be updated`);
    return f;
  }

  columnList(): string {
    return this.columns.map((c) => c.name).join(', ');
  }
}

export const RUNS = new TableMapping<RunRecord>('runs', 'id', [
  text('id'),
  text('name'),
  text('state'),
  bigint('createdAt'),
  bigint('startedAt', { nullable: true }),
  bigint('finishedAt', { nullable: true }),
]);

export const TASKS = new TableMapping<TaskRecord>(
  'tasks',
  'id',
  [
    text('id'),
    text('runId'),
    bigint('seq'),
    text('name'),
    text('kind'),
    json('command'),
    json('env'),
    text('cwd', { nullable: true }),
    resourceVector('declaredResources', 'declared_', { nullable: true }),
    resourceVector('resources', ''),
    json('labels'),
    integer('priority'),
    double('timeoutSec'),
    integer('maxRetries'),
    json('dependsOn'),
    text('suite', { nullable: true }),
    text('modelType', { nullable: true }),
    text('modelName', { nullable: true }),
    integer('batchSize', { nullable: true }),
    text('state'),
    integer('attempts'),
    text('currentAttemptId', { nullable: true }),
    text('workerId', { nullable: true }),
    text('workerType', { nullable: true }),
    bigint('createdAt'),
    bigint('startedAt', { nullable: true }),
    bigint('finishedAt', { nullable: true }),
    double('durationMs', { nullable: true }),
    integer('exitCode', { nullable: true }),
    double('peakMemoryMb', { nullable: true }),
    double('cpuSeconds', { nullable: true }),
    text('reason', { nullable: true }),
    text('stdoutTail', { nullable: true }),
    text('stderrTail', { nullable: true }),
  ],
  ['runId', 'seq'],
);

export const ATTEMPTS = new TableMapping<AttemptRecord>(
  'attempts',
  'id',
  [
    text('id'),
    text('taskId'),
    text('workerId'),
    text('workerType'),
    text('state'),
    json('gpuIndices'),
    bigint('assignedAt'),
    bigint('startedAt', { nullable: true }),
    bigint('finishedAt', { nullable: true }),
    integer('pid', { nullable: true }),
    integer('exitCode', { nullable: true }),
    double('durationMs', { nullable: true }),
    double('peakMemoryMb', { nullable: true }),
    double('cpuSeconds', { nullable: true }),
    text('reason', { nullable: true }),
    text('stdoutTail', { nullable: true }),
    text('stderrTail', { nullable: true }),
  ],
  ['taskId'],
);

export const WORKERS = new TableMapping<WorkerRecord>('workers', 'id', [
  text('id'),
  text('type'),
  text('provider'),
  resourceVector('resources', ''),
  json('labels'),
  text('state'),
  bigint('registeredAt'),
  bigint('lastSeenAt'),
]);

// No primary key: samples are an append-only series; `workerId` is only the mapping's addressing field.
export const USAGE_SAMPLES = new TableMapping<UsageSampleRecord>('usage_samples', 'workerId', [
  text('workerId'),
  bigint('at', { column: 'sampled_at' }),
  double('cpu'),
  double('memoryMb'),
  double('gpus', { nullable: true }),
  double('gpuMemoryMb', { nullable: true }),
]);

export const SCALING_DECISIONS = new TableMapping<ScalingDecisionRecord>('scaling_decisions', 'id', [
  text('id'),
  bigint('at', { column: 'decided_at' }),
  text('action'),
  text('workerType', { nullable: true }),
  integer('count', { column: 'worker_count' }),
  json('workerIds'),
  text('reason'),
  numberObject('utilization', {
    cpu: 'utilization_cpu',
    memory: 'utilization_memory',
    gpu: 'utilization_gpu',
    overall: 'utilization_overall',
  }),
  resourceVector('pendingDemand', 'pending_'),
  boolean('executed'),
]);

export const TASK_HISTORY = new TableMapping<TaskHistoryRecord>('task_history', 'attemptId', [
  text('attemptId'),
  text('taskId'),
  text('name'),
  text('kind'),
  text('modelType', { nullable: true }),
  text('modelName', { nullable: true }),
  integer('batchSize', { nullable: true }),
  json('labels'),
  text('workerType'),
  boolean('succeeded'),
  double('durationMs'),
  double('peakMemoryMb'),
  double('cpuSeconds'),
  double('gpuMemoryMb', { nullable: true }),
  double('predictedDurationMs', { nullable: true }),
  double('predictedMemoryMb', { nullable: true }),
  bigint('finishedAt'),
]);

/** Every mapped table (leader_lease is written by the lease code, not through records). */
export const TABLE_MAPPINGS: readonly TableMapping<object>[] = [
  RUNS,
  TASKS,
  ATTEMPTS,
  WORKERS,
  USAGE_SAMPLES,
  SCALING_DECISIONS,
  TASK_HISTORY,
] as TableMapping<object>[];

// ---------------------------------------------------------------------------------------------------
// Statements

/** Collects parameters and renders their placeholders in order. */
export class Params {
  readonly values: SqlValue[] = [];
  readonly types: ColumnType[] = [];
  constructor(private readonly placeholder: Placeholder) {}

  add(value: SqlValue, type: ColumnType): string {
    this.values.push(value);
    this.types.push(type);
    return this.placeholder(this.values.length);
  }

  statement(sql: string): Statement {
    return { sql, values: this.values, types: this.types };
  }
}

/** Parameters per multi-row statement: wide tables still batch a few hundred rows (pg's own limit is 65,535). */
export const MAX_PARAMS_PER_STATEMENT = 30_000;

/** Multi-row INSERTs for already encoded rows, split so no statement exceeds `maxParams`. */
export function insertStatements<R extends object>(
  mapping: TableMapping<R>,
  rows: readonly SqlValue[][],
  placeholder: Placeholder,
  maxParams = MAX_PARAMS_PER_STATEMENT,
): Statement[] {
  const perStatement = Math.max(1, Math.floor(maxParams / mapping.columns.length));
  const out: Statement[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const p = new Params(placeholder);
    const tuples = rows.slice(start, start + perStatement).map(
      (row) => `(${row.map((v, i) => p.add(v, mapping.columns[i].type)).join(', ')})`,
    );
    out.push(p.statement(`INSERT INTO ${mapping.table} (${mapping.columnList()}) VALUES ${tuples.join(', ')}`));
  }
  return out;
}

/** UPDATE of the patched columns only; null when the patch sets nothing. */
export function updateStatement<R extends object>(
  mapping: TableMapping<R>,
  id: string,
  patch: object,
  placeholder: Placeholder,
): Statement | null {
  const { columns, values } = mapping.encodePatch(patch);
  if (columns.length === 0) return null;
  return rowUpdateStatement(mapping, columns, { id, values }, placeholder);
}

/** UPDATE of one row by key, setting `columns` to the row's already encoded values. */
export function rowUpdateStatement<R extends object>(
  mapping: TableMapping<R>,
  columns: readonly Column[],
  row: { id: string; values: readonly SqlValue[] },
  placeholder: Placeholder,
): Statement {
  const p = new Params(placeholder);
  const sets = columns.map((c, i) => `${c.name} = ${p.add(row.values[i], c.type)}`);
  const where = `${mapping.key.name} = ${p.add(row.id, mapping.key.type)}`;
  return p.statement(`UPDATE ${mapping.table} SET ${sets.join(', ')} WHERE ${where}`);
}

/**
 * INSERTs that replace every non-key column when the key exists (same syntax in DuckDB and PostgreSQL),
 * of encoded rows, split like insertStatements. The keys must be distinct: a row may
 * not be upserted twice by one statement (planWrite puts a second upsert of a key in a later step).
 */
export function upsertStatements<R extends object>(
  mapping: TableMapping<R>,
  rows: readonly SqlValue[][],
  placeholder: Placeholder,
  maxParams = MAX_PARAMS_PER_STATEMENT,
): Statement[] {
  const conflict = conflictClause(mapping);
  return insertStatements(mapping, rows, placeholder, maxParams).map((s) => ({ ...s, sql: s.sql + conflict }));
}

/** What makes an INSERT an upsert: a row whose key exists gets every other column replaced. */
export function conflictClause<R extends object>(mapping: TableMapping<R>): string {
  const sets = mapping.columns.filter((c) => c !== mapping.key).map((c) => `${c.name} = excluded.${c.name}`);
  return ` ON CONFLICT (${mapping.key.name}) DO UPDATE SET ${sets.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------------
// Writes

/** One step of a write transaction, in change order. */
export type WriteStep =
  /** Rows for one table, merged from consecutive inserts of the same kind so a backend can batch them. */
  | { op: 'insert'; mapping: TableMapping<object>; rows: SqlValue[][] }
  /**
   * Rows of one table that get the same columns set (in table order), each id once, for the backend to
   * apply in bulk (PostgreSQL: `UPDATE ... FROM unnest(...)`; DuckDB: a staging table).
   * Every id must exist, else the write fails naming the first missing one.
   */
  | { op: 'update'; mapping: TableMapping<object>; columns: Column[]; rows: Array<{ id: string; values: SqlValue[] }>; what: string }
  /** Rows to insert or, where the key exists, replace; each key once (a worker registering). */
  | { op: 'upsert'; mapping: TableMapping<object>; rows: SqlValue[][] }
  | { op: 'exec'; statement: Statement };

function insertMapping(change: Change): { mapping: TableMapping<object>; records: object[] } | null {
  switch (change.kind) {
    case 'runInsert':
      return { mapping: RUNS as TableMapping<object>, records: [change.run] };
    case 'taskInsert':
      return { mapping: TASKS as TableMapping<object>, records: [change.task] };
    case 'attemptInsert':
      return { mapping: ATTEMPTS as TableMapping<object>, records: [change.attempt] };
    case 'usageSamples':
      return { mapping: USAGE_SAMPLES as TableMapping<object>, records: change.samples };
    case 'scalingDecision':
      return { mapping: SCALING_DECISIONS as TableMapping<object>, records: [change.decision] };
    case 'taskHistory':
      return { mapping: TASK_HISTORY as TableMapping<object>, records: [change.row] };
    default:
      return null;
  }
}

/** A planned change to rows of one table (its values encoded), before it is grouped into steps. */
export type PlannedOp =
  | { op: 'insert'; mapping: TableMapping<object>; rows: SqlValue[][]; keys: string[] }
  /** `set`: the encoded values by column position, undefined where no patch named the column. */
  | { op: 'update'; mapping: TableMapping<object>; what: string; id: string; key: string; set: Array<SqlValue | undefined> }
  | { op: 'upsert'; mapping: TableMapping<object>; key: string; row: SqlValue[] };

/**
 * Turns changes into steps, encoding (and so validating) every record before anything is executed.
 * Updates of an id that does not exist fail the whole write: a lost update is a bug to surface, not skip.
 */
export function planWrite(changes: readonly Change[]): WriteStep[] {
  return planSteps(planOps(changes));
}

/** Each change encoded (and so validated) on its own, in order; the values are copies of the records'. */
export function planOps(changes: readonly Change[]): PlannedOp[] {
  const ops: PlannedOp[] = [];
  const update = (mapping: TableMapping<object>, what: string, id: string, patch: object) => {
    const set: Array<SqlValue | undefined> = [];
    mapping.patchInto(patch, set);
    if (set.length === 0) return; // an empty patch changes nothing
    ops.push({ op: 'update', mapping, what, id, key: `${mapping.table}:${id}`, set });
  };
  for (const change of changes) {
    const insert = insertMapping(change);
    if (insert) {
      if (insert.records.length === 0) continue;
      const keyIndex = insert.mapping.columns.indexOf(insert.mapping.key);
      const rows = insert.records.map((r) => insert.mapping.encode(r));
      ops.push({ op: 'insert', mapping: insert.mapping, rows, keys: rows.map((r) => `${insert.mapping.table}:${String(r[keyIndex])}`) });
      continue;
    }
    switch (change.kind) {
      case 'runUpdate':
        update(RUNS as TableMapping<object>, 'run', change.id, change.patch);
        break;
      case 'taskUpdate':
        update(TASKS as TableMapping<object>, 'task', change.id, change.patch);
        break;
      case 'attemptUpdate':
        update(ATTEMPTS as TableMapping<object>, 'attempt', change.id, change.patch);
        break;
      case 'workerUpdate':
        update(WORKERS as TableMapping<object>, 'worker', change.id, change.patch);
        break;
      case 'workerUpsert':
        ops.push({ op: 'upsert', mapping: WORKERS as TableMapping<object>, key: `${WORKERS.table}:${change.worker.id}`, row: WORKERS.encode(change.worker) });
        break;
      default: {
        const unknown: { kind?: unknown } = change;
        throw new TypeError(`unknown change kind ${JSON.stringify(unknown.kind)}`);
      }
    }
  }
  return ops;
}

/**
 * Merges ops (of one write, or of many journaled writes in order) and groups them into steps; the ops
 * themselves are left as they were.
 *
 * Patches to one row with no other change to that row between them become one update (applying A
 * then B is applying A with B's fields laid over it): a task that starts and finishes within one group
 * commit is one UPDATE, not two that must run one after the other. A patch of a row inserted earlier
 * is laid over the inserted row: an attempt assigned and finished within one write is one INSERT.
 *
 * Changes are batched across the whole write, not only when adjacent: a scheduling cycle or a group
 * commit interleaves attempt and task changes, and one statement per row is the slow path (about
 * 30x slower in DuckDB). Order is kept where it matters: a change goes one "level" after the last
 * change to the same row, levels run in order, and within a level steps keep first-appearance order.
 * Rows that get the same columns set share a step whatever order their patches named the fields in.
 */
export function planSteps(ops: readonly PlannedOp[]): WriteStep[] {
  const merged: PlannedOp[] = [];
  // The update a further patch of the same row merges into; absent once another kind of change touched the row.
  const openUpdate = new Map<string, Extract<PlannedOp, { op: 'update' }>>();
  // The encoded row an insert adds: a later patch of that row is laid over it.
  const inserted = new Map<string, SqlValue[]>();
  const overlay = (set: ReadonlyArray<SqlValue | undefined>, into: Array<SqlValue | undefined>) => {
    for (let i = 0; i < set.length; i++) if (set[i] !== undefined) into[i] = set[i];
  };
  for (const op of ops) {
    switch (op.op) {
      case 'insert': {
        const rows = op.rows.map((r) => r.slice());
        op.keys.forEach((k, i) => {
          openUpdate.delete(k);
          // A second insert of the key fails the write anyway; patches stay with the first row.
          if (!inserted.has(k)) inserted.set(k, rows[i]);
        });
        merged.push({ op: 'insert', mapping: op.mapping, rows, keys: op.keys });
        break;
      }
      case 'update': {
        const row = inserted.get(op.key);
        if (row) {
          overlay(op.set, row);
          break;
        }
        const open = openUpdate.get(op.key);
        if (open) {
          overlay(op.set, open.set);
          break;
        }
        // Spelled out: a spread followed by more properties is a slow path in V8 (Node 20), and this runs per change.
        const copy: typeof op = { op: 'update', mapping: op.mapping, what: op.what, id: op.id, key: op.key, set: op.set.slice() };
        merged.push(copy);
        openUpdate.set(op.key, copy);
        break;
      }
      case 'upsert':
        openUpdate.delete(op.key);
        inserted.delete(op.key);
        merged.push(op);
        break;
    }
  }
  return groupSteps(merged);
}

/** Groups planned changes into steps by level (one past the last change to any of the same rows). */
function groupSteps(ops: readonly PlannedOp[]): WriteStep[] {
  const levels: Array<Map<string, WriteStep>> = [];
  const rowLevel = new Map<string, number>();
  const step = (level: number, key: string, make: () => WriteStep): WriteStep => {
    while (levels.length <= level) levels.push(new Map());
    let found = levels[level].get(key);
    if (!found) levels[level].set(key, (found = make()));
    return found;
  };
  // The level of a change to one row: one past the latest change to it.
  const claim = (row: string): number => {
    const level = (rowLevel.get(row) ?? -1) + 1;
    rowLevel.set(row, level);
    return level;
  };
  for (const op of ops) {
    switch (op.op) {
      case 'insert': {
        // All the rows of one insert change go in one step: at the level of the latest-changed of them.
        let level = 0;
        for (const r of op.keys) level = Math.max(level, (rowLevel.get(r) ?? -1) + 1);
        for (const r of op.keys) rowLevel.set(r, level);
        const s = step(level, `insert:${op.mapping.table}`, () => ({ op: 'insert', mapping: op.mapping, rows: [] }));
        if (s.op === 'insert') for (const row of op.rows) s.rows.push(row);
        break;
      }
      case 'update': {
        // Steps are keyed by the columns set, in table order, whatever order the patches named them in.
        let key = `update:${op.mapping.table}:`;
        const values: SqlValue[] = [];
        op.set.forEach((value, position) => {
          if (value === undefined) return;
          key += `${position},`;
          values.push(value);
        });
        const s = step(claim(op.key), key, () => ({
          op: 'update',
          mapping: op.mapping,
          columns: op.set.flatMap((value, position) => (value === undefined ? [] : [op.mapping.columns[position]])),
          rows: [],
          what: op.what,
        }));
        if (s.op === 'update') s.rows.push({ id: op.id, values });
        break;
      }
      case 'upsert': {
        // Upserts of different rows share a step (one multi-row statement); a second one of a row goes a level later.
        const s = step(claim(op.key), `upsert:${op.mapping.table}`, () => ({ op: 'upsert', mapping: op.mapping, rows: [] }));
        if (s.op === 'upsert') s.rows.push(op.row);
        break;
      }
    }
  }
  return levels.flatMap((l) => [...l.values()]);
}

/** The SQL type of each column type, in the subset both dialects share. */
export const SQL_TYPES: Record<ColumnType, string> = { text: 'TEXT', integer: 'INTEGER', bigint: 'BIGINT', double: 'DOUBLE PRECISION', boolean: 'BOOLEAN' };

/** The error for a bulk update that changed fewer rows than it named. */
export function missingRowError(what: string, ids: readonly string[], found: ReadonlySet<string>): Error {
  const missing = ids.find((id) => !found.has(id)) ?? ids[0];
  return new Error(`${what}Update: no ${what} with id ${JSON.stringify(missing)}`);
}

// ---------------------------------------------------------------------------------------------------
// Reads (one builder per Store read method)

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new TypeError(`limit must be a non-negative integer, got ${limit}`);
  }
}

function select<R extends object>(
  mapping: TableMapping<R>,
  placeholder: Placeholder,
  build: (p: Params) => { where?: string[]; orderBy: string; limit?: number },
): Query<R> {
  const p = new Params(placeholder);
  const { where = [], orderBy, limit } = build(p);
  checkLimit(limit);
  let sql = `SELECT ${mapping.columnList()} FROM ${mapping.table}`;
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ` ORDER BY ${orderBy}`;
  if (limit !== undefined) sql += ` LIMIT ${p.add(limit, 'bigint')}`;
  return { ...p.statement(sql), decode: (row) => mapping.decode(row) };
}

export const reads = {
  getRun: (id: string, ph: Placeholder) =>
    select(RUNS, ph, (p) => ({ where: [`id = ${p.add(id, 'text')}`], orderBy: 'id' })),

  /** Newest first. */
  listRuns: (limit: number | undefined, ph: Placeholder) =>
    select(RUNS, ph, () => ({ orderBy: 'created_at DESC, id DESC', limit })),

  getTask: (id: string, ph: Placeholder) =>
    select(TASKS, ph, (p) => ({ where: [`id = ${p.add(id, 'text')}`], orderBy: 'id' })),

  /** With a limit newest first (seq descending), otherwise in submission order; `states: []` matches nothing. */
  listTasks: (filter: TaskFilter, ph: Placeholder) =>
    select(TASKS, ph, (p) => {
      const where: string[] = [];
      if (filter.states) {
        where.push(
          filter.states.length === 0 ? '1 = 0' : `state IN (${filter.states.map((s) => p.add(s, 'text')).join(', ')})`,
        );
      }
      if (filter.runId !== undefined) where.push(`run_id = ${p.add(filter.runId, 'text')}`);
      return { where, orderBy: filter.limit === undefined ? 'seq ASC' : 'seq DESC', limit: filter.limit };
    }),

  maxTaskSeq: (): Query<number> => ({
    sql: 'SELECT COALESCE(MAX(seq), 0) AS max_seq FROM tasks',
    values: [],
    types: [],
    decode: (row) => toNumber(row.max_seq),
  }),

  getAttempt: (id: string, ph: Placeholder) =>
    select(ATTEMPTS, ph, (p) => ({ where: [`id = ${p.add(id, 'text')}`], orderBy: 'id' })),

  /** Oldest first. */
  listAttempts: (taskId: string, ph: Placeholder) =>
    select(ATTEMPTS, ph, (p) => ({ where: [`task_id = ${p.add(taskId, 'text')}`], orderBy: 'assigned_at ASC, id ASC' })),

  /** In registration order. */
  listWorkers: (ph: Placeholder) => select(WORKERS, ph, () => ({ orderBy: 'registered_at ASC, id ASC' })),

  /** Oldest first; `sinceAt` is inclusive. */
  listUsageSamples: (workerId: string, sinceAt: number | undefined, ph: Placeholder) =>
    select(USAGE_SAMPLES, ph, (p) => {
      const where = [`worker_id = ${p.add(workerId, 'text')}`];
      if (sinceAt !== undefined) where.push(`sampled_at >= ${p.add(checkValue(sinceAt, 'bigint', 'sinceAt'), 'bigint')}`);
      return { where, orderBy: 'sampled_at ASC' };
    }),

  /** Newest first. */
  listScalingDecisions: (limit: number | undefined, ph: Placeholder) =>
    select(SCALING_DECISIONS, ph, () => ({ orderBy: 'decided_at DESC, id DESC', limit })),

  /** Newest first (by finish time), so a limit keeps the most recent experience. */
  listTaskHistory: (filter: { modelType?: string; name?: string; limit?: number }, ph: Placeholder) =>
    select(TASK_HISTORY, ph, (p) => {
      const where: string[] = [];
      if (filter.modelType !== undefined) where.push(`model_type = ${p.add(filter.modelType, 'text')}`);
      if (filter.name !== undefined) where.push(`name = ${p.add(filter.name, 'text')}`);
      return { where, orderBy: 'finished_at DESC, attempt_id DESC', limit: filter.limit };
    }),
};
