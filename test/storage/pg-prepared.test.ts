import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NAMED_PARAMETERS } from '../../src/storage/pg-prepared.ts';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { SqlExecutor, SqlStore } from '../../src/storage/sql-store.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** The prepared statements of the connection `on` runs on (a transaction's, so one connection throughout). */
async function prepared(on: SqlExecutor): Promise<{ name: string; statement: string }[]> {
  return on.all<{ name: string; statement: string }>(
    CompiledQuery.raw('SELECT name, statement FROM pg_prepared_statements ORDER BY name'),
  );
}

describe.skipIf(POSTGRES_MISSING !== undefined)('statements on PostgreSQL', () => {
  let pgc: TestPostgres;
  let store: SqlStore & { pool: { end(): Promise<void> } };
  let url: string;
  beforeAll(async () => {
    pgc = await startPostgres();
    url = await pgc.createDatabase();
    // one connection: what one statement prepared, the next one finds
    store = postgresStore(url, { maxConnections: 1 });
    await store.write(CompiledQuery.raw('CREATE TABLE things (id int PRIMARY KEY, name text)'));
    await store.write(CompiledQuery.raw(`INSERT INTO things VALUES (1, 'one'), (2, 'two')`));
  }, 60_000);
  afterAll(async () => {
    await store?.pool.end();
    await pgc?.stop();
  });

  it('prepares a statement once per connection and runs it again by name, whatever its values', async () => {
    const byId = (id: number) => CompiledQuery.raw('SELECT name FROM things WHERE id = $1', [id]);
    const seen = await store.transaction(async (tx) => {
      const names = [
        (await tx.first<{ name: string }>(byId(1)))?.name,
        (await tx.first<{ name: string }>(byId(2)))?.name,
      ];
      return { names, prepared: await prepared(tx) };
    });
    expect(seen.names).toEqual(['one', 'two']);
    // one prepared statement for both runs; the listing itself, without parameters, is not named
    expect(seen.prepared.filter((p) => p.statement.includes('FROM things'))).toEqual([
      { name: expect.stringMatching(/^gridhub_\d+$/), statement: 'SELECT name FROM things WHERE id = $1' },
    ]);
    expect(seen.prepared.some((p) => p.statement.includes('pg_prepared_statements'))).toBe(false);
  });

  it(`leaves a statement of more than ${MAX_NAMED_PARAMETERS} parameters unnamed`, async () => {
    const ids = Array.from({ length: MAX_NAMED_PARAMETERS + 1 }, (_, i) => i + 1);
    const text = `SELECT count(*)::int AS n FROM things WHERE id IN (${ids.map((i) => `$${i}`).join(', ')})`;
    const seen = await store.transaction(async (tx) => ({
      n: (await tx.first<{ n: number }>(CompiledQuery.raw(text, ids)))?.n,
      prepared: await prepared(tx),
    }));
    expect(seen.n).toBe(2);
    expect(seen.prepared.some((p) => p.statement === text)).toBe(false);
  });

  it('prepares nothing when turned off (a pooler in transaction mode cannot keep them)', async () => {
    const plain = postgresStore(url, { maxConnections: 1, preparedStatements: false });
    try {
      const seen = await plain.transaction(async (tx) => {
        await tx.first(CompiledQuery.raw('SELECT name FROM things WHERE id = $1', [1]));
        return prepared(tx);
      });
      expect(seen).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  it('drops a connection whose prepared statement a migration made stale; the next try runs on a fresh one', async () => {
    const all = CompiledQuery.raw('SELECT * FROM things WHERE id = $1', [1]);
    expect(await store.first(all)).toEqual({ id: 1, name: 'one' });
    // another instance's migration, on a connection of its own
    const other = postgresStore(url, { maxConnections: 1 });
    try {
      await other.write(CompiledQuery.raw('ALTER TABLE things ADD COLUMN note text'));
    } finally {
      await other.close();
    }
    // the statement prepared before the column came no longer fits what it returns
    await expect(store.first(all)).rejects.toMatchObject({ code: '0A000' });
    expect(await store.first(all)).toEqual({ id: 1, name: 'one', note: null });
  });
});
