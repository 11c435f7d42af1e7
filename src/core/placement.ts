// The ResourceOptimizer: places a batch of pending tasks on workers.
//
// One pure call, `placeTasks(request) -> reply`, in the style of Ray's schedule(SchedulingRequest) and Karpenter's
// Solve(pods): the request holds everything the decision needs, the reply says which task goes where and why the
// others wait. It simulates on copies (nothing in the request is mutated), does no I/O and reads no clock, so the
// same request always gives the same reply.
//
// Policy:
// - order: higher priority first; within a priority, tasks with a known duration longest first (LPT), others FIFO;
// - best fit: the schedulable worker with the least leftover after placing, so large workers stay free for large tasks;
// - GPU protection: a task that needs no GPU goes to a GPU worker only when no non-GPU worker can take it now,
//   and never while the batch holds GPU work (that worker's cores and memory are for it);
// - never over-commit: each placement reserves on the simulated worker before the next task is considered;
// - avoidWorkerIds: an avoided worker is a fallback within its pool (GPU or not), so protection still comes first:
//   a CPU task takes an avoided CPU worker before a GPU worker.
//
// Performance (10,000 tasks on 1,000 workers within a scheduler tick): the leftover score is linear in the free
// vector, so "least leftover" is "smallest free score among fitting workers". Workers are kept sorted by free score
// in typed arrays and a task scans only from the first score that could hold it. Workers that cannot hold even the
// smallest task of the batch leave the scan, and request shapes that already failed short-circuit every task at
// least as large (reservations only grow within a batch, so a failure stays a failure).

import { RESOURCE_NAMES, shortfall, type Resources } from './resources.js';

export interface PlacementTask {
  id: string;
  /** Higher runs first. */
  priority: number;
  /** Arrival order; lower is older (FIFO within a priority). */
  seq: number;
  resources: Resources;
  /** Expected duration (for example predicted); known durations are placed longest first within their group. */
  durationMs?: number;
  /**
   * The submission the task came in (for example its run id). Durations reorder tasks only within a group:
   * across groups order stays FIFO, so the long tasks of later submissions cannot keep overtaking an earlier
   * submission's short ones (longest-first without that bound starves them for as long as long work arrives).
   */
  group?: string;
  /** Workers to prefer against (for example where the last attempt failed); used only when nothing else fits. */
  avoidWorkerIds?: string[];
}

export interface PlacementWorker {
  id: string;
  type: string;
  capacity: Resources;
  /** What the worker's running and assigned tasks already hold. */
  reserved: Resources;
  freeGpuIndices: number[];
  /** False for draining or quarantined workers: they get nothing new. */
  schedulable: boolean;
}

export interface Assignment {
  taskId: string;
  workerId: string;
  /** The GPU indices the task gets (its CUDA_VISIBLE_DEVICES); empty for a task that needs no GPU. */
  gpuIndices: number[];
}

export interface Unplaced {
  taskId: string;
  reason: string;
  /** True when no schedulable worker could hold the task even empty (more of the same fleet will not help). */
  infeasible?: boolean;
}

export interface PlacementRequest {
  tasks: readonly PlacementTask[];
  workers: readonly PlacementWorker[];
}

export interface PlacementReply {
  /** In placement order (priority order). */
  assignments: Assignment[];
  /** In the same order the tasks were considered. */
  pending: Unplaced[];
}

// Same tolerance as resources.fits: fractional cpu sums (0.1 + 0.2) must not make an exact fit fail.
const EPSILON = 1e-9;
// Slack on the score lower bound so float rounding in the weighted sums never skips a worker that fits.
const SCORE_SLACK = 1e-6;
// Bound on remembered failed shapes: each task checks all of them, so the memo must stay cheaper than the search.
const MAX_FAILED_SHAPES = 32;
// Up to this many distinct worker capacities, reasons scan them; beyond, a bitset index counts fitting workers.
const SCAN_SHAPES = 16;
// Memory bound of that index per dimension (32-bit words, 4 MiB): giant fleets of one-off capacities scan instead.
const INDEX_MAX_WORDS = 1 << 20;
// Index of the built-in dimensions in every vector (custom names follow, sorted).
const CPU = RESOURCE_NAMES.indexOf('cpu');
const GPUS = RESOURCE_NAMES.indexOf('gpus');
const GPU_MEMORY = RESOURCE_NAMES.indexOf('gpuMemoryMb');

