// Worker-type recommendation: which worker types, and how many of each, would place the pending demand.
//
// A simulation in the style of Karpenter's Solve over existing nodes plus candidate node claims: the pending tasks
// are placed with the real placement (placement.placeTasks) on the existing workers' free capacity plus virtual,
// empty instances of the templates; while some task is left over, instances are added for it and the placement is
// run again. So the counts are the ones the scheduler's own placement fills, not an estimate of it. Pure and
// deterministic: no I/O, no clock, same request -> same reply.
//
// Which type a task asks for (least waste): among the types that can hold it, the one with the smallest
// instance size per copy of the task, size(type) / copies(type, task), where size sums the type's capacity
// over cpu, memory, GPUs and GPU memory, each divided by the largest capacity among the types, and copies is
// how many of the task fit one empty instance. A small task so goes to the small `cpu` type, a task with a lot
// of memory per core to `high-memory`. A GPU type is chosen for a task that needs no GPU only when no CPU type
// can ever hold it (placement's GPU protection keeps such tasks off GPU workers otherwise).
//
// How many are added: first, for the tasks that prefer a type, the lower bound max over dimensions of
// ceil(sum of requests / capacity), which never overshoots; then, for what fragmentation leaves over, one
// instance per left-over task (best fit packs them into the first few); instances left empty are dropped.
// All within maxPerType.

import { placeTasks, type PlacementReply, type PlacementTask, type PlacementWorker } from './placement.js';
import { fits, needsGpu, RESOURCE_NAMES, resources, shortfall, utilization, type Resources } from './resources.js';
import type { WorkerType } from './worker-types.js';

export interface PendingDemand {
  /** Unique among the pending tasks. */
  id: string;
  resources: Resources;
  /** Higher first, as in placement (default 0); input order is FIFO within a priority. */
  priority?: number;
  /** Expected duration, as the scheduler passes it (longest first within a priority). */
  durationMs?: number;
}

export interface RecommendOptions {
  /** Most new instances of a type (absent: unbounded; 0: never recommended). */
  maxPerType?: Record<string, number>;
  /** Workers that exist now; their free capacity is used first and needs no recommendation. */
  existing?: readonly PlacementWorker[];
}

export interface Recommendation {
  workerType: string;
  /** New instances of the type to create. */
  count: number;
  /** Pending tasks the simulation placed on those instances. */
  tasks: number;
  /** Reserved / capacity over those instances, per dimension (0..1, three decimals). */
  expectedUtilization: { cpu: number; memory: number; gpu: number };
}

export interface UnplaceableTask {
  taskId: string;
  reason: string;
}

export interface RecommendReply {
  /** In the order of `workerTypes`; only types with count > 0. */
  recommendations: Recommendation[];
  unplaceable: UnplaceableTask[];
}

// Safety bound on simulation rounds; each round adds at least one instance, and in practice two or three suffice.
const MAX_ROUNDS = 64;
// Virtual instance ids: '~' sorts after letters and digits, so on a tie placement prefers an existing worker.
const VIRTUAL_PREFIX = '~recommend/';
// Same tolerance as placement: fractional sums (0.1 + 0.2) must not round up to another instance.
const EPSILON = 1e-9;

