import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceTypeId } from '../../src/catalogue/catalogue.ts';
import type { EventReading, StatusReading, TelemetryReading } from '../../src/domain/reading.ts';
import { type Harness, nextErrors, removeDir, startHarness, until } from './harness.ts';

const VALID: Record<DeviceTypeId, { telemetry: object; event?: object }> = {
  smoke: {
    telemetry: { alarm: false, smoke: 0.05, temperature: 24.5, battery: 87, rssi: -70 },
    event: { event: 'alarm' },
  },
  throw_camera: {
    telemetry: { online: true },
    event: {
      event: 'throw_detected',
      data: { confidence: 0.92, floor: 12, facade: 'south', clipId: 'clip-001' },
    },
  },
  ebike_elevator: {
    telemetry: { online: true },
    event: { event: 'ebike_detected', data: { confidence: 0.8, elevatorId: 'E1', doorHeld: true } },
  },
  bin: { telemetry: { fill: 45, temperature: 20, tilt: false, battery: 90 } },
  call_button: { telemetry: { battery: 77 }, event: { event: 'press' } },
};

const PLACE = { street: 'st1', community: 'co1', grid: 'gr1', estate: 'es1', building: 'bd1' };

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  removeDir(h.dir);
});

function take() {
  return h.readings.splice(0, h.readings.length);
}

describe('valid payloads of every device type', () => {
  for (const type of Object.keys(VALID) as DeviceTypeId[]) {
    it(`${type}: telemetry becomes a TelemetryReading with the device's place`, async () => {
      const c = await h.connectDevice(type);
      const { id } = h.devices[type];
      take();
      await c.publishAsync(`gh/${id}/telemetry`, JSON.stringify(VALID[type].telemetry));
      await until(() => h.readings.length === 1, 3_000, 'reading');
      const [r] = take() as TelemetryReading[];
      expect(r).toEqual({
        kind: 'telemetry',
        deviceId: id,
        deviceType: type,
        placeId: 'bd1',
        place: PLACE,
        floor: 3,
        ts: h.clock.now(),
        receivedAt: h.clock.now(),
        qos: 0,
        values: VALID[type].telemetry,
      });
      expect(await h.counter('gridhub_ingest_accepted_total', { type, channel: 'telemetry' })).toBe(1);
      await c.endAsync();
    });

    const event = VALID[type].event;
    if (event) {
      it(`${type}: event becomes an EventReading`, async () => {
        const c = await h.connectDevice(type);
        const { id } = h.devices[type];
        take();
        await c.publishAsync(`gh/${id}/event`, JSON.stringify(event));
        await until(() => h.readings.length === 1, 3_000, 'reading');
        const [r] = take() as EventReading[];
        const e = event as { event: string; data?: object };
        expect(r).toMatchObject({
          kind: 'event',
          deviceId: id,
          deviceType: type,
          placeId: 'bd1',
          place: PLACE,
          event: e.event,
          data: e.data ?? {},
          qos: 0,
        });
        expect(r?.journalId).toBeUndefined();
        await c.endAsync();
      });
    }
  }
});