export function placeTasks(req: PlacementRequest): PlacementReply {
  const tasks = orderTasks(req.tasks);
  // Sorting by id makes the internal index the tie-break: equal scores go to the lower worker id.
  const workers = req.workers.filter((w) => w.schedulable).sort((a, b) => compareStrings(a.id, b.id));
  const dims = dimensionsOf(tasks, workers);
  const D = dims.length;
  const W = workers.length;
  const T = tasks.length;

  // Requests as rows of a typed matrix; gpus rounded up because GPUs are handed out as whole devices.
  const need = new Float64Array(T * D);
  const minNeed = new Float64Array(D).fill(T > 0 ? Infinity : 0);
  for (let t = 0; t < T; t++) {
    writeVector(need, t * D, tasks[t].resources, dims);
    need[t * D + GPUS] = wholeGpus(need[t * D + GPUS]);
    for (let d = 0; d < D; d++) if (need[t * D + d] < minNeed[d]) minNeed[d] = need[t * D + d];
  }

  // Free vectors (capacity - reserved) of the simulated workers, and per-dimension weights so that cores,
  // megabytes and devices count alike in the leftover score: 1 / the largest capacity in the fleet.
  const free = new Float64Array(W * D);
  const cap = new Float64Array(W * D);
  const maxCap = new Float64Array(D);
  for (let w = 0; w < W; w++) {
    const worker = workers[w];
    writeVector(cap, w * D, worker.capacity, dims);
    writeVector(free, w * D, worker.reserved, dims);
    for (let d = 0; d < D; d++) {
      free[w * D + d] = cap[w * D + d] - free[w * D + d];
      if (cap[w * D + d] > maxCap[d]) maxCap[d] = cap[w * D + d];
    }
    // A GPU is usable only if the worker can also name it.
    free[w * D + GPUS] = Math.min(free[w * D + GPUS], worker.freeGpuIndices.length);
  }
  const weight = new Float64Array(D);
  for (let d = 0; d < D; d++) weight[d] = maxCap[d] > 0 ? 1 / maxCap[d] : 0;

  const score = new Float64Array(W);
  const gpuTaken = new Int32Array(W);
  for (let w = 0; w < W; w++) score[w] = weightedSum(free, w * D, weight, D);

  // Two pools so that GPU protection is a pool order, not a per-worker test.
  const cpuPool = new Pool(score, D);
  const gpuPool = new Pool(score, D);
  const poolOf: Pool[] = new Array<Pool>(W);
  for (let w = 0; w < W; w++) {
    const pool = workers[w].capacity.gpus > 0 ? gpuPool : cpuPool;
    poolOf[w] = pool;
    for (let d = 0; d < D; d++) if (cap[w * D + d] > pool.maxCap[d]) pool.maxCap[d] = cap[w * D + d];
    if (!belowMinimum(free, w * D, minNeed, D)) pool.push(w);
  }
  cpuPool.sort();
  gpuPool.sort();
  let gpuWork = false;
  for (let t = 0; t < T && !gpuWork; t++) gpuWork = need[t * D + GPUS] > 0 || need[t * D + GPU_MEMORY] > 0;
  const forCpuTask = gpuWork ? [cpuPool] : [cpuPool, gpuPool];
  const forGpuTask = [gpuPool, cpuPool];

  // Failed shapes per kind of task: a CPU task kept off GPU workers may fail where a GPU task would not.
  const failedCpu: Float64Array[] = [];
  const failedGpu: Float64Array[] = [];
  const assignments: Assignment[] = [];
  const unplaced: number[] = [];

  for (let t = 0; t < T; t++) {
    const task = tasks[t];
    const row = t * D;
    const wantsGpu = need[row + GPUS] > 0 || need[row + GPU_MEMORY] > 0;
    const failed = wantsGpu ? failedGpu : failedCpu;
    if (dominatesAny(need, row, failed, D)) {
      unplaced.push(t);
      continue;
    }
    const avoid = task.avoidWorkerIds && task.avoidWorkerIds.length > 0 ? new Set(task.avoidWorkerIds) : undefined;
    const lowerBound = weightedSum(need, row, weight, D) - SCORE_SLACK;
    const pools = wantsGpu ? forGpuTask : forCpuTask;
    let chosen = -1;
    for (const pool of pools) {
      if (pool.length === 0 || !fitsRow(need, row, pool.maxCap, 0, D)) continue;
      chosen = pool.bestFit(need, row, free, lowerBound, avoid, workers);
      if (chosen >= 0) break;
    }
    if (chosen < 0) {
      unplaced.push(t);
      rememberFailure(failed, need.slice(row, row + D), D);
      continue;
    }

    // Reserve on the simulated worker, then move it to its new place in the score order.
    const pool = poolOf[chosen];
    const at = pool.indexOf(chosen);
    for (let d = 0; d < D; d++) free[chosen * D + d] -= need[row + d];
    const gpuCount = need[row + GPUS];
    const offered = workers[chosen].freeGpuIndices;
    const gpuIndices = gpuCount > 0 ? offered.slice(gpuTaken[chosen], gpuTaken[chosen] + gpuCount) : [];
    gpuTaken[chosen] += gpuCount;
    const newScore = weightedSum(free, chosen * D, weight, D);
    if (belowMinimum(free, chosen * D, minNeed, D)) pool.removeAt(at);
    else pool.moveDown(at, chosen, newScore);
    assignments.push({ taskId: task.id, workerId: workers[chosen].id, gpuIndices });
  }

  const explain = unplaced.length > 0 ? new Explainer(req.workers, workers, cap, D) : undefined;
  const pending = unplaced.map((t) => explain!.unplaced(tasks[t], need, t * D));
  return { assignments, pending };
}

