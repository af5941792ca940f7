import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { OUTBOX_MIGRATIONS } from '../../src/alerts/outbox-schema.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { CHANNELS_MIGRATIONS } from '../../src/channels/schema.ts';
import { REGISTRY_MIGRATIONS } from '../../src/registry/schema.ts';
import { type Migration, migrateModule, migrateModuleSync } from '../../src/storage/migrations.ts';
import { type Db, openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { type SchemaSnapshot, snapshotSqliteSchema } from './sqlite-schema.ts';
import { describeStores } from './stores.ts';

/**
 * The alerts' and channels' tables, written once with Kysely for both stores (issue #18). Each version must do
 * on SQLite what the SQL of the SQLite-only hub did under the same number: `golden/alerts-sqlite-schema.json`
 * is the schema that SQL left after each version (columns, indexes, keys, checks), taken from it before it was
 * rewritten. A data dir that an older hub migrated to any version then goes on with the same tables a new one
 * has.
 */
const GOLDEN = JSON.parse(
  readFileSync(new URL('./golden/alerts-sqlite-schema.json', import.meta.url), 'utf8'),
) as Record<string, SchemaSnapshot>;

const MODULES: [string, readonly Migration[]][] = [
  ['alerts', ALERTS_MIGRATIONS],
  ['alerts.outbox', OUTBOX_MIGRATIONS],
  ['channels', CHANNELS_MIGRATIONS],
];

/** A new SQLite with the registry's tables (the alerts' foreign keys point at them). */
function withRegistry(): { db: Db; registryTables: string[] } {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  return { db, registryTables: Object.keys(snapshotSqliteSchema(db)) };
}

function without(snapshot: SchemaSnapshot, tables: string[]): SchemaSnapshot {
  return Object.fromEntries(Object.entries(snapshot).filter(([t]) => !tables.includes(t)));
}

describe('alerts and channels schema on SQLite: each version as the SQL before it left it', () => {
  it('has a golden schema for every version', () => {
    const versions = MODULES.flatMap(([module, list]) => list.map((_, i) => `${module} ${i + 1}`));
    expect(Object.keys(GOLDEN)).toEqual(versions);
  });

  for (const [m, [module, list]] of MODULES.entries()) {
    for (let v = 1; v <= list.length; v++) {
      it(`${module} ${v}`, () => {
        const { db, registryTables } = withRegistry();
        const store = sqliteStore(db);
        for (const [earlier, all] of MODULES.slice(0, m)) migrateModuleSync(store, earlier, all);
        migrateModuleSync(store, module, list.slice(0, v));
        expect(without(snapshotSqliteSchema(db), registryTables)).toEqual(GOLDEN[`${module} ${v}`]);
        db.close();
      });
    }
  }

  it("version 2 carries version 1's outbox over: failed rows become dead, each with an idempotency key", () => {
    const { db } = withRegistry();
    const store = sqliteStore(db);
    migrateModuleSync(store, 'alerts', ALERTS_MIGRATIONS.slice(0, 1));
    const insert = db.prepare(
      "INSERT INTO alert_outbox (id, alert_id, channel, target, payload, created_at, next_at, attempts, state) VALUES (?, 'a1', 'sms', '+8613800000000', '{}', 1, 2, ?, ?)",
    );
    insert.run(7, 3, 'failed');
    insert.run(8, 0, 'pending');
    migrateModuleSync(store, 'alerts', ALERTS_MIGRATIONS);
    expect(
      db.prepare('SELECT id, state, attempts, idempotency_key FROM alert_outbox ORDER BY id').all(),
    ).toEqual([
      { id: 7, state: 'dead', attempts: 3, idempotency_key: 'gh-7' },
      { id: 8, state: 'pending', attempts: 0, idempotency_key: 'gh-8' },
    ]);
    db.close();
  });
});

describeStores('alerts and channels schema', ({ fresh }) => {
  it('migrates on the store, numbers its rows, fills the place levels from the path and enforces its checks', async () => {
    const { store } = await fresh();
    await migrateModule(store, 'registry', REGISTRY_MIGRATIONS);
    for (const [module, list] of MODULES) {
      expect(await migrateModule(store, module, list)).toEqual(list.map((_, i) => i + 1));
      // a second start (or another instance) finds nothing to do
      expect(await migrateModule(store, module, list)).toEqual([]);
    }
    const db = store.builder<{
      alerts: Record<string, unknown>;
      alert_events: { id?: number; alert_id: string; at: number; actor: string; type: string };
      alert_quiet_hours: {
        person_id: string | null;
        place_id: string | null;
        start_minute: number;
        end_minute: number;
      };
    }>();
    const place = { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1', unit: 'u1' };
    await store.write(
      db.insertInto('alerts').values({
        id: 'a1',
        rule_id: 'smoke.alarm',
        device_id: 'smoke-1',
        device_type: 'smoke',
        place_id: 'u1',
        place: JSON.stringify(place),
        grid_id: 'g1',
        severity: 'critical',
        category: 'fire',
        title: '烟感报警',
        detail: '',
        dedup: 'smoke.alarm:smoke-1',
        status: 'open',
        // epoch ms beyond 32 bits: instants are bigint on PostgreSQL
        opened_at: 1_764_547_200_000,
        clock_start: 1_764_547_200_000,
        last_seen_at: 1_764_547_200_000,
        updated_at: 1_764_547_200_000,
      }),
    );
    const row = await store.first(
      db
        .selectFrom('alerts')
        .select([
          'street_id',
          'community_id',
          'estate_id',
          'building_id',
          'unit_id',
          'opened_at',
          'evidence',
          'count',
        ])
        .where('id', '=', 'a1'),
    );
    expect(row).toEqual({
      street_id: 's1',
      community_id: 'c1',
      estate_id: 'e1',
      building_id: 'b1',
      unit_id: 'u1',
      opened_at: 1_764_547_200_000,
      evidence: '{}',
      count: 1,
    });
    for (const type of ['raised', 'notified'])
      await store.write(
        db.insertInto('alert_events').values({ alert_id: 'a1', at: 1, actor: 'system', type }),
      );
    const ids = (await store.all(db.selectFrom('alert_events').select('id').orderBy('id'))).map((r) =>
      Number(r.id),
    );
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBeGreaterThan(ids[0] as number);
    // a timeline entry of no alert is refused by its foreign key
    await expect(
      store.write(
        db.insertInto('alert_events').values({ alert_id: 'nope', at: 1, actor: 'system', type: 'raised' }),
      ),
    ).rejects.toThrow();
    // quiet hours belong to a person or to a place, never both
    await expect(
      store.write(
        db
          .insertInto('alert_quiet_hours')
          .values({ person_id: 'p1', place_id: 'g1', start_minute: 0, end_minute: 60 }),
      ),
    ).rejects.toThrow();
    await expect(
      store.write(
        db
          .insertInto('alert_quiet_hours')
          .values({ person_id: 'p1', place_id: null, start_minute: 0, end_minute: 1440 }),
      ),
    ).rejects.toThrow();
    const lanes = await store.all(
      sql<{
        n: number;
      }>`SELECT count(*) AS n FROM alert_outbox WHERE claimed_by IS NULL AND lease_until IS NULL`.compile(db),
    );
    expect(Number(lanes[0]?.n)).toBe(0);
  });
});
