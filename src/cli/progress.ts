import type { EventBus } from '../coordinator/events.js';
import { TERMINAL_TASK_STATES } from '../schema/task.js';

const MARK: Record<string, string> = { succeeded: 'ok  ', failed: 'FAIL', timed_out: 'TIME', canceled: 'SKIP' };

/**
 * Prints one line per task that starts or finishes, and a summary line every few seconds while a
 * run is in flight, so long runs always show they are alive.
 */
export function showProgress(bus: EventBus, runId: string, total: number, out: NodeJS.WritableStream = process.stdout, everyMs = 5000): () => void {
  const started = Date.now();
  const states = new Map<string, string>();
  const secs = () => ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  const off = bus.on('task', (e) => {
    if (e.runId !== runId) return;
    const prev = states.get(e.taskId);
    states.set(e.taskId, e.state);
    if (e.state === 'running' && prev !== 'running') out.write(`[${secs()}s] run  ${e.name} on ${e.workerId}\n`);
    else if (TERMINAL_TASK_STATES.has(e.state)) out.write(`[${secs()}s] ${MARK[e.state]} ${e.name}${e.reason && e.state !== 'succeeded' ? `: ${e.reason}` : ''}\n`);
    else if (e.state === 'pending' && prev && prev !== 'pending') out.write(`[${secs()}s] retry ${e.name}${e.reason ? `: ${e.reason}` : ''}\n`);
  });
  const timer = setInterval(() => {
    let done = 0;
    let running = 0;
    for (const s of states.values()) {
      if (TERMINAL_TASK_STATES.has(s as never)) done++;
      else if (s === 'running' || s === 'assigned') running++;
    }
    out.write(`[${secs()}s] ${done}/${total} done, ${running} running, ${total - done - running} waiting\n`);
  }, everyMs);
  timer.unref();
  return () => {
    off();
    clearInterval(timer);
  };
}
