// The DynamicResourceManager policy: how the fleet should grow or shrink right now.
//
// One pure call, `decideScaling(request) -> reply`, in the style of Ray autoscaler v2's schedule(SchedulingRequest):
// the request is a plain record of everything the decision needs (workers, pending demand, instances in flight,
// worker types with their limits, configuration, the clock, the recommender); the reply says which types to launch
// and how many, which workers to drain, terminate or take back, and which tasks can never run. Nothing here talks to
// a provider or reads a clock: the coordinator's scaling executor acts on the reply and feeds back what it observed.
//
// Policy (the numbers are ScalingConfig):
// - Infeasible: a pending task that fits no creatable worker type (max > 0) and no live worker is reported with a
//   reason, so the coordinator fails it at once instead of letting it wait forever.
// - Demand-driven scale-up (Karpenter-style simulation): placeTasks places the pending tasks on the free capacity of
//   the schedulable workers plus virtual workers for every instance being provisioned. What is left first goes to
//   workers this policy is draining (taken back: cheaper and faster than a new worker), then to the recommender,
//   which says which types and how many.
// - Utilization-driven scale-up: a type whose reserved utilization (dominant resource, capacity being provisioned
//   included) is above scaleUpThreshold gets enough new workers to bring it down to targetUtilization. The check is
//   per evaluation; counting in-flight capacity is what stops it from firing again while those workers start.
// - Minimums: a type below its `min` (live, not draining, plus in flight) is brought up to it.
// - Limits: per type `max` (live + in flight), config.maxWorkers over the whole fleet, and a growth budget of
//   max(minGrowthStep, (maxGrowthFactor - 1) x fleet) new workers per evaluation ("at most double, minimum 5"),
//   shared round-robin between the types that want workers so one large queue cannot starve a GPU task.
// - Scale-down, in two steps so that no running task is ever killed: a worker `active` and idle for at least
//   idleTimeoutMs is drained (scale_down decision); on a later evaluation a worker this policy drained that is still
//   idle is listed in `terminate`, and one that got work meanwhile is listed in `undrain` instead. A type is shrunk
//   only while its reserved utilization is below scaleDownThreshold, and only as far as the utilization of the
//   remaining workers stays at or below targetUtilization (the hysteresis band [scaleDown, scaleUp] means maintain),
//   longest idle first, never below its `min`. No new drain during cooldownAfterScaleUpMs after a scale-up or in an
//   evaluation that scales up (anti-flap); terminating workers that were already drained is not blocked.
// - Maintain: when nothing is launched or drained the reply holds exactly one `maintain` decision with the reason.
//   Every decision has a `cause`; use shouldRecordDecision() to store a maintain only when its cause changed, so the
//   table does not grow by one row per evaluation.
//
// Workers of a type not in `workerTypes` are never drained (nothing could replace them) but their capacity is used.
// Decisions use reservations, not measured usage: placement admits by reservation, so a task that reserved 8 GB and
// uses 1 still blocks 8.

import { z } from 'zod';
import { placeTasks, type PlacementTask, type PlacementWorker } from './placement.js';
import { add, fits, resources, shortfall, type Resources } from './resources.js';
import type { WorkerType } from './worker-types.js';

// ------------------------------------------------------------------------------------------------ configuration

