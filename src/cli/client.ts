/** A small HTTP client for the coordinator API that tries each coordinator URL in turn. */
export class ApiClient {
  constructor(
    private readonly urls: string[],
    private readonly token?: string,
  ) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let lastError: unknown;
    for (const base of this.urls) {
      const url = new URL(path, base.replace(/^ws/, 'http'));
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch (err) {
        lastError = err;
        continue; // unreachable: try the next coordinator
      }
      const text = await res.text();
      const json = text ? JSON.parse(text) : {};
      if (!res.ok) {
        const e = json?.error;
        throw new ApiRequestError(res.status, e?.code ?? 'http_error', e?.message ?? `${res.status} ${res.statusText}`, e?.details);
      }
      return json as T;
    }
    const cause = lastError instanceof Error ? ((lastError.cause as Error | undefined)?.message ?? lastError.message) : String(lastError);
    throw new Error(`cannot reach the coordinator at ${this.urls.join(', ')}: ${cause}`);
  }

  /** Subscribes to the server-sent event stream; returns a function that stops it. */
  events(path: string, onEvent: (name: string, data: unknown) => void, onError: (err: Error) => void): () => void {
    const controller = new AbortController();
    const url = new URL(path, this.urls[0].replace(/^ws/, 'http'));
    void (async () => {
      try {
        const res = await fetch(url, { signal: controller.signal, headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
        if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (name && data) onEvent(name, JSON.parse(data));
          }
        }
      } catch (err) {
        if (!controller.signal.aborted) onError(err as Error);
      }
    })();
    return () => controller.abort();
  }
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
