import { describe, expect, it } from 'vitest';
import { BUILTIN_WORKER_TYPES, findWorkerType, type WorkerType } from '../../../src/core/worker-types.js';
import { CloudProviderManager, type ManagedInstance, type ProviderRegistration } from '../../../src/providers/manager.js';
import type { CreateOptions, Instance, Provider } from '../../../src/providers/provider.js';

const cpu = findWorkerType(BUILTIN_WORKER_TYPES, 'cpu')!;
const gpu = findWorkerType(BUILTIN_WORKER_TYPES, 'gpu')!;

/** A fake provider: instances live in a map; the test decides when they appear, crash or go away. */
class FakeProvider implements Provider {
  readonly instances = new Map<string, Instance>();
  readonly calls: string[] = [];
  failCreate: string | undefined;
  failList = false;
  failDelete = false;
  /** When set, create() waits for it (a create call in flight). */
  gate: Promise<void> | undefined;
  /** delete() removes at once instead of leaving the instance `terminating` until gone(). */
  deleteAtOnce = false;

  constructor(
    readonly name: string,
    private readonly clock: () => number,
  ) {}

  async create(type: WorkerType, opts: CreateOptions): Promise<Instance> {
    this.calls.push(`create ${type.name} ${opts.id} ${opts.coordinatorUrl} ${opts.token ?? '-'}`);
    if (this.gate) await this.gate;
    if (this.failCreate) throw new Error(this.failCreate);
    const inst: Instance = { id: `${this.name}/${opts.id}`, workerId: opts.id, type: type.name, provider: this.name, state: 'starting', createdAt: this.clock() };
    this.instances.set(inst.id, inst);
    return { ...inst };
  }

  async delete(instanceId: string): Promise<void> {
    this.calls.push(`delete ${instanceId}`);
    if (this.failDelete) throw new Error('api unavailable');
    const inst = this.instances.get(instanceId);
    if (!inst) return;
    if (this.deleteAtOnce) this.instances.delete(instanceId);
    else inst.state = 'terminating';
  }

  async list(): Promise<Instance[]> {
    if (this.failList) throw new Error('api unavailable');
    return [...this.instances.values()].map((i) => ({ ...i }));
  }

  gone(instanceId: string): void {
    this.instances.delete(instanceId);
  }

  crash(instanceId: string): void {
    this.instances.get(instanceId)!.state = 'terminated';
    this.instances.get(instanceId)!.reason = 'exited with 1';
  }
}

function setup(registrations: (clock: () => number) => ProviderRegistration[], extra: { provisioningTimeoutMs?: number } = {}) {
  let now = 1_000_000;
  const clock = () => now;
  const changes: ManagedInstance[] = [];
  let n = 0;
  const regs = registrations(clock);
  const manager = new CloudProviderManager({
    providers: regs,
    coordinatorUrl: 'http://coordinator:7070',
    token: 'wt',
    now: clock,
    newWorkerId: (type) => `${type}-${++n}`,
    onChange: (i) => changes.push(i),
    ...extra,
  });
  return {
    manager,
    changes,
    providers: regs.map((r) => r.provider as FakeProvider),
    advance: (ms: number) => (now += ms),
  };
}