export const ScalingConfigSchema = z
  .object({
    /** A type whose reserved utilization (dominant resource) is above this gets more workers. */
    scaleUpThreshold: z.number().gt(0).lte(1).default(0.8),
    /** Utilization must stay above scaleUpThreshold this long before it alone adds workers (one busy moment is no trend). */
    utilizationSustainMs: z.number().int().nonnegative().default(30_000),
    /** Utilization-driven scale-up adds enough workers to bring the type down to this; scale-down stops above it. */
    targetUtilization: z.number().gt(0).lte(1).default(0.7),
    /** Idle workers of a type are drained only while the type's reserved utilization is below this. */
    scaleDownThreshold: z.number().gte(0).lt(1).default(0.3),
    /** A worker must have been idle this long before it is drained. */
    idleTimeoutMs: z.number().int().nonnegative().default(30_000),
    /** No new drain for this long after a scale-up (anti-flap). */
    cooldownAfterScaleUpMs: z.number().int().nonnegative().default(60_000),
    /** How often the executor evaluates (it also evaluates soon after new unplaceable demand). Not used here. */
    evaluationIntervalMs: z.number().int().positive().default(5_000),
    /** The fleet may grow to at most this factor of its size in one evaluation ... */
    maxGrowthFactor: z.number().gte(1).default(2),
    /** ... but always by at least this many workers (so an empty or small fleet can start). */
    minGrowthStep: z.number().int().positive().default(5),
    /** Live plus in-flight workers over all types. */
    maxWorkers: z.number().int().nonnegative().default(100),
  })
  .strict()
  .refine((c) => c.scaleDownThreshold < c.targetUtilization && c.targetUtilization <= c.scaleUpThreshold, {
    message: 'expected scaleDownThreshold < targetUtilization <= scaleUpThreshold',
  });

export type ScalingConfig = z.output<typeof ScalingConfigSchema>;

export const DEFAULT_SCALING_CONFIG: Readonly<ScalingConfig> = Object.freeze(ScalingConfigSchema.parse({}));

/** Defaults merged under `partial`, validated (throws a ZodError naming the field). */
export function scalingConfig(partial: Partial<ScalingConfig> = {}): ScalingConfig {
  return ScalingConfigSchema.parse(partial);
}

// ------------------------------------------------------------------------------------------------ request / reply

export type ScalingWorkerState = 'connecting' | 'active' | 'draining' | 'lost' | 'terminated';

export interface ScalingWorker {
  id: string;
  type: string;
  provider: string;
  capacity: Resources;
  /** What its assigned and running tasks hold. */
  reserved: Resources;
  /** Measured use (informational: decisions use reservations). */
  usage?: { cpu: number; memoryMb: number; gpus?: number; gpuMemoryMb?: number };
  state: ScalingWorkerState;
  /** Since when it has had no task (epoch ms); null while it has one. */
  idleSinceMs: number | null;
  /**
   * Who put a draining worker in that state. Only workers drained by this policy ('scaling', the default) are
   * terminated or taken back; an operator's `drm drain` is left alone.
   */
  drainedBy?: 'scaling' | 'operator';
}

export interface ScalingPendingTask {
  id: string;
  /** Declared or predicted. */
  resources: Resources;
  priority: number;
  /** Arrival order (FIFO within a priority); the list order when absent. */
  seq?: number;
}

export interface ScalingWorkerType extends WorkerType {
  /** Live (not draining) plus in-flight workers never go below this. */
  min: number;
  /** Live plus in-flight workers of this type never exceed this; 0 means the type is never created. */
  max: number;
}

export interface RecommenderOptions {
  /** The most NEW workers of each type the recommender may propose: the type's max less its live and in-flight workers. */
  maxPerType: Record<string, number>;
  /** Workers whose free capacity is used first. Empty here: the pending tasks passed already fit none of them. */
  existing: readonly PlacementWorker[];
}

export interface RecommenderReply {
  recommendations: readonly { workerType: string; count: number; expectedUtilization: { cpu: number; memory: number; gpu: number } }[];
  unplaceable: readonly { taskId: string; reason: string }[];
}

/** core/recommend's shape (`recommend` from ./recommend.js fits it): which worker types, and how many, would place `pending`. */
export type Recommender = (pending: readonly PlacementTask[], workerTypes: readonly WorkerType[], opts: RecommenderOptions) => RecommenderReply;

