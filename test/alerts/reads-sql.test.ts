import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type SeedDevice, seedAlerts } from '../../bench/alert-seed.ts';
import { computeKpis } from '../../src/alerts/kpis.ts';
import type { AlertFilter, AlertScope, AlertView } from '../../src/alerts/types.ts';
import type { Registry } from '../../src/registry/registry.ts';
import { type Harness, T0 } from './fixtures.ts';
import { buildRoutesApp } from './routes-app.ts';

const MIN = 60_000;
const DAY = 86_400_000;
let h: Harness;
let app: FastifyInstance;
let statements: string[] = [];

afterEach(async () => {
  await app?.close();
  await h?.close();
  statements = [];
});

/** A second community beside the seeded one: s1 › c2 › g3 › e3 › b3. */
function addCommunity(registry: Registry): void {
  // not awaited: on SQLite a registry write is done when the call returns (src/storage/README.md)
  void registry.places.create({ id: 'c2', level: 'community', name: '和平社区', parentId: 's1' });
  void registry.places.create({ id: 'g3', level: 'grid', name: '第三网格', parentId: 'c2' });
  void registry.places.create({ id: 'e3', level: 'estate', name: '星星小区', parentId: 'g3' });
  void registry.places.create({ id: 'b3', level: 'building', name: '3号楼', parentId: 'e3' });
}

const TYPES = ['smoke', 'call_button', 'throw_camera', 'ebike_elevator', 'bin'];
const devicesAt = (placeIds: string[], perPlace = 6): SeedDevice[] =>
  placeIds.flatMap((placeId) =>
    Array.from({ length: perPlace }, (_, i) => ({
      id: `${TYPES[i % TYPES.length]}-${placeId}-${i}`,
      type: TYPES[i % TYPES.length] as string,
      placeId,
    })),
  );

async function build(
  options: { timeZone?: string; verbose?: boolean } = {},
): Promise<{ as: (user: string, url: string) => Promise<Record<string, unknown>> }> {
  ({ h, app } = await buildRoutesApp({
    ...(options.timeZone ? { config: { timeZone: options.timeZone } } : {}),
    ...(options.verbose ? { verbose: (sql: string) => statements.push(sql) } : {}),
  }));
  addCommunity(h.registry);
  return {
    as: async (user, url) => {
      const res = await app.inject({ method: 'GET', url: `/api${url}`, headers: { 'x-test-user': user } });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as Record<string, unknown>;
    },
  };
}

function seed(
  count: number,
  placeIds: string[],
  options: { spanMs?: number; seed?: number; whistleShare?: number; idPrefix?: string } = {},
) {
  return seedAlerts(h.db, {
    count,
    now: h.clock.now(),
    spanMs: options.spanMs ?? 3 * DAY,
    devices: devicesAt(placeIds),
    path: (id) => h.registry.places.path(id),
    seed: options.seed ?? 7,
    ...(options.idPrefix ? { idPrefix: options.idPrefix } : {}),
    ...(options.whistleShare !== undefined ? { whistleShare: options.whistleShare } : {}),
  });
}

/** Every alert of a filter, read page by page: the oracle the SQL answers are held against. */
async function everyAlert(filter: AlertFilter = {}): Promise<AlertView[]> {
  const out: AlertView[] = [];
  for (let offset = 0; ; offset += 500) {
    const { items } = await h.dispatcher.list({ ...filter, limit: 500, offset });
    out.push(...items);
    if (items.length < 500) return out;
  }
}

/** The JavaScript rules the routes applied before: `Scope.canSee` on the path, or the department's whistles. */
const visible = (scope: AlertScope) => (a: AlertView) => {
  if (scope.kind === 'all') return true;
  if (scope.kind === 'department') return a.whistles.some((w) => w.department === scope.department);
  return Object.values(a.place).some((id) => id !== undefined && scope.roots.includes(id));
};

