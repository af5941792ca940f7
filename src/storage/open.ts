import type { PostgresOptions } from './postgres.ts';
import type { SqlStore } from './sql-store.ts';
import type { Db } from './sqlite.ts';
import { sqliteStore } from './sqlite-kysely.ts';

/** Where the store is: a PostgreSQL URL (`GRIDHUB_DATABASE_URL`), or the embedded default, the data dir's file. */
export type StoreLocation = { kind: 'postgres'; url: string } | { kind: 'sqlite' };

/**
 * Read the location from a `GRIDHUB_DATABASE_URL` value. Only postgres:// (or postgresql://) URLs are taken: a
 * typo must stop the start-up, not fall back to a private SQLite file while the other instances share a database.
 */
export function storeLocation(databaseUrl: string | undefined): StoreLocation {
  const url = databaseUrl?.trim();
  if (!url) return { kind: 'sqlite' };
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new Error(
      'GRIDHUB_DATABASE_URL must be a postgres:// URL (leave it unset for the embedded SQLite file)',
    );
  }
  return { kind: 'postgres', url };
}

/** A URL with its password replaced, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/**
 * Open the store at `location`: on SQLite, Kysely over the hub's already-open connection `sqlite` (the one file
 * every module shares); on PostgreSQL, a pool that is checked with one round trip so a wrong URL or a database
 * that is down fails the start-up at once.
 */
export async function openStore(
  location: StoreLocation,
  sqlite: Db,
  options: PostgresOptions = {},
): Promise<SqlStore> {
  if (location.kind === 'sqlite') return sqliteStore(sqlite);
  // Loaded only here: the embedded default does not pay for the PostgreSQL driver (~80 ms) at start-up.
  const { postgresStore } = await import('./postgres.ts');
  const store = postgresStore(location.url, options);
  try {
    await store.pool.query('SELECT 1');
  } catch (err) {
    await store.close();
    throw new Error(`PostgreSQL at ${redactUrl(location.url)} is unreachable: ${(err as Error).message}`);
  }
  return store;
}
