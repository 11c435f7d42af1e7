import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { CLI_PATH } from '../src/providers/local.js';
import { round, type Bench } from './figures.js';

// coordinator_rss_mb_1k_workers_100k_tasks: a coordinator process holding 1,000 connected workers and
// 100,000 queued tasks (goal <= 512 MB), and its placement cycle time at that size. The workers are
// protocol-level clients too small for any task, so everything stays queued and every cycle
// considers all of it.

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

export const capacityBench: Bench = {
  name: 'capacity',
  description: 'coordinator RSS and placement cycle time with 1,000 workers and 100,000 queued tasks',
  async run(ctx) {
    const workersN = 1000;
    const tasksN = ctx.quick ? 20_000 : 100_000;
    const dir = await mkdtemp(join(tmpdir(), 'drm-capacity-'));
    const child = spawn(process.execPath, [CLI_PATH, 'coordinator', '--port', '0', '--db', join(dir, 'drm.duckdb'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const sockets: WebSocket[] = [];
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
      });
      const endpoint = url.replace('http', 'ws') + '/api/v1/worker';
      for (let i = 0; i < workersN; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, workersN - i) }, (_, k) =>
            new Promise<void>((resolve, reject) => {
              const ws = new WebSocket(endpoint);
              sockets.push(ws);
              ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', workerId: `cap-${i + k}`, workerType: 'tiny', resources: { cpu: 0.1, memoryMb: 64 }, labels: {}, provider: 'bench', running: [] })));
              ws.on('message', (data) => {
                const msg = JSON.parse(data.toString());
                if (msg.type === 'welcome') {
                  const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', usage: { cpu: 0, memoryMb: 0 } })), msg.heartbeatMs);
                  ws.once('close', () => clearInterval(beat));
                  resolve();
                }
              });
              ws.on('error', reject);
            }),
          ),
        );
      }
      ctx.log(`capacity: ${workersN} workers connected`);
      const batch = 5000;
      for (let i = 0; i < tasksN; i += batch) {
        const tasks = Array.from({ length: Math.min(batch, tasksN - i) }, (_, k) => ({ name: `queued-${i + k}`, command: ['true'], resources: { cpu: 1, memoryMb: 128 } }));
        const res = await fetch(`${url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tasks }) });
        if (!res.ok) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
      }
      ctx.log(`capacity: ${tasksN} tasks queued`);
      // Let a few cycles run over the full queue, then read the steady state.
      const cluster = async () => (await (await fetch(`${url}/api/v1/cluster`)).json()) as { queueDepth: number; lastPlacementMs: number; workers: { total: number } };
      let view = await cluster();
      const deadline = Date.now() + 60_000;
      while ((view.queueDepth < tasksN || view.workers.total < workersN) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        view = await cluster();
      }
      const gcSettled = await new Promise<number>((resolve) => setTimeout(() => resolve(0), 2000));
      const rss = await rssMb(child.pid!);
      return [
        { bench: 'coordinator_rss_mb_1k_workers_100k_tasks', value: round(rss, 1), unit: 'MB', goal: '<= 512', workers: view.workers.total, queuedTasks: view.queueDepth + gcSettled },
        { bench: 'placement_cycle_ms_1k_workers_100k_tasks', value: round(view.lastPlacementMs), unit: 'ms', workers: view.workers.total, queuedTasks: view.queueDepth },
      ];
    } finally {
      for (const s of sockets) s.terminate();
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  },
};
