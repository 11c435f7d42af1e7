import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Resources } from '../../core/resources.js';
import { historyAccuracy, type PredictionAccuracy, type PredictionAccuracySource } from '../../dashboard/accuracy.js';
import type { Store } from '../../store/store.js';
import type { Coordinator } from '../coordinator.js';
import { REJECTION_REASONS } from '../events.js';

// Prometheus exposition at /metrics. Gauges are computed when scraped from the same read views that
// /api/v1/cluster and /api/v1/workers answer with, so the two never disagree; counters and the
// placement histogram follow the event bus. Units follow Prometheus conventions (bytes, seconds).

const MB = 1024 * 1024;
const TERMINAL = ['succeeded', 'failed', 'timed_out', 'canceled'] as const;
const SCALING_ACTIONS = ['scale_up', 'scale_down', 'maintain'] as const;
// Placement of 10k tasks on 1k workers takes ~10 ms; a cycle is usually far below a millisecond.
const PLACEMENT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

type Snapshot = { cluster: ReturnType<Coordinator['clusterView']>; workers: ReturnType<Coordinator['workerViews']>; accuracy: PredictionAccuracy | null };

/** A gauge without any sample while its value is unknown: 0 would read as "perfect prediction". */
class OptionalGauge extends Gauge<string> {
  constructor(name: string, help: string, registry: Registry, private readonly read: () => number | null) {
    super({ name, help, registers: [registry] });
  }

  override async get() {
    const value = this.read();
    if (value !== null) this.set(value);
    const metric = await super.get();
    return value === null ? { ...metric, values: [] } : metric;
  }
}

const RESOURCE_METRICS: Array<{ suffix: string; help: string; of: (r: Resources) => number }> = [
  { suffix: 'cpu_cores', help: 'CPU cores', of: (r) => r.cpu },
  { suffix: 'memory_bytes', help: 'memory in bytes', of: (r) => r.memoryMb * MB },
  { suffix: 'gpus', help: 'GPUs', of: (r) => r.gpus },
  { suffix: 'gpu_memory_bytes', help: 'GPU memory in bytes', of: (r) => r.gpuMemoryMb * MB },
];

export interface MetricsApiOptions {
  predictionAccuracy?: PredictionAccuracySource;
}

