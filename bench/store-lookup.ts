/**
 * What one registry statement costs on each store: a device looked up by id, as the DeviceStore's `reload` and
 * any store-backed lookup run it (built with Kysely once per call, compiled, executed). Ingest itself looks
 * devices up in memory; that figure is here too, as the floor. PostgreSQL runs in a throw-away cluster on
 * loopback (test/helpers/postgres.ts), or at GRIDHUB_BENCH_DATABASE_URL; without either its figures are skipped.
 *
 *   node --import tsx bench/store-lookup.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { ManualClock } from '../src/clock/clock.ts';
import { openRegistry, type Registry } from '../src/registry/registry.ts';
import type { RegistryTables } from '../src/registry/tables.ts';
import { postgresStore } from '../src/storage/postgres.ts';
import type { SqlStore } from '../src/storage/sql-store.ts';
import { openDatabase } from '../src/storage/sqlite.ts';
import { sqliteStore } from '../src/storage/sqlite-kysely.ts';
import { POSTGRES_MISSING, startPostgres } from '../test/helpers/postgres.ts';

export interface StoreLookupFigures {
  devices: number;
  lookups: number;
  /** DeviceStore.get: the in-memory map ingest uses on every message. */
  memoryNsPerLookup: number;
  sqlite: {
    /** A prepared better-sqlite3 statement, by hand: the floor on this store. */
    rawPreparedUs: number;
    /** The same statement built with Kysely and run synchronously (store.sync.first). */
    syncUs: number;
    /** Built with Kysely and awaited (store.first): what the async interface costs on SQLite. */
    asyncUs: number;
  };
  postgres:
    | {
        /** One awaited lookup after another: a loopback round trip each. */
        sequentialUs: number;
        /** 16 lookups in flight on a pool of 10: throughput as µs per lookup. */
        concurrentUsPerLookup: number;
      }
    | { skipped: string };
}

const statement = (store: SqlStore, id: string) =>
  store.builder<RegistryTables>().selectFrom('devices').selectAll().where('id', '=', id);

async function seed(store: SqlStore, devices: number): Promise<Registry> {
  const r = await openRegistry(store, createCatalogue(), new ManualClock(0), {
    secretKey: randomBytes(32),
  });
  await r.places.create({ id: 's1', level: 'street', name: '街道', parentId: null });
  await store.transaction(async (tx) => {
    const b = store.builder<RegistryTables>();
    for (let i = 0; i < devices; i++) {
      await tx.write(
        b.insertInto('devices').values({
          id: `smoke-${i}`,
          type: 'smoke',
          place_id: 's1',
          floor: null,
          label: null,
          secret_hash: 'x',
          enabled: 1,
          created_at: 0,
          last_seen: null,
          online: 0,
          online_changed_at: null,
        }),
      );
    }
  });
  return r;
}

const usPer = (start: bigint, n: number) => Number(process.hrtime.bigint() - start) / 1_000 / n;

export async function runStoreLookupBench(options: { quick?: boolean } = {}): Promise<StoreLookupFigures> {
  const devices = options.quick ? 2_000 : 10_000;
  const lookups = options.quick ? 20_000 : 100_000;
  const ids = Array.from({ length: lookups }, (_, i) => `smoke-${(i * 7919) % devices}`);

  const db = openDatabase(':memory:');
  const sqlite = sqliteStore(db);
  await seed(sqlite, devices);
  const registry = await openRegistry(sqlite, createCatalogue(), new ManualClock(0), {
    secretKey: randomBytes(32),
  });
  let found = 0;
  // Warm each path up first, so the figures are the JIT-compiled steady state rather than the first calls.
  for (const id of ids.slice(0, 5_000)) {
    if (registry.devices.get(id)) found++;
    if (sqlite.sync?.first(statement(sqlite, id))) found++;
    if (await sqlite.first(statement(sqlite, id))) found++;
  }
  let t = process.hrtime.bigint();
  for (const id of ids) if (registry.devices.get(id)) found++;
  const memoryNsPerLookup = usPer(t, lookups) * 1_000;
  const raw = db.prepare('SELECT * FROM devices WHERE id = ?');
  t = process.hrtime.bigint();
  for (const id of ids) if (raw.get(id)) found++;
  const rawPreparedUs = usPer(t, lookups);
  const sync = sqlite.sync;
  if (!sync) throw new Error('the SQLite store has a synchronous runner');
  t = process.hrtime.bigint();
  for (const id of ids) if (sync.first(statement(sqlite, id))) found++;
  const syncUs = usPer(t, lookups);
  t = process.hrtime.bigint();
  for (const id of ids) if (await sqlite.first(statement(sqlite, id))) found++;
  const asyncUs = usPer(t, lookups);
  db.close();

  let postgres: StoreLookupFigures['postgres'];
  const url = process.env.GRIDHUB_BENCH_DATABASE_URL;
  if (!url && POSTGRES_MISSING) postgres = { skipped: POSTGRES_MISSING };
  else {
    const cluster = url ? undefined : await startPostgres();
    try {
      const pg = postgresStore(
        url ?? (await (cluster as NonNullable<typeof cluster>).createDatabase('store_lookup')),
      );
      await seed(pg, devices);
      const n = Math.min(lookups, options.quick ? 5_000 : 20_000);
      for (const id of ids.slice(0, 1_000)) if (await pg.first(statement(pg, id))) found++;
      t = process.hrtime.bigint();
      for (const id of ids.slice(0, n)) if (await pg.first(statement(pg, id))) found++;
      const sequentialUs = usPer(t, n);
      t = process.hrtime.bigint();
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < n) if (await pg.first(statement(pg, ids[next++] as string))) found++;
        }),
      );
      const concurrentUsPerLookup = usPer(t, n);
      await pg.close();
      postgres = { sequentialUs, concurrentUsPerLookup };
    } finally {
      await cluster?.stop();
    }
  }
  if (found === 0) throw new Error('no device found: the bench measured nothing');
  return { devices, lookups, memoryNsPerLookup, sqlite: { rawPreparedUs, syncUs, asyncUs }, postgres };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  console.log(JSON.stringify(await runStoreLookupBench({ quick }), null, 2));
}
