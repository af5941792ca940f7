import { describe, expect, it } from 'vitest';
import { groupRows, OUTAGE_WINDOW_MS } from '../../dashboards/web/src/board/incidents.ts';
import {
  buildingSpots,
  cellKey,
  estatesOf,
  floorKey,
  heatCounts,
  litPlaces,
} from '../../dashboards/web/src/board/map/layout.ts';
import type { PlaceNode } from '../../dashboards/web/src/common/types.ts';
import { alert } from './alert-fixture.ts';

const node = (
  id: string,
  level: string,
  children: PlaceNode[] = [],
  layout?: PlaceNode['layout'],
): PlaceNode => ({
  id,
  level,
  name: id,
  children,
  ...(layout ? { layout } : {}),
});
const estate = node('E1', 'estate', [
  node('E1-B1', 'building', [node('E1-B1-U1', 'unit'), node('E1-B1-U2', 'unit')], {
    x: 20,
    y: 30,
    floors: 18,
  }),
  node('E1-B2', 'building'),
  node('E1-B3', 'building'),
  node('E1-B4', 'building'),
]);
const tree = [
  node('S1', 'street', [{ ...node('C1', 'community', [node('G1', 'grid', [estate])]), name: '幸福社区' }]),
];
const at = (building: string, unit: string | undefined, floor: number | null, over = {}) =>
  alert(`${building}-${unit}-${floor}-${Math.random()}`, {
    place: { street: 'S1', community: 'C1', grid: 'G1', estate: 'E1', building, ...(unit ? { unit } : {}) },
    floor,
    ...over,
  });

describe('estate map model', () => {
  it('finds estates with their community', () => {
    expect(estatesOf(tree).map((e) => [e.id, e.community])).toEqual([['E1', '幸福社区']]);
  });

  it("places buildings at an admin's position, else on an even grid; floors from the layout or the alarms", () => {
    const spots = buildingSpots(estate, [at('E1-B2', undefined, 9)]);
    expect(spots.map((s) => [s.id, s.x, s.y, s.floors])).toEqual([
      ['E1-B1', 20, 30, 18],
      ['E1-B2', 85, 15, 9],
      ['E1-B3', 15, 85, 6],
      ['E1-B4', 85, 85, 6],
    ]);
    expect(spots[0]?.units.map((u) => u.id)).toEqual(['E1-B1-U1', 'E1-B1-U2']);
  });

  it('lights building, floor and unit by the worst active alert; finished alerts light nothing', () => {
    const lit = litPlaces(
      [
        at('E1-B1', 'E1-B1-U1', 3, { severity: 'minor', light: 'red' }),
        at('E1-B1', 'E1-B1-U1', 3, { severity: 'critical' }),
        at('E1-B1', 'E1-B1-U2', 5, { severity: 'major', status: 'resolved' }),
        // A throw from height: the camera is at the building, the floor comes from what it saw.
        at('E1-B2', undefined, null, { severity: 'major', evidence: { floor: 7 } }),
      ],
      (a) => a.light,
    );
    expect(lit.get('E1-B1')).toMatchObject({ severity: 'critical', light: 'red' });
    expect(lit.get(cellKey('E1-B1', 3, 'E1-B1-U1'))?.alertIds).toHaveLength(2);
    expect(lit.get(floorKey('E1-B1', 5))).toBeUndefined();
    expect(lit.get(floorKey('E1-B2', 7))?.severity).toBe('major');
    expect(lit.get('E1')?.alertIds).toHaveLength(3);
  });

  it('counts alerts per building and day for the heat view', () => {
    const day = (ms: number) => (ms < 86_400_000 ? 'd1' : 'd2');
    const cells = heatCounts(
      [
        at('E1-B1', 'E1-B1-U1', 3),
        at('E1-B1', 'E1-B1-U1', 3),
        at('E1-B2', undefined, 1, { openedAt: 90_000_000 }),
      ],
      ['E1-B1', 'E1-B2'],
      ['d1', 'd2'],
      day,
    );
    expect(cells).toEqual([
      [0, 0, 2],
      [0, 1, 0],
      [1, 0, 0],
      [1, 1, 1],
    ]);
  });
});

describe('incident rows', () => {
  it('folds offline alerts of one estate opened together into one row, and grouped alerts by incident', () => {
    const off = (id: string, openedAt: number, estateId = 'E1') =>
      alert(id, {
        category: 'device_offline',
        openedAt,
        place: { estate: estateId, building: `${estateId}-B1` },
      });
    const rows = groupRows([
      off('o1', 0),
      alert('fire1', { incidentId: 'inc', category: 'fire' }),
      off('o2', 60_000),
      alert('fire2', { incidentId: 'inc', category: 'fire' }),
      off('o3', OUTAGE_WINDOW_MS + 1), // a later outage
      off('o4', 1000, 'E2'), // another estate
      alert('single'),
    ]);
    expect(rows.map((r) => (r.kind === 'alert' ? r.alert.id : r.alerts.map((a) => a.id)))).toEqual([
      ['o1', 'o2'],
      ['fire1', 'fire2'],
      'o3',
      'o4',
      'single',
    ]);
  });
});