/**
 * Priority first (higher first), then FIFO. Within a stretch of one priority and one group, the tasks with a
 * known duration are reordered longest first among the queue positions they hold, and the others keep FIFO
 * order. A plain pairwise comparator ("by duration when both have one, else by seq") is not transitive, and
 * sorting with it would depend on the input order.
 */
export function orderTasks(tasks: readonly PlacementTask[]): PlacementTask[] {
  const out = [...tasks].sort((a, b) => b.priority - a.priority || a.seq - b.seq || compareStrings(a.id, b.id));
  for (let i = 0; i < out.length; ) {
    let j = i;
    const slots: number[] = [];
    while (j < out.length && out[j].priority === out[i].priority && out[j].group === out[i].group) {
      if (out[j].durationMs !== undefined) slots.push(j);
      j++;
    }
    if (slots.length > 1) {
      const timed = slots
        .map((k) => out[k])
        .sort((a, b) => b.durationMs! - a.durationMs! || a.seq - b.seq || compareStrings(a.id, b.id));
      slots.forEach((k, n) => (out[k] = timed[n]));
    }
    i = j;
  }
  return out;
}

/** Workers of one kind (with or without GPUs), ordered by (free score, index): a sorted index over typed arrays. */
class Pool {
  private order: Int32Array;
  length = 0;
  /** Per-dimension largest capacity in the pool: a task above it on any dimension skips the pool. */
  readonly maxCap: Float64Array;

  constructor(
    private readonly score: Float64Array,
    dimensions: number,
  ) {
    this.order = new Int32Array(score.length);
    this.maxCap = new Float64Array(dimensions);
  }

  push(w: number): void {
    this.order[this.length++] = w;
  }

  sort(): void {
    const s = this.score;
    const sorted = Array.from(this.order.subarray(0, this.length)).sort((a, b) => s[a] - s[b] || a - b);
    this.order.set(sorted);
  }

