import { WebSocket } from 'ws';
import { CoordinatorMessageSchema } from '../src/schema/protocol.js';

/**
 * In-process workers that speak the real WebSocket protocol and finish every task at once (no
 * process is spawned), so a benchmark measures the coordinator, not task execution.
 */
export async function startProtocolWorkers(url: string, count: number, slotsPerWorker: number, idPrefix = 'pw'): Promise<{ close(): void }> {
  const sockets: WebSocket[] = [];
  const endpoint = url.replace(/^http/, 'ws') + '/api/v1/worker';
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(endpoint);
        sockets.push(ws);
        ws.on('open', () => {
          ws.send(JSON.stringify({ type: 'hello', workerId: `${idPrefix}-${i}`, workerType: 'cpu', resources: { cpu: slotsPerWorker, memoryMb: slotsPerWorker * 1024 }, labels: {}, provider: 'bench', running: [] }));
        });
        ws.on('message', (data) => {
          // Validation stays on, as a real worker would: the cost belongs to the measured path.
          const msg = CoordinatorMessageSchema.parse(JSON.parse(data.toString()));
          if (msg.type === 'welcome') {
            const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', usage: { cpu: 0, memoryMb: 0 } })), msg.heartbeatMs);
            ws.once('close', () => clearInterval(beat));
            resolve();
          }
          else if (msg.type === 'assign') {
            ws.send(JSON.stringify({ type: 'started', attemptId: msg.attemptId, pid: 1 }));
            ws.send(JSON.stringify({ type: 'result', attemptId: msg.attemptId, status: 'succeeded', exitCode: 0, durationMs: 0, usage: { peakMemoryMb: 0, cpuSeconds: 0 }, stdoutTail: '', stderrTail: '' }));
          }
        });
        ws.on('error', reject);
      }),
    ),
  );
  return { close: () => sockets.forEach((s) => s.terminate()) };
}