export function metricsApi(coordinator: Coordinator, store: Store, opts: MetricsApiOptions = {}) {
  const accuracy = opts.predictionAccuracy ?? historyAccuracy(store);
  return async function plugin(app: FastifyInstance) {
    // One registry per coordinator: tests run several in one process, and the global one would mix them.
    const registry = new Registry();
    // Taken once per scrape, right before prom-client calls every collect() in the same tick.
    let snap: Snapshot | null = null;
    const current = (): Snapshot => snap ?? { cluster: coordinator.clusterView(), workers: coordinator.workerViews(), accuracy: null };

    new Gauge({
      name: 'drm_workers',
      help: 'Workers by type and state (the state /api/v1/workers shows)',
      labelNames: ['type', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of current().workers) this.inc({ type: w.type, state: w.state });
      },
    });

    const perType = (kind: 'capacity' | 'reserved' | 'used', help: string, of: (w: Snapshot['workers'][number]) => Resources | null) => {
      for (const m of RESOURCE_METRICS) {
        new Gauge({
          name: `drm_${kind}_${m.suffix}`,
          help: `${help}, ${m.help}, summed by worker type`,
          labelNames: ['type'],
          registers: [registry],
          collect() {
            this.reset();
            for (const w of current().workers) {
              const r = of(w);
              this.inc({ type: w.type }, r ? m.of(r) : 0);
            }
          },
        });
      }
    };
    perType('capacity', 'Worker capacity', (w) => w.resources);
    perType('reserved', 'Resources reserved by assigned and running tasks', (w) => w.reserved);
    perType('used', 'Resources measured in use (worker heartbeats)', (w) =>
      w.usage ? { cpu: w.usage.cpu, memoryMb: w.usage.memoryMb, gpus: w.usage.gpus ?? 0, gpuMemoryMb: w.usage.gpuMemoryMb ?? 0 } : null,
    );

    new Gauge({
      name: 'drm_utilization_ratio',
      help: 'Cluster utilization (0..1) by resource; basis "reserved" is what placement reserved, "measured" what heartbeats report',
      labelNames: ['resource', 'basis'],
      registers: [registry],
      collect() {
        this.reset();
        const { utilization, usedUtilization } = current().cluster;
        for (const resource of ['cpu', 'memory', 'gpu', 'overall'] as const) this.set({ resource, basis: 'reserved' }, utilization[resource]);
        for (const resource of ['cpu', 'memory', 'gpu'] as const) this.set({ resource, basis: 'measured' }, usedUtilization[resource]);
      },
    });

    new Gauge({
      name: 'drm_tasks',
      help: 'Tasks not yet finished, by state (finished ones: drm_tasks_finished_total)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(current().cluster.tasks)) this.set({ state }, n);
      },
    });
    const scalar = (name: string, help: string, read: (s: Snapshot) => number) =>
      new Gauge({ name, help, registers: [registry], collect() { this.set(read(current())); } });
    scalar('drm_queue_depth', 'Pending tasks', (s) => s.cluster.queueDepth);
    scalar('drm_tasks_ready', 'Pending tasks whose dependencies are done (placeable once a worker fits)', (s) => s.cluster.readyTasks);
    scalar('drm_runs_active', 'Runs with unfinished tasks', (s) => s.cluster.activeRuns);
    scalar('drm_pending_demand_cpu_cores', 'CPU cores asked for by pending tasks', (s) => s.cluster.pendingDemand.cpu);
    scalar('drm_pending_demand_memory_bytes', 'Memory asked for by pending tasks, in bytes', (s) => s.cluster.pendingDemand.memoryMb * MB);
    scalar('drm_pending_demand_gpus', 'GPUs asked for by pending tasks', (s) => s.cluster.pendingDemand.gpus);

    new OptionalGauge('drm_prediction_mape_duration', 'Mean absolute percentage error of predicted task duration, as a ratio (absent until something was predicted)', registry, () => current().accuracy?.mapeDuration ?? null);
    new OptionalGauge('drm_prediction_mape_memory', 'Mean absolute percentage error of predicted peak memory, as a ratio (absent until something was predicted)', registry, () => current().accuracy?.mapeMemory ?? null);
    new OptionalGauge('drm_prediction_samples', 'Recent finished attempts that carried a prediction', registry, () => current().accuracy?.samples ?? null);

    const finished = new Counter({ name: 'drm_tasks_finished_total', help: 'Tasks that reached a terminal state since this coordinator started, by state', labelNames: ['state'], registers: [registry] });
    for (const state of TERMINAL) finished.inc({ state }, 0);
    const placement = new Histogram({ name: 'drm_placement_duration_seconds', help: 'Duration of one placement cycle', buckets: PLACEMENT_BUCKETS, registers: [registry] });
    const placed = new Counter({ name: 'drm_tasks_placed_total', help: 'Task attempts assigned to workers', registers: [registry] });
    const scaling = new Counter({ name: 'drm_scaling_decisions_total', help: 'Scaling decisions by action, executed or not', labelNames: ['action'], registers: [registry] });
    for (const action of SCALING_ACTIONS) scaling.inc({ action }, 0);
    const rejections = new Counter({
      name: 'drm_rejections_total',
      help: 'Requests, worker connections and worker frames refused (bad token, limits, invalid input), by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of REJECTION_REASONS) rejections.inc({ reason }, 0);

    const offs = [
      coordinator.bus.on('task', (e) => {
        if ((TERMINAL as readonly string[]).includes(e.state)) finished.inc({ state: e.state });
      }),
      coordinator.bus.on('placement', (e) => {
        placement.observe(e.durationMs / 1000);
        placed.inc(e.assigned);
      }),
      coordinator.bus.on('scaling', (e) => scaling.inc({ action: e.action })),
      coordinator.bus.on('rejection', (e) => rejections.inc({ reason: e.reason })),
    ];
    app.addHook('onClose', async () => {
      for (const off of offs) off();
    });

    app.get('/metrics', async (_request, reply) => {
      // The only await comes first; registry.metrics() then calls every collect() synchronously, so
      // all gauges of one scrape read the same snapshot.
      const acc = await accuracy();
      snap = { cluster: coordinator.clusterView(), workers: coordinator.workerViews(), accuracy: acc };
      const body = registry.metrics();
      snap = null;
      return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(await body);
    });
  };
}
