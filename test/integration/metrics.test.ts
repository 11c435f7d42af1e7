import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, nodeTask } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

// /metrics against a real coordinator and worker: the text must be valid Prometheus exposition
// format, and its numbers must be the ones /api/v1/cluster reports.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"';
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|[+-]?Inf|NaN)';
const SAMPLE_RE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (${VALUE})(?: (-?\\d+))?$`);
const HELP_RE = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`);
const TYPE_RE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** A strict parser of the text format (0.0.4): throws on the first line that is not valid. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const familyOf = (sample: string): Family | undefined => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const f of families.values()) if ((SUFFIXES[f.type] ?? []).some((s) => sample === f.name + s)) return f;
    return undefined;
  };
  expect(text.endsWith('\n'), 'exposition ends with a newline').toBe(true);
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = HELP_RE.exec(line))) {
      const f = families.get(m[1]);
      if (f?.help || f?.samples.length) throw new Error(`${where}: HELP after the family's samples or twice`);
      families.set(m[1], { name: m[1], type: f?.type ?? '', help: m[2], samples: [] });
    } else if ((m = TYPE_RE.exec(line))) {
      const f = families.get(m[1]);
      if (f?.type || f?.samples.length) throw new Error(`${where}: TYPE after the family's samples or twice`);
      families.set(m[1], { name: m[1], type: m[2], help: f?.help ?? '', samples: [] });
    } else if (line.startsWith('#')) {
      // Other comments are allowed by the format.
    } else if ((m = SAMPLE_RE.exec(line))) {
      const name = m[1];
      const f = familyOf(name);
      if (!f || !f.type || !f.help) throw new Error(`${where}: sample before its HELP and TYPE lines`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(new RegExp(LABEL, 'g'))) {
        if (k in labels) throw new Error(`${where}: label ${k} twice`);
        labels[k] = v.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (seen.has(key)) throw new Error(`${where}: duplicate sample`);
      seen.add(key);
      const raw = m[m.length - 2];
      f.samples.push({ name, labels, value: raw.endsWith('Inf') ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw) });
    } else {
      throw new Error(`${where}: not valid Prometheus text format`);
    }
  });
  for (const f of families.values()) if (!f.type) throw new Error(`family ${f.name} has HELP but no TYPE`);
  return families;
}