// Thousands of seeded alerts, and the JavaScript oracle reads them all: more than the default 20 s on a busy machine.
describe('the alert list in SQL', { timeout: 60_000 }, () => {
  it('pages beyond 10 000 alerts with the true total, newest first, for admins and in a manager’s scope', async () => {
    const { as } = await build();
    const inC1 = seed(10_500, ['b1', 'b2', 'b1u1']);
    seed(700, ['b3'], { seed: 8, idPrefix: 'c2' });
    const all = await as('admin', '/alerts?limit=50&offset=11150');
    expect(all.total).toBe(11_200);
    expect(all.items).toHaveLength(50);

    const mgr = await as('mgr', '/alerts?limit=100&offset=10450');
    expect(mgr.total).toBe(10_500);
    const items = mgr.items as AlertView[];
    expect(items).toHaveLength(50);
    // Seeded ids open in order: the last page of the manager's is the 50 oldest of c1, newest first.
    expect(items.map((a) => a.id)).toEqual(inC1.slice(0, 50).reverse());
    expect(items.every((a) => a.place.community === 'c1')).toBe(true);
    // Past the end: the total still, and no items.
    expect(await as('mgr', '/alerts?offset=20000')).toMatchObject({ total: 10_500, items: [] });
  });

  it('enforces scope in the query — a manager sees their community, a worker their grid, counts and KPIs too', async () => {
    const { as } = await build();
    seed(900, ['b1', 'b2', 'b1u1', 'b3'], { whistleShare: 0.2 });
    const every = await everyAlert();
    const count = (scope: AlertScope) => every.filter(visible(scope)).length;
    const cases: [string, AlertScope][] = [
      ['admin', { kind: 'all' }],
      ['mgr', { kind: 'places', roots: ['c1'] }],
      ['w1', { kind: 'places', roots: ['g1'] }],
      ['w2', { kind: 'places', roots: ['g2'] }],
      ['fire', { kind: 'department', department: 'fire' }],
    ];
    for (const [user, scope] of cases) {
      const expected = count(scope);
      const body = await as(user, '/alerts?limit=500');
      expect(body.total, user).toBe(expected);
      expect((body.items as AlertView[]).every(visible(scope)), user).toBe(true);
      const kpis = (await as(user, '/kpis')) as { overall: { total: number }; grids: { gridId: string }[] };
      expect(kpis.overall.total, user).toBe(expected);
      if (user === 'mgr') expect(kpis.grids.map((g) => g.gridId)).toEqual(['g1', 'g2']);
    }
    expect(count({ kind: 'places', roots: ['c1'] })).toBeLessThan(every.length);
    expect(count({ kind: 'department', department: 'fire' })).toBeGreaterThan(0);
    // A direct read of the dispatcher in a scope matches the route's.
    expect((await h.dispatcher.list({}, { kind: 'places', roots: ['g3'] })).total).toBe(
      count({ kind: 'places', roots: ['g3'] }),
    );
  });

  it('combines filters — status, severity, category, place, period and SLA light — as the JavaScript rules did', async () => {
    const { as } = await build();
    seed(1_500, ['b1', 'b2', 'b1u1', 'b3'], { whistleShare: 0.3, spanMs: 2 * 3_600_000 });
    // Lights move with the clock: read them a little later, when some running clocks have turned.
    h.clock.advance(7 * MIN);
    const every = await everyAlert();
    const lights = new Set(every.map((a) => a.light));
    expect([...lights].sort()).toEqual(['green', 'red', 'yellow']);
    const from = T0 - 90 * MIN;
    const to = T0 - 20 * MIN;
    const combos: [string, (a: AlertView) => boolean][] = [
      ['light=yellow', (a) => a.light === 'yellow'],
      ['light=green&severity=critical', (a) => a.light === 'green' && a.severity === 'critical'],
      [
        'light=red&status=dispatched,acknowledged',
        (a) => a.light === 'red' && ['dispatched', 'acknowledged'].includes(a.status),
      ],
      [
        'status=resolved,closed&place=g2',
        (a) => ['resolved', 'closed'].includes(a.status) && a.place.grid === 'g2',
      ],
      [
        'category=fire&severity=critical,major&place=c1',
        (a) => a.category === 'fire' && a.severity !== 'minor' && a.place.community === 'c1',
      ],
      [
        `from=${from}&to=${to}&place=b1u1`,
        (a) => a.openedAt >= from && a.openedAt < to && a.place.unit === 'b1u1',
      ],
      [
        `light=yellow&place=e3&from=${from}`,
        (a) => a.light === 'yellow' && a.place.estate === 'e3' && a.openedAt >= from,
      ],
    ];
    for (const [query, keep] of combos) {
      const expected = every.filter(keep);
      const body = await as('admin', `/alerts?${query}&limit=500`);
      expect(body.total, query).toBe(expected.length);
      expect(
        (body.items as AlertView[]).map((a) => a.id),
        query,
      ).toEqual(expected.slice(0, 500).map((a) => a.id));
    }
    // In a scope too: the manager's yellow alerts of grid g1 are the admin's.
    const mine = await as('mgr', '/alerts?light=yellow&place=g1&limit=500');
    expect(mine.total).toBe(every.filter((a) => a.light === 'yellow' && a.place.grid === 'g1').length);
  });

  it('reads a page in three statements whatever its size: count, page with residents, whistles of the page', async () => {
    await build({ verbose: true });
    const ids = seed(400, ['b1', 'b2'], { whistleShare: 0.5 });
    for (const d of devicesAt(['b1', 'b2']).filter((x) => x.type === 'call_button')) {
      await h.dispatcher.residents.put({
        id: `r-${d.id}`,
        name: '王秀英',
        phone: '13700000003',
        familyName: '王强',
        familyPhone: '13600000004',
        healthNotes: '高血压',
        deviceId: d.id,
        placeId: d.placeId,
      });
    }
    const read = async (limit: number) => {
      statements = [];
      const page = await h.dispatcher.list({ limit });
      return { page, statements: [...statements] };
    };
    const small = await read(5);
    const big = await read(300);
    expect(small.statements).toHaveLength(3);
    expect(big.statements).toHaveLength(3);
    expect(big.page.items).toHaveLength(300);
    // The extras are all there: whistles and masked residents, as a single read shows them.
    for (const id of [ids[399], ids[398], ids[250]] as string[]) {
      const one = big.page.items.find((a) => a.id === id);
      expect(one).toEqual(await h.dispatcher.get(id));
    }
    const withResident = big.page.items.filter((a) => a.resident);
    expect(withResident.length).toBeGreaterThan(0);
    expect(withResident[0]?.resident).toMatchObject({ name: '王**', phone: '137****0003', masked: true });
    expect(big.page.items.some((a) => a.whistles.length > 0)).toBe(true);
    // Through the route as well.
    statements = [];
    const res = await app.inject({
      method: 'GET',
      url: '/api/alerts?limit=200',
      headers: { 'x-test-user': 'mgr' },
    });
    expect(res.json().items).toHaveLength(200);
    expect(statements).toHaveLength(3);
    // KPIs: one grouped query for a period, and one for the set's time span without one.
    statements = [];
    await h.dispatcher.kpis({ from: T0 - DAY, to: T0 }, { kind: 'places', roots: ['c1'] });
    expect(statements).toHaveLength(1);
    statements = [];
    await h.dispatcher.kpis({}, { kind: 'all' });
    expect(statements).toHaveLength(2);
  });
});

