import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';

/** An over-limit connection that sends no request is dropped after this long. */
const OVER_LIMIT_IDLE_MS = 5000;

/** Whether a remote address is this machine (127.0.0.0/8, ::1, and IPv4-mapped 127.x). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/**
 * Counts open connections (HTTP keep-alive, event streams, WebSocket) per remote address. A
 * connection beyond the limit is not refused at once (there is no request yet to answer): it is marked,
 * its first request or upgrade is answered 429 and closed, and it is dropped if it stays silent.
 */
export class ConnectionLimiter {
  private readonly open = new Map<string, number>();
  /** Marked connections, by `address|port` (the same for a TLS socket and the TCP socket under it). */
  private readonly over = new Set<string>();

  constructor(
    private readonly perAddress: number,
    private readonly exemptLoopback: boolean,
  ) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
  }

  /** Whether this connection (raw or TLS socket) is beyond its address's limit. */
  isOverLimit(socket: Socket): boolean {
    return this.over.size > 0 && this.over.has(key(socket));
  }

  /** Open connections from an address (tests, diagnostics). */
  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }

  private onConnection(socket: Socket): void {
    const address = socket.remoteAddress;
    if (!address || (this.exemptLoopback && isLoopbackAddress(address))) return;
    const n = (this.open.get(address) ?? 0) + 1;
    this.open.set(address, n);
    const k = key(socket);
    if (n > this.perAddress) {
      this.over.add(k);
      socket.setTimeout(OVER_LIMIT_IDLE_MS, () => socket.destroy());
    }
    socket.once('close', () => {
      this.over.delete(k);
      const left = (this.open.get(address) ?? 1) - 1;
      if (left > 0) this.open.set(address, left);
      else this.open.delete(address);
    });
  }
}

function key(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
