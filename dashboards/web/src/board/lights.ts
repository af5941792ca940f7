import type { Alert, Light, PlaceNode, SlaClock } from '../common/types.ts';
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

/**
 * A clock's light now: the hub sends each clock's start and due time, so a running clock turns yellow at 75 % of
 * its allowance and red when overdue on the board without waiting for a change event (design §1).
 */
export function clockLight(c: SlaClock, now: number): Light {
  if (c.stoppedAt !== null) return c.light;
  const used = (now - c.startedAt) / Math.max(1, c.dueAt - c.startedAt);
  return used >= 1 ? 'red' : used >= 0.75 ? 'yellow' : 'green';
}

/** The alert's light now: the worst of its clocks; finished alerts keep the light the hub gave them. */
export function liveLight(a: Alert, now: number): Light {
  if (!isActive(a) || !a.clocks.length) return a.light;
  let worst: Light = 'green';
  for (const c of a.clocks) worst = worse(worst, clockLight(c, now)) as Light;
  return worst;
}