export function recommend(
  pending: readonly PendingDemand[],
  workerTypes: readonly WorkerType[],
  opts: RecommendOptions = {},
): RecommendReply {
  const existing = opts.existing ?? [];
  const tasks: PlacementTask[] = pending.map((p, i) => ({
    id: p.id,
    priority: p.priority ?? 0,
    seq: i,
    resources: p.resources,
    ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
  }));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const limit = (k: number) => {
    const max = opts.maxPerType?.[workerTypes[k].name];
    return max === undefined ? Infinity : Math.max(0, Math.floor(max));
  };
  const prefer = new Preferences(workerTypes, limit);
  const prefix = virtualPrefix(existing);
  const counts = workerTypes.map(() => 0);
  let virtual: PlacementWorker[] = [];
  // With no existing capacity, everything is left over: skip that run (it only orders and explains).
  let reply: PlacementReply = existing.some((w) => w.schedulable)
    ? placeTasks({ tasks, workers: existing })
    : { assignments: [], pending: tasks.map((t) => ({ taskId: t.id, reason: 'no workers' })) };

  for (let round = 0; round < MAX_ROUNDS && reply.pending.length > 0; round++) {
    // Left-over demand per preferred type (the first that may still grow).
    const demand = new Map<number, { sum: Resources; tasks: number }>();
    for (const u of reply.pending) {
      const request = wholeGpus(byId.get(u.taskId)!.resources);
      const k = prefer.of(request).find((t) => counts[t] < limit(t));
      if (k === undefined) continue;
      const d = demand.get(k);
      if (d) {
        addInto(d.sum, request);
        d.tasks++;
      } else {
        demand.set(k, { sum: { ...request, custom: request.custom ? { ...request.custom } : undefined }, tasks: 1 });
      }
    }
    if (demand.size === 0) break;
    const before = virtual.length;
    for (const k of [...demand.keys()].sort((a, b) => a - b)) {
      const d = demand.get(k)!;
      // First round: the lower bound, which never overshoots. Later rounds: what is left is fragmentation, and
      // placement is not monotone: a new CPU instance also draws back CPU tasks that had spilled onto spare room
      // of GPU instances, so one instance per left-over task may not be enough. Doubling that each round ends it
      // in a few rounds; instances that stay empty are trimmed below.
      const want = round === 0 ? Math.max(1, lowerBound(d.sum, workerTypes[k].resources)) : d.tasks * 2 ** (round - 1);
      // More instances of a type than there are tasks can never be filled.
      const add = Math.min(limit(k) - counts[k], tasks.length - counts[k], want);
      for (let i = 0; i < add; i++) virtual.push(instance(prefix, workerTypes[k], counts[k]++));
    }
    if (virtual.length === before) break;
    reply = placeTasks({ tasks, workers: [...existing, ...virtual] });
  }

  // Drop instances the final placement left empty.
  const used = new Set(reply.assignments.map((a) => a.workerId));
  const trimmed = virtual.filter((w) => used.has(w.id));
  if (trimmed.length < virtual.length) {
    // Placement weighs dimensions by the fleet's largest capacities; while those are unchanged, dropping workers
    // it never chose changes none of its choices, and the run can be skipped.
    if (sameMaxCapacity([...existing, ...virtual], [...existing, ...trimmed])) virtual = trimmed;
    else {
      const again = placeTasks({ tasks, workers: [...existing, ...trimmed] });
      if (again.pending.length <= reply.pending.length) {
        virtual = trimmed;
        reply = again;
      }
    }
  }

  return {
    recommendations: summarize(reply, virtual, workerTypes, byId),
    unplaceable: reply.pending.map((u) => ({ taskId: u.taskId, reason: whyUnplaceable(byId.get(u.taskId)!.resources, workerTypes, limit) })),
  };
}

/** Per task shape, the types that can hold it, least waste first (see the header). Memoized by shape. */
class Preferences {
  private readonly memo = new Map<string, number[]>();
  private readonly sizes: number[];

  constructor(
    private readonly types: readonly WorkerType[],
    private readonly limit: (k: number) => number,
  ) {
    const maxCap = RESOURCE_NAMES.map((n) => Math.max(0, ...types.map((t) => t.resources[n])));
    this.sizes = types.map((t) => RESOURCE_NAMES.reduce((s, n, d) => s + (maxCap[d] > 0 ? t.resources[n] / maxCap[d] : 0), 0));
  }

  of(request: Resources): number[] {
    const key = shapeKey(request);
    let order = this.memo.get(key);
    if (!order) {
      order = this.compute(request);
      this.memo.set(key, order);
    }
    return order;
  }

