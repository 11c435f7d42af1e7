import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { CoordinatorMessageSchema } from '../src/schema/protocol.js';

// The thread behind startProtocolWorkers: `count` workers of `slotsPerWorker` CPU slots each, which
// answer every assignment with `started` and `result` at once.

const { url, count, slotsPerWorker, idPrefix } = workerData as { url: string; count: number; slotsPerWorker: number; idPrefix: string };
const endpoint = url.replace(/^http/, 'ws') + '/api/v1/worker';

function join(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(endpoint);
    let socket: Socket | undefined;
    ws.once('upgrade', (res) => (socket = res.socket));
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', workerId: `${idPrefix}-${i}`, workerType: 'cpu', resources: { cpu: slotsPerWorker, memoryMb: slotsPerWorker * 1024 }, labels: {}, provider: 'bench', running: [] }));
    });
    ws.on('message', (data) => {
      // Validation stays on, as a real worker would.
      const msg = CoordinatorMessageSchema.parse(JSON.parse(data.toString()));
      if (msg.type === 'welcome') {
        const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', usage: { cpu: 0, memoryMb: 0 } })), msg.heartbeatMs);
        ws.once('close', () => clearInterval(beat));
        resolve();
      } else if (msg.type === 'assign') {
        // Both frames in one write, as the coordinator batches its own.
        socket?.cork();
        ws.send(JSON.stringify({ type: 'started', attemptId: msg.attemptId, pid: 1 }));
        ws.send(JSON.stringify({ type: 'result', attemptId: msg.attemptId, status: 'succeeded', exitCode: 0, durationMs: 0, usage: { peakMemoryMb: 0, cpuSeconds: 0 }, stdoutTail: '', stderrTail: '' }));
        socket?.uncork();
      }
    });
    ws.on('error', reject);
  });
}

Promise.all(Array.from({ length: count }, (_, i) => join(i))).then(
  () => parentPort!.postMessage({ ready: true }),
  (err: Error) => parentPort!.postMessage({ error: err.message }),
);
