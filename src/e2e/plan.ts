import type { ScalingConfig } from '../core/scaling.js';
import type { TaskKind, TaskWork } from './tasks.js';

// The shape of the end-to-end scenario, as plain data: phase lengths, when each wave of tasks is submitted and what it
// holds, when a worker is killed, the fleet's limits and the autoscaler's tuning. Pure: the runner (runner.ts) plays it.
//
//   startup   low load: a few tasks of each kind, so placement by type is visible from the start
//   steady    a steady trickle that the starting fleet (one worker of each type) absorbs; a worker is killed mid-phase
//   spike     a burst far beyond the fleet's free capacity, then sustained demand: the autoscaler must add workers
//   cool-down no new work: the queue drains, idle workers are drained and stopped until the fleet is back to its start

export const PHASES = ['startup', 'steady', 'spike', 'cool-down'] as const;
export type PhaseName = (typeof PHASES)[number];
export type ScenarioMode = 'quick' | 'full';

export interface ScenarioSpec {
  mode: ScenarioMode;
  /** Lengths of the phases that submit work. */
  phaseMs: { startup: number; steady: number; spike: number };
  /** Cool-down lasts at least minMs and ends once every task finished and the fleet is back to its start, or at maxMs. */
  coolDown: { minMs: number; maxMs: number };
  /** A wave of tasks every this often in each phase. */
  periodMs: { startup: number; steady: number; spike: number };
  /** The spike's first and last waves (burst) and the ones between (sustain). */
  spike: { burst: { medium: number; small: number }; sustain: { medium: number; small: number } };
  /** When the worker is killed: this fraction into the steady phase. */
  killAt: number;
  /** How long the runner looks for a worker running a task to kill. */
  killSearchMs: number;
  work: Record<TaskKind, TaskWork>;
  taskTimeoutSec: number;
  /** The fleet: one worker of each type at the start (the minimum of each type), at most these many of a type... */
  typeMax: Record<string, number>;
  /** ...and at most this many in all. */
  maxWorkers: number;
  scaling: Partial<ScalingConfig>;
  /** How often the cluster is sampled. */
  sampleMs: number;
  /** Every part of the scenario is bounded: the fleet must join within this... */
  fleetJoinMs: number;
}

/** The starting fleet: one worker of each type. */
export const START_FLEET = ['cpu', 'high-memory', 'gpu'] as const;

export const SCENARIOS: Readonly<Record<ScenarioMode, ScenarioSpec>> = {
  // Under 90 s on a 2-core machine: 30 s of load, a cool-down of ~5-10 s (at most 45 s on a loaded machine), a few
  // seconds to start and stop.
  quick: {
    mode: 'quick',
    phaseMs: { startup: 6_000, steady: 12_000, spike: 12_000 },
    coolDown: { minMs: 4_000, maxMs: 45_000 },
    periodMs: { startup: 3_000, steady: 1_500, spike: 3_000 },
    spike: { burst: { medium: 14, small: 8 }, sustain: { medium: 10, small: 6 } },
    killAt: 0.4,
    killSearchMs: 6_000,
    work: {
      small_cpu: { ms: 1_000, allocMb: 16 },
      medium_cpu: { ms: 2_500, allocMb: 64 },
      'memory-heavy': { ms: 1_500, allocMb: 256 },
      gpu: { ms: 1_500, allocMb: 32 },
      large_gpu: { ms: 2_500, allocMb: 128 },
    },
    taskTimeoutSec: 60,
    typeMax: { cpu: 5, 'high-memory': 2, gpu: 2 },
    maxWorkers: 8,
    // Short idle timeout and cooldown so the cool-down shows drains and stops within seconds.
    scaling: { idleTimeoutMs: 2_000, cooldownAfterScaleUpMs: 3_000, evaluationIntervalMs: 500, utilizationSustainMs: 10_000 },
    sampleMs: 500,
    fleetJoinMs: 30_000,
  },
  // About 300 s: the same story at a pace closer to a real fleet's.
  full: {
    mode: 'full',
    phaseMs: { startup: 30_000, steady: 100_000, spike: 80_000 },
    coolDown: { minMs: 60_000, maxMs: 90_000 },
    periodMs: { startup: 5_000, steady: 3_000, spike: 5_000 },
    spike: { burst: { medium: 14, small: 8 }, sustain: { medium: 10, small: 6 } },
    killAt: 0.5,
    killSearchMs: 10_000,
    work: {
      small_cpu: { ms: 2_000, allocMb: 32 },
      medium_cpu: { ms: 5_000, allocMb: 128 },
      'memory-heavy': { ms: 4_000, allocMb: 512 },
      gpu: { ms: 4_000, allocMb: 64 },
      large_gpu: { ms: 6_000, allocMb: 256 },
    },
    taskTimeoutSec: 120,
    typeMax: { cpu: 5, 'high-memory': 2, gpu: 2 },
    maxWorkers: 8,
    scaling: { idleTimeoutMs: 10_000, cooldownAfterScaleUpMs: 20_000, evaluationIntervalMs: 1_000, utilizationSustainMs: 20_000 },
    sampleMs: 500,
    fleetJoinMs: 60_000,
  },
};

