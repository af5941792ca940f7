/**
 * The read side on SQLite: a Kysely builder that only compiles, and the runner that executes compiled queries on
 * better-sqlite3 (the tables as Kysely sees them are in tables.ts).
 *
 * Why compile-and-run instead of Kysely's async SqliteDialect: better-sqlite3 is synchronous, and so is the
 * dispatcher's read API (`list`, `kpis`, `get`, which the stages, routes and tests call without awaiting). The
 * dialect would wrap every query in a promise and a connection mutex for nothing, and would make every caller
 * async. Building stays Kysely's: the query code (list-query.ts, kpi-query.ts) takes a `Kysely<AlertTables>` and
 * uses only what both SQLite and PostgreSQL understand, so the PostgreSQL store can run the same builders with
 * `PostgresDialect` and `.execute()`; only this runner is SQLite's.
 */
import type Database from 'better-sqlite3';
import {
  type Compilable,
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { Db } from '../storage/sqlite.ts';
import type { AlertTables } from './tables.ts';

export type ReadBuilder = Kysely<AlertTables>;

/** A Kysely that builds and compiles SQLite SQL and never connects (executing through it throws). */
export function sqliteBuilder(): ReadBuilder {
  return new Kysely<AlertTables>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}

type Statement = Database.Statement<unknown[], unknown>;

export interface SqlRunner {
  all<R>(query: Compilable<R>): R[];
  get<R>(query: Compilable<R>): R | undefined;
}

/**
 * Runs compiled queries on prepared statements, kept by SQL text. The texts are few (the shape of a query depends
 * on which filters are set and on list lengths, never on values), but the cache is bounded all the same.
 */
export function createSqlRunner(db: Db, maxStatements = 200): SqlRunner {
  const statements = new Map<string, Statement>();
  function prepared(query: Compilable<unknown>): { stmt: Statement; params: unknown[] } {
    const { sql, parameters } = query.compile();
    let stmt = statements.get(sql);
    if (stmt) {
      // Map order is insertion order: move it to the back, so the oldest unused statement goes first.
      statements.delete(sql);
    } else {
      stmt = db.prepare<unknown[], unknown>(sql);
      if (statements.size >= maxStatements) {
        const oldest = statements.keys().next().value;
        if (oldest !== undefined) statements.delete(oldest);
      }
    }
    statements.set(sql, stmt);
    return { stmt, params: [...parameters] };
  }
  return {
    all<R>(query: Compilable<R>): R[] {
      const { stmt, params } = prepared(query);
      return stmt.all(...params) as R[];
    },
    get<R>(query: Compilable<R>): R | undefined {
      const { stmt, params } = prepared(query);
      return stmt.get(...params) as R | undefined;
    },
  };
}
