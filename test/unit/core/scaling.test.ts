import { describe, expect, it, vi } from 'vitest';
import { recommend } from '../../../src/core/recommend.js';
import { resources, type Resources } from '../../../src/core/resources.js';
import {
  DEFAULT_SCALING_CONFIG,
  decideScaling,
  scalingConfig,
  shouldRecordDecision,
  type Recommender,
  type ScalingPendingTask,
  type ScalingReply,
  type ScalingRequest,
  type ScalingWorker,
  type ScalingWorkerType,
} from '../../../src/core/scaling.js';
import { BUILTIN_WORKER_TYPES } from '../../../src/core/worker-types.js';

const NOW = 1_000_000_000;
const config = scalingConfig();

function types(limits: Record<string, { min?: number; max?: number }> = {}): ScalingWorkerType[] {
  return BUILTIN_WORKER_TYPES.map((t) => ({ ...t, min: limits[t.name]?.min ?? 0, max: limits[t.name]?.max ?? 10 }));
}

const CAPACITY: Record<string, Resources> = Object.fromEntries(BUILTIN_WORKER_TYPES.map((t) => [t.name, t.resources]));

function worker(id: string, type: string, extra: Partial<ScalingWorker> & { reservedCpu?: number } = {}): ScalingWorker {
  const { reservedCpu, ...rest } = extra;
  const reserved = rest.reserved ?? resources({ cpu: reservedCpu ?? 0, memoryMb: (reservedCpu ?? 0) * 1024 });
  const busy = reserved.cpu > 0 || reserved.memoryMb > 0 || reserved.gpus > 0;
  return {
    id,
    type,
    provider: 'local',
    capacity: CAPACITY[type],
    reserved,
    state: 'active',
    idleSinceMs: busy ? null : NOW - 60_000,
    ...rest,
  };
}

function task(id: string, r: Partial<Resources>, priority = 0): ScalingPendingTask {
  return { id, resources: resources(r), priority };
}

function tasks(prefix: string, n: number, r: Partial<Resources>): ScalingPendingTask[] {
  return Array.from({ length: n }, (_, i) => task(`${prefix}-${String(i).padStart(3, '0')}`, r));
}

function request(partial: Partial<ScalingRequest> = {}): ScalingRequest {
  return {
    now: NOW,
    workers: [],
    pending: [],
    provisioning: [],
    workerTypes: types(),
    config,
    lastScaleUpAt: null,
    recommend,
    ...partial,
  };
}

function ups(reply: ScalingReply): Record<string, number> {
  return Object.fromEntries(reply.decisions.filter((d) => d.action === 'scale_up').map((d) => [d.workerType, d.count]));
}

function only(reply: ScalingReply, action: 'scale_up' | 'scale_down' | 'maintain') {
  const found = reply.decisions.filter((d) => d.action === action);
  expect(found).toHaveLength(1);
  return found[0];
}

