import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate, type Observed } from '../../devices-sim/checks.ts';
import { type CredentialDevice, selectGroups } from '../../devices-sim/credentials.ts';
import { toAlertSummary } from '../../devices-sim/hub-api.ts';
import { createRng } from '../../devices-sim/rng.ts';
import { loadScenario, parseScenario, ScenarioError } from '../../devices-sim/scenario.ts';
import type { WorkerAlarm, WorkerDigest } from '../../src/domain/wire.ts';

const DIR = join(import.meta.dirname, '../../devices-sim/scenarios');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

describe('scenario files', () => {
  it('ships the six scenarios of the issue', () => {
    expect(FILES.map((f) => f.replace('.yaml', '')).sort()).toEqual(
      ['bin-day', 'ebike-peak', 'elderly-night', 'fire-drill', 'gateway-outage', 'malformed'].sort(),
    );
  });

  it.each(FILES)('%s is valid and states outcome checks', (file) => {
    const sc = loadScenario(join(DIR, file));
    expect(sc.name).toBe(file.replace('.yaml', ''));
    expect(sc.timeline.length).toBeGreaterThan(0);
    expect(sc.expect.length).toBeGreaterThan(0);
  });

  const base = `
name: t
duration: 5m
groups:
  g: { type: smoke, count: 2 }
timeline:
  - { at: 10s, target: 'g[0]', event: alarm }
`;

  it('parses durations and defaults', () => {
    const sc = parseScenario(base);
    expect(sc.duration).toBe(300_000);
    expect(sc.timeline[0]).toMatchObject({ at: 10_000, event: 'alarm', qos: 1 });
    expect(sc.background).toEqual({ devices: 'groups', incidents: false, max: 300 });
  });

  it.each([
    [
      'an unknown group',
      base.replace("target: 'g[0]'", 'target: nope'),
      'timeline.0.target: unknown group nope',
    ],
    ['a step after the end', base.replace('at: 10s', 'at: 6m'), 'timeline.0.at: step is after the duration'],
    ['a bad duration', base.replace('duration: 5m', 'duration: soon'), 'duration'],
    ['an unknown device type', base.replace('type: smoke', 'type: toaster'), 'groups.g.type'],
    ['a step with two actions', base.replace('event: alarm', 'event: alarm, status: online'), 'timeline.0'],
    ['an unknown top-level key', `${base}colour: red\n`, 'colour'],
    ['a group without type', base.replace('type: smoke, ', ''), 'groups.g: give type or types'],
  ])('refuses %s, naming where', (_what, text, where) => {
    expect(() => parseScenario(text, 'x.yaml')).toThrow(ScenarioError);
    expect(() => parseScenario(text, 'x.yaml')).toThrow(where);
  });

  it('refuses text that is not YAML', () => {
    expect(() => parseScenario('a: [', 'x.yaml')).toThrow(/x.yaml: not valid YAML/);
  });
});

const dev = (
  id: string,
  type: CredentialDevice['type'],
  placeId: string,
  floor: number | null,
): CredentialDevice => ({
  id,
  type,
  placeId,
  placeName: placeId,
  floor,
  secret: 's',
});

describe('group selection', () => {
  const devices = [
    dev('s1', 'smoke', 'U1', 7),
    dev('s2', 'smoke', 'U1', 3),
    dev('s3', 'smoke', 'U1', 5),
    dev('s4', 'smoke', 'U1', 5),
    dev('s5', 'smoke', 'U2', 4),
    dev('c1', 'call_button', 'U1', 6),
    dev('c2', 'call_button', 'U2', 6),
  ];

  it('takes one place, one device per floor, climbing', () => {
    const g = selectGroups(
      devices,
      { smokes: { type: 'smoke', count: 4, min: 2, samePlace: true, distinctFloors: true } },
      createRng(1),
    );
    expect(g.smokes?.map((d) => d.floor)).toEqual([3, 5, 7]);
  });

  it('groups by a place level when the devices carry their place path', () => {
    const withPlace = devices.map((d) => ({ ...d, place: { building: d.placeId === 'U2' ? 'B2' : 'B1' } }));
    withPlace.push({ ...dev('s6', 'smoke', 'U3', 4), place: { building: 'B1' } });
    const g = selectGroups(
      withPlace,
      { smokes: { type: 'smoke', count: 5, min: 4, samePlace: 'building', distinctFloors: true } },
      createRng(1),
    );
    expect(g.smokes?.map((d) => `${d.id}@${d.floor}`)).toEqual(['s2@3', 's6@4', 's3@5', 's1@7']);
  });

  it('never gives one device to two groups and is deterministic', () => {
    const spec = {
      a: { type: 'call_button' as const, count: 1, samePlace: false, distinctFloors: false },
      b: { type: 'call_button' as const, count: 1, samePlace: false, distinctFloors: false },
    };
    const g1 = selectGroups(devices, spec, createRng('x'));
    const g2 = selectGroups(devices, spec, createRng('x'));
    expect(g1).toEqual(g2);
    expect(g1.a?.[0]?.id).not.toBe(g1.b?.[0]?.id);
  });

  it('says what is missing when the file has too few devices', () => {
    expect(() =>
      selectGroups(
        devices,
        { bins: { type: 'bin', count: 2, samePlace: false, distinctFloors: false } },
        createRng(1),
      ),
    ).toThrow('group bins: needs 2 device(s) of type bin, the credentials file has 0');
  });
});

