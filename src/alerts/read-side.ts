/**
 * The read side: alert lists and views, timelines, incidents, KPIs and delivery state.
 *
 * Lists and KPIs run in SQL (list-query.ts, kpi-query.ts, built with Kysely and run by the store: on SQLite
 * by sqlite-runner.ts): scope, filters, count and paging in the query, with no cap on the total. A page costs three statements
 * whatever its size — the count, the page with its residents joined in, and the whistles of the page.
 */
import type { Clock } from '../clock/clock.ts';
import { PLACE_LEVELS, type PlaceLevel } from '../domain/places.ts';
import type { Resident } from '../domain/records.ts';
import type { AlertStatements, AlertStore } from './alert-store.ts';
import {
  alertView,
  type DeliveryView,
  deliveryView,
  incidentView,
  timelineEvent,
  type ViewEnv,
} from './api-views.ts';
import type { AlertsConfig } from './config.ts';
import { kpiBoundsQuery, kpiGroupsQuery } from './kpi-query.ts';
import { type KpiFilter, type KpiReport, kpiReportFromSums, kpiSumsByGrid, trendCounts } from './kpis.ts';
import { ALL_ALERTS, countQuery, pageQuery, type ReadEnv, whistlesQuery } from './list-query.ts';
import { dateOfDay, offsetStretches } from './local-day.ts';
import type { PlaceNames } from './places.ts';
import type { WhistleRow } from './tables.ts';
import type { AlertTransactions } from './transactions.ts';
import type { AlertFilter, AlertScope, AlertView, IncidentView, TimelineEvent } from './types.ts';

export interface ReadSideDeps {
  /** The read queries run on it, built in its dialect. */
  store: AlertStore;
  clock: Clock;
  cfg: AlertsConfig;
  places: PlaceNames;
  q: AlertStatements;
  alerts: AlertTransactions;
}

export function createReads(deps: ReadSideDeps) {
  const { clock, cfg, q, places, alerts } = deps;
  const b = deps.store.builder;
  const run = deps.store.reads;

  function levelOf(placeId: string): PlaceLevel | undefined {
    const path = places.path(placeId);
    return PLACE_LEVELS.find((level) => path[level] === placeId);
  }

  const envAt = (now: number): ReadEnv & ViewEnv => ({ cfg, places, now, levelOf });

  async function list(
    filter: AlertFilter,
    scope: AlertScope = ALL_ALERTS,
  ): Promise<{ total: number; items: AlertView[] }> {
    // One reading of the clock for the light filter and the lights shown, as one instant.
    const env = envAt(clock.now());
    const total = Number((await run.get(countQuery(b, filter, scope, env)))?.n ?? 0);
    const page = { limit: filter.limit ?? 50, offset: filter.offset ?? 0 };
    if (total <= page.offset) return { total, items: [] };
    const rows = await run.all(pageQuery(b, filter, scope, env, page));
    const whistles = new Map<string, WhistleRow[]>();
    if (rows.length) {
      for (const w of await run.all(
        whistlesQuery(
          b,
          rows.map((r) => r.id),
        ),
      )) {
        const list = whistles.get(w.alert_id);
        if (list) list.push(w);
        else whistles.set(w.alert_id, [w]);
      }
    }
    const items = rows.map((r) => {
      const resident: Resident | undefined =
        r.resident_id === null
          ? undefined
          : {
              id: r.resident_id,
              name: r.resident_name ?? '',
              phone: r.resident_phone,
              familyName: r.resident_family_name,
              familyPhone: r.resident_family_phone,
              healthNotes: r.resident_health_notes,
              deviceId: r.device_id,
              placeId: r.resident_place_id,
              updatedAt: r.resident_updated_at ?? 0,
            };
      return alertView(env, r, whistles.get(r.id) ?? [], resident);
    });
    return { total, items };
  }

  async function sqlKpis(filter: KpiFilter, scope: AlertScope): Promise<KpiReport> {
    const env = envAt(clock.now());
    const set: AlertFilter = { from: filter.from, to: filter.to, place: filter.place };
    // The local days need the zone's offsets over the set's time range: a period up to a year as it is, else the
    // span of the set itself (one more, index-served query).
    let lo = filter.from ?? env.now;
    let hi = filter.to ?? env.now;
    if (filter.from === undefined || filter.to === undefined || hi - lo > 366 * 86_400_000) {
      const bounds = await run.get(kpiBoundsQuery(b, set, scope, env));
      // An empty set needs no days at all.
      lo = bounds?.firstAt == null ? env.now : Number(bounds.firstAt);
      hi = bounds?.lastAt == null ? env.now : Number(bounds.lastAt);
    }
    const rows = await run.all(
      kpiGroupsQuery(b, set, scope, env, offsetStretches(cfg.timeZone, lo, Math.max(lo, hi))),
    );
    const grids = [...kpiSumsByGrid(rows)].map(([gridId, sums]) => ({
      gridId,
      gridName: gridId === '(none)' ? null : places.name(gridId),
      sums,
    }));
    const trend = trendCounts(
      rows.map((row) => ({
        gridId: row.gridId,
        date: dateOfDay(Number(row.day)),
        handling: Number(row.handling),
        total: Number(row.total),
      })),
    );
    return kpiReportFromSums({ cfg, filter, now: env.now, grids, trend });
  }

  return {
    list,
    async get(id: string): Promise<AlertView | undefined> {
      const r = await q.alert(id);
      return r ? await alerts.view(r) : undefined;
    },
    async timeline(id: string): Promise<TimelineEvent[]> {
      return (await q.events(id)).map(timelineEvent);
    },
    async incident(id: string): Promise<IncidentView | undefined> {
      const r = await q.incident(id);
      if (!r) return undefined;
      return incidentView(
        r,
        (await q.incidentAlerts(id)).map((a) => a.id),
      );
    },
    /** KPIs of a period and place within a scope, as SQL aggregates. */
    async kpis(filter: KpiFilter, scope: AlertScope = ALL_ALERTS): Promise<KpiReport> {
      return await sqlKpis(filter, scope);
    },
    async deliveries(id: string): Promise<DeliveryView[]> {
      return (await q.outboxOf(id)).map(deliveryView);
    },
  };
}
