import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe } from 'vitest';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { Dialect, SqlStore } from '../../src/storage/sql-store.ts';
import { type Db, openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** A store under test, fresh and empty, with what the dialect needs to be opened again (a second instance). */
export interface StoreUnderTest {
  readonly dialect: Dialect;
  readonly store: SqlStore;
  /** The SQLite connection behind the store (SQLite only): the one the hub's synchronous paths use. */
  readonly sqlite: Db | undefined;
  /** The database URL (PostgreSQL only), for what needs a connection of its own (LISTEN). */
  readonly url: string | undefined;
  /** The SQLite file (SQLite only), for other processes to open. */
  readonly sqliteFile: string | undefined;
  /** Another store on the same database, as another instance would open it (PostgreSQL: a pool of its own). */
  reopen(): SqlStore;
}

if (POSTGRES_MISSING) console.warn(POSTGRES_MISSING);

// One throw-away cluster per test file, started on first use; a database per store under test.
let cluster: Promise<TestPostgres> | undefined;
afterAll(async () => {
  if (cluster !== undefined) await (await cluster).stop();
});

async function openFresh(dialect: Dialect, opened: (() => Promise<void>)[]): Promise<StoreUnderTest> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-store-'));
    const file = join(dir, 'gridhub.db');
    const sqlite = openDatabase(file);
    const others: Db[] = [];
    opened.push(async () => {
      for (const o of others) o.close();
      sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return {
      dialect,
      store: sqliteStore(sqlite),
      sqlite,
      sqliteFile: file,
      url: undefined,
      reopen: () => {
        const other = openDatabase(file);
        others.push(other);
        return sqliteStore(other);
      },
    };
  }
  cluster ??= startPostgres();
  const url = await (await cluster).createDatabase();
  const stores = [postgresStore(url, { maxConnections: 4 })];
  opened.push(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });
  return {
    dialect,
    store: stores[0] as SqlStore,
    sqlite: undefined,
    sqliteFile: undefined,
    url,
    reopen: () => {
      const s = postgresStore(url, { maxConnections: 4 });
      stores.push(s);
      return s;
    },
  };
}

/**
 * The conformance harness: `body` is declared once and runs against SQLite and against PostgreSQL. `fresh()`
 * gives an empty store (a new file, a new database) closed after the test. PostgreSQL's run is skipped, with the
 * message above, only where no PostgreSQL is installed.
 */
export function describeStores(
  title: string,
  body: (ctx: { dialect: Dialect; fresh: () => Promise<StoreUnderTest> }) => void,
): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    describe.skipIf(dialect === 'postgres' && POSTGRES_MISSING !== undefined)(`${title} [${dialect}]`, () => {
      const opened: (() => Promise<void>)[] = [];
      afterEach(async () => {
        for (const close of opened.splice(0)) await close();
      });
      body({ dialect, fresh: () => openFresh(dialect, opened) });
    });
  }
}

/** Wait for something another instance causes (a notification on its way), failing after 5 s. */
export async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('not reached within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How a call ended: 'resolved', or the code of the GridHubError it was refused with. */
export const code = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => 'resolved',
    (err: { code?: string }) => err.code,
  );