export interface ScalingRequest {
  now: number;
  workers: readonly ScalingWorker[];
  /** Tasks that are ready to run (dependencies done) and not placed. */
  pending: readonly ScalingPendingTask[];
  /** Instances requested or starting that have not joined yet. */
  provisioning: readonly { type: string; count: number }[];
  workerTypes: readonly ScalingWorkerType[];
  config: ScalingConfig;
  /** When the last scale-up was executed (epoch ms), null if never. */
  lastScaleUpAt: number | null;
  recommend: Recommender;
  /**
   * Since when each type's reserved utilization has been above scaleUpThreshold without a break (from the
   * previous replies' `aboveThreshold`); a type absent here has just crossed it.
   */
  aboveThresholdSince?: Readonly<Record<string, number>>;
}

export type ScalingAction = 'scale_up' | 'scale_down' | 'maintain';

/** Why a decision was taken, as a stable code (the reason says it in words). */
export type ScalingCause =
  | 'pending_demand'
  | 'below_min'
  | 'high_utilization'
  | 'idle'
  | 'provisioning'
  | 'at_limit'
  | 'cooldown'
  | 'steady';

export interface ScalingUtilization {
  cpu: number;
  memory: number;
  gpu: number;
  overall: number;
}

export interface ScalingDecision {
  at: number;
  action: ScalingAction;
  /** null for a fleet-wide maintain. */
  workerType: string | null;
  count: number;
  /** The workers drained by a scale_down; empty otherwise. */
  workerIds: string[];
  cause: ScalingCause;
  reason: string;
  /** Reserved utilization of the schedulable fleet (active and connecting workers). */
  utilization: ScalingUtilization;
  /** Sum of the feasible pending tasks' resources. */
  pendingDemand: Resources;
}

export interface ScalingReply {
  /** scale_up decisions by type name, then scale_down by type name; or one maintain. */
  decisions: ScalingDecision[];
  /** Workers to start draining (the scale_down decisions' workerIds). */
  drain: string[];
  /** Workers this policy drained that are still idle: safe to stop. */
  terminate: string[];
  /** Draining workers to make schedulable again: they got work, or pending demand fits them. */
  undrain: string[];
  /** Tasks that no worker type can ever fit: fail them now. */
  infeasible: { taskId: string; reason: string }[];
  /** Types whose reserved utilization is above scaleUpThreshold now (the caller tracks since when). */
  aboveThreshold: string[];
}

// ------------------------------------------------------------------------------------------------ policy

// Same tolerance as resources.fits.
const EPSILON = 1e-9;
const DIMENSIONS = ['cpu', 'memoryMb', 'gpus', 'gpuMemoryMb'] as const;
// Ids of the simulated in-flight workers sort after every real id, so placement's tie-break prefers a real worker
// (a real idle worker that the simulation uses is not drained).
const VIRTUAL = '\uffffprovisioning:';
/** Order in which scale-up wishes are served from the growth budget. */
const CAUSE_RANK: Record<ScalingCause, number> = {
  pending_demand: 0,
  below_min: 1,
  high_utilization: 2,
  idle: 3,
  provisioning: 4,
  at_limit: 5,
  cooldown: 6,
  steady: 7,
};

interface Wish {
  type: ScalingWorkerType;
  want: number;
  cause: ScalingCause;
  why: string[];
}

