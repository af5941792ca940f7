/**
 * The alerts read side's statements on both stores, 100 000 alerts in each (issue 18: "GET /api/alerts (page of
 * 50, a manager's scope) with 100 000 alerts in the store, p99 ≤ 50 ms, on both stores"). The same alerts
 * (bench/alert-seed.ts, into a SQLite file, then copied row by row into a throw-away PostgreSQL cluster) are read
 * with the statements `GET /api/alerts` and `GET /api/kpis` run — the count, the page with its residents, the
 * page's whistles; the KPI bounds and sums — through each store's `SqlStore`, one request at a time, by a
 * manager scoped to one community of two (about half the alerts). The HTTP layer is left out on both, so the two
 * figures compare the stores; bench/alert-reads.ts measures the whole request on the embedded store.
 *
 * Run alone: `node --import tsx bench/alert-reads-stores.ts [--quick]`; `npm run bench` calls
 * runAlertReadsStoresBench(). Without PostgreSQL binaries it says so and measures SQLite only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompiledQuery } from 'kysely';
import { createRng } from '../devices-sim/rng.ts';
import { alertsConfigSchema } from '../src/alerts/config.ts';
import { kpiBoundsQuery, kpiGroupsQuery } from '../src/alerts/kpi-query.ts';
import { countQuery, pageQuery, type ReadEnv, whistlesQuery } from '../src/alerts/list-query.ts';
import { offsetStretches } from '../src/alerts/local-day.ts';
import { OUTBOX_MIGRATIONS } from '../src/alerts/outbox-schema.ts';
import { ALERTS_MIGRATIONS } from '../src/alerts/schema.ts';
import type { AlertTables } from '../src/alerts/tables.ts';
import type { AlertFilter, AlertScope } from '../src/alerts/types.ts';
import { PLACE_LEVELS, type PlaceLevel, type PlacePath } from '../src/domain/places.ts';
import { REGISTRY_MIGRATIONS } from '../src/registry/schema.ts';
import { migrateModule } from '../src/storage/migrations.ts';
import { postgresStore } from '../src/storage/postgres.ts';
import type { SqlStore } from '../src/storage/sql-store.ts';
import { openDatabase } from '../src/storage/sqlite.ts';
import { sqliteStore } from '../src/storage/sqlite-kysely.ts';
import { POSTGRES_MISSING, startPostgres } from '../test/helpers/postgres.ts';
import { type SeedDevice, seedAlerts } from './alert-seed.ts';
import { type Latency, latency } from './lib.ts';

const ALERTS = 100_000;
const DAY = 86_400_000;
const TARGET_P99_MS = 50;
const ZONE = 'Asia/Shanghai';

/** Two communities of four grids, each grid two estates of three buildings, twenty devices a building. */
function tree(): { devices: SeedDevice[]; paths: Map<string, PlacePath>; levels: Map<string, PlaceLevel> } {
  const devices: SeedDevice[] = [];
  const paths = new Map<string, PlacePath>();
  const types = ['smoke', 'call_button', 'throw_camera', 'ebike_elevator', 'bin'];
  for (let c = 1; c <= 2; c++)
    for (let g = 1; g <= 4; g++)
      for (let e = 1; e <= 2; e++)
        for (let b = 1; b <= 3; b++) {
          const building = `B${c}${g}${e}${b}`;
          paths.set(building, {
            street: 'S1',
            community: `C${c}`,
            grid: `G${c}${g}`,
            estate: `E${c}${g}${e}`,
            building,
          });
          for (let d = 0; d < 20; d++)
            devices.push({
              id: `${building}-${d}`,
              type: types[d % types.length] as string,
              placeId: building,
            });
        }
  const levels = new Map<string, PlaceLevel>();
  for (const path of paths.values())
    for (const level of PLACE_LEVELS) if (path[level]) levels.set(path[level] as string, level);
  return { devices, paths, levels };
}

/** What `GET /api/alerts` asks the store (src/alerts/read-side.ts `list`). */
async function listRequest(
  store: SqlStore,
  env: ReadEnv,
  filter: AlertFilter,
  scope: AlertScope,
): Promise<number> {
  const b = store.builder<AlertTables>();
  const total = Number((await store.first(countQuery(b, filter, scope, env)))?.n ?? 0);
  const rows = await store.all(pageQuery(b, filter, scope, env, { limit: 50, offset: filter.offset ?? 0 }));
  if (rows.length)
    await store.all(
      whistlesQuery(
        b,
        rows.map((r) => r.id),
      ),
    );
  return total;
}

/** What `GET /api/kpis` asks the store (src/alerts/read-side.ts `sqlKpis`), all time. */
async function kpiRequest(store: SqlStore, env: ReadEnv, scope: AlertScope): Promise<void> {
  const b = store.builder<AlertTables>();
  const bounds = await store.first(kpiBoundsQuery(b, {}, scope, env));
  const lo = bounds?.firstAt == null ? env.now : Number(bounds.firstAt);
  const hi = bounds?.lastAt == null ? env.now : Number(bounds.lastAt);
  await store.all(kpiGroupsQuery(b, {}, scope, env, offsetStretches(ZONE, lo, Math.max(lo, hi))));
}

