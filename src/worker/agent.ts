import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import WebSocket, { type RawData } from 'ws';
import { z } from 'zod';
import type { Resources } from '../core/resources.js';
import { CloseCode, CoordinatorMessageSchema, WorkerMessageSchema, type CoordinatorMessage } from '../schema/protocol.js';
import { detectResources } from './detect.js';
import { runTask, type ExecutorOptions, type ResultFields, type TaskHandle } from './executor.js';

// The worker agent: one WebSocket session to the coordinator at a time (DESIGN.md section 6), tasks run
// through the executor, results kept until acked and re-sent after every reconnect.

export const WORKER_PATH = '/api/v1/worker';

export const AGENT_DEFAULTS = {
  reconnect: { initialMs: 200, maxMs: 5000 },
  /** Used until the coordinator's welcome says otherwise. */
  heartbeatMs: 5000,
  handshakeTimeoutMs: 10_000,
  /** A session with no pong or message for this many heartbeats is considered dead and dropped. */
  silentHeartbeatsBeforeReconnect: 3,
  /** Lower bound of that silence, so a short heartbeat doesn't drop a busy but healthy link. */
  minSilenceMs: 10_000,
  /** stop() waits this long beyond the kill grace for task processes to end. */
  stopWaitExtraMs: 3000,
} as const;

export interface WorkerAgentOptions {
  coordinatorUrls: string[];
  token?: string;
  /** Certificates (PEM) trusted for wss:// instead of the system's, as Node's tls `ca` (the CLI adds --ca-file to the system's). */
  ca?: string | Buffer | Array<string | Buffer>;
  workerId?: string;
  workerType: string;
  /** Detected (systeminformation, nvidia-smi) when absent. */
  resources?: Resources;
  labels?: Record<string, string>;
  provider?: string;
  logger?: Logger;
  reconnect?: { initialMs: number; maxMs: number };
  /** Passed to every task's executor (kill grace, sample interval, cwd base). */
  executor?: Omit<ExecutorOptions, 'logger'>;
  /** Throw on an outgoing message that fails WorkerMessageSchema (tests); otherwise it is logged and sent anyway. */
  strictMessages?: boolean;
}

export interface WorkerAgentEvents {
  connected: [{ url: string }];
  disconnected: [{ url: string; code: number; reason: string }];
  assigned: [{ attemptId: string; taskId: string; pid: number | undefined }];
  finished: [{ attemptId: string; taskId: string; result: ResultFields }];
  /** The agent ended: after stop(), or with the error that ended it (e.g. unauthorized). */
  stopped: [{ error?: Error }];
}

export interface WorkerAgent extends EventEmitter<WorkerAgentEvents> {
  readonly id: string;
  readonly resources: Resources;
  /** Settles when the agent ends: resolves after stop(), rejects with a fatal error (unauthorized). */
  readonly done: Promise<void>;
  /** Attempts currently running. */
  runningAttempts(): string[];
  /** Results not yet acked by the coordinator. */
  unackedResults(): string[];
  /** Graceful: stops reconnecting, kills running tasks (their attempts are left to the coordinator's loss handling), closes the socket. */
  stop(): Promise<void>;
}

export class UnauthorizedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

type Outgoing = z.input<typeof WorkerMessageSchema>;
type ResultOut = Extract<Outgoing, { type: 'result' }>;

interface Running {
  taskId: string;
  handle: TaskHandle;
  result: Promise<ResultFields>;
  gpus: number;
  startedAt: number;
  /** cpu seconds and time at the previous heartbeat, for cores-in-use. */
  lastCpu: { cpuSeconds: number; at: number };
}

