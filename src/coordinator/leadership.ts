import type { Logger } from 'pino';
import { FencedError, type Fence, type Store } from '../store/store.js';

export const LEASE_NAME = 'coordinator';

export interface LeadershipSettings {
  /** How long a lease lasts without renewal. */
  ttlMs: number;
  /** How often the leader renews (and a follower tries to take over). */
  renewMs: number;
}

export const DEFAULT_LEADERSHIP: LeadershipSettings = { ttlMs: 5000, renewMs: 1000 };

/** How long after the lease's expiry a follower tries: past it by more than the round trip that set it. */
const TAKEOVER_MARGIN_MS = 20;

export interface LeadershipEvents {
  /** Became leader at `epoch`: rebuild the view from the store and start scheduling. */
  onElected(epoch: number): Promise<void>;
  /** Lost the lease (or could not renew it in time): stop scheduling at once. */
  onDeposed(reason: string): Promise<void>;
}

/**
 * Leader election on the store's lease (PostgreSQL in a highly available fleet): the leader renews
 * every `renewMs`; a follower takes over once the lease has expired, with a higher fencing epoch.
 * Every write of the leader carries the fence, so a deposed leader's late writes are refused by the
 * database itself. The holder id embeds the advertised URL so followers can point clients at the leader.
 */
export class Leadership {
  private epoch: number | null = null;
  /** Local time by which the lease must have been renewed; past it we are no longer leader. */
  private deadline = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Fires at the deadline: a renewal stuck on an unreachable database must not keep us leading. */
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** A follower's try at the moment the lease it saw expires, between the regular ticks. */
  private takeoverTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private stopped = false;
  private leaderUrl: string | null = null;

  constructor(
    private readonly store: Store,
    readonly holder: string,
    private readonly settings: LeadershipSettings,
    private readonly events: LeadershipEvents,
    private readonly log: Logger,
  ) {}

  static holderId(coordinatorId: string, url: string): string {
    return `${coordinatorId}@${url}`;
  }

  static urlOf(holder: string | null): string | null {
    if (!holder) return null;
    const at = holder.indexOf('@');
    return at >= 0 ? holder.slice(at + 1) : null;
  }

  isLeader(): boolean {
    return this.epoch !== null && Date.now() < this.deadline;
  }

  /** The fence for a leader's writes (undefined while following). */
  fence(): Fence | undefined {
    return this.epoch === null ? undefined : { name: LEASE_NAME, holder: this.holder, epoch: this.epoch };
  }

  /** The current leader's URL as last seen (ours when leading). */
  leader(): string | null {
    return this.isLeader() ? Leadership.urlOf(this.holder) : this.leaderUrl;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.settings.renewMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.takeoverTimer) clearTimeout(this.takeoverTimer);
    if (this.epoch !== null) {
      const epoch = this.epoch;
      await this.stepDown('shutting down');
      // Hand over at once instead of making a follower wait out the TTL.
      await this.store.releaseLease(LEASE_NAME, this.holder, epoch).catch(() => false);
    }
  }

  /** Called when a write was fenced off: someone else leads now. */
  async onFenced(err: FencedError): Promise<void> {
    await this.stepDown(err.message);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    const started = Date.now();
    try {
      if (this.epoch !== null) {
        if (started >= this.deadline) return await this.stepDown('lease not renewed in time');
        const renewed = await this.store.renewLease(LEASE_NAME, this.holder, this.epoch, this.settings.ttlMs);
        if (renewed) this.extend(started);
        else await this.stepDown('lease taken over');
        return;
      }
      const lease = await this.store.acquireLease(LEASE_NAME, this.holder, this.settings.ttlMs);
      this.leaderUrl = Leadership.urlOf(lease.holder);
      if (lease.acquired && !this.stopped) {
        this.epoch = lease.epoch;
        this.extend(started);
        this.log.info({ epoch: lease.epoch, holder: this.holder }, 'elected leader');
        await this.events.onElected(lease.epoch);
      } else if (!lease.acquired) {
        this.tryAt(lease.expiresAt);
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'lease check failed');
      if (this.epoch !== null && Date.now() >= this.deadline) await this.stepDown('lease store unreachable');
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Tries again right when the lease seen expires (plus a margin), so a takeover waits out the TTL but
   * not up to one more renewal interval. A live leader renews first: the try then fails, sees the new
   * expiry and aims at that. Clocks: the lease's expiry is the store's; on one host it is this clock, and
   * between hosts a skewed try is only early (refused) or late, and the regular ticks still run.
   */
  private tryAt(expiresAt: number): void {
    if (this.takeoverTimer) clearTimeout(this.takeoverTimer);
    const wait = expiresAt - Date.now() + TAKEOVER_MARGIN_MS;
    if (wait <= 0 || wait >= this.settings.ttlMs + this.settings.renewMs) return;
    this.takeoverTimer = setTimeout(() => {
      this.takeoverTimer = null;
      void this.tick();
    }, wait);
    this.takeoverTimer.unref();
  }

  private extend(renewedAt: number): void {
    this.deadline = renewedAt + this.settings.ttlMs;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => void this.stepDown('lease not renewed in time'), Math.max(0, this.deadline - Date.now()));
    this.deadlineTimer.unref();
  }

  private async stepDown(reason: string): Promise<void> {
    if (this.epoch === null) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.log.warn({ epoch: this.epoch, reason }, 'no longer leader');
    this.epoch = null;
    this.deadline = 0;
    await this.events.onDeposed(reason);
  }
}
