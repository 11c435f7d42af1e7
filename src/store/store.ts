import type { Resources } from '../core/resources.js';
import type { AttemptStatus, RunState, TaskState, WorkerState } from '../schema/task.js';

// The persistence boundary. Two backends implement it (DuckDB embedded, PostgreSQL for HA) and both
// pass test/store/contract.ts unchanged. Every write goes through `write(changes)`: one transaction per
// call, so the scheduler persists a whole batch of assignments (or a result and its consequences) at
// once, and nothing is acknowledged before its transaction commits.
// Times are epoch milliseconds (BIGINT columns named *_at).

export interface RunRecord {
  id: string;
  name: string;
  state: RunState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface TaskRecord {
  id: string;
  runId: string;
  /** Submission order, used to keep FIFO among equal priorities. */
  seq: number;
  name: string;
  kind: 'command' | 'test' | 'benchmark';
  command: string[];
  env: Record<string, string>;
  cwd: string | null;
  /** What the task asked for, or null when it declared nothing. */
  declaredResources: Resources | null;
  /** What placement reserves for it (declared, or predicted/default). */
  resources: Resources;
  labels: Record<string, string>;
  priority: number;
  timeoutSec: number;
  maxRetries: number;
  /** Ids of the tasks this one waits for. */
  dependsOn: string[];
  suite: string | null;
  modelType: string | null;
  modelName: string | null;
  batchSize: number | null;
  state: TaskState;
  attempts: number;
  currentAttemptId: string | null;
  workerId: string | null;
  workerType: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  exitCode: number | null;
  peakMemoryMb: number | null;
  cpuSeconds: number | null;
  reason: string | null;
  stdoutTail: string | null;
  stderrTail: string | null;
}

export type AttemptState = 'assigned' | 'running' | AttemptStatus | 'lost';

export interface AttemptRecord {
  id: string;
  taskId: string;
  workerId: string;
  workerType: string;
  state: AttemptState;
  gpuIndices: number[];
  assignedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  pid: number | null;
  exitCode: number | null;
  durationMs: number | null;
  peakMemoryMb: number | null;
  cpuSeconds: number | null;
  reason: string | null;
  stdoutTail: string | null;
  stderrTail: string | null;
}

export interface WorkerRecord {
  id: string;
  type: string;
  provider: string;
  resources: Resources;
  labels: Record<string, string>;
  state: WorkerState;
  registeredAt: number;
  lastSeenAt: number;
}

export interface UsageSampleRecord {
  workerId: string;
  at: number;
  cpu: number;
  memoryMb: number;
  gpus: number | null;
  gpuMemoryMb: number | null;
}

export interface ScalingDecisionRecord {
  id: string;
  at: number;
  action: 'scale_up' | 'scale_down' | 'maintain';
  workerType: string | null;
  count: number;
  workerIds: string[];
  reason: string;
  utilization: { cpu: number; memory: number; gpu: number; overall: number };
  pendingDemand: Resources;
  executed: boolean;
}

/** One finished attempt, as the predictor learns from it. */
export interface TaskHistoryRecord {
  attemptId: string;
  taskId: string;
  name: string;
  kind: string;
  modelType: string | null;
  modelName: string | null;
  batchSize: number | null;
  labels: Record<string, string>;
  workerType: string;
  succeeded: boolean;
  durationMs: number;
  peakMemoryMb: number;
  cpuSeconds: number;
  gpuMemoryMb: number | null;
  predictedDurationMs: number | null;
  predictedMemoryMb: number | null;
  finishedAt: number;
}

type Patch<T, K extends keyof T> = Partial<Omit<T, K>>;

export type Change =
  | { kind: 'runInsert'; run: RunRecord }
  | { kind: 'runUpdate'; id: string; patch: Patch<RunRecord, 'id'> }
  | { kind: 'taskInsert'; task: TaskRecord }
  | { kind: 'taskUpdate'; id: string; patch: Patch<TaskRecord, 'id' | 'runId' | 'seq'> }
  | { kind: 'attemptInsert'; attempt: AttemptRecord }
  | { kind: 'attemptUpdate'; id: string; patch: Patch<AttemptRecord, 'id' | 'taskId'> }
  | { kind: 'workerUpsert'; worker: WorkerRecord }
  | { kind: 'workerUpdate'; id: string; patch: Patch<WorkerRecord, 'id'> }
  | { kind: 'usageSamples'; samples: UsageSampleRecord[] }
  | { kind: 'scalingDecision'; decision: ScalingDecisionRecord }
  | { kind: 'taskHistory'; row: TaskHistoryRecord };

export interface TaskFilter {
  /** Any of these states; an empty list matches nothing. */
  states?: TaskState[];
  runId?: string;
  /** Newest first when a limit is given; otherwise in submission order (seq). */
  limit?: number;
}

/** A row of leader_lease. `holder` and `expiresAt` are null once released; `epoch` survives release. */
export interface LeaseRecord {
  name: string;
  holder: string | null;
  epoch: number;
  expiresAt: number | null;
}

/** What acquireLease found: whether the caller holds the lease now, and who holds it at which epoch. */
export interface LeaseAcquisition {
  acquired: boolean;
  /** The caller when acquired; otherwise the current holder (null only if it was released meanwhile). */
  holder: string | null;
  epoch: number;
  /** When the lease lapses unless renewed (0 when released meanwhile). */
  expiresAt: number;
}

/**
 * The lease a write is conditional on: the write commits only while `holder` holds lease `name` at
 * `epoch`, unexpired. `now` (epoch ms) replaces the store's clock, like acquireLease's `now`.
 */
export interface Fence {
  name: string;
  holder: string;
  epoch: number;
  now?: number;
}

/** A fenced write refused because its writer no longer holds the lease; nothing of the write was stored. */
export class FencedError extends Error {
  override readonly name = 'FencedError';

