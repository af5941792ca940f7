import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAlertStore } from '../../src/alerts/postgres-alert-store.ts';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

/**
 * The dispatcher's transactions on PostgreSQL take turns, as on SQLite. Side by side, each held a pooled
 * connection while it read another store (the residents) on the pool: with as many open as the pool holds, all
 * of them waited for ever (three hubs under load in test/hub/failover.test.ts).
 */
describe.skipIf(POSTGRES_MISSING !== undefined)('alert transactions on PostgreSQL', () => {
  let pgc: TestPostgres;
  let store: SqlStore & { pool: { end(): Promise<void> } };
  beforeAll(async () => {
    pgc = await startPostgres();
    store = postgresStore(await pgc.createDatabase(), { maxConnections: 2 });
  }, 60_000);
  afterAll(async () => {
    await store?.pool.end();
    await pgc?.stop();
  });

  it('more transactions than the pool has connections, each reading on the pool meanwhile, all commit', async () => {
    const alerts = postgresAlertStore(store);
    const order: string[] = [];
    const bodies = Array.from({ length: 6 }, (_, i) =>
      alerts.transaction(async () => {
        order.push(`begin ${i}`);
        // a read of another store, on the pool (as residents.forDevice inside a raise)
        const row = await store.first<{ n: number }>(CompiledQuery.raw(`SELECT ${i}::int AS n`));
        order.push(`end ${i}`);
        return row?.n;
      }),
    );
    const answered = await Promise.race([
      Promise.all(bodies),
      new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 10_000).unref()),
    ]);
    expect(answered).toEqual([0, 1, 2, 3, 4, 5]);
    // one body at a time: each ends before the next begins
    expect(order).toEqual(Array.from({ length: 6 }, (_, i) => [`begin ${i}`, `end ${i}`]).flat());
  });

  it('a transaction that fails lets the next one run', async () => {
    const alerts = postgresAlertStore(store);
    const failed = alerts.transaction(async () => {
      throw new Error('rolled back');
    });
    const next = alerts.transaction(async () => 'ran');
    await expect(failed).rejects.toThrow('rolled back');
    await expect(next).resolves.toBe('ran');
  });
});
