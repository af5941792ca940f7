import type { AlertsConfig } from './config.ts';
import { KPI_DEFINITIONS, type KpiDefinition, type KpiKey } from './kpi-definitions.ts';
import type { KpiGroupRow, KpiGroupSumKey } from './kpi-query.ts';
import type { AlertView, Resolution } from './types.ts';

export interface KpiFilter {
  from?: number;
  to?: number;
  /** Only alerts at or under this place. */
  place?: string;
}

/** The figures of one set of alerts; what each means is in `KPI_DEFINITIONS` (served with them). */
export type KpiFigures = Record<KpiKey, number | null>;

export interface KpiTrendPoint {
  /** Local date (the hub's time zone), YYYY-MM-DD. */
  date: string;
  total: number;
  handled: number;
  closed: number;
  closureRate: number | null;
}

export interface KpiGridRow extends KpiFigures {
  gridId: string;
  gridName: string | null;
}

export interface KpiReport {
  from: number | null;
  to: number | null;
  at: number;
  timeZone: string;
  overall: KpiFigures;
  grids: KpiGridRow[];
  /** Per local day of the period: overall and per grid id. */
  trend: { overall: KpiTrendPoint[]; grids: Record<string, KpiTrendPoint[]> };
  definitions: Record<KpiKey, KpiDefinition>;
}

/** Ended without a person: these are counted apart and left out of every rate of people. */
export const SELF_RESOLUTIONS: ReadonlySet<Resolution> = new Set(['auto', 'prevented']);
/** How an alert was handled, as the KPI queries group it: by itself, or by people (open, resolved, closed). */
export const HANDLING = { self: 0, open: 1, resolved: 2, closed: 3 } as const;
/** The 15-minute response circle (15分钟响应圈) of one-key calls. */
export const RESPONSE_CIRCLE_MS = 15 * 60_000;

const ratio = (num: number, den: number) => (den === 0 ? null : Math.round((num / den) * 10_000) / 10_000);
const mean = (xs: number[]) =>
  xs.length === 0 ? null : Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;

const isSelfResolved = (a: AlertView) => a.resolution !== null && SELF_RESOLUTIONS.has(a.resolution);
const isDone = (a: AlertView) => a.status === 'resolved' || a.status === 'closed';
// Measured from the clock start (the reopen time for reopened alerts), like the SLA.
const startOf = (a: AlertView) => a.clocks[0]?.startedAt ?? a.openedAt;

export function kpiFigures(alerts: AlertView[], now: number): KpiFigures {
  const people = alerts.filter((a) => !isSelfResolved(a));
  const onTime = (name: string) => {
    let met = 0;
    let counted = 0;
    for (const a of people) {
      const c = a.clocks.find((x) => x.name === name);
      if (!c) continue;
      if (c.stoppedAt !== null) {
        counted++;
        if (c.met) met++;
      } else if (now >= c.dueAt) counted++;
    }
    return ratio(met, counted);
  };
  const secs = (pick: (a: AlertView) => number | null) =>
    mean(
      people.flatMap((a) => {
        const t = pick(a);
        return t === null ? [] : [(t - startOf(a)) / 1000];
      }),
    );
  const done = people.filter(isDone);
  const closed = people.filter((a) => a.status === 'closed').length;
  const rated = people.filter((a) => a.rating !== null);
  const calls = people.filter((a) => a.deviceType === 'call_button');
  let circleMet = 0;
  let circleCounted = 0;
  for (const a of calls) {
    const due = startOf(a) + RESPONSE_CIRCLE_MS;
    if (a.arrivedAt !== null) {
      circleCounted++;
      if (a.arrivedAt <= due) circleMet++;
    } else if (now >= due) circleCounted++;
  }
  return {
    total: alerts.length,
    selfResolved: alerts.length - people.length,
    handled: people.length,
    resolved: done.length,
    closed,
    closureRate: ratio(closed, people.length),
    onTimeAcknowledgeRate: onTime('acknowledge'),
    onTimeArriveRate: onTime('arrive'),
    onTimeResolveRate: onTime('resolve'),
    meanSecondsToAcknowledge: secs((a) => a.acknowledgedAt),
    meanSecondsToArrive: secs((a) => a.arrivedAt),
    meanSecondsToResolve: secs((a) => a.resolvedAt),
    satisfaction: mean(rated.map((a) => a.rating as number)),
    ratings: rated.length,
    inGridResolutionRate: ratio(done.filter((a) => a.reach === 'grid').length, done.length),
    calls: calls.length,
    responseCircleRate: ratio(circleMet, circleCounted),
    escalated: people.filter((a) => a.escalated).length,
  };
}