export function decideScaling(req: ScalingRequest): ScalingReply {
  const { now, config } = req;
  const types = [...req.workerTypes].sort((a, b) => compare(a.name, b.name));
  const typeByName = new Map(types.map((t) => [t.name, t]));
  const live = req.workers.filter((w) => w.state === 'connecting' || w.state === 'active' || w.state === 'draining').sort((a, b) => compare(a.id, b.id));
  const ownedDraining = live.filter((w) => w.state === 'draining' && w.drainedBy !== 'operator');
  // A worker this policy drained that got work stays: it is taken back and counts as schedulable from now on.
  const busyDraining = ownedDraining.filter((w) => !isIdle(w));
  const idleDraining = ownedDraining.filter(isIdle);
  const schedulable = [...live.filter((w) => w.state === 'active' || w.state === 'connecting'), ...busyDraining].sort((a, b) => compare(a.id, b.id));

  const inFlight = new Map<string, number>();
  for (const p of req.provisioning) if (p.count > 0) inFlight.set(p.type, (inFlight.get(p.type) ?? 0) + p.count);
  const inFlightTotal = sum([...inFlight.values()]);
  const liveCount = countBy(live, (w) => w.type);
  const fleetSize = live.length + inFlightTotal;

  // 1. Infeasible demand.
  const creatable = config.maxWorkers > 0 ? types.filter((t) => t.max > 0) : [];
  const infeasible: ScalingReply['infeasible'] = [];
  const aboveThreshold: string[] = [];
  const tasks: PlacementTask[] = [];
  req.pending.forEach((p, i) => {
    const need = { ...p.resources, gpus: wholeGpus(p.resources.gpus) };
    if (creatable.some((t) => fits(need, t.resources)) || live.some((w) => fits(need, w.capacity))) {
      tasks.push({ id: p.id, priority: p.priority, seq: p.seq ?? i, resources: p.resources });
    } else {
      infeasible.push({ taskId: p.id, reason: infeasibleReason(need, creatable, live, types) });
    }
  });
  const pendingDemand = tasks.reduce((acc, t) => add(acc, t.resources), resources());
  const utilization = fleetUtilization(schedulable);

  // 2. Simulate placement on free capacity plus what is already on its way.
  const virtual: PlacementWorker[] = [];
  for (const [name, count] of [...inFlight].sort((a, b) => compare(a[0], b[0]))) {
    const type = typeByName.get(name);
    if (!type) continue;
    for (let i = 0; i < count; i++) virtual.push(simWorker(`${VIRTUAL}${name}:${i}`, name, type.resources, resources()));
  }
  const sim = placeTasks({ tasks, workers: [...schedulable.map((w) => simWorker(w.id, w.type, w.capacity, w.reserved)), ...virtual] });
  const usedWorkers = new Set(sim.assignments.map((a) => a.workerId));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  let leftover = sim.pending.map((u) => byId.get(u.taskId)!);
  const placedOnInFlight = sim.assignments.filter((a) => a.workerId.startsWith(VIRTUAL)).length;

  // 3. Take back idle workers this policy is draining before asking for new ones.
  const undrain = new Set(busyDraining.map((w) => w.id));
  if (leftover.length > 0 && idleDraining.length > 0) {
    const reuse = placeTasks({ tasks: leftover, workers: idleDraining.map((w) => simWorker(w.id, w.type, w.capacity, w.reserved)) });
    for (const a of reuse.assignments) undrain.add(a.workerId);
    leftover = reuse.pending.map((u) => byId.get(u.taskId)!);
  }

  // 4. Wishes: pending demand (recommender), minimums, utilization.
  const wishes = new Map<string, Wish>();
  const wish = (type: ScalingWorkerType, want: number, cause: ScalingCause, why: string) => {
    if (want <= 0) return;
    const w = wishes.get(type.name);
    if (!w) wishes.set(type.name, { type, want, cause, why: [why] });
    else {
      // Wishes overlap (new workers for demand also lower utilization): the largest one covers the others.
      w.want = Math.max(w.want, want);
      if (CAUSE_RANK[cause] < CAUSE_RANK[w.cause]) w.cause = cause;
      w.why.push(why);
    }
  };

  let unplaceableReasons: string[] = [];
  if (leftover.length > 0 && creatable.length > 0) {
    // Only the per-type headroom: the shared limits (maxWorkers, growth) are applied to the answer below. Passing
    // them as per-type caps would make the recommender spill demand over to other types (CPU work onto GPU types).
    const maxPerType: Record<string, number> = {};
    for (const t of creatable) maxPerType[t.name] = typeHeadroom(t, liveCount, inFlight);
    const rec = req.recommend(leftover, creatable, { maxPerType, existing: [] });
    unplaceableReasons = [...new Set(rec.unplaceable.map((u) => u.reason))].sort(compare);
    const inFlightNote = inFlightTotal > 0 ? ` or the ${inFlightTotal} being provisioned` : '';
    for (const r of rec.recommendations) {
      const type = typeByName.get(r.workerType);
      if (!type || type.max <= 0 || !(r.count > 0)) continue;
      const u = r.expectedUtilization;
      wish(
        type,
        Math.ceil(r.count),
        'pending_demand',
        `${plural(leftover.length, 'pending task')} cannot be placed on the fleet${inFlightNote}; ` +
          `${r.count} ${type.name} recommended (expected utilization ${pct(Math.max(u.cpu, u.memory, u.gpu))})`,
      );
    }
  }

  for (const type of types) {
    const have = live.filter((w) => w.type === type.name && w.state !== 'draining').length + (inFlight.get(type.name) ?? 0);
    if (have < type.min) wish(type, type.min - have, 'below_min', `${have} ${type.name} below its minimum ${type.min}`);
  }

  for (const type of types) {
    if (type.max <= 0) continue;
    const group = schedulable.filter((w) => w.type === type.name);
    if (group.length === 0) continue;
    const reserved = sumResources(group.map((w) => w.reserved));
    const capacity = add(sumResources(group.map((w) => w.capacity)), scale(type.resources, inFlight.get(type.name) ?? 0));
    const share = dominantShare(reserved, capacity);
    if (share > config.scaleUpThreshold + EPSILON) {
      aboveThreshold.push(type.name);
      const since = req.aboveThresholdSince?.[type.name] ?? req.now;
      if (req.now - since >= config.utilizationSustainMs) {
        const n = workersToReach(reserved, capacity, type.resources, config.targetUtilization);
        wish(type, n, 'high_utilization', `${type.name} reserved utilization ${pct(share)} > ${pct(config.scaleUpThreshold)} for ${Math.round((req.now - since) / 1000)} s; +${n} to bring it to ${pct(config.targetUtilization)}`);
      }
    }
  }

  // 5. Limits: per type max, fleet maxWorkers, growth budget; served round-robin in cause order.
  const growth = growthStep(config, fleetSize);
  const room = Math.max(0, config.maxWorkers - fleetSize);
  let budget = Math.min(growth, room);
  const ordered = [...wishes.values()].sort((a, b) => CAUSE_RANK[a.cause] - CAUSE_RANK[b.cause] || compare(a.type.name, b.type.name));
  const headroom = new Map(ordered.map((w) => [w.type.name, typeHeadroom(w.type, liveCount, inFlight)]));
  const granted = new Map(ordered.map((w) => [w.type.name, 0]));
  for (let progress = true; budget > 0 && progress; ) {
    progress = false;
    for (const w of ordered) {
      const g = granted.get(w.type.name)!;
      if (budget === 0 || g >= w.want || g >= headroom.get(w.type.name)!) continue;
      granted.set(w.type.name, g + 1);
      budget--;
      progress = true;
    }
  }

  const decisions: ScalingDecision[] = [];
  const limitNotes: string[] = [];
  const decision = (action: ScalingAction, workerType: string | null, count: number, workerIds: string[], cause: ScalingCause, reason: string): ScalingDecision => ({
    at: now,
    action,
    workerType,
    count,
    workerIds,
    cause,
    reason,
    utilization,
    pendingDemand,
  });
  for (const w of [...ordered].sort((a, b) => compare(a.type.name, b.type.name))) {
    const g = granted.get(w.type.name)!;
    const limits: string[] = [];
    if (g < w.want) {
      if (g >= headroom.get(w.type.name)!) limits.push(`${w.type.name} max ${w.type.max}`);
      if (fleetSize + sum([...granted.values()]) >= config.maxWorkers) limits.push(`maxWorkers ${config.maxWorkers}`);
      if (limits.length === 0) limits.push(`growth limit ${growth} per evaluation`);
    }
    if (g === 0) {
      limitNotes.push(`${w.type.name} wanted +${w.want} (${w.why.join('; ')}) but is at its limit: ${limits.join(', ')}`);
      continue;
    }
    const limited = g < w.want ? ` (limited from ${w.want} by ${limits.join(', ')})` : '';
    decisions.push(decision('scale_up', w.type.name, g, [], w.cause, `add ${g} ${w.type.name}${limited}: ${w.why.join('; ')}`));
  }
  const scaledUp = decisions.length > 0;

  // 6. Scale down: terminate what was drained and is still idle; drain idle workers of under-used types.
  const terminate = idleDraining.filter((w) => !undrain.has(w.id)).map((w) => w.id);
  const drain: string[] = [];
  const inCooldown = req.lastScaleUpAt !== null && now - req.lastScaleUpAt < config.cooldownAfterScaleUpMs;
  const keptNotes: string[] = [];
  let idleKeptForCooldown = 0;
  for (const type of types) {
    const group = live.filter((w) => w.type === type.name && (w.state === 'active' || w.state === 'connecting'));
    const candidates = group
      .filter((w) => w.state === 'active' && isIdle(w) && now - w.idleSinceMs! >= config.idleTimeoutMs && !usedWorkers.has(w.id))
      .sort((a, b) => a.idleSinceMs! - b.idleSinceMs! || compare(a.id, b.id));
    if (candidates.length === 0) continue;
    if (scaledUp || inCooldown) {
      idleKeptForCooldown += candidates.length;
      continue;
    }
    const reserved = sumResources(group.map((w) => w.reserved));
    let capacity = sumResources(group.map((w) => w.capacity));
    const share = dominantShare(reserved, capacity);
    if (share >= config.scaleDownThreshold - EPSILON) {
      keptNotes.push(`${plural(candidates.length, `idle ${type.name} worker`)} kept: utilization ${pct(share)} is not below ${pct(config.scaleDownThreshold)}`);
      continue;
    }
    const chosen: ScalingWorker[] = [];
    let remaining = group.length;
    let stop = '';
    for (const c of candidates) {
      if (remaining - 1 < type.min) {
        stop = `its minimum ${type.min}`;
        break;
      }
      const after = add(capacity, scale(c.capacity, -1));
      if (dominantShare(reserved, after) > config.targetUtilization + EPSILON) {
        stop = `the target utilization ${pct(config.targetUtilization)}`;
        break;
      }
      chosen.push(c);
      capacity = after;
      remaining--;
    }
    if (chosen.length === 0) {
      keptNotes.push(`${plural(candidates.length, `idle ${type.name} worker`)} kept: ${stop}`);
      continue;
    }
    const ids = chosen.map((w) => w.id);
    drain.push(...ids);
    const longest = Math.round((now - chosen[0].idleSinceMs!) / 1000);
    decisions.push(
      decision(
        'scale_down',
        type.name,
        ids.length,
        ids,
        'idle',
        `drain ${ids.length} of ${group.length} ${type.name} (idle >= ${Math.round(config.idleTimeoutMs / 1000)} s, longest ${longest} s); ` +
          `utilization ${pct(share)} < ${pct(config.scaleDownThreshold)}; ${remaining} remain` +
          (stop ? `, kept by ${stop}` : type.min > 0 ? ` (min ${type.min})` : ''),
      ),
    );
  }

  // 7. Nothing to launch or drain: one maintain that says why.
  if (decisions.length === 0) {
    decisions.push(maintain());
  }

  return { decisions, drain, terminate, undrain: [...undrain].sort(compare), infeasible, aboveThreshold };

  /** Why leftover demand got no new worker: the limits of the types that could hold it. */
  function blocked(): string[] {
    if (creatable.length === 0) return ['no worker type can be created'];
    if (fleetSize >= config.maxWorkers) return [`the fleet is at maxWorkers ${config.maxWorkers}`];
    const full = creatable.filter((t) => typeHeadroom(t, liveCount, inFlight) === 0 && leftover.some((task) => fits(task.resources, t.resources)));
    if (full.length > 0) return full.map((t) => `${t.name} at its max ${t.max}`);
    return unplaceableReasons.length > 0 ? unplaceableReasons : ['the recommender proposed no worker'];
  }

  function maintain(): ScalingDecision {
    if (leftover.length > 0) {
      return decision('maintain', null, 0, [], 'at_limit', `${plural(leftover.length, 'pending task')} cannot be placed: ${blocked().join('; ')}`);
    }
    if (limitNotes.length > 0) return decision('maintain', null, 0, [], 'at_limit', limitNotes.join('; '));
    if (placedOnInFlight > 0) {
      return decision('maintain', null, 0, [], 'provisioning', `${plural(placedOnInFlight, 'pending task')} will fit on the ${plural(inFlightTotal, 'worker')} being provisioned`);
    }
    if (idleKeptForCooldown > 0) {
      const since = req.lastScaleUpAt !== null ? Math.round((now - req.lastScaleUpAt) / 1000) : 0;
      return decision('maintain', null, 0, [], 'cooldown', `${plural(idleKeptForCooldown, 'idle worker')} kept: ${since} s since the last scale-up, cooldown ${Math.round(config.cooldownAfterScaleUpMs / 1000)} s`);
    }
    const pendingNote = tasks.length > 0 ? `${plural(tasks.length, 'pending task')} fit the fleet` : 'no pending demand';
    const band = `utilization ${pct(utilization.overall)} within [${pct(config.scaleDownThreshold)}, ${pct(config.scaleUpThreshold)}] or no worker idle ${Math.round(config.idleTimeoutMs / 1000)} s`;
    return decision('maintain', null, 0, [], 'steady', [pendingNote, ...keptNotes, ...(keptNotes.length > 0 ? [] : [band])].join('; '));
  }
}

