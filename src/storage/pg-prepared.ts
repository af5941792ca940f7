/**
 * Named prepared statements for Kysely's PostgresDialect. Kysely hands pg each query as text and parameters,
 * which pg sends unnamed: PostgreSQL parses, analyses and plans every execution again. The hub runs a few hundred
 * statement shapes (Kysely builds them from the same code, only values change), most of them small and in the
 * alarm path, so that work was a large part of the database's CPU: three hubs under the failover load of issue
 * 18 on 2 cores, 5 runs each, the worst stall after a kill 4.9–6.1 s → 3.8–4.7 s, alarm latency p50 2.1–2.5 s →
 * 1.0–2.1 s (bench/results/2026-12-04T04-05-00Z-failover.txt). Here a statement's text gets a name the first time it is
 * run, and pg prepares it once per connection (its `parsedStatements`), then only binds and executes.
 *
 * Bounded: at most MAX_NAMED texts are named (a prepared statement costs memory in every connection's server
 * process), and statements with many parameters (multi-row inserts of a large batch) stay unnamed, since their
 * parse is spread over their rows and their shapes vary with the batch. A prepared statement whose result columns
 * a migration changed (another instance upgraded first: `SELECT *` on a table that gained a column) fails with
 * "cached plan must not change result type" on every connection that prepared it; such a connection is
 * dropped when it goes back to the pool, so the next try runs on a fresh one.
 */
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/** Distinct statement texts named per store; further ones run unnamed. */
export const MAX_NAMED = 500;
/** Statements with more parameters than this run unnamed. */
export const MAX_NAMED_PARAMETERS = 64;

/** SQLSTATE 0A000 (feature_not_supported), as PostgreSQL answers a prepared statement whose result type changed. */
const FEATURE_NOT_SUPPORTED = '0A000';

export function preparedStatementsPool(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (text: string, parameters: readonly unknown[]): string | undefined => {
    if (parameters.length === 0 || parameters.length > MAX_NAMED_PARAMETERS) return undefined;
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMED) {
      name = `gridhub_${names.size}`;
      names.set(text, name);
    }
    return name;
  };
  // one wrapper per pg client, as Kysely keeps one connection object per client it is handed
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let stale = false;
    const query = async <R>(
      text: string,
      parameters: readonly unknown[],
    ): Promise<PostgresQueryResult<R>> => {
      const name = nameOf(text, parameters);
      try {
        const values = [...parameters];
        const r = await (name ? client.query({ name, text, values }) : client.query(text, values));
        return r as unknown as PostgresQueryResult<R>;
      } catch (err) {
        if (name && (err as { code?: string }).code === FEATURE_NOT_SUPPORTED) stale = true;
        throw err;
      }
    };
    return {
      // Kysely streams through a cursor only when asked to (`stream()`), which the hub never does
      query: query as PostgresPoolClient['query'],
      release(destroy?: boolean) {
        const drop = destroy === true || stale;
        stale = false;
        client.release(drop);
      },
    };
  };
  return {
    async connect() {
      const client = await pool.connect();
      let wrapped = clients.get(client);
      if (!wrapped) {
        wrapped = wrap(client);
        clients.set(client, wrapped);
      }
      return wrapped;
    },
    end: () => pool.end(),
  };
}