  /** The fitting worker with the smallest free score (= least leftover), avoided workers only as a fallback. */
  bestFit(
    need: Float64Array,
    row: number,
    free: Float64Array,
    lowerBound: number,
    avoid: Set<string> | undefined,
    workers: readonly PlacementWorker[],
  ): number {
    const D = this.maxCap.length;
    let fallback = -1;
    for (let p = this.firstAtLeast(lowerBound); p < this.length; p++) {
      const w = this.order[p];
      if (!fitsRow(need, row, free, w * D, D)) continue;
      if (avoid && avoid.has(workers[w].id)) {
        if (fallback < 0) fallback = w;
        continue;
      }
      return w;
    }
    return fallback;
  }

  indexOf(w: number): number {
    return this.position(this.score[w], w, 0, this.length);
  }

  removeAt(p: number): void {
    this.order.copyWithin(p, p + 1, this.length);
    this.length--;
  }

  /** A placement only lowers a worker's score: shift it left to its new place. Updates the score array. */
  moveDown(p: number, w: number, newScore: number): void {
    this.score[w] = newScore;
    const q = this.position(newScore, w, 0, p);
    if (q < p) {
      this.order.copyWithin(q + 1, q, p);
      this.order[q] = w;
    }
  }

  private firstAtLeast(s: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.score[this.order[mid]] < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First position in [lo, hi) whose (score, index) is not below (s, w). */
  private position(s: number, w: number, lo: number, hi: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.order[mid];
      const ms = this.score[m];
      if (ms < s || (ms === s && m < w)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface CapacityShape {
  capacity: Resources;
  count: number;
  sample: PlacementWorker;
}

/**
 * Builds the human reasons for tasks left pending, once per distinct request shape. Counting the workers whose
 * capacity fits is a scan over the distinct capacities (typed rows sorted by cpu, descending, so a binary search
 * cuts off those with too few cores); fleets with many one-off capacities use a bitset index instead, because
 * thousands of distinct pending shapes times a thousand capacities would cost more than the placement itself.
 */
class Explainer {
  private readonly memo = new Map<string, Omit<Unplaced, 'taskId'>>();
  private readonly shapes: CapacityShape[];
  private readonly rows: Float64Array;
  private readonly index: CapacityIndex | undefined;

  constructor(
    private readonly all: readonly PlacementWorker[],
    schedulable: readonly PlacementWorker[],
    cap: Float64Array,
    private readonly D: number,
  ) {
    const byKey = new Map<string, { shape: CapacityShape; w: number }>();
    schedulable.forEach((worker, w) => {
      const key = rowKey(cap, w * D, D);
      const seen = byKey.get(key);
      if (seen) seen.shape.count++;
      else byKey.set(key, { shape: { capacity: worker.capacity, count: 1, sample: worker }, w });
    });
    const distinct = [...byKey.values()].sort((a, b) => cap[b.w * D + CPU] - cap[a.w * D + CPU] || a.w - b.w);
    this.shapes = distinct.map((x) => x.shape);
    this.rows = new Float64Array(distinct.length * D);
    distinct.forEach((x, s) => this.rows.set(cap.subarray(x.w * D, x.w * D + D), s * D));
    this.index = distinct.length > SCAN_SHAPES ? CapacityIndex.build(cap, schedulable.length, D) : undefined;
  }

  unplaced(task: PlacementTask, need: Float64Array, row: number): Unplaced {
    const key = rowKey(need, row, this.D);
    let why = this.memo.get(key);
    if (!why) {
      why = this.explain(task.resources, need, row);
      this.memo.set(key, why);
    }
    return { taskId: task.id, reason: why.reason, infeasible: why.infeasible };
  }

  private explain(r: Resources, need: Float64Array, row: number): Omit<Unplaced, 'taskId'> {
    const D = this.D;
    if (this.all.length === 0) return { reason: 'no workers', infeasible: true };
    if (this.shapes.length === 0) {
      return { reason: `no schedulable workers (${this.all.length} draining or quarantined)`, infeasible: true };
    }
    let fitting = 0;
    if (this.index) fitting = this.index.count(need, row);
    else {
      for (let s = 0, end = this.withCoresAtLeast(need[row + CPU]); s < end; s++) {
        if (fitsRow(need, row, this.rows, s * D, D)) fitting += this.shapes[s].count;
      }
    }
    if (fitting > 0) {
      return { reason: `waiting for resources: all fitting workers are busy (${fitting})`, infeasible: false };
    }

    // Name the shortfall against the closest worker: fewest short dimensions, then the smallest gap, then by id.
    const request = { ...r, gpus: wholeGpus(r.gpus) };
    const gaps = this.shapes.map((s) => ({
      ...s,
      gap: shortfall(request, s.capacity),
      coverage: coverage(request, s.capacity),
    }));
    gaps.sort(
      (a, b) => a.gap.length - b.gap.length || b.coverage - a.coverage || compareStrings(a.sample.id, b.sample.id),
    );
    const closest = gaps[0];
    const text = closest.gap.join(', ');
    const where = gaps.every((g) => g.gap.join(', ') === text)
      ? 'on every worker'
      : `on the closest worker ${closest.sample.id} (${closest.sample.type})`;
    return { reason: `no worker can ever fit it: needs ${text} ${where}`, infeasible: true };
  }

  /** How many leading shapes (sorted by cpu, descending) have at least `cpu` cores. */
  private withCoresAtLeast(cpu: number): number {
    let lo = 0;
    let hi = this.shapes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rows[mid * this.D + CPU] + EPSILON >= cpu) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Counts the workers whose capacity holds a request. On each dimension the workers with at least v form a prefix
 * of that dimension's capacity order; each prefix is kept as a bitset over workers, so a count is one AND per
 * requested dimension and a popcount, whatever the number of distinct capacities.
 */
class CapacityIndex {
  private readonly acc: Uint32Array;

  private constructor(
    private readonly words: number,
    /** Per dimension: the distinct capacities, descending. */
    private readonly values: Float64Array[],
    /** Per dimension: row i (words long) = the workers with capacity >= values[i]. */
    private readonly sets: Uint32Array[],
    private readonly lastMask: number,
  ) {
    this.acc = new Uint32Array(words);
  }

  /** Undefined when the bitsets would take more than INDEX_MAX_WORDS on some dimension (then scan instead). */
  static build(cap: Float64Array, W: number, D: number): CapacityIndex | undefined {
    const words = Math.ceil(W / 32);
    const values: Float64Array[] = [];
    const sets: Uint32Array[] = [];
    const byCapacity = Array.from({ length: W }, (_, w) => w);
    for (let d = 0; d < D; d++) {
      byCapacity.sort((a, b) => cap[b * D + d] - cap[a * D + d]);
      const distinct: number[] = [];
      for (const w of byCapacity) {
        const v = cap[w * D + d];
        if (distinct.length === 0 || distinct[distinct.length - 1] !== v) distinct.push(v);
      }
      if (distinct.length * words > INDEX_MAX_WORDS) return undefined;
      const rows = new Uint32Array(distinct.length * words);
      let i = 0;
      for (let k = 0; k < W; k++) {
        const w = byCapacity[k];
        // A new value starts a row as a copy of the previous one (the workers with more), then adds its workers.
        if (k > 0 && cap[w * D + d] !== cap[byCapacity[k - 1] * D + d]) {
          i++;
          rows.copyWithin(i * words, (i - 1) * words, i * words);
        }
        rows[i * words + (w >>> 5)] |= 1 << (w & 31);
      }
      values.push(Float64Array.from(distinct));
      sets.push(rows);
    }
    const lastMask = W % 32 === 0 ? 0xffffffff : (1 << W % 32) - 1;
    return new CapacityIndex(words, values, sets, lastMask);
  }

  count(need: Float64Array, row: number): number {
    const { acc, words } = this;
    acc.fill(0xffffffff);
    if (words > 0) acc[words - 1] = this.lastMask;
    for (let d = 0; d < this.values.length; d++) {
      const v = need[row + d];
      if (v <= EPSILON) continue; // every capacity is >= 0
      const values = this.values[d];
      let lo = 0;
      let hi = values.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (values[mid] + EPSILON >= v) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) return 0;
      const set = this.sets[d];
      const base = (lo - 1) * words;
      for (let k = 0; k < words; k++) acc[k] &= set[base + k];
    }
    let n = 0;
    for (let k = 0; k < words; k++) n += popcount(acc[k]);
    return n;
  }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) >>> 0;
}

// Helpers over flat typed-array vectors (one row of D numbers per task or worker).

function dimensionsOf(tasks: readonly PlacementTask[], workers: readonly PlacementWorker[]): string[] {
  const custom = new Set<string>();
  const collect = (r: Resources) => {
    if (r.custom) for (const k of Object.keys(r.custom)) custom.add(k);
  };
  for (const t of tasks) collect(t.resources);
  for (const w of workers) {
    collect(w.capacity);
    collect(w.reserved);
  }
  return [...RESOURCE_NAMES, ...[...custom].sort()];
}

function writeVector(out: Float64Array, at: number, r: Resources, dims: readonly string[]): void {
  for (let d = 0; d < RESOURCE_NAMES.length; d++) out[at + d] = orZero(r[RESOURCE_NAMES[d]]);
  if (r.custom) for (let d = RESOURCE_NAMES.length; d < dims.length; d++) out[at + d] = orZero(r.custom[dims[d]]);
}

// Inputs are validated upstream; a stray NaN or missing value still must not poison the sorted order.
function orZero(n: number | undefined): number {
  return n === undefined || Number.isNaN(n) ? 0 : n;
}

function weightedSum(v: Float64Array, at: number, weight: Float64Array, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) s += v[at + d] * weight[d];
  return s;
}

function fitsRow(need: Float64Array, row: number, avail: Float64Array, at: number, D: number): boolean {
  for (let d = 0; d < D; d++) if (need[row + d] > avail[at + d] + EPSILON) return false;
  return true;
}

/** True when a worker can no longer hold even the smallest request of the batch. */
function belowMinimum(free: Float64Array, at: number, minNeed: Float64Array, D: number): boolean {
  for (let d = 0; d < D; d++) if (free[at + d] + EPSILON < minNeed[d]) return true;
  return false;
}

function dominatesAny(need: Float64Array, row: number, failed: readonly Float64Array[], D: number): boolean {
  outer: for (const f of failed) {
    for (let d = 0; d < D; d++) if (need[row + d] < f[d]) continue outer;
    return true;
  }
  return false;
}

/** Keeps only the minimal failed shapes: a larger one adds nothing once a smaller one is known to fail. */
function rememberFailure(failed: Float64Array[], shape: Float64Array, D: number): void {
  for (let i = failed.length - 1; i >= 0; i--) {
    let dominates = true;
    for (let d = 0; d < D; d++) if (failed[i][d] < shape[d]) dominates = false;
    if (dominates) failed.splice(i, 1);
  }
  if (failed.length < MAX_FAILED_SHAPES) failed.push(shape);
}

/** GPUs are handed out as whole devices: a request for 0.5 takes one. */
function wholeGpus(n: number): number {
  return n > EPSILON ? Math.ceil(n - EPSILON) : 0;
}

function rowKey(v: Float64Array, at: number, D: number): string {
  let key = String(v[at]);
  for (let d = 1; d < D; d++) key += '|' + v[at + d];
  return key;
}

/** How much of a request a capacity covers, summed over the requested dimensions (each at most 1). */
function coverage(request: Resources, capacity: Resources): number {
  let sum = 0;
  for (const n of RESOURCE_NAMES) if (request[n] > 0) sum += Math.min(1, capacity[n] / request[n]);
  for (const [k, v] of Object.entries(request.custom ?? {})) {
    if (v > 0) sum += Math.min(1, (capacity.custom?.[k] ?? 0) / v);
  }
  return sum;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
