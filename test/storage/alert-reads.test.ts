import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { kpiBoundsQuery, kpiGroupsQuery } from '../../src/alerts/kpi-query.ts';
import { countQuery, pageQuery, type ReadEnv, whistlesQuery } from '../../src/alerts/list-query.ts';
import { offsetStretches } from '../../src/alerts/local-day.ts';
import { OUTBOX_MIGRATIONS } from '../../src/alerts/outbox-schema.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { alertClocks, worstLight } from '../../src/alerts/sla.ts';
import type { AlertRow, AlertTables, ResidentTable, WhistleRow } from '../../src/alerts/tables.ts';
import type { AlertFilter, AlertScope } from '../../src/alerts/types.ts';
import type { PlaceLevel } from '../../src/domain/places.ts';
import { SEVERITIES } from '../../src/domain/severity.ts';
import { ALERT_STATUSES } from '../../src/domain/wire.ts';
import { REGISTRY_MIGRATIONS } from '../../src/registry/schema.ts';
import { migrateModule } from '../../src/storage/migrations.ts';
import { postgresStore } from '../../src/storage/postgres.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

/**
 * The alerts read side — scope, filters, the SLA light, count, a page with its residents and whistles, the KPI
 * sums — is one set of Kysely builders (src/alerts/list-query.ts, kpi-query.ts) that must give the same answers
 * on SQLite and on PostgreSQL (issue #18). Both stores get the same 400 alerts; every query runs on both, and the
 * counts and pages are also checked against the rules written in JavaScript (`worstLight` for the light).
 */
const cfg = alertsConfigSchema.parse({});
const NOW = Date.parse('2026-12-03T12:00:00+08:00');
const DAY = 86_400_000;
const ZONE = 'Asia/Shanghai';

// A street with two communities of two grids, each grid one estate of two buildings of two units.
const LEVELS = new Map<string, PlaceLevel>([['s1', 'street']]);
const UNITS: Record<PlaceLevel, string>[] = [];
for (let c = 1; c <= 2; c++) {
  LEVELS.set(`c${c}`, 'community');
  for (let g = 1; g <= 2; g++) {
    const grid = `g${c}${g}`;
    LEVELS.set(grid, 'grid');
    LEVELS.set(`e${c}${g}`, 'estate');
    for (let b = 1; b <= 2; b++) {
      LEVELS.set(`b${c}${g}${b}`, 'building');
      for (let u = 1; u <= 2; u++) {
        LEVELS.set(`u${c}${g}${b}${u}`, 'unit');
        UNITS.push({
          street: 's1',
          community: `c${c}`,
          grid,
          estate: `e${c}${g}`,
          building: `b${c}${g}${b}`,
          unit: `u${c}${g}${b}${u}`,
        });
      }
    }
  }
}

