import { DuckDbStore } from './duckdb.js';
import { JournaledStore, type JournalEntry } from './journal.js';
import { PostgresStore } from './postgres.js';
import type { Store } from './store.js';

/** Where `drm run` and `drm coordinator` keep their database when given none. */
export const DEFAULT_DUCKDB_PATH = '.drm/drm.duckdb';

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

/**
 * Opens the store a `--db` value names and brings its schema up to date: a file path (or ':memory:')
 * is a DuckDB database; a postgres:// or postgresql:// URL names a PostgreSQL server (its tables in the
 * URL's search_path schema, `public` by default). Coordinators sharing that URL share the database.
 * DuckDB writes go through the write journal (journal.ts); PostgreSQL commits row changes fast enough
 * on its own, and its HA takeover then needs no journal replay.
 */
export async function openStore(spec: string): Promise<Store> {
  const store: Store = POSTGRES_URL.test(spec)
    ? await PostgresStore.open(spec)
    : spec === ':memory:'
      ? await DuckDbStore.open(spec)
      : new JournaledStore(await DuckDbStore.open(spec), `${spec}.journal`, { onDropped });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Only a bug makes the tables refuse a journaled write; say so loudly rather than lose it silently. */
function onDropped(entry: JournalEntry, error: unknown): void {
  process.stderr.write(`drm: store: the tables refused journal entry ${entry.seq} (${(error as Error).message}); it is dropped: ${entry.changes.slice(0, 2000)}\n`);
}
