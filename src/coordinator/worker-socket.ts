import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { CloseCode, WorkerMessageSchema, type CoordinatorMessage } from '../schema/protocol.js';
import { bearer, tokenMatches } from './auth.js';
import type { Coordinator, WorkerLink } from './coordinator.js';
import { zodMessage } from './errors.js';
import type { RejectionReason } from './events.js';

export const WORKER_PATH = '/api/v1/worker';

export interface WorkerSocketOptions {
  /** Whether this coordinator leads; a follower redirects workers to `leaderUrl()`. */
  leads: () => boolean;
  leaderUrl: () => string | null;
  workerToken?: string;
  maxFrameBytes: number;
  /** A connection that sends no valid hello within this time is closed. */
  helloTimeoutMs: number;
  /** Whether the connection is beyond its address's connection limit (refused with 429). */
  overLimit: (socket: Socket) => boolean;
  onRejection: (reason: RejectionReason) => void;
}

/** Serves the worker protocol (DESIGN.md section 6) on the Fastify server's upgrade requests. */
export function attachWorkerSocket(app: FastifyInstance, coordinator: Coordinator, log: Logger, opts: WorkerSocketOptions): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (opts.overLimit(req.socket)) {
      opts.onRejection('too_many_connections');
      return refuse(socket, 429, 'Too Many Requests');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WORKER_PATH) return refuse(socket, 404, 'Not Found');
    // The token travels in the Authorization header only: a URL ends up in proxy and access logs.
    if (!tokenMatches(bearer(req.headers.authorization), opts.workerToken)) {
      log.warn({ remote: req.socket.remoteAddress }, 'worker connection refused: bad or missing token');
      opts.onRejection('unauthorized');
      return refuse(socket, 401, 'Unauthorized');
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveWorker(ws, socket, coordinator, log, opts));
  });
  return wss;
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

// WebSocket close reasons are limited to 123 bytes.
function closeReason(text: string): string {
  const buf = Buffer.from(text);
  return buf.length <= 123 ? text : buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

/**
 * Sends coordinator messages as JSON text frames; the messages of one tick (a commit's acks and
 * assignments) leave in one socket write, not one each. Messages to a closing socket are dropped.
 */
export function tickBatchedSender(ws: WebSocket, socket: Duplex): (msg: CoordinatorMessage) => void {
  let corked = false;
  return (msg) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    ws.send(JSON.stringify(msg));
  };
}

function serveWorker(ws: WebSocket, socket: Duplex, coordinator: Coordinator, log: Logger, opts: WorkerSocketOptions): void {
  let workerId: string | null = null;
  const link: WorkerLink = {
    send: tickBatchedSender(ws, socket),
    close(code, reason) {
      ws.close(code, closeReason(reason));
    },
  };
  // Once refused, whatever else the peer sends before the close handshake ends is ignored (and not logged).
  let refused = false;
  const reject = (reason: string) => {
    if (refused) return;
    refused = true;
    log.warn({ workerId, reason }, 'worker connection closed: protocol error');
    opts.onRejection('invalid_message');
    link.close(CloseCode.badMessage, reason);
  };
  const helloTimer = setTimeout(() => reject(`no hello within ${opts.helloTimeoutMs} ms`), opts.helloTimeoutMs);

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (refused) return;
    if (isBinary) return reject('binary frames are not part of the protocol');
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      return reject('invalid message: not JSON');
    }
    const parsed = WorkerMessageSchema.safeParse(json);
    if (!parsed.success) {
      const type = typeof json === 'object' && json !== null && 'type' in json ? String((json as { type: unknown }).type) : '?';
      return reject(`invalid ${type} message: ${zodMessage(parsed.error)}`);
    }
    const msg = parsed.data;
    if (workerId === null) {
      if (msg.type !== 'hello') return reject(`expected hello first, got ${msg.type}`);
      clearTimeout(helloTimer);
      if (!opts.leads()) {
        const leader = opts.leaderUrl();
        if (leader) link.send({ type: 'redirect', leader });
        return link.close(leader ? 1012 : 1013, leader ? `not the leader; the leader is ${leader}` : 'no leader elected yet; retry');
      }
      workerId = msg.workerId;
      coordinator.onHello(link, msg).catch((err) => {
        log.error({ err, workerId }, 'hello failed');
        link.close(1011, 'coordinator could not register the worker');
      });
      return;
    }
    const id = workerId;
    coordinator.touch(id);
    const fail = (err: unknown) => log.error({ err, workerId: id, type: msg.type }, 'worker message failed');
    switch (msg.type) {
      case 'hello':
        return reject('hello sent twice on one connection');
      case 'heartbeat':
        return coordinator.onHeartbeat(id, msg.usage);
      case 'started':
        return void coordinator.onStarted(id, msg.attemptId, msg.pid).catch(fail);
      case 'result':
        return void coordinator.onResult(id, msg).catch(fail);
    }
  });
  ws.on('close', () => {
    clearTimeout(helloTimer);
    if (workerId !== null) coordinator.onDisconnect(workerId, link);
  });
  ws.on('error', (err) => {
    // ws closes the connection itself on a frame it refuses: 1009 beyond maxPayload, 1007 for a text frame
    // that is not UTF-8, 1002 for other framing errors.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') opts.onRejection('frame_too_large');
    else if (code.startsWith('WS_ERR_')) opts.onRejection('invalid_message');
    log.warn({ err: err.message, workerId }, 'worker socket error');
  });
}
