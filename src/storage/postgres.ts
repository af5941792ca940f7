import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { SqlStore } from './sql-store.ts';

const INT8 = 20;

/**
 * Columns that are INTEGER on SQLite are `bigint` here when they hold epoch milliseconds; pg returns int8 as a
 * string by default (it may exceed 2^53). Ours never do, so they come back as numbers, and one that would not
 * fit is an error rather than a silently rounded instant.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} is beyond 2^53`);
  return n;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  /** Pool size per hub instance (default 10). */
  maxConnections?: number;
  /** Name shown in pg_stat_activity, so an operator sees which instance holds which connection. */
  applicationName?: string;
  /** Hears errors of idle pooled connections (the server restarted, the network dropped): log them. */
  onIdleError?: (err: Error) => void;
}

/** The shared store: Kysely's PostgresDialect over a pg Pool for `url` (postgres://…). */
export function postgresStore(url: string, options: PostgresOptions = {}): SqlStore & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'gridhub',
    types,
  });
  // An idle client's error would otherwise be an unhandled 'error' event that ends the process; the pool drops
  // that client and the next query connects again.
  pool.on('error', (err) => options.onIdleError?.(err));
  const kysely = new Kysely<object>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    pool,
    kysely: <Tables>() => kysely as unknown as Kysely<Tables>,
    transaction: <Tables, T>(fn: (tx: Kysely<Tables>) => Promise<T>) =>
      (kysely as unknown as Kysely<Tables>).transaction().execute(fn),
    close: () => kysely.destroy(),
  };
}
