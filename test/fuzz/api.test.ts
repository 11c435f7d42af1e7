import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { junk, nastyNumber, nastyString, poolName, taskLike, validSubmission } from './arbitraries.js';

// Property: against a real coordinator (in this process, DuckDB in a temp dir, loopback HTTP), no request
// body, query string or path gets a 5xx; every refusal is a 4xx with {error: {code, message}}; a refused
// request stores nothing; an accepted submission stores exactly one run and its tasks.

const TOKEN = 'fuzz-admin-token';

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  body?: string;
  contentType?: string;
  auth: 'ok' | 'none' | 'wrong';
}

function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80'; // a lone surrogate has no UTF-8: send the bytes a careless client would
  }
}

/** A path segment or query value: text percent-encoded, or raw percent sequences (bad UTF-8, NUL, lone %). */
const segment = fc.oneof(
  { weight: 4, arbitrary: nastyString.map(encode) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%ED%A0%80', '..', '%2e%2e', '%2F', 'task_1', 'run_1') },
);

const query = fc
  .dictionary(fc.constantFrom('state', 'runId', 'limit', 'since', 'modelType', 'batchSize', 'name', 'kind', 'modelName', 'token', 'x'), fc.oneof(segment, nastyNumber.map(String), fc.constantFrom('pending', 'pending,running', 'bogus,', '10', '-1', '1e3', '')), { maxKeys: 3 })
  .map((q) => {
    const parts = Object.entries(q).map(([k, v]) => `${k}=${v}`);
    return parts.length > 0 ? `?${parts.join('&')}` : '';
  });

const submission: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: validSubmission.map((b) => JSON.stringify(b)) },
  { weight: 4, arbitrary: fc.record({ suite: junk, tasks: fc.oneof(fc.array(taskLike({ names: poolName }), { maxLength: 4 }), junk) }, { requiredKeys: [] }).map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"tasks":[', 'null', '[]', '{"__proto__":{"admin":true},"tasks":[]}', '{"constructor":{"prototype":{}}}', '{"tasks":[{"name":"a","command":["x"]}],"tasks":[]}') },
);

const auth = fc.constantFrom<Req['auth']>('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'none', 'wrong');

const request: fc.Arbitrary<Req> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ body: submission, contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1') }), auth, q: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: query }) }).map((r) => ({ method: 'POST' as const, path: `/api/v1/tasks${r.q}`, body: r.body, contentType: r.contentType, auth: r.auth })) },
  {
    weight: 4,
    arbitrary: fc
      .record({
        base: fc.constantFrom('/api/v1/tasks', '/api/v1/runs', '/api/v1/scaling/decisions', '/api/v1/predictions', '/api/v1/dashboard', '/api/v1/workers', '/api/v1/cluster', '/api/v1/events', '/api/v1/tasks/', '/api/v1/runs/', '/api/v1/nope'),
        id: segment,
        q: query,
        auth,
      })
      .map((r) => ({ method: 'GET' as const, path: `${r.base}${r.base.endsWith('/') ? r.id : ''}${r.q}`, auth: r.auth })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ method: fc.constantFrom<Req['method']>('POST', 'PUT', 'DELETE', 'PATCH'), tpl: fc.constantFrom('/api/v1/tasks/{}/cancel', '/api/v1/workers/{}/drain', '/api/v1/runs/{}', '/api/v1/tasks/{}'), id: segment, body: fc.option(submission, { nil: undefined }), auth })
      .map((r) => ({ method: r.method, path: r.tpl.replace('{}', r.id), body: r.body, contentType: r.body !== undefined ? 'application/json' : undefined, auth: r.auth })),
  },
);

describe('API fuzz', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let accepted = 0;
  let initialRuns = 0;

  beforeAll(async () => {
    cluster = await TestCluster.start({ token: TOKEN });
    initialRuns = (await cluster.store.listRuns(100_000)).length;
  });
  afterAll(async () => cluster?.stop());

  // Cheap per request: a submission stores a run with at least one task, and every stored task raises the
  // highest sequence number (runs are counted in full at the end).
  const stored = async () => ({ seq: await cluster.store.maxTaskSeq() });

  async function send(r: Req): Promise<{ status: number; body: any; text: string; contentType: string | null }> {
    const headers: Record<string, string> = {};
    if (r.contentType) headers['content-type'] = r.contentType;
    if (r.auth === 'ok') headers.authorization = `Bearer ${TOKEN}`;
    if (r.auth === 'wrong') headers.authorization = 'Bearer not-the-token';
    const controller = new AbortController();
    const res = await fetch(cluster.url + r.path, { method: r.method, headers, body: r.body, signal: controller.signal });
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      controller.abort();
      return { status: res.status, body: null, text: '', contentType: res.headers.get('content-type') };
    }
    const text = await res.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // asserted below for refusals
    }
    return { status: res.status, body, text, contentType: res.headers.get('content-type') };
  }

  it('answers thousands of generated requests without a 5xx; refusals are 4xx {error} and store nothing', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = await stored();
        const res = await send(r);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const what = `${r.method} ${r.path} ${r.body?.slice(0, 200) ?? ''} -> ${res.status} ${res.text.slice(0, 300)}`;
        expect(res.status, what).toBeLessThan(500);
        const after = await stored();
        if (res.status >= 400) {
          expect(res.contentType, what).toMatch(/^application\/json/);
          expect(res.body?.error, what).toMatchObject({ code: expect.any(String), message: expect.any(String) });
          expect(after, what).toEqual(before);
          // Without the token nothing gets past 401, except a URL the router cannot even decode.
          if (r.auth !== 'ok') expect(res.status === 401 || res.body.error.code === 'bad_url', what).toBe(true);
        } else if (r.method === 'POST' && res.status === 201) {
          accepted++;
          expect(res.body.taskIds.length, what).toBeGreaterThan(0);
          expect(after, what).toEqual({ seq: before.seq + res.body.taskIds.length });
        } else {
          expect(after, what).toEqual(before);
        }
      }),
      { numRuns: 1500 },
    );
    // Both sides were exercised, and the store agrees with what was accepted.
    expect(accepted).toBeGreaterThan(30);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(2);
    expect((await cluster.store.listRuns(100_000)).length).toBe(initialRuns + accepted);
    expect((await cluster.api('GET', '/healthz')).status).toBe(200);
  });
});
