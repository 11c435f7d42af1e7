import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinatorServer, type CoordinatorServer } from '../../src/coordinator/server.js';
import { scalingConfig } from '../../src/core/scaling.js';
import { BUILTIN_WORKER_TYPES } from '../../src/core/worker-types.js';
import { LocalProvider } from '../../src/providers/local.js';
import { CloudProviderManager } from '../../src/providers/manager.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { nodeTask } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

// The fleet grows and shrinks with the load, with real `drm worker` processes from the local provider.
describe('autoscaling with the local provider', () => {
  let dir: string;
  let store: Store;
  let server: CoordinatorServer;
  let provider: LocalProvider;
  let manager: CloudProviderManager;

  afterEach(async () => {
    await server?.scaling?.stop();
    await manager?.terminateAll();
    await provider?.close();
    await server?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a spike starts workers of the right types; when the queue drains they are drained and stopped; no running task is killed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drm-scale-'));
    store = await openStore(join(dir, 'drm.duckdb'));
    provider = new LocalProvider({ logDir: dir, killGraceMs: 5000 });
    server = await startCoordinatorServer({
      store,
      logger: pino({ level: 'silent' }),
      port: 0,
      scaling: (url, onChange) => {
        manager = new CloudProviderManager({ providers: [{ provider, types: BUILTIN_WORKER_TYPES.map((type) => ({ type, maxInstances: 3 })) }], coordinatorUrl: url, onChange });
        return {
          manager,
          workerTypes: BUILTIN_WORKER_TYPES.map((t) => ({ ...t, min: 0, max: 3 })),
          config: scalingConfig({ idleTimeoutMs: 1000, cooldownAfterScaleUpMs: 0, evaluationIntervalMs: 300, maxWorkers: 6 }),
        };
      },
    });
    const tasks = [
      ...Array.from({ length: 6 }, (_, i) => ({ name: `cpu-${i}`, command: nodeTask('setTimeout(() => {}, 1500)'), resources: { cpu: 2, memoryMb: 512 } })),
      { name: 'gpu-0', command: nodeTask('if (!process.env.CUDA_VISIBLE_DEVICES) process.exit(1); setTimeout(() => {}, 1500)'), resources: { cpu: 1, memoryMb: 1024, gpus: 1 } },
    ];
    const { runId } = await server.coordinator.submit({ suite: 'spike', tasks: tasks.map((t) => ({ ...t, kind: 'command' as const, priority: 0, timeoutSec: 60, maxRetries: 0 })) });
    const run = await waitFor('the spike to finish', async () => {
      const r = await store.getRun(runId);
      return r && r.state !== 'running' ? r : undefined;
    }, 90_000);
    expect(run.state).toBe('succeeded');

    const decisions = await store.listScalingDecisions(100);
    const ups = decisions.filter((d) => d.action === 'scale_up');
    expect(ups.some((d) => d.workerType === 'cpu')).toBe(true);
    expect(ups.some((d) => d.workerType === 'gpu')).toBe(true);
    // GPU protection: CPU demand never brought up a GPU worker beyond the one the GPU task needed.
    expect(ups.filter((d) => d.workerType === "gpu").reduce((n, d) => n + d.count, 0), JSON.stringify(ups.map((d) => [d.workerType, d.count, d.reason]))).toBe(1);
    const tasksByName = Object.fromEntries((await store.listTasks({ runId })).map((t) => [t.name, t]));
    expect(tasksByName['gpu-0'].workerType).toBe('gpu');
    // CPU work may spill onto the GPU worker while no CPU worker has joined yet (placement's GPU
    // protection yields when nothing else can take it now); what matters is that it made no GPU worker start.
    for (let i = 0; i < 6; i++) expect(['cpu', 'gpu']).toContain(tasksByName[`cpu-${i}`].workerType);
    expect(Object.values(tasksByName).filter((t) => t.workerType === 'cpu').length).toBeGreaterThan(0);

    // Queue drained: idle workers are drained, then stopped.
    await waitFor('every worker to be scaled down and stopped', async () => {
      const workers = await store.listWorkers();
      return workers.length > 0 && workers.every((w) => w.state === 'terminated');
    }, 60_000, 100);
    const downs = (await store.listScalingDecisions(100)).filter((d) => d.action === 'scale_down');
    expect(downs.length).toBeGreaterThan(0);
    // Nothing was killed: every attempt of the run finished by itself.
    for (const t of Object.values(tasksByName)) {
      const attempts = await store.listAttempts(t.id);
      expect(attempts.map((a) => a.state), t.name).toEqual(['succeeded']);
    }
    expect(manager.stats().terminated).toBeGreaterThan(0);
  });
});
