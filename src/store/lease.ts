import { Params, toNumber, type Placeholder, type Query, type Row, type Statement } from './mapping.js';
import { FencedError, type Fence, type LeaseRecord } from './store.js';

// SQL for the leader lease (table leader_lease), shared by the DuckDB and PostgreSQL stores like
// mapping.ts: each backend only supplies its placeholder style and its clock.

/**
 * Where a statement reads "now" (epoch ms): a value bound as a parameter (the caller's clock), or an
 * SQL expression evaluated by the database (PostgreSQL's server clock).
 */
export type LeaseClock = { at: number } | { sql: string };

/** The server's wall clock at evaluation (clock_timestamp, not the transaction's start as now() would be). */
export const POSTGRES_CLOCK: LeaseClock = { sql: 'CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)' };

function text(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function integer(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`${what} must be an integer >= ${min}, got ${value}`);
  return value;
}

/** Explicit casts: pg sends parameters untyped, and `unknown + unknown` does not resolve. */
function bigintParam(p: Params, value: number): string {
  return `CAST(${p.add(value, 'bigint')} AS BIGINT)`;
}

function clockSql(p: Params, clock: LeaseClock): string {
  return 'at' in clock ? bigintParam(p, integer(clock.at, 'now', 0)) : clock.sql;
}

/** A caller-supplied time, or the given default clock. */
export function leaseClock(now: number | undefined, fallback: () => LeaseClock): LeaseClock {
  return now === undefined ? fallback() : { at: integer(now, 'now', 0) };
}

function decodeLease(row: Row): LeaseRecord {
  return {
    name: String(row.name),
    holder: row.holder === null || row.holder === undefined ? null : String(row.holder),
    epoch: row.epoch === null || row.epoch === undefined ? 0 : toNumber(row.epoch),
    expiresAt: row.expires_at === null || row.expires_at === undefined ? null : toNumber(row.expires_at),
  };
}

const LEASE_COLUMNS = 'name, holder, epoch, expires_at';

/**
 * Take-or-renew in one INSERT ... ON CONFLICT DO UPDATE, so it is atomic on PostgreSQL (the conflicting
 * row is locked and the WHERE judged on its latest version). Returns the lease row when taken, no row
 * when someone else holds it. The clock is read once: the conflict check recovers it as
 * excluded.expires_at - ttl, so "expired" and the new expiry agree.
 */
export function acquireLeaseStatement(name: string, holder: string, ttlMs: number, clock: LeaseClock, ph: Placeholder): Query<LeaseRecord> {
  const p = new Params(ph);
  const n = `CAST(${p.add(text(name, 'lease name'), 'text')} AS TEXT)`;
  const h = `CAST(${p.add(text(holder, 'lease holder'), 'text')} AS TEXT)`;
  const ttl = bigintParam(p, integer(ttlMs, 'ttlMs', 1));
  const now = clockSql(p, clock);
  const ttlAgain = bigintParam(p, ttlMs);
  const sql =
    `INSERT INTO leader_lease (${LEASE_COLUMNS}) SELECT ${n}, ${h}, 1, c.now_ms + ${ttl} FROM (SELECT ${now} AS now_ms) AS c ` +
    'ON CONFLICT (name) DO UPDATE SET ' +
    'epoch = CASE WHEN leader_lease.holder = excluded.holder THEN leader_lease.epoch ELSE COALESCE(leader_lease.epoch, 0) + 1 END, ' +
    'holder = excluded.holder, expires_at = excluded.expires_at ' +
    'WHERE leader_lease.holder = excluded.holder OR leader_lease.holder IS NULL OR leader_lease.expires_at IS NULL ' +
    `OR leader_lease.expires_at <= excluded.expires_at - ${ttlAgain} ` +
    `RETURNING ${LEASE_COLUMNS}`;
  return { ...p.statement(sql), decode: decodeLease };
}

/** Extends an unexpired lease still held by holder at epoch; returns a row only when it did. */
export function renewLeaseStatement(name: string, holder: string, epoch: number, ttlMs: number, clock: LeaseClock, ph: Placeholder): Statement {
  const p = new Params(ph);
  const ttl = bigintParam(p, integer(ttlMs, 'ttlMs', 1));
  const now = clockSql(p, clock);
  const where =
    `leader_lease.name = ${p.add(text(name, 'lease name'), 'text')} AND leader_lease.holder = ${p.add(text(holder, 'lease holder'), 'text')} ` +
    `AND leader_lease.epoch = ${bigintParam(p, integer(epoch, 'epoch', 0))} AND leader_lease.expires_at > c.now_ms`;
  return p.statement(
    `UPDATE leader_lease SET expires_at = c.now_ms + ${ttl} FROM (SELECT ${now} AS now_ms) AS c WHERE ${where} RETURNING leader_lease.expires_at`,
  );
}

/** Frees the lease (holder and expiry NULL) but keeps the epoch, so the next holder gets epoch + 1. */
export function releaseLeaseStatement(name: string, holder: string, epoch: number, ph: Placeholder): Statement {
  const p = new Params(ph);
  return p.statement(
    `UPDATE leader_lease SET holder = NULL, expires_at = NULL WHERE name = ${p.add(text(name, 'lease name'), 'text')} ` +
      `AND holder = ${p.add(text(holder, 'lease holder'), 'text')} AND epoch = ${bigintParam(p, integer(epoch, 'epoch', 0))} RETURNING name`,
  );
}

export function getLeaseQuery(name: string, ph: Placeholder): Query<LeaseRecord> {
  const p = new Params(ph);
  return { ...p.statement(`SELECT ${LEASE_COLUMNS} FROM leader_lease WHERE name = ${p.add(name, 'text')}`), decode: decodeLease };
}

/**
 * Reads the lease a fenced write depends on, with the clock. `lock` appends FOR SHARE (PostgreSQL): held
 * to commit, it makes a takeover wait for the write; FOR SHARE rather than FOR UPDATE so one leader's
 * concurrent writes do not queue behind each other. (FOR KEY SHARE would not block the takeover's UPDATE.)
 */
export function fenceQuery(fence: Fence, clock: LeaseClock, lock: boolean, ph: Placeholder): Query<{ lease: LeaseRecord; now: number }> {
  const p = new Params(ph);
  text(fence.holder, 'fence holder');
  integer(fence.epoch, 'fence epoch', 0);
  const now = clockSql(p, clock);
  const sql = `SELECT ${LEASE_COLUMNS}, ${now} AS now_ms FROM leader_lease WHERE name = ${p.add(text(fence.name, 'fence name'), 'text')}${lock ? ' FOR SHARE' : ''}`;
  return { ...p.statement(sql), decode: (row) => ({ lease: decodeLease(row), now: toNumber(row.now_ms) }) };
}

/** Throws FencedError unless the lease read by fenceQuery is held by the fence's holder at its epoch, unexpired. */
export function checkFence(fence: Fence, found: { lease: LeaseRecord; now: number } | undefined): void {
  if (!found) throw new FencedError(fence, null, 'no such lease');
  const { lease, now } = found;
  if (lease.holder !== fence.holder || lease.epoch !== fence.epoch) {
    const by = lease.holder === null ? 'nobody' : JSON.stringify(lease.holder);
    throw new FencedError(fence, lease, `held by ${by} at epoch ${lease.epoch}`);
  }
  if (lease.expiresAt === null || lease.expiresAt <= now) {
    throw new FencedError(fence, lease, `expired at ${lease.expiresAt} (now ${now})`);
  }
}
