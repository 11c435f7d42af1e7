import type { AttemptRecord, RunRecord, TaskRecord } from '../store/store.js';
import type { Resources } from '../core/resources.js';
import { classify, type TaskClass } from '../core/classify.js';

// The public shapes of tasks and runs (report.json, DESIGN.md section 10; the API returns the same).

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface TaskView {
  id: string;
  runId: string;
  name: string;
  kind: string;
  state: string;
  attempts: number;
  workerId: string | null;
  workerType: string | null;
  resources: Resources;
  resourcesDeclared: boolean;
  /** gpu-bound, memory-bound, cpu-bound or default, from what it reserves. */
  taskClass: TaskClass;
  priority: number;
  dependsOn: string[];
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  exitCode: number | null;
  usage: { peakMemoryMb: number | null; cpuSeconds: number | null };
  reason?: string;
}

export function taskView(t: TaskRecord): TaskView {
  const view: TaskView = {
    id: t.id,
    runId: t.runId,
    name: t.name,
    kind: t.kind,
    state: t.state,
    attempts: t.attempts,
    workerId: t.workerId,
    workerType: t.workerType,
    resources: t.resources,
    resourcesDeclared: t.declaredResources !== null,
    taskClass: classify(t.resources),
    priority: t.priority,
    dependsOn: t.dependsOn,
    createdAt: iso(t.createdAt),
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
    durationMs: t.durationMs,
    exitCode: t.exitCode,
    usage: { peakMemoryMb: t.peakMemoryMb, cpuSeconds: t.cpuSeconds },
  };
  if (t.reason) view.reason = t.reason;
  return view;
}

export function attemptView(a: AttemptRecord) {
  return {
    attemptId: a.id,
    workerId: a.workerId,
    workerType: a.workerType,
    state: a.state,
    startedAt: iso(a.startedAt ?? a.assignedAt),
    finishedAt: iso(a.finishedAt),
    exitCode: a.exitCode,
    reason: a.reason,
  };
}

export interface RunSummary {
  total: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  canceled: number;
  pending: number;
  running: number;
}

export function summarize(tasks: readonly Pick<TaskRecord, 'state'>[]): RunSummary {
  const s: RunSummary = { total: tasks.length, succeeded: 0, failed: 0, timedOut: 0, canceled: 0, pending: 0, running: 0 };
  for (const t of tasks) {
    switch (t.state) {
      case 'succeeded': s.succeeded++; break;
      case 'failed': s.failed++; break;
      case 'timed_out': s.timedOut++; break;
      case 'canceled': s.canceled++; break;
      case 'pending': s.pending++; break;
      // assigned counts as running: the work has left the queue.
      default: s.running++;
    }
  }
  return s;
}

export function runView(run: RunRecord, tasks: readonly Pick<TaskRecord, 'state'>[]) {
  return {
    id: run.id,
    name: run.name,
    state: run.state,
    summary: summarize(tasks),
    createdAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  };
}
