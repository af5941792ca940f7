import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../src/domain/reading.ts';
import { createHarness, event, type Harness, MIN, START, status, telemetry } from './helpers.ts';

/** Exact semantics of each stateful operator, with one-off rules on an engine without the default pack. */
let h: Harness;
afterEach(async () => {
  await h.engine.close();
  h.db.close();
});

function engineWith(...rules: object[]): Harness {
  h = createHarness({ packDir: null });
  for (const r of rules) h.engine.put(r);
  return h;
}

const at = (t: number, reading?: Reading) => {
  h.clock.advanceTo(START + t);
  if (reading) h.send(reading);
  return h.take();
};

const raiseOut = { severity: 'minor', category: 'test', title: 'T {{device.id}}' } as const;

describe('for', () => {
  it('raises when the condition held continuously for the duration, timed by the clock', () => {
    engineWith({
      id: 'hot',
      name: 'hot',
      match: { deviceTypes: ['bin'] },
      condition: { field: 'temperature', gte: 50 },
      for: '30s',
      raise: raiseOut,
    });
    expect(at(0, telemetry('b', 'bin', { temperature: 50 }))).toEqual([]);
    expect(at(10_000, telemetry('b', 'bin', { fill: 10 }))).toEqual([]); // no information: not broken
    expect(at(29_999)).toEqual([]);
    const r = at(30_000);
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ kind: 'raise', at: START + 30_000, title: 'T b' });
    // Without a clear, each further holding reading repeats the raise (the dispatcher counts repeats).
    expect(at(31_000, telemetry('b', 'bin', { temperature: 60 }))).toMatchObject([{ kind: 'raise' }]);
    // A failing reading ends it; holding again starts a new `for`.
    expect(at(32_000, telemetry('b', 'bin', { temperature: 40 }))).toEqual([]);
    expect(at(33_000, telemetry('b', 'bin', { temperature: 55 }))).toEqual([]);
    expect(at(62_999)).toEqual([]);
    expect(at(63_000)).toMatchObject([{ kind: 'raise' }]);
  });

  it('is broken by a reading that fails it, and devices are independent', () => {
    engineWith({
      id: 'hot',
      name: 'hot',
      match: { deviceTypes: ['bin'] },
      condition: { field: 'temperature', gte: 50 },
      for: '1m',
      raise: raiseOut,
    });
    at(0, telemetry('a', 'bin', { temperature: 51 }));
    at(0, telemetry('b', 'bin', { temperature: 51 }));
    at(59_000, telemetry('a', 'bin', { temperature: 49 }));
    const r = at(60_000);
    expect(r.map((x) => x.deviceId)).toEqual(['b']);
  });
});

describe('clear with hysteresis', () => {
  it('without clear.when, the first reading failing the condition clears', () => {
    engineWith({
      id: 'c',
      name: 'c',
      match: { deviceTypes: ['bin'] },
      condition: { field: 'fill', gte: 80 },
      clear: {},
      raise: raiseOut,
    });
    expect(at(0, telemetry('b', 'bin', { fill: 80 }))).toMatchObject([{ kind: 'raise' }]);
    expect(at(1, telemetry('b', 'bin', { fill: 85 }))).toEqual([]); // raised once, not repeated
    expect(at(2, telemetry('b', 'bin', { fill: 79.9 }))).toMatchObject([
      { kind: 'clear', resolution: 'auto', note: 'condition cleared' },
    ]);
  });

  it('with a separate clear condition, values between the thresholds change nothing', () => {
    engineWith({
      id: 'c',
      name: 'c',
      match: { deviceTypes: ['bin'] },
      condition: { field: 'fill', gte: 80 },
      clear: { when: { field: 'fill', lte: 50 }, note: 'down to {{fill}}' },
      update: { detail: 'now {{fill}} %' },
      raise: raiseOut,
    });
    expect(at(0, telemetry('b', 'bin', { fill: 90 }))).toMatchObject([{ kind: 'raise' }]);
    expect(at(1, telemetry('b', 'bin', { fill: 60 }))).toEqual([]);
    expect(at(2, telemetry('b', 'bin', { fill: 95 }))).toMatchObject([
      { kind: 'update', detail: 'now 95 %' },
    ]);
    expect(at(3, telemetry('b', 'bin', { fill: 50.1 }))).toEqual([]);
    expect(at(4, telemetry('b', 'bin', { fill: 50 }))).toMatchObject([{ kind: 'clear', note: 'down to 50' }]);
    expect(at(5, telemetry('b', 'bin', { fill: 81 }))).toMatchObject([{ kind: 'raise' }]);
  });
});

