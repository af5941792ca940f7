import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventReading } from '../../src/domain/reading.ts';
import {
  type Harness,
  nextErrors,
  nextMessages,
  removeDir,
  startHarness,
  startMosquitto,
  until,
} from './harness.ts';

const mosquitto = await startMosquitto();
if (!mosquitto)
  console.warn('mosquitto is not installed: external-broker tests skipped (apt-get install mosquitto)');

describe.skipIf(!mosquitto)('external-broker mode (Mosquitto, shared subscriptions)', () => {
  let h: Harness;
  const extra: MqttClient[] = [];
  const client = async (opts: Record<string, unknown> = {}) => {
    const c = await connectAsync(mosquitto?.url ?? '', { protocolVersion: 4, reconnectPeriod: 0, ...opts });
    extra.push(c);
    return c;
  };

  beforeAll(async () => {
    h = await startHarness({
      externalUrl: mosquitto?.url,
      externalClientId: 'hub-test',
      externalConsumers: 2,
    });
  });
  afterAll(async () => {
    await Promise.all(extra.map((c) => c.endAsync(true)));
    await h.close();
    removeDir(h.dir);
    await mosquitto?.stop();
  });

  it('validates device traffic from the external broker and answers errors there', async () => {
    const id = h.devices.smoke.id;
    const device = await client({ clientId: id });
    await device.subscribeAsync(`gh/${id}/errors`);
    const errors = nextErrors(device, id, 1);
    await device.publishAsync(`gh/${id}/telemetry`, '{"smoke": 0.25, "temperature": 31}');
    await device.publishAsync(`gh/${id}/telemetry`, '{"smoke": 0.25, "humidity": 31}');
    expect((await errors)[0]).toMatchObject({
      code: 'PAYLOAD_INVALID',
      field: 'humidity',
      topic: `gh/${id}/telemetry`,
    });
    await until(() => h.readings.length === 1, 3_000, 'reading');
    expect(h.readings[0]).toMatchObject({
      kind: 'telemetry',
      deviceId: id,
      place: { grid: 'gr1', building: 'bd1' },
      values: { smoke: 0.25, temperature: 31 },
    });
  });

  it('journals QoS 1 events and acknowledges them to the broker', async () => {
    h.readings.length = 0;
    const id = h.devices.call_button.id;
    const device = await client({ clientId: id });
    await device.publishAsync(`gh/${id}/event`, '{"event":"press"}', { qos: 1 });
    await until(() => h.readings.length === 1, 3_000, 'event');
    const r = h.readings[0] as EventReading;
    expect(r).toMatchObject({ kind: 'event', event: 'press', qos: 1 });
    expect(r.journalId).toBeGreaterThan(0);
    await until(
      () => (h.db.prepare('SELECT COUNT(*) AS n FROM ingest_journal').get() as { n: number }).n === 0,
      3_000,
      'journal row done',
    );
  });

  it('two consumers in one share group see each message once', async () => {
    h.readings.length = 0;
    const id = h.devices.bin.id;
    const device = await client({ clientId: id });
    for (let i = 0; i < 40; i++)
      device.publish(`gh/${id}/telemetry`, JSON.stringify({ fill: i }), { qos: 1 });
    await until(() => h.readings.length >= 40, 5_000, '40 readings');
    await new Promise((r) => setTimeout(r, 100));
    const fills = h.readings
      .map((r) => (r.kind === 'telemetry' ? r.values.fill : -1))
      .sort((a, b) => Number(a) - Number(b));
    expect(fills).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('answers traffic of unprovisioned devices with DEVICE_UNKNOWN', async () => {
    const device = await client({ clientId: 'ghost-1' });
    await device.subscribeAsync('gh/ghost-1/errors');
    const errors = nextErrors(device, 'ghost-1', 1);
    await device.publishAsync('gh/ghost-1/telemetry', '{"fill": 1}');
    expect((await errors)[0]).toMatchObject({ code: 'DEVICE_UNKNOWN', topic: 'gh/ghost-1/telemetry' });
  });

  it('publishes worker alarms on the external broker at QoS 1', async () => {
    const worker = await client({ clientId: 'phone-li' });
    const topic = `gh/workers/${h.worker.personId}/alarms`;
    await worker.subscribeAsync(topic, { qos: 1 });
    const got = nextMessages(worker, topic, 1);
    await h.ingest.publishToWorker(h.worker.personId, { alertId: 'a-9' });
    const [m] = await got;
    expect(m?.qos).toBe(1);
    expect(JSON.parse(m?.payload.toString() ?? '')).toEqual({ alertId: 'a-9' });
  });
});

describe('external-broker mode start-up', () => {
  it('an unreachable broker is a start-up error naming the setting', async () => {
    await expect(startHarness({ externalUrl: 'mqtt://127.0.0.1:1', externalConsumers: 1 })).rejects.toThrow(
      /cannot consume from GRIDHUB_MQTT_EXTERNAL_URL=mqtt:\/\/127.0.0.1:1/,
    );
  });
});
