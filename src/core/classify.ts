// Task classification: which resource bounds a task, from what it is predicted (or declared) to need.
// Used by recommendations and shown in reports; pure and deterministic.

import type { Resources } from './resources.js';

export type TaskClass = 'gpu-bound' | 'memory-bound' | 'cpu-bound' | 'default';

export interface ClassifyThresholds {
  /** At or above this much memory a task is memory-bound: half a built-in `cpu` worker, it strands its cores. */
  memoryMb: number;
  /** At or above this many cores a task is cpu-bound: it keeps more than one core busy. */
  cpu: number;
  /**
   * When a task crosses both thresholds, the dimension it uses more of relative to this ratio wins. 4096 MB per
   * core is the shape of the built-in `cpu` type (4 cores, 16384 MB): above it memory runs out before cores do.
   */
  memoryMbPerCore: number;
}

export const DEFAULT_CLASSIFY_THRESHOLDS: Readonly<ClassifyThresholds> = Object.freeze({
  memoryMb: 8192,
  cpu: 2,
  memoryMbPerCore: 4096,
});

/**
 * gpu-bound: any GPU or GPU memory (a GPU is the scarcest resource, so it decides first);
 * memory-bound: memoryMb >= thresholds.memoryMb; cpu-bound: cpu >= thresholds.cpu;
 * both: memory-bound when memoryMb / memoryMbPerCore >= cpu, else cpu-bound; neither: default.
 */
export function classify(
  r: Pick<Resources, 'cpu' | 'memoryMb' | 'gpus' | 'gpuMemoryMb'>,
  thresholds: Partial<ClassifyThresholds> = {},
): TaskClass {
  const t = { ...DEFAULT_CLASSIFY_THRESHOLDS, ...thresholds };
  if (r.gpus > 0 || r.gpuMemoryMb > 0) return 'gpu-bound';
  const memoryBound = r.memoryMb >= t.memoryMb;
  const cpuBound = r.cpu >= t.cpu;
  if (memoryBound && cpuBound) return r.memoryMb / t.memoryMbPerCore >= r.cpu ? 'memory-bound' : 'cpu-bound';
  if (memoryBound) return 'memory-bound';
  if (cpuBound) return 'cpu-bound';
  return 'default';
}