describe('absence', () => {
  it('raises after the silence, counts only the device speaking, clears on its next message', () => {
    engineWith({
      id: 'quiet',
      name: 'quiet',
      match: { deviceTypes: ['bin'] },
      absence: { after: '5m' },
      raise: raiseOut,
    });
    expect(at(0, telemetry('b', 'bin', { fill: 1 }))).toEqual([]);
    expect(at(3 * MIN, telemetry('b', 'bin', { fill: 1 }))).toEqual([]);
    // The broker publishing the will is not the device speaking.
    expect(at(4 * MIN, status('b', 'bin', 'offline', 'will'))).toEqual([]);
    expect(at(8 * MIN - 1)).toEqual([]);
    expect(at(8 * MIN)).toMatchObject([
      { kind: 'raise', at: START + 8 * MIN, deviceId: 'b', placeId: 'b1', floor: 3 },
    ]);
    expect(at(20 * MIN)).toEqual([]); // raised once
    expect(at(21 * MIN, status('b', 'bin', 'online', 'device'))).toMatchObject([
      { kind: 'clear', resolution: 'auto', note: 'device is sending again after 18 min of silence' },
    ]);
    expect(at(26 * MIN)).toMatchObject([{ kind: 'raise' }]);
  });

  it('heartbeats × the catalogue heartbeat of each type', () => {
    engineWith({
      id: 'hb',
      name: 'hb',
      match: { deviceTypes: ['bin', 'throw_camera'] },
      absence: { heartbeats: 2 },
      raise: raiseOut,
    });
    h.engine.seedPresence([
      { deviceId: 'bin1', deviceType: 'bin', placeId: 'p', place: {}, floor: null, lastSeen: null },
      { deviceId: 'cam1', deviceType: 'throw_camera', placeId: 'p', place: {}, floor: null, lastSeen: START },
    ]);
    expect(at(2 * MIN).map((r) => r.deviceId)).toEqual(['cam1']);
    expect(at(30 * MIN).map((r) => r.deviceId)).toEqual(['bin1']);
  });
});

describe('count within a sliding window', () => {
  const rule = {
    id: 'throws',
    name: 'repeated throws',
    match: { deviceTypes: ['throw_camera'] },
    condition: { count: { event: 'throw_detected' }, within: '10m', gte: 3 },
    raise: raiseOut,
  };
  const thrw = () => event('cam', 'throw_camera', 'throw_detected', { confidence: 0.5 });

  it('counts occurrences in (now − window, now]: one exactly a window old no longer counts', () => {
    engineWith(rule);
    expect(at(0, thrw())).toEqual([]);
    expect(at(5 * MIN, thrw())).toEqual([]);
    expect(at(10 * MIN, thrw())).toEqual([]); // the one at 0 has left the window
    expect(at(11 * MIN, telemetry('cam', 'throw_camera', { online: true }))).toEqual([]); // not counted
    expect(at(14 * MIN + 59_999, thrw())).toMatchObject([{ kind: 'raise' }]); // 5, 10, 14:59.999
  });

  it('three within the window raise', () => {
    engineWith(rule);
    at(0, thrw());
    at(5 * MIN, thrw());
    expect(at(10 * MIN - 1, thrw())).toMatchObject([{ kind: 'raise' }]);
  });
});