function sum(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  const f = families.get(name);
  if (!f) throw new Error(`no metric ${name}`);
  return f.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

async function scrape(cluster: TestCluster): Promise<{ families: Map<string, Family>; contentType: string | null }> {
  const res = await fetch(`${cluster.url}/metrics`);
  expect(res.status).toBe(200);
  return { families: parsePrometheus(await res.text()), contentType: res.headers.get('content-type') };
}

describe('GET /metrics', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ token: 'metrics-secret' });
    await cluster.addWorker('cpu');
  });
  afterAll(async () => cluster?.stop());

  const auth = { authorization: 'Bearer metrics-secret' };

  it('is Prometheus text whose numbers agree with /api/v1/cluster', async () => {
    const done = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'quick', command: nodeTask('console.log("ok")'), resources: { cpu: 1, memoryMb: 128 } }] }, auth);
    expect(done.status).toBe(201);
    expect((await cluster.waitForRun(done.body.runId)).state).toBe('succeeded');

    // One task keeps running and one waits on it, so the compared numbers are not all zero.
    const { body } = await cluster.api(
      'POST',
      '/api/v1/tasks',
      {
        tasks: [
          { name: 'holder', command: nodeTask('setTimeout(() => {}, 60000)'), resources: { cpu: 1.5, memoryMb: 512 } },
          { name: 'waiter', command: nodeTask('0'), resources: { cpu: 1, memoryMb: 128 }, dependsOn: ['holder'] },
        ],
      },
      auth,
    );
    const [holderId] = body.taskIds as string[];
    await waitFor('holder to run', async () => (await cluster.store.getTask(holderId))?.state === 'running');

    const { families: m, contentType } = await scrape(cluster);
    const cluster1 = (await cluster.api('GET', '/api/v1/cluster', undefined, auth)).body;
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    expect(sum(m, 'drm_workers')).toBe(cluster1.workers.total);
    expect(sum(m, 'drm_workers', { type: 'cpu', state: 'active' })).toBe(1);
    expect(sum(m, 'drm_capacity_cpu_cores')).toBe(cluster1.capacity.cpu);
    expect(sum(m, 'drm_capacity_cpu_cores', { type: 'cpu' })).toBe(4);
    expect(sum(m, 'drm_capacity_memory_bytes')).toBe(cluster1.capacity.memoryMb * 1024 * 1024);
    expect(sum(m, 'drm_reserved_cpu_cores')).toBe(cluster1.reserved.cpu);
    expect(cluster1.reserved.cpu).toBe(1.5);
    expect(sum(m, 'drm_reserved_memory_bytes')).toBe(cluster1.reserved.memoryMb * 1024 * 1024);
    expect(sum(m, 'drm_queue_depth')).toBe(cluster1.queueDepth);
    expect(cluster1.queueDepth).toBe(1);
    for (const [state, n] of Object.entries(cluster1.tasks as Record<string, number>)) expect(sum(m, 'drm_tasks', { state }), state).toBe(n);
    expect(sum(m, 'drm_tasks', { state: 'running' })).toBe(1);
    expect(sum(m, 'drm_utilization_ratio', { resource: 'cpu', basis: 'reserved' })).toBeCloseTo(cluster1.utilization.cpu, 12);
    expect(sum(m, 'drm_pending_demand_cpu_cores')).toBe(cluster1.pendingDemand.cpu);

    const hist = m.get('drm_placement_duration_seconds')!;
    expect(hist.type).toBe('histogram');
    const count = hist.samples.find((s) => s.name === 'drm_placement_duration_seconds_count')!.value;
    expect(count).toBeGreaterThan(0);
    const buckets = hist.samples.filter((s) => s.name.endsWith('_bucket'));
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(count);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(sum(m, 'drm_tasks_placed_total')).toBeGreaterThanOrEqual(2);
    expect(sum(m, 'drm_tasks_finished_total', { state: 'succeeded' })).toBe(1);

    // Canceling the holder cancels its dependent: both count as finished, and the queue empties.
    await cluster.api('POST', `/api/v1/tasks/${holderId}/cancel`, undefined, auth);
    await waitFor('the holder to release its reservation', () => cluster.server.coordinator.clusterView().reserved.cpu === 0);
    const after = (await scrape(cluster)).families;
    const cluster2 = (await cluster.api('GET', '/api/v1/cluster', undefined, auth)).body;
    expect(sum(after, 'drm_tasks_finished_total', { state: 'canceled' })).toBe(2);
    expect(sum(after, 'drm_queue_depth')).toBe(cluster2.queueDepth);
    expect(cluster2.queueDepth).toBe(0);
    expect(sum(after, 'drm_reserved_cpu_cores')).toBe(0);
  });

  it('counts scaling decisions by action from the event bus', async () => {
    const before = (await scrape(cluster)).families;
    expect(sum(before, 'drm_scaling_decisions_total', { action: 'scale_up' })).toBe(0);
    cluster.server.coordinator.bus.emit('scaling', { action: 'scale_up', workerType: 'gpu', count: 2, reason: 'test', at: Date.now() });
    cluster.server.coordinator.bus.emit('scaling', { action: 'maintain', workerType: null, count: 0, reason: 'test', at: Date.now() });
    const after = (await scrape(cluster)).families;
    expect(sum(after, 'drm_scaling_decisions_total', { action: 'scale_up' })).toBe(1);
    expect(sum(after, 'drm_scaling_decisions_total', { action: 'maintain' })).toBe(1);
    expect(sum(after, 'drm_scaling_decisions_total', { action: 'scale_down' })).toBe(0);
  });

  it('has no prediction error sample until something was predicted', async () => {
    const { families } = await scrape(cluster);
    for (const name of ['drm_prediction_mape_duration', 'drm_prediction_mape_memory']) {
      expect(families.get(name)?.type).toBe('gauge');
      expect(families.get(name)!.samples).toHaveLength(0);
    }
  });
});

describe('prediction error in /metrics', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start();
  });
  afterAll(async () => cluster?.stop());

  it('reports the mean absolute percentage error of recorded predictions', async () => {
    const row = (attemptId: string, durationMs: number, predictedDurationMs: number | null, peakMemoryMb: number, predictedMemoryMb: number | null) => ({
      kind: 'taskHistory' as const,
      row: { attemptId, taskId: `t-${attemptId}`, name: 'bench', kind: 'benchmark', modelType: 'm', modelName: null, batchSize: 8, labels: {}, workerType: 'cpu', succeeded: true, durationMs, peakMemoryMb, cpuSeconds: 1, gpuMemoryMb: null, predictedDurationMs, predictedMemoryMb, finishedAt: Date.now() },
    });
    // |1000-1200|/1000 = 0.2 and |2000-1000|/2000 = 0.5 -> 0.35; memory |100-75|/100 = 0.25; the unpredicted row is ignored.
    await cluster.store.write([row('a1', 1000, 1200, 100, 75), row('a2', 2000, 1000, 50, null), row('a3', 500, null, 10, null)]);
    const { families } = await scrape(cluster);
    expect(sum(families, 'drm_prediction_mape_duration')).toBeCloseTo(0.35, 10);
    expect(sum(families, 'drm_prediction_mape_memory')).toBeCloseTo(0.25, 10);
    expect(sum(families, 'drm_prediction_samples')).toBe(2);
    // No workers: the per-type families are present and empty, the totals are zero.
    expect(families.get('drm_workers')!.samples).toHaveLength(0);
    expect(sum(families, 'drm_queue_depth')).toBe(0);
    const dash = await cluster.api('GET', '/api/v1/dashboard');
    expect(dash.body.predictionAccuracy).toEqual({ mapeDuration: expect.closeTo(0.35, 10), mapeMemory: 0.25, samples: 2 });
  });
});
