import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/** The two stores the hub runs on: the embedded SQLite file, or a shared PostgreSQL (issue #18). */
export type Dialect = 'sqlite' | 'postgres';

/** A statement built with Kysely (any builder, or a raw CompiledQuery). */
export type Statement<R> = Compilable<R> | CompiledQuery<R>;

/** Runs built statements. The same calls inside and outside a transaction. */
export interface SqlExecutor {
  all<R>(statement: Statement<R>): Promise<R[]>;
  first<R>(statement: Statement<R>): Promise<R | undefined>;
  /** An INSERT, UPDATE or DELETE (or DDL); resolves with the number of rows it changed. */
  write(statement: Statement<unknown>): Promise<number>;
}

/**
 * SQLite only: the same statements, run synchronously, for the paths that cannot await (the raise transaction,
 * the journal's group commit, start-up of modules whose callers are synchronous).
 */
export interface SyncSql {
  all<R>(statement: Statement<R>): R[];
  first<R>(statement: Statement<R>): R | undefined;
  write(statement: Statement<unknown>): number;
  /** `fn` in one transaction (better-sqlite3's: a nested call is a savepoint). */
  transaction<T>(fn: () => T): T;
  /** Whether an asynchronous transaction is open on the connection (`transaction` then refuses to start). */
  readonly inAsyncTransaction: boolean;
}

/**
 * One database, whichever dialect: modules build their statements once with Kysely (`store.builder<Tables>()`,
 * each module typing its own tables) and run them here. See src/storage/README.md for the design.
 *
 * `transaction` means the same on both: the body's statements commit together or not at all, and no other
 * statement of this process joins them. On SQLite that is one writer at a time and a body that stays within one
 * turn of the event loop; on PostgreSQL a pooled connection of its own.
 *
 * On SQLite every call does its work before it returns (the promise is already settled): a write issued by a
 * synchronous caller has happened when the call returns, as it always had there. On PostgreSQL nothing has
 * happened until the promise resolves: code that must also run there awaits.
 */
export interface SqlStore extends SqlExecutor {
  readonly dialect: Dialect;
  /** Kysely for building statements, typed with the caller's tables. */
  builder<Tables>(): Kysely<Tables>;
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** The synchronous runner: SQLite only, undefined on PostgreSQL. */
  readonly sync: SyncSql | undefined;
  /** Close the pool (PostgreSQL); on SQLite the connection stays its opener's. */
  close(): Promise<void>;
}

export const compiled = <R>(statement: Statement<R>): CompiledQuery<R> =>
  'compile' in statement ? statement.compile() : statement;

/** Thrown when a SQLite transaction's body awaited something other than its own statements. */
export class TransactionSpansTurnError extends Error {
  override name = 'TransactionSpansTurnError';
  constructor() {
    super(
      'a SQLite transaction stayed open across a turn of the event loop (its body awaited I/O or a timer): ' +
        'rolled back, because other statements on the shared connection would have joined it',
    );
  }
}

/**
 * A unique or primary-key violation, on either store: what a write racing another instance (or another request)
 * for the same key gets, to be answered as a conflict rather than as a server error.
 */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  const code = (err as { code: unknown }).code;
  // PostgreSQL's SQLSTATE unique_violation; better-sqlite3's extended result codes
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * A statement compiled once and bound per call. Building and compiling with Kysely costs several times what a
 * short statement itself costs on SQLite (src/storage/README.md), so a statement on a hot path is built once with
 * `standIns` in the places of its arguments — values that occur nowhere else in it (e.g. '\u0000id', -0.25) —
 * and each call gets the compiled text with its own values in those places. Every stand-in must appear at
 * least once; an argument may appear several times.
 */
export function compileOnce<A extends readonly unknown[], R>(
  build: (...args: A) => Statement<R>,
  standIns: A,
): (...args: A) => CompiledQuery<R> {
  const query = compiled(build(...standIns));
  const slots = query.parameters.map((p) => standIns.indexOf(p));
  for (const [i, standIn] of standIns.entries())
    if (!slots.includes(i))
      throw new Error(`compileOnce: stand-in ${JSON.stringify(standIn)} is not in the statement`);
  return (...args) => ({
    ...query,
    parameters: query.parameters.map((p, i) => {
      const slot = slots[i] as number;
      return slot === -1 ? p : args[slot];
    }),
  });
}
