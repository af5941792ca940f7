import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { preparedStatementsPool } from './pg-prepared.ts';
import { compiled, type SqlExecutor, type SqlStore, type Statement } from './sql-store.ts';

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
  /** Named prepared statements (pg-prepared.ts); default on. */
  preparedStatements?: boolean;
}

function executor(k: Kysely<object>): SqlExecutor {
  return {
    async all<R>(s: Statement<R>) {
      return (await k.executeQuery<R>(compiled(s))).rows;
    },
    async first<R>(s: Statement<R>) {
      return (await k.executeQuery<R>(compiled(s))).rows[0];
    },
    async write(s: Statement<unknown>) {
      const r = await k.executeQuery(compiled(s));
      return Number(r.numAffectedRows ?? BigInt(r.rows.length));
    },
  };
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
  const kysely = new Kysely<object>({
    dialect: new PostgresDialect({
      pool: options.preparedStatements === false ? pool : preparedStatementsPool(pool),
    }),
  });
  return {
    dialect: 'postgres',
    pool,
    sync: undefined,
    builder: <Tables>() => kysely as unknown as Kysely<Tables>,
    ...executor(kysely),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
      kysely.transaction().execute((trx) => fn(executor(trx))),
    close: () => kysely.destroy(),
  };
}
