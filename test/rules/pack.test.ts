import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceTypeId } from '../../src/catalogue/types.ts';
import { DEVICE_TYPE_IDS } from '../../src/catalogue/types.ts';
import type { Reading } from '../../src/domain/reading.ts';
import type { RuleResult } from '../../src/domain/rule-result.ts';
import { CATEGORY_LABELS } from '../../src/rules/categories.ts';
import { buildRuleSet, PACK_DIR, readRuleDir } from '../../src/rules/loader.ts';
import { catalogue, createHarness, event, type Harness, HOUR, MIN, START, telemetry } from './helpers.ts';

/**
 * One table per default rule, in virtual time: each step moves the clock to `t` (ms after START), then sends
 * its reading; `expect` lists the results of that rule produced by the step (timers that fired on the way,
 * then the reading), matched field by field. An empty list means: nothing.
 */
interface Step {
  t: number;
  send?: Reading;
  expect: Partial<RuleResult>[];
}
interface Case {
  name: string;
  rule: string;
  seed?: { deviceId: string; deviceType: DeviceTypeId; lastSeen: number | null }[];
  steps: Step[];
}

const T = (values: Record<string, number | boolean>, type: DeviceTypeId = 'bin', id = 'd1') =>
  telemetry(id, type, values);
const E = (
  name: string,
  type: DeviceTypeId,
  data: Record<string, number | boolean | string> = {},
  id = 'd1',
) => event(id, type, name, data);

const raise = (extra: Partial<RuleResult> = {}) => ({ kind: 'raise', ...extra }) as Partial<RuleResult>;
const clear = (extra: Partial<RuleResult> = {}) => ({ kind: 'clear', ...extra }) as Partial<RuleResult>;