  private compute(request: Resources): number[] {
    const wantsGpu = needsGpu(request);
    const fitting = this.types
      .map((t, k) => ({ k, gpu: t.resources.gpus > 0, cost: this.sizes[k] / copies(request, t.resources), size: this.sizes[k] }))
      .filter((c) => fits(request, this.types[c.k].resources));
    // Judged before limits: CPU work that a CPU type could hold waits for one rather than start a GPU
    // instance because the CPU types are at their limit.
    const cpuTypeFits = fitting.some((c) => !c.gpu);
    const candidates = fitting.filter((c) => this.limit(c.k) > 0 && (wantsGpu || !c.gpu || !cpuTypeFits));
    // CPU types first for CPU work; a GPU type only as its last resort. GPU work can only fit GPU types anyway.
    const rank = (gpu: boolean) => (wantsGpu || !gpu ? 0 : 1);
    candidates.sort(
      (a, b) =>
        rank(a.gpu) - rank(b.gpu) ||
        a.cost - b.cost ||
        a.size - b.size ||
        compareStrings(this.types[a.k].name, this.types[b.k].name),
    );
    return candidates.map((c) => c.k);
  }
}

/** How many copies of `request` one empty instance holds (Infinity for an all-zero request). */
function copies(request: Resources, capacity: Resources): number {
  let n = Infinity;
  for (const name of RESOURCE_NAMES) {
    if (request[name] > EPSILON) n = Math.min(n, Math.floor(capacity[name] / request[name] + EPSILON));
  }
  for (const [k, v] of Object.entries(request.custom ?? {})) {
    if (v > EPSILON) n = Math.min(n, Math.floor((capacity.custom?.[k] ?? 0) / v + EPSILON));
  }
  return Math.max(1, n);
}

/** Instances needed at least: max over dimensions of ceil(demand / capacity). */
function lowerBound(demand: Resources, capacity: Resources): number {
  let n = 0;
  const need = (d: number, c: number) => (d > EPSILON && c > 0 ? Math.ceil(d / c - EPSILON) : 0);
  for (const name of RESOURCE_NAMES) n = Math.max(n, need(demand[name], capacity[name]));
  for (const [k, v] of Object.entries(demand.custom ?? {})) n = Math.max(n, need(v, capacity.custom?.[k] ?? 0));
  return n;
}

function summarize(
  reply: PlacementReply,
  virtual: readonly PlacementWorker[],
  types: readonly WorkerType[],
  byId: ReadonlyMap<string, PlacementTask>,
): Recommendation[] {
  const typeOf = new Map(virtual.map((w) => [w.id, w.type]));
  const per = new Map<string, { count: number; tasks: number; used: Resources }>();
  for (const w of virtual) {
    const entry = per.get(w.type) ?? { count: 0, tasks: 0, used: resources() };
    entry.count++;
    per.set(w.type, entry);
  }
  for (const a of reply.assignments) {
    const type = typeOf.get(a.workerId);
    if (type === undefined) continue;
    const entry = per.get(type)!;
    entry.tasks++;
    addInto(entry.used, wholeGpus(byId.get(a.taskId)!.resources));
  }
  const out: Recommendation[] = [];
  for (const t of types) {
    const entry = per.get(t.name);
    if (!entry || entry.count === 0) continue;
    const capacity = scale(t.resources, entry.count);
    const u = utilization(entry.used, capacity);
    out.push({
      workerType: t.name,
      count: entry.count,
      tasks: entry.tasks,
      expectedUtilization: { cpu: round3(u.cpu), memory: round3(u.memory), gpu: round3(u.gpu) },
    });
  }
  return out;
}

