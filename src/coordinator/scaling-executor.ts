import type { Logger } from 'pino';
import { recommend } from '../core/recommend.js';
import { decideScaling, shouldRecordDecision, type ScalingConfig, type ScalingDecision, type ScalingWorkerType } from '../core/scaling.js';
import type { CloudProviderManager, ManagedInstance } from '../providers/manager.js';
import type { Coordinator } from './coordinator.js';
import { newId } from './ids.js';

export interface ScalingExecutorOptions {
  coordinator: Coordinator;
  manager: CloudProviderManager;
  /** Types the fleet may have, with their min and max. */
  workerTypes: ScalingWorkerType[];
  config: ScalingConfig;
  logger: Logger;
  /** How often instances are observed (a dead local process is noticed within this). */
  observeMs?: number;
  /** New unplaceable demand triggers an evaluation after at most this delay (coalescing bursts). */
  demandDelayMs?: number;
  now?: () => number;
}

/**
 * The side-effect half of the DynamicResourceManager: feeds the pure policy (core/scaling) a snapshot
 * of the coordinator and the providers' in-flight instances, then acts on its reply: provisions,
 * drains, terminates drained idle workers, takes workers back, fails infeasible tasks, and stores
 * every decision. Runs on an interval and within `demandDelayMs` of unplaceable demand.
 */
export class ScalingExecutor {
  private readonly o: Required<Omit<ScalingExecutorOptions, 'now'>> & { now: () => number };
  private timers: NodeJS.Timeout[] = [];
  private demandTimer: NodeJS.Timeout | null = null;
  private evaluating: Promise<void> | null = null;
  private lastScaleUpAt: number | null = null;
  private lastRecorded: ScalingDecision | undefined;
  /** Since when each type has been above the scale-up threshold without a break. */
  private aboveSince: Record<string, number> = {};
  private offs: Array<() => void> = [];
  private stopped = false;
  /** When unplaceable demand was first seen, for scale_up_reaction_ms. */
  private demandSeenAt: number | null = null;
  readonly reactions: number[] = [];

  constructor(opts: ScalingExecutorOptions) {
    this.o = { observeMs: 1000, demandDelayMs: 200, now: Date.now, ...opts };
  }

  start(): void {
    const { coordinator, manager } = this.o;
    this.offs.push(
      coordinator.bus.on('worker', (e) => {
        if (e.state === 'active') manager.observeWorkerJoined(e.workerId);
      }),
      coordinator.bus.on('placement', (e) => {
        if (e.pending > 0) this.soon();
      }),
    );
    this.timers.push(setInterval(() => void this.observe(), this.o.observeMs));
    this.timers.push(setInterval(() => void this.evaluate(), this.o.config.evaluationIntervalMs));
    for (const t of this.timers) t.unref();
    this.soon();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    for (const t of this.timers) clearInterval(t);
    if (this.demandTimer) clearTimeout(this.demandTimer);
    await this.evaluating;
  }

  /** Evaluates shortly (coalesced): new demand must not wait for the interval. */
  soon(): void {
    if (this.demandTimer || this.stopped) return;
    this.demandSeenAt ??= this.o.now();
    this.demandTimer = setTimeout(() => {
      this.demandTimer = null;
      void this.evaluate();
    }, this.o.demandDelayMs);
    this.demandTimer.unref();
  }

  /** Called by the manager on every instance change: a lost instance's worker is gone for good. */
  onInstanceChange(instance: ManagedInstance): void {
    if (instance.state !== 'terminated') return;
    const lost = instance.reason?.startsWith('lost') ?? false;
    void this.o.coordinator.markWorkerGone(instance.workerId, instance.reason ?? 'instance ended', lost ? 'lost' : 'terminated');
  }

  private async observe(): Promise<void> {
    try {
      await this.o.manager.reconcile();
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'observing instances failed');
    }
  }

  /** One evaluation; concurrent calls share the one in flight. */
  evaluate(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.evaluating ??= this.run().finally(() => (this.evaluating = null));
    return this.evaluating;
  }

  private async run(): Promise<void> {
    const { coordinator, manager, logger } = this.o;
    try {
      await manager.reconcile();
      const now = this.o.now();
      const { workers, pending } = coordinator.scalingSnapshot();
      const quota = new Map(manager.capacity().map((c) => [c.type.name, c.maxInstances]));
      const workerTypes = this.o.workerTypes.map((t) => ({ ...t, max: Math.min(t.max, quota.get(t.name) ?? 0) }));
      const reply = decideScaling({ now, workers, pending, provisioning: manager.inFlight(), workerTypes, config: this.o.config, lastScaleUpAt: this.lastScaleUpAt, recommend, aboveThresholdSince: this.aboveSince });
      this.aboveSince = Object.fromEntries(reply.aboveThreshold.map((t) => [t, this.aboveSince[t] ?? now]));

      if (reply.infeasible.length > 0) await coordinator.failPending(reply.infeasible);
      for (const id of reply.undrain) await coordinator.undrain(id);
      for (const decision of reply.decisions) {
        if (decision.action === 'scale_up' && decision.workerType) {
          const result = await manager.provision(decision.workerType, decision.count);
          decision.workerIds = result.started;
          if (result.started.length > 0) {
            this.lastScaleUpAt = now;
            if (this.demandSeenAt !== null) this.reactions.push(this.o.now() - this.demandSeenAt);
          }
          const notes = [result.failed.length ? `${result.failed.length} failed to start` : '', result.rejected ? `${result.rejected} over quota` : ''].filter(Boolean);
          if (notes.length) decision.reason += ` (${notes.join(', ')})`;
        }
        if (decision.action === 'scale_down') {
          for (const id of decision.workerIds) {
            await coordinator.drain(id, 'scaling').catch(() => undefined);
            manager.observeWorkerDraining(id);
          }
        }
        if (shouldRecordDecision(this.lastRecorded, decision)) {
          await coordinator.recordScalingDecision({
            id: newId('scale'),
            at: decision.at,
            action: decision.action,
            workerType: decision.workerType,
            count: decision.count,
            workerIds: decision.workerIds,
            reason: decision.reason,
            utilization: decision.utilization,
            pendingDemand: decision.pendingDemand,
            executed: decision.action !== 'maintain',
          });
          this.lastRecorded = decision;
          if (decision.action !== 'maintain') logger.info({ action: decision.action, workerType: decision.workerType, count: decision.count, workerIds: decision.workerIds }, decision.reason);
        }
      }
      // Only workers the policy drained and that stayed idle: no running task is ever killed.
      for (const id of reply.terminate) await manager.terminate(id, 'scaled down: drained and idle');
      if (pending.length === 0) this.demandSeenAt = null;
    } catch (err) {
      logger.error({ err }, 'scaling evaluation failed');
    }
  }
}
