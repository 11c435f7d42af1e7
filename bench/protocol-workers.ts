import { Worker } from 'node:worker_threads';

/**
 * In-process workers that speak the real WebSocket protocol and finish every task at once (no process
 * is spawned), so a benchmark measures the coordinator, not task execution. They run on a thread of
 * their own: a real coordinator does not share its event loop with its workers (just as BullMQ's
 * baseline does not share one with Redis).
 */
export async function startProtocolWorkers(url: string, count: number, slotsPerWorker: number, idPrefix = 'pw'): Promise<{ close(): Promise<void> }> {
  const thread = new Worker(new URL('./protocol-workers-thread.js', import.meta.url), { workerData: { url, count, slotsPerWorker, idPrefix } });
  await new Promise<void>((resolve, reject) => {
    thread.once('message', (msg: { ready?: true; error?: string }) => (msg.ready ? resolve() : reject(new Error(`protocol workers: ${msg.error}`))));
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`protocol workers' thread exited (${code}) before all workers joined`)));
  });
  return { close: async () => void (await thread.terminate()) };
}
