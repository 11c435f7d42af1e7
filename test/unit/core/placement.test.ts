import { describe, it, expect } from 'vitest';
import {
  orderTasks,
  placeTasks,
  type PlacementReply,
  type PlacementTask,
  type PlacementWorker,
} from '../../../src/core/placement.js';
import { add, fits, resources, RESOURCE_NAMES, subtract, type Resources } from '../../../src/core/resources.js';
import { BUILTIN_WORKER_TYPES, findWorkerType } from '../../../src/core/worker-types.js';
import { seededRandom } from '../../helpers/random.js';

function worker(id: string, capacity: Partial<Resources>, extra: Partial<PlacementWorker> = {}): PlacementWorker {
  const cap = resources(capacity);
  return {
    id,
    type: extra.type ?? id,
    capacity: cap,
    reserved: resources(),
    freeGpuIndices: Array.from({ length: cap.gpus }, (_, i) => i),
    schedulable: true,
    ...extra,
  };
}

function builtin(id: string, typeName: string): PlacementWorker {
  const type = findWorkerType(BUILTIN_WORKER_TYPES, typeName)!;
  return worker(id, type.resources, { type: type.name });
}

let seqCounter = 0;
function task(id: string, r: Partial<Resources>, extra: Partial<PlacementTask> = {}): PlacementTask {
  return { id, priority: 0, seq: seqCounter++, resources: resources(r), ...extra };
}

function placedOn(reply: PlacementReply): Record<string, string> {
  return Object.fromEntries(reply.assignments.map((a) => [a.taskId, a.workerId]));
}

/** Checks the invariants every reply must hold: no over-commit, GPU indices valid and unique, each task once. */
function checkInvariants(tasks: readonly PlacementTask[], workers: readonly PlacementWorker[], reply: PlacementReply): void {
  const byId = new Map(workers.map((w) => [w.id, { w, used: w.reserved, gpus: new Set<number>() }]));
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const seen = new Set<string>();
  for (const a of reply.assignments) {
    const slot = byId.get(a.workerId)!;
    const t = taskById.get(a.taskId)!;
    expect(slot.w.schedulable).toBe(true);
    slot.used = add(slot.used, t.resources);
    expect(a.gpuIndices.length).toBe(Math.ceil(t.resources.gpus));
    for (const g of a.gpuIndices) {
      expect(slot.w.freeGpuIndices).toContain(g);
      expect(slot.gpus.has(g)).toBe(false);
      slot.gpus.add(g);
    }
    seen.add(a.taskId);
  }
  for (const p of reply.pending) seen.add(p.taskId);
  expect(seen.size).toBe(tasks.length);
  expect(reply.assignments.length + reply.pending.length).toBe(tasks.length);
  for (const { w, used } of byId.values()) expect(fits(used, w.capacity), `worker ${w.id} over-committed`).toBe(true);
}

/**
 * The placement rules written the slow, obvious way (every task against every worker), to compare with the
 * optimized implementation on random fleets. The score is the one placement documents: the free vector weighted by
 * 1 / the largest capacity per dimension, computed in the same order so that float results are identical.
 */
function referencePlace(tasks: readonly PlacementTask[], workers: readonly PlacementWorker[]): Record<string, string> {
  const live = workers.filter((w) => w.schedulable).sort((a, b) => (a.id < b.id ? -1 : 1));
  const custom = new Set<string>();
  for (const r of [...tasks.map((t) => t.resources), ...live.flatMap((w) => [w.capacity, w.reserved])]) {
    for (const k of Object.keys(r.custom ?? {})) custom.add(k);
  }
  const dims = [...RESOURCE_NAMES, ...[...custom].sort()];
  const get = (r: Resources, n: string) => (RESOURCE_NAMES as readonly string[]).includes(n) ? r[n as keyof Resources] as number : r.custom?.[n] ?? 0;
  const max: Record<string, number> = {};
  for (const w of live) for (const n of dims) max[n] = Math.max(max[n] ?? 0, get(w.capacity, n));
  const free = new Map(
    live.map((w) => {
      const f = subtract(w.capacity, w.reserved);
      f.gpus = Math.min(f.gpus, w.freeGpuIndices.length);
      return [w.id, f];
    }),
  );
  const score = (f: Resources) => dims.reduce((s, n) => s + get(f, n) * (max[n] > 0 ? 1 / max[n] : 0), 0);
  const out: Record<string, string> = {};
  const isGpuTask = (t: PlacementTask) => t.resources.gpus > 0 || t.resources.gpuMemoryMb > 0;
  const batchHasGpuWork = tasks.some(isGpuTask);
  for (const t of orderTasks(tasks)) {
    const gpuTask = isGpuTask(t);
    const pools = [live.filter((w) => (w.capacity.gpus > 0) === gpuTask)];
    // CPU work may spill onto GPU workers only while no GPU work is waiting in the batch.
    if (gpuTask || !batchHasGpuWork) pools.push(live.filter((w) => (w.capacity.gpus > 0) !== gpuTask));
    let chosen: PlacementWorker | undefined;
    for (const pool of pools) {
      const fitting = pool
        .filter((w) => fits(t.resources, free.get(w.id)!))
        .sort((a, b) => score(free.get(a.id)!) - score(free.get(b.id)!) || (a.id < b.id ? -1 : 1));
      chosen = fitting.find((w) => !t.avoidWorkerIds?.includes(w.id)) ?? fitting[0];
      if (chosen) break;
    }
    if (chosen) {
      free.set(chosen.id, subtract(free.get(chosen.id)!, t.resources));
      out[t.id] = chosen.id;
    }
  }
  return out;
}

