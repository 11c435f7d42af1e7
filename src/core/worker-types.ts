import { fits, resources, type Resources } from './resources.js';

/** A named resource profile that providers can create. */
export interface WorkerType {
  name: string;
  resources: Resources;
  labels?: Record<string, string>;
}

export const BUILTIN_WORKER_TYPES: readonly WorkerType[] = [
  { name: 'cpu', resources: resources({ cpu: 4, memoryMb: 16384 }) },
  { name: 'high-memory', resources: resources({ cpu: 8, memoryMb: 65536 }) },
  { name: 'gpu', resources: resources({ cpu: 8, memoryMb: 32768, gpus: 1, gpuMemoryMb: 16384 }) },
];

export function findWorkerType(types: readonly WorkerType[], name: string): WorkerType | undefined {
  return types.find((t) => t.name === name);
}

/** The smallest type that can ever hold `request` (GPU types only for GPU demand), or undefined. */
export function smallestFittingType(types: readonly WorkerType[], request: Resources): WorkerType | undefined {
  const wantsGpu = request.gpus > 0 || request.gpuMemoryMb > 0;
  const candidates = types.filter((t) => fits(request, t.resources));
  const preferred = wantsGpu ? candidates : candidates.filter((t) => t.resources.gpus === 0);
  const pool = preferred.length > 0 ? preferred : candidates;
  return [...pool].sort((a, b) => size(a.resources) - size(b.resources))[0];
}

// Rough scalar size used only to order templates: GPUs dominate, then memory, then cores.
function size(r: Resources): number {
  return r.gpus * 1e6 + r.memoryMb + r.cpu * 1024;
}
