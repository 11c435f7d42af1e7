import { WebSocket, type ClientOptions } from 'ws';

/**
 * A worker at the protocol level: a real WebSocket to a coordinator, driven by the test frame by frame
 * (the real agent would never send what security tests need to send).
 */
export class ProtocolWorker {
  readonly received: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<{ match: (m: any) => boolean; resolve: (m: any) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      this.received.push(msg);
      for (const w of [...this.waiters]) {
        if (w.match(msg)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(msg);
        }
      }
    });
  }

  /** Opens the socket (the upgrade carries `token` as a Bearer header); rejects with the HTTP status if refused. */
  static connect(baseUrl: string, token?: string, opts: ClientOptions = {}): Promise<ProtocolWorker> {
    const url = baseUrl.replace(/^http/, 'ws') + '/api/v1/worker';
    const ws = new WebSocket(url, { ...opts, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new ProtocolWorker(ws)));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { status: res.statusCode }));
      });
      ws.once('error', reject);
    });
  }

  /** Connects and registers as `workerId`; resolves once welcomed. */
  static async join(baseUrl: string, token: string | undefined, workerId: string, resources: Record<string, number> = { cpu: 2, memoryMb: 2048 }): Promise<ProtocolWorker> {
    const w = await ProtocolWorker.connect(baseUrl, token);
    const welcome = w.next('welcome');
    w.send({ type: 'hello', workerId, workerType: 'proto', resources, labels: {}, provider: 'test', running: [] });
    await welcome;
    return w;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next (or an already received) message of `type` matching `where`. */
  next(type: string, where: (m: any) => boolean = () => true, timeoutMs = 15_000): Promise<any> {
    const match = (m: any) => m.type === type && where(m);
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): void {
    this.ws.terminate();
  }
}