function randomCase(seed: number, nTasks: number, nWorkers: number) {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const shapes = [
    { cpu: 1, memoryMb: 512 },
    { cpu: 2, memoryMb: 4096 },
    { cpu: 0.5, memoryMb: 40000 },
    { cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 8000 },
    { cpu: 4, memoryMb: 16384, gpus: 2, gpuMemoryMb: 20000 },
    { cpu: 0.25, memoryMb: 128, custom: { license: 1 } },
  ];
  const types = [
    ...BUILTIN_WORKER_TYPES.map((t) => t.resources),
    resources({ cpu: 16, memoryMb: 65536, gpus: 2, gpuMemoryMb: 49152 }),
    resources({ cpu: 2, memoryMb: 4096, custom: { license: 2 } }),
  ];
  const workers = Array.from({ length: nWorkers }, (_, i) => {
    const cap = pick(types);
    const reserved = r() < 0.3 ? resources({ cpu: Math.min(cap.cpu, Math.round(r() * 4) / 2), memoryMb: 1024 }) : resources();
    return worker(`w${String(i).padStart(3, '0')}`, cap, { reserved, schedulable: r() > 0.1 });
  });
  const tasks = Array.from({ length: nTasks }, (_, i) =>
    task(`t${String(i).padStart(4, '0')}`, r() < 0.2 ? { cpu: Math.round(r() * 30) / 10, memoryMb: Math.floor(r() * 20000) } : pick(shapes), {
      priority: Math.floor(r() * 3),
      seq: i,
      durationMs: r() < 0.4 ? Math.floor(r() * 1000) : undefined,
      avoidWorkerIds: r() < 0.1 ? [pick(workers).id] : undefined,
    }),
  );
  return { tasks, workers };
}

describe('placeTasks: built-in worker types', () => {
  const fleet = [builtin('cpu-1', 'cpu'), builtin('hm-1', 'high-memory'), builtin('gpu-1', 'gpu')];

  it('puts a CPU task on the CPU worker', () => {
    const reply = placeTasks({ tasks: [task('unit', { cpu: 1, memoryMb: 256 })], workers: fleet });
    expect(reply.assignments).toEqual([{ taskId: 'unit', workerId: 'cpu-1', gpuIndices: [] }]);
    expect(reply.pending).toEqual([]);
  });

  it('puts a GPU task on the GPU worker with a GPU index', () => {
    const reply = placeTasks({ tasks: [task('llm', { gpus: 1, gpuMemoryMb: 8000, memoryMb: 8192 })], workers: fleet });
    expect(reply.assignments).toEqual([{ taskId: 'llm', workerId: 'gpu-1', gpuIndices: [0] }]);
  });

  it('puts a memory-heavy task on the high-memory worker', () => {
    const reply = placeTasks({ tasks: [task('big-mem', { cpu: 2, memoryMb: 40000 })], workers: fleet });
    expect(placedOn(reply)).toEqual({ 'big-mem': 'hm-1' });
  });

  it('places a mixed batch by kind', () => {
    const tasks = [
      task('small', { cpu: 1, memoryMb: 512 }),
      task('mem', { cpu: 2, memoryMb: 50000 }),
      task('gpu', { cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 16000 }),
    ];
    expect(placedOn(placeTasks({ tasks, workers: fleet }))).toEqual({ small: 'cpu-1', mem: 'hm-1', gpu: 'gpu-1' });
  });

  it('leaves a task that fits nowhere pending with a reason naming the shortfall', () => {
    const reply = placeTasks({ tasks: [task('huge', { cpu: 2, memoryMb: 100000 })], workers: fleet });
    expect(reply.assignments).toEqual([]);
    expect(reply.pending).toEqual([
      {
        taskId: 'huge',
        infeasible: true,
        reason: 'no worker can ever fit it: needs memoryMb 100000 > 65536 on the closest worker hm-1 (high-memory)',
      },
    ]);
  });

  it('says "on every worker" when the shortfall is the same everywhere', () => {
    const reply = placeTasks({ tasks: [task('g', { gpus: 1 })], workers: [builtin('c1', 'cpu'), builtin('c2', 'high-memory')] });
    expect(reply.pending[0].reason).toBe('no worker can ever fit it: needs gpus 1 > 0 on every worker');
  });
});