function whyUnplaceable(request: Resources, types: readonly WorkerType[], limit: (k: number) => number): string {
  if (types.length === 0) return 'no worker types to recommend';
  const r = wholeGpus(request);
  const fitting = types.map((t, k) => ({ t, k })).filter(({ t }) => fits(r, t.resources));
  if (fitting.length === 0) {
    // Name the shortfall against the closest type: fewest short dimensions, then the smallest gap, then a type
    // of the task's own kind (GPU or not), then by name.
    const wantsGpu = needsGpu(r);
    const gaps = types
      .map((t) => ({ t, gap: shortfall(r, t.resources), coverage: coverage(r, t.resources), kind: (t.resources.gpus > 0) === wantsGpu ? 0 : 1 }))
      .sort(
        (a, b) =>
          a.gap.length - b.gap.length || b.coverage - a.coverage || a.kind - b.kind || compareStrings(a.t.name, b.t.name),
      );
    const text = gaps[0].gap.join(', ');
    const where = gaps.every((g) => g.gap.join(', ') === text) ? 'on every type' : `on the closest type ${gaps[0].t.name}`;
    return `no worker type can fit it: needs ${text} ${where}`;
  }
  // As in the type order: a GPU type is no option for CPU work that a CPU type could hold.
  const eligible = needsGpu(r) || !fitting.some(({ t }) => t.resources.gpus === 0) ? fitting : fitting.filter(({ t }) => t.resources.gpus === 0);
  const capped = eligible.filter(({ k }) => Number.isFinite(limit(k)));
  if (capped.length === eligible.length) {
    return `worker type limit reached: ${capped.map(({ t, k }) => `${t.name} (max ${limit(k)})`).join(', ')}`;
  }
  return `not placed after ${MAX_ROUNDS} simulation rounds`;
}

function sameMaxCapacity(a: readonly PlacementWorker[], b: readonly PlacementWorker[]): boolean {
  const max = (ws: readonly PlacementWorker[]) => {
    const m = new Map<string, number>();
    for (const w of ws) {
      if (!w.schedulable) continue;
      for (const n of RESOURCE_NAMES) m.set(n, Math.max(m.get(n) ?? 0, w.capacity[n]));
      for (const [k, v] of Object.entries(w.capacity.custom ?? {})) m.set(`custom.${k}`, Math.max(m.get(`custom.${k}`) ?? 0, v));
    }
    return m;
  };
  const ma = max(a);
  const mb = max(b);
  return ma.size === mb.size && [...ma].every(([k, v]) => mb.get(k) === v);
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

function instance(prefix: string, type: WorkerType, n: number): PlacementWorker {
  return {
    id: `${prefix}${type.name}/${String(n).padStart(6, '0')}`,
    type: type.name,
    capacity: type.resources,
    reserved: resources(),
    freeGpuIndices: Array.from({ length: Math.max(0, Math.floor(type.resources.gpus)) }, (_, i) => i),
    schedulable: true,
  };
}

/** A prefix no existing worker id starts with, so virtual instances never collide with real ones. */
function virtualPrefix(existing: readonly PlacementWorker[]): string {
  let prefix = VIRTUAL_PREFIX;
  while (existing.some((w) => w.id.startsWith(prefix))) prefix = `~${prefix}`;
  return prefix;
}

/** GPUs are handed out as whole devices (as placement does): a request for 0.5 takes one. */
function wholeGpus(r: Resources): Resources {
  return r.gpus > EPSILON && !Number.isInteger(r.gpus) ? { ...r, gpus: Math.ceil(r.gpus - EPSILON) } : r;
}

function addInto(sum: Resources, r: Resources): void {
  sum.cpu += r.cpu;
  sum.memoryMb += r.memoryMb;
  sum.gpus += r.gpus;
  sum.gpuMemoryMb += r.gpuMemoryMb;
  if (r.custom) {
    sum.custom ??= {};
    for (const [k, v] of Object.entries(r.custom)) sum.custom[k] = (sum.custom[k] ?? 0) + v;
  }
}

function scale(r: Resources, n: number): Resources {
  const out = resources({ cpu: r.cpu * n, memoryMb: r.memoryMb * n, gpus: r.gpus * n, gpuMemoryMb: r.gpuMemoryMb * n });
  if (r.custom) out.custom = Object.fromEntries(Object.entries(r.custom).map(([k, v]) => [k, v * n]));
  return out;
}

function shapeKey(r: Resources): string {
  let key = `${r.cpu}|${r.memoryMb}|${r.gpus}|${r.gpuMemoryMb}`;
  if (r.custom) for (const k of Object.keys(r.custom).sort()) key += `|${k}=${r.custom[k]}`;
  return key;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