describe('outcome checks', () => {
  const groups: Record<string, string[]> = { smokes: ['s1', 's2', 's3'], bad: ['b1'] };
  const resolve = (ref: string) => {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(ref);
    const g = groups[m?.[1] ?? ''] ?? [];
    return m?.[2] === undefined ? g : g.slice(Number(m[2]), Number(m[2]) + 1);
  };
  const observed = (): Observed => ({
    alerts: [
      toAlertSummary({
        id: 'a1',
        deviceId: 's1',
        category: 'fire',
        severity: 'critical',
        status: 'escalated',
      }),
      toAlertSummary({
        id: 'a2',
        device: { id: 's2' },
        category: 'fire',
        severity: 'critical',
        status: 'open',
      }),
      toAlertSummary({ id: 'a3', deviceId: 's3', type: 'low_battery', severity: 'minor', status: 'open' }),
      toAlertSummary({ id: 'a4', deviceId: 'x9', category: 'fire', severity: 'critical', status: 'open' }),
    ],
    details: new Map([['a1', { timeline: [{ type: 'escalated', to: 'grid_leader' }] }]]),
    errors: new Map([['b1', [{ code: 'PAYLOAD_INVALID' }, { code: 'PAYLOAD_NOT_JSON' }, {}]]]),
    alarms: [
      { topic: 'gh/workers/w1/alarms', text: JSON.stringify(alarmAbout('s1')) },
      { topic: 'gh/workers/w1/alarms', text: JSON.stringify(digestAbout(['s2'])) },
      { topic: 'gh/workers/w2/alarms', text: JSON.stringify(alarmAbout('x9')) },
      // not a message of the contract: counted as received, about no device
      { topic: 'gh/workers/w2/alarms', text: '{"device":{"id":"s1"}}' },
    ],
    devices: new Map([
      ['s1', { online: false }],
      ['s2', { online: true }],
    ]),
  });

  it('counts the alerts of the target devices by category and severity', () => {
    const ok = evaluate(
      { alerts: { target: 'smokes', category: 'smoke|fire', severity: 'critical', min: 2 } },
      observed(),
      resolve,
    );
    expect(ok.ok).toBe(true);
    const fail = evaluate({ alerts: { target: 'smokes', category: 'fire', min: 3 } }, observed(), resolve);
    expect(fail.ok).toBe(false);
    expect(fail.expected).toBe('at least 3 alert(s)');
    expect(fail.seen).toMatch(/^2: a1\(s1 fire critical escalated\), a2/);
    expect(fail.seen).toContain('a3(s3 low_battery minor open)');
  });

  it('looks for words in the timeline of each matching alert', () => {
    expect(
      evaluate({ alerts: { target: 'smokes[0]', timeline: ['escalat|grid_leader'] } }, observed(), resolve)
        .ok,
    ).toBe(true);
    const r = evaluate(
      { alerts: { target: 'smokes', category: 'fire', timeline: ['escalat'] } },
      observed(),
      resolve,
    );
    expect(r.ok).toBe(false);
    expect(r.seen).toContain('a2 lacks escalat');
    expect(
      evaluate(
        { alerts: { target: 'smokes', category: 'fire', timeline: ['escalat'], someHave: 1 } },
        observed(),
        resolve,
      ).ok,
    ).toBe(true);
  });

  it('counts errors-topic answers, alarms and offline devices', () => {
    expect(evaluate({ errors: { target: 'bad', min: 3 } }, observed(), resolve).ok).toBe(true);
    const codes = evaluate(
      { errors: { target: 'bad', min: 3, codes: ['PAYLOAD_INVALID'] } },
      observed(),
      resolve,
    );
    expect(codes.ok).toBe(false);
    expect(codes.seen).toBe('1 (of 3, codes PAYLOAD_INVALID, PAYLOAD_NOT_JSON, ?)');
    expect(evaluate({ alarms: { target: 'smokes', min: 2, max: 2 } }, observed(), resolve).ok).toBe(true);
    const storm = evaluate({ alarms: { target: 'smokes', perWorkerMax: 1 } }, observed(), resolve);
    expect(storm.ok).toBe(false);
    expect(storm.seen).toBe('2 of 4 alarm message(s) received, to 1 worker(s), at most 2 to one');
    const off = evaluate({ offline: { target: 'smokes', min: 2 } }, observed(), resolve);
    expect(off.ok).toBe(false);
    expect(off.seen).toBe('1 of 3 (2 readable through the API)');
  });
});

/** A worker alarm about `deviceId`, as the dispatcher sends it (the wire contract). */
function alarmAbout(deviceId: string): WorkerAlarm {
  return {
    kind: 'alarm',
    change: 'dispatched',
    alertId: `al-${deviceId}`,
    incidentId: null,
    severity: 'critical',
    category: 'fire',
    title: '烟感报警',
    detail: '',
    place: { grid: 'G1' },
    placeNames: ['第1网格'],
    device: { id: deviceId, type: 'smoke' },
    floor: 3,
    evidence: null,
    count: 1,
    status: 'dispatched',
    openedAt: 0,
    sla: { acknowledgeBy: 60_000, arriveBy: null, resolveBy: null },
    resident: null,
    recipient: { personId: 'w1', role: 'grid_worker', via: 'on_duty' },
    actions: ['acknowledge'],
    sentAt: 0,
  };
}

function digestAbout(deviceIds: string[]): WorkerDigest {
  const items = deviceIds.map((id) => {
    const { alertId, severity, category, title, placeNames, floor, device, change, openedAt } =
      alarmAbout(id);
    return { alertId, severity, category, title, placeNames, floor, device, change, openedAt };
  });
  return {
    kind: 'digest',
    digestId: 'dg-1',
    version: 1,
    updated: false,
    count: items.length,
    newCount: items.length,
    severity: 'minor',
    items,
    alertIds: items.map((i) => i.alertId),
    recipient: null,
    sentAt: 0,
  };
}