describe('placeTasks: pending reasons', () => {
  it('says "no workers" for an empty fleet', () => {
    const reply = placeTasks({ tasks: [task('a', { cpu: 1 })], workers: [] });
    expect(reply.pending).toEqual([{ taskId: 'a', reason: 'no workers', infeasible: true }]);
  });

  it('says when every worker is draining', () => {
    const reply = placeTasks({ tasks: [task('a', { cpu: 1 })], workers: [worker('w', { cpu: 4 }, { schedulable: false })] });
    expect(reply.pending[0]).toMatchObject({ reason: 'no schedulable workers (1 draining or quarantined)', infeasible: true });
  });

  it('says "waiting for resources" with the number of fitting workers when they are busy', () => {
    const workers = [
      worker('a', { cpu: 4, memoryMb: 8192 }, { reserved: resources({ cpu: 4, memoryMb: 1024 }) }),
      worker('b', { cpu: 4, memoryMb: 8192 }, { reserved: resources({ cpu: 3.5 }) }),
      worker('tiny', { cpu: 0.5, memoryMb: 8192 }),
    ];
    const reply = placeTasks({ tasks: [task('t', { cpu: 1, memoryMb: 512 })], workers });
    expect(reply.pending).toEqual([{ taskId: 't', reason: 'waiting for resources: all fitting workers are busy (2)', infeasible: false }]);
  });

  it('counts fitting workers correctly in a fleet of many distinct capacities', () => {
    // More distinct capacities than the scan threshold: the bitset index answers; compare with a brute-force count.
    const r = seededRandom(7);
    const workers = Array.from({ length: 300 }, (_, i) =>
      worker(`w${i}`, { cpu: 1 + Math.floor(r() * 16), memoryMb: 1024 * (1 + Math.floor(r() * 64)), gpus: r() < 0.2 ? 1 : 0 }, {
        reserved: resources({ cpu: 64, memoryMb: 1 << 20, gpus: 4 }),
        freeGpuIndices: [],
      }),
    );
    const tasks = Array.from({ length: 200 }, (_, i) =>
      task(`t${i}`, { cpu: Math.round(r() * 200) / 10, memoryMb: Math.floor(r() * 80000), gpus: r() < 0.1 ? 1 : 0 }),
    );
    const reply = placeTasks({ tasks, workers });
    expect(reply.assignments).toEqual([]);
    for (const p of reply.pending) {
      const t = tasks.find((x) => x.id === p.taskId)!;
      const n = workers.filter((w) => fits(t.resources, w.capacity)).length;
      if (n > 0) expect(p).toEqual({ taskId: t.id, reason: `waiting for resources: all fitting workers are busy (${n})`, infeasible: false });
      else expect(p.reason).toMatch(/^no worker can ever fit it: needs /);
    }
  });
});

