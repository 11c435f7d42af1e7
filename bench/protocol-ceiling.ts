import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { tickBatchedSender, WORKER_PATH } from '../src/coordinator/worker-socket.js';
import { WorkerMessageSchema, type CoordinatorMessage } from '../src/schema/protocol.js';
import { startProtocolWorkers } from './protocol-workers.js';

// What the worker protocol alone costs on this machine: the dispatch bench's clients and frames
// (assign, started, result, ack per task; every frame JSON, every worker message validated, a tick's
// sends in one write) against a server that does nothing else: no scheduler, no store, no submission.
// No coordinator can dispatch faster than this, so it bounds what `dispatch_tasks_per_s` can reach.

export async function measureProtocolCeiling(workers: number, slots: number, tasks: number): Promise<{ tasksPerSec: number; elapsedMs: number }> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const senders: Array<(msg: CoordinatorMessage) => void> = [];
  let unassigned = tasks;
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const assign = (send: (msg: CoordinatorMessage) => void) => {
    if (unassigned === 0) return;
    const n = unassigned--;
    send({
      type: 'assign',
      attemptId: `att_ceiling${n}`,
      gpuIndices: [],
      task: { taskId: `task_ceiling${n}`, name: `noop-${n}`, kind: 'command', command: ['true'], env: {}, timeoutSec: 60, resources: { cpu: 1, memoryMb: 64, gpus: 0, gpuMemoryMb: 0 } },
    });
  };
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith(WORKER_PATH)) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      const send = tickBatchedSender(ws, socket);
      ws.on('message', (data) => {
        const msg = WorkerMessageSchema.parse(JSON.parse(data.toString()));
        if (msg.type === 'hello') {
          send({ type: 'welcome', workerId: msg.workerId, heartbeatMs: 5_000 });
          senders.push(send);
        } else if (msg.type === 'result') {
          send({ type: 'ack', attemptId: msg.attemptId });
          if (++done === tasks) finish();
          else assign(send);
        }
      });
    });
  });
  await listen(server);
  const fleet = await startProtocolWorkers(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, workers, slots, 'ceiling');
  try {
    const started = performance.now();
    for (const send of senders) for (let i = 0; i < slots; i++) assign(send);
    await finished;
    const elapsedMs = performance.now() - started;
    return { tasksPerSec: (tasks / elapsedMs) * 1000, elapsedMs };
  } finally {
    await fleet.close();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
}
