import type { Resources } from '../core/resources.js';

// The run over time, for the charts of report.html (and the `timeline` section of report.json):
// utilization (reserved from assignments, measured from usage samples), queue depth, tasks in flight,
// worker count, and the scaling decisions as markers on the same axis. One pure call: plain records
// of what the store holds in, columnar series out. Nothing here reads a clock or a database.

export interface TimelineTask {
  id: string;
  createdAt: number;
  /** When it reached a terminal state; null while it is not finished. */
  finishedAt: number | null;
  /** What placement reserves for it while an attempt holds it. */
  resources: Resources;
}

export interface TimelineAttempt {
  taskId: string;
  workerId: string;
  assignedAt: number;
  startedAt: number | null;
  /** Null while it holds its worker. */
  finishedAt: number | null;
}

export interface TimelineWorker {
  id: string;
  type: string;
  resources: Resources;
  registeredAt: number;
  /** As stored: the last sign of life the store knows of (exact only once the worker is lost or terminated). */
  lastSeenAt: number;
  state: string;
}

export interface TimelineSample {
  workerId: string;
  at: number;
  cpu: number;
  memoryMb: number;
  gpus: number | null;
}

export interface TimelineDecision {
  at: number;
  action: string;
  workerType: string | null;
  count: number;
  reason: string;
  executed: boolean;
}

/** Everything the series are computed from; times are epoch ms. */
export interface TimelineInput {
  /** The window the series cover (a run: from its submission to its end). */
  startMs: number;
  endMs: number;
  tasks: readonly TimelineTask[];
  attempts: readonly TimelineAttempt[];
  workers: readonly TimelineWorker[];
  usage: readonly TimelineSample[];
  scaling: readonly TimelineDecision[];
}

export interface TimelineOptions {
  /** More change points than this are folded into this many equal buckets (each keeps its peak). */
  maxPoints?: number;
  /** A worker silent (no usage sample, no attempt event) for longer than this is counted as gone meanwhile... */
  minGapMs?: number;
  /** ...or for longer than this many of its usual sample intervals, when that is longer. */
  gapIntervals?: number;
}

export const TIMELINE_DEFAULTS: Required<TimelineOptions> = {
  maxPoints: 1000,
  // Heartbeats come every second by default and a lost worker is declared after 5 s of silence; 3 s
  // (or 4 intervals) shows a killed-and-restarted worker as a dip without flickering under load.
  minGapMs: 3000,
  gapIntervals: 4,
};

export interface TimelineMarker {
  atMs: number;
  action: string;
  workerType: string | null;
  count: number;
  reason: string;
  executed: boolean;
}

/**
 * Step series over `atMs`: each value holds from its point to the next. Utilization is a fraction
 * (0..1) of the capacity of the workers alive at that moment (0 when there is none).
 */
export interface Timeline {
  startMs: number;
  endMs: number;
  atMs: number[];
  capacity: { cpu: number[]; memoryMb: number[]; gpus: number[] };
  utilization: {
    /** What assignments reserved (placement's view). */
    reserved: { cpu: number[]; memory: number[]; gpu: number[] };
    /** What workers reported using; null when the run has no usage samples (gpu null without GPU samples). */
    measured: { cpu: number[]; memory: number[]; gpu: number[] | null } | null;
  };
  /** Tasks waiting for a worker (pending, dependencies included). */
  queueDepth: number[];
  /** Attempts assigned or running. */
  inFlight: number[];
  /** Tasks finished so far. */
  finished: number[];
  workers: { total: number[]; byType: Record<string, number[]> };
  scaling: TimelineMarker[];
  /** True when the points were folded into buckets (values are then each bucket's peak). */
  resampled: boolean;
}

type Interval = [from: number, to: number];

// Series keys of the sweep below; worker types add `workers:<type>`.
const KEYS = ['capCpu', 'capMem', 'capGpu', 'resCpu', 'resMem', 'resGpu', 'useCpu', 'useMem', 'useGpu', 'queue', 'inFlight', 'finished', 'workers'] as const;
type Key = (typeof KEYS)[number] | `workers:${string}`;

interface Delta {
  at: number;
  key: Key;
  by: number;
}