describe('placeTasks: order', () => {
  it('places higher priority first when there is room for one', () => {
    const tasks = [task('low', { cpu: 4 }, { priority: 0, seq: 1 }), task('high', { cpu: 4 }, { priority: 5, seq: 2 })];
    const reply = placeTasks({ tasks, workers: [worker('w', { cpu: 4 })] });
    expect(placedOn(reply)).toEqual({ high: 'w' });
    expect(reply.pending.map((p) => p.taskId)).toEqual(['low']);
  });

  it('is FIFO by seq within a priority', () => {
    const tasks = [task('second', { cpu: 4 }, { seq: 2 }), task('first', { cpu: 4 }, { seq: 1 })];
    expect(placedOn(placeTasks({ tasks, workers: [worker('w', { cpu: 4 })] }))).toEqual({ first: 'w' });
  });

  it('places the longest known duration first within a priority', () => {
    const tasks = [task('short', { cpu: 4 }, { seq: 1, durationMs: 100 }), task('long', { cpu: 4 }, { seq: 2, durationMs: 5000 })];
    expect(placedOn(placeTasks({ tasks, workers: [worker('w', { cpu: 4 })] }))).toEqual({ long: 'w' });
  });

  it('orders known durations longest first in their own queue positions, the rest FIFO', () => {
    const tasks = [
      task('a', {}, { seq: 1, durationMs: 10 }),
      task('b', {}, { seq: 2 }),
      task('c', {}, { seq: 3, durationMs: 20 }),
      task('d', {}, { seq: 4 }),
      task('e', {}, { seq: 0, priority: 1 }),
    ];
    expect(orderTasks(tasks).map((t) => t.id)).toEqual(['e', 'c', 'b', 'a', 'd']);
    expect(orderTasks([...tasks].reverse()).map((t) => t.id)).toEqual(['e', 'c', 'b', 'a', 'd']);
  });

  it('reorders by duration only within a group (submission): across groups order stays FIFO', () => {
    const tasks = [
      task('old-short', {}, { seq: 1, durationMs: 10, group: 'run-1' }),
      task('old-long', {}, { seq: 2, durationMs: 50, group: 'run-1' }),
      task('new-long', {}, { seq: 3, durationMs: 900, group: 'run-2' }),
      task('new-short', {}, { seq: 4, durationMs: 20, group: 'run-2' }),
    ];
    expect(orderTasks(tasks).map((t) => t.id)).toEqual(['old-long', 'old-short', 'new-long', 'new-short']);
    // The earlier submission's short task gets the one free slot, however long the later one's tasks are.
    const one = [task('old-short', { cpu: 4 }, { seq: 1, durationMs: 10, group: 'run-1' }), task('new-long', { cpu: 4 }, { seq: 2, durationMs: 900, group: 'run-2' })];
    expect(placedOn(placeTasks({ tasks: one, workers: [worker('w', { cpu: 4 })] }))).toEqual({ 'old-short': 'w' });
  });

  it('breaks full ties by id', () => {
    const tasks = [task('b', {}, { seq: 1 }), task('a', {}, { seq: 1 })];
    expect(orderTasks(tasks).map((t) => t.id)).toEqual(['a', 'b']);
  });
});

describe('placeTasks: best fit', () => {
  it('puts a small task on the smaller of two fitting workers', () => {
    const workers = [worker('big', { cpu: 32, memoryMb: 131072 }), worker('small', { cpu: 2, memoryMb: 4096 })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1, memoryMb: 512 })], workers }))).toEqual({ t: 'small' });
  });

  it('keeps the large worker free for a large task that comes later', () => {
    const workers = [worker('big', { cpu: 16, memoryMb: 65536 }), worker('small', { cpu: 4, memoryMb: 16384 })];
    const tasks = [task('small-task', { cpu: 2, memoryMb: 1024 }, { seq: 1 }), task('large-task', { cpu: 16, memoryMb: 32768 }, { seq: 2 })];
    const reply = placeTasks({ tasks, workers });
    expect(placedOn(reply)).toEqual({ 'small-task': 'small', 'large-task': 'big' });
  });

  it('fills a partly used worker before an empty one of the same type', () => {
    const workers = [worker('empty', { cpu: 4, memoryMb: 8192 }), worker('busy', { cpu: 4, memoryMb: 8192 }, { reserved: resources({ cpu: 2, memoryMb: 2048 }) })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1, memoryMb: 512 })], workers }))).toEqual({ t: 'busy' });
  });

  it('breaks equal fits by worker id', () => {
    const workers = [worker('w2', { cpu: 4 }), worker('w1', { cpu: 4 }), worker('w3', { cpu: 4 })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1 })], workers }))).toEqual({ t: 'w1' });
  });
});

