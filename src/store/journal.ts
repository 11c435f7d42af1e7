import { open, readFile, type FileHandle } from 'node:fs/promises';
import { planOps, planSteps, TASKS, type PlannedOp, type WriteStep } from './mapping.js';
import type { Change, Fence, Store } from './store.js';

// A write-ahead journal in front of the embedded store. DuckDB is a column store: a transaction that
// updates a few hundred rows costs ~25-35 ms (each UPDATE, the staging of its rows, the commit), and even
// one that appends a single row costs ~2-3 ms idle and 8-12 ms under dispatch load; an append to a file
// and its fdatasync cost ~0.7 ms. So a write is made durable as one line of a journal file next to the
// database (the JSON of its changes) and acknowledged then; the tables catch up in bulk a moment later,
// many writes merged into one transaction that also records the journal position they reach. Merging
// is a gain of its own: a task assigned, started and finished within one apply is one attempt INSERT
// and one task UPDATE, however many writes recorded those steps.
//
// Readers never see the lag: every read through this store first applies what is pending, and close()
// applies everything. A process that dies leaves entries past the recorded position in the file; the
// next open applies them before anything reads (a `duckdb` shell opened on the database meanwhile sees
// the tables without them). This is Raft's log-then-apply; the file is emptied whenever the tables
// have caught up.
//
// What moves: a write whose records encode cleanly is accepted even if it will violate a constraint
// (a duplicate key, an update of a missing row), because those are checked when the tables are written.
// The coordinator never makes such writes; should one happen (a bug), the apply isolates it, skips it
// and reports it through `onDropped`, and every other entry still applies.

export interface JournalEntry {
  seq: number;
  /** JSON of the write's Change[]. */
  changes: string;
}

/** An entry waiting to be applied, with its changes already encoded. */
interface PendingEntry extends JournalEntry {
  ops: PlannedOp[];
}

/** What a backend offers the journal, on top of the Store. */
export interface JournalBackend extends Store {
  /** Applies `steps` and records `throughSeq` as the position the tables hold, in one transaction. */
  applyJournal(steps: readonly WriteStep[], throughSeq: number): Promise<void>;
  /** The position recorded by the last apply (0 when none). */
  journalPosition(): Promise<number>;
}

export interface JournalOptions {
  /** Apply this long after the first unapplied write at the latest (a read applies sooner). */
  applyAfterMs?: number;
  /** Apply as soon as this many changes are waiting. */
  applyAtChanges?: number;
  /** Under steady load the tables never quite catch up; past this size the file is emptied anyway (see apply). */
  rotateBytes?: number;
  /** An entry the tables refused, skipped so the rest can apply (see above). */
  onDropped?: (entry: JournalEntry, error: unknown) => void;
}

const DEFAULTS = { applyAfterMs: 500, applyAtChanges: 50_000, rotateBytes: 64 * 1024 * 1024 };

/**
 * Backpressure: past this many changes waiting to be applied, a write waits for the tables to catch
 * up first. The journal absorbs bursts; it must not run ahead of the tables without bound (memory,
 * and the time a read or a restart would spend applying).
 */
const MAX_PENDING_CHANGES = 200_000;

/**
 * A write that inserts this many tasks (a large submission) goes straight to the tables: one
 * transaction appends its rows about as fast as the journal would, without holding their JSON and
 * encoded rows in memory until the next apply (100,000 tasks held that way took the coordinator from
 * ~370 MB to ~800 MB). Group commits, however large, insert no tasks.
 */
const DIRECT_AT_TASKS = 1_000;

export class JournaledStore implements Store {
  private file: FileHandle | null = null;
  /** Appends and truncations, one after another. */
  private fileQueue: Promise<unknown> = Promise.resolve();
  private pending: PendingEntry[] = [];
  private pendingChanges = 0;
  private seq = 0;
  /** The last seq appended to the file and the last the tables hold. */
  private appended = 0;
  private fileBytes = 0;
  private applied = 0;
  /** The apply in progress (or the last one); applies run one after another. */
  private applying: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly applyAfterMs: number;
  private readonly applyAtChanges: number;
  private readonly rotateBytes: number;

  constructor(
    readonly inner: JournalBackend,
    /** The journal file (created if missing). */
    readonly path: string,
    private readonly options: JournalOptions = {},
  ) {
    this.applyAfterMs = options.applyAfterMs ?? DEFAULTS.applyAfterMs;
    this.applyAtChanges = options.applyAtChanges ?? DEFAULTS.applyAtChanges;
    this.rotateBytes = options.rotateBytes ?? DEFAULTS.rotateBytes;
  }

  /** Brings the schema up to date, then applies what an earlier process left in the journal. */
  async migrate(): Promise<void> {
    await this.inner.migrate();
    this.applied = await this.inner.journalPosition();
    const text = await readFile(this.path, 'utf8').catch(() => '');
    const left = parseJournal(text);
    this.fileBytes = text.length;
    this.seq = this.appended = left.reduce((max, e) => Math.max(max, e.seq), this.applied);
    this.file ??= await open(this.path, 'a');
    this.pending = left.filter((e) => e.seq > this.applied).map((e) => ({ ...e, ops: planOps(JSON.parse(e.changes) as Change[]) }));
    this.pendingChanges = 0;
    await this.flush();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    await this.fileQueue;
    await this.file?.close();
    this.file = null;
    await this.inner.close();
  }

