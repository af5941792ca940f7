import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/**
 * The one flow: when the alert store fails to record a result, nothing is lost or doubled. The failure is a
 * real one of the real SQLite store: a trigger that aborts inserts of one device's alerts, as a full disk or a
 * broken constraint would, dropped again to let the store recover.
 */
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub;
const clients: MqttClient[] = [];

beforeAll(async () => {
  t = await startTestHub({ clock });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await t?.close();
});

function device(type: string) {
  const d = t.credentials?.devices.find((x) => x.type === type);
  if (!d) throw new Error(`no demo ${type}`);
  return d;
}

async function connect(id: string, secret: string): Promise<MqttClient> {
  const c = await connectAsync(t.hub.urls.mqtt, {
    username: id,
    password: secret,
    clientId: id,
    reconnectPeriod: 0,
  });
  clients.push(c);
  return c;
}

const failAlertsOf = (deviceId: string) =>
  t.hub.db.exec(`CREATE TRIGGER fail_alert_insert BEFORE INSERT ON alerts WHEN NEW.device_id = '${deviceId}'
    BEGIN SELECT RAISE(ABORT, 'injected: the alert store refuses the write'); END`);
const recover = () => t.hub.db.exec('DROP TRIGGER fail_alert_insert');
const alertsOf = async (deviceId: string) =>
  (await t.hub.dispatcher.list({})).items.filter((a) => a.deviceId === deviceId);
const journaled = () =>
  (t.hub.db.prepare('SELECT COUNT(*) AS n FROM ingest_journal').get() as { n: number }).n;
const metric = async (name: string) => {
  const text = await t.hub.metrics.metrics();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
};

describe('recording a result fails once', () => {
  it('re-feeds the QoS 1 event from the journal without a restart and raises exactly one alert', async () => {
    const button = device('call_button');
    const c = await connect(button.id, button.secret);
    failAlertsOf(button.id);
    // PUBACK: the press is durably journaled, though its alert could not be recorded yet.
    await c.publishAsync(topics.event(button.id), JSON.stringify({ event: 'press' }), { qos: 1 });
    expect(await alertsOf(button.id)).toEqual([]);
    expect(journaled()).toBe(1);

    // Still failing at the first retry: nothing recorded, the event still waits in the journal.
    await clock.advanceAsync(250);
    expect(await alertsOf(button.id)).toEqual([]);
    expect(journaled()).toBe(1);

    recover();
    await clock.advanceAsync(500);
    const alerts = await alertsOf(button.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ category: 'call_for_help', severity: 'critical', count: 1 });
    expect(journaled()).toBe(0);
    expect(await metric('gridhub_ingest_journal_retried_total')).toBe(1);

    // Nothing comes back later: the event was taken once.
    await clock.advanceAsync(60_000);
    expect(await alertsOf(button.id)).toHaveLength(1);
  });

  it('retries a timer-fired result (bin full for 10 minutes) and raises it exactly once', async () => {
    const bin = device('bin');
    const c = await connect(bin.id, bin.secret);
    await c.publishAsync(topics.telemetry(bin.id), JSON.stringify({ fill: 96 }), { qos: 1 });
    failAlertsOf(bin.id);
    // The `for` timer fires at 10 minutes; recording fails, the rule stays pending and retries after 1 s.
    await clock.advanceAsync(10 * 60_000);
    expect(await alertsOf(bin.id)).toEqual([]);
    await clock.advanceAsync(1_000);
    expect(await alertsOf(bin.id)).toEqual([]);

    recover();
    await clock.advanceAsync(2_000);
    const alerts = await alertsOf(bin.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ category: 'bin_full', severity: 'minor', count: 1 });
    await clock.advanceAsync(10 * 60_000);
    expect(await alertsOf(bin.id)).toHaveLength(1);
  });
});