describe('decideScaling: pending demand', () => {
  it('scales up the cpu type for cpu tasks on an empty fleet, with a count that places them', () => {
    const reply = decideScaling(request({ pending: tasks('t', 6, { cpu: 2, memoryMb: 1024 }) }));
    expect(ups(reply)).toEqual({ cpu: 3 });
    const d = only(reply, 'scale_up');
    expect(d.cause).toBe('pending_demand');
    expect(d.reason).toMatch(/6 pending tasks cannot be placed.*3 cpu recommended/);
    expect(d.pendingDemand).toMatchObject({ cpu: 12, memoryMb: 6144 });
    expect(d.at).toBe(NOW);
    expect(reply.drain).toEqual([]);
    expect(reply.infeasible).toEqual([]);
  });

  it('a GPU task makes a GPU worker appear while CPU tasks do not', () => {
    const gpuOnly = decideScaling(request({ pending: [task('g', { cpu: 2, memoryMb: 8192, gpus: 1, gpuMemoryMb: 8000 })] }));
    expect(ups(gpuOnly)).toEqual({ gpu: 1 });
    const cpuOnly = decideScaling(request({ pending: tasks('c', 10, { cpu: 1, memoryMb: 512 }) }));
    expect(ups(cpuOnly)).toEqual({ cpu: 3 });
  });

  it('memory-heavy demand scales up high-memory; a mixed queue scales up every type it needs', () => {
    const heavy = decideScaling(request({ pending: [task('m', { cpu: 2, memoryMb: 40_000 })] }));
    expect(ups(heavy)).toEqual({ 'high-memory': 1 });
    const mixed = decideScaling(
      request({
        pending: [task('m', { cpu: 2, memoryMb: 40_000 }), task('g', { gpus: 1, gpuMemoryMb: 8000, memoryMb: 4096 }), ...tasks('c', 4, { cpu: 1, memoryMb: 512 })],
      }),
    );
    expect(ups(mixed)).toEqual({ cpu: 1, gpu: 1, 'high-memory': 1 });
    // Decisions come sorted by type name, so the stored order is stable.
    expect(mixed.decisions.map((d) => d.workerType)).toEqual(['cpu', 'gpu', 'high-memory']);
  });

  it('tasks that fit the free capacity of the fleet cause no scale-up', () => {
    const reply = decideScaling(request({ workers: [worker('w1', 'cpu', { reservedCpu: 1 })], pending: tasks('t', 3, { cpu: 1, memoryMb: 512 }) }));
    expect(ups(reply)).toEqual({});
    expect(only(reply, 'maintain').cause).toBe('steady');
  });

  it('counts capacity already being provisioned: no second scale-up for the same demand', () => {
    const pending = tasks('g', 2, { gpus: 1, memoryMb: 4096 });
    const covered = decideScaling(request({ pending, provisioning: [{ type: 'gpu', count: 2 }] }));
    expect(ups(covered)).toEqual({});
    const m = only(covered, 'maintain');
    expect(m.cause).toBe('provisioning');
    expect(m.reason).toMatch(/2 pending tasks will fit on the 2 workers being provisioned/);

    const more = decideScaling(request({ pending: [...pending, ...tasks('h', 1, { gpus: 1 })], provisioning: [{ type: 'gpu', count: 2 }] }));
    expect(ups(more)).toEqual({ gpu: 1 });
    expect(only(more, 'scale_up').reason).toMatch(/or the 2 being provisioned/);
  });

  it('limits growth to max(5, double the fleet) per evaluation', () => {
    const empty = decideScaling(request({ pending: tasks('t', 100, { cpu: 4, memoryMb: 1024 }), workerTypes: types({ cpu: { max: 1000 } }), config: scalingConfig({ maxWorkers: 1000 }) }));
    expect(ups(empty)).toEqual({ cpu: 5 });
    expect(only(empty, 'scale_up').reason).toMatch(/limited from \d+ by growth limit 5/);

    const busy = Array.from({ length: 8 }, (_, i) => worker(`w${i}`, 'cpu', { reservedCpu: 4 }));
    const fleet = decideScaling(
      request({ workers: busy, pending: tasks('t', 100, { cpu: 4, memoryMb: 1024 }), workerTypes: types({ cpu: { max: 1000 } }), config: scalingConfig({ maxWorkers: 1000 }) }),
    );
    expect(ups(fleet)).toEqual({ cpu: 8 });
  });

  it('shares the growth budget round-robin so a GPU task is not starved by a large CPU queue', () => {
    const reply = decideScaling(request({ pending: [...tasks('c', 100, { cpu: 4, memoryMb: 1024 }), task('g', { gpus: 1 })], workerTypes: types({ cpu: { max: 100 } }) }));
    expect(ups(reply)).toEqual({ cpu: 4, gpu: 1 });
  });

  it('respects each type max (live and in flight count) and maxWorkers', () => {
    const perType = decideScaling(
      request({
        workers: [worker('g1', 'gpu', { reserved: resources({ gpus: 1, cpu: 1 }) })],
        provisioning: [{ type: 'gpu', count: 1 }],
        pending: tasks('g', 5, { gpus: 1 }),
        workerTypes: types({ gpu: { max: 3 } }),
      }),
    );
    expect(ups(perType)).toEqual({ gpu: 1 });

    const total = decideScaling(request({ workers: [worker('w1', 'cpu', { reservedCpu: 4 })], pending: tasks('t', 5, { cpu: 4 }), config: scalingConfig({ maxWorkers: 3 }) }));
    expect(ups(total)).toEqual({ cpu: 2 });
    expect(only(total, 'scale_up').reason).toMatch(/maxWorkers 3/);
  });

  it('maintains with the limit as reason when demand cannot be served', () => {
    const atMax = decideScaling(
      request({ workers: [worker('g1', 'gpu', { reserved: resources({ gpus: 1 }) })], pending: tasks('g', 2, { gpus: 1 }), workerTypes: types({ gpu: { max: 1 } }) }),
    );
    const m = only(atMax, 'maintain');
    expect(m.cause).toBe('at_limit');
    expect(m.reason).toMatch(/2 pending tasks cannot be placed: gpu at its max 1/);

    const full = decideScaling(request({ workers: [worker('w1', 'cpu', { reservedCpu: 4 })], pending: tasks('t', 2, { cpu: 4 }), config: scalingConfig({ maxWorkers: 1 }) }));
    expect(only(full, 'maintain').reason).toMatch(/the fleet is at maxWorkers 1/);
  });

  it('brings a type below its minimum up to it', () => {
    const reply = decideScaling(request({ workers: [worker('w1', 'cpu')], provisioning: [{ type: 'cpu', count: 1 }], workerTypes: types({ cpu: { min: 3 } }) }));
    expect(ups(reply)).toEqual({ cpu: 1 });
    expect(only(reply, 'scale_up').cause).toBe('below_min');
  });

  it('passes only the demand left over to the injected recommender, with the headroom as maxPerType', () => {
    const stub = vi.fn<Recommender>(() => ({ recommendations: [{ workerType: 'high-memory', count: 2, expectedUtilization: { cpu: 0.5, memory: 0.9, gpu: 0 } }], unplaceable: [] }));
    const reply = decideScaling(
      request({
        workers: [worker('w1', 'cpu', { reservedCpu: 3 })],
        pending: [task('fits', { cpu: 1, memoryMb: 512 }), task('big', { cpu: 2, memoryMb: 40_000 }, 5)],
        workerTypes: types({ 'high-memory': { max: 4 }, gpu: { max: 0 } }),
        recommend: stub,
      }),
    );
    expect(stub).toHaveBeenCalledTimes(1);
    const [pending, passedTypes, opts] = stub.mock.calls[0];
    expect(pending.map((t) => t.id)).toEqual(['big']);
    expect(passedTypes.map((t) => t.name)).toEqual(['cpu', 'high-memory']);
    expect(opts.maxPerType).toEqual({ cpu: 9, 'high-memory': 4 });
    expect(ups(reply)).toEqual({ 'high-memory': 2 });
    expect(only(reply, 'scale_up').reason).toMatch(/expected utilization 90%/);
  });

  it('clamps what the recommender proposes to the limits', () => {
    const greedy: Recommender = () => ({ recommendations: [{ workerType: 'cpu', count: 50, expectedUtilization: { cpu: 1, memory: 1, gpu: 0 } }], unplaceable: [] });
    const reply = decideScaling(request({ pending: tasks('t', 1, { cpu: 1 }), workerTypes: types({ cpu: { max: 3 } }), recommend: greedy }));
    expect(ups(reply)).toEqual({ cpu: 3 });
  });
});