async function measureStore(store: SqlStore, env: ReadEnv, quick: boolean): Promise<Record<string, unknown>> {
  const n = quick ? { list: 200, kpis: 10, warmup: 20 } : { list: 500, kpis: 30, warmup: 50 };
  const scope: AlertScope = { kind: 'places', roots: ['C1'] };
  const time = async (count: number, request: (i: number) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await request(i);
      samples.push(performance.now() - t);
    }
    return latency(samples);
  };
  const inScope = await listRequest(store, env, {}, scope);
  await time(n.warmup, () => listRequest(store, env, {}, scope));
  const rng = createRng(5);
  const open: AlertFilter = { status: ['open', 'dispatched', 'acknowledged', 'on_site'] };
  return {
    managerScopeTotal: inScope,
    firstPage: await time(n.list, () => listRequest(store, env, {}, scope)),
    randomPage: await time(n.list, () =>
      listRequest(store, env, { offset: rng.int(0, Math.max(0, inScope - 50)) }, scope),
    ),
    openAlerts: await time(n.list, () => listRequest(store, env, open, scope)),
    kpisAllTime: await time(n.kpis, () => kpiRequest(store, env, scope)),
  };
}

/** Every alert and whistle of the SQLite file into `to`, 1 000 rows a statement, in one transaction. */
async function copyAlerts(from: SqlStore, to: SqlStore): Promise<void> {
  const src = from.builder<AlertTables>();
  const dst = to.builder<AlertTables>();
  const alerts = await from.all(src.selectFrom('alerts').selectAll().orderBy('id'));
  const whistles = await from.all(src.selectFrom('alert_whistles').selectAll().orderBy('id'));
  await to.transaction(async (tx) => {
    for (let i = 0; i < alerts.length; i += 1_000) {
      // the place levels are generated from the path by each database itself
      const rows = alerts
        .slice(i, i + 1_000)
        .map(({ street_id, community_id, estate_id, building_id, unit_id, ...row }) => row);
      await tx.write(dst.insertInto('alerts').values(rows));
    }
    for (let i = 0; i < whistles.length; i += 1_000)
      await tx.write(dst.insertInto('alert_whistles').values(whistles.slice(i, i + 1_000)));
  });
}

async function migrated(store: SqlStore): Promise<void> {
  await migrateModule(store, 'registry', REGISTRY_MIGRATIONS);
  await migrateModule(store, 'alerts', ALERTS_MIGRATIONS);
  await migrateModule(store, 'alerts.outbox', OUTBOX_MIGRATIONS);
}

export async function runAlertReadsStoresBench(
  options: { quick?: boolean } = {},
): Promise<Record<string, unknown>> {
  const quick = options.quick ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'gridhub-bench-stores-'));
  const db = openDatabase(join(dir, 'gridhub.db'));
  const sqlite = sqliteStore(db);
  const { devices, paths, levels } = tree();
  const now = Date.parse('2026-12-01T12:00:00+08:00');
  const env: ReadEnv = { cfg: alertsConfigSchema.parse({}), now, levelOf: (id) => levels.get(id) };
  try {
    await migrated(sqlite);
    seedAlerts(db, { count: ALERTS, now, spanMs: 180 * DAY, devices, path: (id) => paths.get(id) ?? {} });
    db.exec('ANALYZE');
    const result: Record<string, unknown> = {
      alerts: ALERTS,
      managerScope: ['C1'],
      targetP99Ms: TARGET_P99_MS,
      measured: 'the statements of GET /api/alerts and GET /api/kpis through each SqlStore, no HTTP',
      sqlite: await measureStore(sqlite, env, quick),
    };
    if (POSTGRES_MISSING !== undefined) return { ...result, postgres: { skipped: POSTGRES_MISSING } };
    const cluster = await startPostgres();
    const pg = postgresStore(await cluster.createDatabase(), { maxConnections: 2 });
    try {
      await migrated(pg);
      const copyStart = performance.now();
      await copyAlerts(sqlite, pg);
      const copyMs = Math.round(performance.now() - copyStart);
      // Fresh tables have no statistics and no visibility map until autovacuum comes round (a deployment has had
      // it long since): without the map, a count over the index still visits every row of the table.
      await pg.write(CompiledQuery.raw('VACUUM ANALYZE'));
      result.postgres = { copyMs, ...(await measureStore(pg, env, quick)) };
    } finally {
      await pg.close();
      await cluster.stop();
    }
    const p99 = (k: string) => (result[k] as { firstPage?: Latency }).firstPage?.p99Ms ?? Infinity;
    return { ...result, firstPageMet: p99('sqlite') <= TARGET_P99_MS && p99('postgres') <= TARGET_P99_MS };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(
    JSON.stringify(await runAlertReadsStoresBench({ quick: process.argv.includes('--quick') }), null, 2),
  );
}
