import { DuckDbStore } from './duckdb.js';
import { PostgresStore } from './postgres.js';
import type { Store } from './store.js';

/** Where `drm run` and `drm coordinator` keep their database when given none. */
export const DEFAULT_DUCKDB_PATH = '.drm/drm.duckdb';

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

/**
 * Opens the store a `--db` value names and brings its schema up to date: a file path (or ':memory:')
 * is a DuckDB database; a postgres:// or postgresql:// URL names a PostgreSQL server (its tables in the
 * URL's search_path schema, `public` by default). Coordinators sharing that URL share the database.
 */
export async function openStore(spec: string): Promise<Store> {
  const store: Store = POSTGRES_URL.test(spec) ? await PostgresStore.open(spec) : await DuckDbStore.open(spec);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
