import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { fits, resources } from '../../src/core/resources.js';
import { BUILTIN_WORKER_TYPES } from '../../src/core/worker-types.js';
import { CHECK_NAMES, runChecks, type CheckInput } from '../../src/e2e/checks.js';
import { phaseWindows, planWaves, SCENARIOS, START_FLEET } from '../../src/e2e/plan.js';
import { KIND_RESOURCES, TASK_KINDS } from '../../src/e2e/tasks.js';
import type { AttemptRecord, ScalingDecisionRecord, TaskRecord, WorkerRecord } from '../../src/store/store.js';
import { drm } from '../helpers/cli.js';

// `drm e2e`: the checks are pure and each one fails when its condition is broken (fast tests on made-up records);
// then the real scenario runs twice: as is (every check passes) and with reassignment disabled by the test-only
// setting (the reassignment check fails).

// ------------------------------------------------------------------------------------------ made-up records

const typeRes = (name: string) => BUILTIN_WORKER_TYPES.find((t) => t.name === name)!.resources;

function worker(id: string, type: string, registeredAt = 0): WorkerRecord {
  return { id, type, provider: 'local', resources: typeRes(type), labels: {}, state: 'active', registeredAt, lastSeenAt: registeredAt };
}

function task(id: string, kind: (typeof TASK_KINDS)[number], patch: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id, runId: 'run_1', seq: Number(id.replace(/\D/g, '')), name: `n-${id}`, kind: 'benchmark', command: ['node'], env: {}, cwd: null,
    declaredResources: KIND_RESOURCES[kind], resources: KIND_RESOURCES[kind], labels: { 'e2e.kind': kind }, priority: 0, timeoutSec: 60, maxRetries: 0,
    dependsOn: [], suite: null, modelType: null, modelName: null, batchSize: null, state: 'succeeded', attempts: 1, currentAttemptId: `a-${id}`,
    workerId: null, workerType: null, createdAt: 0, startedAt: 0, finishedAt: 1, durationMs: 1, exitCode: 0, peakMemoryMb: 1, cpuSeconds: 1,
    reason: null, stdoutTail: null, stderrTail: null, ...patch,
  };
}

function attempt(id: string, taskId: string, workerId: string, state: AttemptRecord['state'], assignedAt: number, patch: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    id, taskId, workerId, workerType: workerId.split('-')[1] ?? '', state, gpuIndices: [], assignedAt, startedAt: assignedAt, finishedAt: assignedAt + 1,
    pid: 1, exitCode: state === 'succeeded' ? 0 : null, durationMs: 1, peakMemoryMb: 1, cpuSeconds: 1, reason: null, stdoutTail: null, stderrTail: null, ...patch,
  };
}

function decision(action: ScalingDecisionRecord['action'], at: number, workerType: string, workerIds: string[]): ScalingDecisionRecord {
  return { id: `d-${at}`, at, action, workerType, count: workerIds.length, workerIds, reason: 'test', utilization: { cpu: 0, memory: 0, gpu: 0, overall: 0 }, pendingDemand: resources(), executed: true };
}

/** A scenario where everything went right: w-cpu is killed at 15 holding t1, which then succeeds on w-hm. */
function passing(): CheckInput {
  const tasks = [
    task('t1', 'small_cpu', { attempts: 2, currentAttemptId: 'a-t1b' }),
    task('t2', 'memory-heavy'),
    task('t3', 'gpu'),
    task('t4', 'medium_cpu'),
    task('t5', 'small_cpu'),
  ];
  const attempts = [
    attempt('a-t1', 't1', 'w-cpu', 'lost', 14, { finishedAt: 15.2 }),
    attempt('a-t1b', 't1', 'w-hm', 'succeeded', 15.5),
    attempt('a-t2', 't2', 'w-hm', 'succeeded', 5),
    attempt('a-t3', 't3', 'w-gpu', 'succeeded', 6, { gpuIndices: [0] }),
    attempt('a-t4', 't4', 'w-cpu2', 'succeeded', 18),
    attempt('a-t5', 't5', 'w-cpu3', 'succeeded', 23),
  ];
  return {
    tasks,
    submitted: tasks.length,
    attempts,
    workers: [worker('w-cpu', 'cpu'), worker('w-hm', 'high-memory'), worker('w-gpu', 'gpu'), worker('w-cpu2', 'cpu', 16), worker('w-cpu3', 'cpu', 22)],
    decisions: [decision('scale_up', 21, 'cpu', ['w-cpu3']), decision('scale_down', 33, 'cpu', ['w-cpu3'])],
    workerEvents: [{ workerId: 'w-cpu3', type: 'cpu', state: 'terminated', at: 34 }],
    phases: [
      { name: 'startup', startMs: 0, endMs: 10 },
      { name: 'steady', startMs: 10, endMs: 20 },
      { name: 'spike', startMs: 20, endMs: 30 },
      { name: 'cool-down', startMs: 30, endMs: 40 },
    ],
    kill: { workerId: 'w-cpu', type: 'cpu', atMs: 15, attemptIds: ['a-t1'], replacementId: 'w-cpu2' },
    completions: new Map(attempts.filter((a) => a.state === 'succeeded').map((a) => [a.taskId, [a.id]])),
  };
}