describe('rejections answer on the errors topic and keep the connection', () => {
  const smoke = () => h.devices.smoke.id;

  async function rejectCase(topicSuffix: string, payload: string | Buffer) {
    const c = await h.connectDevice('smoke');
    await c.subscribeAsync(`gh/${smoke()}/errors`);
    take();
    const errors = nextErrors(c, smoke(), 1);
    await c.publishAsync(`gh/${smoke()}/${topicSuffix}`, payload);
    const [e] = await errors;
    // connection stays up: a valid message afterwards is accepted
    await c.publishAsync(`gh/${smoke()}/telemetry`, '{"battery":50}');
    await until(() => h.readings.length === 1, 3_000, 'valid reading after rejection');
    expect(c.connected).toBe(true);
    take();
    await c.endAsync();
    return e;
  }

  const cases: [string, string, string | Buffer, Record<string, unknown>][] = [
    ['not JSON', 'telemetry', '{"smoke": 0.1', { code: 'PAYLOAD_NOT_JSON' }],
    [
      'invalid UTF-8',
      'telemetry',
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      { code: 'PAYLOAD_NOT_JSON', message: 'payload is not valid UTF-8' },
    ],
    [
      'out of range',
      'telemetry',
      '{"smoke": 3}',
      { code: 'PAYLOAD_INVALID', field: 'smoke', message: 'smoke: must be ≤ 2 dB/m' },
    ],
    [
      'wrong type',
      'telemetry',
      '{"alarm": "yes"}',
      { code: 'PAYLOAD_INVALID', field: 'alarm', message: 'alarm: expected true or false' },
    ],
    [
      'unknown field',
      'telemetry',
      '{"smoke": 0.1, "humidity": 40}',
      {
        code: 'PAYLOAD_INVALID',
        field: 'humidity',
        message: 'unknown field "humidity"; allowed: alarm, smoke, temperature, battery, rssi',
      },
    ],
    ['no field at all', 'telemetry', '{}', { code: 'PAYLOAD_INVALID', message: 'no telemetry field given' }],
    [
      'not an object',
      'telemetry',
      '42',
      { code: 'PAYLOAD_INVALID', message: 'expected a JSON object of telemetry fields' },
    ],
    [
      'unknown event',
      'event',
      '{"event": "explode"}',
      {
        code: 'EVENT_UNKNOWN',
        field: 'event',
        message:
          'event "explode" is not defined for device type smoke; known: alarm, alarm_clear, tamper, test',
      },
    ],
    [
      'event missing',
      'event',
      '{"data": {}}',
      { code: 'PAYLOAD_INVALID', field: 'event', message: 'event: required' },
    ],
    [
      'unknown event data field',
      'event',
      '{"event": "alarm", "data": {"level": 3}}',
      { code: 'PAYLOAD_INVALID', field: 'data.level', message: 'unknown field "level"; allowed: (none)' },
    ],
    [
      'garbage ts',
      'telemetry',
      '{"smoke": 0.1, "ts": "yesterday"}',
      { code: 'TIMESTAMP_INVALID', field: 'ts' },
    ],
    [
      'epoch seconds ts',
      'telemetry',
      '{"smoke": 0.1, "ts": 1767600000}',
      { code: 'TIMESTAMP_INVALID', field: 'ts' },
    ],
    ['unknown channel', 'config', '{"x": 1}', { code: 'TOPIC_UNKNOWN', topic: 'gh/smoke-1/config' }],
    [
      'bad status',
      'status',
      'sleeping',
      {
        code: 'PAYLOAD_INVALID',
        field: 'status',
        message: 'status must be online or offline, got "sleeping"',
      },
    ],
    ['bad status value', 'status', '{"status": "asleep"}', { code: 'PAYLOAD_INVALID', field: 'status' }],
  ];
  for (const [name, suffix, payload, expected] of cases) {
    it(name, async () => {
      const e = await rejectCase(suffix, payload);
      expect(e).toMatchObject({ topic: `gh/${smoke()}/${suffix}`, ...expected });
      expect(e?.index).toBeUndefined();
      expect(Date.parse(e?.at ?? '')).toBe(h.clock.now());
    });
  }

  it('event data of another type is checked against that event: throw_detected needs confidence', async () => {
    const c = await h.connectDevice('throw_camera');
    const id = h.devices.throw_camera.id;
    await c.subscribeAsync(`gh/${id}/errors`);
    const errors = nextErrors(c, id, 1);
    await c.publishAsync(`gh/${id}/event`, '{"event":"throw_detected","data":{"floor":2}}');
    expect((await errors)[0]).toMatchObject({
      code: 'PAYLOAD_INVALID',
      field: 'data.confidence',
      message: 'data.confidence: required',
    });
    await c.endAsync();
  });

  it('bin has no events: any event is EVENT_UNKNOWN', async () => {
    const c = await h.connectDevice('bin');
    const id = h.devices.bin.id;
    await c.subscribeAsync(`gh/${id}/errors`);
    const errors = nextErrors(c, id, 1);
    await c.publishAsync(`gh/${id}/event`, '{"event":"full"}');
    expect((await errors)[0]).toMatchObject({
      code: 'EVENT_UNKNOWN',
      message: expect.stringContaining('known: (none)'),
    });
    await c.endAsync();
  });

  it('counts rejections by code and type', async () => {
    expect(
      await h.counter('gridhub_ingest_rejected_total', { code: 'PAYLOAD_INVALID', type: 'smoke' }),
    ).toBeGreaterThan(3);
    expect(
      await h.counter('gridhub_ingest_rejected_total', { code: 'TIMESTAMP_INVALID', type: 'smoke' }),
    ).toBe(2);
  });
});