/**
 * Whether the executor should store `next` given the last decision it stored: always for scale_up and scale_down,
 * and for a maintain only when the previous stored decision was not a maintain with the same cause.
 */
export function shouldRecordDecision(previous: Pick<ScalingDecision, 'action' | 'cause'> | undefined, next: Pick<ScalingDecision, 'action' | 'cause'>): boolean {
  if (next.action !== 'maintain') return true;
  return !previous || previous.action !== 'maintain' || previous.cause !== next.cause;
}

// ------------------------------------------------------------------------------------------------ helpers

/** "At most double the fleet per evaluation, minimum 5": how many workers one evaluation may add. */
function growthStep(config: ScalingConfig, fleetSize: number): number {
  return Math.max(config.minGrowthStep, Math.ceil((config.maxGrowthFactor - 1) * fleetSize - EPSILON));
}

/** New workers a type may still get: its max less its live (draining included) and in-flight workers. */
function typeHeadroom(type: ScalingWorkerType, live: ReadonlyMap<string, number>, inFlight: ReadonlyMap<string, number>): number {
  return Math.max(0, type.max - (live.get(type.name) ?? 0) - (inFlight.get(type.name) ?? 0));
}

function isIdle(w: ScalingWorker): boolean {
  return w.idleSinceMs !== null && isZero(w.reserved);
}