function single(maxInstances = 10) {
  return setup((clock) => [
    {
      provider: new FakeProvider('fake', clock),
      types: [
        { type: cpu, maxInstances },
        { type: gpu, maxInstances: 2 },
      ],
    },
  ]);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('CloudProviderManager with a fake provider', () => {
  it('moves an instance requested -> starting -> running only once its worker joined', async () => {
    const { manager, providers, changes } = single();
    const result = await manager.provision('cpu', 2);
    expect(result).toEqual({ started: ['cpu-1', 'cpu-2'], failed: [], rejected: 0 });
    expect(providers[0].calls).toEqual(['create cpu cpu-1 http://coordinator:7070 wt', 'create cpu cpu-2 http://coordinator:7070 wt']);
    expect(manager.get('cpu-1')).toMatchObject({ state: 'starting', instanceId: 'fake/cpu-1', provider: 'fake', type: 'cpu', requestedAt: 1_000_000 });
    expect(manager.inFlight()).toEqual([{ type: 'cpu', count: 2 }]);

    // The provider saying "running" is not enough: a reconcile pass leaves it starting.
    providers[0].instances.get('fake/cpu-1')!.state = 'running';
    await manager.reconcile();
    expect(manager.get('cpu-1')!.state).toBe('starting');

    expect(manager.observeWorkerJoined('cpu-1')).toBe(true);
    expect(manager.get('cpu-1')).toMatchObject({ state: 'running', joinedAt: 1_000_000 });
    expect(manager.inFlight()).toEqual([{ type: 'cpu', count: 1 }]);
    expect(manager.stats()).toMatchObject({ requested: 2, joined: 1 });
    expect(changes.filter((c) => c.workerId === 'cpu-1').map((c) => c.state)).toEqual(['requested', 'starting', 'running']);
  });

  it('drains, terminates and trusts termination only once the provider no longer has the instance', async () => {
    const { manager, providers } = single();
    await manager.provision('cpu', 1);
    manager.observeWorkerJoined('cpu-1');
    expect(manager.observeWorkerDraining('cpu-1')).toBe(true);
    expect(manager.get('cpu-1')!.state).toBe('draining');

    expect(await manager.terminate('cpu-1')).toBe(true);
    expect(providers[0].calls.at(-1)).toBe('delete fake/cpu-1');
    expect(manager.get('cpu-1')).toMatchObject({ state: 'terminating', reason: 'terminated on request' });
    // A second terminate does not call the provider again.
    await manager.terminate('cpu-1');
    expect(providers[0].calls.filter((c) => c.startsWith('delete'))).toHaveLength(1);

    await manager.reconcile();
    expect(manager.get('cpu-1')!.state).toBe('terminating');
    providers[0].gone('fake/cpu-1');
    await manager.reconcile();
    expect(manager.get('cpu-1')).toMatchObject({ state: 'terminated', reason: 'terminated on request', terminatedAt: 1_000_000 });
    expect(manager.stats()).toMatchObject({ terminated: 1, lost: 0 });
  });

  it('abandons an instance whose worker has not joined within the provisioning timeout, and counts it', async () => {
    const { manager, providers, advance } = setup((clock) => [{ provider: new FakeProvider('fake', clock), types: [{ type: cpu, maxInstances: 5 }] }], { provisioningTimeoutMs: 120_000 });
    providers[0].deleteAtOnce = true;
    await manager.provision('cpu', 2);
    manager.observeWorkerJoined('cpu-2');

    advance(119_999);
    await manager.reconcile();
    expect(manager.get('cpu-1')!.state).toBe('starting');

    advance(1);
    await manager.reconcile();
    expect(providers[0].calls).toContain('delete fake/cpu-1');
    expect(manager.get('cpu-1')).toMatchObject({ state: 'terminated', reason: 'provisioning timeout: not joined within 120 s' });
    expect(manager.get('cpu-2')!.state).toBe('running');
    expect(manager.stats().provisionTimeouts).toBe(1);
    expect(manager.inFlight()).toEqual([]);
    // A worker that shows up after it was given up on is not adopted.
    expect(manager.observeWorkerJoined('cpu-1')).toBe(false);
  });

  it('defaults the provisioning timeout to 120 s', async () => {
    const { manager, advance } = single();
    await manager.provision('cpu', 1);
    advance(119_000);
    await manager.reconcile();
    expect(manager.stats().provisionTimeouts).toBe(0);
    advance(1_000);
    await manager.reconcile();
    expect(manager.stats().provisionTimeouts).toBe(1);
  });

  it('enforces quotas per provider and type, falls over to the next provider, and frees quota on termination', async () => {
    const { manager, providers } = setup((clock) => [
      { provider: new FakeProvider('a', clock), types: [{ type: cpu, maxInstances: 2 }] },
      { provider: new FakeProvider('b', clock), types: [{ type: cpu, maxInstances: 1 }, { type: gpu, maxInstances: 1 }] },
    ]);
    expect(manager.capacity().map((c) => [c.type.name, c.maxInstances])).toEqual([
      ['cpu', 3],
      ['gpu', 1],
    ]);
    const result = await manager.provision('cpu', 4);
    expect(result.started).toEqual(['cpu-1', 'cpu-2', 'cpu-3']);
    expect(result.rejected).toBe(1);
    expect(manager.instances().map((i) => `${i.workerId}@${i.provider}`)).toEqual(['cpu-1@a', 'cpu-2@a', 'cpu-3@b']);
    expect((await manager.provision('high-memory', 1)).rejected).toBe(1);

    // Terminating frees nothing until the instance is observed gone.
    providers[0].deleteAtOnce = true;
    await manager.terminate('cpu-1');
    expect((await manager.provision('cpu', 1)).rejected).toBe(1);
    await manager.reconcile();
    expect(manager.get('cpu-1')!.state).toBe('terminated');
    expect(await manager.provision('cpu', 1)).toMatchObject({ started: ['cpu-4'], rejected: 0 });
    expect(manager.get('cpu-4')!.provider).toBe('a');
  });

  it('records a failed create as terminated, not in flight', async () => {
    const { manager, providers } = single();
    providers[0].failCreate = 'quota exceeded in zone';
    const result = await manager.provision('gpu', 1);
    expect(result).toEqual({ started: [], failed: [{ workerId: 'gpu-1', reason: 'create failed: quota exceeded in zone' }], rejected: 0 });
    expect(manager.get('gpu-1')).toMatchObject({ state: 'terminated', instanceId: null });
    expect(manager.inFlight()).toEqual([]);
    expect(manager.stats()).toMatchObject({ createFailures: 1, terminated: 1 });
  });

  it('counts an instance that disappears without being asked as lost', async () => {
    const { manager, providers } = single();
    await manager.provision('cpu', 2);
    manager.observeWorkerJoined('cpu-1');
    providers[0].crash('fake/cpu-1');
    providers[0].gone('fake/cpu-2');
    await manager.reconcile();
    expect(manager.get('cpu-1')).toMatchObject({ state: 'terminated', reason: 'lost: exited with 1' });
    expect(manager.get('cpu-2')).toMatchObject({ state: 'terminated', reason: 'lost: no longer listed by the provider' });
    expect(manager.stats().lost).toBe(2);
  });

  it('handles terminate and join that arrive while the create call is in flight', async () => {
    const { manager, providers } = single();
    const gate = deferred();
    providers[0].gate = gate.promise;
    const provisioning = manager.provision('cpu', 2);
    expect(manager.inFlight()).toEqual([{ type: 'cpu', count: 2 }]);
    expect(manager.get('cpu-1')).toMatchObject({ state: 'requested', instanceId: null });
    expect(await manager.terminate('cpu-1')).toBe(true);
    expect(manager.observeWorkerJoined('cpu-2')).toBe(true);
    gate.resolve();
    await provisioning;
    expect(providers[0].calls).toContain('delete fake/cpu-1');
    expect(manager.get('cpu-1')!.state).toBe('terminating');
    expect(manager.get('cpu-2')!.state).toBe('running');
  });

  it('skips a provider whose list fails and retries a failed delete on the next pass', async () => {
    const { manager, providers } = single();
    await manager.provision('cpu', 1);
    manager.observeWorkerJoined('cpu-1');
    providers[0].failList = true;
    providers[0].gone('fake/cpu-1');
    await manager.reconcile();
    expect(manager.get('cpu-1')!.state).toBe('running');
    providers[0].failList = false;

    await manager.provision('cpu', 1);
    manager.observeWorkerJoined('cpu-2');
    providers[0].failDelete = true;
    expect(await manager.terminate('cpu-2')).toBe(false);
    expect(manager.get('cpu-2')!.state).toBe('terminating');
    providers[0].failDelete = false;
    providers[0].deleteAtOnce = true;
    await manager.reconcile();
    expect(providers[0].calls.filter((c) => c === 'delete fake/cpu-2')).toHaveLength(2);
    await manager.reconcile();
    expect(manager.get('cpu-2')!.state).toBe('terminated');
  });

  it('ignores workers it did not start and rejects a provider registered twice', async () => {
    const { manager } = single();
    expect(manager.observeWorkerJoined('someone-else')).toBe(false);
    expect(await manager.terminate('someone-else')).toBe(false);
    const p = new FakeProvider('dup', () => 0);
    expect(() => new CloudProviderManager({ providers: [{ provider: p, types: [] }, { provider: p, types: [] }], coordinatorUrl: 'x' })).toThrow(/registered twice/);
  });

  it('terminateAll deletes every live instance', async () => {
    const { manager, providers } = single();
    await manager.provision('cpu', 2);
    await manager.provision('gpu', 1);
    await manager.terminateAll();
    expect(manager.instances().map((i) => i.state)).toEqual(['terminating', 'terminating', 'terminating']);
    expect(providers[0].calls.filter((c) => c.startsWith('delete')).sort()).toEqual(['delete fake/cpu-1', 'delete fake/cpu-2', 'delete fake/gpu-3']);
  });
});
