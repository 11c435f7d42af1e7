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

export interface Store {
  /** Creates or upgrades the schema (versioned migrations); safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * Applies all changes in one transaction, in order; all or nothing. An update (run, task, attempt,
   * worker) naming an id that does not exist fails the whole write; a patch only sets the fields it names.
   */
  write(changes: readonly Change[]): Promise<void>;

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