/** Local dates of the period (at most 92 days are filled in; longer periods list the days that had alerts). */
function periodDates(dateOf: (ms: number) => string, from?: number, to?: number): string[] {
  if (from === undefined || to === undefined || to <= from || to - from > 92 * 86_400_000) return [];
  const dates = new Set<string>();
  // Hourly steps find every local date whatever the zone's offset or daylight saving.
  for (let t = from; t < to; t += 3_600_000) dates.add(dateOf(t));
  dates.add(dateOf(to - 1));
  return [...dates];
}

function trendOf(alerts: AlertView[], dates: string[], dateOf: (ms: number) => string): KpiTrendPoint[] {
  const byDate = new Map<string, AlertView[]>(dates.map((d) => [d, []]));
  for (const a of alerts) {
    const d = dateOf(a.openedAt);
    const list = byDate.get(d) ?? [];
    list.push(a);
    byDate.set(d, list);
  }
  return [...byDate.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([date, list]) => {
      const handled = list.filter((a) => !isSelfResolved(a));
      const closed = handled.filter((a) => a.status === 'closed').length;
      return {
        date,
        total: list.length,
        handled: handled.length,
        closed,
        closureRate: ratio(closed, handled.length),
      };
    });
}

export function computeKpis(
  cfg: Pick<AlertsConfig, 'timeZone'>,
  alerts: AlertView[],
  filter: KpiFilter,
  now: number,
): KpiReport {
  const byGrid = new Map<string, AlertView[]>();
  const names = new Map<string, string | null>();
  for (const a of alerts) {
    const grid = a.place.grid ?? '(none)';
    let list = byGrid.get(grid);
    if (!list) {
      list = [];
      byGrid.set(grid, list);
      // placeNames lists the names of the levels present in the path, street first.
      const idx = (['street', 'community'] as const).filter((l) => a.place[l]).length;
      names.set(grid, a.place.grid ? (a.placeNames[idx] ?? null) : null);
    }
    list.push(a);
  }
  // en-CA writes dates as YYYY-MM-DD.
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: cfg.timeZone, dateStyle: 'short' });
  const dateOf = (ms: number) => fmt.format(ms);
  const dates = periodDates(dateOf, filter.from, filter.to);
  const grids = [...byGrid.entries()].sort(([a], [b]) => a.localeCompare(b));
  return {
    from: filter.from ?? null,
    to: filter.to ?? null,
    at: now,
    timeZone: cfg.timeZone,
    overall: kpiFigures(alerts, now),
    grids: grids.map(([gridId, list]) => ({
      gridId,
      gridName: names.get(gridId) ?? null,
      ...kpiFigures(list, now),
    })),
    trend: {
      overall: trendOf(alerts, dates, dateOf),
      grids: Object.fromEntries(grids.map(([gridId, list]) => [gridId, trendOf(list, dates, dateOf)])),
    },
    definitions: KPI_DEFINITIONS,
  };
}

// ---- from the SQL aggregates (kpi-query.ts) ---------------------------------------------------------------------

const num = (v: number | string | null | undefined): number =>
  v === null || v === undefined ? 0 : Number(v);
