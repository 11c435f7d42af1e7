import { classify } from '../../../src/core/classify.js';
import { resources } from '../../../src/core/resources.js';
import type { Report, ReportData } from '../../../src/reports/report.js';
import { timeline } from '../../../src/reports/timeline.js';
import type { TaskView } from '../../../src/reports/views.js';

// A small finished run as buildReport would return it: three tasks (one failed after a retry), two
// workers (a gpu worker added by a scale-up and removed again), usage samples and scaling decisions.

const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const at = (sec: number) => T0 + sec * 1000;
const iso = (sec: number) => new Date(at(sec)).toISOString();

function task(id: string, name: string, state: string, extra: Partial<TaskView> = {}): TaskView {
  const reserved = extra.resources ?? resources({ cpu: 1, memoryMb: 512 });
  return {
    id,
    runId: 'run-1',
    name,
    kind: 'test',
    state,
    attempts: 1,
    workerId: 'w-cpu-1',
    workerType: 'cpu',
    resources: reserved,
    resourcesDeclared: true,
    taskClass: classify(reserved),
    priority: 0,
    dependsOn: [],
    createdAt: iso(0),
    startedAt: iso(1),
    finishedAt: iso(4),
    durationMs: 3000,
    exitCode: 0,
    usage: { peakMemoryMb: 120.4, cpuSeconds: 2.5 },
    ...extra,
  };
}

export function sampleReportData(overrides: Partial<Report> = {}): ReportData {
  const cpu = { id: 'w-cpu-1', type: 'cpu', resources: resources({ cpu: 4, memoryMb: 16384 }), registeredAt: at(-1), lastSeenAt: at(-1), state: 'active' };
  const gpu = { id: 'w-gpu-1', type: 'gpu', resources: resources({ cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 }), registeredAt: at(6), lastSeenAt: at(16), state: 'terminated' };
  const decisions = [
    { at: at(5), action: 'scale_up', workerType: 'gpu', count: 1, reason: 'pending gpu demand', executed: true },
    { at: at(10), action: 'maintain', workerType: null, count: 0, reason: 'within thresholds', executed: false },
    { at: at(15), action: 'scale_down', workerType: 'gpu', count: 1, reason: 'idle for 5 s', executed: true },
  ];
  const beats = (workerId: string, from: number, to: number, cpuUse: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ workerId, at: at(from + i), cpu: cpuUse, memoryMb: 300, gpus: workerId === 'w-gpu-1' ? 1 : null }));
  const tl = timeline({
    startMs: at(0),
    endMs: at(20),
    tasks: [
      { id: 't1', createdAt: at(0), finishedAt: at(4), resources: resources({ cpu: 1, memoryMb: 512 }) },
      { id: 't2', createdAt: at(0), finishedAt: at(12), resources: resources({ cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 8000 }) },
      { id: 't3', createdAt: at(0), finishedAt: at(20), resources: resources({ cpu: 1, memoryMb: 512 }) },
    ],
    attempts: [
      { taskId: 't1', workerId: 'w-cpu-1', assignedAt: at(1), startedAt: at(1), finishedAt: at(4) },
      { taskId: 't2', workerId: 'w-gpu-1', assignedAt: at(7), startedAt: at(7), finishedAt: at(12) },
      { taskId: 't3', workerId: 'w-cpu-1', assignedAt: at(2), startedAt: at(2), finishedAt: at(8) },
      { taskId: 't3', workerId: 'w-cpu-1', assignedAt: at(9), startedAt: at(9), finishedAt: at(20) },
    ],
    workers: [cpu, gpu],
    usage: [...beats('w-cpu-1', 0, 20, 1.5), ...beats('w-gpu-1', 6, 16, 2)],
    scaling: decisions,
  });
  const report: Report = {
    run: { id: 'run-1', name: 'sample <suite> & "co"', state: 'failed', startedAt: iso(1), finishedAt: iso(20) },
    summary: { total: 3, succeeded: 2, failed: 1, timedOut: 0, canceled: 0 },
    tasks: [
      task('t1', 'unit-math', 'succeeded'),
      task('t2', 'llm-gpu', 'succeeded', { workerId: 'w-gpu-1', workerType: 'gpu', startedAt: iso(7), finishedAt: iso(12), durationMs: 5000 }),
      task('t3', 'flaky<script>alert(1)</script>', 'failed', { attempts: 2, startedAt: iso(9), finishedAt: iso(20), durationMs: 11000, exitCode: 1, reason: 'exited with code 1 <bad>' }),
    ],
    workers: [
      { id: 'w-cpu-1', type: 'cpu', provider: 'local', resources: cpu.resources, tasksRun: 2 },
      { id: 'w-gpu-1', type: 'gpu', provider: 'local', resources: gpu.resources, tasksRun: 1 },
    ],
    scaling: decisions.map((d) => ({ ...d, id: `d-${d.at}`, workerIds: [], utilization: { cpu: 0, memory: 0, gpu: 0, overall: 0 }, pendingDemand: resources(), at: new Date(d.at).toISOString() })),
    timeline: tl,
    ...overrides,
  };
  return { report, tails: new Map([['t3', { stdoutTail: 'out', stderrTail: 'boom' }]]) };
}

/**
 * A longer run shaped like `drm e2e --quick`: cpu, high-memory and gpu workers; startup, steady, spike
 * and cool-down phases; a scale-up in the spike, a scale-down after it; one worker killed and back.
 */