  async write(changes: readonly Change[], fence?: Fence): Promise<void> {
    // Planning encodes (and so validates) every record: a bad one fails here, before anything is stored.
    // The JSON is taken now, so a caller mutating its records afterwards cannot change what is stored.
    const ops = planOps(changes);
    if (changes.length === 0) return this.inner.write(changes, fence);
    if (ops.reduce((n, op) => n + (op.op === 'insert' && op.mapping === TASKS ? op.rows.length : 0), 0) >= DIRECT_AT_TASKS) {
      // In the file queue, behind every earlier write, which is applied first.
      return this.onFile(async () => {
        if (fence) await this.inner.write([], fence);
        await this.applyPending();
        await this.inner.applyJournal(planSteps(ops), this.applied);
      });
    }
    const file = this.file;
    if (!file) throw new Error(`store journal ${this.path} is not open (call migrate first)`);
    if (this.pendingChanges >= MAX_PENDING_CHANGES) await this.flush();
    const entry: PendingEntry = { seq: 0, changes: JSON.stringify(changes), ops };
    // In the file queue, so entries are numbered, stored and applied in call order.
    await this.onFile(async () => {
      // The fence is checked in the database; one process owns a DuckDB file, so nothing takes its lease between.
      if (fence) await this.inner.write([], fence);
      entry.seq = ++this.seq;
      const line = `${entry.seq} ${entry.changes}\n`;
      await file.write(line);
      await file.datasync();
      this.appended = entry.seq;
      this.fileBytes += line.length;
      this.pending.push(entry);
      this.pendingChanges += ops.length;
    });
    if (this.pendingChanges >= this.applyAtChanges) void this.flush().catch(() => undefined);
    else this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.applyAfterMs).unref();
  }

  /** Applies every entry acknowledged so far; resolves once the tables hold them. */
  flush(): Promise<void> {
    const next = this.applying.catch(() => undefined).then(() => this.apply());
    this.applying = next;
    return next;
  }

  private onFile<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.fileQueue.then(fn);
    this.fileQueue = result.catch(() => undefined);
    return result;
  }

  private async apply(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.applyPending();
    const file = this.file;
    if (!file) return;
    // In the file queue no append runs meanwhile: every entry in the file is applied or pending.
    await this.onFile(async () => {
      if (this.appended > this.applied) {
        if (this.fileBytes < this.rotateBytes) return;
        // Large after a long busy spell: apply the rest while appends wait (once per rotateBytes), then empty it.
        await this.applyPending();
      }
      // Caught up: the file's entries are all in the tables, so it can start again empty.
      await file.truncate(0);
      this.fileBytes = 0;
    });
  }

  private async applyPending(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingChanges = 0;
    try {
      await this.inner.applyJournal(planSteps(batch.flatMap((e) => e.ops)), batch[batch.length - 1].seq);
    } catch {
      await this.applyOneByOne(batch);
    }
    this.applied = batch[batch.length - 1].seq;
  }

  /** After a failed bulk apply: each entry alone; one the tables refuse is skipped and reported. */
  private async applyOneByOne(batch: PendingEntry[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i];
      try {
        await this.inner.applyJournal(planSteps(entry.ops), entry.seq);
      } catch (error) {
        try {
          await this.inner.applyJournal([], entry.seq);
        } catch (positionError) {
          // The database itself fails (not one entry): keep the rest for the next apply.
          this.pending = [...batch.slice(i), ...this.pending];
          this.pendingChanges += batch.slice(i).reduce((n, e) => n + e.ops.length, 0);
          throw positionError;
        }
        this.options.onDropped?.(entry, error);
      }
    }
  }

  // Leases are written directly (not journaled): they are small and their callers need them at once.
  acquireLease: Store['acquireLease'] = (...args) => this.inner.acquireLease(...args);
  renewLease: Store['renewLease'] = (...args) => this.inner.renewLease(...args);
  releaseLease: Store['releaseLease'] = (...args) => this.inner.releaseLease(...args);
  getLease: Store['getLease'] = (...args) => this.inner.getLease(...args);

  // Reads: whatever was acknowledged before the read began is in the tables when it runs.
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.pending.length > 0) await this.flush();
    else await this.applying.catch(() => undefined);
    return fn();
  }
  getRun: Store['getRun'] = (...args) => this.read(() => this.inner.getRun(...args));
  listRuns: Store['listRuns'] = (...args) => this.read(() => this.inner.listRuns(...args));
  getTask: Store['getTask'] = (...args) => this.read(() => this.inner.getTask(...args));
  listTasks: Store['listTasks'] = (...args) => this.read(() => this.inner.listTasks(...args));
  maxTaskSeq: Store['maxTaskSeq'] = () => this.read(() => this.inner.maxTaskSeq());
  getAttempt: Store['getAttempt'] = (...args) => this.read(() => this.inner.getAttempt(...args));
  listAttempts: Store['listAttempts'] = (...args) => this.read(() => this.inner.listAttempts(...args));
  listWorkers: Store['listWorkers'] = () => this.read(() => this.inner.listWorkers());
  listUsageSamples: Store['listUsageSamples'] = (...args) => this.read(() => this.inner.listUsageSamples(...args));
  listScalingDecisions: Store['listScalingDecisions'] = (...args) => this.read(() => this.inner.listScalingDecisions(...args));
  listTaskHistory: Store['listTaskHistory'] = (...args) => this.read(() => this.inner.listTaskHistory(...args));
}

/** The journal file's entries: one line each, `seq JSON`. A torn last line (the process died mid-append) was never acknowledged. */
export function parseJournal(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    const seq = Number(line.slice(0, space));
    if (space < 1 || !Number.isSafeInteger(seq)) continue;
    const changes = line.slice(space + 1);
    try {
      JSON.parse(changes);
    } catch {
      continue;
    }
    entries.push({ seq, changes });
  }
  return entries;
}