function isZero(r: Resources): boolean {
  return DIMENSIONS.every((d) => Math.abs(r[d]) <= EPSILON) && Object.values(r.custom ?? {}).every((v) => Math.abs(v) <= EPSILON);
}

function simWorker(id: string, type: string, capacity: Resources, reserved: Resources): PlacementWorker {
  const free = Math.max(0, Math.floor(capacity.gpus - reserved.gpus + EPSILON));
  return { id, type, capacity, reserved, freeGpuIndices: Array.from({ length: free }, (_, i) => i), schedulable: true };
}

/** The largest reserved / capacity ratio over the dimensions the capacity has; Infinity when demand has no room. */
function dominantShare(reserved: Resources, capacity: Resources): number {
  let share = 0;
  for (const d of DIMENSIONS) {
    if (capacity[d] > EPSILON) share = Math.max(share, reserved[d] / capacity[d]);
    else if (reserved[d] > EPSILON) return Infinity;
  }
  return share;
}

/** How many workers of `unit` bring reserved / capacity down to `target` on every dimension the unit has. */
function workersToReach(reserved: Resources, capacity: Resources, unit: Resources, target: number): number {
  let n = 1;
  for (const d of DIMENSIONS) {
    if (unit[d] <= EPSILON) continue;
    n = Math.max(n, Math.ceil((reserved[d] / target - capacity[d]) / unit[d] - EPSILON));
  }
  return n;
}