const CASES: Case[] = [
  // smoke-fire: alarm=true or event alarm or smoke ≥ 0.2 dB/m or temperature ≥ 57 °C → critical
  {
    name: 'smoke just under 0.2 dB/m stays quiet, 0.2 raises critical',
    rule: 'smoke-fire',
    steps: [
      { t: 0, send: T({ smoke: 0.19, temperature: 25, alarm: false }, 'smoke'), expect: [] },
      {
        t: 1000,
        send: T({ smoke: 0.2, temperature: 25, alarm: false }, 'smoke'),
        expect: [raise({ severity: 'critical', category: 'fire', dedup: 'per-device', at: START + 1000 })],
      },
    ],
  },
  {
    name: 'temperature 56.9 °C stays quiet, 57 °C raises',
    rule: 'smoke-fire',
    steps: [
      { t: 0, send: T({ temperature: 56.9 }, 'smoke'), expect: [] },
      { t: 1, send: T({ temperature: 57 }, 'smoke'), expect: [raise({ severity: 'critical' })] },
    ],
  },
  {
    name: 'telemetry alarm=true and event alarm raise; event test does not',
    rule: 'smoke-fire',
    steps: [
      { t: 0, send: T({ alarm: false }, 'smoke'), expect: [] },
      {
        t: 1,
        send: T({ alarm: true }, 'smoke'),
        expect: [raise({ severity: 'critical', category: 'fire' })],
      },
      { t: 2, send: E('test', 'smoke'), expect: [] },
      { t: 3, send: E('alarm', 'smoke'), expect: [raise({ severity: 'critical', category: 'fire' })] },
      {
        t: 4,
        send: E('alarm_clear', 'smoke'),
        expect: [{ kind: 'update', detail: 'The sensor stopped sounding; a worker still confirms on site' }],
      },
      { t: 4 + 3_600_000, send: E('alarm_clear', 'smoke'), expect: [] }, // more than 1 h after the raise
    ],
  },
  // call-button-press / call-button-fall: critical, per occurrence; cancel → fact on the press alert
  {
    name: 'every press is its own critical alert; cancel records cancelled_by_resident',
    rule: 'call-button-press',
    steps: [
      { t: 0, send: E('cancel', 'call_button'), expect: [] },
      {
        t: 1,
        send: E('press', 'call_button'),
        expect: [raise({ severity: 'critical', category: 'call_for_help', dedup: 'per-occurrence' })],
      },
      { t: 2, send: E('press', 'call_button'), expect: [raise({ dedup: 'per-occurrence' })] },
      {
        t: MIN,
        send: E('cancel', 'call_button'),
        expect: [{ kind: 'fact', fact: 'cancelled_by_resident', at: START + MIN }],
      },
    ],
  },
  {
    name: 'a fall is its own critical alert',
    rule: 'call-button-fall',
    steps: [
      { t: 0, send: E('press', 'call_button'), expect: [] },
      {
        t: 1,
        send: E('fall', 'call_button'),
        expect: [raise({ severity: 'critical', category: 'fall', dedup: 'per-occurrence' })],
      },
      { t: 2, send: E('fall', 'call_button'), expect: [raise({ category: 'fall' })] },
    ],
  },
  // throw-detected: confidence ≥ 0.7 → major with the clip as evidence
  {
    name: 'throw at confidence 0.69 is ignored, 0.7 raises major with the clip',
    rule: 'throw-detected',
    steps: [
      { t: 0, send: E('throw_detected', 'throw_camera', { confidence: 0.69, clipId: 'c0' }), expect: [] },
      {
        t: 1,
        send: E('throw_detected', 'throw_camera', {
          confidence: 0.7,
          clipId: 'c1',
          floor: 12,
          facade: 'south',
        }),
        expect: [
          raise({
            severity: 'major',
            category: 'throw_from_height',
            evidence: { clipId: 'c1', floor: 12, facade: 'south', confidence: 0.7 },
          }),
        ],
      },
    ],
  },
  // ebike-detected: major; cleared within 2 minutes → prevented; later → update, no clear
  {
    name: 'e-bike cleared exactly 2 minutes after detection counts as prevented',
    rule: 'ebike-detected',
    steps: [
      {
        t: 0,
        send: E('ebike_detected', 'ebike_elevator', { confidence: 0.9, elevatorId: 'L1' }),
        expect: [raise({ severity: 'major', category: 'ebike_in_elevator', evidence: { elevatorId: 'L1' } })],
      },
      {
        t: MIN,
        send: E('ebike_detected', 'ebike_elevator', { confidence: 0.9, elevatorId: 'L1' }),
        expect: [],
      },
      {
        t: 2 * MIN,
        send: E('ebike_cleared', 'ebike_elevator'),
        expect: [clear({ resolution: 'prevented', at: START + 2 * MIN })],
      },
    ],
  },
  {
    name: 'e-bike cleared 1 ms after the 2 minutes updates the alert instead of clearing it',
    rule: 'ebike-detected',
    steps: [
      {
        t: 0,
        send: E('ebike_detected', 'ebike_elevator', { confidence: 0.9, elevatorId: 'L1' }),
        expect: [raise()],
      },
      { t: 2 * MIN + 1, send: E('ebike_cleared', 'ebike_elevator'), expect: [{ kind: 'update' }] },
      {
        t: 3 * MIN,
        send: E('ebike_detected', 'ebike_elevator', { confidence: 0.8, elevatorId: 'L1' }),
        expect: [raise()],
      },
    ],
  },
  // bin-full: fill ≥ 90 % for 10 minutes → minor; clear under 30 %
  {
    name: 'bin at 90 % raises exactly 10 minutes later and clears under 30 %',
    rule: 'bin-full',
    steps: [
      { t: 0, send: T({ fill: 90 }), expect: [] },
      { t: 5 * MIN, send: T({ fill: 95 }), expect: [] },
      { t: 10 * MIN - 1, expect: [] },
      { t: 10 * MIN, expect: [raise({ severity: 'minor', category: 'bin_full', at: START + 10 * MIN })] },
      { t: 11 * MIN, send: T({ fill: 97 }), expect: [] },
      { t: 12 * MIN, send: T({ fill: 30 }), expect: [] },
      { t: 13 * MIN, send: T({ fill: 29.9 }), expect: [clear({ resolution: 'auto', at: START + 13 * MIN })] },
      { t: 60 * MIN, send: T({ fill: 10 }), expect: [] },
    ],
  },
  {
    name: 'a reading under 90 % breaks the 10 minutes; a reading without fill does not',
    rule: 'bin-full',
    steps: [
      { t: 0, send: T({ fill: 95 }), expect: [] },
      { t: 5 * MIN, send: T({ fill: 89.9 }), expect: [] },
      { t: 6 * MIN, send: T({ fill: 95 }), expect: [] },
      { t: 10 * MIN, send: T({ temperature: 20, battery: 80 }), expect: [] },
      { t: 16 * MIN - 1, expect: [] },
      { t: 16 * MIN, expect: [raise({ at: START + 16 * MIN })] },
    ],
  },
  {
    name: 'fill 89.9 % never raises',
    rule: 'bin-full',
    steps: [
      { t: 0, send: T({ fill: 89.9 }), expect: [] },
      { t: 30 * MIN, send: T({ fill: 89.9 }), expect: [] },
    ],
  },
  // bin-fire: ≥ 70 °C → critical
  {
    name: 'bin at 69.9 °C is quiet, 70 °C is a bin fire',
    rule: 'bin-fire',
    steps: [
      { t: 0, send: T({ temperature: 69.9 }), expect: [] },
      { t: 1, send: T({ temperature: 70 }), expect: [raise({ severity: 'critical', category: 'bin_fire' })] },
    ],
  },
  // battery-low: < 20 % → minor; clear at ≥ 30 %
  ...(['smoke', 'bin', 'call_button'] as const).map(
    (type): Case => ({
      name: `${type}: battery 20 % is fine, 19.9 % raises, clears at 30 % not 29.9 %`,
      rule: 'battery-low',
      steps: [
        { t: 0, send: T({ battery: 20 }, type), expect: [] },
        {
          t: 1,
          send: T({ battery: 19.9 }, type),
          expect: [raise({ severity: 'minor', category: 'battery_low', deviceType: type })],
        },
        { t: 2, send: T({ battery: 18 }, type), expect: [] },
        { t: 3, send: T({ battery: 29.9 }, type), expect: [] },
        { t: 4, send: T({ battery: 30 }, type), expect: [clear({ resolution: 'auto' })] },
      ],
    }),
  ),
  // offline: no message for 3 heartbeats; major for safety types, minor otherwise; clears on the next message
  {
    name: 'smoke sensor silent 3 × 4 h is a major offline, cleared when it speaks',
    rule: 'offline-safety',
    seed: [{ deviceId: 'd1', deviceType: 'smoke', lastSeen: START }],
    steps: [
      { t: 12 * HOUR - 1, expect: [] },
      {
        t: 12 * HOUR,
        expect: [raise({ severity: 'major', category: 'device_offline', at: START + 12 * HOUR })],
      },
      { t: 13 * HOUR, send: T({ battery: 80 }, 'smoke'), expect: [clear({ resolution: 'auto' })] },
      { t: 25 * HOUR - 1, expect: [] },
      { t: 25 * HOUR, expect: [raise({ severity: 'major' })] },
    ],
  },
  {
    name: 'call button silent 3 × 1 h is a major offline; every message restarts the count',
    rule: 'offline-safety',
    seed: [{ deviceId: 'd1', deviceType: 'call_button', lastSeen: START }],
    steps: [
      { t: 2 * HOUR, send: T({ battery: 80 }, 'call_button'), expect: [] },
      { t: 5 * HOUR - 1, expect: [] },
      { t: 5 * HOUR, expect: [raise({ severity: 'major', deviceType: 'call_button' })] },
    ],
  },
  {
    name: 'camera last seen 1 min before start goes offline (minor) 2 min after start',
    rule: 'offline',
    seed: [{ deviceId: 'd1', deviceType: 'throw_camera', lastSeen: START - MIN }],
    steps: [
      { t: 2 * MIN - 1, expect: [] },
      { t: 2 * MIN, expect: [raise({ severity: 'minor', category: 'device_offline' })] },
      { t: 10 * MIN, send: T({ online: true }, 'throw_camera'), expect: [clear()] },
    ],
  },
  {
    name: 'a never-seen bin is timed from start-up: offline (minor) after 45 min',
    rule: 'offline',
    seed: [{ deviceId: 'd1', deviceType: 'bin', lastSeen: null }],
    steps: [
      { t: 45 * MIN - 1, expect: [] },
      { t: 45 * MIN, expect: [raise({ severity: 'minor', deviceType: 'bin' })] },
    ],
  },
  // tamper → major
  {
    name: 'tamper is major',
    rule: 'tamper',
    steps: [{ t: 0, send: E('tamper', 'smoke'), expect: [raise({ severity: 'major', category: 'tamper' })] }],
  },
];