describe('arrays', () => {
  it('accepts the valid elements and answers each invalid one with its index', async () => {
    const c = await h.connectDevice('smoke');
    const id = h.devices.smoke.id;
    await c.subscribeAsync(`gh/${id}/errors`);
    take();
    const errors = nextErrors(c, id, 2);
    const payload = [
      { smoke: 0.01, ts: '2026-01-05T07:59:00Z' },
      { smoke: 9 },
      { battery: 80, ts: Date.UTC(2026, 0, 5, 7, 59, 30) },
      'nope',
    ];
    await c.publishAsync(`gh/${id}/telemetry`, JSON.stringify(payload));
    const errs = await errors;
    expect(errs).toEqual([
      expect.objectContaining({ code: 'PAYLOAD_INVALID', field: '[1].smoke', index: 1 }),
      expect.objectContaining({ code: 'PAYLOAD_INVALID', field: '[3]', index: 3 }),
    ]);
    await until(() => h.readings.length === 2, 3_000, 'two readings');
    const rs = take() as TelemetryReading[];
    expect(rs.map((r) => r.values)).toEqual([{ smoke: 0.01 }, { battery: 80 }]);
    expect(rs.map((r) => r.ts)).toEqual([Date.UTC(2026, 0, 5, 7, 59, 0), Date.UTC(2026, 0, 5, 7, 59, 30)]);
    await c.endAsync();
  });

  it('an empty array is refused', async () => {
    const c = await h.connectDevice('smoke');
    const id = h.devices.smoke.id;
    await c.subscribeAsync(`gh/${id}/errors`);
    const errors = nextErrors(c, id, 1);
    await c.publishAsync(`gh/${id}/telemetry`, '[]');
    expect((await errors)[0]).toMatchObject({
      code: 'PAYLOAD_INVALID',
      message: 'empty array: nothing to record',
    });
    await c.endAsync();
  });
});

describe('timestamps', () => {
  const cases: [string, unknown, number | 'now'][] = [
    ['ISO 8601 with Z', '2026-01-05T07:30:00Z', Date.UTC(2026, 0, 5, 7, 30)],
    ['ISO 8601 with offset and millis', '2026-01-05T15:30:00.250+08:00', Date.UTC(2026, 0, 5, 7, 30, 0, 250)],
    ['epoch milliseconds', Date.UTC(2026, 0, 5, 7, 45), Date.UTC(2026, 0, 5, 7, 45)],
    ['absent: receive time', undefined, 'now'],
  ];
  for (const [name, ts, expected] of cases) {
    it(name, async () => {
      const c = await h.connectDevice('bin');
      const id = h.devices.bin.id;
      take();
      await c.publishAsync(`gh/${id}/telemetry`, JSON.stringify({ fill: 10, ts }));
      await until(() => h.readings.length === 1, 3_000, 'reading');
      const [r] = take();
      expect(r?.ts).toBe(expected === 'now' ? h.clock.now() : expected);
      expect(r?.receivedAt).toBe(h.clock.now());
      await c.endAsync();
    });
  }

  it('a ts far in the future is refused', async () => {
    const c = await h.connectDevice('bin');
    const id = h.devices.bin.id;
    await c.subscribeAsync(`gh/${id}/errors`);
    const errors = nextErrors(c, id, 1);
    await c.publishAsync(`gh/${id}/telemetry`, JSON.stringify({ fill: 10, ts: h.clock.now() + 86_400_000 }));
    expect((await errors)[0]).toMatchObject({ code: 'TIMESTAMP_INVALID', field: 'ts' });
    await c.endAsync();
  });
});

describe('status', () => {
  it('bare and JSON status become StatusReadings and set presence', async () => {
    const c = await h.connectDevice('call_button');
    const id = h.devices.call_button.id;
    await until(() => h.registry.devices.get(id)?.online === true, 3_000, 'online on connect');
    take();
    await c.publishAsync(`gh/${id}/status`, 'offline');
    await until(() => h.readings.length === 1, 3_000, 'status reading');
    expect(h.registry.devices.get(id)?.online).toBe(false);
    await c.publishAsync(`gh/${id}/status`, '{"status":"online"}');
    await until(() => h.readings.length === 2, 3_000, 'status reading');
    const rs = take() as StatusReading[];
    expect(rs.map((r) => [r.kind, r.status, r.source])).toEqual([
      ['status', 'offline', 'device'],
      ['status', 'online', 'device'],
    ]);
    expect(h.registry.devices.get(id)?.online).toBe(true);
    expect(h.registry.devices.get(id)?.lastSeen).toBe(h.clock.now());
    await c.endAsync();
  });

  it("the will message reads as offline from source 'will'", async () => {
    const id = h.devices.ebike_elevator.id;
    const c = await h.connectDevice('ebike_elevator', {
      will: { topic: `gh/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    take();
    const seenBefore = h.registry.devices.get(id)?.lastSeen ?? null;
    h.clock.advance(60_000);
    const offline: unknown[] = [];
    const off = h.bus.on('device.offline', (e) => offline.push(e));
    c.stream.destroy(); // the device drops off the network without DISCONNECT
    await until(() => h.readings.length === 1, 3_000, 'will reading');
    const [r] = take() as StatusReading[];
    expect(r).toMatchObject({ kind: 'status', deviceId: id, status: 'offline', source: 'will' });
    await until(() => h.registry.devices.get(id)?.online === false, 3_000, 'offline');
    expect(offline).toEqual([{ deviceId: id, at: h.clock.now(), source: 'will' }]);
    // The broker spoke for the device: its last-seen time stays when it last spoke itself.
    expect(h.registry.devices.get(id)?.lastSeen ?? null).toBe(seenBefore);
    off();
  });
});
