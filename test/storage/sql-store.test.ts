import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { appliedVersions, type Migration, migrateModule } from '../../src/storage/migrations.ts';
import { TransactionSpansTurnError } from '../../src/storage/sql-store.ts';
import { describeStores } from './stores.ts';
import { THINGS, type ThingTables } from './things.ts';

type Tables = ThingTables;

const child = new URL('./migrate-child.ts', import.meta.url).pathname;
async function migrateInChild(file: string): Promise<number[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, file]);
  return JSON.parse(stdout) as number[];
}

describeStores('storage', ({ dialect, fresh }) => {
  it('applies each migration of a module once, in order, and records module and version', async () => {
    const { store } = await fresh();
    expect(await migrateModule(store, 'test', THINGS)).toEqual([1, 2]);
    expect(await migrateModule(store, 'test', THINGS)).toEqual([]);
    expect(await appliedVersions(store, 'test')).toEqual([1, 2]);
    // another module keeps its own numbering
    expect(await appliedVersions(store, 'other')).toEqual([]);
    const db = store.kysely<Tables>();
    await db.insertInto('things').values({ id: 'a', n: 1, at: 1_764_547_200_000 }).execute();
    // epoch milliseconds come back as numbers on both (PostgreSQL's int8 would otherwise be a string)
    expect(await db.selectFrom('things').selectAll().execute()).toEqual([
      { id: 'a', n: 1, at: 1_764_547_200_000 },
    ]);
  });

  it('rolls a failing migration back with its record, and stops there', async () => {
    const { store } = await fresh();
    const broken: Migration[] = [
      THINGS[0] as Migration,
      {
        description: 'half done',
        up: async (db) => {
          await db.schema.createTable('half').addColumn('x', 'integer').execute();
          await sql`SELECT no_such_column FROM things`.execute(db);
        },
      },
      THINGS[1] as Migration,
    ];
    await expect(migrateModule(store, 'test', broken)).rejects.toThrow(/no_such_column/);
    expect(await appliedVersions(store, 'test')).toEqual([1]);
    // the failed step's table went with it: DDL is transactional on both stores
    const half = await sql<{ n: number }>`SELECT count(*) AS n FROM things`.execute(store.kysely());
    expect(half.rows).toHaveLength(1);
    await expect(sql`SELECT * FROM half`.execute(store.kysely())).rejects.toThrow();
  });

  it('lets instances that start together on one database apply each migration once', async () => {
    const { store, reopen, sqliteFile } = await fresh();
    // SQLite: other processes on the file (one process keeps one connection: see src/storage/README.md);
    // PostgreSQL: other pools, as other instances would open them.
    const applied =
      dialect === 'sqlite'
        ? await Promise.all([
            migrateModule(store, 'test', THINGS),
            migrateInChild(sqliteFile as string),
            migrateInChild(sqliteFile as string),
          ])
        : await Promise.all([store, reopen(), reopen()].map((s) => migrateModule(s, 'test', THINGS)));
    expect(applied.flat().sort()).toEqual([1, 2]);
    expect(await appliedVersions(store, 'test')).toEqual([1, 2]);
  });

  it('commits a transaction when its body resolves and rolls it back when it throws', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'test', THINGS);
    await store.transaction<Tables, void>(async (tx) => {
      await tx.insertInto('things').values({ id: 'a', n: 1, at: null }).execute();
      await tx.insertInto('things').values({ id: 'b', n: 2, at: null }).execute();
    });
    await expect(
      store.transaction<Tables, void>(async (tx) => {
        await tx.insertInto('things').values({ id: 'c', n: 3, at: null }).execute();
        await tx.insertInto('things').values({ id: 'a', n: 4, at: null }).execute(); // duplicate key
      }),
    ).rejects.toThrow();
    const rows = await store.kysely<Tables>().selectFrom('things').select('id').orderBy('id').execute();
    expect(rows.map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('runs concurrent transactions one after the other: no lost update', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'test', THINGS);
    await store.kysely<Tables>().insertInto('things').values({ id: 'counter', n: 0, at: null }).execute();
    // read, then write what was read plus one: interleaved, two of them would both read the same value
    const bump = () =>
      store.transaction<Tables, void>(async (tx) => {
        const q = tx.selectFrom('things').select('n').where('id', '=', 'counter');
        const row = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirstOrThrow();
        await tx
          .updateTable('things')
          .set({ n: row.n + 1 })
          .where('id', '=', 'counter')
          .execute();
      });
    await Promise.all(Array.from({ length: 20 }, bump));
    const row = await store
      .kysely<Tables>()
      .selectFrom('things')
      .select('n')
      .where('id', '=', 'counter')
      .executeTakeFirstOrThrow();
    expect(row.n).toBe(20);
  });

  if (dialect === 'sqlite') {
    it('rolls back a SQLite transaction whose body awaits I/O, so nothing else could have joined it', async () => {
      const { store } = await fresh();
      await migrateModule(store, 'test', THINGS);
      await expect(
        store.transaction<Tables, void>(async (tx) => {
          await tx.insertInto('things').values({ id: 'a', n: 1, at: null }).execute();
          await sleep(1); // a timer: the event loop turns with the transaction open
        }),
      ).rejects.toBeInstanceOf(TransactionSpansTurnError);
      expect(await store.kysely<Tables>().selectFrom('things').selectAll().execute()).toEqual([]);
    });

    it("keeps the hub's synchronous statements out of an open transaction", async () => {
      const { store, sqlite } = await fresh();
      await migrateModule(store, 'test', THINGS);
      // A synchronous write of another part of the hub, due as soon as the loop turns (as a socket's would be).
      let wrote = false;
      setImmediate(() => {
        sqlite?.prepare("INSERT INTO things (id, n) VALUES ('sync', 0)").run();
        wrote = true;
      });
      await expect(
        store.transaction<Tables, void>(async (tx) => {
          for (let i = 0; i < 50; i++)
            await tx
              .insertInto('things')
              .values({ id: `t${i}`, n: i, at: null })
              .execute();
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      await new Promise((resolve) => setImmediate(resolve));
      expect(wrote).toBe(true);
      // the rollback took the transaction's 50 rows and not the synchronous one
      const ids = await store.kysely<Tables>().selectFrom('things').select('id').execute();
      expect(ids.map((r) => r.id)).toEqual(['sync']);
    });
  }
});
