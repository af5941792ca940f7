import type Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { type SqlStore, TransactionSpansTurnError } from './sql-store.ts';
import type { Db } from './sqlite.ts';

type Statement = Database.Statement<unknown[], unknown>;

/**
 * Kysely over the hub's one better-sqlite3 connection, the same one the synchronous hot paths (the raise
 * transaction, the journal) use with their own prepared statements.
 *
 * Why not Kysely's SqliteDialect: it prepares every statement again on every call (≈ µs each, on the device and
 * token paths), opens transactions with a deferred BEGIN (a read-then-write body can then fail with SQLITE_BUSY
 * against another process's writer), and does nothing about the shared connection: a transaction left open
 * across an await lets any synchronous statement of the hub run inside it, to be committed or rolled back with
 * it. Here statements are prepared once per SQL text, BEGIN IMMEDIATE takes the write lock up front, and a
 * transaction whose body lets the event loop turn is rolled back with TransactionSpansTurnError.
 */
class SharedSqliteDriver implements Driver {
  readonly #db: Db;
  readonly #connection: SqliteConnection;
  // One Kysely user of the connection at a time (a transaction holds it from BEGIN to COMMIT).
  #locked: Promise<void> | undefined;
  #unlock: (() => void) | undefined;
  #turned = false;
  #turnWatch: NodeJS.Immediate | undefined;

  constructor(db: Db, maxStatements: number) {
    this.#db = db;
    this.#connection = new SqliteConnection(db, maxStatements);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    while (this.#locked !== undefined) await this.#locked;
    this.#locked = new Promise((resolve) => {
      this.#unlock = resolve;
    });
    return this.#connection;
  }

  async beginTransaction(): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    // Statements here are synchronous, so a body that awaits only them settles in microtasks, before the loop
    // runs any timer, socket or I/O callback. If this immediate fires first, the body awaited something else.
    this.#turned = false;
    this.#turnWatch = setImmediate(() => {
      this.#turned = true;
    });
  }

  async commitTransaction(): Promise<void> {
    clearImmediate(this.#turnWatch);
    if (this.#turned) {
      this.#db.exec('ROLLBACK');
      throw new TransactionSpansTurnError();
    }
    this.#db.exec('COMMIT');
  }

  async rollbackTransaction(): Promise<void> {
    clearImmediate(this.#turnWatch);
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  async releaseConnection(): Promise<void> {
    const unlock = this.#unlock;
    this.#locked = undefined;
    this.#unlock = undefined;
    unlock?.();
  }

  async destroy(): Promise<void> {
    // The connection belongs to whoever opened it (the hub closes it after every module is done).
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #db: Db;
  readonly #max: number;
  // Prepared once per SQL text: a builder's text depends on which clauses are set, never on values, so they are
  // few; bounded all the same (oldest dropped first).
  readonly #statements = new Map<string, Statement>();

  constructor(db: Db, max: number) {
    this.#db = db;
    this.#max = max;
  }

  #prepare(sql: string): Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare<unknown[], unknown>(sql);
      if (this.#statements.size >= this.#max) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(query.sql);
    const params = query.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(...params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(...params);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered on this store; the interface requires it
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the SQLite store');
  }
}

/** The SQLite store: Kysely over the hub's open connection (`openDatabase`), which stays the caller's. */
export function sqliteStore(db: Db, options: { maxStatements?: number } = {}): SqlStore {
  const kysely = new Kysely<object>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new SharedSqliteDriver(db, options.maxStatements ?? 500),
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  return {
    dialect: 'sqlite',
    kysely: <Tables>() => kysely as unknown as Kysely<Tables>,
    transaction: <Tables, T>(fn: (tx: Kysely<Tables>) => Promise<T>) =>
      (kysely as unknown as Kysely<Tables>).transaction().execute(fn),
    close: () => kysely.destroy(),
  };
}

export { CompiledQuery };
