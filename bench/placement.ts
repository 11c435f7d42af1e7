import { placeTasks, type PlacementTask, type PlacementWorker } from '../src/core/placement.js';
import { fits, resources, subtract, type Resources } from '../src/core/resources.js';
import { BUILTIN_WORKER_TYPES } from '../src/core/worker-types.js';
import { median, round, seeded, type Bench } from './figures.js';

// Placement of 10,000 pending tasks onto 1,000 workers (goal: <= 50 ms), against a same-run baseline:
// the plain first-fit loop one would write without the optimizer's indexing.

export function fleet(n: number): PlacementWorker[] {
  return Array.from({ length: n }, (_, i) => {
    const type = BUILTIN_WORKER_TYPES[i % 10 < 6 ? 0 : i % 10 < 8 ? 1 : 2];
    return { id: `w${String(i).padStart(5, '0')}`, type: type.name, capacity: type.resources, reserved: resources(), freeGpuIndices: Array.from({ length: type.resources.gpus }, (_, g) => g), schedulable: true };
  });
}

export function demand(n: number, seed = 7): PlacementTask[] {
  const rand = seeded(seed);
  return Array.from({ length: n }, (_, i) => {
    const r = rand();
    const res: Resources =
      r < 0.6 ? resources({ cpu: 0.5 + Math.floor(rand() * 4) * 0.5, memoryMb: 256 + Math.floor(rand() * 8) * 256 })
      : r < 0.85 ? resources({ cpu: 1 + Math.floor(rand() * 3), memoryMb: 4096 + Math.floor(rand() * 6) * 4096 })
      : resources({ cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 4000 + Math.floor(rand() * 3) * 4000 });
    return { id: `t${i}`, priority: Math.floor(rand() * 3), seq: i, resources: res };
  });
}

/** The naive baseline: every task scans every worker in order and takes the first that fits. */
function firstFit(tasks: readonly PlacementTask[], workers: readonly PlacementWorker[]): number {
  const free = workers.map((w) => subtract(w.capacity, w.reserved));
  let placed = 0;
  const ordered = [...tasks].sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  for (const t of ordered) {
    for (let i = 0; i < free.length; i++) {
      if (fits(t.resources, free[i])) {
        free[i] = subtract(free[i], t.resources);
        placed++;
        break;
      }
    }
  }
  return placed;
}

export const placementBench: Bench = {
  name: 'placement',
  description: 'placeTasks: 10,000 tasks onto 1,000 workers vs a naive first-fit loop',
  async run(ctx) {
    const workers = fleet(1000);
    const tasks = demand(10_000);
    const reps = ctx.quick ? 5 : 15;
    const time = (fn: () => unknown) => {
      fn(); // warm up the JIT
      const samples: number[] = [];
      for (let i = 0; i < reps; i++) {
        const start = performance.now();
        fn();
        samples.push(performance.now() - start);
      }
      return median(samples);
    };
    let assigned = 0;
    const optimizer = time(() => (assigned = placeTasks({ tasks, workers }).assignments.length));
    let naivePlaced = 0;
    const naive = time(() => (naivePlaced = firstFit(tasks, workers)));
    return [
      { bench: 'placement_10k_tasks_1k_workers_ms', value: round(optimizer), unit: 'ms', baseline: round(naive), ratio: round(optimizer / naive), baselineName: 'naive first-fit', goal: '<= 50', assigned, baselineAssigned: naivePlaced },
    ];
  },
};
