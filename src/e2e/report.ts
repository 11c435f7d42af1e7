import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toJunit } from '../reports/junit.js';
import type { Report, ReportCheck, ReportData } from '../reports/report.js';
import { timeline } from '../reports/timeline.js';
import { iso, taskView } from '../reports/views.js';
import { REPORT_FORMATS, writeReports } from '../reports/write.js';
import type { AttemptRecord, ScalingDecisionRecord, TaskRecord, UsageSampleRecord, WorkerRecord } from '../store/store.js';
import type { KillRecord } from './checks.js';
import type { PhaseName, ScenarioMode } from './plan.js';
import type { E2eEvent, E2eSample } from './recorder.js';

// The scenario's reports. It submits many runs (one per wave), so report.json covers all of them: one synthetic `run`
// (the scenario), every task, every worker that took part, the scaling decisions and the timeline (src/reports/
// timeline.ts, what report.html charts) over the scenario's window, the checks, and an `e2e` section with the phases,
// the kill and what was sampled while it ran. junit.xml holds the checks as one testsuite and the tasks as another.

export interface E2eSection {
  mode: ScenarioMode;
  /** DRM_E2E_DISABLE_REASSIGNMENT=1 (test-only): a lost worker's tasks were failed instead of requeued. */
  reassignmentDisabled: boolean;
  wallMs: number;
  runIds: string[];
  phases: Array<{ name: PhaseName; startedAt: string; endedAt: string; startMs: number; endMs: number; tasksSubmitted: number }>;
  kill: (KillRecord & { pid: number | null; killedAt: string; taskProcesses: number; tasks: string[] }) | null;
  fleet: { start: string[]; maxWorkers: number; typeMax: Record<string, number> };
  samples: E2eSample[];
  events: E2eEvent[];
}

export type E2eReport = Report & { e2e: E2eSection };

export interface ScenarioRecords {
  tasks: TaskRecord[];
  attempts: AttemptRecord[];
  workers: WorkerRecord[];
  decisions: ScalingDecisionRecord[];
  usage: UsageSampleRecord[];
}

export interface E2eReportInput {
  id: string;
  name: string;
  startMs: number;
  endMs: number;
  records: ScenarioRecords;
  checks: ReportCheck[];
  e2e: E2eSection;
}

export function buildE2eReport(input: E2eReportInput): ReportData & { report: E2eReport } {
  const { tasks, attempts, workers, decisions, usage } = input.records;
  const count = (s: string) => tasks.filter((t) => t.state === s).length;
  const attemptsOn = new Map<string, number>();
  for (const a of attempts) attemptsOn.set(a.workerId, (attemptsOn.get(a.workerId) ?? 0) + 1);
  const taking = workers.filter((w) => w.registeredAt <= input.endMs && !((w.state === 'lost' || w.state === 'terminated') && w.lastSeenAt < input.startMs));
  const report: E2eReport = {
    run: {
      id: input.id,
      name: input.name,
      state: tasks.length > 0 && tasks.every((t) => t.state === 'succeeded') ? 'succeeded' : 'failed',
      startedAt: iso(input.startMs),
      finishedAt: iso(input.endMs),
    },
    summary: { total: tasks.length, succeeded: count('succeeded'), failed: count('failed'), timedOut: count('timed_out'), canceled: count('canceled') },
    tasks: tasks.map(taskView),
    // Every worker of the scenario (those that ran nothing too: a scaled-up worker that got no work is news); tasksRun
    // counts attempts, so the killed worker shows the work it lost.
    workers: taking.map((w) => ({ id: w.id, type: w.type, provider: w.provider, resources: w.resources, tasksRun: attemptsOn.get(w.id) ?? 0 })),
    scaling: decisions.map((d) => ({ ...d, at: iso(d.at) })),
    checks: input.checks,
    timeline: timeline({ startMs: input.startMs, endMs: input.endMs, tasks, attempts, workers: taking, usage, scaling: decisions }),
    e2e: input.e2e,
  };
  return { report, tails: new Map(tasks.map((t) => [t.id, { stdoutTail: t.stdoutTail, stderrTail: t.stderrTail }])) };
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xml = (text: string) => text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '').replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);

/** junit.xml: the checks as testcases of one testsuite, then the tasks' testsuite as `drm run` writes it. */
export function toE2eJunit(data: ReportData): string {
  const checks = data.report.checks ?? [];
  const failedChecks = checks.filter((c) => !c.passed).length;
  const s = data.report.summary;
  const taskSuite = toJunit(data).match(/<testsuite[\s\S]*<\/testsuite>/)?.[0] ?? '';
  const suiteName = `${data.report.run.name} checks`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="drm e2e" tests="${checks.length + s.total}" failures="${failedChecks + s.failed + s.timedOut}" skipped="${s.canceled}">`,
    `  <testsuite name="${xml(suiteName)}" tests="${checks.length}" failures="${failedChecks}" timestamp="${data.report.run.startedAt ?? ''}">`,
  ];
  for (const c of checks) {
    lines.push(`    <testcase classname="${xml(suiteName)}" name="${xml(c.name)}" time="0">`);
    if (!c.passed) lines.push(`      <failure message="${xml(c.detail)}" type="check">${xml(c.detail)}</failure>`);
    else lines.push(`      <system-out>${xml(c.detail)}</system-out>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>');
  if (taskSuite) lines.push(`  ${taskSuite}`);
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

/** Writes every report format into `dir` (junit.xml with the checks); returns the paths written. */
export async function writeE2eReports(data: ReportData, dir: string): Promise<string[]> {
  const written = await writeReports(data, dir, REPORT_FORMATS.filter((f) => f !== 'junit'));
  const junit = join(dir, 'junit.xml');
  await writeFile(junit, toE2eJunit(data));
  return [...written, junit];
}
