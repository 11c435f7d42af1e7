import type { Coordinator } from '../coordinator/coordinator.js';
import { TERMINAL_TASK_STATES } from '../schema/task.js';

// The dashboard's time series, sampled on the coordinator so that a page opened mid-run shows what
// led up to now, and so that throughput counts every finished task, not only those a page saw.

export interface SeriesPoint {
  at: number;
  /** Reserved share of capacity (0..1). */
  reserved: { cpu: number; memory: number; gpu: number };
  /** Measured (heartbeat) share of capacity (0..1). */
  measured: { cpu: number; memory: number; gpu: number };
  queueDepth: number;
  /** Assigned or running. */
  inFlight: number;
  workers: number;
  /** Tasks that reached a terminal state since the previous point. */
  finished: number;
}

export type FinishedCounts = Record<'succeeded' | 'failed' | 'timed_out' | 'canceled', number>;

export interface DashboardFeedOptions {
  sampleMs: number;
  /** Points kept (sampleMs * keep is the history a fresh page gets). */
  keep: number;
}

export const DEFAULT_FEED_OPTIONS: DashboardFeedOptions = { sampleMs: 1_000, keep: 600 };

export class DashboardFeed {
  readonly startedAt = Date.now();
  /** Terminal tasks since this coordinator started (the store is the truth for older ones). */
  readonly finished: FinishedCounts = { succeeded: 0, failed: 0, timed_out: 0, canceled: 0 };
  private readonly points: SeriesPoint[] = [];
  private finishedSinceSample = 0;
  private timer: NodeJS.Timeout | null = null;
  private off: (() => void) | null = null;

  constructor(
    private readonly coordinator: Pick<Coordinator, 'bus' | 'clusterView'>,
    readonly options: DashboardFeedOptions = DEFAULT_FEED_OPTIONS,
  ) {}

  start(): void {
    this.off = this.coordinator.bus.on('task', (e) => {
      if (!TERMINAL_TASK_STATES.has(e.state)) return;
      this.finished[e.state as keyof FinishedCounts]++;
      this.finishedSinceSample++;
    });
    this.sample();
    this.timer = setInterval(() => this.sample(), this.options.sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.off?.();
    this.timer = null;
    this.off = null;
  }

  /** Points strictly after `at` (all kept points when omitted), oldest first. */
  since(at = -Infinity): SeriesPoint[] {
    // Points are in time order; scan from the end since callers usually ask for the last few.
    let i = this.points.length;
    while (i > 0 && this.points[i - 1].at > at) i--;
    return this.points.slice(i);
  }

  sample(): SeriesPoint {
    const v = this.coordinator.clusterView();
    const point: SeriesPoint = {
      at: Date.now(),
      reserved: { cpu: v.utilization.cpu, memory: v.utilization.memory, gpu: v.utilization.gpu },
      measured: { ...v.usedUtilization },
      queueDepth: v.queueDepth,
      inFlight: (v.tasks.assigned ?? 0) + (v.tasks.running ?? 0),
      workers: v.workers.total,
      finished: this.finishedSinceSample,
    };
    this.finishedSinceSample = 0;
    this.points.push(point);
    if (this.points.length > this.options.keep) this.points.splice(0, this.points.length - this.options.keep);
    return point;
  }
}
