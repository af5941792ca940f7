import { afterEach, describe, expect, it } from 'vitest';
import { actionsFor } from '../../dashboards/web/src/board/actions.ts';
import { alertIsUnder, clockLight, lightsByPlace, liveLight } from '../../dashboards/web/src/board/lights.ts';
import { toPoints } from '../../dashboards/web/src/common/points.ts';
import type { AlertStatus, Light } from '../../dashboards/web/src/common/types.ts';
import { dayStart, isoDay, setTimeZone } from '../../dashboards/web/src/common/zone.ts';
import { seenMessages } from '../../dashboards/web/src/worker/seen-messages.ts';
import { alert, clock } from './alert-fixture.ts';

const MIN = 60_000;

describe('board lights', () => {
  it.each<[number, Light]>([
    [0, 'green'],
    [44_999, 'green'],
    [45_000, 'yellow'],
    [59_999, 'yellow'],
    [60_000, 'red'],
  ])('a running 1-minute clock at %i ms is %s', (now, light) => {
    expect(clockLight(clock('acknowledge', 0, MIN), now)).toBe(light);
  });

  it('a stopped clock keeps the light the hub gave it', () => {
    expect(clockLight({ ...clock('acknowledge', 0, MIN, 30_000), light: 'green' }, 10 * MIN)).toBe('green');
  });

  it("an alert's light is its worst clock, and a finished alert keeps the hub's light", () => {
    expect(liveLight(alert('a'), 50_000)).toBe('yellow');
    expect(liveLight(alert('a'), 2 * MIN)).toBe('red');
    expect(liveLight(alert('a', { status: 'resolved', light: 'yellow' }), 10 * 60 * MIN)).toBe('yellow');
  });

  it('colours every ancestor with the worst active light beneath it and counts active alerts', () => {
    const lights = lightsByPlace([
      alert('a', { light: 'yellow' }),
      alert('b', {
        light: 'red',
        placeId: 'E3',
        place: { street: 'S1', community: 'C1', grid: 'G2', estate: 'E3' },
      }),
      alert('c', { light: 'red', status: 'closed' }),
    ]);
    expect(lights.get('S1')).toEqual({ light: 'red', count: 2 });
    expect(lights.get('C1')).toEqual({ light: 'red', count: 2 });
    expect(lights.get('G1')).toEqual({ light: 'yellow', count: 1 });
    expect(lights.get('E1-B1-U1')).toEqual({ light: 'yellow', count: 1 });
    expect(lights.get('G2')).toEqual({ light: 'red', count: 1 });
    expect(lights.has('C2')).toBe(false);
  });

  it('filters alerts by a place at any level', () => {
    expect(alertIsUnder(alert('a'), 'G1')).toBe(true);
    expect(alertIsUnder(alert('a'), 'E1-B1')).toBe(true);
    expect(alertIsUnder(alert('a'), 'G2')).toBe(false);
  });
});

describe('actions offered by state', () => {
  it.each<[AlertStatus, boolean, string[]]>([
    ['dispatched', false, ['acknowledge', 'arrive', 'resolve', 'whistle', 'false-alarm']],
    ['acknowledged', false, ['arrive', 'resolve', 'whistle', 'false-alarm']],
    ['on_site', false, ['resolve', 'whistle', 'false-alarm']],
    ['resolved', false, ['rate', 'close']],
    ['resolved', true, ['close']],
    ['closed', true, []],
  ])('%s (rated: %s)', (status, rated, actions) => {
    expect(actionsFor(status, rated)).toEqual(actions);
  });
});

describe('telemetry answers', () => {
  it('reads { points: [{ ts, value }] } and charts booleans as 0/1', () => {
    expect(
      toPoints({
        points: [
          { ts: 1, value: 2.5 },
          { ts: 2, value: true },
          { ts: 3, value: null },
        ],
      }),
    ).toEqual([
      { t: 1, v: 2.5 },
      { t: 2, v: 1 },
      { t: 3, v: null },
    ]);
  });

  it('reads a bare list with ISO times', () => {
    expect(toPoints([{ time: '1970-01-01T00:00:01.000Z', value: 3 }])).toEqual([{ t: 1000, v: 3 }]);
  });
});

describe("the community's time zone on the pages", () => {
  const H = 3_600_000;
  afterEach(() => setTimeZone(undefined));

  it('days start at the community midnight, not the browser one', () => {
    setTimeZone('Asia/Shanghai');
    expect(dayStart('2026-01-05')).toBe(Date.UTC(2026, 0, 4, 16));
    expect(isoDay(Date.UTC(2026, 0, 4, 15, 59, 59))).toBe('2026-01-04');
    expect(isoDay(Date.UTC(2026, 0, 4, 16))).toBe('2026-01-05');
  });

  it('a zone with daylight saving gets the offset of the day itself', () => {
    setTimeZone('America/New_York');
    expect(dayStart('2026-03-08')).toBe(Date.UTC(2026, 2, 8, 5)); // still EST at midnight
    expect(dayStart('2026-03-09') - dayStart('2026-03-08')).toBe(23 * H);
    expect(dayStart('2026-07-01')).toBe(Date.UTC(2026, 6, 1, 4)); // EDT
  });
});

describe("the worker page's re-sent messages", () => {
  it('takes a message once by its id, always one without an id, and forgets the oldest beyond its capacity', () => {
    const seen = seenMessages(3);
    expect(seen.first('m1')).toBe(true);
    expect(seen.first('m1')).toBe(false);
    expect(seen.first(undefined)).toBe(true);
    expect(seen.first(undefined)).toBe(true);
    for (const id of ['m2', 'm3', 'm4']) expect(seen.first(id)).toBe(true);
    // m1 was the oldest of four: forgotten; m4, the newest, is still known
    expect(seen.first('m4')).toBe(false);
    expect(seen.first('m1')).toBe(true);
  });
});