  constructor(
    readonly fence: Fence,
    /** The lease as the write found it (null when there is no such lease). */
    readonly current: LeaseRecord | null,
    why: string,
  ) {
    super(`write fenced off: ${JSON.stringify(fence.holder)} at epoch ${fence.epoch} does not hold lease ${JSON.stringify(fence.name)}: ${why}`);
  }
}

export interface Store {
  /** Creates or upgrades the schema (versioned migrations); safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * Applies all changes in one transaction, in order; all or nothing. An update (run, task, attempt,
   * worker) naming an id that does not exist fails the whole write; a patch only sets the fields it names.
   *
   * With a `fence`, the same transaction first checks that `fence.holder` still holds lease `fence.name`
   * at `fence.epoch` and that it has not expired, else it throws FencedError and stores nothing. On
   * PostgreSQL the check share-locks the lease row until commit, so a takeover (which must update that
   * row) waits for the write, and a write that waited for a takeover sees the new epoch and is refused:
   * no write of a deposed leader commits after its successor's epoch began.
   */
  write(changes: readonly Change[], fence?: Fence): Promise<void>;

  // Leader lease (table leader_lease). Times are epoch ms. `now` is for tests and injected clocks: left
  // out, the store's clock decides expiry, which on PostgreSQL is the database server's clock, so
  // coordinators on different hosts judge one lease by one clock. Use one kind of clock per lease.
  // A holder id must be unique per process lifetime: the epoch changes only when the holder does.

  /**
   * Takes lease `name` for `holder` for `ttlMs` when it is free (never held, released or expired) or
   * already held by `holder` (a renewal), atomically (one statement). The epoch goes up by one only when
   * the holder changes, so a renewal or re-acquisition by the same holder keeps it. Otherwise reports
   * the current holder, epoch and expiry with `acquired: false`.
   */
  acquireLease(name: string, holder: string, ttlMs: number, now?: number): Promise<LeaseAcquisition>;
  /** Extends the lease to now + ttlMs; false when `holder` at `epoch` no longer holds it or it has expired (then try acquireLease). */
  renewLease(name: string, holder: string, epoch: number, ttlMs: number, now?: number): Promise<boolean>;
  /** Frees the lease so another holder can take it at once (its epoch will be epoch + 1); false when not held by `holder` at `epoch`. */
  releaseLease(name: string, holder: string, epoch: number): Promise<boolean>;
  /** The lease as stored, or undefined when it was never taken. */
  getLease(name: string): Promise<LeaseRecord | undefined>;

  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first (createdAt). */
  listRuns(limit?: number): Promise<RunRecord[]>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  listTasks(filter?: TaskFilter): Promise<TaskRecord[]>;
  /** Highest task seq stored (0 when empty), so a restarted coordinator keeps FIFO order. */
  maxTaskSeq(): Promise<number>;
  getAttempt(id: string): Promise<AttemptRecord | undefined>;
  /** Oldest first (assignedAt). */
  listAttempts(taskId: string): Promise<AttemptRecord[]>;
  /** In registration order. */
  listWorkers(): Promise<WorkerRecord[]>;
  /** Oldest first; `sinceAt` is inclusive. */
  listUsageSamples(workerId: string, sinceAt?: number): Promise<UsageSampleRecord[]>;
  /** Newest first. */
  listScalingDecisions(limit?: number): Promise<ScalingDecisionRecord[]>;
  /** Newest first (finishedAt), so a limit keeps the most recent experience. */
  listTaskHistory(filter?: { modelType?: string; name?: string; limit?: number }): Promise<TaskHistoryRecord[]>;
}