describe('placeTasks: capacity accounting', () => {
  it('never over-commits across a batch', () => {
    const workers = [worker('w', { cpu: 4, memoryMb: 4096 })];
    const tasks = Array.from({ length: 6 }, (_, i) => task(`t${i}`, { cpu: 1, memoryMb: 1024 }, { seq: i }));
    const reply = placeTasks({ tasks, workers });
    expect(reply.assignments.map((a) => a.taskId)).toEqual(['t0', 't1', 't2', 't3']);
    expect(reply.pending.map((p) => p.reason)).toEqual([
      'waiting for resources: all fitting workers are busy (1)',
      'waiting for resources: all fitting workers are busy (1)',
    ]);
  });

  it('respects what is already reserved', () => {
    const workers = [worker('w', { cpu: 4, memoryMb: 4096 }, { reserved: resources({ cpu: 3, memoryMb: 1024 }) })];
    const reply = placeTasks({ tasks: [task('a', { cpu: 1 }), task('b', { cpu: 1 })], workers });
    expect(reply.assignments.map((a) => a.taskId)).toEqual(['a']);
  });

  it('packs fractional cpu exactly', () => {
    const workers = [worker('w', { cpu: 1, memoryMb: 1024 })];
    const tasks = Array.from({ length: 11 }, (_, i) => task(`t${i}`, { cpu: 0.1 }, { seq: i }));
    const reply = placeTasks({ tasks, workers });
    expect(reply.assignments).toHaveLength(10);
    expect(reply.pending.map((p) => p.taskId)).toEqual(['t10']);
    const thirds = placeTasks({ tasks: [0, 1, 2].map((i) => task(`x${i}`, { cpu: 0.3 }, { seq: i })), workers: [worker('w', { cpu: 0.9 })] });
    expect(thirds.assignments).toHaveLength(3);
  });

  it('treats custom resources like built-in ones', () => {
    const workers = [worker('licensed', { cpu: 8, memoryMb: 8192, custom: { license: 2 } }), worker('plain', { cpu: 8, memoryMb: 8192 })];
    const tasks = [0, 1, 2].map((i) => task(`lic${i}`, { cpu: 1, custom: { license: 1 } }, { seq: i }));
    // Placed first, the task without a license stays off the licensed worker: the license counts in the fit.
    const reply = placeTasks({ tasks: [...tasks, task('other', { cpu: 1 }, { seq: -1 })], workers });
    expect(placedOn(reply)).toEqual({ lic0: 'licensed', lic1: 'licensed', other: 'plain' });
    expect(reply.pending).toEqual([{ taskId: 'lic2', reason: 'waiting for resources: all fitting workers are busy (1)', infeasible: false }]);
    const never = placeTasks({ tasks: [task('fpga', { cpu: 1, custom: { fpga: 1 } })], workers });
    expect(never.pending[0].reason).toBe('no worker can ever fit it: needs fpga 1 > 0 on every worker');
  });

  it('keeps CPU work off a GPU worker while GPU work waits in the same batch', () => {
    const gpuWorker = worker('gpu-1', { cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 });
    const tasks = [
      ...Array.from({ length: 4 }, (_, i) => task(`cpu-${i}`, { cpu: 2, memoryMb: 512 }, { priority: 1 })),
      task('gpu-job', { cpu: 1, memoryMb: 1024, gpus: 1 }),
    ];
    const reply = placeTasks({ tasks, workers: [gpuWorker] });
    expect(reply.assignments.map((a) => a.taskId)).toEqual(['gpu-job']);
    // Without GPU work waiting, the same CPU tasks may use the GPU worker (nothing else can take them).
    const cpuOnly = placeTasks({ tasks: tasks.slice(0, 4), workers: [gpuWorker] });
    expect(cpuOnly.assignments).toHaveLength(4);
  });

  it('never over-commits on a randomized fleet (seeded) and matches the brute-force rules', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { tasks, workers } = randomCase(seed, 600, 60);
      const reply = placeTasks({ tasks, workers });
      checkInvariants(tasks, workers, reply);
      expect(reply.assignments.length).toBeGreaterThan(50);
      expect(reply.pending.length).toBeGreaterThan(0);
      expect(placedOn(reply)).toEqual(referencePlace(tasks, workers));
    }
  });
});

