import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Coordinator } from '../coordinator/coordinator.js';
import { startCoordinatorServer } from '../coordinator/server.js';
import { scalingConfig, type ScalingWorkerType } from '../core/scaling.js';
import { BUILTIN_WORKER_TYPES } from '../core/worker-types.js';
import { createLogger } from '../logging.js';
import { LocalProvider } from '../providers/local.js';
import { CloudProviderManager } from '../providers/manager.js';
import type { ReportCheck } from '../reports/report.js';
import { SubmitBodySchema } from '../schema/task.js';
import { openStore } from '../store/open.js';
import type { AttemptRecord, Store, TaskRecord, UsageSampleRecord } from '../store/store.js';
import { readProcessTable } from '../worker/process-tree.js';
import { runChecks, type KillRecord, type PhaseSpan } from './checks.js';
import { killAtMs, phaseWindows, planWaves, SCENARIOS, START_FLEET, type PhaseName, type Wave } from './plan.js';
import { Recorder } from './recorder.js';
import { buildE2eReport, writeE2eReports, type E2eSection, type ScenarioRecords } from './report.js';
import { taskSpec, type TaskKind } from './tasks.js';

// `drm e2e` (DESIGN.md section 8): a real coordinator (embedded, DuckDB in the output directory, HTTP on a free
// loopback port) with autoscaling through the local provider, real `drm worker` processes of the types cpu,
// high-memory and gpu (declared resources), and the scenario of plan.ts played against it: waves of real tasks through
// startup, steady, spike and cool-down; mid-run one worker that is running a task is killed with SIGKILL (with its task
// processes, as a machine loss would take them) and a replacement of the same type is started. Then the checks
// (checks.ts) are decided on what the store recorded, and the reports are written. Exit 0 only if every check passed.

/** TEST-ONLY: set to 1, the coordinator fails a lost worker's tasks instead of reassigning them (the reassignment check must then fail). */
export const DISABLE_REASSIGNMENT_ENV = 'DRM_E2E_DISABLE_REASSIGNMENT';

export interface E2eOptions {
  quick: boolean;
  /** Default `e2e-drm-<timestamp>` in the working directory. */
  outputDir?: string;
  logLevel: string;
  /** Where progress lines go (default stdout). */
  out?: NodeJS.WritableStream;
}