describe('KPIs as SQL aggregates', { timeout: 60_000 }, () => {
  const report = async (filter: { from?: number; to?: number; place?: string }, scope: AlertScope) => {
    const sqlReport = await h.dispatcher.kpis(filter, scope);
    // The JavaScript computation the KPIs had before, over every alert of the same set.
    const alerts = (await everyAlert({ from: filter.from, to: filter.to, place: filter.place })).filter(
      visible(scope),
    );
    return { sqlReport, jsReport: computeKpis(h.config, alerts, filter, h.clock.now()) };
  };

  it('equal the JavaScript computation on a seeded set, per grid, per day, in every scope', async () => {
    await build();
    seed(2_000, ['b1', 'b2', 'b1u1', 'b3'], { spanMs: 20 * DAY, whistleShare: 0.1 });
    h.clock.advance(30 * MIN);
    const scopes: AlertScope[] = [
      { kind: 'all' },
      { kind: 'places', roots: ['c1'] },
      { kind: 'places', roots: ['g1', 'e3'] },
      { kind: 'department', department: 'police' },
    ];
    const filters = [
      {},
      { from: T0 - 7 * DAY, to: T0 },
      { from: T0 - 10 * DAY, place: 'c1' },
      { place: 'b1u1' },
    ];
    for (const scope of scopes) {
      for (const filter of filters) {
        const { sqlReport, jsReport } = await report(filter, scope);
        expect(sqlReport, JSON.stringify({ scope, filter })).toEqual(jsReport);
      }
    }
    const { sqlReport } = await report({}, { kind: 'all' });
    // The set is rich enough for every figure to mean something.
    expect(sqlReport.overall.total).toBe(2_000);
    expect(sqlReport.overall.selfResolved).toBeGreaterThan(0);
    expect(sqlReport.overall.onTimeArriveRate).not.toBeNull();
    expect(sqlReport.overall.satisfaction).not.toBeNull();
    expect(sqlReport.overall.responseCircleRate).not.toBeNull();
    expect(sqlReport.trend.overall.length).toBeGreaterThanOrEqual(20);
  });

  it('counts local days across a daylight-saving change as the time zone has them', async () => {
    // Europe/Berlin left summer time on 26 Oct 2025, inside these 100 days before T0.
    await build({ timeZone: 'Europe/Berlin' });
    seed(2_000, ['b1', 'b2', 'b3'], { spanMs: 100 * DAY, seed: 11 });
    for (const filter of [{}, { from: T0 - 80 * DAY, to: T0 - 60 * DAY }]) {
      const { sqlReport, jsReport } = await report(filter, { kind: 'all' });
      expect(sqlReport).toEqual(jsReport);
    }
    const { sqlReport } = await report({ from: T0 - 80 * DAY, to: T0 - 60 * DAY }, { kind: 'all' });
    expect(sqlReport.trend.overall.map((p) => p.date)).toContain('2025-10-26');
  });
});
