import type { Alert, Light, PlaceNode } from '../common/types.ts';
import { OPEN_STATUSES } from '../common/types.ts';

const RANK: Record<Light, number> = { green: 0, yellow: 1, red: 2 };

export function isActive(a: Alert): boolean {
  return OPEN_STATUSES.includes(a.status);
}

export function worse(a: Light | undefined, b: Light): Light {
  return a === undefined || RANK[b] > RANK[a] ? b : a;
}

/**
 * The worst light of the active alerts at or beneath each place, and how many there are. An alert's place path
 * names every ancestor, so one pass over the alerts colours the whole tree.
 */
export function lightsByPlace(alerts: Iterable<Alert>): Map<string, { light: Light; count: number }> {
  const out = new Map<string, { light: Light; count: number }>();
  for (const a of alerts) {
    if (!isActive(a)) continue;
    const ids = new Set([...Object.values(a.place), a.placeId]);
    for (const id of ids) {
      if (!id) continue;
      const cur = out.get(id);
      out.set(id, { light: worse(cur?.light, a.light), count: (cur?.count ?? 0) + 1 });
    }
  }
  return out;
}

export function alertIsUnder(a: Alert, placeId: string): boolean {
  return a.placeId === placeId || Object.values(a.place).includes(placeId);
}

export function findPlace(nodes: PlaceNode[], id: string): PlaceNode | undefined {
  for (const n of nodes) {
    if (n.id === id) return n;
    const hit = findPlace(n.children, id);
    if (hit) return hit;
  }
  return undefined;
}
