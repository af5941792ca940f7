import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

// 2026-01-05 16:00 in Shanghai: the day shift (08–20) of grid 1 is on duty.
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

async function connect(username: string, password: string): Promise<MqttClient> {
  const c = await connectAsync(t.hub.urls.mqtt, {
    username,
    password,
    clientId: `${username}-${clients.length}`,
    reconnectPeriod: 0,
  });
  clients.push(c);
  return c;
}

function collect(client: MqttClient, topic: string): Record<string, unknown>[] {
  const seen: Record<string, unknown>[] = [];
  client.on('message', (tp, payload) => {
    if (tp === topic) seen.push(JSON.parse(payload.toString()) as Record<string, unknown>);
  });
  return seen;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('end to end over real MQTT', () => {
  it('accepts valid telemetry, marks the device online, and answers a bad payload on its errors topic', async () => {
    const device = t.credentials!.devices.find((d) => d.type === 'smoke')!;
    const c = await connect(device.id, device.secret);
    const errors = collect(c, topics.errors(device.id));
    await c.subscribeAsync(topics.errors(device.id), { qos: 1 });
    await c.publishAsync(
      topics.telemetry(device.id),
      JSON.stringify({ smoke: 0.01, temperature: 22, battery: 90 }),
      {
        qos: 1,
      },
    );
    await c.publishAsync(topics.telemetry(device.id), JSON.stringify({ smoke: 'high' }), { qos: 1 });
    const error = await until('errors message', () => errors[0]);
    expect(error).toMatchObject({
      code: 'PAYLOAD_INVALID',
      field: 'smoke',
      topic: topics.telemetry(device.id),
    });

    const admin = await t.login('admin');
    const view = (await (await t.api(admin, `/api/devices/${device.id}`)).json()) as Record<string, unknown>;
    expect(view.online).toBe(true);
    expect(view.lastSeen).toBe(new Date(clock.now()).toISOString());
    const metrics = await (await fetch(`${t.hub.urls.http}/metrics`)).text();
    expect(metrics).toMatch(/gridhub_ingest_\w+_total\{[^}]*\} [1-9]/);
  });

  it('refuses a wrong password and a publish to another device topic', async () => {
    const [a, b] = t.credentials!.devices.filter((d) => d.type === 'bin');
    await expect(
      connectAsync(t.hub.urls.mqtt, { username: a!.id, password: 'wrong', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Bad username or password|Not authorized/i);
    const c = await connect(a!.id, a!.secret);
    const before = t.hub.registry.devices.get(b!.id)?.lastSeen ?? null;
    await c
      .publishAsync(topics.telemetry(b!.id), JSON.stringify({ fill: 50 }), { qos: 0 })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.hub.registry.devices.get(b!.id)?.lastSeen ?? null).toBe(before);
  });

  it('routes a QoS 1 smoke alarm to the on-duty worker of its grid, and escalates to the leader at 1 minute', async () => {
    const creds = t.credentials!;
    const device = creds.devices.find((d) => d.type === 'smoke' && d.placeId.startsWith('E1-'))!;
    const worker = creds.workers.find((w) => w.personId === 'g1-worker-a')!;
    const leader = creds.workers.find((w) => w.personId === 'g1-leader')!;
    const workerPhone = await connect(worker.username, worker.token);
    const leaderPhone = await connect(leader.username, leader.token);
    const workerAlarms = collect(workerPhone, worker.alarmsTopic);
    const leaderAlarms = collect(leaderPhone, leader.alarmsTopic);
    await workerPhone.subscribeAsync(worker.alarmsTopic, { qos: 1 });
    await leaderPhone.subscribeAsync(leader.alarmsTopic, { qos: 1 });

    const sensor = await connect(device.id, device.secret);
    await sensor.publishAsync(topics.event(device.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });

    const alarm = await until('worker alarm', () => workerAlarms[0]);
    expect(alarm).toMatchObject({
      kind: 'alarm',
      severity: 'critical',
      device: { id: device.id, type: 'smoke' },
    });
    expect(leaderAlarms).toHaveLength(0);

    const manager = await t.login('manager');
    const list = (await (await t.api(manager, '/api/alerts?severity=critical')).json()) as {
      items: { id: string; status: string; light: string; deviceId: string }[];
    };
    const mine = list.items.find((a) => a.deviceId === device.id);
    expect(mine).toMatchObject({ status: 'dispatched', light: 'green' });

    clock.advance(59_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(leaderAlarms).toHaveLength(0);
    clock.advance(1_000);
    const escalation = await until('leader alarm', () => leaderAlarms[0]);
    expect(escalation).toMatchObject({ device: { id: device.id }, recipient: { personId: 'g1-leader' } });

    // Out of scope: a worker of grid 3 cannot see it.
    const other = await t.login('worker2');
    expect((await t.api(other, `/api/alerts/${mine!.id}`)).status).toBe(404);
  });

  it('lets duty staff and departments take their own alarms over MQTT, and nobody else', async () => {
    const tokenFor = async (username: string) => {
      const session = await t.login(username);
      const res = await t.api(session, '/api/auth/tokens', {
        method: 'POST',
        body: JSON.stringify({ label: 'phone' }),
      });
      return ((await res.json()) as { token: string }).token;
    };
    // The manager of the demo is the property duty of community 1: critical alarms there go to them at once.
    const manager = await connect('manager', await tokenFor('manager'));
    const managerAlarms = collect(manager, topics.workerAlarms('property-duty-1'));
    const own = await manager.subscribeAsync(topics.workerAlarms('property-duty-1'), { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    // mqtt.js turns a 0x80 grant into a rejection naming the failure.
    await expect(manager.subscribeAsync(topics.workerAlarms('g1-worker-a'), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const fire = await connect('fire', await tokenFor('fire'));
    expect((await fire.subscribeAsync(topics.workerAlarms('dept-fire'), { qos: 1 }))[0]?.qos).toBe(1);

    const device = t.credentials!.devices.find((d) => d.type === 'smoke' && d.placeId.startsWith('E2-'))!;
    const sensor = await connect(device.id, device.secret);
    await sensor.publishAsync(topics.event(device.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
    const alarm = await until('property duty alarm', () =>
      managerAlarms.find((a) => (a.device as { id: string }).id === device.id),
    );
    expect(alarm).toMatchObject({ severity: 'critical', recipient: { personId: 'property-duty-1' } });

    // An admin is no person on duty: no MQTT login.
    await expect(
      connectAsync(t.hub.urls.mqtt, {
        username: 'admin',
        password: await tokenFor('admin'),
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/i);
  });
});