describe('decideScaling: utilization', () => {
  it('scales up a type that stays above the scale-up threshold toward the target, not on a passing peak', () => {
    // 4 cpu workers at 90% reserved: 14.4 cores / 0.7 = 20.6 cores, so 2 more 4-core workers.
    const workers = Array.from({ length: 4 }, (_, i) => worker(`w${i}`, 'cpu', { reserved: resources({ cpu: 3.6, memoryMb: 4096 }) }));
    const first = decideScaling(request({ workers }));
    expect(ups(first)).toEqual({});
    expect(first.aboveThreshold).toEqual(['cpu']);
    const sustained = DEFAULT_SCALING_CONFIG.utilizationSustainMs;
    const early = decideScaling(request({ workers, aboveThresholdSince: { cpu: NOW - sustained + 1 } }));
    expect(ups(early)).toEqual({});
    const reply = decideScaling(request({ workers, aboveThresholdSince: { cpu: NOW - sustained } }));
    expect(ups(reply)).toEqual({ cpu: 2 });
    const d = only(reply, 'scale_up');
    expect(d.cause).toBe('high_utilization');
    expect(d.reason).toMatch(/cpu reserved utilization 90% > 80% for 30 s; \+2 to bring it to 70%/);
    expect(d.utilization.cpu).toBeCloseTo(0.9);
    expect(d.utilization.overall).toBeCloseTo(0.9);
  });

  it('does not scale up again while that capacity is being provisioned', () => {
    const workers = Array.from({ length: 4 }, (_, i) => worker(`w${i}`, 'cpu', { reserved: resources({ cpu: 3.6, memoryMb: 4096 }) }));
    const reply = decideScaling(request({ workers, provisioning: [{ type: 'cpu', count: 2 }], aboveThresholdSince: { cpu: 0 } }));
    expect(ups(reply)).toEqual({});
  });

  it('maintains at mid utilization', () => {
    const workers = [worker('w1', 'cpu', { reservedCpu: 2 }), worker('w2', 'cpu', { reservedCpu: 2 })];
    const reply = decideScaling(request({ workers }));
    expect(reply.decisions).toHaveLength(1);
    const m = only(reply, 'maintain');
    expect(m.cause).toBe('steady');
    expect(m.workerType).toBeNull();
    expect(m.reason).toMatch(/no pending demand; utilization 50% within \[30%, 80%\]/);
  });

  it('keeps an idle worker as headroom while its type is busy', () => {
    const workers = [worker('w1', 'cpu', { reservedCpu: 4 }), worker('w2', 'cpu')];
    const reply = decideScaling(request({ workers }));
    expect(reply.drain).toEqual([]);
    expect(only(reply, 'maintain').reason).toMatch(/1 idle cpu worker kept: utilization 50% is not below 30%/);
  });
});

