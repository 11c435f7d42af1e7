import { fits, formatResources, shortfall } from '../core/resources.js';
import type { ReportCheck } from '../reports/report.js';
import type { AttemptRecord, ScalingDecisionRecord, TaskRecord, WorkerRecord } from '../store/store.js';
import type { PhaseName } from './plan.js';

// The scenario's checks: pure functions of what the store recorded (tasks, attempts, workers, scaling decisions),
// what the runner saw on the event bus (worker state changes with their times), what it did (the kill) and what the
// tasks themselves left behind (completion markers). Each check can fail; each says why in `detail`.

export const CHECK_NAMES = [
  'placement_fits',
  'scaled_up_in_spike',
  'scaled_down_in_cool_down',
  'killed_worker_tasks_reassigned',
  'nothing_lost',
  'nothing_completed_twice',
  'worker_rejoined',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface PhaseSpan {
  name: PhaseName;
  /** Epoch ms; [startMs, endMs). */
  startMs: number;
  endMs: number;
}

export interface KillRecord {
  workerId: string;
  type: string;
  /** Epoch ms of the kill (the worker was frozen with SIGSTOP, then killed with SIGKILL). */
  atMs: number;
  /** The attempts the coordinator had on that worker at that moment. */
  attemptIds: string[];
  /** The worker started in its place (null when it could not be started). */
  replacementId: string | null;
}

export interface WorkerEvent {
  workerId: string;
  type: string;
  state: string;
  at: number;
}

export interface CheckInput {
  /** Every task the scenario submitted (all its runs). */
  tasks: readonly TaskRecord[];
  /** How many tasks the runner submitted (a task missing from the store is lost too). */
  submitted: number;
  attempts: readonly AttemptRecord[];
  workers: readonly WorkerRecord[];
  decisions: readonly ScalingDecisionRecord[];
  workerEvents: readonly WorkerEvent[];
  phases: readonly PhaseSpan[];
  kill: KillRecord | null;
  /** Attempt ids whose process ran to completion, per task id (from the tasks' markers). */
  completions: ReadonlyMap<string, readonly string[]>;
}

type Check = (input: CheckInput) => ReportCheck;

const LIST_LIMIT = 5;

function list(items: readonly string[]): string {
  return items.length <= LIST_LIMIT ? items.join('; ') : `${items.slice(0, LIST_LIMIT).join('; ')}; and ${items.length - LIST_LIMIT} more`;
}

function phase(input: CheckInput, name: PhaseName): PhaseSpan | undefined {
  return input.phases.find((p) => p.name === name);
}

const within = (at: number, p: PhaseSpan) => at >= p.startMs && at < p.endMs;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function byTask(attempts: readonly AttemptRecord[]): Map<string, AttemptRecord[]> {
  const out = new Map<string, AttemptRecord[]>();
  for (const a of attempts) {
    const l = out.get(a.taskId) ?? [];
    l.push(a);
    out.set(a.taskId, l);
  }
  for (const l of out.values()) l.sort((x, y) => x.assignedAt - y.assignedAt);
  return out;
}

/** Every attempt ran on a worker whose declared resources fit its task, with exactly the GPUs the task asked for. */
export const placementFits: Check = ({ tasks, attempts, workers }) => {
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const workerById = new Map(workers.map((w) => [w.id, w]));
  const bad: string[] = [];
  const counts = new Map<string, number>();
  let checked = 0;
  for (const a of attempts) {
    const t = taskById.get(a.taskId);
    if (!t) continue;
    const w = workerById.get(a.workerId);
    if (!w) {
      bad.push(`${t.name}: worker ${a.workerId} unknown`);
      continue;
    }
    checked++;
    if (!fits(t.resources, w.resources)) bad.push(`${t.name} (${formatResources(t.resources)}) on ${w.type} ${w.id}: short of ${shortfall(t.resources, w.resources).join(', ')}`);
    const wantGpus = Math.ceil(t.resources.gpus);
    if (a.gpuIndices.length !== wantGpus) bad.push(`${t.name} got ${a.gpuIndices.length} GPU(s) [${a.gpuIndices.join(',')}], asked for ${wantGpus}`);
    const kind = t.labels['e2e.kind'] ?? t.name;
    const key = `${kind}->${w.type}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (checked === 0) return { name: 'placement_fits', passed: false, detail: 'no attempt was placed' };
  const where = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} x${n}`).join(', ');
  if (bad.length > 0) return { name: 'placement_fits', passed: false, detail: `${bad.length} of ${checked} attempts did not fit: ${list(bad)}` };
  return { name: 'placement_fits', passed: true, detail: `${checked} attempts, each on a worker type that fits it (${where})` };
};

/** The autoscaler decided a scale-up during the spike, started workers for it, and they joined. */
export const scaledUpInSpike: Check = (input) => {
  const { decisions, workers } = input;
  const spike = phase(input, 'spike');
  if (!spike) return { name: 'scaled_up_in_spike', passed: false, detail: 'the spike phase did not run' };
  const ups = decisions.filter((d) => d.action === 'scale_up' && within(d.at, spike));
  if (ups.length === 0) return { name: 'scaled_up_in_spike', passed: false, detail: 'no scale_up decision during the spike' };
  const started = ups.flatMap((d) => d.workerIds);
  const registered = new Set(workers.map((w) => w.id));
  const joined = started.filter((id) => registered.has(id));
  const what = ups.map((d) => `+${d.count} ${d.workerType} at ${seconds(d.at - spike.startMs)}`).join(', ');
  if (joined.length === 0) return { name: 'scaled_up_in_spike', passed: false, detail: `${what}, but ${started.length === 0 ? 'no worker was started' : `none of the ${started.length} started workers joined`}` };
  return { name: 'scaled_up_in_spike', passed: true, detail: `${what} into the spike; ${joined.length} of ${started.length} new workers joined (${ups[0].reason})` };
};

/** The autoscaler drained idle workers during the cool-down and they were stopped before it ended. */
export const scaledDownInCoolDown: Check = (input) => {
  const cool = phase(input, 'cool-down');
  if (!cool) return { name: 'scaled_down_in_cool_down', passed: false, detail: 'the cool-down phase did not run' };
  const downs = input.decisions.filter((d) => d.action === 'scale_down' && within(d.at, cool));
  if (downs.length === 0) return { name: 'scaled_down_in_cool_down', passed: false, detail: 'no scale_down decision during the cool-down' };
  const drained = new Set(downs.flatMap((d) => d.workerIds));
  const stopped = [...new Set(input.workerEvents.filter((e) => e.state === 'terminated' && drained.has(e.workerId) && e.at >= cool.startMs && e.at <= cool.endMs).map((e) => e.workerId))];
  const what = downs.map((d) => `-${d.count} ${d.workerType} at ${seconds(d.at - cool.startMs)}`).join(', ');
  if (stopped.length === 0) return { name: 'scaled_down_in_cool_down', passed: false, detail: `${what}, but none of the ${drained.size} drained workers was stopped before the cool-down ended` };
  return { name: 'scaled_down_in_cool_down', passed: true, detail: `${what} into the cool-down; ${stopped.length} of ${drained.size} drained workers stopped` };
};

/**
 * The attempts the killed worker held when it was killed are `lost`, and each of their tasks then succeeded on
 * another worker. (An attempt whose process had already completed and whose result was on its way when the worker
 * froze may be accepted instead: it is left out, as long as at least one attempt was lost.)
 */
export const killedWorkerTasksReassigned: Check = ({ kill, attempts, tasks, completions }) => {
  const name = 'killed_worker_tasks_reassigned';
  if (!kill) return { name, passed: false, detail: 'no worker was killed (none was running a task when the scenario looked for one)' };
  const byId = new Map(attempts.map((a) => [a.id, a]));
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const attemptsOf = byTask(attempts);
  const bad: string[] = [];
  const moved: string[] = [];
  let finishedBefore = 0;
  for (const id of kill.attemptIds) {
    const a = byId.get(id);
    if (!a) {
      bad.push(`attempt ${id} is not in the store`);
      continue;
    }
    const t = taskById.get(a.taskId);
    const label = t?.name ?? a.taskId;
    if (a.state === 'succeeded' && (completions.get(a.taskId) ?? []).includes(a.id)) {
      finishedBefore++;
      continue;
    }
    if (a.state !== 'lost') {
      bad.push(`${label}: its attempt on the killed worker is ${a.state}, not lost`);
      continue;
    }
    const later = (attemptsOf.get(a.taskId) ?? []).filter((x) => x.assignedAt >= a.assignedAt && x.id !== a.id && x.workerId !== kill.workerId);
    const won = later.find((x) => x.state === 'succeeded');
    if (!won) {
      bad.push(`${label}: not reassigned to completion (${later.length === 0 ? `no later attempt; task ${t?.state ?? 'missing'}${t?.reason ? `: ${t.reason}` : ''}` : `later attempts ${later.map((x) => x.state).join(', ')}`})`);
      continue;
    }
    moved.push(`${label} -> ${won.workerId}`);
  }
  const held = kill.attemptIds.length;
  if (bad.length > 0) return { name, passed: false, detail: `${bad.length} of ${held} tasks of killed worker ${kill.workerId}: ${list(bad)}` };
  if (moved.length === 0) return { name, passed: false, detail: `killed worker ${kill.workerId} lost no attempt (${held} held, ${finishedBefore} finished just before the kill)` };
  const note = finishedBefore > 0 ? ` (${finishedBefore} finished just before the kill)` : '';
  return { name, passed: true, detail: `${moved.length} attempts of killed worker ${kill.workerId} lost and reassigned to completion${note}: ${list(moved)}` };
};

/** Every submitted task is in the store and succeeded. */
export const nothingLost: Check = ({ tasks, submitted }) => {
  const name = 'nothing_lost';
  const failed = tasks.filter((t) => t.state !== 'succeeded');
  const missing = submitted - tasks.length;
  if (missing > 0 || failed.length > 0) {
    const parts = failed.map((t) => `${t.name} ${t.state}${t.reason ? `: ${t.reason}` : ''}`);
    return { name, passed: false, detail: `${tasks.length - failed.length} of ${submitted} tasks succeeded${missing > 0 ? `, ${missing} missing from the store` : ''}; ${list(parts)}` };
  }
  return { name, passed: true, detail: `all ${submitted} tasks succeeded` };
};

/**
 * No task has two succeeded attempts, and every process that ran to completion is its task's accepted attempt, or an
 * attempt that was lost with its worker before its result could be reported (then running the task again is the
 * at-least-once delivery the design promises; it is counted in the detail). Any other completion (a canceled, refused
 * or failed attempt whose process still finished, or two completions not explained by a loss) fails the check.
 */
export const nothingCompletedTwice: Check = ({ tasks, attempts, completions }) => {
  const name = 'nothing_completed_twice';
  const attemptsOf = byTask(attempts);
  const bad: string[] = [];
  let accepted = 0;
  let unreported = 0;
  for (const t of tasks) {
    const mine = attemptsOf.get(t.id) ?? [];
    const wins = mine.filter((a) => a.state === 'succeeded');
    if (wins.length > 1) bad.push(`${t.name}: ${wins.length} succeeded attempts`);
    if (wins.length === 1 && t.currentAttemptId !== wins[0].id) bad.push(`${t.name}: succeeded attempt ${wins[0].id} is not its current attempt ${t.currentAttemptId}`);
    for (const id of completions.get(t.id) ?? []) {
      const a = mine.find((x) => x.id === id);
      if (a?.state === 'succeeded') accepted++;
      else if (a?.state === 'lost') unreported++;
      else bad.push(`${t.name}: attempt ${id} (${a?.state ?? 'unknown'}) ran to completion but was not accepted`);
    }
  }
  if (bad.length > 0) return { name, passed: false, detail: list(bad) };
  const lostNote = unreported > 0 ? `, ${unreported} from attempts whose worker was lost before reporting them (run again: at least once)` : '';
  return { name, passed: true, detail: `${tasks.length} tasks, none with two succeeded attempts; ${accepted + unreported} completions: ${accepted} accepted${lostNote}` };
};

/** The worker started in place of the killed one joined and ran a task to success. */
export const workerRejoined: Check = ({ kill, workers, attempts }) => {
  const name = 'worker_rejoined';
  if (!kill) return { name, passed: false, detail: 'no worker was killed' };
  if (!kill.replacementId) return { name, passed: false, detail: `no replacement was started for ${kill.workerId}` };
  const w = workers.find((x) => x.id === kill.replacementId);
  if (!w) return { name, passed: false, detail: `replacement ${kill.replacementId} never joined` };
  if (w.type !== kill.type) return { name, passed: false, detail: `replacement ${w.id} joined as ${w.type}, not ${kill.type}` };
  const ran = attempts.filter((a) => a.workerId === w.id && a.state === 'succeeded');
  if (ran.length === 0) return { name, passed: false, detail: `replacement ${w.id} joined ${seconds(w.registeredAt - kill.atMs)} after the kill but ran no task to success` };
  return { name, passed: true, detail: `replacement ${w.id} (${w.type}) joined ${seconds(w.registeredAt - kill.atMs)} after the kill and ran ${ran.length} task(s)` };
};

const CHECKS: Record<CheckName, Check> = {
  placement_fits: placementFits,
  scaled_up_in_spike: scaledUpInSpike,
  scaled_down_in_cool_down: scaledDownInCoolDown,
  killed_worker_tasks_reassigned: killedWorkerTasksReassigned,
  nothing_lost: nothingLost,
  nothing_completed_twice: nothingCompletedTwice,
  worker_rejoined: workerRejoined,
};

/** Runs every check in order; `onDecided` hears each as soon as it is decided. */
export function runChecks(input: CheckInput, onDecided: (check: ReportCheck) => void = () => {}): ReportCheck[] {
  return CHECK_NAMES.map((n) => {
    let check: ReportCheck;
    try {
      check = CHECKS[n](input);
    } catch (err) {
      check = { name: n, passed: false, detail: `the check itself failed: ${(err as Error).message}` };
    }
    onDecided(check);
    return check;
  });
}