/** A small deterministic generator: the same 400 alerts on every run and on both stores. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

interface Seed {
  alerts: (AlertRow & { path: Record<PlaceLevel, string> })[];
  whistles: WhistleRow[];
  residents: ResidentTable[];
}

function seed(): Seed {
  const r = rng(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;
  const alerts: Seed['alerts'] = [];
  const whistles: Seed['whistles'] = [];
  for (let i = 0; i < 400; i++) {
    const path = pick(UNITS);
    const severity = pick(SEVERITIES);
    const status = pick(ALERT_STATUSES);
    // over three days before NOW, and every seventh at one instant (the id breaks the tie)
    const opened = i % 7 === 0 ? NOW - DAY : NOW - 3 * DAY + Math.floor(r() * 3 * DAY);
    const done = status === 'resolved' || status === 'closed';
    const ack = status === 'open' || status === 'dispatched' ? null : opened + Math.floor(r() * 20 * 60_000);
    const arrived = ack !== null && status !== 'acknowledged' ? ack + Math.floor(r() * 40 * 60_000) : null;
    const resolved = done && arrived !== null ? arrived + Math.floor(r() * 3 * 3_600_000) : null;
    const id = `a${String(i).padStart(4, '0')}`;
    alerts.push({
      id,
      rule_id: pick(['smoke.alarm', 'bin.full', 'call.press']),
      device_id: `d${i % 90}`,
      device_type: pick(['smoke', 'bin', 'call_button']),
      place_id: path.unit,
      place: JSON.stringify(path),
      grid_id: path.grid,
      floor: 1 + (i % 20),
      severity,
      category: pick(['fire', 'sanitation', 'elderly']),
      title: '告警',
      detail: '',
      evidence: '{}',
      dedup: 'per-device',
      status,
      incident_id: null,
      count: 1,
      opened_at: opened,
      clock_start: opened,
      last_seen_at: opened,
      acknowledged_at: ack,
      acknowledged_by: ack === null ? null : 'w-li',
      arrived_at: arrived,
      resolved_at: resolved,
      resolved_by: resolved === null ? null : 'w-li',
      resolution: resolved === null ? null : pick(['handled', 'auto', 'false_alarm'] as const),
      resolution_note: null,
      closed_at: status === 'closed' && resolved !== null ? resolved + 60_000 : null,
      rating: status === 'closed' ? 1 + Math.floor(r() * 5) : null,
      rating_comment: null,
      reach: pick(['grid', 'grid', 'community'] as const),
      escalation_step: 0,
      escalated: r() < 0.2 ? 1 : 0,
      cancelled_by_resident: 0,
      reopened: 0,
      updated_at: opened,
      path,
    });
    if (r() < 0.15) {
      const whistledAt = opened + 60_000;
      whistles.push({
        id: whistles.length + 1,
        alert_id: id,
        department: pick(['fire', 'police']),
        note: null,
        whistled_at: whistledAt,
        whistled_by: 'w-li',
        due_at: whistledAt + Math.floor(r() * 2 * 3_600_000),
        reported_at: r() < 0.5 ? whistledAt + 30 * 60_000 : null,
        reported_by: null,
        escalated: 0,
      });
    }
  }
  const residents = Array.from({ length: 10 }, (_, i) => ({
    id: `r${i}`,
    name: `居民${i}`,
    phone: '13800000000',
    family_name: null,
    family_phone: null,
    health_notes: null,
    device_id: `d${i * 3}`,
    place_id: null,
    updated_at: NOW,
  }));
  return { alerts, whistles, residents };
}

const SEED = seed();

async function seeded(store: SqlStore): Promise<void> {
  await migrateModule(store, 'registry', REGISTRY_MIGRATIONS);
  await migrateModule(store, 'alerts', ALERTS_MIGRATIONS);
  await migrateModule(store, 'alerts.outbox', OUTBOX_MIGRATIONS);
  const db = store.builder<AlertTables>();
  await store.transaction(async (tx) => {
    for (let i = 0; i < SEED.alerts.length; i += 100) {
      const rows = SEED.alerts.slice(i, i + 100).map(({ path: _, ...row }) => row);
      await tx.write(db.insertInto('alerts').values(rows));
    }
    await tx.write(db.insertInto('alert_whistles').values(SEED.whistles));
    await tx.write(db.insertInto('residents').values(SEED.residents));
  });
}

const env: ReadEnv = { cfg, now: NOW, levelOf: (id) => LEVELS.get(id) };

const SCOPES: [string, AlertScope][] = [
  ['everything', { kind: 'all' }],
  ['a community', { kind: 'places', roots: ['c1'] }],
  ['a grid', { kind: 'places', roots: ['g22'] }],
  ['a building and a grid', { kind: 'places', roots: ['b111', 'g21'] }],
  ['a place the registry does not know', { kind: 'places', roots: ['zz'] }],
  ['a department', { kind: 'department', department: 'fire' }],
  ['no department', { kind: 'department', department: null }],
];

const FILTERS: [string, AlertFilter][] = [
  ['no filter', {}],
  ['open ones', { status: ['open', 'dispatched', 'acknowledged', 'on_site'] }],
  ['critical of the last day', { severity: ['critical'], from: NOW - DAY, to: NOW }],
  ['under an estate, one category', { place: 'e12', category: 'fire' }],
  ['red', { light: 'red' }],
  ['yellow', { light: 'yellow' }],
  ['green and minor', { light: 'green', severity: ['minor'] }],
  ['whistled to the police', { department: 'police' }],
];

/** The same decisions in JavaScript: `Scope.canSee` on the path, each filter, `worstLight` of the clocks. */
function expected(filter: AlertFilter, scope: AlertScope): string[] {
  const whistlesOf = (id: string) => SEED.whistles.filter((w) => w.alert_id === id);
  const under = (a: Seed['alerts'][number], ids: readonly string[]) =>
    ids.some((id) => Object.values(a.path).includes(id));
  return SEED.alerts
    .filter((a) => {
      if (scope.kind === 'places' && !under(a, scope.roots)) return false;
      if (scope.kind === 'department') {
        if (scope.department === null) return false;
        if (!whistlesOf(a.id).some((w) => w.department === scope.department)) return false;
      }
      if (filter.status && !filter.status.includes(a.status)) return false;
      if (filter.severity && !filter.severity.includes(a.severity)) return false;
      if (filter.category && a.category !== filter.category) return false;
      if (filter.place && !under(a, [filter.place])) return false;
      if (filter.department && !whistlesOf(a.id).some((w) => w.department === filter.department))
        return false;
      if (filter.from !== undefined && a.opened_at < filter.from) return false;
      if (filter.to !== undefined && a.opened_at >= filter.to) return false;
      if (filter.light) {
        const clocks = alertClocks(
          cfg,
          {
            severity: a.severity,
            clockStart: a.clock_start,
            acknowledgedAt: a.acknowledged_at,
            arrivedAt: a.arrived_at,
            resolvedAt: a.resolved_at,
            whistles: whistlesOf(a.id).map((w) => ({
              department: w.department,
              whistledAt: w.whistled_at,
              dueAt: w.due_at,
              // a department's clock stops at its report, or when the alert is resolved
              reportedAt: w.reported_at ?? a.resolved_at,
            })),
          },
          NOW,
        );
        if (worstLight(clocks) !== filter.light) return false;
      }
      return true;
    })
    .sort((x, y) => y.opened_at - x.opened_at || (x.id < y.id ? 1 : -1))
    .map((a) => a.id);
}

