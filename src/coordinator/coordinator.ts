import type { Logger } from 'pino';
import { add, resources, subtract, type Resources } from '../core/resources.js';
import { placeTasks, type PlacementTask, type PlacementWorker } from '../core/placement.js';
import { Predictor, toResources, type Prediction, type TaskShape } from '../core/predictor.js';
import { failureCause, retryDelayMs, shouldRetry, type FailureCause } from '../core/retry.js';
import { findWorkerType } from '../core/worker-types.js';
import { CloseCode, type CoordinatorMessage, type HelloMessage, type ResultMessage, type Usage } from '../schema/protocol.js';
import { TERMINAL_TASK_STATES, type SubmitBody, type TaskState } from '../schema/task.js';
import { FencedError, type AttemptRecord, type Change, type Fence, type RunRecord, type ScalingDecisionRecord, type Store, type TaskHistoryRecord, type TaskRecord, type UsageSampleRecord, type WorkerRecord } from '../store/store.js';
import type { CoordinatorSettings } from './config.js';
import { ApiError, notFound } from './errors.js';
import { EventBus } from './events.js';
import { newId } from './ids.js';
import { SecretEnv, unopenableReason } from './secret-env.js';
import { ReadyQueue } from './ready-queue.js';
import { Serial } from './serial.js';
import { infeasibleReason, planSubmission } from './submission.js';

/** How the coordinator talks to one connected worker (a WebSocket in production). */
export interface WorkerLink {
  send(msg: CoordinatorMessage): void;
  close(code: number, reason: string): void;
}

interface ActiveAttempt {
  id: string;
  taskId: string;
  workerId: string;
  resources: Resources;
  gpuIndices: number[];
}

interface WorkerSession {
  record: WorkerRecord;
  link: WorkerLink | null;
  reserved: Resources;
  freeGpuIndices: number[];
  attempts: Map<string, ActiveAttempt>;
  usage: Usage | null;
  lastSeenAt: number;
  /** When the connection closed (null while connected). */
  disconnectedAt: number | null;
  /** Circuit breaker: consecutive infrastructure failures, quarantine end, and trial mode after it. */
  infraFailures: number;
  quarantinedUntil: number | null;
  onTrial: boolean;
  /** Since when it has run nothing (null while busy): the scaling policy drains long-idle workers. */
  idleSince: number | null;
  drainedBy: 'operator' | 'scaling' | null;
}

/**
 * Tasks handed to placement per cycle: at most this many per schedulable worker (and at least the
 * minimum); past the minimum, the cycle also stops once the candidates ask for twice the free CPU.
 * A cycle that refills 100 slots then weighs ~200 tasks, not 1,000 (that was a quarter of dispatch).
 */
const CYCLE_MIN_CANDIDATES = 256;
const CYCLE_CANDIDATES_PER_WORKER = 16;

/** History rows loaded into the predictor at start (newest first); older ones add little. */
const HISTORY_LOAD_LIMIT = 100_000;

function shapeOf(t: TaskRecord): TaskShape {
  return { name: t.name, kind: t.kind, modelType: t.modelType, modelName: t.modelName, batchSize: t.batchSize, labels: t.labels };
}

type InboxMessage = { type: 'started'; attemptId: string; pid: number } | ResultMessage;

interface RunProgress {
  record: RunRecord;
  open: number;
  failed: boolean;
  canceled: boolean;
}

/**
 * A unit of change: store changes to commit together, then in-memory effects applied only after the
 * commit succeeded (a failed write leaves the view untouched and nothing acknowledged).
 */
class Tx {
  readonly changes: Change[] = [];
  readonly effects: Array<() => void> = [];
  readonly finished = new Set<string>();
  readonly runDelta = new Map<string, { closed: number; failed: boolean; canceled: boolean }>();
  /** Attempts whose reservations this change gives back. */
  readonly released: ActiveAttempt[] = [];
}

export interface CoordinatorDeps {
  store: Store;
  logger: Logger;
  settings: CoordinatorSettings;
  clock?: () => number;
  /** The leader's fence (high availability): every write carries it, so a deposed leader's writes are refused. */
  fence?: () => Fence | undefined;
  onFenced?: (err: FencedError) => void;
  /** Seals and opens tasks' secret env (default: a random key, good for this process only). */
  secrets?: SecretEnv;
}

/**
 * The coordinator's in-memory view of workers and queue, and every state transition of tasks,
 * attempts, runs and workers. The store is the truth: the view is rebuilt from it on start, and
 * each transition is persisted before anyone (worker, API client, event subscriber) hears of it.
 */
export class Coordinator {
  readonly bus = new EventBus();
  private readonly store: Store;
  private readonly log: Logger;
  private readonly settings: CoordinatorSettings;
  private readonly now: () => number;
  private readonly fence?: () => Fence | undefined;
  private readonly onFenced?: (err: FencedError) => void;
  private readonly secrets: SecretEnv;
  private readonly serial = new Serial();

  /** Non-terminal tasks. */
  private readonly tasks = new Map<string, TaskRecord>();
  /** Terminal states of tasks that others may depend on. */
  private readonly doneStates = new Map<string, TaskState>();
  private readonly dependents = new Map<string, Set<string>>();
  /** Pending tasks whose dependencies all succeeded. */
  private readonly ready = new ReadyQueue();
  private readonly pendingReasons = new Map<string, string>();
  /** Retry backoff: a requeued task is not placed before this time. */
  private readonly notBefore = new Map<string, number>();
  /** Workers a task failed on; placement prefers others. */
  private readonly avoid = new Map<string, string[]>();
  private wakeTimer: NodeJS.Timeout | null = null;
  /** Learns from every finished attempt; estimates what undeclared tasks need and how long tasks take. */
  private predictor = new Predictor();
  private readonly predictions = new Map<string, Prediction>();
  private inbox: Array<{ workerId: string; msg: InboxMessage; resolve: () => void; reject: (err: unknown) => void }> = [];
  private inboxQueued = false;
  private readonly runs = new Map<string, RunProgress>();
  private readonly workers = new Map<string, WorkerSession>();
  private readonly attempts = new Map<string, ActiveAttempt>();
  /** Assigned/running attempts found in the store at start, waiting for their worker to come back. */
  private readonly orphans = new Map<string, { taskId: string; deadline: number }>();
  /** Results of current attempts that arrived before their worker's session existed, by attempt id. */
  private readonly held = new Map<string, { workerId: string; result: ResultMessage }>();
  private usageBuffer: UsageSampleRecord[] = [];
  private seq = 0;
  private scheduleQueued = false;
  private closed = true;
  private timers: NodeJS.Timeout[] = [];
  lastPlacementMs = 0;