describe('decideScaling: scale-down', () => {
  it('drains the idlest workers first, then terminates them on a later evaluation', () => {
    const workers = [
      worker('a', 'cpu', { idleSinceMs: NOW - 40_000 }),
      worker('b', 'cpu', { idleSinceMs: NOW - 90_000 }),
      worker('c', 'cpu', { idleSinceMs: NOW - 10_000 }),
    ];
    const first = decideScaling(request({ workers, workerTypes: types({ cpu: { min: 0 } }) }));
    const d = only(first, 'scale_down');
    expect(d.workerIds).toEqual(['b', 'a']);
    expect(d.count).toBe(2);
    expect(d.cause).toBe('idle');
    expect(d.reason).toMatch(/drain 2 of 3 cpu \(idle >= 30 s, longest 90 s\)/);
    expect(first.drain).toEqual(['b', 'a']);
    expect(first.terminate).toEqual([]);

    // The executor drained them; five seconds later they are still idle: safe to stop.
    const later = workers.map((w) => (first.drain.includes(w.id) ? { ...w, state: 'draining' as const } : w));
    const second = decideScaling(request({ now: NOW + 5000, workers: later }));
    expect(second.terminate).toEqual(['a', 'b']);
    expect(second.drain).toEqual([]);
    expect(second.undrain).toEqual([]);
  });

  it('never goes below a type minimum', () => {
    const workers = [worker('a', 'cpu'), worker('b', 'cpu'), worker('c', 'cpu')];
    const reply = decideScaling(request({ workers, workerTypes: types({ cpu: { min: 2 } }) }));
    expect(only(reply, 'scale_down').workerIds).toEqual(['a']);
    expect(only(reply, 'scale_down').reason).toMatch(/2 remain, kept by its minimum 2/);

    const atMin = decideScaling(request({ workers: workers.slice(0, 2), workerTypes: types({ cpu: { min: 2 } }) }));
    expect(atMin.drain).toEqual([]);
    expect(only(atMin, 'maintain').reason).toMatch(/2 idle cpu workers kept: its minimum 2/);
  });

  it('drains only workers idle for the idle timeout', () => {
    const reply = decideScaling(request({ workers: [worker('a', 'cpu', { idleSinceMs: NOW - 29_999 })] }));
    expect(reply.drain).toEqual([]);
    expect(only(reply, 'maintain').cause).toBe('steady');
  });

  it('shrinks a lightly used type only as far as the target utilization', () => {
    // One full worker and three idle: 25% < 30%; draining two leaves 50%, a third would leave 100% > 70%.
    const workers = [worker('busy', 'cpu', { reservedCpu: 4 }), worker('i1', 'cpu'), worker('i2', 'cpu'), worker('i3', 'cpu')];
    const reply = decideScaling(request({ workers }));
    expect(only(reply, 'scale_down').workerIds).toEqual(['i1', 'i2']);
    expect(only(reply, 'scale_down').reason).toMatch(/kept by the target utilization 70%/);
  });

  it('blocks new drains within the cooldown after a scale-up', () => {
    const workers = [worker('a', 'cpu')];
    const inCooldown = decideScaling(request({ workers, lastScaleUpAt: NOW - 10_000 }));
    expect(inCooldown.drain).toEqual([]);
    const m = only(inCooldown, 'maintain');
    expect(m.cause).toBe('cooldown');
    expect(m.reason).toMatch(/1 idle worker kept: 10 s since the last scale-up, cooldown 60 s/);

    const after = decideScaling(request({ workers, lastScaleUpAt: NOW - 60_000 }));
    expect(after.drain).toEqual(['a']);
  });

  it('drains nothing in an evaluation that scales up', () => {
    const reply = decideScaling(request({ workers: [worker('a', 'cpu')], pending: [task('g', { gpus: 1 })] }));
    expect(ups(reply)).toEqual({ gpu: 1 });
    expect(reply.drain).toEqual([]);
  });

  it('does not drain an idle worker that the pending demand would use', () => {
    const reply = decideScaling(request({ workers: [worker('a', 'cpu')], pending: [task('t', { cpu: 1 })] }));
    expect(reply.drain).toEqual([]);
  });

  it('takes back a draining worker that got work instead of terminating it', () => {
    const workers = [worker('busy', 'cpu', { state: 'draining', reservedCpu: 1 }), worker('idle', 'cpu', { state: 'draining' })];
    const reply = decideScaling(request({ workers }));
    expect(reply.undrain).toEqual(['busy']);
    expect(reply.terminate).toEqual(['idle']);
  });

  it('takes back an idle draining worker when pending demand fits it, rather than scaling up', () => {
    const reply = decideScaling(request({ workers: [worker('d', 'cpu', { state: 'draining' })], pending: [task('t', { cpu: 2 })] }));
    expect(reply.undrain).toEqual(['d']);
    expect(reply.terminate).toEqual([]);
    expect(ups(reply)).toEqual({});
  });

  it('leaves workers an operator drained alone', () => {
    const workers = [worker('op-idle', 'cpu', { state: 'draining', drainedBy: 'operator' }), worker('op-busy', 'cpu', { state: 'draining', drainedBy: 'operator', reservedCpu: 1 })];
    const reply = decideScaling(request({ workers, pending: [task('t', { cpu: 1 })] }));
    expect(reply.terminate).toEqual([]);
    expect(reply.undrain).toEqual([]);
    expect(ups(reply)).toEqual({ cpu: 1 });
  });

  it('never drains a worker of a type it cannot create again', () => {
    const custom = { ...worker('x', 'cpu'), type: 'bespoke' };
    const reply = decideScaling(request({ workers: [custom] }));
    expect(reply.drain).toEqual([]);
  });
});

