import type { Kysely } from 'kysely';

/** The two stores the hub runs on: the embedded SQLite file, or a shared PostgreSQL (issue #18). */
export type Dialect = 'sqlite' | 'postgres';

/**
 * One database behind Kysely, whichever dialect: modules build their statements once with the query builder and
 * run them here. Each module types its own tables (`store.kysely<MyTables>()`); the store does not know them.
 *
 * `transaction` has the same meaning on both: the body's statements commit together or not at all, and no other
 * statement of this process joins them. On SQLite that means one writer at a time and a body that stays within
 * one turn of the event loop (see src/storage/README.md); on PostgreSQL it is a pooled connection of its own.
 */
export interface SqlStore {
  readonly dialect: Dialect;
  /** The builder and runner for statements outside a transaction, typed with the caller's tables. */
  kysely<Tables>(): Kysely<Tables>;
  /** Run `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<Tables, T>(fn: (tx: Kysely<Tables>) => Promise<T>): Promise<T>;
  /** Close the pool (PostgreSQL) or the Kysely side of the shared connection (SQLite: the file stays open). */
  close(): Promise<void>;
}

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
