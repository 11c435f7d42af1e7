import { z } from 'zod';
import { resources } from '../core/resources.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry.js';
import { BUILTIN_WORKER_TYPES, type WorkerType } from '../core/worker-types.js';
import { ResourcesSchema } from '../schema/task.js';

/** What one client may send and hold; each refusal is counted in drm_rejections_total{reason}. */
export interface CoordinatorLimits {
  /** Largest HTTP request body (413 `body_too_large`). */
  bodyBytes: number;
  /** Largest WebSocket frame from a worker (the connection is closed with 1009). */
  frameBytes: number;
  /** Most tasks in one POST /api/v1/tasks (413 `too_many_tasks`). */
  tasksPerSubmission: number;
  /** Most open connections (HTTP keep-alive, event streams, worker sockets) from one remote address (429 `too_many_connections`). */
  connectionsPerAddress: number;
  /**
   * Loopback clients are not counted: local workers of `drm run`, benchmarks and a reverse proxy on the
   * same host all connect from there.
   */
  exemptLoopback: boolean;
}

export const DEFAULT_LIMITS: CoordinatorLimits = {
  bodyBytes: 16 * 1024 * 1024,
  frameBytes: 8 * 1024 * 1024,
  tasksPerSubmission: 10_000,
  connectionsPerAddress: 64,
  exemptLoopback: true,
};

/** The coordinator's tunables, with their defaults in one place. */
export interface CoordinatorSettings {
  /** How often workers send a heartbeat (told to them in `welcome`). */
  heartbeatMs: number;
  /** A connected worker silent for this long is lost. */
  heartbeatTimeoutMs: number;
  /** A worker whose connection closed is lost if it does not come back within this time. */
  reconnectGraceMs: number;
  /**
   * After a coordinator starts (restart or takeover), how long its workers have to come back and report
   * what they still run before those tasks are requeued. Longer than reconnectGraceMs: the workers were
   * backing off (up to 5 s) while no coordinator answered.
   */
  restartGraceMs: number;
  /** Retries, backoff and jitter of failed attempts (core/retry.ts). */
  retry: RetryPolicy;
  /** A worker whose tasks fail this many times in a row for infrastructure reasons is quarantined... */
  quarantineAfterFailures: number;
  /** ...for this long; then it gets one trial task at a time until one succeeds. */
  quarantineMs: number;
  /** Usage samples are buffered and persisted in batches at this interval. */
  usageFlushMs: number;
  workerTypes: WorkerType[];
  /**
   * What to do with a task no worker can ever fit: `wait` keeps it pending with a reason (a bigger
   * worker may join), `fail` fails it at once. `fleetTypes` names the types that may ever exist.
   */
  infeasible: 'wait' | 'fail';
  fleetTypes?: string[];
  /**
   * TEST-ONLY (default true): false fails a lost worker's tasks instead of requeueing them, so that
   * `drm e2e` can prove its reassignment check fails when reassignment is broken
   * (DRM_E2E_DISABLE_REASSIGNMENT=1). Never set it in production.
   */
  reassignLostTasks?: boolean;
  /** High availability: the leader's lease lasts this long without renewal... */
  leaseTtlMs: number;
  /** ...and is renewed (or, by a follower, tried) this often. */
  leaseRenewMs: number;
  limits: CoordinatorLimits;
}

export const DEFAULT_SETTINGS: CoordinatorSettings = {
  heartbeatMs: 1000,
  heartbeatTimeoutMs: 5000,
  reconnectGraceMs: 5000,
  restartGraceMs: 12_000,
  retry: DEFAULT_RETRY_POLICY,
  quarantineAfterFailures: 3,
  quarantineMs: 30_000,
  usageFlushMs: 2000,
  workerTypes: [...BUILTIN_WORKER_TYPES],
  infeasible: 'wait',
  leaseTtlMs: 5000,
  leaseRenewMs: 1000,
  limits: DEFAULT_LIMITS,
};

const Ms = z.number().int().min(1).max(24 * 3600 * 1000);

/** A settings file (`drm coordinator --config`): every key optional, unknown keys refused. */
export const SettingsFileSchema = z.strictObject({
  heartbeatMs: Ms.optional(),
  heartbeatTimeoutMs: Ms.optional(),
  reconnectGraceMs: Ms.optional(),
  restartGraceMs: Ms.optional(),
  retry: z.strictObject({ infraRetries: z.number().int().min(0).max(100), baseDelayMs: Ms, maxDelayMs: Ms }).partial().optional(),
  quarantineAfterFailures: z.number().int().min(1).max(1000).optional(),
  quarantineMs: Ms.optional(),
  usageFlushMs: Ms.optional(),
  workerTypes: z
    .array(z.strictObject({ name: z.string().min(1).max(100), resources: ResourcesSchema, labels: z.record(z.string().min(1).max(128), z.string().max(256)).optional() }))
    .min(1)
    .optional(),
  infeasible: z.enum(['wait', 'fail']).optional(),
  fleetTypes: z.array(z.string().min(1).max(100)).optional(),
  leaseTtlMs: Ms.optional(),
  leaseRenewMs: Ms.optional(),
  limits: z
    .strictObject({
      bodyBytes: z.number().int().min(1024).max(1024 * 1024 * 1024),
      frameBytes: z.number().int().min(1024).max(1024 * 1024 * 1024),
      tasksPerSubmission: z.number().int().min(1).max(100_000),
      connectionsPerAddress: z.number().int().min(1).max(1_000_000),
      exemptLoopback: z.boolean(),
    })
    .partial()
    .optional(),
});
export type SettingsFile = z.output<typeof SettingsFileSchema>;

/** Settings given in part: the nested retry policy and limits may be partial too. */
export type SettingsInput = Partial<Omit<CoordinatorSettings, 'retry' | 'limits'>> & { retry?: Partial<RetryPolicy>; limits?: Partial<CoordinatorLimits> };

/** Settings given in part (a file, a test) over the defaults; nested records merge key by key. */
export function resolveSettings(partial: SettingsInput = {}): CoordinatorSettings {
  const { retry, limits, ...rest } = partial;
  return { ...DEFAULT_SETTINGS, ...rest, retry: { ...DEFAULT_SETTINGS.retry, ...retry }, limits: { ...DEFAULT_SETTINGS.limits, ...limits } };
}

/** A validated settings file as settings (worker types' resources completed with zeros). */
export function settingsFromFile(file: SettingsFile): SettingsInput {
  const { workerTypes, ...rest } = file;
  return { ...rest, ...(workerTypes ? { workerTypes: workerTypes.map((t) => ({ ...t, resources: resources(t.resources) })) } : {}) };
}