describe('default rule pack', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.engine.close();
    h?.db.close();
    h = undefined;
  });

  it.each(CASES.map((c) => [`${c.rule}: ${c.name}`, c] as const))('%s', (_name, c) => {
    h = createHarness();
    const harness = h;
    if (c.seed) {
      harness.engine.seedPresence(c.seed.map((s) => ({ ...s, placeId: 'b1', place: {}, floor: 1 })));
    }
    for (const [i, step] of c.steps.entries()) {
      harness.clock.advanceTo(START + step.t);
      if (step.send) harness.send(step.send);
      const got = harness.take().filter((r) => r.ruleId === c.rule);
      expect(got.length, `step ${i} (t=${step.t}): ${JSON.stringify(got)}`).toBe(step.expect.length);
      step.expect.forEach((e, j) => {
        expect(got[j], `step ${i} result ${j}`).toMatchObject(e);
      });
    }
  });

  it('compiles, and every rule has a table, a localised category and a device type it applies to', () => {
    const set = buildRuleSet(readRuleDir(PACK_DIR, 'pack'), [], catalogue);
    const tested = new Set(CASES.map((c) => c.rule));
    const covered = new Set<string>();
    for (const [id, l] of set) {
      expect(tested.has(id), `${id} has a test table`).toBe(true);
      expect(l.compiled.types.size).toBeGreaterThan(0);
      for (const t of l.compiled.types) covered.add(t);
      const cat = l.compiled.raise?.category;
      expect(cat && CATEGORY_LABELS[cat], `${id} category ${cat} has labels`).toBeTruthy();
    }
    // Every device type of the catalogue is covered by the pack (design §4).
    for (const t of DEVICE_TYPE_IDS) expect(covered.has(t), t).toBe(true);
  });
});