describe('rate of change', () => {
  const rule = {
    id: 'heating',
    name: 'heating fast',
    match: { deviceTypes: ['bin'] },
    condition: { rate: 'temperature', within: '5m', per: '1m', gte: 5 },
    raise: raiseOut,
  };

  it('is (v − v_oldest) / (t − t_oldest) per minute over the window, undefined with one sample', () => {
    engineWith(rule);
    expect(at(0, telemetry('b', 'bin', { temperature: 20 }))).toEqual([]);
    expect(at(MIN, telemetry('b', 'bin', { temperature: 24 }))).toEqual([]); // 4 /min
    expect(at(2 * MIN, telemetry('b', 'bin', { temperature: 30 }))).toMatchObject([{ kind: 'raise' }]); // 10 over 2 min
  });

  it('drops samples older than the window (a sample exactly a window old still counts)', () => {
    engineWith(rule);
    at(0, telemetry('b', 'bin', { temperature: 20 }));
    at(4 * MIN, telemetry('b', 'bin', { temperature: 21 }));
    // At 5 min the sample at 0 is exactly a window old: (45 − 20) / 5 = 5 /min.
    expect(at(5 * MIN, telemetry('b', 'bin', { temperature: 45 }))).toMatchObject([{ kind: 'raise' }]);
    // At 9 min 1 ms the samples at 0 and 4 min have left the window: (46 − 45) / 4 min.
    expect(at(9 * MIN + 1, telemetry('b', 'bin', { temperature: 46 }))).toEqual([]);
  });
});

describe('outputs and isolation', () => {
  it('writes derived fields to the sink on readings where the condition holds', () => {
    engineWith({
      id: 'tag',
      name: 'tag',
      match: { deviceTypes: ['bin'] },
      condition: { field: 'fill', gte: 50 },
      write: { half_full: true, note: 'bin {{device.id}}' },
    });
    at(0, telemetry('b', 'bin', { fill: 60 }));
    at(1, telemetry('b', 'bin', { fill: 10 }));
    at(2, event('s', 'smoke', 'test'));
    expect(h.written.map((r) => (r.kind === 'telemetry' ? r.values : r.kind))).toEqual([
      { fill: 60, half_full: true, note: 'bin b' },
      { fill: 10 },
      'event',
    ]);
  });

  it('matches a place subtree by any level of the device place path', () => {
    engineWith({
      id: 'p',
      name: 'p',
      match: { deviceTypes: ['bin'], placeId: 'e1' },
      condition: { field: 'fill', gte: 1 },
      raise: raiseOut,
    });
    expect(at(0, telemetry('b', 'bin', { fill: 5 }))).toHaveLength(1); // PLACE has estate e1
    expect(at(1, telemetry('b2', 'bin', { fill: 5 }, { placeId: 'x', place: { estate: 'e2' } }))).toEqual([]);
  });

  it('a rule that fails on a reading is counted and logged; other rules and the sink carry on', async () => {
    engineWith(
      {
        id: 'a',
        name: 'a',
        match: { deviceTypes: ['bin'] },
        condition: { field: 'fill', gte: 1 },
        raise: raiseOut,
      },
      { id: 'b', name: 'b', match: { deviceTypes: ['bin'] }, absence: { after: '1m' }, raise: raiseOut },
    );
    // A malformed reading (values missing) makes the field lookup throw inside rule a.
    const bad = { ...telemetry('x', 'bin', {}), values: null } as unknown as Reading;
    expect(() => at(0, bad)).not.toThrow();
    expect(h.written).toHaveLength(1);
    expect(at(MIN)).toMatchObject([{ ruleId: 'b', kind: 'raise' }]);
    const text = await h.metrics.metrics();
    expect(text).toMatch(/gridhub_rules_errors_total\{rule="a"\} 1/);
    expect(text).toMatch(/gridhub_rules_evaluations_total\{rule="b"\} 1/);
  });
});
