import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import {
  appliedVersions,
  type Migration,
  migrateModule,
  migrateModuleSync,
} from '../../src/storage/migrations.ts';
import { compileOnce, type SqlStore, TransactionSpansTurnError } from '../../src/storage/sql-store.ts';
import { describeStores } from './stores.ts';
import { THINGS, type ThingTables } from './things.ts';

const child = new URL('./migrate-child.ts', import.meta.url).pathname;
async function migrateInChild(file: string): Promise<number[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, file]);
  return JSON.parse(stdout) as number[];
}

const things = (store: SqlStore) => store.builder<ThingTables>();
const ids = async (store: SqlStore) =>
  (await store.all(things(store).selectFrom('things').select('id').orderBy('id'))).map((r) => r.id);

describeStores('storage', ({ dialect, fresh }) => {
  it('applies each migration of a module once, in order, and records module and version', async () => {
    const { store } = await fresh();
    expect(await migrateModule(store, 'test', THINGS)).toEqual([1, 2]);
    expect(await migrateModule(store, 'test', THINGS)).toEqual([]);
    expect(await appliedVersions(store, 'test')).toEqual([1, 2]);
    // another module keeps its own numbering
    expect(await appliedVersions(store, 'other')).toEqual([]);
    await store.write(things(store).insertInto('things').values({ id: 'a', n: 1, at: 1_764_547_200_000 }));
    // epoch milliseconds come back as numbers on both (PostgreSQL's int8 would otherwise be a string)
    expect(await store.all(things(store).selectFrom('things').selectAll())).toEqual([
      { id: 'a', n: 1, at: 1_764_547_200_000 },
    ]);
  });

  it('rolls a failing migration back with its record, and stops there', async () => {
    const { store } = await fresh();
    const broken: Migration[] = [
      THINGS[0] as Migration,
      {
        description: 'half done',
        statements: (db) => [
          db.schema.createTable('half').addColumn('x', 'integer'),
          sql`SELECT no_such_column FROM things`.compile(db),
        ],
      },
      THINGS[1] as Migration,
    ];
    await expect(migrateModule(store, 'test', broken)).rejects.toThrow(/no_such_column/);
    expect(await appliedVersions(store, 'test')).toEqual([1]);
    // the failed step's table went with it: DDL is transactional on both stores
    await expect(store.all(sql`SELECT * FROM half`.compile(store.builder()))).rejects.toThrow(/half/);
  });

  it('lets instances that start together on one database apply each migration once', async () => {
    const { store, reopen, sqliteFile } = await fresh();
    // SQLite: other processes on the file (a process keeps one connection: see src/storage/README.md);
    // PostgreSQL: other pools, as other instances open them.
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
    const t = things(store);
    await store.transaction(async (tx) => {
      await tx.write(t.insertInto('things').values({ id: 'a', n: 1, at: null }));
      await tx.write(t.insertInto('things').values({ id: 'b', n: 2, at: null }));
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.write(t.insertInto('things').values({ id: 'c', n: 3, at: null }));
        await tx.write(t.insertInto('things').values({ id: 'a', n: 4, at: null })); // duplicate key
      }),
    ).rejects.toThrow();
    expect(await ids(store)).toEqual(['a', 'b']);
  });

  it('runs concurrent transactions one after the other: no lost update', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'test', THINGS);
    const t = things(store);
    await store.write(t.insertInto('things').values({ id: 'counter', n: 0, at: null }));
    // read, then write what was read plus one: interleaved, two of them would both read the same value
    const bump = () =>
      store.transaction(async (tx) => {
        const q = t.selectFrom('things').select('n').where('id', '=', 'counter');
        const row = await tx.first(dialect === 'postgres' ? q.forUpdate() : q);
        await tx.write(
          t
            .updateTable('things')
            .set({ n: (row?.n ?? 0) + 1 })
            .where('id', '=', 'counter'),
        );
      });
    await Promise.all(Array.from({ length: 20 }, bump));
    expect(await store.first(t.selectFrom('things').select('n').where('id', '=', 'counter'))).toEqual({
      n: 20,
    });
  });

  it('binds a statement compiled once to the values of each call, wherever a stand-in stood', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'test', THINGS);
    const t = things(store);
    await store.write(t.insertInto('things').values([1, 2, 3].map((n) => ({ id: `t${n}`, n, at: null }))));
    // `at` twice, a literal 1 that is not a stand-in: only the stand-ins' places take the call's values
    const touch = compileOnce(
      (id: string, at: number) =>
        t
          .updateTable('things')
          .set({ at })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('at', 'is', null), eb('at', '<', at)]))
          .where('n', '>=', 1),
      ['\u0000id', -0.25],
    );
    expect(await store.write(touch('t2', 50))).toBe(1);
    expect(await store.write(touch('t2', 40))).toBe(0);
    expect(await store.write(touch('t3', 60))).toBe(1);
    const rows = await store.all(t.selectFrom('things').select(['id', 'at']).orderBy('id'));
    expect(rows.map((r) => [r.id, r.at === null ? null : Number(r.at)])).toEqual([
      ['t1', null],
      ['t2', 50],
      ['t3', 60],
    ]);
    expect(() =>
      compileOnce(
        (id: string, _at: number) => t.deleteFrom('things').where('id', '=', id),
        ['\u0000id', -0.25],
      ),
    ).toThrow(/-0.25/);
  });

  it('counts the rows a write changed', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'test', THINGS);
    const t = things(store);
    await store.write(t.insertInto('things').values([1, 2, 3].map((n) => ({ id: `t${n}`, n, at: null }))));
    expect(await store.write(t.updateTable('things').set({ at: 5 }).where('n', '>=', 2))).toBe(2);
    expect(await store.write(t.deleteFrom('things').where('id', '=', 'nope'))).toBe(0);
  });

  if (dialect === 'sqlite') {
    it('writes on SQLite before the call returns, for synchronous callers', async () => {
      const { store, sqlite } = await fresh();
      migrateModuleSync(store, 'test', THINGS);
      const t = things(store);
      void store.write(t.insertInto('things').values({ id: 'now', n: 1, at: null }));
      // not awaited: the hub's synchronous paths see the row at once
      expect(sqlite?.prepare('SELECT id FROM things').pluck().all()).toEqual(['now']);
      expect(store.sync?.all(t.selectFrom('things').select('n'))).toEqual([{ n: 1 }]);
    });

    it('rolls back a SQLite transaction whose body awaits I/O, so nothing else could have joined it', async () => {
      const { store } = await fresh();
      await migrateModule(store, 'test', THINGS);
      await expect(
        store.transaction(async (tx) => {
          await tx.write(things(store).insertInto('things').values({ id: 'a', n: 1, at: null }));
          await sleep(1); // a timer: the event loop turns with the transaction open
        }),
      ).rejects.toBeInstanceOf(TransactionSpansTurnError);
      expect(await ids(store)).toEqual([]);
    });

    it('rolls it back too when it began in an immediate and its timer is due before the loop checks again', async () => {
      const { store } = await fresh();
      await migrateModule(store, 'test', THINGS);
      // begun in a check-phase callback: the next immediate runs after the next timers phase
      await new Promise((resolve) => setImmediate(resolve));
      await expect(
        store.transaction(async (tx) => {
          await tx.write(things(store).insertInto('things').values({ id: 'a', n: 1, at: null }));
          const timer = sleep(1);
          // a loaded machine: the timer is due by the time the loop reaches its timers phase
          const busyUntil = Date.now() + 3;
          while (Date.now() < busyUntil);
          await timer;
        }),
      ).rejects.toBeInstanceOf(TransactionSpansTurnError);
      expect(await ids(store)).toEqual([]);
    });

    it("keeps the hub's other statements out of an open transaction", async () => {
      const { store, sqlite } = await fresh();
      await migrateModule(store, 'test', THINGS);
      const t = things(store);
      // A synchronous write of another part of the hub, due as soon as the loop turns (as a socket's would be),
      // and a statement of another promise chain that resumes while the transaction is open.
      let wrote = false;
      setImmediate(() => {
        sqlite?.prepare("INSERT INTO things (id, n) VALUES ('sync', 0)").run();
        wrote = true;
      });
      const body = store.transaction(async (tx) => {
        for (let i = 0; i < 50; i++)
          await tx.write(t.insertInto('things').values({ id: `t${i}`, n: i, at: null }));
        throw new Error('changed my mind');
      });
      const other = Promise.resolve().then(() =>
        store.write(t.insertInto('things').values({ id: 'chain', n: 0, at: null })),
      );
      await expect(body).rejects.toThrow('changed my mind');
      await other;
      await new Promise((resolve) => setImmediate(resolve));
      expect(wrote).toBe(true);
      // the rollback took the transaction's 50 rows and neither of the others
      expect(await ids(store)).toEqual(['chain', 'sync']);
    });
  }
});