  constructor(deps: CoordinatorDeps) {
    this.store = deps.store;
    this.log = deps.logger;
    this.settings = deps.settings;
    this.now = deps.clock ?? Date.now;
    this.fence = deps.fence;
    this.onFenced = deps.onFenced;
    this.secrets = deps.secrets ?? SecretEnv.forToken(undefined);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Rebuilds the view from the store and starts the failure detector. */
  /** Whether this coordinator schedules (false while it follows another leader, or after stop). */
  get active(): boolean {
    return !this.closed;
  }

  async start(): Promise<void> {
    this.reset();
    this.seq = await this.store.maxTaskSeq();
    this.predictor = Predictor.fromHistory(await this.store.listTaskHistory({ limit: HISTORY_LOAD_LIMIT }));
    const live = await this.store.listTasks({ states: ['pending', 'assigned', 'running'] });
    for (const t of live) this.predictions.set(t.id, this.predictor.predict(shapeOf(t)));
    const now = this.now();
    for (const t of live) this.tasks.set(t.id, t);
    const runIds = new Set(live.map((t) => t.runId));
    for (const runId of runIds) {
      const run = await this.store.getRun(runId);
      if (!run) continue;
      const all = await this.store.listTasks({ runId });
      const progress: RunProgress = { record: run, open: 0, failed: false, canceled: false };
      for (const t of all) {
        if (TERMINAL_TASK_STATES.has(t.state)) {
          this.doneStates.set(t.id, t.state);
          if (t.state === 'failed' || t.state === 'timed_out') progress.failed = true;
          if (t.state === 'canceled') progress.canceled = true;
        } else progress.open++;
      }
      this.runs.set(runId, progress);
    }
    for (const t of live) {
      this.indexDependencies(t);
      if (t.state === 'pending') this.markReadyIfDepsDone(t);
      else if (t.currentAttemptId) this.orphans.set(t.currentAttemptId, { taskId: t.id, deadline: now + this.settings.restartGraceMs });
    }
    if (live.length > 0) this.log.info({ tasks: live.length, orphans: this.orphans.size }, 'rebuilt view from store');
    // A task whose secret env this coordinator cannot open (another token) would run without it: fail it.
    const sealedOut = new Tx();
    for (const t of live) {
      const names = this.secrets.unopenable(t.env);
      if (names.length > 0) this.finishTask(sealedOut, t, { state: 'failed', finishedAt: now, reason: unopenableReason(names) });
    }
    await this.commit(sealedOut);
    // Open for business only once the view is whole: a worker's hello must find the tasks it runs.
    this.closed = false;
    const tick = Math.max(100, Math.min(500, this.settings.heartbeatMs / 2));
    this.timers.push(setInterval(() => void this.detectFailures().catch((err) => this.log.error({ err }, 'failure detector')), tick));
    this.timers.push(setInterval(() => void this.flushUsage().catch((err) => this.log.error({ err }, 'usage flush')), this.settings.usageFlushMs));
    for (const t of this.timers) t.unref();
    this.trigger();
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    await this.serial.idle();
    await this.flushUsage().catch((err) => this.log.warn({ err: (err as Error).message }, 'usage samples not stored at shutdown'));
    for (const w of this.workers.values()) w.link?.close(1001, 'coordinator shutting down');
  }

  /**
   * Stops scheduling at once (leadership lost): timers stop, workers are told where the leader is, and
   * the view is dropped; a later start() rebuilds it from the store.
   */
  async deactivate(leader: string | null): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const w of this.workers.values()) {
      if (leader) w.link?.send({ type: 'redirect', leader });
      w.link?.close(1012, 'no longer the leader');
    }
    await this.serial.idle();
    this.reset();
  }

  private reset(): void {
    for (const m of [this.tasks, this.doneStates, this.dependents, this.pendingReasons, this.notBefore, this.avoid, this.predictions, this.runs, this.workers, this.attempts, this.orphans, this.held]) m.clear();
    this.ready.clear();
    this.usageBuffer = [];
    for (const item of this.inbox) item.reject(new Error('coordinator deactivated'));
    this.inbox = [];
  }

  // ---------------------------------------------------------------- API operations

  async submit(body: SubmitBody): Promise<{ runId: string; taskIds: string[] }> {
    return this.serial.run(async () => {
      const now = this.now();
      // Equal predictions share one object: tasks without history get the same defaults, and the
      // coordinator holds a prediction per queued task.
      const shared = new Map<string, Prediction>();
      const predict = (shape: TaskShape) => {
        const p = this.predictor.predict(shape);
        const key = JSON.stringify(p);
        const same = shared.get(key);
        if (same) return same;
        shared.set(key, p);
        return p;
      };
      const { run, tasks } = planSubmission(body, now, () => ++this.seq, (spec) => toResources(predict(spec)), this.secrets);
      for (const t of tasks) this.predictions.set(t.id, predict(shapeOf(t)));
      const fleet = this.fleetTypes();
      const tx = new Tx();
      tx.changes.push({ kind: 'runInsert', run });
      for (const t of tasks) tx.changes.push({ kind: 'taskInsert', task: t });
      // The view learns of the run before the commit so that failing infeasible tasks (and cascading
      // to their dependents) works on it; it is taken back out if the commit fails.
      this.runs.set(run.id, { record: run, open: tasks.length, failed: false, canceled: false });
      for (const t of tasks) {
        this.tasks.set(t.id, t);
        this.indexDependencies(t);
      }
      try {
        if (this.settings.infeasible === 'fail') {
          for (const t of tasks) {
            const why = infeasibleReason(t.resources, fleet);
            if (why) this.finishTask(tx, t, { state: 'failed', finishedAt: now, reason: why });
          }
        }
        await this.commit(tx);
      } catch (err) {
        this.runs.delete(run.id);
        for (const t of tasks) {
          this.tasks.delete(t.id);
          this.predictions.delete(t.id);
          for (const dep of t.dependsOn) this.dependents.get(dep)?.delete(t.id);
        }
        throw err;
      }
      for (const t of tasks) {
        if (t.state !== 'pending') continue;
        this.markReadyIfDepsDone(t);
        this.emitTask(t);
      }
      this.log.info({ runId: run.id, tasks: tasks.length }, 'run submitted');
      this.trigger();
      return { runId: run.id, taskIds: tasks.map((t) => t.id) };
    });
  }

  async cancel(taskId: string, reason = 'canceled by user'): Promise<TaskRecord> {
    return this.serial.run(async () => {
      const task = this.tasks.get(taskId);
      if (!task) {
        const stored = await this.store.getTask(taskId);
        if (!stored) throw notFound('task', taskId);
        throw new ApiError(409, 'already_finished', `task ${taskId} already finished (${stored.state})`);
      }
      const attemptId = task.currentAttemptId;
      const tx = new Tx();
      this.finishTask(tx, task, { state: 'canceled', finishedAt: this.now(), reason });
      await this.commit(tx);
      // The attempt keeps its reservation until the worker reports the process gone.
      if (attemptId) this.sendToAttemptWorker(attemptId, { type: 'cancel', attemptId, reason });
      return task;
    });
  }

  /** Stops placing work on a worker; its running tasks finish. `by` tells an operator's drain from the autoscaler's. */
  async drain(workerId: string, by: 'operator' | 'scaling' = 'operator'): Promise<WorkerRecord> {
    return this.serial.run(async () => {
      const w = this.workers.get(workerId);
      if (!w || w.record.state === 'lost' || w.record.state === 'terminated') throw notFound('worker', workerId);
      if (w.record.state !== 'draining') {
        await this.write([{ kind: 'workerUpdate', id: workerId, patch: { state: 'draining' } }]);
        w.record = { ...w.record, state: 'draining' };
        w.drainedBy = by;
        w.link?.send({ type: 'drain' });
        this.bus.emit('worker', { workerId, type: w.record.type, state: 'draining', at: this.now() });
      }
      return w.record;
    });
  }

  /** Takes a worker the autoscaler drained back into service (pending work fits it). */
  async undrain(workerId: string): Promise<void> {
    await this.serial.run(async () => {
      const w = this.workers.get(workerId);
      if (!w || w.record.state !== 'draining') return;
      await this.write([{ kind: 'workerUpdate', id: workerId, patch: { state: 'active' } }]);
      w.record = { ...w.record, state: 'active' };
      w.drainedBy = null;
      this.bus.emit('worker', { workerId, type: w.record.type, state: 'active', at: this.now() });
    });
    this.trigger();
  }

  /** Fails pending tasks at once (no worker type can ever fit them), with the reason. */
  async failPending(failures: ReadonlyArray<{ taskId: string; reason: string }>): Promise<void> {
    await this.serial.run(async () => {
      const tx = new Tx();
      for (const f of failures) {
        const task = this.tasks.get(f.taskId);
        if (task?.state === 'pending') this.finishTask(tx, task, { state: 'failed', finishedAt: this.now(), reason: f.reason });
      }
      await this.commit(tx);
    });
  }

  /** Stores a scaling decision and tells subscribers (metrics, dashboard, event stream). */
  async recordScalingDecision(decision: ScalingDecisionRecord): Promise<void> {
    await this.write([{ kind: 'scalingDecision', decision }]);
    this.bus.emit('scaling', { action: decision.action, workerType: decision.workerType, count: decision.count, reason: decision.reason, at: decision.at });
  }

  /** What the scaling policy needs: every live worker and the pending (ready) demand. */
  scalingSnapshot() {
    const workers = [...this.workers.values()].map((w) => ({
      id: w.record.id,
      type: w.record.type,
      provider: w.record.provider,
      capacity: w.record.resources,
      reserved: w.reserved,
      usage: w.usage ?? undefined,
      // A draining worker that disconnected is being stopped: it stays draining, not a live candidate.
      state: w.link || w.record.state !== 'active' ? w.record.state : ('connecting' as const),
      idleSinceMs: w.attempts.size === 0 ? (w.idleSince ?? this.now()) : null,
      drainedBy: w.drainedBy ?? undefined,
    }));
    const pending = [...this.ready].map((id) => {
      const t = this.tasks.get(id)!;
      return { id, resources: t.resources, priority: t.priority, seq: t.seq };
    });
    return { workers, pending };
  }

  // ---------------------------------------------------------------- worker protocol

  async onHello(link: WorkerLink, hello: HelloMessage): Promise<void> {
    return this.serial.run(async () => {
      const now = this.now();
      let w = this.workers.get(hello.workerId);
      if (w?.link && w.link !== link) w.link.close(CloseCode.replaced, 'replaced by a newer connection of the same worker');
      const record: WorkerRecord = {
        id: hello.workerId,
        type: hello.workerType,
        provider: hello.provider,
        resources: resources(hello.resources),
        labels: hello.labels,
        state: w?.record.state === 'draining' ? 'draining' : 'active',
        registeredAt: w?.record.registeredAt ?? now,
        lastSeenAt: now,
      };
      await this.write([{ kind: 'workerUpsert', worker: record }]);
      if (!w) {
        w = {
          record,
          link,
          reserved: resources(),
          freeGpuIndices: Array.from({ length: record.resources.gpus }, (_, i) => i),
          attempts: new Map(),
          usage: null,
          lastSeenAt: now,
          disconnectedAt: null,
          infraFailures: 0,
          quarantinedUntil: null,
          onTrial: false,
          idleSince: now,
          drainedBy: null,
        };
        this.workers.set(record.id, w);
      } else {
        w.record = record;
        w.link = link;
        w.lastSeenAt = now;
        w.disconnectedAt = null;
      }
      link.send({ type: 'welcome', workerId: record.id, heartbeatMs: this.settings.heartbeatMs });
      await this.reconcileRunning(w, hello.running);
      this.bus.emit('worker', { workerId: record.id, type: record.type, state: record.state, at: now });
      this.log.info({ workerId: record.id, workerType: record.type, resources: record.resources }, 'worker joined');
      for (const [attemptId, h] of this.held) {
        if (h.workerId !== record.id) continue;
        this.held.delete(attemptId);
        void this.onResult(record.id, h.result).catch((err) => this.log.error({ err, attemptId }, 'held result failed'));
      }
      this.trigger();
    });
  }

  /** Any message proves the worker alive, not only heartbeats (a busy worker's results count too). */
  touch(workerId: string): void {
    const w = this.workers.get(workerId);
    if (w && w.link) w.lastSeenAt = this.now();
  }

  onHeartbeat(workerId: string, usage: Usage): void {
    const w = this.workers.get(workerId);
    if (!w) return;
    const now = this.now();
    w.usage = usage;
    w.lastSeenAt = now;
    this.usageBuffer.push({ workerId, at: now, cpu: usage.cpu, memoryMb: usage.memoryMb, gpus: usage.gpus ?? null, gpuMemoryMb: usage.gpuMemoryMb ?? null });
  }

  /** Started and result messages are group-committed: all that arrive while a write is in flight share the next one. */
  onStarted(workerId: string, attemptId: string, pid: number): Promise<void> {
    return this.enqueue(workerId, { type: 'started', attemptId, pid });
  }

  onResult(workerId: string, result: ResultMessage): Promise<void> {
    return this.enqueue(workerId, result);
  }

  private enqueue(workerId: string, msg: InboxMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.inbox.push({ workerId, msg, resolve, reject });
      if (this.inboxQueued) return;
      this.inboxQueued = true;
      // After the current I/O phase: every message already read from the sockets joins this batch.
      setImmediate(() => void this.serial.run(() => this.drainInbox()));
    });
  }

  private async drainInbox(): Promise<void> {
    this.inboxQueued = false;
    if (this.closed) return;
    const batch = this.inbox;
    this.inbox = [];
    const tx = new Tx();
    const acks: Array<{ w: WorkerSession; attemptId: string }> = [];
    let sends: Array<{ w: WorkerSession; msg: CoordinatorMessage }> = [];
    const seen = new Set<string>();
    let readyBefore = 0;
    try {
      for (const item of batch) {
        if (item.msg.type === 'started') this.planStarted(tx, item.workerId, item.msg.attemptId, item.msg.pid);
        else if (!seen.has(item.msg.attemptId)) {
          seen.add(item.msg.attemptId);
          await this.planResult(tx, item.workerId, item.msg, acks);
        }
      }
      sends = this.planCycle(tx);
      readyBefore = this.ready.additions;
      await this.commit(tx);
    } catch (err) {
      // Nothing was applied or acked: the workers keep their results and re-send them after reconnecting.
      this.log.error({ err, messages: batch.length }, 'could not persist worker messages; asking workers to reconnect');
      for (const id of new Set(batch.map((b) => b.workerId))) this.workers.get(id)?.link?.close(1011, 'coordinator could not persist your messages');
      for (const item of batch) item.reject(err);
      return;
    }
    for (const { w, attemptId } of acks) w.link?.send({ type: 'ack', attemptId });
    for (const { w, msg } of sends) w.link?.send(msg);
    for (const item of batch) item.resolve();
    // This batch's cycle already refilled the slots its results freed; dependents that became ready
    // and retries (made ready when the batch committed) need a cycle of their own.
    if (this.ready.additions !== readyBefore) this.trigger();
  }

  private planStarted(tx: Tx, workerId: string, attemptId: string, pid: number): void {
    const att = this.attempts.get(attemptId);
    if (!att || att.workerId !== workerId) return;
    const task = this.tasks.get(att.taskId);
    const now = this.now();
    tx.changes.push({ kind: 'attemptUpdate', id: attemptId, patch: { state: 'running', startedAt: now, pid } });
    if (task && task.currentAttemptId === attemptId && task.state === 'assigned') {
      tx.changes.push({ kind: 'taskUpdate', id: task.id, patch: { state: 'running', startedAt: now } });
      tx.effects.push(() => {
        task.state = 'running';
        task.startedAt = now;
        this.emitTask(task);
      });
    }
  }

  private async planResult(tx: Tx, workerId: string, result: ResultMessage, acks: Array<{ w: WorkerSession; attemptId: string }>): Promise<void> {
    const w = this.workers.get(workerId);
    const refuse = (reason: string) => {
      this.log.warn({ workerId, attemptId: result.attemptId }, `result refused: ${reason}`);
      this.bus.emit('resultRefused', { workerId, attemptId: result.attemptId, reason, at: this.now() });
    };
    let att = this.attempts.get(result.attemptId);
    if (!att) {
      const stored = await this.store.getAttempt(result.attemptId);
      if (!stored || stored.workerId !== workerId) return refuse('unknown attempt');
      const task = this.tasks.get(stored.taskId);
      if (!task || task.currentAttemptId !== stored.id) {
        // Ours but no longer current (recorded, lost or superseded): ack so the worker forgets it, apply nothing.
        w?.link?.send({ type: 'ack', attemptId: result.attemptId });
        return refuse(`stale attempt (${stored.state})`);
      }
      // Still the current attempt, untracked since a restart: adopt it so its result counts (the task
      // must not run again). Without a session to hold it, leave it unacked: the worker re-sends it.
      if (!w) {
        // Held until its worker registers (then applied); meanwhile the attempt is not given up on.
        this.held.set(stored.id, { workerId, result });
        return this.log.warn({ workerId, attemptId: stored.id }, 'result of a current attempt before its worker registered: held');
      }
      att = this.adopt(w, stored, task);
    }
    if (att.workerId !== workerId) return refuse(`attempt belongs to worker ${att.workerId}`);
    const now = this.now();
    tx.changes.push({
      kind: 'attemptUpdate',
      id: att.id,
      patch: {
        state: result.status,
        finishedAt: now,
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        peakMemoryMb: result.usage.peakMemoryMb,
        cpuSeconds: result.usage.cpuSeconds,
        reason: result.reason ?? null,
        stdoutTail: result.stdoutTail,
        stderrTail: result.stderrTail,
      },
    });
    const task = this.tasks.get(att.taskId);
    if (task && task.currentAttemptId === att.id) {
      // Only learned estimates count towards accuracy: the built-in defaults are not predictions.
      const prediction = this.predictions.get(task.id);
      const learned = prediction && prediction.method !== 'default' ? prediction : undefined;
      const row: TaskHistoryRecord = {
        attemptId: att.id,
        taskId: task.id,
        name: task.name,
        kind: task.kind,
        modelType: task.modelType,
        modelName: task.modelName,
        batchSize: task.batchSize,
        labels: task.labels,
        workerType: w?.record.type ?? 'unknown',
        succeeded: result.status === 'succeeded',
        durationMs: result.durationMs,
        peakMemoryMb: result.usage.peakMemoryMb,
        cpuSeconds: result.usage.cpuSeconds,
        gpuMemoryMb: null,
        predictedDurationMs: learned?.durationMs ?? null,
        predictedMemoryMb: learned?.expectedPeakMemoryMb ?? null,
        finishedAt: now,
      };
      tx.changes.push({ kind: 'taskHistory', row });
      tx.effects.push(() => this.predictor.add(row));
      const outcome = {
        finishedAt: now,
        durationMs: result.durationMs,
        exitCode: result.exitCode,
        peakMemoryMb: result.usage.peakMemoryMb,
        cpuSeconds: result.usage.cpuSeconds,
        stdoutTail: result.stdoutTail,
        stderrTail: result.stderrTail,
        reason: result.reason ?? null,
      };
      const cause = failureCause(result);
      const retry = (result.status === 'failed' || result.status === 'timed_out') && shouldRetry(cause, task.attempts, task, this.settings.retry);
      if (retry) this.requeue(tx, task, `attempt ${task.attempts} ${result.status} (${cause}): ${result.reason ?? 'no reason'}; retrying`, workerId);
      else this.finishTask(tx, task, { state: result.status, ...outcome });
      if (w) tx.effects.push(() => this.recordWorkerOutcome(w, result.status === 'succeeded' ? 'success' : cause));
    }
    tx.released.push(att);
    tx.effects.push(() => this.release(att));
    if (w) acks.push({ w, attemptId: att.id });
  }

  /** The worker's connection closed; it has `reconnectGraceMs` to come back. */
  onDisconnect(workerId: string, link: WorkerLink): void {
    // Queued behind a hello still in flight on the same link, so that hello cannot revive a dead link.
    void this.serial.run(() => {
      const w = this.workers.get(workerId);
      if (!w || w.link !== link) return;
      w.link = null;
      w.disconnectedAt = this.now();
      this.log.warn({ workerId }, 'worker disconnected');
    });
  }

  // ---------------------------------------------------------------- scheduling

  /** Asks for a placement cycle soon; many triggers in one tick coalesce into one cycle. */
  trigger(): void {
    if (this.scheduleQueued || this.closed) return;
    this.scheduleQueued = true;
    setImmediate(() => {
      this.scheduleQueued = false;
      void this.serial.run(() => this.scheduleCycle()).catch((err) => this.log.error({ err }, 'scheduling cycle failed'));
    });
  }

  private async scheduleCycle(): Promise<void> {
    if (this.ready.size === 0 || this.closed) return;
    const tx = new Tx();
    const sends = this.planCycle(tx);
    await this.commit(tx);
    // A link that closed meanwhile simply drops the message; the failure detector requeues its attempts.
    for (const { w, msg } of sends) w.link?.send(msg);
  }

  /**
   * Places ready tasks and adds the assignments to `tx`; returns the messages to send once it commits.
   * Capacity that `tx` releases (results in the same group commit) counts as free already, so a
   * finished task's slot is refilled in the very transaction that records its result.
   */
  private planCycle(tx: Tx): Array<{ w: WorkerSession; msg: CoordinatorMessage }> {
    if (this.ready.size === 0 || this.closed) return [];
    const released = new Map<string, ActiveAttempt[]>();
    for (const att of tx.released) {
      const list = released.get(att.workerId);
      if (list) list.push(att);
      else released.set(att.workerId, [att]);
    }
    const started = performance.now();
    const now = this.now();
    let wakeAt = Infinity;
    const workers: PlacementWorker[] = [];
    let schedulable = 0;
    let freeCpu = 0;
    for (const w of this.workers.values()) {
      if (!w.link) continue;
      if (w.quarantinedUntil !== null && w.quarantinedUntil > now) wakeAt = Math.min(wakeAt, w.quarantinedUntil);
      const freed = released.get(w.record.id) ?? [];
      const worker: PlacementWorker = {
        id: w.record.id,
        type: w.record.type,
        capacity: w.record.resources,
        reserved: freed.reduce((r, att) => subtract(r, att.resources), w.reserved),
        freeGpuIndices: freed.length ? [...w.freeGpuIndices, ...freed.flatMap((a) => a.gpuIndices)].sort((a, b) => a - b) : w.freeGpuIndices,
        // A worker on trial whose only task just finished may take its next one.
        schedulable: this.schedulable(w, now, freed.length),
      };
      workers.push(worker);
      if (!worker.schedulable) continue;
      schedulable++;
      freeCpu += Math.max(0, worker.capacity.cpu - worker.reserved.cpu);
    }
    // The head of the queue is enough: no cycle can place more tasks than there are free slots, and a
    // margin lets placement pick the longest and best-fitting among them.
    const limit = Math.max(CYCLE_MIN_CANDIDATES, CYCLE_CANDIDATES_PER_WORKER * schedulable);
    const tasks: PlacementTask[] = [];
    let cpuAsked = 0;
    for (const id of this.ready) {
      if (tasks.length >= limit || (tasks.length >= CYCLE_MIN_CANDIDATES && cpuAsked >= 2 * freeCpu)) break;
      const t = this.tasks.get(id)!;
      const notBefore = this.notBefore.get(id);
      if (notBefore !== undefined && notBefore > now) {
        wakeAt = Math.min(wakeAt, notBefore);
        continue;
      }
      cpuAsked += t.resources.cpu;
      tasks.push({ id, priority: t.priority, seq: t.seq, resources: t.resources, durationMs: this.predictions.get(id)?.durationMs, group: t.runId, avoidWorkerIds: this.avoid.get(id) });
    }
    this.wakeAt(wakeAt);
    if (tasks.length === 0) return [];
    const reply = placeTasks({ tasks, workers });
    this.lastPlacementMs = performance.now() - started;
    this.pendingReasons.clear();
    // Reasons repeat across thousands of tasks: keep one copy of each text.
    const texts = new Map<string, string>();
    for (const p of reply.pending) {
      let reason = texts.get(p.reason);
      if (reason === undefined) texts.set(p.reason, (reason = p.reason));
      this.pendingReasons.set(p.taskId, reason);
    }
    this.bus.emit('placement', { durationMs: this.lastPlacementMs, assigned: reply.assignments.length, pending: reply.pending.length, at: this.now() });
    if (reply.assignments.length === 0) return [];

    const sends: Array<{ w: WorkerSession; msg: CoordinatorMessage }> = [];
    for (const a of reply.assignments) {
      const task = this.tasks.get(a.taskId)!;
      const w = this.workers.get(a.workerId)!;
      const attempt: AttemptRecord = {
        id: newId('att'),
        taskId: task.id,
        workerId: w.record.id,
        workerType: w.record.type,
        state: 'assigned',
        gpuIndices: a.gpuIndices,
        assignedAt: now,
        startedAt: null,
        finishedAt: null,
        pid: null,
        exitCode: null,
        durationMs: null,
        peakMemoryMb: null,
        cpuSeconds: null,
        reason: null,
        stdoutTail: null,
        stderrTail: null,
      };
      const patch = { state: 'assigned' as const, attempts: task.attempts + 1, currentAttemptId: attempt.id, workerId: w.record.id, workerType: w.record.type, reason: null };
      tx.changes.push({ kind: 'attemptInsert', attempt }, { kind: 'taskUpdate', id: task.id, patch });
      const active: ActiveAttempt = { id: attempt.id, taskId: task.id, workerId: w.record.id, resources: task.resources, gpuIndices: a.gpuIndices };
      tx.effects.push(() => {
        Object.assign(task, patch);
        this.ready.delete(task.id);
        this.notBefore.delete(task.id);
        this.reserve(w, active);
        this.emitTask(task);
      });
      sends.push({
        w,
        msg: {
          type: 'assign',
          attemptId: attempt.id,
          gpuIndices: a.gpuIndices,
          task: { taskId: task.id, name: task.name, kind: task.kind, command: task.command, ...this.secrets.forWorker(task.env), cwd: task.cwd ?? undefined, timeoutSec: task.timeoutSec, resources: task.resources },
        },
      });
    }
    this.log.debug({ assigned: sends.length, pending: reply.pending.length, placementMs: this.lastPlacementMs }, 'placement cycle');
    return sends;
  }

  /** Active, not quarantined, and on trial only while it runs nothing. */
  private schedulable(w: WorkerSession, now: number, finishing = 0): boolean {
    if (w.record.state !== 'active') return false;
    if (w.quarantinedUntil !== null && w.quarantinedUntil > now) return false;
    return !w.onTrial || w.attempts.size - finishing === 0;
  }

  /** Makes sure a cycle runs at `at` (the earliest retry backoff or quarantine end). */
  private wakeAt(at: number): void {
    if (!Number.isFinite(at)) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.trigger();
    }, Math.max(0, at - this.now()) + 5);
    this.wakeTimer.unref();
  }

  /** The circuit breaker: repeated infrastructure failures quarantine a worker; a success closes it. */
  private recordWorkerOutcome(w: WorkerSession, outcome: 'success' | FailureCause): void {
    if (outcome === 'success') {
      w.infraFailures = 0;
      w.onTrial = false;
      w.quarantinedUntil = null;
      return;
    }
    if (outcome !== 'infrastructure') return;
    w.infraFailures++;
    if (w.onTrial || w.infraFailures >= this.settings.quarantineAfterFailures) {
      w.quarantinedUntil = this.now() + this.settings.quarantineMs;
      w.onTrial = true;
      this.log.warn({ workerId: w.record.id, failures: w.infraFailures, untilMs: this.settings.quarantineMs }, 'worker quarantined after repeated infrastructure failures');
    }
  }

  // ---------------------------------------------------------------- failure detection

  private async detectFailures(): Promise<void> {
    if (this.closed) return;
    const now = this.now();
    const due = (w: WorkerSession) =>
      (w.link === null && w.disconnectedAt !== null && now - w.disconnectedAt >= this.settings.reconnectGraceMs) ||
      (w.link !== null && now - w.lastSeenAt >= this.settings.heartbeatTimeoutMs);
    const anyOrphanDue = [...this.orphans.values()].some((o) => now >= o.deadline);
    if (!anyOrphanDue && ![...this.workers.values()].some(due)) return;
    // Re-checked inside the section: a worker may have come back while earlier sections ran.
    await this.serial.run(async () => {
      const tx = new Tx();
      for (const w of [...this.workers.values()].filter(due)) {
        const reason = w.link ? `worker ${w.record.id} lost: no heartbeat for ${now - w.lastSeenAt} ms` : `worker ${w.record.id} lost: did not reconnect within ${this.settings.reconnectGraceMs} ms`;
        this.loseWorker(tx, w, reason);
      }
      for (const [attemptId, o] of this.orphans) {
        if (now >= o.deadline && !this.held.has(attemptId)) this.loseAttempt(tx, attemptId, o.taskId, 'its worker did not report it after reconnecting', undefined);
      }
      await this.commit(tx);
    });
    this.trigger();
  }

  /**
   * A provider saw the worker's process or machine go away (a local process exited, a pod was
   * deleted): no need to wait out the reconnect grace.
   */
  async markWorkerGone(workerId: string, reason: string, state: 'lost' | 'terminated' = 'lost'): Promise<void> {
    await this.serial.run(async () => {
      const w = this.workers.get(workerId);
      if (!w) return;
      const tx = new Tx();
      this.loseWorker(tx, w, `worker ${workerId} ${state}: ${reason}`, state);
      await this.commit(tx);
    });
    this.trigger();
  }

  private loseWorker(tx: Tx, w: WorkerSession, reason: string, state: 'lost' | 'terminated' = 'lost'): void {
    const now = this.now();
    tx.changes.push({ kind: 'workerUpdate', id: w.record.id, patch: { state, lastSeenAt: w.lastSeenAt } });
    for (const att of w.attempts.values()) this.loseAttempt(tx, att.id, att.taskId, reason, att);
    tx.effects.push(() => {
      w.link?.close(CloseCode.lost, 'declared lost: reconnect to register again');
      w.link = null;
      w.record = { ...w.record, state };
      this.workers.delete(w.record.id);
      this.bus.emit('worker', { workerId: w.record.id, type: w.record.type, state, at: now });
    });
    this.log.warn({ workerId: w.record.id, attempts: w.attempts.size }, reason);
  }

  private loseAttempt(tx: Tx, attemptId: string, taskId: string, reason: string, att: ActiveAttempt | undefined): void {
    tx.changes.push({ kind: 'attemptUpdate', id: attemptId, patch: { state: 'lost', finishedAt: this.now(), reason } });
    const task = this.tasks.get(taskId);
    if (task && task.currentAttemptId === attemptId) {
      if (this.settings.reassignLostTasks !== false && shouldRetry('infrastructure', task.attempts, task, this.settings.retry)) this.requeue(tx, task, reason, att?.workerId ?? task.workerId);
      else this.finishTask(tx, task, { state: 'failed', finishedAt: this.now(), reason: `${reason} (after ${task.attempts} attempts)` });
    }
    tx.effects.push(() => {
      this.orphans.delete(attemptId);
      if (att) this.release(att);
    });
  }

  /**
   * Takes an attempt that the store says is current (after a restart it is an orphan) into the view on
   * the worker that reports it, so its result is applied instead of the task running again.
   */
  private adopt(w: WorkerSession, stored: AttemptRecord, task: TaskRecord): ActiveAttempt {
    const active: ActiveAttempt = { id: stored.id, taskId: task.id, workerId: w.record.id, resources: task.resources, gpuIndices: stored.gpuIndices };
    this.orphans.delete(stored.id);
    this.reserve(w, active);
    return active;
  }

  /** After a hello: adopt attempts the worker still runs, cancel ones it must not, and check the rest. */
  private async reconcileRunning(w: WorkerSession, running: HelloMessage['running']): Promise<void> {
    const tx = new Tx();
    const reported = new Set(running.map((r) => r.attemptId));
    for (const r of running) {
      if (w.attempts.has(r.attemptId)) continue;
      const task = this.tasks.get(r.taskId);
      const orphan = this.orphans.get(r.attemptId);
      if (task && orphan && task.currentAttemptId === r.attemptId) {
        const stored = await this.store.getAttempt(r.attemptId);
        const active: ActiveAttempt = { id: r.attemptId, taskId: task.id, workerId: w.record.id, resources: task.resources, gpuIndices: stored?.gpuIndices ?? [] };
        tx.effects.push(() => {
          this.orphans.delete(r.attemptId);
          this.reserve(w, active);
        });
        this.log.info({ workerId: w.record.id, attemptId: r.attemptId, taskId: task.id }, 'adopted running attempt');
      } else {
        w.link?.send({ type: 'cancel', attemptId: r.attemptId, reason: 'attempt is no longer current' });
      }
    }
    // Attempts we think it holds but it no longer runs: its result is re-sent right after hello;
    // if none arrives within two heartbeats, the attempt is lost.
    for (const att of w.attempts.values()) {
      if (!reported.has(att.id)) this.orphans.set(att.id, { taskId: att.taskId, deadline: this.now() + 2 * this.settings.heartbeatMs });
    }
    if (tx.effects.length > 0) await this.commit(tx);
  }

  // ---------------------------------------------------------------- transitions

  private finishTask(tx: Tx, task: TaskRecord, patch: Partial<TaskRecord> & { state: TaskState }): void {
    if (tx.finished.has(task.id)) return;
    tx.finished.add(task.id);
    const full: Partial<TaskRecord> = { ...patch };
    if (patch.state === 'canceled' || patch.state === 'failed') full.currentAttemptId = task.currentAttemptId;
    tx.changes.push({ kind: 'taskUpdate', id: task.id, patch: full });
    const delta = tx.runDelta.get(task.runId) ?? { closed: 0, failed: false, canceled: false };
    delta.closed++;
    if (patch.state === 'failed' || patch.state === 'timed_out') delta.failed = true;
    if (patch.state === 'canceled') delta.canceled = true;
    tx.runDelta.set(task.runId, delta);
    tx.effects.push(() => {
      Object.assign(task, full);
      this.tasks.delete(task.id);
      this.ready.delete(task.id);
      this.pendingReasons.delete(task.id);
      this.notBefore.delete(task.id);
      this.avoid.delete(task.id);
      this.predictions.delete(task.id);
      this.doneStates.set(task.id, patch.state);
      this.emitTask(task);
    });
    // Dependents: cancel them when this did not succeed; otherwise they may become ready.
    for (const depId of this.dependents.get(task.id) ?? []) {
      const dep = this.tasks.get(depId);
      if (!dep || dep.state !== 'pending') continue;
      if (patch.state !== 'succeeded') {
        this.finishTask(tx, dep, { state: 'canceled', finishedAt: patch.finishedAt ?? this.now(), reason: `dependency ${task.name} ${patch.state}` });
      } else {
        tx.effects.push(() => this.markReadyIfDepsDone(dep));
      }
    }
  }

  /** Back to pending after a failed or lost attempt: after a backoff, and preferably not on the same worker. */
  private requeue(tx: Tx, task: TaskRecord, reason: string, failedOn: string | null): void {
    const patch = { state: 'pending' as const, currentAttemptId: null, workerId: null, workerType: null, reason };
    const notBefore = this.now() + retryDelayMs(task.attempts, Math.random, this.settings.retry);
    tx.changes.push({ kind: 'taskUpdate', id: task.id, patch });
    tx.effects.push(() => {
      Object.assign(task, patch);
      this.notBefore.set(task.id, notBefore);
      if (failedOn) this.avoid.set(task.id, [...(this.avoid.get(task.id) ?? []), failedOn]);
      this.ready.add(task.id, task.priority);
      this.emitTask(task);
    });
  }

  private async commit(tx: Tx): Promise<void> {
    for (const [runId, delta] of tx.runDelta) {
      const run = this.runs.get(runId);
      const open = run ? run.open : 0;
      if (!run) continue;
      const failed = run.failed || delta.failed;
      const canceled = run.canceled || delta.canceled;
      const remaining = open - delta.closed;
      let finished: RunRecord | null = null;
      if (remaining === 0) {
        finished = { ...run.record, state: failed ? 'failed' : canceled ? 'canceled' : 'succeeded', finishedAt: this.now() };
        tx.changes.push({ kind: 'runUpdate', id: runId, patch: { state: finished.state, finishedAt: finished.finishedAt } });
      }
      tx.effects.push(() => {
        run.open = remaining;
        run.failed = failed;
        run.canceled = canceled;
        if (finished) {
          run.record = finished;
          this.runs.delete(runId);
          this.bus.emit('run', { runId, state: finished.state, at: finished.finishedAt! });
          this.log.info({ runId, state: finished.state }, 'run finished');
        }
      });
    }
    if (tx.changes.length > 0) await this.write(tx.changes);
    for (const effect of tx.effects) effect();
  }

  /** Every write carries the leader's fence; a fenced-off write means another coordinator leads now. */
  private async write(changes: readonly Change[]): Promise<void> {
    try {
      await this.store.write(changes, this.fence?.());
    } catch (err) {
      if (err instanceof FencedError) this.onFenced?.(err);
      throw err;
    }
  }

  private reserve(w: WorkerSession, att: ActiveAttempt): void {
    w.attempts.set(att.id, att);
    w.idleSince = null;
    w.reserved = add(w.reserved, att.resources);
    const taken = new Set(att.gpuIndices);
    w.freeGpuIndices = w.freeGpuIndices.filter((i) => !taken.has(i));
    this.attempts.set(att.id, att);
  }

  private release(att: ActiveAttempt): void {
    this.attempts.delete(att.id);
    const w = this.workers.get(att.workerId);
    if (!w || !w.attempts.delete(att.id)) return;
    if (w.attempts.size === 0) w.idleSince = this.now();
    w.reserved = subtract(w.reserved, att.resources);
    w.freeGpuIndices = [...w.freeGpuIndices, ...att.gpuIndices].sort((a, b) => a - b);
  }

  private indexDependencies(t: TaskRecord): void {
    for (const dep of t.dependsOn) {
      let set = this.dependents.get(dep);
      if (!set) this.dependents.set(dep, (set = new Set()));
      set.add(t.id);
    }
  }

  private markReadyIfDepsDone(t: TaskRecord): void {
    if (t.state !== 'pending') return;
    if (t.dependsOn.every((d) => this.doneStates.get(d) === 'succeeded')) this.ready.add(t.id, t.priority);
  }

  private sendToAttemptWorker(attemptId: string, msg: CoordinatorMessage): void {
    const att = this.attempts.get(attemptId);
    if (att) this.workers.get(att.workerId)?.link?.send(msg);
  }

  private emitTask(t: TaskRecord): void {
    this.bus.emit('task', { taskId: t.id, runId: t.runId, name: t.name, state: t.state, workerId: t.workerId, attemptId: t.currentAttemptId, reason: t.reason, at: this.now() });
  }

  private fleetTypes() {
    const names = this.settings.fleetTypes;
    if (!names) return this.settings.workerTypes;
    return names.map((n) => findWorkerType(this.settings.workerTypes, n)).filter((t) => t !== undefined);
  }

  private async flushUsage(): Promise<void> {
    if (this.usageBuffer.length === 0) return;
    const samples = this.usageBuffer;
    this.usageBuffer = [];
    await this.write([{ kind: 'usageSamples', samples }]);
  }

  // ---------------------------------------------------------------- read views

  /** The predictor's estimate for a task shape (GET /api/v1/predictions). */
  predict(shape: TaskShape): Prediction {
    return this.predictor.predict(shape);
  }

  /** The live copy of a non-terminal task (with its pending reason), or undefined. */
  liveTask(id: string): { task: TaskRecord; pendingReason: string | undefined } | undefined {
    const task = this.tasks.get(id);
    if (!task) return undefined;
    return { task, pendingReason: this.pendingReasons.get(id) ?? (task.state === 'pending' ? this.waitingReason(task) : undefined) };
  }

  /** Why a pending task that the last cycle did not consider is waiting. */
  private waitingReason(task: TaskRecord): string {
    const deps = task.dependsOn.filter((d) => this.doneStates.get(d) !== 'succeeded');
    if (deps.length > 0) return `waiting for ${deps.length} dependenc${deps.length === 1 ? 'y' : 'ies'} to succeed`;
    const notBefore = this.notBefore.get(task.id);
    if (notBefore !== undefined && notBefore > this.now()) return `retry backoff: eligible in ${notBefore - this.now()} ms`;
    return 'queued: tasks ahead of it are placed first';
  }

  workerViews() {
    return [...this.workers.values()].map((w) => ({
      id: w.record.id,
      type: w.record.type,
      provider: w.record.provider,
      state: w.link || w.record.state !== 'active' ? w.record.state : ('connecting' as const),
      resources: w.record.resources,
      reserved: w.reserved,
      usage: w.usage,
      labels: w.record.labels,
      runningTasks: [...w.attempts.values()].map((a) => a.taskId),
      registeredAt: new Date(w.record.registeredAt).toISOString(),
      lastSeenAt: new Date(w.lastSeenAt).toISOString(),
    }));
  }

  clusterView() {
    let capacity = resources();
    let reserved = resources();
    let used = resources();
    const byType: Record<string, number> = {};
    const byState: Record<string, number> = {};
    for (const w of this.workers.values()) {
      byType[w.record.type] = (byType[w.record.type] ?? 0) + 1;
      byState[w.record.state] = (byState[w.record.state] ?? 0) + 1;
      capacity = add(capacity, w.record.resources);
      reserved = add(reserved, w.reserved);
      if (w.usage) used = add(used, resources({ cpu: w.usage.cpu, memoryMb: w.usage.memoryMb, gpus: w.usage.gpus ?? 0, gpuMemoryMb: w.usage.gpuMemoryMb ?? 0 }));
    }
    const tasksByState: Record<string, number> = { pending: 0, assigned: 0, running: 0 };
    let pendingDemand = resources();
    for (const t of this.tasks.values()) {
      tasksByState[t.state] = (tasksByState[t.state] ?? 0) + 1;
      if (t.state === 'pending') pendingDemand = add(pendingDemand, t.resources);
    }
    const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
    const reservedUtil = { cpu: ratio(reserved.cpu, capacity.cpu), memory: ratio(reserved.memoryMb, capacity.memoryMb), gpu: ratio(reserved.gpus, capacity.gpus) };
    const dims = [reservedUtil.cpu, reservedUtil.memory, ...(capacity.gpus > 0 ? [reservedUtil.gpu] : [])];
    return {
      workers: { total: this.workers.size, byType, byState },
      capacity,
      reserved,
      used,
      utilization: { ...reservedUtil, overall: Math.max(0, ...dims) },
      usedUtilization: { cpu: ratio(used.cpu, capacity.cpu), memory: ratio(used.memoryMb, capacity.memoryMb), gpu: ratio(used.gpus, capacity.gpus) },
      tasks: tasksByState,
      queueDepth: tasksByState.pending,
      readyTasks: this.ready.size,
      pendingDemand,
      lastPlacementMs: this.lastPlacementMs,
      activeRuns: this.runs.size,
    };
  }

  /** Resolves when all queued state changes have been applied (tests and shutdown). */
  idle(): Promise<void> {
    return this.serial.idle();
  }
}