/** Mean seconds from a sum of milliseconds over n alerts, rounded as `mean` rounds. */
const meanSeconds = (ms: number, n: number) => (n === 0 ? null : Math.round((ms / 1000 / n) * 10) / 10);

/** One grid's (or the whole set's) sums, as numbers; all but `total` over alerts handled by people. */
export type KpiSums = Record<KpiGroupSumKey | 'handled' | 'resolved' | 'closed', number>;

const emptySums = (): KpiSums => ({
  total: 0,
  handled: 0,
  resolved: 0,
  closed: 0,
  ackMet: 0,
  ackCounted: 0,
  arriveMet: 0,
  arriveCounted: 0,
  resolveMet: 0,
  resolveCounted: 0,
  ackMs: 0,
  ackN: 0,
  arriveMs: 0,
  arriveN: 0,
  resolveMs: 0,
  resolveN: 0,
  ratingSum: 0,
  ratingN: 0,
  inGrid: 0,
  calls: 0,
  circleMet: 0,
  circleCounted: 0,
  escalated: 0,
  firstAt: Number.POSITIVE_INFINITY,
  lastAt: Number.NEGATIVE_INFINITY,
});

const PEOPLE_SUMS = [
  'ackMet',
  'ackCounted',
  'arriveMet',
  'arriveCounted',
  'resolveMet',
  'resolveCounted',
  'ackMs',
  'ackN',
  'arriveMs',
  'arriveN',
  'resolveMs',
  'resolveN',
  'ratingSum',
  'ratingN',
  'calls',
  'circleMet',
  'circleCounted',
  'escalated',
] as const satisfies readonly KpiGroupSumKey[];

/**
 * Fold the query's groups (grid × handling) into sums per grid ('(none)' outside any grid):
 * the rule of `kpiFigures` — people's figures leave out the self-resolved, in-grid counts only resolved ones.
 */
export function kpiSumsByGrid(rows: readonly KpiGroupRow[]): Map<string, KpiSums> {
  const grids = new Map<string, KpiSums>();
  for (const row of rows) {
    const gridId = row.gridId ?? '(none)';
    let s = grids.get(gridId);
    if (!s) {
      s = emptySums();
      grids.set(gridId, s);
    }
    const total = num(row.total);
    s.total += total;
    s.firstAt = Math.min(s.firstAt, num(row.firstAt));
    s.lastAt = Math.max(s.lastAt, num(row.lastAt));
    const how = num(row.handling);
    if (how === HANDLING.self) continue;
    s.handled += total;
    for (const key of PEOPLE_SUMS) s[key] += num(row[key]);
    if (how === HANDLING.resolved || how === HANDLING.closed) {
      s.resolved += total;
      s.inGrid += num(row.inGrid);
    }
    if (how === HANDLING.closed) s.closed += total;
  }
  return grids;
}

/** The sums of several grids. */
export function addSums(rows: Iterable<KpiSums>): KpiSums {
  const out = emptySums();
  for (const row of rows) {
    for (const key of Object.keys(out) as (keyof KpiSums)[]) {
      if (key === 'firstAt') out.firstAt = Math.min(out.firstAt, row.firstAt);
      else if (key === 'lastAt') out.lastAt = Math.max(out.lastAt, row.lastAt);
      else out[key] += row[key];
    }
  }
  return out;
}

/** One trend group (grid × local day × handling) as the trend query answers it. */
export interface TrendGroup {
  gridId: string | null;
  date: string;
  handling: number;
  total: number;
}

/** Trend groups into the counts of each grid and day: raised, handled by people, closed. */
export function trendCounts(groups: readonly TrendGroup[]): TrendCount[] {
  const byKey = new Map<string, TrendCount>();
  for (const g of groups) {
    const gridId = g.gridId ?? '(none)';
    const key = `${gridId}\u0000${g.date}`;
    let c = byKey.get(key);
    if (!c) {
      c = { gridId, date: g.date, total: 0, handled: 0, closed: 0 };
      byKey.set(key, c);
    }
    c.total += g.total;
    if (g.handling === HANDLING.self) continue;
    c.handled += g.total;
    if (g.handling === HANDLING.closed) c.closed += g.total;
  }
  return [...byKey.values()];
}

