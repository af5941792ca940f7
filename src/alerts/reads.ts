/** The read side: alert lists and views, timelines, incidents, KPIs and delivery state. */
import type { AlertsContext } from './context.ts';
import { computeKpis, type KpiFilter, type KpiReport } from './kpis.ts';
import type { AlertRow } from './rows.ts';
import type { AlertStore } from './store.ts';
import type { AlertFilter, AlertView, IncidentView, TimelineEvent } from './types.ts';
import { type DeliveryView, deliveryView, incidentView, timelineEvent } from './views.ts';

export function createReads(ctx: AlertsContext, store: AlertStore) {
  const { db, clock, cfg, q } = ctx;
  const { view } = store;

  function list(
    filter: AlertFilter,
    visible?: (a: AlertView) => boolean,
  ): { total: number; items: AlertView[] } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.status?.length) {
      where.push(`status IN (${filter.status.map(() => '?').join(',')})`);
      args.push(...filter.status);
    }
    if (filter.severity?.length) {
      where.push(`severity IN (${filter.severity.map(() => '?').join(',')})`);
      args.push(...filter.severity);
    }
    if (filter.category) {
      where.push('category = ?');
      args.push(filter.category);
    }
    if (filter.place) {
      where.push('EXISTS (SELECT 1 FROM json_each(alerts.place) WHERE value = ?)');
      args.push(filter.place);
    }
    if (filter.department) {
      where.push('id IN (SELECT alert_id FROM alert_whistles WHERE department = ?)');
      args.push(filter.department);
    }
    if (filter.from !== undefined) {
      where.push('opened_at >= ?');
      args.push(filter.from);
    }
    if (filter.to !== undefined) {
      where.push('opened_at < ?');
      args.push(filter.to);
    }
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY opened_at DESC, id LIMIT 10000`;
    let items = db
      .prepare<(string | number)[], AlertRow>(sql)
      .all(...args)
      .map(view);
    if (visible) items = items.filter(visible);
    if (filter.light) items = items.filter((a) => a.light === filter.light);
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? 50;
    return { total: items.length, items: items.slice(offset, offset + limit) };
  }

  return {
    list,
    get(id: string): AlertView | undefined {
      const r = q.alert.get(id);
      return r ? view(r) : undefined;
    },
    timeline(id: string): TimelineEvent[] {
      return q.events.all(id).map(timelineEvent);
    },
    incident(id: string): IncidentView | undefined {
      const r = q.incident.get(id);
      if (!r) return undefined;
      return incidentView(
        r,
        q.incidentAlerts.all(id).map((a) => a.id),
      );
    },
    kpis(filter: KpiFilter, visible?: (a: AlertView) => boolean): KpiReport {
      const { items } = list(
        { from: filter.from, to: filter.to, place: filter.place, limit: 10000 },
        visible,
      );
      return computeKpis(cfg, items, filter, clock.now());
    },
    deliveries(id: string): DeliveryView[] {
      return q.outboxOf.all(id).map(deliveryView);
    },
  };
}
