import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { TABLE_MAPPINGS } from '../../src/store/mapping.js';
import { openStore } from '../../src/store/open.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/schema.js';
import { FencedError, type Change, type LeaseAcquisition } from '../../src/store/store.js';
import { run, storeContract, task } from './contract.js';
import { describePg, testSchemas } from './pg-available.js';

// Each store gets a fresh schema (search_path in its URL), so parallel files and reruns never collide.

const schemas = testSchemas();

/** A migrated store on a fresh schema, closed by the caller. */
async function freshStore(): Promise<PostgresStore> {
  const store = await PostgresStore.open((await schemas.create()).url);
  await store.migrate();
  return store;
}

/** Settles a promise into what happened to it, for races. */
function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** True when `p` is still pending after `ms`. */
async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = Symbol('pending');
  const first = await Promise.race([p.then(() => undefined, () => undefined), new Promise((r) => setTimeout(() => r(timeout), ms))]);
  return first === timeout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await describePg('PostgreSQL store', () => {
  afterAll(async () => {
    await schemas.dropAll();
  });

  storeContract('postgres', async () => PostgresStore.open((await schemas.create()).url));

  describe('PostgresStore', () => {
    it('has every mapped column and the documented indexes after migrating', async () => {
      const store = await freshStore();
      for (const mapping of TABLE_MAPPINGS) {
        const rows = await store.query(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
          [mapping.table],
        );
        expect(rows.map((r) => r.column_name), mapping.table).toStrictEqual(mapping.columns.map((c) => c.name));
      }
      const lease = await store.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'leader_lease' ORDER BY ordinal_position",
      );
      expect(lease.map((r) => r.column_name)).toStrictEqual(['name', 'holder', 'epoch', 'expires_at']);
      const indexes = await store.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey' ORDER BY indexname");
      expect(indexes.map((r) => r.indexname)).toStrictEqual([
        'attempts_task_id_idx',
        'task_history_model_type_idx',
        'task_history_name_idx',
        'tasks_run_id_idx',
        'tasks_state_idx',
        'usage_samples_worker_idx',
      ]);
      await store.close();
    });

    it('keeps data across reopen and does not rerun migrations', async () => {
      const { url } = await schemas.create();
      const first = await PostgresStore.open(url);
      await first.migrate();
      const applied = await first.appliedMigrations();
      expect(applied.map((m) => m.version)).toStrictEqual(MIGRATIONS.map((m) => m.version));
      await first.write([{ kind: 'runInsert', run: run() }, { kind: 'taskInsert', task: task() }]);
      await first.close();

      const second = await PostgresStore.open(url);
      await second.migrate();
      expect(await second.appliedMigrations()).toStrictEqual(applied);
      expect(await second.getTask('task-1')).toStrictEqual(task());
      await second.close();
    });

    it('runs migrations once when several coordinators start on a fresh schema together', async () => {
      const { url } = await schemas.create();
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url, { poolSize: 1 })));
      await Promise.all(stores.map((s) => s.migrate()));
      const versions = await stores[0].query('SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version');
      expect(versions).toStrictEqual(MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      // Every store works on the one schema.
      await stores[1].write([{ kind: 'runInsert', run: run() }]);
      expect(await stores[3].getRun('run-1')).toStrictEqual(run());
      await Promise.all(stores.map((s) => s.close()));
    });

    it('refuses a database written by a newer schema version', async () => {
      const store = await freshStore();
      await store.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [LATEST_SCHEMA_VERSION + 1, 'from the future', 0]);
      await expect(store.migrate()).rejects.toThrow(/newer than this drm supports/);
      await store.close();
    });

    it('rejects calls after close, and close twice is harmless', async () => {
      const store = await freshStore();
      await Promise.all([store.close(), store.close()]);
      await expect(store.listRuns()).rejects.toThrow(/closed/);
      await expect(store.write([{ kind: 'runInsert', run: run() }])).rejects.toThrow(/closed/);
      await expect(store.acquireLease('leader', 'a', 1_000)).rejects.toThrow(/closed/);
    });

    it('parses BIGINT and NUMERIC as numbers on its own connections only', async () => {
      const store = await freshStore();
      expect(await store.query('SELECT CAST(1099511627776 AS BIGINT) AS b, CAST(2.5 AS NUMERIC) AS n, COUNT(*) AS c FROM runs')).toStrictEqual([
        { b: 2 ** 40, n: 2.5, c: 0 },
      ]);
      // Other pg users in the process keep pg's defaults.
      expect(pg.types.getTypeParser(20)('42')).toBe('42');
      await store.close();
    });

    it('writes 1,000 task inserts in one write quickly', async () => {
      const store = await freshStore();
      const changes = Array.from({ length: 1_000 }, (_, i): Change => ({ kind: 'taskInsert', task: task({ id: `t-${i}`, seq: i + 1 }) }));
      const started = performance.now();
      await store.write(changes);
      const elapsed = performance.now() - started;
      expect(await store.maxTaskSeq()).toBe(1_000);
      // Generous bound for a loaded 2-core machine; typical is well under 100 ms (two multi-row INSERTs).
      expect(elapsed).toBeLessThan(2_000);
      await store.close();
    });

    it('reports a server that does not answer, without the password', async () => {
      await expect(PostgresStore.open('postgres://drm:hunter2@127.0.0.1:1/test', { connectTimeoutMs: 2_000 })).rejects.toThrow(
        /^cannot connect to PostgreSQL at postgres:\/\/drm:\*\*\*@127\.0\.0\.1:1\/test/,
      );
    });
  });

  describe('openStore', () => {
    it('opens and migrates PostgreSQL for postgres:// and postgresql:// URLs', async () => {
      for (const scheme of ['postgres:', 'postgresql:']) {
        const url = new URL((await schemas.create()).url);
        url.protocol = scheme;
        const store = await openStore(url.toString());
        expect(store).toBeInstanceOf(PostgresStore);
        expect(await (store as PostgresStore).appliedMigrations()).toHaveLength(MIGRATIONS.length);
        await store.write([{ kind: 'runInsert', run: run() }]);
        expect(await store.getRun('run-1')).toStrictEqual(run());
        await store.close();
      }
    });
  });

  describe('leader lease on the database clock', () => {
    it('expires by the server clock', async () => {
      const store = await freshStore();
      const ttl = 300;
      expect((await store.acquireLease('leader', 'a', ttl)).epoch).toBe(1);
      expect(await store.acquireLease('leader', 'b', ttl)).toMatchObject({ acquired: false, holder: 'a', epoch: 1 });
      await sleep(ttl + 100);
      expect(await store.renewLease('leader', 'a', 1, ttl)).toBe(false);
      await expect(store.write([{ kind: 'runInsert', run: run() }], { name: 'leader', holder: 'a', epoch: 1 })).rejects.toThrow(FencedError);
      expect(await store.acquireLease('leader', 'b', ttl)).toMatchObject({ acquired: true, holder: 'b', epoch: 2 });
      await store.close();
    });
  });

  describe('two coordinators on one database', () => {
    /** Two stores (two pools, as two coordinator processes would have) on one fresh schema. */
    async function twoStores(): Promise<[PostgresStore, PostgresStore, string]> {
      const { url } = await schemas.create();
      const a = await PostgresStore.open(url);
      const b = await PostgresStore.open(url);
      await Promise.all([a.migrate(), b.migrate()]);
      return [a, b, url];
    }

    it('never gives one epoch to two holders when acquireLease races', async () => {
      const [a, b] = await twoStores();
      const taken: LeaseAcquisition[] = [];
      const ROUNDS = 60;
      // A shared injected clock with a tiny TTL (lease "injected"), and the server clock with a 2 ms TTL
      // (lease "server"), so leases keep lapsing and changing hands mid-race.
      let clock = 1_000_000;
      const loop = async (store: PostgresStore, holder: string, lease: 'injected' | 'server') => {
        for (let i = 0; i < ROUNDS; i++) {
          const got = lease === 'injected' ? await store.acquireLease(lease, holder, 4, clock++) : await store.acquireLease(lease, holder, 2);
          if (got.acquired) taken.push({ ...got, holder: `${lease}/${got.holder}` });
        }
      };
      await Promise.all(
        (['injected', 'server'] as const).flatMap((lease) =>
          [0, 1, 2].flatMap((i) => [loop(a, `A${i}`, lease), loop(b, `B${i}`, lease)]),
        ),
      );
      for (const lease of ['injected', 'server']) {
        const mine = taken.filter((t) => t.holder?.startsWith(`${lease}/`));
        const holderOf = new Map<number, string | null>();
        for (const t of mine) {
          if (holderOf.has(t.epoch)) expect(holderOf.get(t.epoch), `${lease} epoch ${t.epoch}`).toBe(t.holder);
          holderOf.set(t.epoch, t.holder);
        }
        // Every epoch ever created was handed to a recorded caller: 1..final, no gaps, no repeats.
        const final = (await a.getLease(lease))!.epoch;
        expect([...holderOf.keys()].sort((x, y) => x - y)).toStrictEqual(Array.from({ length: final }, (_, i) => i + 1));
        // The race actually changed hands.
        expect(final, lease).toBeGreaterThan(2);
      }
      await Promise.all([a.close(), b.close()]);
    });

    it('makes a takeover wait for the old leader\'s write in flight, which commits first', async () => {
      const [a, b, url] = await twoStores();
      const T = 5_000_000;
      await a.write([{ kind: 'runInsert', run: run() }]);
      await a.acquireLease('leader', 'a', 1_000, T);
      // Hold the run row so a's fenced write, once past its fence check, waits in the middle of its transaction.
      const blocker = new pg.Client({ connectionString: url });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query("SELECT id FROM runs WHERE id = 'run-1' FOR UPDATE");
      const order: string[] = [];
      const write = outcome(
        a.write([{ kind: 'runUpdate', id: 'run-1', patch: { state: 'succeeded' } }], { name: 'leader', holder: 'a', epoch: 1, now: T + 500 }),
      ).then((o) => (order.push('write'), o));
      await sleep(100);
      const takeover = b.acquireLease('leader', 'b', 1_000, T + 1_000).then((o) => (order.push('takeover'), o));
      expect(await stillPending(takeover, 300)).toBe(true);
      await blocker.query('ROLLBACK');
      await blocker.end();
      expect(await write).toStrictEqual({ ok: true, value: undefined });
      expect(await takeover).toStrictEqual({ acquired: true, holder: 'b', epoch: 2, expiresAt: T + 2_000 });
      expect(order).toStrictEqual(['write', 'takeover']);
      expect((await b.getRun('run-1'))?.state).toBe('succeeded');
      await Promise.all([a.close(), b.close()]);
    });

    it('refuses the old leader\'s write that waited for a takeover, storing nothing', async () => {
      const [a, b, url] = await twoStores();
      const T = 5_000_000;
      await a.acquireLease('leader', 'a', 1_000, T);
      // Lock the lease row so the takeover and then the write queue behind it, in that order.
      const blocker = new pg.Client({ connectionString: url });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query("SELECT name FROM leader_lease WHERE name = 'leader' FOR UPDATE");
      const takeover = b.acquireLease('leader', 'b', 1_000, T + 1_000);
      await sleep(100);
      const write = outcome(a.write([{ kind: 'runInsert', run: run() }], { name: 'leader', holder: 'a', epoch: 1, now: T + 500 }));
      expect(await stillPending(write, 300)).toBe(true);
      await blocker.query('COMMIT');
      await blocker.end();
      expect(await takeover).toMatchObject({ acquired: true, holder: 'b', epoch: 2 });
      const result = await write;
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toBeInstanceOf(FencedError);
      expect(await a.getRun('run-1')).toBeUndefined();
      await Promise.all([a.close(), b.close()]);
    });

    it('settles every race of a fenced write against a takeover as "written before" or "refused"', async () => {
      const [a, b] = await twoStores();
      const counts = { written: 0, refused: 0 };
      for (let i = 0; i < 40; i++) {
        const lease = `leader-${i}`;
        const T = 1_000 * i;
        await a.acquireLease(lease, 'a', 10, T);
        const [write, takeover] = await Promise.all([
          outcome(a.write([{ kind: 'runInsert', run: run({ id: `r-${i}` }) }], { name: lease, holder: 'a', epoch: 1, now: T + 5 })),
          b.acquireLease(lease, 'b', 10, T + 10),
        ]);
        expect(takeover).toMatchObject({ acquired: true, epoch: 2 });
        if (write.ok) {
          counts.written++;
          expect(await b.getRun(`r-${i}`)).toBeDefined();
        } else {
          counts.refused++;
          expect(write.error).toBeInstanceOf(FencedError);
          expect(await b.getRun(`r-${i}`)).toBeUndefined();
        }
        // Once deposed, always refused, whatever clock the old leader believes.
        await expect(a.write([{ kind: 'runInsert', run: run({ id: `late-${i}` }) }], { name: lease, holder: 'a', epoch: 1, now: T + 5 })).rejects.toThrow(
          FencedError,
        );
      }
      expect(counts.written + counts.refused).toBe(40);
      await Promise.all([a.close(), b.close()]);
    });
  });
});