describe('placeTasks: GPUs', () => {
  it('gives two 1-GPU tasks on a 2-GPU worker the indices [0] and [1]', () => {
    const workers = [worker('g', { cpu: 8, memoryMb: 32768, gpus: 2, gpuMemoryMb: 32768 })];
    const tasks = [0, 1, 2].map((i) => task(`g${i}`, { gpus: 1, gpuMemoryMb: 8000 }, { seq: i }));
    const reply = placeTasks({ tasks, workers });
    expect(reply.assignments).toEqual([
      { taskId: 'g0', workerId: 'g', gpuIndices: [0] },
      { taskId: 'g1', workerId: 'g', gpuIndices: [1] },
    ]);
    expect(reply.pending[0]).toMatchObject({ taskId: 'g2', infeasible: false });
  });

  it('hands out the free indices the worker reports, in order', () => {
    const workers = [worker('g', { cpu: 8, gpus: 4, gpuMemoryMb: 65536 }, { reserved: resources({ gpus: 2 }), freeGpuIndices: [3, 1] })];
    const reply = placeTasks({ tasks: [task('two', { gpus: 2 })], workers });
    expect(reply.assignments).toEqual([{ taskId: 'two', workerId: 'g', gpuIndices: [3, 1] }]);
  });

  it('does not place a GPU task when the worker cannot name a free GPU', () => {
    const workers = [worker('g', { cpu: 8, gpus: 1, gpuMemoryMb: 16384 }, { freeGpuIndices: [] })];
    const reply = placeTasks({ tasks: [task('g', { gpus: 1 })], workers });
    expect(reply.assignments).toEqual([]);
    expect(reply.pending[0].reason).toMatch(/^waiting for resources/);
  });

  it('keeps a CPU task off the GPU worker while a CPU worker can take it', () => {
    // The GPU worker would be the tighter fit: protection wins over best fit.
    const workers = [worker('cpu', { cpu: 16, memoryMb: 65536 }), worker('gpu', { cpu: 4, memoryMb: 8192, gpus: 1, gpuMemoryMb: 16384 })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1, memoryMb: 512 })], workers }))).toEqual({ t: 'cpu' });
  });

  it('lets a CPU task use the GPU worker only when nothing else fits', () => {
    const workers = [builtin('cpu', 'cpu'), builtin('gpu', 'gpu')];
    const tasks = [task('a', { cpu: 4 }, { seq: 1 }), task('b', { cpu: 4 }, { seq: 2 }), task('c', { cpu: 2 }, { seq: 3 })];
    const reply = placeTasks({ tasks, workers });
    expect(placedOn(reply)).toEqual({ a: 'cpu', b: 'gpu', c: 'gpu' });
    expect(reply.assignments.find((a) => a.taskId === 'b')!.gpuIndices).toEqual([]);
  });

  it('treats a task that asks only for GPU memory as a GPU task', () => {
    const workers = [builtin('cpu', 'cpu'), builtin('gpu', 'gpu')];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1, gpuMemoryMb: 1000 })], workers }))).toEqual({ t: 'gpu' });
  });
});

describe('placeTasks: workers', () => {
  it('skips draining (unschedulable) workers', () => {
    const workers = [worker('draining', { cpu: 4 }, { schedulable: false }), worker('active', { cpu: 8 })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1 })], workers }))).toEqual({ t: 'active' });
  });

  it('avoids the listed workers when another fits', () => {
    const workers = [worker('a', { cpu: 2 }), worker('b', { cpu: 4 })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1 }, { avoidWorkerIds: ['a'] })], workers }))).toEqual({ t: 'b' });
  });

  it('uses an avoided worker when nothing else fits', () => {
    const workers = [worker('a', { cpu: 2 }), worker('b', { cpu: 4 }, { reserved: resources({ cpu: 4 }) })];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1 }, { avoidWorkerIds: ['a'] })], workers }))).toEqual({ t: 'a' });
  });

  it('prefers an avoided CPU worker to a GPU worker for a CPU task (GPU protection first)', () => {
    const workers = [builtin('cpu', 'cpu'), builtin('gpu', 'gpu')];
    expect(placedOn(placeTasks({ tasks: [task('t', { cpu: 1 }, { avoidWorkerIds: ['cpu'] })], workers }))).toEqual({ t: 'cpu' });
  });
});

describe('placeTasks: purity and determinism', () => {
  it('gives the same reply for the same input, whatever its order, and mutates nothing', () => {
    const { tasks, workers } = randomCase(42, 400, 40);
    const snapshot = structuredClone({ tasks, workers });
    const first = placeTasks({ tasks, workers });
    expect(placeTasks({ tasks, workers })).toEqual(first);
    const r = seededRandom(9);
    const shuffle = <T>(xs: readonly T[]) => [...xs].map((x) => ({ x, k: r() })).sort((a, b) => a.k - b.k).map((p) => p.x);
    expect(placeTasks({ tasks: shuffle(tasks), workers: shuffle(workers) })).toEqual(first);
    expect({ tasks, workers }).toEqual(snapshot);
  });

  it('handles an empty batch', () => {
    expect(placeTasks({ tasks: [], workers: [worker('w', { cpu: 1 })] })).toEqual({ assignments: [], pending: [] });
  });
});
