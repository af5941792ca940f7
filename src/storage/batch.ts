import type { SqlStore, Statement } from './sql-store.ts';

/**
 * Independent writes that commit together. On SQLite they run synchronously in one transaction, done when the
 * call returns — the promise the store makes to synchronous callers (a test fixture, the demo seed), which an
 * async `store.transaction` could not keep: its COMMIT comes a few microtasks later. On PostgreSQL, one pooled
 * transaction. For writes whose statements do not depend on each other's results; a read-then-write uses
 * `store.transaction`. Like `store.sync.transaction`, it refuses to start on SQLite while an async transaction
 * of another promise chain is open (one can be only within the turn of the event loop that opened it).
 */
export function writeAll(store: SqlStore, statements: readonly Statement<unknown>[]): Promise<void> {
  const sync = store.sync;
  if (!sync) {
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
