import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry.js';
import { BUILTIN_WORKER_TYPES, type WorkerType } from '../core/worker-types.js';

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
};
