import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Redirects followed per request: a follower coordinator answers 307 naming the leader. */
const MAX_REDIRECTS = 5;

export interface ApiClientOptions {
  /** Certificates trusted for https:// (Node's tls `ca`: they replace the system's; see cli/credentials.ts). */
  ca?: string | string[];
}

/**
 * A small HTTP client for the coordinator API that tries each coordinator URL in turn. It speaks through
 * node:http/https rather than fetch so that a private CA can be trusted (Node 20's fetch takes no `ca`).
 */
export class ApiClient {
  constructor(
    private readonly urls: string[],
    private readonly token?: string,
    private readonly opts: ApiClientOptions = {},
  ) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let lastError: unknown;
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    for (const base of this.urls) {
      let res: IncomingMessage;
      try {
        res = (await this.send(method, new URL(path, httpBase(base)), payload)).res;
      } catch (err) {
        lastError = err;
        continue; // unreachable: try the next coordinator
      }
      const text = await readText(res);
      let json: any = {};
      try {
        json = text ? JSON.parse(text) : {};
      } catch {
        throw new ApiRequestError(res.statusCode ?? 0, 'http_error', `${res.statusCode} ${res.statusMessage}: the answer is not JSON`);
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const e = json?.error;
        throw new ApiRequestError(status, e?.code ?? 'http_error', e?.message ?? `${status} ${res.statusMessage}`, e?.details);
      }
      return json as T;
    }
    const cause = lastError instanceof Error ? lastError.message : String(lastError);
    throw new Error(`cannot reach the coordinator at ${this.urls.join(', ')}: ${cause}`);
  }

  /** Subscribes to the server-sent event stream; returns a function that stops it. */
  events(path: string, onEvent: (name: string, data: unknown) => void, onError: (err: Error) => void): () => void {
    let stopped = false;
    let abort = () => {};
    void (async () => {
      try {
        const { res, abort: stop } = await this.send('GET', new URL(path, httpBase(this.urls[0])));
        abort = stop;
        if (stopped) return stop();
        if (res.statusCode !== 200) throw new Error(`event stream: HTTP ${res.statusCode}`);
        res.setEncoding('utf8');
        let buffer = '';
        for await (const chunk of res as AsyncIterable<string>) {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (name && data) onEvent(name, JSON.parse(data));
          }
        }
        if (!stopped) throw new Error('event stream closed by the coordinator');
      } catch (err) {
        if (!stopped) onError(err as Error);
      }
    })();
    return () => {
      stopped = true;
      abort();
    };
  }

  /** One request, following 307/308 redirects (method and body kept); resolves once the answer's head arrives. */
  private async send(method: string, url: URL, payload?: string, hops = 0): Promise<{ res: IncomingMessage; abort: () => void }> {
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { res, abort } = await new Promise<{ res: IncomingMessage; abort: () => void }>((resolve, reject) => {
      const req = request(url, { method, headers, ...(this.opts.ca && url.protocol === 'https:' ? { ca: this.opts.ca } : {}) }, (res) => resolve({ res, abort: () => req.destroy() }));
      req.on('error', reject);
      req.end(payload);
    });
    const location = res.headers.location;
    if ((res.statusCode === 307 || res.statusCode === 308) && location && hops < MAX_REDIRECTS) {
      res.resume();
      return this.send(method, new URL(location, url), payload, hops + 1);
    }
    return { res, abort };
  }
}

function httpBase(base: string): string {
  return base.replace(/^ws/, 'http');
}

async function readText(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res as AsyncIterable<string>) text += chunk;
  return text;
}

export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