export function scenarioReportData(): ReportData {
  const types = {
    cpu: resources({ cpu: 4, memoryMb: 16384 }),
    'high-memory': resources({ cpu: 8, memoryMb: 65536 }),
    gpu: resources({ cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 }),
  };
  type Type = keyof typeof types;
  const workers = [
    { id: 'cpu-1', type: 'cpu' as Type, from: -1, to: null as number | null, down: [30, 38] as [number, number] | null },
    { id: 'mem-1', type: 'high-memory' as Type, from: -1, to: null, down: null },
    { id: 'gpu-1', type: 'gpu' as Type, from: -1, to: null, down: null },
    { id: 'cpu-2', type: 'cpu' as Type, from: 42, to: 75, down: null },
    { id: 'cpu-3', type: 'cpu' as Type, from: 43, to: 76, down: null },
  ];
  const usage: Array<{ workerId: string; at: number; cpu: number; memoryMb: number; gpus: number | null }> = [];
  for (const w of workers) {
    for (let t = Math.max(0, w.from); t <= (w.to ?? 90); t++) {
      if (w.down && t > w.down[0] && t < w.down[1]) continue;
      const load = t > 40 && t < 70 ? 0.8 : t > 10 && t < 40 ? 0.4 : 0.1;
      usage.push({ workerId: w.id, at: at(t), cpu: types[w.type].cpu * load * (0.8 + ((t * 7) % 5) / 10), memoryMb: types[w.type].memoryMb * load * 0.6, gpus: w.type === 'gpu' ? (load > 0.3 ? 1 : 0) : null });
    }
  }
  const shapes: Array<{ kind: string; type: Type; res: ReturnType<typeof resources>; dur: number }> = [
    { kind: 'small_cpu', type: 'cpu', res: resources({ cpu: 1, memoryMb: 512 }), dur: 3 },
    { kind: 'medium_cpu', type: 'cpu', res: resources({ cpu: 2, memoryMb: 2048 }), dur: 6 },
    { kind: 'memory-heavy', type: 'high-memory', res: resources({ cpu: 2, memoryMb: 40000 }), dur: 8 },
    { kind: 'gpu', type: 'gpu', res: resources({ cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 8000 }), dur: 5 },
  ];
  const tasks: TaskView[] = [];
  const tlTasks: Array<{ id: string; createdAt: number; finishedAt: number | null; resources: ReturnType<typeof resources> }> = [];
  const attempts: Array<{ taskId: string; workerId: string; assignedAt: number; startedAt: number; finishedAt: number }> = [];
  const free = new Map(workers.map((w) => [w.id, 0]));
  let n = 0;
  for (let t = 0; t < 72; t += t > 40 && t < 60 ? 0.5 : 2) {
    const shape = shapes[n % shapes.length];
    const id = `t${n++}`;
    const candidates = workers.filter((w) => w.type === shape.type && w.from <= t && (w.to ?? 999) > t + shape.dur);
    const w = candidates.sort((a, b) => free.get(a.id)! - free.get(b.id)!)[0];
    let start = Math.max(t + 0.2, free.get(w.id)!);
    if (w.down && start >= w.down[0] && start < w.down[1]) start = w.down[1] + 0.5;
    const end = start + shape.dur;
    free.set(w.id, start + shape.dur / (types[w.type].cpu / shape.res.cpu));
    tlTasks.push({ id, createdAt: at(t), finishedAt: at(end), resources: shape.res });
    attempts.push({ taskId: id, workerId: w.id, assignedAt: at(start), startedAt: at(start), finishedAt: at(end) });
    tasks.push(task(id, `${shape.kind}-${n}`, 'succeeded', { workerId: w.id, workerType: w.type, resources: shape.res, createdAt: iso(t), startedAt: iso(start), finishedAt: iso(end), durationMs: shape.dur * 1000 }));
  }
  const decisions = [
    { at: at(41), action: 'scale_up', workerType: 'cpu', count: 2, reason: 'spike: 9 pending cpu tasks', executed: true },
    { at: at(74), action: 'scale_down', workerType: 'cpu', count: 2, reason: 'cool-down: 2 cpu workers idle', executed: true },
  ];
  const tl = timeline({
    startMs: at(0),
    endMs: at(90),
    tasks: tlTasks,
    attempts,
    workers: workers.map((w) => ({ id: w.id, type: w.type, resources: types[w.type], registeredAt: at(w.from), lastSeenAt: at(w.to ?? w.from), state: w.to === null ? 'active' : 'terminated' })),
    usage,
    scaling: decisions,
  });
  const report: Report = {
    run: { id: 'run-e2e', name: 'e2e-quick', state: 'succeeded', startedAt: iso(0), finishedAt: iso(90) },
    summary: { total: tasks.length, succeeded: tasks.length, failed: 0, timedOut: 0, canceled: 0 },
    tasks,
    workers: workers.map((w) => ({ id: w.id, type: w.type, provider: 'local', resources: types[w.type], tasksRun: tasks.filter((t) => t.workerId === w.id).length })),
    scaling: decisions.map((d) => ({ ...d, id: `d-${d.at}`, workerIds: [], utilization: { cpu: 0, memory: 0, gpu: 0, overall: 0 }, pendingDemand: resources(), at: new Date(d.at).toISOString() })),
    checks: [
      { name: 'placement fits', passed: true, detail: `all ${tasks.length} tasks ran on a type that fits them` },
      { name: 'scaled up in the spike', passed: true, detail: 'scale_up cpu +2 at +0:41' },
      { name: 'scaled down in the cool-down', passed: true, detail: 'scale_down cpu -2 at +1:14' },
      { name: 'killed worker rejoined', passed: true, detail: 'cpu-1 back after 8 s' },
    ],
    timeline: tl,
  };
  return { report, tails: new Map() };
}