/** PostgreSQL answers SUM and COUNT of bigint as numeric strings; the callers turn them into numbers. */
function numbers<T extends Record<string, unknown>>(rows: T[]): Record<string, unknown>[] {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [
        k,
        typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v,
      ]),
    ),
  );
}

interface Answers {
  counts: Record<string, number>;
  pages: Record<string, string[]>;
  residents: Record<string, (string | null)[]>;
  whistles: Record<string, string[]>;
  kpis: Record<string, Record<string, unknown>[]>;
}

async function answers(store: SqlStore): Promise<Answers> {
  const b = store.builder<AlertTables>();
  const out: Answers = { counts: {}, pages: {}, residents: {}, whistles: {}, kpis: {} };
  for (const [scopeName, scope] of SCOPES) {
    for (const [filterName, filter] of FILTERS) {
      const key = `${scopeName} / ${filterName}`;
      const count = await store.first(countQuery(b, filter, scope, env));
      out.counts[key] = Number(count?.n);
      const ids: string[] = [];
      const residents: (string | null)[] = [];
      for (let offset = 0; ; offset += 50) {
        const page = await store.all(pageQuery(b, filter, scope, env, { limit: 50, offset }));
        ids.push(...page.map((r) => r.id));
        residents.push(...page.map((r) => r.resident_id));
        if (page.length < 50) break;
      }
      out.pages[key] = ids;
      out.residents[key] = residents;
      if (ids.length) {
        const w = await store.all(whistlesQuery(b, ids.slice(0, 50)));
        out.whistles[key] = w.map((x) => `${x.alert_id}:${x.department}`);
      }
      const bounds = await store.first(kpiBoundsQuery(b, filter, scope, env));
      if (bounds?.firstAt != null && bounds.lastAt != null) {
        const stretches = offsetStretches(ZONE, Number(bounds.firstAt), Number(bounds.lastAt) + 1);
        const groups = numbers(await store.all(kpiGroupsQuery(b, filter, scope, env, stretches)));
        out.kpis[key] = groups.sort((x, y) =>
          `${x.gridId}|${x.day}|${x.handling}` < `${y.gridId}|${y.day}|${y.handling}` ? -1 : 1,
        );
      }
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'gridhub-reads-'));
const sqliteDb = openDatabase(join(dir, 'gridhub.db'));
const sqlite = sqliteStore(sqliteDb);
let sqliteAnswers: Answers;

beforeAll(async () => {
  await seeded(sqlite);
  sqliteAnswers = await answers(sqlite);
}, 60_000);

afterAll(() => {
  sqliteDb.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the alerts read side on SQLite', () => {
  it('counts and pages what the rules in JavaScript pick, newest first, ties by id (the later first)', () => {
    let nonEmpty = 0;
    for (const [scopeName, scope] of SCOPES) {
      for (const [filterName, filter] of FILTERS) {
        const key = `${scopeName} / ${filterName}`;
        const ids = expected(filter, scope);
        expect(sqliteAnswers.pages[key], key).toEqual(ids);
        expect(sqliteAnswers.counts[key], key).toBe(ids.length);
        if (ids.length > 0) nonEmpty++;
      }
    }
    // the seed exercises the cases: most combinations find something, several span pages
    expect(nonEmpty).toBeGreaterThan(35);
    expect(sqliteAnswers.counts['everything / no filter']).toBe(400);
  });

  it("joins each alert's resident by device", () => {
    const page = sqliteAnswers.pages['everything / no filter'] ?? [];
    const residents = sqliteAnswers.residents['everything / no filter'] ?? [];
    const byDevice = new Map(SEED.residents.map((r) => [r.device_id, r.id]));
    const device = new Map(SEED.alerts.map((a) => [a.id, a.device_id]));
    expect(residents).toEqual(page.map((id) => byDevice.get(device.get(id) as string) ?? null));
    expect(residents.filter((r) => r !== null).length).toBeGreaterThan(10);
  });
});

describe.skipIf(POSTGRES_MISSING !== undefined)('the alerts read side on PostgreSQL', () => {
  let cluster: TestPostgres;
  let pg: SqlStore;
  let pgAnswers: Answers;

  beforeAll(async () => {
    cluster = await startPostgres();
    pg = postgresStore(await cluster.createDatabase());
    await seeded(pg);
    pgAnswers = await answers(pg);
  }, 120_000);

  afterAll(async () => {
    await pg?.close();
    await cluster?.stop();
  });

  it('gives every count, page, resident and whistle SQLite gives', () => {
    expect(pgAnswers.counts).toEqual(sqliteAnswers.counts);
    expect(pgAnswers.pages).toEqual(sqliteAnswers.pages);
    expect(pgAnswers.residents).toEqual(sqliteAnswers.residents);
    expect(pgAnswers.whistles).toEqual(sqliteAnswers.whistles);
  });

  it('gives the same KPI sums per grid, local day and handling', () => {
    expect(Object.keys(pgAnswers.kpis).length).toBeGreaterThan(30);
    expect(pgAnswers.kpis).toEqual(sqliteAnswers.kpis);
  });
});
