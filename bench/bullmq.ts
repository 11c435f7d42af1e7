import { randomBytes } from 'node:crypto';

// The same no-op workload on BullMQ (the queue most Node teams would reach for) with the local Redis:
// `tasks` jobs added in bulk, `workers` consumers of `slots` concurrency each, timed until every job
// completed. Loaded lazily: BullMQ is a development dependency used only by this benchmark.

export const REDIS = { host: '127.0.0.1', port: 6379 };

export async function redisAnswers(): Promise<string | null> {
  const { Redis } = await import('ioredis');
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return `Redis does not answer at ${REDIS.host}:${REDIS.port}: ${(err as Error).message}`;
  } finally {
    redis.disconnect();
  }
}

export async function measureBullmq(workers: number, slots: number, tasks: number): Promise<{ tasksPerSec: number; elapsedMs: number }> {
  const { Queue, Worker } = await import('bullmq');
  const name = `drm-bench-${randomBytes(4).toString('hex')}`;
  const queue = new Queue(name, { connection: REDIS });
  const consumers: Array<InstanceType<typeof Worker<unknown, unknown>>> = [];
  let done = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  try {
    for (let i = 0; i < workers; i++) {
      const w = new Worker<unknown, unknown>(name, async () => undefined, { connection: REDIS, concurrency: slots, autorun: false, removeOnComplete: { count: 0 } });
      w.on('completed', () => {
        if (++done === tasks) resolveAll();
      });
      consumers.push(w);
    }
    await Promise.all(consumers.map((w) => w.waitUntilReady()));
    const started = performance.now();
    for (const w of consumers) void w.run();
    for (let i = 0; i < tasks; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, tasks - i) }, (_, k) => ({ name: 'noop', data: { n: i + k } })));
    }
    await all;
    const elapsedMs = performance.now() - started;
    return { tasksPerSec: (tasks / elapsedMs) * 1000, elapsedMs };
  } finally {
    await Promise.all(consumers.map((w) => w.close()));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
