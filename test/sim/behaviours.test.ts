import { describe, expect, it } from 'vitest';
import {
  binFillRatePerHour,
  createBehaviour,
  localHour,
  type SimDevice,
  sampleTelemetry,
} from '../../devices-sim/behaviours.ts';
import { createRng } from '../../devices-sim/rng.ts';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { DEVICE_TYPE_IDS, type DeviceTypeId } from '../../src/catalogue/types.ts';
import { ManualClock } from '../../src/clock/clock.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const catalogue = createCatalogue();

type Msg = { at: number; kind: 'telemetry' | 'event'; name?: string; values: Record<string, unknown> };

/** Run one device for `ms` of virtual time from local midnight (UTC+8) and collect what it sent. */
function simulate(
  type: DeviceTypeId,
  ms: number,
  opts: { seed?: string; incidentRateFactor?: number; incidents?: boolean; id?: string } = {},
) {
  // 2026-01-05 00:00 at UTC+8.
  const clock = new ManualClock(Date.UTC(2026, 0, 4, 16, 0, 0));
  const device: SimDevice = { id: opts.id ?? `${type}-1`, type, floor: 5 };
  const sent: Msg[] = [];
  const b = createBehaviour(device, {
    clock,
    rng: createRng(`${opts.seed ?? 'test'}:${device.id}`),
    options: { incidents: opts.incidents ?? true, incidentRateFactor: opts.incidentRateFactor ?? 1 },
    out: {
      telemetry: (values) => sent.push({ at: clock.now(), kind: 'telemetry', values }),
      event: (name, data) => sent.push({ at: clock.now(), kind: 'event', name, values: data ?? {} }),
    },
  });
  b.start();
  clock.advance(ms);
  return { sent, behaviour: b, clock };
}

