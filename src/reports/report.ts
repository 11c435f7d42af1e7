import type { Store, TaskRecord } from '../store/store.js';
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
}

/** The report plus what only the text formats need (output tails). */
export interface ReportData {
  report: Report;
  tails: Map<string, { stdoutTail: string | null; stderrTail: string | null }>;
}

export async function buildReport(store: Store, runId: string, checks?: ReportCheck[]): Promise<ReportData> {
  const run = await store.getRun(runId);
  if (!run) throw new Error(`run ${runId} not found`);
  const tasks: TaskRecord[] = await store.listTasks({ runId });
  const tasksRun = new Map<string, number>();
  for (const t of tasks) if (t.workerId) tasksRun.set(t.workerId, (tasksRun.get(t.workerId) ?? 0) + 1);
  const workers = (await store.listWorkers())
    .filter((w) => tasksRun.has(w.id))
    .map((w) => ({ id: w.id, type: w.type, provider: w.provider, resources: w.resources, tasksRun: tasksRun.get(w.id) ?? 0 }));
  const since = run.createdAt;
  const until = run.finishedAt ?? Number.MAX_SAFE_INTEGER;
  const scaling = (await store.listScalingDecisions(10_000))
    .filter((d) => d.at >= since && d.at <= until)
    .reverse()
    .map((d) => ({ ...d, at: iso(d.at) }));
  const count = (s: string) => tasks.filter((t) => t.state === s).length;
  const report: Report = {
    run: { id: run.id, name: run.name, state: run.state, startedAt: iso(run.startedAt), finishedAt: iso(run.finishedAt) },
    summary: { total: tasks.length, succeeded: count('succeeded'), failed: count('failed'), timedOut: count('timed_out'), canceled: count('canceled') },
    tasks: tasks.map(taskView),
    workers,
    scaling,
  };
  if (checks) report.checks = checks;
  return { report, tails: new Map(tasks.map((t) => [t.id, { stdoutTail: t.stdoutTail, stderrTail: t.stderrTail }])) };
}