export function timeline(input: TimelineInput, options: TimelineOptions = {}): Timeline {
  const opts = { ...TIMELINE_DEFAULTS, ...options };
  const { startMs, endMs } = input;
  const end = Math.max(startMs, endMs);
  const deltas: Delta[] = [];
  // An interval that goes on past the window ends at Infinity: its value holds at the last point.
  const span = (from: number, to: number, key: Key, by: number) => {
    if (by === 0 || to <= from) return;
    deltas.push({ at: from, key, by });
    if (to !== Infinity) deltas.push({ at: to, key, by: -by });
  };

  // Tasks: waiting from submission to their end, except while an attempt holds them.
  const tasks = new Map(input.tasks.map((t) => [t.id, t]));
  const attemptsOf = new Map<string, TimelineAttempt[]>();
  for (const a of input.attempts) {
    if (!tasks.has(a.taskId)) continue;
    const list = attemptsOf.get(a.taskId) ?? [];
    list.push(a);
    attemptsOf.set(a.taskId, list);
  }
  for (const t of input.tasks) {
    const taskEnd = t.finishedAt ?? Infinity;
    const held: Interval[] = (attemptsOf.get(t.id) ?? []).map((a) => [a.assignedAt, a.finishedAt ?? taskEnd]);
    for (const [from, to] of subtract([t.createdAt, taskEnd], held)) span(from, to, 'queue', 1);
    if (t.finishedAt !== null) deltas.push({ at: t.finishedAt, key: 'finished', by: 1 });
  }

  // Attempts: in flight and reserving their task's resources from assignment to their end.
  const attemptTimes = new Map<string, number[]>();
  const note = (workerId: string, at: number | null) => {
    if (at === null) return;
    const list = attemptTimes.get(workerId) ?? [];
    list.push(at);
    attemptTimes.set(workerId, list);
  };
  for (const [taskId, list] of attemptsOf) {
    const t = tasks.get(taskId)!;
    for (const a of list) {
      const to = a.finishedAt ?? t.finishedAt ?? Infinity;
      span(a.assignedAt, to, 'inFlight', 1);
      span(a.assignedAt, to, 'resCpu', t.resources.cpu);
      span(a.assignedAt, to, 'resMem', t.resources.memoryMb);
      span(a.assignedAt, to, 'resGpu', t.resources.gpus);
      note(a.workerId, a.assignedAt);
      note(a.workerId, a.startedAt);
      note(a.workerId, a.finishedAt);
    }
  }

  // Workers: alive while there is evidence of it (registration, samples, attempts); capacity and measured use follow.
  const samplesOf = new Map<string, TimelineSample[]>();
  for (const s of input.usage) {
    const list = samplesOf.get(s.workerId) ?? [];
    list.push(s);
    samplesOf.set(s.workerId, list);
  }
  let gpuSampled = false;
  for (const w of input.workers) {
    const samples = (samplesOf.get(w.id) ?? []).sort((a, b) => a.at - b.at);
    const gapMs = Math.max(opts.minGapMs, opts.gapIntervals * medianInterval(samples.map((s) => s.at)));
    const alive = aliveIntervals(w, samples.map((s) => s.at), attemptTimes.get(w.id) ?? [], startMs, end, gapMs);
    for (const [from, to] of alive) {
      span(from, to, 'workers', 1);
      span(from, to, `workers:${w.type}`, 1);
      span(from, to, 'capCpu', w.resources.cpu);
      span(from, to, 'capMem', w.resources.memoryMb);
      span(from, to, 'capGpu', w.resources.gpus);
    }
    // A sample holds until the next one, for at most one gap, and never past the worker's end.
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const interval = alive.find(([from, to]) => s.at >= from && s.at <= to);
      if (!interval) continue;
      const to = Math.min(samples[i + 1]?.at ?? Infinity, s.at + gapMs, interval[1]);
      span(s.at, to, 'useCpu', s.cpu);
      span(s.at, to, 'useMem', s.memoryMb);
      if (s.gpus !== null) {
        gpuSampled = true;
        span(s.at, to, 'useGpu', s.gpus);
      }
    }
  }

  const types = [...new Set(input.workers.map((w) => w.type))].sort();
  const raw = sweep(deltas, startMs, end, types);
  const points = raw.atMs.length > opts.maxPoints ? fold(raw, startMs, end, opts.maxPoints) : raw;
  const v = points.values;
  const ratio = (num: number[], den: number[], cap: boolean) => num.map((n, i) => round(den[i] > 0 ? (cap ? Math.min(1, n / den[i]) : n / den[i]) : 0));
  const hasSamples = input.usage.some((s) => s.at <= end);

  return {
    startMs,
    endMs: end,
    atMs: points.atMs,
    capacity: { cpu: v.get('capCpu')!.map(round), memoryMb: v.get('capMem')!.map(round), gpus: v.get('capGpu')!.map(round) },
    utilization: {
      // Placement never over-commits; a reservation past the capacity seen here is a gap in the evidence.
      reserved: { cpu: ratio(v.get('resCpu')!, v.get('capCpu')!, true), memory: ratio(v.get('resMem')!, v.get('capMem')!, true), gpu: ratio(v.get('resGpu')!, v.get('capGpu')!, true) },
      measured: hasSamples
        ? { cpu: ratio(v.get('useCpu')!, v.get('capCpu')!, false), memory: ratio(v.get('useMem')!, v.get('capMem')!, false), gpu: gpuSampled ? ratio(v.get('useGpu')!, v.get('capGpu')!, false) : null }
        : null,
    },
    queueDepth: v.get('queue')!.map(round),
    inFlight: v.get('inFlight')!.map(round),
    finished: v.get('finished')!.map(round),
    workers: { total: v.get('workers')!.map(round), byType: Object.fromEntries(types.map((t) => [t, v.get(`workers:${t}`)!.map(round)])) },
    scaling: input.scaling
      .filter((d) => d.at >= startMs && d.at <= end)
      .sort((a, b) => a.at - b.at)
      .map((d) => ({ atMs: d.at, action: d.action, workerType: d.workerType, count: d.count, reason: d.reason, executed: d.executed })),
    resampled: points !== raw,
  };
}