describe('device behaviours', () => {
  it.each(DEVICE_TYPE_IDS)('%s sends only payloads its catalogue entry accepts', (type) => {
    const { sent } = simulate(type, 3 * DAY, { incidentRateFactor: 300 });
    const entry = catalogue.get(type);
    expect(sent.length).toBeGreaterThan(0);
    for (const m of sent) {
      if (m.kind === 'telemetry') {
        expect(entry.telemetrySchema.safeParse(m.values).success, JSON.stringify(m.values)).toBe(true);
      } else {
        const schema = entry.eventSchemas[m.name as string];
        expect(schema, `event ${m.name}`).toBeDefined();
        expect(schema?.safeParse(m.values).success, JSON.stringify(m)).toBe(true);
      }
    }
  });

  it.each(DEVICE_TYPE_IDS)('%s heartbeats at its catalogue interval', (type) => {
    const entry = catalogue.get(type);
    const span = Math.max(2 * DAY, 20 * entry.heartbeatMs);
    const { sent } = simulate(type, span, { incidents: false });
    const beats = sent.filter((m) => m.kind === 'telemetry');
    // Jitter of ±3 % and the bins' post-collection reports allow a little slack either way.
    const expected = span / entry.heartbeatMs;
    expect(beats.length).toBeGreaterThanOrEqual(Math.floor(expected * 0.95));
    expect(beats.length).toBeLessThanOrEqual(Math.ceil(expected * 1.05) + (type === 'bin' ? 4 : 1));
    const gaps = beats.slice(1).map((m, i) => m.at - (beats[i] as Msg).at);
    // Never silent long enough for the 3-heartbeat offline rule.
    expect(Math.max(...gaps)).toBeLessThan(3 * entry.heartbeatMs);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = simulate('smoke', 2 * DAY, { seed: 's1', incidentRateFactor: 100 }).sent;
    const b = simulate('smoke', 2 * DAY, { seed: 's1', incidentRateFactor: 100 }).sent;
    const c = simulate('smoke', 2 * DAY, { seed: 's2', incidentRateFactor: 100 }).sent;
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('stop() cancels every timer', () => {
    const { behaviour, clock } = simulate('ebike_elevator', HOUR);
    expect(clock.pending).toBeGreaterThan(0);
    behaviour.stop();
    expect(clock.pending).toBe(0);
  });

  it('drains the battery over time', () => {
    const { sent } = simulate('call_button', 30 * DAY, { incidents: false });
    const first = sent[0]?.values.battery as number;
    const last = sent[sent.length - 1]?.values.battery as number;
    expect(last).toBeLessThan(first);
    expect(first - last).toBeCloseTo(30 * 0.04, 0);
  });

  it('fills bins through the day and empties them at collection times', () => {
    const { sent } = simulate('bin', 2 * DAY, { incidents: false });
    const tz = 8 * 60;
    const fillAt = (from: number, to: number) =>
      sent.filter((m) => {
        const h = localHour(m.at, tz);
        return m.kind === 'telemetry' && h >= from && h < to;
      });
    // Just after the 07:00 and 19:00 collections the bin is nearly empty.
    for (const m of [...fillAt(7, 7.4), ...fillAt(19, 19.4)])
      expect(m.values.fill as number).toBeLessThan(10);
    // Before the evening collection it has filled since the morning one.
    const morning = fillAt(7.5, 8)[0]?.values.fill as number;
    const evening = fillAt(18.5, 19).at(-1)?.values.fill as number;
    expect(evening).toBeGreaterThan(morning + 10);
    expect(binFillRatePerHour(19)).toBeGreaterThan(binFillRatePerHour(3));
  });

  it('concentrates e-bike detections in the evening peak', () => {
    const all: Msg[] = [];
    for (let i = 0; i < 20; i++) {
      all.push(...simulate('ebike_elevator', 3 * DAY, { id: `e${i}`, incidentRateFactor: 3 }).sent);
    }
    const detections = all.filter((m) => m.name === 'ebike_detected');
    const evening = detections.filter((m) => {
      const h = localHour(m.at, 480);
      return h >= 18 && h < 21;
    }).length;
    const night = detections.filter((m) => localHour(m.at, 480) < 6).length;
    expect(detections.length).toBeGreaterThan(20);
    // 3 evening hours carry more than half of the day's detections; 6 night hours hardly any.
    expect(evening / detections.length).toBeGreaterThan(0.5);
    expect(night).toBeLessThan(evening / 5);
    // Every detection is followed by its clearing.
    expect(all.filter((m) => m.name === 'ebike_cleared').length).toBeGreaterThanOrEqual(
      detections.length - 20,
    );
  });

  it('raises cooking false alarms that clear themselves, around meal times', () => {
    const { sent } = simulate('smoke', 5 * DAY, { incidentRateFactor: 100 });
    const alarms = sent.filter((m) => m.name === 'alarm');
    const clears = sent.filter((m) => m.name === 'alarm_clear');
    expect(alarms.length).toBeGreaterThan(3);
    expect(clears.length).toBeGreaterThanOrEqual(alarms.length - 1);
    const meal = alarms.filter((m) => {
      const h = localHour(m.at, 480);
      return (h >= 11 && h < 13) || (h >= 17 && h < 19.5);
    });
    expect(meal.length / alarms.length).toBeGreaterThan(0.6);
    // While in alarm the telemetry says so, with smoke over the 0.2 dB/m rule.
    const inAlarm = sent.filter((m) => m.kind === 'telemetry' && m.values.alarm === true);
    for (const m of inAlarm) expect(m.values.smoke as number).toBeGreaterThanOrEqual(0.2);
  });

  it('sends falls mostly at night', () => {
    const falls: Msg[] = [];
    for (let i = 0; i < 30; i++) {
      falls.push(
        ...simulate('call_button', 5 * DAY, { id: `c${i}`, incidentRateFactor: 100 }).sent.filter(
          (m) => m.name === 'fall',
        ),
      );
    }
    expect(falls.length).toBeGreaterThan(5);
    const night = falls.filter((m) => localHour(m.at, 480) < 6).length;
    expect(night / falls.length).toBeGreaterThan(0.5);
  });

  it('samples quiet, valid telemetry for load mode', () => {
    const rng = createRng(1);
    for (const type of DEVICE_TYPE_IDS) {
      const v = sampleTelemetry(type, rng);
      expect(catalogue.get(type).telemetrySchema.safeParse(v).success).toBe(true);
    }
    expect(sampleTelemetry('smoke', rng).smoke as number).toBeLessThan(0.2);
  });
});