/** One submission: at `atMs` after the scenario's start, tasks of these kinds. */
export interface Wave {
  atMs: number;
  phase: Exclude<PhaseName, 'cool-down'>;
  /** Index of the wave within its phase. */
  index: number;
  kinds: TaskKind[];
}

export interface PhaseWindow {
  name: PhaseName;
  /** Relative to the scenario's start; cool-down's end is decided while it runs (null in the plan). */
  startMs: number;
  endMs: number | null;
}

export function phaseWindows(spec: ScenarioSpec): PhaseWindow[] {
  const { startup, steady, spike } = spec.phaseMs;
  return [
    { name: 'startup', startMs: 0, endMs: startup },
    { name: 'steady', startMs: startup, endMs: startup + steady },
    { name: 'spike', startMs: startup + steady, endMs: startup + steady + spike },
    { name: 'cool-down', startMs: startup + steady + spike, endMs: null },
  ];
}

/** When the worker is killed, relative to the scenario's start. */
export function killAtMs(spec: ScenarioSpec): number {
  return spec.phaseMs.startup + Math.round(spec.killAt * spec.phaseMs.steady);
}

const repeat = (kind: TaskKind, n: number): TaskKind[] => Array.from({ length: n }, () => kind);

/** Every wave of the scenario, in time order. */
export function planWaves(spec: ScenarioSpec): Wave[] {
  const waves: Wave[] = [];
  const windows = phaseWindows(spec);
  const spikeWaves = Math.ceil(spec.phaseMs.spike / spec.periodMs.spike);
  const compose: Record<Wave['phase'], (i: number) => TaskKind[]> = {
    // Every kind early on; at most one memory-heavy and one GPU task at a time, as the starting fleet holds them.
    startup: (i) => (i === 0 ? ['small_cpu', 'gpu', 'memory-heavy'] : i % 2 === 1 ? ['small_cpu', 'medium_cpu', 'large_gpu'] : ['small_cpu', 'gpu']),
    // About 40% of the starting fleet's CPU: no backlog, and the cpu worker (the tightest fit) is rarely idle.
    steady: (i) => ['small_cpu', 'small_cpu', 'medium_cpu', ...(i % 2 === 0 ? (['memory-heavy'] as const) : i % 4 === 1 ? (['large_gpu'] as const) : (['gpu'] as const))],
    // The burst alone asks for more cores than the starting fleet has, and two memory-heavy and two GPU tasks where
    // the fleet holds one of each; later waves keep the grown fleet busy, and the last is a burst again, so the
    // cool-down starts with a busy fleet (its drains then fall in the cool-down, not in the spike's lulls).
    spike: (i) => {
      const n = i === 0 || i === spikeWaves - 1 ? spec.spike.burst : spec.spike.sustain;
      return [...repeat('medium_cpu', n.medium), ...repeat('small_cpu', n.small), ...(i === 0 ? (['memory-heavy', 'memory-heavy', 'gpu', 'large_gpu'] as const) : [])];
    },
  };
  for (const w of windows) {
    if (w.name === 'cool-down' || w.endMs === null) continue;
    const phase = w.name;
    for (let i = 0, at = w.startMs; at < w.endMs; i++, at += spec.periodMs[phase]) waves.push({ atMs: at, phase, index: i, kinds: compose[phase](i) });
  }
  return waves;
}
