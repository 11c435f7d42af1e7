import { describe, expect, it } from 'vitest';
import { resources } from '../../../src/core/resources.js';
import { aliveIntervals, subtract, timeline, type TimelineInput, type TimelineWorker } from '../../../src/reports/timeline.js';

// Times in these tests are seconds written as ms from 0, so the series read like the story they tell.
const s = (sec: number) => sec * 1000;

const cpuWorker = (id: string, registeredAt = 0, extra: Partial<TimelineWorker> = {}): TimelineWorker => ({
  id,
  type: 'cpu',
  resources: resources({ cpu: 4, memoryMb: 16384 }),
  registeredAt,
  lastSeenAt: registeredAt,
  state: 'active',
  ...extra,
});

function input(partial: Partial<TimelineInput>): TimelineInput {
  return { startMs: 0, endMs: s(10), tasks: [], attempts: [], workers: [], usage: [], scaling: [], ...partial };
}

/** The value of a step series at time `at`. */
function at(series: number[], atMs: number[], t: number): number {
  let v = series[0];
  for (let i = 0; i < atMs.length && atMs[i] <= t; i++) v = series[i];
  return v;
}

describe('timeline', () => {
  it('counts a task as queued until assigned, in flight until it ends, then finished', () => {
    const tl = timeline(
      input({
        workers: [cpuWorker('w1')],
        tasks: [{ id: 't1', createdAt: s(1), finishedAt: s(6), resources: resources({ cpu: 2, memoryMb: 4096 }) }],
        attempts: [{ taskId: 't1', workerId: 'w1', assignedAt: s(3), startedAt: s(3), finishedAt: s(6) }],
      }),
    );
    expect(tl.atMs).toEqual([0, s(1), s(3), s(6), s(10)]);
    expect(tl.queueDepth).toEqual([0, 1, 0, 0, 0]);
    expect(tl.inFlight).toEqual([0, 0, 1, 0, 0]);
    expect(tl.finished).toEqual([0, 0, 0, 1, 1]);
    expect(tl.utilization.reserved.cpu).toEqual([0, 0, 0.5, 0, 0]);
    expect(tl.utilization.reserved.memory).toEqual([0, 0, 0.25, 0, 0]);
    expect(tl.utilization.reserved.gpu).toEqual([0, 0, 0, 0, 0]);
    expect(tl.capacity.cpu).toEqual([4, 4, 4, 4, 4]);
    expect(tl.workers.total).toEqual([1, 1, 1, 1, 1]);
    expect(tl.workers.byType).toEqual({ cpu: [1, 1, 1, 1, 1] });
    expect(tl.utilization.measured).toBeNull();
    expect(tl.resampled).toBe(false);
  });

  it('puts a retried or requeued task back in the queue between its attempts', () => {
    const tl = timeline(
      input({
        workers: [cpuWorker('w1'), cpuWorker('w2')],
        tasks: [{ id: 't1', createdAt: 0, finishedAt: s(9), resources: resources({ cpu: 1, memoryMb: 512 }) }],
        attempts: [
          { taskId: 't1', workerId: 'w1', assignedAt: s(1), startedAt: s(1), finishedAt: s(4) }, // lost
          { taskId: 't1', workerId: 'w2', assignedAt: s(5), startedAt: s(5), finishedAt: s(9) },
        ],
      }),
    );
    const q = (t: number) => at(tl.queueDepth, tl.atMs, s(t));
    const f = (t: number) => at(tl.inFlight, tl.atMs, s(t));
    expect([q(0), q(2), q(4.5), q(6), q(9.5)]).toEqual([1, 0, 1, 0, 0]);
    expect([f(0), f(2), f(4.5), f(6), f(9.5)]).toEqual([0, 1, 0, 1, 0]);
  });

  it('keeps an unfinished task queued (or in flight) to the end of the window', () => {
    const tl = timeline(
      input({
        workers: [cpuWorker('w1')],
        tasks: [
          { id: 'waiting', createdAt: s(2), finishedAt: null, resources: resources({ cpu: 1 }) },
          { id: 'running', createdAt: s(2), finishedAt: null, resources: resources({ cpu: 1 }) },
        ],
        attempts: [{ taskId: 'running', workerId: 'w1', assignedAt: s(3), startedAt: s(3), finishedAt: null }],
      }),
    );
    expect(tl.queueDepth.at(-1)).toBe(1);
    expect(tl.inFlight.at(-1)).toBe(1);
    expect(tl.utilization.reserved.cpu.at(-1)).toBe(0.25);
  });

  it('follows the fleet: capacity and worker count per type change as workers join and leave', () => {
    const gpu: TimelineWorker = { id: 'g1', type: 'gpu', resources: resources({ cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 }), registeredAt: s(4), lastSeenAt: s(8), state: 'terminated' };
    const tl = timeline(
      input({
        workers: [cpuWorker('c1'), gpu],
        tasks: [{ id: 't', createdAt: s(4), finishedAt: s(7), resources: resources({ cpu: 2, gpus: 1, gpuMemoryMb: 8000 }) }],
        attempts: [{ taskId: 't', workerId: 'g1', assignedAt: s(5), startedAt: s(5), finishedAt: s(7) }],
      }),
    );
    const w = (t: number) => at(tl.workers.total, tl.atMs, s(t));
    expect([w(1), w(5), w(9)]).toEqual([1, 2, 1]);
    expect(at(tl.workers.byType.gpu, tl.atMs, s(5))).toBe(1);
    expect(at(tl.workers.byType.gpu, tl.atMs, s(9))).toBe(0);
    expect(at(tl.capacity.cpu, tl.atMs, s(5))).toBe(12);
    expect(at(tl.capacity.gpus, tl.atMs, s(9))).toBe(0);
    expect(at(tl.utilization.reserved.gpu, tl.atMs, s(6))).toBe(1);
    expect(at(tl.utilization.reserved.cpu, tl.atMs, s(6))).toBeCloseTo(2 / 12, 4);
  });

  it('turns usage samples into measured utilization, next to the reserved one', () => {
    const tl = timeline(
      input({
        workers: [cpuWorker('w1')],
        usage: [
          { workerId: 'w1', at: s(1), cpu: 1, memoryMb: 1024, gpus: null },
          { workerId: 'w1', at: s(2), cpu: 3, memoryMb: 2048, gpus: null },
          { workerId: 'w1', at: s(3), cpu: 2, memoryMb: 2048, gpus: null },
        ],
      }),
    );
    const m = tl.utilization.measured!;
    expect(m).not.toBeNull();
    expect(at(m.cpu, tl.atMs, s(1.5))).toBe(0.25);
    expect(at(m.cpu, tl.atMs, s(2.5))).toBe(0.75);
    expect(at(m.memory, tl.atMs, s(2.5))).toBe(0.125);
    // Silent since 3 s (longer than the 3 s gap before the end): gone, and its usage with it.
    expect(at(tl.workers.total, tl.atMs, s(7))).toBe(0);
    expect(at(m.cpu, tl.atMs, s(7))).toBe(0);
    expect(m.gpu).toBeNull();
  });

  it('holds a sample until the next one while the worker is alive', () => {
    const tl = timeline(
      input({
        workers: [cpuWorker('w1')],
        usage: [
          { workerId: 'w1', at: s(1), cpu: 2, memoryMb: 0, gpus: 0 },
          { workerId: 'w1', at: s(5), cpu: 1, memoryMb: 0, gpus: 0 },
          { workerId: 'w1', at: s(9), cpu: 0, memoryMb: 0, gpus: 0 },
        ],
      }),
    );
    const m = tl.utilization.measured!;
    expect(at(m.cpu, tl.atMs, s(3))).toBe(0.5);
    expect(at(m.cpu, tl.atMs, s(6))).toBe(0.25);
    expect(at(tl.workers.total, tl.atMs, s(10))).toBe(1);
    expect(m.gpu).not.toBeNull();
  });

  it('shows a worker killed and restarted as a dip, from the silence in its samples', () => {
    const beats = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ workerId: 'w1', at: s(from + i), cpu: 0, memoryMb: 0, gpus: null }));
    const tl = timeline(input({ endMs: s(20), workers: [cpuWorker('w1'), cpuWorker('w2')], usage: [...beats(0, 6), ...beats(14, 20), ...beats(0, 20).map((b) => ({ ...b, workerId: 'w2' }))] }));
    const w = (t: number) => at(tl.workers.total, tl.atMs, s(t));
    expect([w(3), w(10), w(17), w(20)]).toEqual([2, 1, 2, 2]);
  });

  it('leaves out idle workers of older runs, but keeps a silent one that ran tasks here', () => {
    const old = cpuWorker('old', -s(3600));
    const busy = cpuWorker('busy', -s(60));
    const fresh = cpuWorker('fresh', s(2));
    const tl = timeline(
      input({
        workers: [old, busy, fresh],
        tasks: [{ id: 't', createdAt: 0, finishedAt: s(2), resources: resources({ cpu: 1 }) }],
        attempts: [{ taskId: 't', workerId: 'busy', assignedAt: s(1), startedAt: s(1), finishedAt: s(2) }],
      }),
    );
    expect(at(tl.workers.total, tl.atMs, s(1))).toBe(1);
    expect(at(tl.workers.total, tl.atMs, s(5))).toBe(2);
  });

  it('marks scaling decisions inside the window, oldest first', () => {
    const decision = (sec: number, action: string) => ({ at: s(sec), action, workerType: 'cpu', count: 1, reason: `${action} at ${sec}`, executed: true });
    const tl = timeline(input({ scaling: [decision(8, 'scale_down'), decision(2, 'scale_up'), decision(11, 'scale_up'), decision(-1, 'maintain')] }));
    expect(tl.scaling.map((m) => [m.atMs, m.action])).toEqual([
      [s(2), 'scale_up'],
      [s(8), 'scale_down'],
    ]);
    expect(tl.scaling[0]).toMatchObject({ workerType: 'cpu', count: 1, reason: 'scale_up at 2', executed: true });
  });

  it('folds many points into buckets that keep each peak', () => {
    const tasks = Array.from({ length: 500 }, (_, i) => ({ id: `t${i}`, createdAt: i * 20, finishedAt: i * 20 + 10, resources: resources({ cpu: 1 }) }));
    const tl = timeline(input({ workers: [cpuWorker('w1')], tasks }), { maxPoints: 50 });
    expect(tl.resampled).toBe(true);
    expect(tl.atMs.length).toBeLessThanOrEqual(50);
    expect(tl.atMs[0]).toBe(0);
    expect(tl.atMs.at(-1)).toBe(s(10));
    for (const list of [tl.queueDepth, tl.inFlight, tl.finished, tl.workers.total, tl.utilization.reserved.cpu]) expect(list).toHaveLength(tl.atMs.length);
    // Each task waits 10 ms: a bucket of 200 ms holds those moments, so the peak (1) survives folding.
    expect(Math.max(...tl.queueDepth.slice(0, -1))).toBe(1);
    expect(tl.finished.at(-1)).toBe(500);
  });

  it('has a point at the start and at the end even when nothing happens', () => {
    const tl = timeline(input({}));
    expect(tl.atMs).toEqual([0, s(10)]);
    expect(tl.queueDepth).toEqual([0, 0]);
    expect(tl.utilization.reserved.cpu).toEqual([0, 0]);
    expect(tl.workers.byType).toEqual({});
  });
});

