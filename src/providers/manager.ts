// CloudProviderManager: turns the policy's "launch N of type T" and "stop worker W" into provider calls, and keeps
// each instance's lifecycle from what it observes (Ray autoscaler v2's instance manager, reduced).
//
//   requested --create ok--> starting --worker joined--> running --drain--> draining
//       |                       |                           |                 |
//       |                       +--provisioning timeout-----+--terminate()----+--> terminating --gone--> terminated
//       +--create failed------------------------------------------------------------------------------> terminated
//
// A side effect is trusted only once observed: an instance is `running` only when the coordinator reports its
// worker joined (observeWorkerJoined), and `terminated` only when its provider no longer lists it (or lists it
// terminated) on a reconcile() pass. An instance whose worker has not joined within provisioningTimeoutMs is
// abandoned: deleted and counted in stats().provisionTimeouts. Instances a provider reports gone without being asked
// count in stats().lost. The clock is injected; nothing runs on a timer here: the coordinator calls reconcile() on
// its evaluation interval.

import { randomBytes } from 'node:crypto';
import type { WorkerType } from '../core/worker-types.js';
import type { Instance, InstanceState, Provider } from './provider.js';

export interface ProviderRegistration {
  provider: Provider;
  /** The worker types this provider can create, each with a quota: the most instances of it alive at once. */
  types: { type: WorkerType; maxInstances: number }[];
}

export interface ManagerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CloudProviderManagerOptions {
  /** Tried in order: a type goes to the first provider that offers it and has quota left. */
  providers: ProviderRegistration[];
  /** What new workers connect to (`drm worker --coordinator`; a comma-separated list for failover). */
  coordinatorUrl: string;
  token?: string;
  /** An instance whose worker has not joined this long after the request is abandoned (default 120 s). */
  provisioningTimeoutMs?: number;
  now?: () => number;
  /** Worker ids for new instances (default `<type>-<8 hex>`; DNS-label safe when the type name is). */
  newWorkerId?: (type: string) => string;
  logger?: ManagerLogger;
  /** Called after every state change (for the event bus and the dashboard). */
  onChange?: (instance: ManagedInstance) => void;
}

export interface ManagedInstance {
  workerId: string;
  /** The provider's id; null while the create call is in flight. */
  instanceId: string | null;
  type: string;
  provider: string;
  state: InstanceState;
  requestedAt: number;
  joinedAt: number | null;
  terminatedAt: number | null;
  /** Why it ended: terminated on request, provisioning timeout, create failed, lost. */
  reason: string | null;
}

export interface ProvisionResult {
  /** Worker ids of the instances now `starting` (or already `running`). */
  started: string[];
  /** Instances whose create call failed. */
  failed: { workerId: string; reason: string }[];
  /** How many of the requested count no provider had quota (or the type) for. */
  rejected: number;
}

export interface ManagerStats {
  requested: number;
  createFailures: number;
  joined: number;
  provisionTimeouts: number;
  /** Instances that disappeared without being asked to (crashed process, evicted pod). */
  lost: number;
  terminated: number;
}

export const DEFAULT_PROVISIONING_TIMEOUT_MS = 120_000;
// Terminated instances kept for instances() and the dashboard; older ones are forgotten.
const KEEP_TERMINATED = 200;

interface Entry {
  view: ManagedInstance;
  registration: ProviderRegistration;
  /** terminate() arrived while the create call was in flight: delete as soon as it returns. */
  deleteWhenCreated: boolean;
  /** The worker joined while the create call was in flight. */
  joinedEarly: boolean;
  /** The provider accepted the delete call. */
  deleteRequested: boolean;
  /** The delete call in flight (or done). */
  deleting?: Promise<boolean>;
}

export class CloudProviderManager {
  private readonly entries = new Map<string, Entry>();
  private readonly counters: ManagerStats = { requested: 0, createFailures: 0, joined: 0, provisionTimeouts: 0, lost: 0, terminated: 0 };
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly newWorkerId: (type: string) => string;

  constructor(private readonly opts: CloudProviderManagerOptions) {
    const names = new Set<string>();
    for (const r of opts.providers) {
      if (names.has(r.provider.name)) throw new Error(`provider "${r.provider.name}" registered twice`);
      names.add(r.provider.name);
    }
    this.timeoutMs = opts.provisioningTimeoutMs ?? DEFAULT_PROVISIONING_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    this.newWorkerId = opts.newWorkerId ?? ((type) => `${type}-${randomBytes(4).toString('hex')}`);
  }

  /** The types the providers can create and, per type, the most instances alive at once (summed quotas). */
  capacity(): { type: WorkerType; maxInstances: number }[] {
    const out = new Map<string, { type: WorkerType; maxInstances: number }>();
    for (const r of this.opts.providers) {
      for (const t of r.types) {
        const seen = out.get(t.type.name);
        if (seen) seen.maxInstances += t.maxInstances;
        else out.set(t.type.name, { type: t.type, maxInstances: t.maxInstances });
      }
    }
    return [...out.values()].sort((a, b) => compare(a.type.name, b.type.name));
  }

