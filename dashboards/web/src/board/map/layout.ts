/**
 * The estate map's model, without drawing: which estates there are, where each building stands on its plan,
 * and which building, floor and unit each active alert lights. Pure, so the browser tests and the unit tests
 * read the same figures the pictures are drawn from.
 */
import type { Alert, Light, PlaceNode, Severity } from '../../common/types.ts';
import { isActive, worse } from '../lights.ts';

export interface EstateRef {
  id: string;
  name: string;
  community: string;
  node: PlaceNode;
}

export interface BuildingSpot {
  id: string;
  name: string;
  x: number;
  y: number;
  floors: number;
  units: { id: string; name: string }[];
}

export interface Lit {
  severity: Severity;
  light: Light;
  alertIds: string[];
}

const SEV_RANK: Record<Severity, number> = { critical: 0, major: 1, minor: 2 };
const DEFAULT_FLOORS = 6;

function add(map: Map<string, Lit>, key: string, a: Alert, light: Light): void {
  const cur = map.get(key);
  if (!cur) {
    map.set(key, { severity: a.severity, light, alertIds: [a.id] });
    return;
  }
  if (SEV_RANK[a.severity] < SEV_RANK[cur.severity]) cur.severity = a.severity;
  cur.light = worse(cur.light, light);
  cur.alertIds.push(a.id);
}

/** Every estate under the given roots, with the name of its community, in tree order. */
export function estatesOf(roots: PlaceNode[]): EstateRef[] {
  const out: EstateRef[] = [];
  const walk = (n: PlaceNode, community: string) => {
    const c = n.level === 'community' ? n.name : community;
    if (n.level === 'estate') out.push({ id: n.id, name: n.name, community: c, node: n });
    else for (const k of n.children) walk(k, c);
  };
  for (const r of roots) walk(r, '');
  return out;
}

/** The floor an alert happened on: the device's floor, else a floor the device reported (a throw's origin). */
export function floorOf(a: Alert): number | null {
  if (a.floor !== null) return a.floor;
  const f = a.evidence.floor;
  return typeof f === 'number' && Number.isInteger(f) ? f : null;
}

/**
 * Buildings of an estate on a 0–100 plan: an admin's position where set, else rows of an even grid in id order
 * (what an estate's own plan looks like closely enough to find a building by its number).
 */
export function buildingSpots(estate: PlaceNode, alerts: Alert[] = []): BuildingSpot[] {
  const buildings = estate.children.filter((c) => c.level === 'building');
  const cols = Math.max(1, Math.ceil(Math.sqrt(buildings.length)));
  const rows = Math.max(1, Math.ceil(buildings.length / cols));
  const step = (n: number, i: number) => (n === 1 ? 50 : 15 + (70 * i) / (n - 1));
  return buildings.map((b, i) => {
    const highest = Math.max(
      0,
      ...alerts.filter((a) => a.place.building === b.id).map((a) => floorOf(a) ?? 0),
    );
    return {
      id: b.id,
      name: b.name,
      x: b.layout?.x ?? step(cols, i % cols),
      y: b.layout?.y ?? step(rows, Math.floor(i / cols)),
      floors: Math.max(b.layout?.floors ?? DEFAULT_FLOORS, highest),
      units: b.children.filter((u) => u.level === 'unit').map((u) => ({ id: u.id, name: u.name })),
    };
  });
}

/** Keys of what an active alert lights: its building, its floor, and its unit on that floor. */
export const floorKey = (building: string, floor: number) => `${building}#${floor}`;
export const cellKey = (building: string, floor: number, unit: string) => `${building}#${floor}#${unit}`;

export function litPlaces(alerts: Iterable<Alert>, lightOf: (a: Alert) => Light): Map<string, Lit> {
  const out = new Map<string, Lit>();
  for (const a of alerts) {
    if (!isActive(a)) continue;
    const light = lightOf(a);
    if (a.place.estate) add(out, a.place.estate, a, light);
    const building = a.place.building;
    if (!building) continue;
    add(out, building, a, light);
    const floor = floorOf(a);
    if (floor === null) continue;
    add(out, floorKey(building, floor), a, light);
    if (a.place.unit) add(out, cellKey(building, floor, a.place.unit), a, light);
  }
  return out;
}

/** Alerts per building per local day over a period, for the heat view. */
export function heatCounts(
  alerts: Alert[],
  buildings: readonly string[],
  days: readonly string[],
  dayOf: (ms: number) => string,
): [number, number, number][] {
  const counts = new Map<string, number>();
  for (const a of alerts) {
    const b = a.place.building;
    if (!b) continue;
    const key = `${b}|${dayOf(a.openedAt)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const out: [number, number, number][] = [];
  days.forEach((d, x) => {
    buildings.forEach((b, y) => {
      out.push([x, y, counts.get(`${b}|${d}`) ?? 0]);
    });
  });
  return out;
}