describe('decideScaling: infeasible demand', () => {
  it('reports a task no worker type can ever fit, with the reason, and still serves the rest', () => {
    const reply = decideScaling(request({ pending: [task('huge', { gpus: 2 }), task('fat', { memoryMb: 100_000 }), task('ok', { cpu: 1 })] }));
    expect(reply.infeasible).toEqual([
      { taskId: 'huge', reason: 'no worker type can ever fit it: needs gpus 2 > 1 on the closest, type gpu' },
      { taskId: 'fat', reason: 'no worker type can ever fit it: needs memoryMb 100000 > 65536 on the closest, type high-memory' },
    ]);
    expect(ups(reply)).toEqual({ cpu: 1 });
    expect(only(reply, 'scale_up').pendingDemand.memoryMb).toBe(0);
  });

  it('counts a type with max 0 as unable to fit, but an existing worker as able', () => {
    const noGpu = types({ gpu: { max: 0 } });
    const none = decideScaling(request({ pending: [task('g', { gpus: 1 })], workerTypes: noGpu }));
    expect(none.infeasible.map((i) => i.taskId)).toEqual(['g']);
    const withWorker = decideScaling(request({ pending: [task('g', { gpus: 1 })], workerTypes: noGpu, workers: [worker('g1', 'gpu', { reserved: resources({ gpus: 1 }) })] }));
    expect(withWorker.infeasible).toEqual([]);
    expect(only(withWorker, 'maintain').cause).toBe('at_limit');
  });

  it('says so when no type can be created at all', () => {
    const reply = decideScaling(request({ pending: [task('t', { cpu: 1 })], config: scalingConfig({ maxWorkers: 0 }) }));
    expect(reply.infeasible[0].reason).toMatch(/no worker type can be created .* and no worker exists/);
  });
});

