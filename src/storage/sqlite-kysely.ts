import type Database from 'better-sqlite3';
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import {
  compiled,
  type SqlExecutor,
  type SqlStore,
  type Statement,
  type SyncSql,
  TransactionSpansTurnError,
} from './sql-store.ts';
import type { Db } from './sqlite.ts';

type Prepared = Database.Statement<unknown[], unknown>;

/**
 * The SQLite store over the hub's one better-sqlite3 connection, the same one the synchronous hot paths use with
 * their own prepared statements. Kysely only builds and compiles here (its dialect never connects); statements
 * run on prepared statements kept by SQL text, synchronously.
 *
 * Why not Kysely's SqliteDialect: it prepares every statement again on every call, opens transactions with a
 * deferred BEGIN (a read-then-write body can then fail with SQLITE_BUSY against another process's writer), and
 * does nothing about the shared connection: a transaction left open across an await lets any synchronous
 * statement of the hub run inside it, to be committed or rolled back with it. Here BEGIN IMMEDIATE takes the
 * write lock up front, transactions run one at a time, statements issued while one is open wait for it, and a
 * transaction whose body lets the event loop turn is rolled back with TransactionSpansTurnError.
 */
export function sqliteStore(db: Db, options: { maxStatements?: number } = {}): SqlStore {
  const max = options.maxStatements ?? 500;
  // A builder's text depends on which clauses are set, never on values, so texts are few; bounded all the same.
  const statements = new Map<string, Prepared>();
  const prepare = (sql: string): Prepared => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare<unknown[], unknown>(sql);
      if (statements.size >= max) {
        const oldest = statements.keys().next().value;
        if (oldest !== undefined) statements.delete(oldest);
      }
      statements.set(sql, stmt);
    }
    return stmt;
  };
  const now = {
    all<R>(s: Statement<R>): R[] {
      const q = compiled(s);
      return prepare(q.sql).all(...(q.parameters as unknown[])) as R[];
    },
    first<R>(s: Statement<R>): R | undefined {
      const q = compiled(s);
      return prepare(q.sql).get(...(q.parameters as unknown[])) as R | undefined;
    },
    write(s: Statement<unknown>): number {
      const q = compiled(s);
      const stmt = prepare(q.sql);
      const params = q.parameters as unknown[];
      if (stmt.reader) return stmt.all(...params).length; // … RETURNING
      return stmt.run(...params).changes;
    },
  };

  const gate = sqliteTransactions(db);
  const settled = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  };
  // Outside a transaction: at once, unless a transaction is open (a statement from another promise chain
  // resumed while it runs) — then after it, so it never joins it.
  const later = async <T>(fn: () => T): Promise<T> => {
    while (gate.open !== undefined) await gate.open;
    return fn();
  };
  const outside = <T>(fn: () => T): Promise<T> => (gate.open === undefined ? settled(fn) : later(fn));

  const inside: SqlExecutor = {
    all: (s) => settled(() => now.all(s)),
    first: (s) => settled(() => now.first(s)),
    write: (s) => settled(() => now.write(s)),
  };

  const sync: SyncSql = {
    ...now,
    transaction<T>(fn: () => T): T {
      if (gate.open !== undefined) {
        throw new Error('a synchronous SQLite transaction cannot run inside an open asynchronous one');
      }
      return db.transaction(fn)();
    },
    get inAsyncTransaction() {
      return gate.open !== undefined;
    },
  };

  const builder = new Kysely<object>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });

  return {
    dialect: 'sqlite',
    sync,
    builder: <Tables>() => builder as unknown as Kysely<Tables>,
    all: (s) => outside(() => now.all(s)),
    first: (s) => outside(() => now.first(s)),
    write: (s) => outside(() => now.write(s)),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> => gate.run(() => fn(inside)),
    close: async () => {},
  };
}

/** The asynchronous transactions on one SQLite connection, one at a time (see `sqliteTransactions`). */
export interface SqliteTransactions {
  /** The transaction open now, settling when it has committed or rolled back; undefined when none is. */
  readonly open: Promise<void> | undefined;
  /**
   * `body` between BEGIN IMMEDIATE and COMMIT (ROLLBACK when it rejects), after the transactions asked before it.
   * The body must settle within the turn of the event loop it started in, else TransactionSpansTurnError.
   */
  run<T>(body: () => Promise<T>): Promise<T>;
}

const perConnection = new WeakMap<Db, SqliteTransactions>();

/**
 * The one queue of asynchronous transactions of a connection, shared by every store over it (each `sqliteStore`,
 * the alert store): they all BEGIN on the same connection, so two of them open at once would put one's statements
 * into the other's transaction, or fail with "cannot start a transaction within a transaction".
 */
export function sqliteTransactions(db: Db): SqliteTransactions {
  let gate = perConnection.get(db);
  if (gate) return gate;
  let open: Promise<void> | undefined;
  // Prepared once: a raise opens one transaction per alert, and exec would compile these each time.
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  gate = {
    get open() {
      return open;
    },
    async run<T>(body: () => Promise<T>): Promise<T> {
      while (open !== undefined) await open;
      let release = () => {};
      open = new Promise((resolve) => {
        release = resolve;
      });
      // The body's statements are synchronous, so a body that awaits only them settles in microtasks, before
      // the loop runs any timer, socket or I/O callback. If one of these watches fires first, it awaited
      // something else. Both, because the loop's next phase depends on where this began: begun in a check-phase
      // callback, the next immediate comes after the next timers phase, where a timer the body awaits (due by
      // then on a loaded machine) would fire first; this timeout, set before the body's own, fires before it.
      let turned = false;
      const turn = () => {
        turned = true;
      };
      const watch = setImmediate(turn);
      const watchTimer = setTimeout(turn, 0);
      try {
        begin.run();
        const out = await body();
        if (turned) throw new TransactionSpansTurnError();
        commit.run();
        return out;
      } catch (err) {
        if (db.inTransaction) rollback.run();
        throw err;
      } finally {
        clearImmediate(watch);
        clearTimeout(watchTimer);
        open = undefined;
        release();
      }
    },
  };
  perConnection.set(db, gate);
  return gate;
}