function fleetUtilization(workers: readonly ScalingWorker[]): ScalingUtilization {
  const capacity = sumResources(workers.map((w) => w.capacity));
  const reserved = sumResources(workers.map((w) => w.reserved));
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  const cpu = ratio(reserved.cpu, capacity.cpu);
  const memory = ratio(reserved.memoryMb, capacity.memoryMb);
  const gpu = ratio(reserved.gpus, capacity.gpus);
  // Same definition as the coordinator's cluster view: the dominant dimension, GPUs only where there are any.
  return { cpu, memory, gpu, overall: Math.max(cpu, memory, capacity.gpus > 0 ? gpu : 0) };
}

function infeasibleReason(need: Resources, creatable: readonly ScalingWorkerType[], live: readonly ScalingWorker[], types: readonly ScalingWorkerType[]): string {
  const shapes = new Map<string, Resources>();
  for (const t of creatable) shapes.set(`type ${t.name}`, t.resources);
  for (const w of live) if (!creatable.some((t) => t.name === w.type)) shapes.set(`worker ${w.id} (${w.type})`, w.capacity);
  if (shapes.size === 0) {
    const capped = types.length > 0 ? ` (${types.map((t) => `${t.name} max ${t.max}`).join(', ')})` : '';
    return `no worker type can be created${capped} and no worker exists`;
  }
  // The closest: fewest short dimensions, then the most of the request covered (as placement explains it).
  const gaps = [...shapes].map(([name, cap]) => ({ name, gap: shortfall(need, cap), coverage: coverage(need, cap) }));
  gaps.sort((a, b) => a.gap.length - b.gap.length || b.coverage - a.coverage || compare(a.name, b.name));
  const text = gaps[0].gap.join(', ');
  const where = gaps.every((g) => g.gap.join(', ') === text) ? 'on every worker type' : `on the closest, ${gaps[0].name}`;
  return `no worker type can ever fit it: needs ${text} ${where}`;
}

/** How much of a request a capacity covers, summed over the requested dimensions (each at most 1). */
function coverage(request: Resources, capacity: Resources): number {
  let total = 0;
  for (const d of DIMENSIONS) if (request[d] > 0) total += Math.min(1, capacity[d] / request[d]);
  for (const [k, v] of Object.entries(request.custom ?? {})) if (v > 0) total += Math.min(1, (capacity.custom?.[k] ?? 0) / v);
  return total;
}

function sumResources(list: readonly Resources[]): Resources {
  return list.reduce((acc, r) => add(acc, r), resources());
}

function scale(r: Resources, k: number): Resources {
  const out = resources({ cpu: r.cpu * k, memoryMb: r.memoryMb * k, gpus: r.gpus * k, gpuMemoryMb: r.gpuMemoryMb * k });
  if (r.custom) out.custom = Object.fromEntries(Object.entries(r.custom).map(([n, v]) => [n, v * k]));
  return out;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return m;
}

/** GPUs are handed out as whole devices (as in placement). */
function wholeGpus(n: number): number {
  return n > EPSILON ? Math.ceil(n - EPSILON) : 0;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function pct(x: number): string {
  if (Number.isNaN(x)) return 'unknown';
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : 'full';
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