describe('decideScaling: purity', () => {
  function busyRequest(order: 'forward' | 'reverse'): ScalingRequest {
    const workers = [
      worker('w1', 'cpu', { reservedCpu: 4 }),
      worker('w2', 'cpu'),
      worker('w3', 'gpu', { reserved: resources({ gpus: 1 }) }),
      worker('w4', 'high-memory', { state: 'draining' }),
      worker('w5', 'cpu', { state: 'draining', reservedCpu: 2 }),
    ];
    const pending = [...tasks('c', 12, { cpu: 3, memoryMb: 2048 }), task('g', { gpus: 1 }), task('m', { memoryMb: 50_000 }), task('x', { gpus: 4 })];
    return request({
      workers: order === 'forward' ? workers : [...workers].reverse(),
      pending,
      provisioning: order === 'forward' ? [{ type: 'cpu', count: 1 }, { type: 'gpu', count: 0 }] : [{ type: 'gpu', count: 0 }, { type: 'cpu', count: 1 }],
    });
  }

  it('is deterministic: same request, same reply, whatever the order of workers and in-flight entries', () => {
    const a = decideScaling(busyRequest('forward'));
    expect(decideScaling(busyRequest('forward'))).toEqual(a);
    expect(decideScaling(busyRequest('reverse'))).toEqual(a);
    expect(a.infeasible.map((i) => i.taskId)).toEqual(['x']);
    expect(a.undrain).toEqual(['w4', 'w5']);
  });

  it('does not mutate its request', () => {
    const req = busyRequest('forward');
    const copy = structuredClone({ ...req, recommend: undefined });
    decideScaling(req);
    expect({ ...req, recommend: undefined }).toEqual(copy);
  });
});

describe('scaling configuration and recording', () => {
  it('has documented defaults and rejects inconsistent thresholds', () => {
    expect(DEFAULT_SCALING_CONFIG).toEqual({
      scaleUpThreshold: 0.8,
      targetUtilization: 0.7,
      scaleDownThreshold: 0.3,
      utilizationSustainMs: 30_000,
      idleTimeoutMs: 30_000,
      cooldownAfterScaleUpMs: 60_000,
      evaluationIntervalMs: 5_000,
      maxGrowthFactor: 2,
      minGrowthStep: 5,
      maxWorkers: 100,
    });
    expect(scalingConfig({ idleTimeoutMs: 5000 }).idleTimeoutMs).toBe(5000);
    expect(() => scalingConfig({ scaleDownThreshold: 0.9 })).toThrow(/scaleDownThreshold < targetUtilization/);
    expect(() => scalingConfig({ idleTimeoutMs: -1 })).toThrow();
    expect(() => scalingConfig({ bogus: 1 } as never)).toThrow();
  });

  it('stores every scale decision but a maintain only when its cause changed', () => {
    const steady = { action: 'maintain' as const, cause: 'steady' as const };
    expect(shouldRecordDecision(undefined, steady)).toBe(true);
    expect(shouldRecordDecision(steady, steady)).toBe(false);
    expect(shouldRecordDecision(steady, { action: 'maintain', cause: 'cooldown' })).toBe(true);
    expect(shouldRecordDecision({ action: 'scale_up', cause: 'pending_demand' }, steady)).toBe(true);
    expect(shouldRecordDecision(steady, { action: 'scale_up', cause: 'pending_demand' })).toBe(true);
  });
});
