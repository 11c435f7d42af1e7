import type { Store, TaskRecord, UsageSampleRecord } from '../store/store.js';
import { timeline, type Timeline, type TimelineAttempt, type TimelineOptions } from './timeline.js';
import { iso, taskView, type TaskView } from './views.js';

// report.json (DESIGN.md section 10), built from the store so `drm run` and `drm report` agree.

export interface ReportCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface Report {
  run: { id: string; name: string; state: string; startedAt: string | null; finishedAt: string | null };
  summary: { total: number; succeeded: number; failed: number; timedOut: number; canceled: number };
  tasks: TaskView[];
  workers: Array<{ id: string; type: string; provider: string; resources: unknown; tasksRun: number }>;
  scaling: unknown[];
  checks?: ReportCheck[];
  /** The run over time (utilization, queue depth, workers, scaling markers) for report.html's charts; times in epoch ms. */
  timeline?: Timeline;
}

/** The report plus what only the text formats need (output tails). */
export interface ReportData {
  report: Report;
  tails: Map<string, { stdoutTail: string | null; stderrTail: string | null }>;
}

export interface BuildReportOptions {
  /** Start of the window of the timeline and the scaling section (default: the run's submission). */
  since?: number;
  /** End of that window (default: the run's end, or `now` while it runs). */
  until?: number;
  /** The clock for a run that has not ended (default Date.now()). */
  now?: number;
  timeline?: TimelineOptions;
}

export async function buildReport(store: Store, runId: string, checks?: ReportCheck[], options: BuildReportOptions = {}): Promise<ReportData> {
  const run = await store.getRun(runId);
  if (!run) throw new Error(`run ${runId} not found`);
  const tasks: TaskRecord[] = await store.listTasks({ runId });
  const tasksRun = new Map<string, number>();
  for (const t of tasks) if (t.workerId) tasksRun.set(t.workerId, (tasksRun.get(t.workerId) ?? 0) + 1);
  const allWorkers = await store.listWorkers();
  const workers = allWorkers
    .filter((w) => tasksRun.has(w.id))
    .map((w) => ({ id: w.id, type: w.type, provider: w.provider, resources: w.resources, tasksRun: tasksRun.get(w.id) ?? 0 }));
  const since = options.since ?? run.createdAt;
  const until = options.until ?? run.finishedAt ?? Number.MAX_SAFE_INTEGER;
  const decisions = (await store.listScalingDecisions(10_000)).filter((d) => d.at >= since && d.at <= until).reverse();
  const scaling = decisions.map((d) => ({ ...d, at: iso(d.at) }));
  const count = (s: string) => tasks.filter((t) => t.state === s).length;
  const report: Report = {
    run: { id: run.id, name: run.name, state: run.state, startedAt: iso(run.startedAt), finishedAt: iso(run.finishedAt) },
    summary: { total: tasks.length, succeeded: count('succeeded'), failed: count('failed'), timedOut: count('timed_out'), canceled: count('canceled') },
    tasks: tasks.map(taskView),
    workers,
    scaling,
  };
  if (checks) report.checks = checks;

  // The timeline: every attempt of the run's tasks, and the workers alive in the window with their samples.
  const end = options.until ?? run.finishedAt ?? options.now ?? Date.now();
  const attempts: TimelineAttempt[] = [];
  for (const t of tasks) {
    if (t.attempts === 0) continue;
    const single = singleAttempt(t);
    if (single) attempts.push(single);
    else attempts.push(...(await store.listAttempts(t.id)));
  }
  const inWindow = allWorkers.filter((w) => w.registeredAt <= end && !((w.state === 'lost' || w.state === 'terminated') && w.lastSeenAt < since));
  const usage: UsageSampleRecord[] = [];
  for (const w of inWindow) usage.push(...(await store.listUsageSamples(w.id, since)).filter((s) => s.at <= end));
  report.timeline = timeline({ startMs: since, endMs: end, tasks, attempts, workers: inWindow, usage, scaling: decisions }, options.timeline);

  return { report, tails: new Map(tasks.map((t) => [t.id, { stdoutTail: t.stdoutTail, stderrTail: t.stderrTail }])) };
}

/**
 * The one attempt of a task that finished on its first try, read off the task record: the store lists
 * attempts task by task (a few ms each), which for a run of thousands of tasks would add seconds to
 * every report. Such an attempt counts from when it started (its assignment a moment before is not on
 * the task); tasks retried, requeued or unfinished have their attempts read from the store.
 */
function singleAttempt(t: TaskRecord): TimelineAttempt | undefined {
  if (t.attempts !== 1 || t.workerId === null || t.startedAt === null || t.finishedAt === null) return undefined;
  return { taskId: t.id, workerId: t.workerId, assignedAt: t.startedAt, startedAt: t.startedAt, finishedAt: t.finishedAt };
}
