import { resources, type Resources } from '../core/resources.js';
import type { TaskSpec } from '../schema/task.js';

// The task kinds of the end-to-end scenario (DESIGN.md section 8): real processes that use what they declare, scaled
// for a small machine. Each runs one inline `node -e` script (so it works from src/ and from an installed dist/) and:
// - burns CPU for its duration in proportion to what it declares: CPU_SHARE_PER_CORE of a real core per declared core
//   (busy for that share of every 50 ms), so a spike that reserves ~40 cores of the declared fleet asks ~4 real cores
//   of a 2-core machine, at nice 19 (its own and, on Linux, its autogroup's: the worker starts each task in its own
//   session), so the coordinator and the worker agents always keep the CPU they need;
// - allocates and touches a modest amount of memory (64 MiB buffers, every page written);
// - a GPU kind fails unless it was given a GPU (CUDA_VISIBLE_DEVICES names indices); a CPU kind fails if it was
//   given one it did not ask for;
// - leaves evidence of each execution in the markers directory: `<taskId>.<attemptId>.start` when it starts and
//   `.done` when it ran to completion, so "nothing completed twice" is checked on what really ran, not only on what
//   the coordinator recorded.

export const TASK_KINDS = ['small_cpu', 'medium_cpu', 'memory-heavy', 'gpu', 'large_gpu'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/**
 * What each kind declares. memory-heavy declares more memory than any type but `high-memory` has (> 32 GiB);
 * large_gpu more memory than a `cpu` worker has and a GPU, so only `gpu` fits it.
 */
export const KIND_RESOURCES: Readonly<Record<TaskKind, Resources>> = {
  small_cpu: resources({ cpu: 1, memoryMb: 256 }),
  medium_cpu: resources({ cpu: 2, memoryMb: 1024 }),
  'memory-heavy': resources({ cpu: 1, memoryMb: 40_960 }),
  gpu: resources({ cpu: 1, memoryMb: 2048, gpus: 1, gpuMemoryMb: 4096 }),
  large_gpu: resources({ cpu: 4, memoryMb: 24_576, gpus: 1, gpuMemoryMb: 12_288 }),
};

/** What a kind really does in one mode of the scenario. */
export interface TaskWork {
  /** How long it spins (wall time). */
  ms: number;
  /** Memory it really allocates and touches, in MiB. */
  allocMb: number;
}

/** Of a real core, per declared core (capped at one real core): the scenario is sized for a 2-core machine. */
export const CPU_SHARE_PER_CORE = 0.1;

// CommonJS (`node -e`); argv: kind, ms, cpu share (0..1), allocMb, needsGpu (0|1), markers directory ('' for none).
const TASK_SCRIPT = `
const fs = require('fs'), os = require('os'), path = require('path');
const [kind, ms, share, mb, needsGpu, markers] = process.argv.slice(1);
try { os.setPriority(19); } catch {}
try { fs.writeFileSync('/proc/self/autogroup', '19'); } catch {}
const marker = (what) => {
  if (markers) fs.writeFileSync(path.join(markers, process.env.DRM_TASK_ID + '.' + process.env.DRM_ATTEMPT_ID + '.' + what), String(process.pid));
};
marker('start');
const visible = process.env.CUDA_VISIBLE_DEVICES || '';
if (needsGpu === '1' && !/^\\d+(,\\d+)*$/.test(visible)) {
  console.error(kind + ': needs a GPU but CUDA_VISIBLE_DEVICES is ' + JSON.stringify(visible));
  process.exit(3);
}
if (needsGpu !== '1' && visible !== '') {
  console.error(kind + ': was given GPUs it did not ask for: ' + visible);
  process.exit(4);
}
const chunks = [];
for (let left = Number(mb); left > 0; left -= 64) {
  const chunk = Buffer.allocUnsafe(Math.min(64, left) * 1048576);
  chunk.fill(chunks.length & 255);
  chunks.push(chunk);
}
const PERIOD_MS = 50;
const busyMs = Math.max(1, Math.round(PERIOD_MS * Number(share)));
const begun = Date.now();
const end = begun + Number(ms);
let x = 0;
const tick = () => {
  const t = Date.now();
  if (t >= end) {
    marker('done');
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ kind, ms: Number(ms), cpuShare: Number(share), cpuSeconds: (cpu.user + cpu.system) / 1e6, allocatedMb: Number(mb), rssMb: Math.round(process.memoryUsage().rss / 1048576), gpus: visible }));
    process.exit(0);
  }
  const stop = Math.min(end, t + busyMs);
  while (Date.now() < stop) for (let i = 0; i < 1e4; i++) x += i;
  setTimeout(tick, Math.max(0, PERIOD_MS - (Date.now() - t)));
};
tick();
`;

export function needsGpu(kind: TaskKind): boolean {
  return KIND_RESOURCES[kind].gpus > 0;
}

/** The submission of one task of `kind`. */
export function taskSpec(kind: TaskKind, name: string, work: TaskWork, opts: { markersDir: string; timeoutSec: number; phase: string }): TaskSpec {
  const declared = KIND_RESOURCES[kind];
  const share = Math.min(1, declared.cpu * CPU_SHARE_PER_CORE);
  return {
    name,
    kind: 'benchmark',
    command: [process.execPath, '-e', TASK_SCRIPT, kind, String(work.ms), String(share), String(work.allocMb), needsGpu(kind) ? '1' : '0', opts.markersDir],
    resources: { cpu: declared.cpu, memoryMb: declared.memoryMb, gpus: declared.gpus, gpuMemoryMb: declared.gpuMemoryMb },
    labels: { 'e2e.kind': kind, 'e2e.phase': opts.phase },
    priority: 0,
    timeoutSec: opts.timeoutSec,
    maxRetries: 0,
  };
}
