import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';

// Whether PostgreSQL tests run here, and throwaway schemas for them. Every PostgreSQL test file uses
// describePg instead of describe:
//   - server answers: the tests run;
//   - no server and DRM_REQUIRE_PG=1 (CI): one failing test says why, so a missing database is never a
//     silent pass;
//   - no server otherwise: the tests are skipped with a printed reason.
// DRM_PG_URL overrides the server (default: the local one, trust auth, database `test`).

export const PG_URL = process.env.DRM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const PG_REQUIRED = process.env.DRM_REQUIRE_PG === '1';

const PROBE_TIMEOUT_MS = 3_000;
/** Prefix of the schemas tests create; names carry their creation time so leftovers can be swept. */
const SCHEMA_PREFIX = 'drm_test_';
/** Leftover schemas (a killed run) older than this are dropped by the next run. */
const STALE_SCHEMA_MS = 60 * 60 * 1000;

let probe: Promise<string | null> | undefined;

/** Null when PostgreSQL answers at PG_URL, else why not. Probed once per test file. */
export function pgUnavailableReason(): Promise<string | null> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (error) {
      return `PostgreSQL at ${PG_URL} does not answer: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return probe;
}

/** describe() when PostgreSQL answers; otherwise a failure (DRM_REQUIRE_PG=1) or a skip with the reason printed. */
export async function describePg(name: string, body: () => void): Promise<void> {
  const reason = await pgUnavailableReason();
  if (reason === null) {
    describe(name, body);
  } else if (PG_REQUIRED) {
    describe(name, () => {
      it('needs PostgreSQL (DRM_REQUIRE_PG=1)', () => {
        throw new Error(reason);
      });
    });
  } else {
    console.warn(`skipping "${name}": ${reason} (set DRM_REQUIRE_PG=1 to make this a failure)`);
    describe.skip(name, body);
  }
}

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** PG_URL with its search_path set to `schema`, so a store's tables go there. */
export function urlWithSchema(schema: string): string {
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export interface TestSchema {
  name: string;
  /** PG_URL pointing at this schema. */
  url: string;
}

/**
 * Throwaway schemas: create() makes a fresh empty one (unique across parallel files and reruns),
 * dropAll() removes every one created and any stale ones a killed run left behind.
 */
export function testSchemas() {
  const created: string[] = [];
  return {
    async create(): Promise<TestSchema> {
      const name = `${SCHEMA_PREFIX}${Date.now()}_${randomBytes(4).toString('hex')}`;
      await withClient((c) => c.query(`CREATE SCHEMA ${name}`));
      created.push(name);
      return { name, url: urlWithSchema(name) };
    },
    async dropAll(): Promise<void> {
      await withClient(async (c) => {
        const { rows } = await c.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
          `${SCHEMA_PREFIX}%`,
        ]);
        const stale = rows
          .map((r) => r.nspname)
          .filter((n) => Number(n.slice(SCHEMA_PREFIX.length).split('_')[0]) < Date.now() - STALE_SCHEMA_MS);
        for (const name of [...created, ...stale]) await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      });
      created.length = 0;
    },
  };
}
