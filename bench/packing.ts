import { placeTasks, type PlacementTask, type PlacementWorker } from '../src/core/placement.js';
import { fits, resources, subtract } from '../src/core/resources.js';
import { BUILTIN_WORKER_TYPES } from '../src/core/worker-types.js';
import { round, type Bench } from './figures.js';
import { demand } from './placement.js';

// Packing efficiency: how many workers a batch of CPU tasks occupies, over the lower bound
// max(ceil(sum cpu / cores), ceil(sum memory / memory)). Best fit against two baselines measured
// in the same run: first-fit (fleet order) and round-robin (spread, as a naive balancer does).

const CPU = BUILTIN_WORKER_TYPES[0];

function emptyFleet(n: number): PlacementWorker[] {
  return Array.from({ length: n }, (_, i) => ({ id: `w${String(i).padStart(5, '0')}`, type: CPU.name, capacity: CPU.resources, reserved: resources(), freeGpuIndices: [], schedulable: true }));
}

function used(assign: Map<string, string>): number {
  return new Set(assign.values()).size;
}

function firstFit(tasks: PlacementTask[], workers: PlacementWorker[]): Map<string, string> {
  const free = workers.map((w) => w.capacity);
  const out = new Map<string, string>();
  for (const t of tasks) {
    const i = free.findIndex((f) => fits(t.resources, f));
    if (i >= 0) {
      free[i] = subtract(free[i], t.resources);
      out.set(t.id, workers[i].id);
    }
  }
  return out;
}

function roundRobin(tasks: PlacementTask[], workers: PlacementWorker[]): Map<string, string> {
  const free = workers.map((w) => w.capacity);
  const out = new Map<string, string>();
  let next = 0;
  for (const t of tasks) {
    for (let k = 0; k < free.length; k++) {
      const i = (next + k) % free.length;
      if (fits(t.resources, free[i])) {
        free[i] = subtract(free[i], t.resources);
        out.set(t.id, workers[i].id);
        next = i + 1;
        break;
      }
    }
  }
  return out;
}

export const packingBench: Bench = {
  name: 'packing',
  description: 'workers used / lower bound for a CPU batch: best fit vs first-fit and round-robin',
  async run(ctx) {
    const tasks = demand(ctx.quick ? 1000 : 3000, 11).filter((t) => t.resources.gpus === 0 && t.resources.memoryMb <= CPU.resources.memoryMb);
    const sum = tasks.reduce((s, t) => ({ cpu: s.cpu + t.resources.cpu, mem: s.mem + t.resources.memoryMb }), { cpu: 0, mem: 0 });
    const lowerBound = Math.max(Math.ceil(sum.cpu / CPU.resources.cpu), Math.ceil(sum.mem / CPU.resources.memoryMb));
    // Room for every task on its own worker, so no strategy runs out of workers.
    const workers = emptyFleet(tasks.length);
    const best = new Map(placeTasks({ tasks, workers }).assignments.map((a) => [a.taskId, a.workerId]));
    const ff = firstFit(tasks, workers);
    const rr = roundRobin(tasks, workers);
    const ratio = (m: Map<string, string>) => round(used(m) / lowerBound, 3);
    return [
      { bench: 'packing_workers_vs_lower_bound', value: ratio(best), unit: 'ratio', baseline: ratio(ff), baselineName: 'first-fit', ratio: round(ratio(best) / ratio(ff), 3), roundRobin: ratio(rr), lowerBound, tasks: tasks.length, placed: best.size },
    ];
  },
};
