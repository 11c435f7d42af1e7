import { conflictClause, SQL_TYPES, type Column, type SqlValue, type TableMapping } from './mapping.js';

// PostgreSQL's bulk statements: rows travel as one array parameter per column, turned back into rows
// by unnest(). A statement's text, parameter count and planning then do not grow with its rows: for
// 200 tasks a multi-row VALUES list binds ~3,400 parameters and PostgreSQL plans each of them.

/** A statement whose parameters are whole columns (JS arrays; pg sends them as array literals). */
export interface BulkStatement {
  sql: string;
  values: SqlValue[][];
}

/** Rows per statement: keeps one message of a very large submission to a few MB. */
const BULK_ROWS_PER_STATEMENT = 10_000;

function unnest(columns: readonly Column[]): string {
  return `unnest(${columns.map((c, i) => `$${i + 1}::${SQL_TYPES[c.type]}[]`).join(', ')})`;
}

/** Column `i` of the rows, as one array. */
function column(rows: readonly SqlValue[][], i: number): SqlValue[] {
  const out = new Array<SqlValue>(rows.length);
  for (let r = 0; r < rows.length; r++) out[r] = rows[r][i];
  return out;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/**
 * `INSERT INTO t (columns) SELECT * FROM unnest(...)` of encoded rows; with `upsert`, a row whose key
 * exists replaces it (the keys within one call must be distinct).
 */
export function bulkInsertStatements<R extends object>(mapping: TableMapping<R>, rows: readonly SqlValue[][], upsert = false, rowsPerStatement = BULK_ROWS_PER_STATEMENT): BulkStatement[] {
  const sql = `INSERT INTO ${mapping.table} (${mapping.columnList()}) SELECT * FROM ${unnest(mapping.columns)}${upsert ? conflictClause(mapping) : ''}`;
  return chunks(rows, rowsPerStatement).map((part) => ({ sql, values: mapping.columns.map((_, i) => column(part, i)) }));
}

/** `UPDATE t SET c = v.c ... FROM unnest(ids, c...) AS v WHERE t.key = v.key`: each row's `columns` set to its values. */
export function bulkUpdateStatements<R extends object>(
  mapping: TableMapping<R>,
  columns: readonly Column[],
  rows: ReadonlyArray<{ id: string; values: SqlValue[] }>,
  rowsPerStatement = BULK_ROWS_PER_STATEMENT,
): BulkStatement[] {
  const key = mapping.key;
  const names = [key.name, ...columns.map((c) => c.name)];
  const sets = columns.map((c) => `${c.name} = v.${c.name}`).join(', ');
  const sql = `UPDATE ${mapping.table} SET ${sets} FROM ${unnest([key, ...columns])} AS v(${names.join(', ')}) WHERE ${mapping.table}.${key.name} = v.${key.name}`;
  return chunks(rows, rowsPerStatement).map((part) => {
    const values = part.map((r) => r.values);
    return { sql, values: [part.map((r) => r.id), ...columns.map((_, i) => column(values, i))] };
  });
}