/** `http(s)://host[:port][/base]` or `ws(s)://...` -> the worker endpoint URL. */
export function workerEndpoint(base: string): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`unsupported coordinator URL "${base}" (expected http(s):// or ws(s)://)`);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith(WORKER_PATH) ? path : `${path}${WORKER_PATH}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Capped exponential backoff with equal jitter: the delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function defaultWorkerId(workerType: string): string {
  return `${hostname()}-${workerType}-${randomBytes(3).toString('hex')}`;
}

class Agent extends EventEmitter<WorkerAgentEvents> implements WorkerAgent {
  readonly id: string;
  readonly done: Promise<void>;
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  private readonly log: Logger;
  private readonly urls: string[];
  private readonly reconnectCfg: { initialMs: number; maxMs: number };
  private urlIndex = 0;
  private redirectTo: string | undefined;
  private failures = 0;
  private ws: WebSocket | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private heartbeatMs: number = AGENT_DEFAULTS.heartbeatMs;
  private readonly running = new Map<string, Running>();
  private readonly results = new Map<string, ResultOut>();
  private draining = false;
  private stopping = false;

  constructor(
    private readonly opts: WorkerAgentOptions,
    readonly resources: Resources,
    logger: Logger,
  ) {
    super();
    if (opts.coordinatorUrls.length === 0) throw new Error('a worker needs at least one coordinator URL');
    this.urls = opts.coordinatorUrls.map(workerEndpoint);
    this.id = opts.workerId ?? defaultWorkerId(opts.workerType);
    this.reconnectCfg = opts.reconnect ?? AGENT_DEFAULTS.reconnect;
    this.log = logger.child({ workerId: this.id });
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that never awaits `done` must not crash the process with an unhandled rejection.
    this.done.catch(() => {});
  }

  start(): void {
    this.log.info({ workerType: this.opts.workerType, resources: this.resources, urls: this.urls }, 'worker agent starting');
    this.connect();
  }

  runningAttempts(): string[] {
    return [...this.running.keys()];
  }

  unackedResults(): string[] {
    return [...this.results.keys()];
  }

  private connect(): void {
    if (this.stopping) return;
    let url: string;
    if (this.redirectTo) {
      url = this.redirectTo;
      this.redirectTo = undefined;
    } else {
      url = this.urls[this.urlIndex % this.urls.length];
      this.urlIndex++;
    }
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    this.log.debug({ url }, 'connecting');
    const ws = new WebSocket(url, { headers, handshakeTimeout: AGENT_DEFAULTS.handshakeTimeoutMs, ...(this.opts.ca ? { ca: this.opts.ca } : {}) });
    this.ws = ws;
    let httpStatus: number | undefined;

    ws.on('unexpected-response', (_req, res) => {
      // A coordinator may refuse the upgrade itself (401/403) instead of closing with 4001.
      httpStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => this.onOpen(ws, url));
    ws.on('message', (data, isBinary) => this.onMessage(ws, data, isBinary));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('error', (err) => this.log.warn({ url, err: err.message }, 'coordinator connection error'));
    ws.on('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString();
      if (this.ws === ws) {
        this.ws = undefined;
        this.stopHeartbeats();
      }
      if (httpStatus === 401 || httpStatus === 403) {
        this.fatal(new UnauthorizedError(`coordinator ${url} refused the worker (HTTP ${httpStatus}); check the worker token`));
        return;
      }
      this.emit('disconnected', { url, code, reason });
      if (code === CloseCode.unauthorized) {
        this.fatal(new UnauthorizedError(`coordinator ${url} closed the session as unauthorized: ${reason || 'no reason given'}`));
        return;
      }
      if (this.stopping) return;
      const fields = { url, code, reason, httpStatus };
      if (code >= 4000 && code <= 4999) this.log.warn(fields, 'coordinator closed the session');
      else this.log.info(fields, 'disconnected from coordinator');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    // A redirect names the leader: go there at once.
    const delay = this.redirectTo ? 0 : backoffDelay(this.failures, this.reconnectCfg.initialMs, this.reconnectCfg.maxMs);
    this.failures++;
    this.log.debug({ delayMs: delay, failures: this.failures }, 'reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  private onOpen(ws: WebSocket, url: string): void {
    this.lastHeard = Date.now();
    this.log.info({ url }, 'connected to coordinator');
    this.send(
      {
        type: 'hello',
        workerId: this.id,
        workerType: this.opts.workerType,
        resources: this.resources,
        labels: this.opts.labels ?? {},
        provider: this.opts.provider ?? 'manual',
        running: [...this.running].map(([attemptId, r]) => ({ taskId: r.taskId, attemptId })),
      },
      ws,
    );
    // Results the previous session never acked; the coordinator accepts each once.
    for (const result of this.results.values()) this.send(result, ws);
    this.emit('connected', { url });
  }

  private onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    this.lastHeard = Date.now();
    if (isBinary) {
      this.log.warn('ignoring a binary frame from the coordinator');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      this.log.warn('ignoring a frame that is not JSON');
      return;
    }
    const msg = CoordinatorMessageSchema.safeParse(parsed);
    if (!msg.success) {
      this.log.warn({ issues: msg.error.issues.slice(0, 5), frameType: (parsed as { type?: unknown })?.type }, 'ignoring an invalid coordinator message');
      return;
    }
    this.handle(ws, msg.data);
  }

  private handle(ws: WebSocket, msg: CoordinatorMessage): void {
    switch (msg.type) {
      case 'welcome':
        if (msg.workerId !== this.id) this.log.warn({ welcomedAs: msg.workerId }, 'coordinator welcomed a different worker id');
        this.failures = 0;
        this.heartbeatMs = msg.heartbeatMs;
        this.startHeartbeats(ws);
        return;
      case 'assign':
        this.assign(msg);
        return;
      case 'cancel': {
        const r = this.running.get(msg.attemptId);
        if (!r) {
          this.log.info({ attemptId: msg.attemptId }, 'cancel for an attempt that is not running');
          return;
        }
        this.log.info({ attemptId: msg.attemptId, taskId: r.taskId, reason: msg.reason }, 'canceling task');
        r.handle.cancel(msg.reason ?? 'canceled by coordinator');
        return;
      }
      case 'ack':
        this.results.delete(msg.attemptId);
        return;
      case 'drain':
        this.draining = true;
        this.log.info('draining: the coordinator will assign no new tasks');
        return;
      case 'redirect':
        try {
          this.redirectTo = workerEndpoint(msg.leader);
        } catch (err) {
          this.log.warn({ leader: msg.leader, err: (err as Error).message }, 'ignoring a redirect to an invalid URL');
          return;
        }
        this.log.info({ leader: this.redirectTo }, 'redirected to the leader');
        ws.close(1000, 'redirected');
        return;
      case 'error':
        this.log.warn({ code: msg.code, message: msg.message }, 'coordinator reported an error');
        return;
    }
  }

  private assign(msg: Extract<CoordinatorMessage, { type: 'assign' }>): void {
    const { attemptId, task } = msg;
    const log = this.log.child({ taskId: task.taskId, attemptId });
    if (this.stopping) {
      log.warn('ignoring an assignment while stopping');
      return;
    }
    if (this.running.has(attemptId)) {
      log.info('attempt already running; ignoring the repeated assignment');
      return;
    }
    const kept = this.results.get(attemptId);
    if (kept) {
      log.info('attempt already finished; re-sending its result');
      this.send(kept);
      return;
    }
    if (this.draining) log.warn('assigned while draining; running it anyway');

    const { handle, result } = runTask(msg, { ...this.opts.executor, logger: this.log });
    const now = Date.now();
    this.running.set(attemptId, {
      taskId: task.taskId,
      handle,
      result,
      gpus: msg.gpuIndices.length,
      startedAt: now,
      lastCpu: { cpuSeconds: 0, at: now },
    });
    if (handle.pid !== undefined) this.send({ type: 'started', attemptId, pid: handle.pid });
    this.emit('assigned', { attemptId, taskId: task.taskId, pid: handle.pid });

    void result.then((fields) => {
      this.running.delete(attemptId);
      // Tasks killed by stop() are not reported: the coordinator treats them as lost and retries them.
      if (this.stopping) return;
      const out: ResultOut = { type: 'result', attemptId, ...fields };
      this.results.set(attemptId, out);
      this.send(out);
      this.emit('finished', { attemptId, taskId: task.taskId, result: fields });
    });
  }

  private startHeartbeats(ws: WebSocket): void {
    this.stopHeartbeats();
    const silenceLimit = Math.max(AGENT_DEFAULTS.minSilenceMs, this.heartbeatMs * AGENT_DEFAULTS.silentHeartbeatsBeforeReconnect);
    this.heartbeatTimer = setInterval(() => {
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastHeard > silenceLimit) {
        this.log.warn({ silentMs: Date.now() - this.lastHeard }, 'coordinator went silent; reconnecting');
        ws.terminate();
        return;
      }
      this.send({ type: 'heartbeat', usage: this.usage() }, ws);
      // Any frame or pong proves the link alive; ws servers answer pings on their own.
      ws.ping();
    }, this.heartbeatMs);
  }

  private stopHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Usage of all running tasks: cores in use since the last heartbeat, memory from the latest samples. */
  private usage(): { cpu: number; memoryMb: number; gpus?: number } {
    let cpu = 0;
    let memoryMb = 0;
    let gpus = 0;
    for (const r of this.running.values()) {
      gpus += r.gpus;
      const s = r.handle.latestUsage();
      if (!s) continue;
      memoryMb += s.memoryMb;
      const wallSec = (s.at - r.lastCpu.at) / 1000;
      if (wallSec > 0) {
        cpu += Math.max(0, s.cpuSeconds - r.lastCpu.cpuSeconds) / wallSec;
        r.lastCpu = { cpuSeconds: s.cpuSeconds, at: s.at };
      }
    }
    const usage: { cpu: number; memoryMb: number; gpus?: number } = { cpu: round(cpu), memoryMb: round(memoryMb) };
    if (this.resources.gpus > 0) usage.gpus = gpus;
    return usage;
  }

  private send(msg: Outgoing, ws: WebSocket | undefined = this.ws): void {
    const check = WorkerMessageSchema.safeParse(msg);
    if (!check.success) {
      if (this.opts.strictMessages) throw new Error(`invalid outgoing ${msg.type} message: ${check.error.message}`);
      this.log.error({ messageType: msg.type, issues: check.error.issues.slice(0, 5) }, 'sending a message that fails the protocol schema');
    }
    // Not connected: hello re-announces running attempts and results are re-sent on the next session.
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(msg));
  }

  private fatal(error: Error): void {
    this.log.error({ err: error.message }, 'worker agent stopping');
    void this.shutdown(error);
  }

  stop(): Promise<void> {
    return this.shutdown();
  }

  private async shutdown(error?: Error): Promise<void> {
    if (this.stopping) return this.done.catch(() => {});
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopHeartbeats();
    const tasks = [...this.running.values()];
    for (const r of tasks) r.handle.cancel('worker stopping');
    const grace = (this.opts.executor?.killGraceMs ?? 2000) + AGENT_DEFAULTS.stopWaitExtraMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(tasks.map((r) => r.result)),
      new Promise((resolve) => (timer = setTimeout(resolve, grace))),
    ]);
    clearTimeout(timer);
    const ws = this.ws;
    if (ws) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'worker stopping');
      else ws.terminate();
      // A coordinator that never answers the close handshake must not hold stop() up.
      await Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    }
    this.log.info({ error: error?.message }, 'worker agent stopped');
    this.emit('stopped', { error });
    if (error) this.settle.reject(error);
    else this.settle.resolve();
    return this.done.catch(() => {});
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function defaultLogger(): Logger {
  return pino({ name: 'drm-worker', level: 'info' }, pino.destination(2));
}

/**
 * Starts a worker agent: detects resources when none are given, then connects (retrying with backoff)
 * and runs what the coordinator assigns. Resolves once started, not once connected; await `agent.done`
 * to learn that it ended (it rejects with UnauthorizedError when the coordinator refuses the token).
 */
export async function startWorkerAgent(opts: WorkerAgentOptions): Promise<WorkerAgent> {
  const logger = opts.logger ?? defaultLogger();
  const res = opts.resources ?? (await detectResources());
  const agent = new Agent(opts, res, logger);
  agent.start();
  return agent;
}