function failedChecks(input: CheckInput): string[] {
  return runChecks(input).filter((c) => !c.passed).map((c) => c.name);
}

describe('e2e checks', () => {
  it('all pass on a scenario that went right, in order, each with a detail', () => {
    const checks = runChecks(passing());
    expect(checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
    for (const c of checks) expect(c.passed, `${c.name}: ${c.detail}`).toBe(true);
    expect(checks.every((c) => c.detail.length > 0)).toBe(true);
  });

  it('placement_fits fails for a task on a type that cannot hold it, or given the wrong GPUs', () => {
    const onCpu = passing();
    onCpu.attempts = onCpu.attempts.map((a) => (a.id === 'a-t2' ? { ...a, workerId: 'w-cpu' } : a));
    expect(failedChecks(onCpu)).toEqual(['placement_fits']);
    const noGpu = passing();
    noGpu.attempts = noGpu.attempts.map((a) => (a.id === 'a-t3' ? { ...a, gpuIndices: [] } : a));
    expect(failedChecks(noGpu)).toEqual(['placement_fits']);
  });

  it('scaled_up_in_spike fails without a scale_up in the spike, or when its workers never joined', () => {
    const early = passing();
    early.decisions = early.decisions.map((d) => (d.action === 'scale_up' ? { ...d, at: 12 } : d));
    expect(failedChecks(early)).toEqual(['scaled_up_in_spike']);
    const neverJoined = passing();
    neverJoined.decisions = neverJoined.decisions.map((d) => (d.action === 'scale_up' ? { ...d, workerIds: ['w-ghost'] } : d));
    expect(failedChecks(neverJoined)).toEqual(['scaled_up_in_spike']);
  });

  it('scaled_down_in_cool_down fails without a scale_down in the cool-down, or when the drained workers were not stopped', () => {
    const inSpike = passing();
    inSpike.decisions = inSpike.decisions.map((d) => (d.action === 'scale_down' ? { ...d, at: 28 } : d));
    expect(failedChecks(inSpike)).toEqual(['scaled_down_in_cool_down']);
    const notStopped = passing();
    notStopped.workerEvents = [];
    expect(failedChecks(notStopped)).toEqual(['scaled_down_in_cool_down']);
  });

  it('killed_worker_tasks_reassigned and nothing_lost fail when the lost task was not reassigned', () => {
    const input = passing();
    input.tasks = input.tasks.map((t) => (t.id === 't1' ? { ...t, state: 'failed', attempts: 1, currentAttemptId: 'a-t1', reason: 'worker lost' } : t));
    input.attempts = input.attempts.filter((a) => a.id !== 'a-t1b');
    input.completions = new Map([...input.completions].filter(([id]) => id !== 't1'));
    expect(failedChecks(input)).toEqual(['killed_worker_tasks_reassigned', 'nothing_lost']);
    const attemptNotLost = passing();
    attemptNotLost.attempts = attemptNotLost.attempts.map((a) => (a.id === 'a-t1' ? { ...a, state: 'failed' } : a));
    expect(failedChecks(attemptNotLost)).toEqual(['killed_worker_tasks_reassigned']);
    expect(failedChecks({ ...passing(), kill: null })).toEqual(['killed_worker_tasks_reassigned', 'worker_rejoined']);
  });

  it('nothing_lost fails for a failed or a missing task', () => {
    const failed = passing();
    failed.tasks = failed.tasks.map((t) => (t.id === 't5' ? { ...t, state: 'failed' } : t));
    failed.attempts = failed.attempts.map((a) => (a.id === 'a-t5' ? { ...a, state: 'failed' } : a));
    failed.completions = new Map([...failed.completions].filter(([id]) => id !== 't5'));
    expect(failedChecks(failed)).toEqual(['nothing_lost']);
    expect(failedChecks({ ...passing(), submitted: 6 })).toEqual(['nothing_lost']);
  });

  it('nothing_completed_twice fails for two accepted completions or a completion nobody accepted, and allows a lost attempt that finished', () => {
    const twice = passing();
    twice.attempts = [...twice.attempts, attempt('a-t4b', 't4', 'w-hm', 'succeeded', 19)];
    expect(failedChecks(twice)).toEqual(['nothing_completed_twice']);
    const canceledRan = passing();
    canceledRan.attempts = [...canceledRan.attempts, attempt('a-t5x', 't5', 'w-hm', 'canceled', 22)];
    canceledRan.completions = new Map([...canceledRan.completions, ['t5', ['a-t5', 'a-t5x']]]);
    expect(failedChecks(canceledRan)).toEqual(['nothing_completed_twice']);
    const lostButDone = passing();
    lostButDone.completions = new Map([...lostButDone.completions, ['t1', ['a-t1', 'a-t1b']]]);
    const check = runChecks(lostButDone).find((c) => c.name === 'nothing_completed_twice')!;
    expect(check.passed).toBe(true);
    expect(check.detail).toMatch(/1 from attempts whose worker was lost/);
  });

  it('worker_rejoined fails when the replacement never joined or ran nothing', () => {
    const noRun = passing();
    noRun.attempts = noRun.attempts.filter((a) => a.workerId !== 'w-cpu2');
    noRun.tasks = noRun.tasks.filter((t) => t.id !== 't4');
    noRun.submitted = noRun.tasks.length;
    expect(failedChecks(noRun)).toEqual(['worker_rejoined']);
    const never = passing();
    never.kill = { ...never.kill!, replacementId: 'w-ghost' };
    expect(failedChecks(never)).toEqual(['worker_rejoined']);
  });
});

describe('e2e plan', () => {
  it('the quick scenario fits in 90 s, every kind runs from the start, and the spike asks for more than the starting fleet has', () => {
    const quick = SCENARIOS.quick;
    const windows = phaseWindows(quick);
    const loadMs = windows[2].endMs!;
    expect(loadMs + quick.coolDown.maxMs).toBeLessThan(80_000);
    const waves = planWaves(quick);
    expect(new Set(waves.filter((w) => w.phase === 'startup').flatMap((w) => w.kinds))).toEqual(new Set(TASK_KINDS));
    const burst = waves.find((w) => w.phase === 'spike')!;
    const burstCpu = burst.kinds.reduce((n, k) => n + KIND_RESOURCES[k].cpu, 0);
    const fleetCpu = START_FLEET.reduce((n, t) => n + typeRes(t).cpu, 0);
    expect(burstCpu).toBeGreaterThan(fleetCpu);
    // Each kind fits exactly the types the scenario claims.
    const fitting = (k: (typeof TASK_KINDS)[number]) => BUILTIN_WORKER_TYPES.filter((t) => fits(KIND_RESOURCES[k], t.resources)).map((t) => t.name);
    expect(fitting('memory-heavy')).toEqual(['high-memory']);
    expect(fitting('large_gpu')).toEqual(['gpu']);
    expect(fitting('gpu')).toEqual(['gpu']);
    expect(fitting('small_cpu')).toEqual(['cpu', 'high-memory', 'gpu']);
  });
});

// ------------------------------------------------------------------------------------------ the real scenario

const E2E_TIMEOUT_MS = 150_000;

interface ReportJson {
  run: { state: string };
  summary: { total: number; succeeded: number };
  tasks: Array<{ name: string; state: string; workerType: string | null }>;
  checks: Array<{ name: string; passed: boolean; detail: string }>;
  timeline?: { atMs: number[]; workers: { total: number[] } };
  e2e: { mode: string; reassignmentDisabled: boolean; wallMs: number; phases: Array<{ name: string }>; samples: Array<{ phase: string; workers: { total: number } }>; kill: { workerId: string; replacementId: string | null } | null };
}

describe('drm e2e --quick', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function runQuick(env: NodeJS.ProcessEnv = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'drm-e2e-'));
    dirs.push(dir);
    // A failed run's directory (reports, logs, database) is kept for a look.
    onTestFailed(() => {
      dirs.splice(dirs.indexOf(dir), 1);
      console.error(`drm e2e output kept in ${dir}`);
    });
    const out = join(dir, 'out');
    const started = Date.now();
    const result = await drm(['e2e', '--quick', '--output-dir', out], { env, timeoutMs: E2E_TIMEOUT_MS - 10_000 });
    const wallMs = Date.now() - started;
    const text = await readFile(join(out, 'report.json'), 'utf8').catch((err: Error) => {
      throw new Error(`no report.json (${err.message}); drm e2e exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    });
    const report = JSON.parse(text) as ReportJson;
    return { result, out, report, wallMs };
  }

  it(
    'passes every check in under 90 s and writes every report, the database and the logs',
    async () => {
      const { result, out, report, wallMs } = await runQuick();
      expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0);
      expect(wallMs).toBeLessThan(90_000);
      expect(report.checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
      for (const c of report.checks) expect(c.passed, `${c.name}: ${c.detail}`).toBe(true);
      // Each check was printed as it was decided, and a summary at the end.
      for (const c of report.checks) expect(result.stdout).toContain(`PASS ${c.name}`);
      expect(result.stdout).toMatch(/PASSED: 7\/7 checks passed/);

      for (const f of ['report.json', 'report.md', 'report.html', 'junit.xml', 'drm.duckdb', 'logs/coordinator.log', 'logs/e2e.log']) expect(existsSync(join(out, f)), f).toBe(true);
      const logs = await readdir(join(out, 'logs'));
      for (const type of START_FLEET) expect(logs.some((f) => f.startsWith(`${type}-`) && f.endsWith('.log')), `a ${type} worker log`).toBe(true);
      const junit = await readFile(join(out, 'junit.xml'), 'utf8');
      for (const name of CHECK_NAMES) expect(junit).toContain(`name="${name}"`);
      expect(junit).not.toContain('<failure');
      expect(await readFile(join(out, 'report.md'), 'utf8')).toContain('killed_worker_tasks_reassigned');
      expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('<html');

      // What it collected: all four phases, samples over time in each, a timeline for the charts, the kill.
      expect(report.e2e.mode).toBe('quick');
      expect(report.e2e.phases.map((p) => p.name)).toEqual(['startup', 'steady', 'spike', 'cool-down']);
      for (const phase of ['startup', 'steady', 'spike', 'cool-down']) expect(report.e2e.samples.filter((s) => s.phase === phase).length, phase).toBeGreaterThan(2);
      const peak = Math.max(...report.e2e.samples.map((s) => s.workers.total));
      expect(peak).toBeGreaterThan(START_FLEET.length);
      expect(report.timeline!.atMs.length).toBeGreaterThan(10);
      expect(report.e2e.kill?.replacementId).toBeTruthy();
      expect(report.summary.succeeded).toBe(report.summary.total);
      const types = (kind: string) => new Set(report.tasks.filter((t) => t.name.endsWith(kind)).map((t) => t.workerType));
      expect(types('memory-heavy')).toEqual(new Set(['high-memory']));
      expect(types('large_gpu')).toEqual(new Set(['gpu']));
    },
    E2E_TIMEOUT_MS,
  );

  it(
    'with reassignment disabled (test-only DRM_E2E_DISABLE_REASSIGNMENT=1) the reassignment check fails and it exits 1',
    async () => {
      const { result, report } = await runQuick({ DRM_E2E_DISABLE_REASSIGNMENT: '1' });
      expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(1);
      expect(report.e2e.reassignmentDisabled).toBe(true);
      const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
      expect(byName.killed_worker_tasks_reassigned.passed, byName.killed_worker_tasks_reassigned.detail).toBe(false);
      expect(byName.killed_worker_tasks_reassigned.detail, result.stdout).toMatch(/not reassigned/);
      expect(byName.nothing_lost.passed).toBe(false);
      // The rest of the scenario is unaffected.
      for (const name of ['placement_fits', 'scaled_up_in_spike', 'nothing_completed_twice']) expect(byName[name].passed, `${name}: ${byName[name].detail}`).toBe(true);
      expect(result.stdout).toMatch(/FAIL killed_worker_tasks_reassigned/);
      expect(result.stdout).toMatch(/FAILED: \d\/7 checks passed/);
    },
    E2E_TIMEOUT_MS,
  );
});
