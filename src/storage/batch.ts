import type { SqlStore, Statement } from './sql-store.ts';

/**
 * Independent writes that commit together. On SQLite they run synchronously in one transaction, done when the
 * call returns — the promise the store makes to synchronous callers (a test fixture, the demo seed), which an
 * async `store.transaction` could not keep: its COMMIT comes a few microtasks later — and a transaction that
 * spans no await, so no statement of another promise chain or connection meets it open. When an async
 * transaction of another promise chain is open on the connection (one can be only within the turn of the event
 * loop that opened it), they commit after it instead. On PostgreSQL, one pooled transaction. For writes whose
 * statements do not depend on each other's results; a read-then-write uses `store.transaction`.
 */
export function writeAll(store: SqlStore, statements: readonly Statement<unknown>[]): Promise<void> {
  if (statements.length === 0) return Promise.resolve();
  const sync = store.sync;
  if (!sync || sync.inAsyncTransaction) {
    return store.transaction(async (tx) => {
      for (const s of statements) await tx.write(s);
    });
  }
  try {
    sync.transaction(() => {
      for (const s of statements) sync.write(s);
    });
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err);
  }
}
