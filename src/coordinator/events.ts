import { EventEmitter } from 'node:events';
import type { TaskState, RunState, WorkerState } from '../schema/task.js';

// One typed bus for everything that happens in the coordinator; the event stream, progress display,
// metrics and tests all subscribe to it instead of polling.

/** Why the coordinator refused a client's input (drm_rejections_total{reason}). */
export const REJECTION_REASONS = [
  'unauthorized',
  'forbidden',
  'invalid_request',
  'body_too_large',
  'too_many_tasks',
  'too_many_connections',
  'frame_too_large',
  'invalid_message',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface DrmEvents {
  task: { taskId: string; runId: string; name: string; state: TaskState; workerId: string | null; attemptId: string | null; reason: string | null; at: number };
  worker: { workerId: string; type: string; state: WorkerState; at: number };
  run: { runId: string; state: RunState; at: number };
  /** A result that was not applied: stale (its attempt is no longer current) or not this worker's. */
  resultRefused: { workerId: string; attemptId: string; reason: string; at: number };
  /** One scheduling cycle: how long placement took and what it did. */
  placement: { durationMs: number; assigned: number; pending: number; at: number };
  /** A scaling decision, executed or not (workerType is null for a fleet-wide `maintain`). */
  scaling: { action: 'scale_up' | 'scale_down' | 'maintain'; workerType: string | null; count: number; reason: string; at: number };
  /** A request, upgrade or worker frame the coordinator refused (auth, limits, validation). */
  rejection: { reason: RejectionReason; at: number };
}
export type DrmEventName = keyof DrmEvents;

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // SSE clients each add a listener; the default limit of 10 would warn on a busy dashboard.
    this.emitter.setMaxListeners(0);
  }

  emit<K extends DrmEventName>(name: K, payload: DrmEvents[K]): void {
    this.emitter.emit(name, payload);
  }

  on<K extends DrmEventName>(name: K, listener: (payload: DrmEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
