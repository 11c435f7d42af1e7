import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinatorServer } from '../src/coordinator/server.js';
import { scalingConfig } from '../src/core/scaling.js';
import { BUILTIN_WORKER_TYPES, type WorkerType } from '../src/core/worker-types.js';
import { LocalProvider } from '../src/providers/local.js';
import { CloudProviderManager } from '../src/providers/manager.js';
import type { CreateOptions, Instance, Provider } from '../src/providers/provider.js';
import { openStore } from '../src/store/open.js';
import { median, round, type Bench } from './figures.js';

// scale_up_reaction_ms: an empty fleet gets a task; from the submission (unplaceable demand) to the
// provider's create call (goal < 1,000 ms), and to the new worker running the task (a real process
// that has to start Node and connect).

class TimedProvider implements Provider {
  readonly name: string;
  createdAt: number | null = null;
  constructor(private readonly inner: Provider) {
    this.name = inner.name;
  }
  create(type: WorkerType, opts: CreateOptions): Promise<Instance> {
    this.createdAt ??= Date.now();
    return this.inner.create(type, opts);
  }
  delete(id: string) {
    return this.inner.delete(id);
  }
  list() {
    return this.inner.list();
  }
}

export const scalingBench: Bench = {
  name: 'scaling',
  description: 'scale-up reaction: unplaceable demand -> provider call -> task running on the new worker',
  async run(ctx) {
    const rounds = ctx.quick ? 2 : 5;
    const toCall: number[] = [];
    const toRunning: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'drm-scale-bench-'));
      const store = await openStore(join(dir, 'drm.duckdb'));
      const local = new LocalProvider({ logDir: dir, killGraceMs: 2000 });
      const provider = new TimedProvider(local);
      let manager: CloudProviderManager | null = null;
      const server = await startCoordinatorServer({
        store,
        logger: pino({ level: 'silent' }),
        port: 0,
        scaling: (url, onChange) => {
          manager = new CloudProviderManager({ providers: [{ provider, types: BUILTIN_WORKER_TYPES.map((type) => ({ type, maxInstances: 2 })) }], coordinatorUrl: url, onChange });
          return { manager, workerTypes: BUILTIN_WORKER_TYPES.map((t) => ({ ...t, min: 0, max: 2 })), config: scalingConfig() };
        },
      });
      try {
        const running = new Promise<number>((resolve) => server.coordinator.bus.on('task', (e) => e.state === 'running' && resolve(Date.now())));
        const submittedAt = Date.now();
        await server.coordinator.submit({ tasks: [{ name: 'wake-up', kind: 'command', command: [process.execPath, '-e', ''], resources: { cpu: 1, memoryMb: 256 }, priority: 0, timeoutSec: 60, maxRetries: 0 }] });
        const ranAt = await running;
        toCall.push(provider.createdAt! - submittedAt);
        toRunning.push(ranAt - submittedAt);
        ctx.log(`scaling: round ${i + 1}: provider call after ${toCall.at(-1)} ms, task running after ${toRunning.at(-1)} ms`);
      } finally {
        await server.scaling?.stop();
        await (manager as CloudProviderManager | null)?.terminateAll();
        await local.close();
        await server.close();
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    }
    return [
      { bench: 'scale_up_reaction_ms', value: round(median(toCall)), unit: 'ms', goal: '< 1000', until: 'provider create call', rounds },
      { bench: 'scale_up_to_running_ms', value: round(median(toRunning)), unit: 'ms', until: 'task running on the new worker process', rounds },
    ];
  },
};