  /** Requests `count` instances of `typeName`; resolves when every create call has returned. */
  async provision(typeName: string, count: number): Promise<ProvisionResult> {
    const result: ProvisionResult = { started: [], failed: [], rejected: 0 };
    const creating: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const found = this.providerFor(typeName);
      if (!found) {
        result.rejected++;
        continue;
      }
      const entry = this.request(found.registration, found.type);
      creating.push(
        this.create(entry, found.type).then((error) => {
          if (error === undefined) result.started.push(entry.view.workerId);
          else result.failed.push({ workerId: entry.view.workerId, reason: error });
        }),
      );
    }
    await Promise.all(creating);
    result.started.sort(compare);
    result.failed.sort((a, b) => compare(a.workerId, b.workerId));
    if (result.rejected > 0) this.opts.logger?.warn({ workerType: typeName, rejected: result.rejected }, 'no provider quota left for this worker type');
    return result;
  }

  /** The coordinator saw this worker join. Returns false for a worker this manager did not start (or gave up on). */
  observeWorkerJoined(workerId: string): boolean {
    const entry = this.entries.get(workerId);
    if (!entry) return false;
    const s = entry.view.state;
    if (s === 'requested') {
      entry.joinedEarly = true;
      return true;
    }
    if (s !== 'starting') return s === 'running' || s === 'draining';
    this.counters.joined++;
    this.set(entry, 'running', { joinedAt: this.now() });
    return true;
  }

  /** The coordinator started draining this worker. */
  observeWorkerDraining(workerId: string): boolean {
    const entry = this.entries.get(workerId);
    if (!entry || entry.view.state !== 'running') return false;
    this.set(entry, 'draining');
    return true;
  }

  /**
   * Deletes the instance running this worker (call it once the worker is drained and idle). Resolves true once the
   * deletion is requested (or was already), false for an unknown worker or when the provider call failed (then the
   * next reconcile() retries it).
   */
  async terminate(workerId: string, reason = 'terminated on request'): Promise<boolean> {
    const entry = this.entries.get(workerId);
    if (!entry) return false;
    const s = entry.view.state;
    if (s === 'terminated' || (s === 'terminating' && entry.deleteRequested)) return true;
    if (s !== 'terminating') this.set(entry, 'terminating', { reason });
    if (entry.view.instanceId === null) {
      entry.deleteWhenCreated = true;
      return true;
    }
    return this.delete(entry);
  }

  /**
   * One observation pass: abandons instances past the provisioning timeout, then lists every provider and moves
   * instances it no longer has (or reports terminated) to `terminated`. A provider whose list fails is skipped.
   */
  async reconcile(): Promise<void> {
    const now = this.now();
    const abandon: Promise<boolean>[] = [];
    for (const entry of this.entries.values()) {
      const s = entry.view.state;
      if ((s === 'requested' || s === 'starting') && now - entry.view.requestedAt >= this.timeoutMs) {
        this.counters.provisionTimeouts++;
        this.opts.logger?.warn({ workerId: entry.view.workerId, workerType: entry.view.type }, 'worker did not join in time: abandoning the instance');
        abandon.push(this.terminate(entry.view.workerId, `provisioning timeout: not joined within ${Math.round(this.timeoutMs / 1000)} s`));
      }
    }
    // Deletes that failed before are retried on every pass.
    for (const entry of this.entries.values()) {
      if (entry.view.state === 'terminating' && !entry.deleteRequested && entry.view.instanceId !== null) abandon.push(this.delete(entry));
    }
    await Promise.all(abandon);

    for (const registration of this.opts.providers) {
      const provider = registration.provider;
      // Only instances created before the list call are judged by it: one created meanwhile may not be listed yet.
      const known = [...this.entries.values()].filter((e) => e.registration === registration && e.view.instanceId !== null && e.view.state !== 'terminated');
      if (known.length === 0) continue;
      let observed: Instance[];
      try {
        observed = await provider.list();
      } catch (err) {
        this.opts.logger?.warn({ provider: provider.name, err }, 'provider list failed; will retry on the next pass');
        continue;
      }
      const byId = new Map(observed.map((i) => [i.id, i]));
      for (const entry of known) {
        if (entry.view.state === 'terminated') continue;
        const seen = byId.get(entry.view.instanceId!);
        if (seen && seen.state !== 'terminated') {
          // Deleted behind our back (kubectl delete, node drain): it is going away.
          if (seen.state === 'terminating' && entry.view.state !== 'terminating') this.set(entry, 'terminating', { reason: 'deleted by the provider' });
          continue;
        }
        const why = seen?.reason ?? 'no longer listed by the provider';
        if (entry.view.state === 'terminating') this.finish(entry, entry.view.reason ?? why);
        else {
          this.counters.lost++;
          this.opts.logger?.warn({ workerId: entry.view.workerId, provider: provider.name, reason: why }, 'instance lost');
          this.finish(entry, `lost: ${why}`);
        }
      }
    }
    this.prune();
  }

  /** Instances requested or starting (not joined yet), per type: the policy's `provisioning` input. */
  inFlight(): { type: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const e of this.entries.values()) {
      if (e.view.state === 'requested' || e.view.state === 'starting') counts.set(e.view.type, (counts.get(e.view.type) ?? 0) + 1);
    }
    return [...counts].map(([type, count]) => ({ type, count })).sort((a, b) => compare(a.type, b.type));
  }

  get(workerId: string): ManagedInstance | undefined {
    const e = this.entries.get(workerId);
    return e ? { ...e.view } : undefined;
  }

  /** Every instance still known (terminated ones for a while), by worker id. */
  instances(): ManagedInstance[] {
    return [...this.entries.values()].map((e) => ({ ...e.view })).sort((a, b) => compare(a.workerId, b.workerId));
  }

  stats(): ManagerStats {
    return { ...this.counters };
  }

  /** Deletes every instance not yet terminating (coordinator shutdown, end of `drm run`). */
  async terminateAll(reason = 'shutdown'): Promise<void> {
    const ids = [...this.entries.values()].filter((e) => e.view.state !== 'terminating' && e.view.state !== 'terminated').map((e) => e.view.workerId);
    await Promise.all(ids.map((id) => this.terminate(id, reason)));
  }

  // ---------------------------------------------------------------------------------------------- internals

  private providerFor(typeName: string): { registration: ProviderRegistration; type: WorkerType } | undefined {
    for (const registration of this.opts.providers) {
      const offer = registration.types.find((t) => t.type.name === typeName);
      if (!offer) continue;
      let alive = 0;
      for (const e of this.entries.values()) if (e.registration === registration && e.view.type === typeName && e.view.state !== 'terminated') alive++;
      if (alive < offer.maxInstances) return { registration, type: offer.type };
    }
    return undefined;
  }

  private request(registration: ProviderRegistration, type: WorkerType): Entry {
    let workerId = this.newWorkerId(type.name);
    for (let n = 2; this.entries.has(workerId); n++) workerId = `${this.newWorkerId(type.name)}-${n}`;
    const entry: Entry = {
      view: {
        workerId,
        instanceId: null,
        type: type.name,
        provider: registration.provider.name,
        state: 'requested',
        requestedAt: this.now(),
        joinedAt: null,
        terminatedAt: null,
        reason: null,
      },
      registration,
      deleteWhenCreated: false,
      joinedEarly: false,
      deleteRequested: false,
    };
    this.entries.set(workerId, entry);
    this.counters.requested++;
    this.opts.onChange?.({ ...entry.view });
    return entry;
  }

  /** Resolves with undefined when created, or the reason it failed. */
  private async create(entry: Entry, type: WorkerType): Promise<string | undefined> {
    const { provider } = entry.registration;
    let instance: Instance;
    try {
      instance = await provider.create(type, { id: entry.view.workerId, coordinatorUrl: this.opts.coordinatorUrl, token: this.opts.token });
    } catch (err) {
      const reason = `create failed: ${err instanceof Error ? err.message : String(err)}`;
      this.counters.createFailures++;
      this.opts.logger?.warn({ workerId: entry.view.workerId, provider: provider.name, reason }, 'instance create failed');
      this.finish(entry, reason);
      return reason;
    }
    entry.view.instanceId = instance.id;
    this.opts.logger?.info({ workerId: entry.view.workerId, provider: provider.name, instanceId: instance.id, workerType: type.name }, 'instance created');
    if (entry.deleteWhenCreated) await this.delete(entry);
    else if (entry.view.state === 'requested') {
      this.set(entry, 'starting');
      if (entry.joinedEarly) this.observeWorkerJoined(entry.view.workerId);
    }
    return undefined;
  }

  /** One delete call at a time per instance; concurrent callers share it. */
  private delete(entry: Entry): Promise<boolean> {
    entry.deleting ??= entry.registration.provider.delete(entry.view.instanceId!).then(
      () => {
        entry.deleteRequested = true;
        return true;
      },
      (err: unknown) => {
        // Stays `terminating` with the delete not requested: reconcile() tries again.
        this.opts.logger?.warn({ workerId: entry.view.workerId, err }, 'instance delete failed');
        entry.deleting = undefined;
        return false;
      },
    );
    return entry.deleting;
  }

  private set(entry: Entry, state: InstanceState, patch: Partial<ManagedInstance> = {}): void {
    Object.assign(entry.view, patch, { state });
    this.opts.onChange?.({ ...entry.view });
  }

  private finish(entry: Entry, reason: string): void {
    this.counters.terminated++;
    this.set(entry, 'terminated', { terminatedAt: this.now(), reason });
  }

  private prune(): void {
    const ended = [...this.entries.values()].filter((e) => e.view.state === 'terminated');
    if (ended.length <= KEEP_TERMINATED) return;
    ended.sort((a, b) => a.view.terminatedAt! - b.view.terminatedAt!);
    for (const e of ended.slice(0, ended.length - KEEP_TERMINATED)) this.entries.delete(e.view.workerId);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
