import type { AlertsConfig } from './config.ts';
import type { AlertView } from './types.ts';

export interface KpiFilter {
  from?: number;
  to?: number;
  /** Only alerts at or under this place. */
  place?: string;
}

export interface KpiFigures {
  total: number;
  resolved: number;
  closed: number;
  /** 办结率: share of alerts resolved or closed. */
  closureRate: number | null;
  /** Share of clocks that stopped in time, over clocks that stopped or are overdue. */
  onTimeAcknowledgeRate: number | null;
  onTimeArriveRate: number | null;
  onTimeResolveRate: number | null;
  meanSecondsToAcknowledge: number | null;
  meanSecondsToArrive: number | null;
  meanSecondsToResolve: number | null;
  /** Mean rating 1–5 and how many ratings it rests on. */
  satisfaction: number | null;
  ratings: number;
  /** Share of resolved alerts that never left the grid (no community or street escalation). */
  inGridResolutionRate: number | null;
  escalated: number;
}

export interface KpiReport {
  from: number | null;
  to: number | null;
  at: number;
  overall: KpiFigures;
  grids: ({ gridId: string; gridName: string | null } & KpiFigures)[];
}

const ratio = (num: number, den: number) => (den === 0 ? null : Math.round((num / den) * 10_000) / 10_000);
const mean = (xs: number[]) =>
  xs.length === 0 ? null : Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;

function figures(alerts: AlertView[], now: number): KpiFigures {
  const onTime = (name: string) => {
    let met = 0;
    let counted = 0;
    for (const a of alerts) {
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
      alerts.flatMap((a) => {
        const t = pick(a);
        // Measured from the clock start (the reopen time for reopened alerts), like the SLA.
        const start = a.clocks[0]?.startedAt ?? a.openedAt;
        return t === null ? [] : [(t - start) / 1000];
      }),
    );
  const done = alerts.filter((a) => a.status === 'resolved' || a.status === 'closed');
  const rated = alerts.filter((a) => a.rating !== null);
  return {
    total: alerts.length,
    resolved: done.length,
    closed: alerts.filter((a) => a.status === 'closed').length,
    closureRate: ratio(done.length, alerts.length),
    onTimeAcknowledgeRate: onTime('acknowledge'),
    onTimeArriveRate: onTime('arrive'),
    onTimeResolveRate: onTime('resolve'),
    meanSecondsToAcknowledge: secs((a) => a.acknowledgedAt),
    meanSecondsToArrive: secs((a) => a.arrivedAt),
    meanSecondsToResolve: secs((a) => a.resolvedAt),
    satisfaction: mean(rated.map((a) => a.rating as number)),
    ratings: rated.length,
    inGridResolutionRate: ratio(done.filter((a) => a.reach === 'grid').length, done.length),
    escalated: alerts.filter((a) => a.escalated).length,
  };
}

export function computeKpis(
  _cfg: AlertsConfig,
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
  return {
    from: filter.from ?? null,
    to: filter.to ?? null,
    at: now,
    overall: figures(alerts, now),
    grids: [...byGrid.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([gridId, list]) => ({ gridId, gridName: names.get(gridId) ?? null, ...figures(list, now) })),
  };
}
