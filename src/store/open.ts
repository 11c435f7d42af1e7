import { DuckDbStore } from './duckdb.js';
import type { Store } from './store.js';

/** Where `drm run` and `drm coordinator` keep their database when given none. */
export const DEFAULT_DUCKDB_PATH = '.drm/drm.duckdb';

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

/**
 * Opens the store a `--db` value names and brings its schema up to date: a file path (or ':memory:')
 * is a DuckDB database; a postgres:// or postgresql:// URL names a PostgreSQL server.
 */
export async function openStore(spec: string): Promise<Store> {
  if (POSTGRES_URL.test(spec)) {
    throw new Error('PostgreSQL store is not available yet: use a DuckDB file path for --db');
  }
  const store = await DuckDbStore.open(spec);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