/** `whole` minus the union of `holes`, as sorted disjoint non-empty intervals. */
export function subtract(whole: Interval, holes: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let from = whole[0];
  for (const [a, b] of [...holes].sort((x, y) => x[0] - y[0])) {
    if (b <= from) continue;
    if (a >= whole[1]) break;
    if (a > from) out.push([from, a]);
    from = Math.max(from, b);
  }
  if (from < whole[1]) out.push([from, whole[1]]);
  return out;
}

function medianInterval(times: number[]): number {
  if (times.length < 2) return 0;
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

/**
 * When a worker was alive within [start, end]. The store keeps its registration (first join), its
 * last sign of life only once it is lost or terminated, and in between its usage samples (one per
 * heartbeat) and attempts. With samples, the worker is alive over its evidence, split where it fell
 * silent for longer than `gapMs` (killed and restarted), and alive to the end when its last evidence
 * is that recent and it was not lost or terminated (the interval then ends at Infinity). Without
 * samples it is taken at its word: from registration to its end (or on), and it counts only when it
 * has attempts in the window or registered inside it, so idle workers of older runs stay out.
 */
export function aliveIntervals(w: TimelineWorker, samples: readonly number[], attempts: readonly number[], start: number, end: number, gapMs: number): Interval[] {
  const gone = w.state === 'lost' || w.state === 'terminated';
  if (samples.length === 0) {
    if (attempts.length === 0 && w.registeredAt < start) return [];
    return clip([[w.registeredAt, gone ? w.lastSeenAt : Infinity]], start, end);
  }
  const points = [w.registeredAt, ...samples, ...attempts, ...(gone ? [w.lastSeenAt] : [])].filter((t) => t <= end).sort((a, b) => a - b);
  const out: Interval[] = [];
  let from = points[0];
  let last = points[0];
  for (const t of points.slice(1)) {
    if (t - last > gapMs) {
      out.push([from, last]);
      from = t;
    }
    last = t;
  }
  out.push([from, !gone && end - last <= gapMs ? Infinity : last]);
  return clip(out, start, end);
}

/** Starts clipped to the window; an end past the window is kept (Infinity: still alive at its end). */
function clip(intervals: Interval[], start: number, end: number): Interval[] {
  return intervals.map(([a, b]): Interval => [Math.max(a, start), b]).filter(([a, b]) => b > a && a <= end);
}

interface Points {
  atMs: number[];
  values: Map<Key, number[]>;
}

/** Applies the deltas in time order; one point at the start, at each change inside the window, and at the end. */
function sweep(deltas: Delta[], start: number, end: number, types: string[]): Points {
  const keys: Key[] = [...KEYS, ...types.map((t) => `workers:${t}` as const)];
  const state = new Map<Key, number>(keys.map((k) => [k, 0]));
  const values = new Map<Key, number[]>(keys.map((k) => [k, []]));
  const atMs: number[] = [];
  const record = (at: number) => {
    if (atMs.length > 0 && atMs[atMs.length - 1] === at) {
      for (const k of keys) values.get(k)![values.get(k)!.length - 1] = Math.max(0, state.get(k)!);
      return;
    }
    atMs.push(at);
    for (const k of keys) values.get(k)!.push(Math.max(0, state.get(k)!));
  };
  const sorted = deltas.filter((d) => d.at <= end).sort((a, b) => a.at - b.at);
  let i = 0;
  for (; i < sorted.length && sorted[i].at <= start; i++) state.set(sorted[i].key, state.get(sorted[i].key)! + sorted[i].by);
  record(start);
  while (i < sorted.length) {
    const at = sorted[i].at;
    for (; i < sorted.length && sorted[i].at === at; i++) state.set(sorted[i].key, state.get(sorted[i].key)! + sorted[i].by);
    record(at);
  }
  if (atMs[atMs.length - 1] !== end) record(end);
  return { atMs, values };
}

/**
 * Folds points into `n` equal buckets over [start, end]. Each bucket keeps the peak of each series
 * within it, counting the value carried in from before its first point, so no spike is lost.
 */
function fold(points: Points, start: number, end: number, n: number): Points {
  const width = (end - start) / Math.max(1, n - 1);
  const atMs: number[] = [];
  const values = new Map<Key, number[]>([...points.values.keys()].map((k) => [k, []]));
  let bucket = -1;
  points.atMs.forEach((at, i) => {
    const b = width > 0 ? Math.min(n - 1, Math.floor((at - start) / width)) : 0;
    const bucketStart = Math.round(start + b * width);
    if (b !== bucket) {
      bucket = b;
      atMs.push(bucketStart);
      const carried = i > 0 && points.atMs[i - 1] < bucketStart && at > bucketStart;
      for (const [k, list] of values) {
        const series = points.values.get(k)!;
        list.push(carried ? Math.max(series[i - 1], series[i]) : series[i]);
      }
      return;
    }
    for (const [k, list] of values) list[list.length - 1] = Math.max(list[list.length - 1], points.values.get(k)![i]);
  });
  return { atMs, values };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