/** Kill order of preference: a cpu worker first (its tasks fit elsewhere at once), the GPU worker last. */
const VICTIM_TYPES = ['cpu', 'high-memory', 'gpu'];
const POLL_MS = 100;
const COOL_DOWN_POLL_MS = 250;
const KILL_GRACE_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runE2e(opts: E2eOptions): Promise<number> {
  const spec = SCENARIOS[opts.quick ? 'quick' : 'full'];
  const began = Date.now();
  const outputDir = resolve(opts.outputDir ?? `e2e-drm-${new Date(began).toISOString().replace(/[:.]/g, '-')}`);
  const logDir = join(outputDir, 'logs');
  const markersDir = join(logDir, 'markers');
  const dbPath = join(outputDir, 'drm.duckdb');
  // The scenario's database is its own: a previous scenario's in the same directory would be resumed otherwise.
  await rm(markersDir, { recursive: true, force: true });
  await Promise.all([rm(dbPath, { force: true }), rm(`${dbPath}.wal`, { force: true })]);
  await mkdir(markersDir, { recursive: true });

  const out = opts.out ?? process.stdout;
  const e2eLog = createWriteStream(join(logDir, 'e2e.log'), { flags: 'w' });
  const print = (line: string) => {
    out.write(`drm e2e: ${line}\n`);
    e2eLog.write(`${line}\n`);
  };
  const reassignmentDisabled = process.env[DISABLE_REASSIGNMENT_ENV] === '1';

  const logger = createLogger({ level: opts.logLevel, file: join(logDir, 'coordinator.log'), name: 'coordinator' });
  const store = await openStore(dbPath);
  const provider = new LocalProvider({ logDir, logLevel: opts.logLevel, killGraceMs: KILL_GRACE_MS });
  const types = BUILTIN_WORKER_TYPES;
  // One of each type is the minimum: the starting fleet is what the cool-down returns to.
  const scalingTypes: ScalingWorkerType[] = types.map((t) => ({ ...t, min: 1, max: spec.typeMax[t.name] ?? 0 }));
  let manager: CloudProviderManager | null = null;
  const server = await startCoordinatorServer({
    store,
    logger,
    host: '127.0.0.1',
    port: 0,
    settings: { infeasible: 'fail', ...(reassignmentDisabled ? { reassignLostTasks: false } : {}) },
    scaling: (url, onChange) => {
      manager = new CloudProviderManager({ providers: [{ provider, types: types.map((type) => ({ type, maxInstances: spec.typeMax[type.name] ?? 0 })) }], coordinatorUrl: url, logger, onChange });
      return { manager, workerTypes: scalingTypes, config: scalingConfig({ ...spec.scaling, maxWorkers: spec.maxWorkers }), observeMs: 500 };
    },
  });
  const fleet = manager as CloudProviderManager | null;
  if (!fleet) throw new Error('the coordinator started without autoscaling');
  const coordinator = server.coordinator;
  print(`${spec.mode} scenario; coordinator ${server.url} (dashboard ${server.url}/), database ${dbPath}`);
  if (reassignmentDisabled) print(`${DISABLE_REASSIGNMENT_ENV}=1 (test-only): a lost worker's tasks are failed, not reassigned`);

  const recorder = new Recorder({ coordinator, provisioning: () => fleet.inFlight().reduce((n, f) => n + f.count, 0), sampleMs: spec.sampleMs, print });
  recorder.start();
  const runIds: string[] = [];
  const phaseSpans: PhaseSpan[] = [];
  const submittedIn = new Map<PhaseName, number>();
  // A holder: the kill is recorded from within a step below (closures defeat narrowing of a plain `let`).
  const killed: { record: (KillRecord & { pid: number | null; taskProcesses: number; tasks: string[] }) | null } = { record: null };
  let aborted: string | null = null;
  let startFleet: string[] = [];
  let scenarioStart = Date.now();
  let scenarioEnd = scenarioStart;

  try {
    // ---- setup: one worker of each type, joined before any work arrives (placement is observable from the start).
    // Provisioned in the same tick, before the autoscaler's first evaluation, so it counts them as in flight.
    const started = await Promise.all(START_FLEET.map((type) => fleet.provision(type, 1)));
    startFleet = started.flatMap((r) => r.started);
    const failed = started.flatMap((r) => r.failed.map((f) => `${f.workerId}: ${f.reason}`));
    if (failed.length > 0 || startFleet.length !== START_FLEET.length) throw new Error(`the starting fleet could not be started: ${failed.join('; ') || 'no provider quota'}`);
    recorder.note('worker', `starting fleet: ${startFleet.join(', ')}; autoscaling up to ${spec.maxWorkers} workers (${Object.entries(spec.typeMax).map(([t, n]) => `${t} <= ${n}`).join(', ')})`);
    await waitUntil(`the starting fleet to join (see ${logDir})`, spec.fleetJoinMs, () => startFleet.every((id) => coordinator.workerViews().some((w) => w.id === id && w.state === 'active')));

    // ---- the phases that submit work, with the kill in the steady phase.
    scenarioStart = Date.now();
    recorder.startMs = scenarioStart;
    const windows = phaseWindows(spec);
    const waves = planWaves(spec);
    type Action = { at: number; run: () => Promise<void> | void };
    const actions: Action[] = [];
    let killing: Promise<void> = Promise.resolve();
    for (const w of windows) {
      actions.push({
        at: w.startMs,
        run: () => {
          const last = phaseSpans[phaseSpans.length - 1];
          if (last) last.endMs = Date.now();
          phaseSpans.push({ name: w.name, startMs: Date.now(), endMs: Number.MAX_SAFE_INTEGER });
          recorder.phase = w.name;
          recorder.note('phase', `phase ${w.name}${w.endMs !== null ? ` (${((w.endMs - w.startMs) / 1000).toFixed(0)} s)` : ' (no new work)'}`);
        },
      });
    }
    for (const wave of waves) actions.push({ at: wave.atMs, run: () => submitWave(wave) });
    actions.push({
      at: killAtMs(spec),
      run: () => {
        killing = killOneWorker().catch((err) => recorder.note('kill', `the kill failed: ${(err as Error).message}`));
      },
    });
    // Stable: at equal times, phases open before their first wave.
    actions.sort((a, b) => a.at - b.at);
    for (const action of actions) {
      await sleep(scenarioStart + action.at - Date.now());
      await action.run();
    }

    // ---- cool-down: no new work; ends once every task finished and the fleet is back to its start (or at its limit).
    const coolStart = phaseSpans[phaseSpans.length - 1].startMs;
    for (;;) {
      const elapsed = Date.now() - coolStart;
      if (elapsed >= spec.coolDown.maxMs) {
        recorder.note('phase', `cool-down reached its limit of ${spec.coolDown.maxMs / 1000} s`);
        break;
      }
      if (elapsed >= spec.coolDown.minMs && allFinished(coordinator) && atBaseline(coordinator, fleet)) {
        recorder.note('phase', `every task finished and the fleet is back to ${START_FLEET.length} workers`);
        break;
      }
      await sleep(COOL_DOWN_POLL_MS);
    }
    await killing;
  } catch (err) {
    aborted = (err as Error).message;
    recorder.note('phase', `scenario aborted: ${aborted}`);
  }
  scenarioEnd = Date.now();
  if (phaseSpans.length > 0) phaseSpans[phaseSpans.length - 1].endMs = scenarioEnd;
  recorder.phase = phaseSpans[phaseSpans.length - 1]?.name ?? 'setup';
  recorder.stop();

  // ---- checks, on what the store recorded (before the fleet is stopped, which changes nothing they look at).
  await coordinator.idle();
  const records = await loadRecords(store, runIds, scenarioStart, scenarioEnd);
  const completions = await readCompletions(markersDir);
  print(`checks (${records.tasks.length} tasks, ${records.attempts.length} attempts, ${records.workers.length} workers, ${records.decisions.length} scaling decisions):`);
  const checks: ReportCheck[] = [];
  if (aborted) {
    const check = { name: 'scenario_completed', passed: false, detail: aborted };
    checks.push(check);
    printCheck(check);
  }
  checks.push(
    ...runChecks(
      { tasks: records.tasks, submitted: recorder.submitted, attempts: records.attempts, workers: records.workers, decisions: records.decisions, workerEvents: recorder.workerEvents, phases: phaseSpans, kill: killed.record, completions },
      printCheck,
    ),
  );

  // ---- teardown, then the reports (the coordinator stores its last usage samples when it stops).
  await server.scaling?.stop();
  await fleet.terminateAll('e2e finished');
  await provider.close();
  await server.close();
  records.usage = await loadUsage(store, records.workers.map((w) => w.id), scenarioStart, scenarioEnd);
  const e2e: E2eSection = {
    mode: spec.mode,
    reassignmentDisabled,
    wallMs: Date.now() - began,
    runIds,
    phases: phaseSpans.map((p) => ({ name: p.name, startMs: p.startMs, endMs: p.endMs, startedAt: new Date(p.startMs).toISOString(), endedAt: new Date(p.endMs).toISOString(), tasksSubmitted: submittedIn.get(p.name) ?? 0 })),
    kill: killed.record ? { ...killed.record, killedAt: new Date(killed.record.atMs).toISOString() } : null,
    fleet: { start: startFleet, maxWorkers: spec.maxWorkers, typeMax: { ...spec.typeMax } },
    samples: recorder.samples,
    events: recorder.events,
  };
  const data = buildE2eReport({ id: `e2e-${scenarioStart}`, name: `e2e (${spec.mode})`, startMs: scenarioStart, endMs: scenarioEnd, records, checks, e2e });
  let files: string[] = [];
  try {
    files = await writeE2eReports(data, outputDir);
  } finally {
    await store.close();
    logger.flush();
  }
  const passed = checks.filter((c) => c.passed).length;
  const ok = passed === checks.length;
  print(`reports: ${files.join(', ')}; logs: ${logDir}`);
  print(`${ok ? 'PASSED' : 'FAILED'}: ${passed}/${checks.length} checks passed; ${data.report.summary.succeeded}/${data.report.summary.total} tasks succeeded; ${((Date.now() - began) / 1000).toFixed(1)} s`);
  await new Promise<void>((r) => e2eLog.end(r));
  return ok ? 0 : 1;

  // ------------------------------------------------------------------------------------------ steps

  function printCheck(c: ReportCheck): void {
    print(`  ${c.passed ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  }

  async function submitWave(wave: Wave): Promise<void> {
    const tasks = wave.kinds.map((kind, i) => taskSpec(kind, `${wave.phase}.${String(wave.index).padStart(2, '0')}.${String(i).padStart(2, '0')}.${kind}`, spec.work[kind], { markersDir, timeoutSec: spec.taskTimeoutSec, phase: wave.phase }));
    const body = SubmitBodySchema.parse({ suite: `e2e-${wave.phase}`, tasks });
    const { runId, taskIds } = await coordinator.submit(body);
    runIds.push(runId);
    recorder.submitted += taskIds.length;
    submittedIn.set(wave.phase, (submittedIn.get(wave.phase) ?? 0) + taskIds.length);
    recorder.note('submit', `submitted ${describeKinds(wave.kinds)} (run ${runId})`);
  }

  /** Finds a worker running a task, freezes it, kills it and its task processes, and starts a replacement. */
  async function killOneWorker(): Promise<void> {
    const deadline = Date.now() + spec.killSearchMs;
    for (;;) {
      const victim = pickVictim(coordinator, provider);
      if (victim) {
        const pid = provider.pid(victim.id)!;
        // Frozen first: it can start nothing new while its task processes are found.
        process.kill(pid, 'SIGSTOP');
        const atMs = Date.now();
        // The attempts the coordinator has on it now (same tick: nothing can have been assigned since the freeze).
        const held = coordinator.workerViews().find((w) => w.id === victim.id)?.runningTasks ?? [];
        const attemptIds = held.map((id) => coordinator.liveTask(id)?.task.currentAttemptId).filter((id): id is string => !!id);
        let taskPids: number[] = [];
        try {
          const table = await readProcessTable();
          taskPids = [...table.values()].filter((p) => p.ppid === pid).map((p) => p.pid);
        } finally {
          process.kill(pid, 'SIGKILL');
        }
        // Task processes lead their own process groups; a machine loss would take them along.
        for (const taskPid of taskPids) killGroup(taskPid);
        const names = held.map((id) => coordinator.liveTask(id)?.task.name ?? id);
        recorder.note('kill', `SIGKILL worker ${victim.id} (${victim.type}, pid ${pid}) running ${names.length} task(s): ${names.join(', ')}; ${taskPids.length} task process(es) killed with it`, atMs);
        const replacement = await fleet!.provision(victim.type, 1);
        const replacementId = replacement.started[0] ?? null;
        killed.record = { workerId: victim.id, type: victim.type, atMs, attemptIds, replacementId, pid, taskProcesses: taskPids.length, tasks: names };
        recorder.note('kill', replacementId ? `restarting: replacement ${replacementId} (${victim.type}) started` : `no replacement could be started: ${replacement.failed.map((f) => f.reason).join('; ') || 'no quota'}`);
        return;
      }
      if (Date.now() > deadline) {
        recorder.note('kill', `no worker was running a task within ${spec.killSearchMs / 1000} s: nothing killed`);
        return;
      }
      await sleep(POLL_MS);
    }
  }
}

// ------------------------------------------------------------------------------------------ helpers

function pickVictim(coordinator: Coordinator, provider: LocalProvider): { id: string; type: string } | undefined {
  const candidates = coordinator.workerViews().filter((w) => w.state === 'active' && w.runningTasks.length > 0 && provider.pid(w.id) !== undefined);
  for (const type of VICTIM_TYPES) {
    // The busiest of the type: more tasks to reassign.
    const pick = candidates.filter((w) => w.type === type).sort((a, b) => b.runningTasks.length - a.runningTasks.length)[0];
    if (pick) return { id: pick.id, type: pick.type };
  }
  return undefined;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function allFinished(coordinator: Coordinator): boolean {
  const t = coordinator.clusterView().tasks;
  return (t.pending ?? 0) + (t.assigned ?? 0) + (t.running ?? 0) === 0;
}

/** Back to the starting fleet: one active worker of each type, none draining or being provisioned. */
function atBaseline(coordinator: Coordinator, manager: CloudProviderManager): boolean {
  const workers = coordinator.workerViews();
  if (manager.inFlight().length > 0 || workers.length !== START_FLEET.length) return false;
  return START_FLEET.every((type) => workers.some((w) => w.type === type && w.state === 'active'));
}

async function waitUntil(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function describeKinds(kinds: readonly TaskKind[]): string {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

async function loadRecords(store: Store, runIds: readonly string[], startMs: number, endMs: number): Promise<ScenarioRecords> {
  const tasks: TaskRecord[] = [];
  for (const runId of runIds) tasks.push(...(await store.listTasks({ runId })));
  tasks.sort((a, b) => a.seq - b.seq);
  const attempts: AttemptRecord[] = [];
  for (const t of tasks) if (t.attempts > 0) attempts.push(...(await store.listAttempts(t.id)));
  const workers = await store.listWorkers();
  const decisions = (await store.listScalingDecisions(10_000)).filter((d) => d.at >= startMs && d.at <= endMs).sort((a, b) => a.at - b.at);
  return { tasks, attempts, workers, decisions, usage: [] };
}

async function loadUsage(store: Store, workerIds: readonly string[], startMs: number, endMs: number): Promise<UsageSampleRecord[]> {
  const usage: UsageSampleRecord[] = [];
  for (const id of workerIds) usage.push(...(await store.listUsageSamples(id, startMs)).filter((s) => s.at <= endMs));
  return usage;
}

/** Attempt ids whose process ran to completion, per task id (`<taskId>.<attemptId>.done` markers). */
async function readCompletions(dir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const m = /^(.+)\.([^.]+)\.done$/.exec(f);
    if (!m) continue;
    out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}