/** The figures of `kpiFigures`, from sums and counts computed by the database. */
export function kpiFiguresFromSums(s: KpiSums): KpiFigures {
  return {
    total: s.total,
    selfResolved: s.total - s.handled,
    handled: s.handled,
    resolved: s.resolved,
    closed: s.closed,
    closureRate: ratio(s.closed, s.handled),
    onTimeAcknowledgeRate: ratio(s.ackMet, s.ackCounted),
    onTimeArriveRate: ratio(s.arriveMet, s.arriveCounted),
    onTimeResolveRate: ratio(s.resolveMet, s.resolveCounted),
    meanSecondsToAcknowledge: meanSeconds(s.ackMs, s.ackN),
    meanSecondsToArrive: meanSeconds(s.arriveMs, s.arriveN),
    meanSecondsToResolve: meanSeconds(s.resolveMs, s.resolveN),
    satisfaction: s.ratingN === 0 ? null : Math.round((s.ratingSum / s.ratingN) * 10) / 10,
    ratings: s.ratingN,
    inGridResolutionRate: ratio(s.inGrid, s.resolved),
    calls: s.calls,
    responseCircleRate: ratio(s.circleMet, s.circleCounted),
    escalated: s.escalated,
  };
}

/** One trend point's counts: grid id as the figures use it ('(none)' for alerts outside any grid). */
export interface TrendCount {
  gridId: string;
  date: string;
  total: number;
  handled: number;
  closed: number;
}

function trendPoints(dates: readonly string[], counts: readonly TrendCount[]): KpiTrendPoint[] {
  const byDate = new Map<string, { total: number; handled: number; closed: number }>(
    dates.map((d) => [d, { total: 0, handled: 0, closed: 0 }]),
  );
  for (const c of counts) {
    const p = byDate.get(c.date) ?? { total: 0, handled: 0, closed: 0 };
    p.total += c.total;
    p.handled += c.handled;
    p.closed += c.closed;
    byDate.set(c.date, p);
  }
  return [...byDate.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([date, p]) => ({ date, ...p, closureRate: ratio(p.closed, p.handled) }));
}

/** The report of `computeKpis`, from per-grid sums and per-grid daily counts. */
export function kpiReportFromSums(input: {
  cfg: Pick<AlertsConfig, 'timeZone'>;
  filter: KpiFilter;
  now: number;
  grids: readonly { gridId: string; gridName: string | null; sums: KpiSums }[];
  trend: readonly TrendCount[];
}): KpiReport {
  const { cfg, filter } = input;
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: cfg.timeZone, dateStyle: 'short' });
  const dates = periodDates((ms) => fmt.format(ms), filter.from, filter.to);
  const grids = [...input.grids].sort((a, b) => a.gridId.localeCompare(b.gridId));
  const overall = grids.length
    ? kpiFiguresFromSums(addSums(grids.map((g) => g.sums)))
    : kpiFigures([], input.now);
  return {
    from: filter.from ?? null,
    to: filter.to ?? null,
    at: input.now,
    timeZone: cfg.timeZone,
    overall,
    grids: grids.map((g) => ({ gridId: g.gridId, gridName: g.gridName, ...kpiFiguresFromSums(g.sums) })),
    trend: {
      overall: trendPoints(dates, input.trend),
      grids: Object.fromEntries(
        grids.map((g) => [
          g.gridId,
          trendPoints(
            dates,
            input.trend.filter((c) => c.gridId === g.gridId),
          ),
        ]),
      ),
    },
    definitions: KPI_DEFINITIONS,
  };
}
