/**
 * Rows of the alert list: single alerts, and incidents — alerts the hub grouped (one category in one building)
 * or devices of one estate going offline together (a gateway or power outage) — shown as one row that opens to
 * its members, so an outage is one line on the board and not twenty.
 */
import type { Alert } from '../common/types.ts';

export type ListRow = { kind: 'alert'; alert: Alert } | { kind: 'incident'; key: string; alerts: Alert[] };

/** Offline alerts of one estate opened within this window of each other count as one outage. */
export const OUTAGE_WINDOW_MS = 5 * 60_000;

function keyOf(a: Alert): string | null {
  if (a.category === 'device_offline' && a.place.estate) {
    return `offline:${a.place.estate}:${Math.floor(a.openedAt / OUTAGE_WINDOW_MS)}`;
  }
  return a.incidentId ? `incident:${a.incidentId}` : null;
}

/** Group the (already sorted) alerts; a group keeps the place of its first member in the list. */
export function groupRows(alerts: Alert[]): ListRow[] {
  const groups = new Map<string, Alert[]>();
  for (const a of alerts) {
    const k = keyOf(a);
    if (!k) continue;
    const list = groups.get(k) ?? [];
    list.push(a);
    groups.set(k, list);
  }
  const rows: ListRow[] = [];
  const placed = new Set<string>();
  for (const a of alerts) {
    const k = keyOf(a);
    const members = k ? groups.get(k) : undefined;
    if (!k || !members || members.length < 2) rows.push({ kind: 'alert', alert: a });
    else if (!placed.has(k)) {
      placed.add(k);
      rows.push({ kind: 'incident', key: k, alerts: members });
    }
  }
  return rows;
}