describe('subtract', () => {
  it('removes the holes from an interval', () => {
    expect(subtract([0, 10], [])).toEqual([[0, 10]]);
    expect(subtract([0, 10], [[2, 4], [6, 8]])).toEqual([[0, 2], [4, 6], [8, 10]]);
    expect(subtract([0, 10], [[-5, 3], [8, 20]])).toEqual([[3, 8]]);
    expect(subtract([0, 10], [[0, 10]])).toEqual([]);
    expect(subtract([0, 10], [[5, 7], [2, 6]])).toEqual([[0, 2], [7, 10]]);
  });
});

describe('aliveIntervals', () => {
  const w = cpuWorker('w', 0);
  it('runs to the end for a worker still heard from, and stops at the last sign of a lost one', () => {
    expect(aliveIntervals(w, [1000, 2000, 9000], [], 0, 10_000, 7000)).toEqual([[0, Infinity]]);
    expect(aliveIntervals({ ...w, state: 'lost', lastSeenAt: 6000 }, [1000, 2000, 3000], [], 0, 10_000, 3000)).toEqual([[0, 6000]]);
  });
  it('splits at a silence longer than the gap', () => {
    expect(aliveIntervals(w, [1000, 2000, 8000, 9000], [], 0, 10_000, 3000)).toEqual([
      [0, 2000],
      [8000, Infinity],
    ]);
  });
  it('clips to the window', () => {
    expect(aliveIntervals({ ...w, registeredAt: -5000 }, [], [500], 0, 10_000, 3000)).toEqual([[0, Infinity]]);
    expect(aliveIntervals({ ...w, registeredAt: -5000, state: 'lost', lastSeenAt: -1000 }, [], [], 0, 10_000, 3000)).toEqual([]);
  });
});
