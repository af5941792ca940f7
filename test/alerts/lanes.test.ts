import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import type { Ingest } from '../../src/ingest/ingest.ts';
import { Receiver } from '../channels/receiver.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

// 2026-01-05 16:00 in Shanghai: the day shifts of the demo grids are on duty.
const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

let t: TestHub | undefined;
let rx: Receiver | undefined;
let hanging: { server: Server; sockets: Socket[]; requests: number } | undefined;
const clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const s of hanging?.sockets ?? []) s.destroy();
  await new Promise<void>((resolve) => (hanging ? hanging.server.close(() => resolve()) : resolve()));
  await t?.close();
  await rx?.stop();
  t = undefined;
  rx = undefined;
  hanging = undefined;
});

/** A TCP server that accepts every connection, reads the request, and never answers. */
async function startHangingServer(): Promise<{
  server: Server;
  sockets: Socket[];
  requests: number;
  url: string;
}> {
  const state = { server: createServer(), sockets: [] as Socket[], requests: 0, url: '' };
  state.server.on('connection', (socket) => {
    state.sockets.push(socket);
    socket.on('data', () => state.requests++);
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  const address = state.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  state.url = `http://127.0.0.1:${address.port}/robot/send`;
  return state;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function phone(
  hub: TestHub,
  personId: string,
): Promise<{ client: MqttClient; alarms: Record<string, unknown>[] }> {
  const w = hub.credentials?.workers.find((x) => x.personId === personId);
  if (!w) throw new Error(`no demo worker ${personId}`);
  const client = await connectAsync(hub.hub.urls.mqtt, {
    username: w.username,
    password: w.token,
    clientId: `phone-${personId}`,
    reconnectPeriod: 0,
  });
  clients.push(client);
  const alarms: Record<string, unknown>[] = [];
  client.on('message', (topic, payload) => {
    if (topic === w.alarmsTopic) alarms.push(JSON.parse(payload.toString()) as Record<string, unknown>);
  });
  await client.subscribeAsync(w.alarmsTopic, { qos: 1 });
  return { client, alarms };
}

/** The live stream as a dashboard opens it: a single-use ticket, then Server-Sent Events. */
async function openStream(hub: TestHub, token: string) {
  const res = await hub.api(token, '/api/auth/stream-ticket', { method: 'POST' });
  const { ticket } = (await res.json()) as { ticket: string };
  const events: { type: string; alertId: string }[] = [];
  const before = hub.hub.dispatcher.stream.subscribers;
  const sse = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(
      `${hub.hub.urls.http}/api/alerts/stream?ticket=${encodeURIComponent(ticket)}`,
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
  let buf = '';
  sse.setEncoding('utf8');
  sse.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const data = buf
        .slice(0, i)
        .split('\n')
        .find((l) => l.startsWith('data: '));
      buf = buf.slice(i + 2);
      if (data) events.push(JSON.parse(data.slice(6)) as { type: string; alertId: string });
    }
  });
  await until('stream subscribed', () => hub.hub.dispatcher.stream.subscribers > before);
  return { events, close: () => sse.destroy() };
}

function smokeOf(hub: TestHub, grid: string) {
  const d = hub.credentials?.devices.find(
    (x) => x.type === 'smoke' && hub.hub.registry.devices.get(x.id)?.place.grid === grid,
  );
  if (!d) throw new Error(`no smoke sensor in ${grid}`);
  return d;
}

async function press(hub: TestHub, device: { id: string; secret: string }): Promise<void> {
  const sensor = await connectAsync(hub.hub.urls.mqtt, {
    username: device.id,
    password: device.secret,
    clientId: device.id,
    reconnectPeriod: 0,
  });
  clients.push(sensor);
  await sensor.publishAsync(topics.event(device.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
}

/** The device's latest alert, from its table (the read side's API is not what this test is about). */
function alertOf(hub: TestHub, deviceId: string): { id: string } | undefined {
  return hub.hub.db
    .prepare<[string], { id: string }>(
      'SELECT id FROM alerts WHERE device_id = ? ORDER BY opened_at DESC LIMIT 1',
    )
    .get(deviceId);
}

interface OutboxState {
  attempts: number;
  state: string;
  claimed_by: string | null;
}

describe('delivery lanes: one bad receiver delays only its own messages', () => {
  it('a robot that never answers, a robot answering 500 and a phone that stops reading hold up neither another grid’s MQTT alarm nor the live stream', async () => {
    const hang = await startHangingServer();
    hanging = hang;
    rx = await new Receiver().start();
    rx.script('/g2', { status: 500, body: { errcode: 500 } });
    t = await startTestHub({
      clock: new ManualClock(T0),
      env: {
        GRIDHUB_ALERTS_WEBHOOKS: JSON.stringify({
          'g1-robot': { url: hang.url },
          'g2-robot': { url: rx.url('/g2') },
        }),
        // long enough that the hanging robot is still in flight at every assertion below
        GRIDHUB_ALERTS_DELIVERY_TIMEOUT_MS: '60s',
        GRIDHUB_ALERTS_LANE_TIMEOUTS_MS: JSON.stringify({ mqtt: 60_000, wecom: 60_000 }),
      },
    });
    const hub = t;
    const { dispatcher, db } = hub.hub;
    await dispatcher.channelTargets.add({
      placeId: 'G1',
      role: null,
      channel: 'wecom',
      target: 'g1-robot',
      label: null,
    });
    await dispatcher.channelTargets.add({
      placeId: 'G2',
      role: null,
      channel: 'wecom',
      target: 'g2-robot',
      label: null,
    });

    const admin = await hub.login('admin');
    const stream = await openStream(hub, admin);
    const g3 = await phone(hub, 'g3-worker-a');

    // Grid 1's worker's phone freezes: it stops reading its socket while alarms keep coming to it.
    const frozen = await phone(hub, 'g1-worker-a');
    // The broker's side of it (the phone itself reads nothing, so it would not notice the close).
    const broker = (hub.hub.ingest as Ingest).broker as unknown as { clients: Record<string, unknown> };
    let frozenClosedAt: number | undefined;
    const watch = setInterval(() => {
      // the hub names a worker's session after its user: ~worker:{username}:{clientId}
      if (!Object.keys(broker.clients).some((id) => id.endsWith(':phone-g1-worker-a')))
        frozenClosedAt ??= Date.now();
    }, 5);
    frozen.client.stream.pause();

    // Grid 1 (hanging robot, frozen phone) and grid 2 (robot answering 500) go first.
    await press(hub, smokeOf(hub, 'G1'));
    await press(hub, smokeOf(hub, 'G2'));
    await until('the hanging robot got its request', () => hang.requests > 0);
    await until('the failing robot answered 500', () => rx?.at('/g2').length);

    // More for the frozen phone than its socket holds: from here it has bytes waiting that it never takes.
    const big = { kind: 'test', detail: 'x'.repeat(60 * 1024) };
    const flood = Array.from({ length: 100 }, () =>
      hub.hub.ingest.publishToWorker('g1-worker-a', big).catch(() => undefined),
    );
    const g3Device = smokeOf(hub, 'G3');
    const pressedAt = Date.now();
    await press(hub, g3Device);
    const alarm = await until('grid 3 alarm', () => g3.alarms.find((a) => a.kind === 'alarm'));
    const arrivedAt = Date.now();
    expect(alarm).toMatchObject({ severity: 'critical', device: { id: g3Device.id } });

    // The hub clock has not moved: the alarm went out on its commit, not on a timer or a polling pass. And it
    // came while the hanging robot's attempt was still open (claimed, no outcome) and before the frozen phone
    // was cut off.
    const g1Robot = db
      .prepare<[], OutboxState>(
        "SELECT attempts, state, claimed_by FROM alert_outbox WHERE channel = 'wecom' AND target = 'g1-robot'",
      )
      .get();
    expect(g1Robot).toMatchObject({ attempts: 0, state: 'pending' });
    expect(g1Robot?.claimed_by).not.toBeNull();
    expect(hang.sockets.some((s) => !s.destroyed)).toBe(true);
    expect(frozenClosedAt).toBeUndefined();

    // The live stream showed grid 3's alert, also before the hanging attempt ended.
    const g3Alert = alertOf(hub, g3Device.id);
    expect(g3Alert).toBeDefined();
    await until('grid 3 on the live stream', () =>
      stream.events.some((e) => e.alertId === g3Alert?.id && e.type === 'opened'),
    );
    expect(
      db.prepare<[], OutboxState>("SELECT attempts FROM alert_outbox WHERE target = 'g1-robot'").get(),
    ).toMatchObject({ attempts: 0 });

    // Each outcome is in the rows and the timelines: grid 3's MQTT alarm delivered, grid 2's robot failed (500)
    // and waiting to retry.
    const g3Timeline = await dispatcher.timeline(g3Alert?.id ?? '');
    expect(g3Timeline.find((e) => e.type === 'delivered' && e.data.channel === 'mqtt')).toBeDefined();
    const g2Alert = alertOf(hub, smokeOf(hub, 'G2').id);
    await until('grid 2 robot failure recorded', async () =>
      (await dispatcher.timeline(g2Alert?.id ?? '')).find(
        (e) => e.type === 'delivery_failed' && e.data.status === 500,
      ),
    );

    // The frozen phone is cut off within about the drain timeout (1.5 s), its drops counted.
    await until('frozen phone cut off', () => frozenClosedAt, 4000);
    clearInterval(watch);
    expect((frozenClosedAt ?? 0) - pressedAt).toBeLessThan(4000);
    await Promise.all(flood);
    const metrics = await hub.hub.metrics.metrics();
    // counted: by aedes' drain timeout when its writes were refused, else by the stall guard (slow-subscribers.ts)
    const count = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? 0);
    expect(
      count(/gridhub_ingest_protocol_errors_total\{reason="drain_timeout"\} (\d+)/) +
        count(/gridhub_ingest_slow_subscribers_cut_total (\d+)/),
    ).toBe(1);
    console.log(
      `grid 3: press → alarm ${arrivedAt - pressedAt} ms with a hanging robot, a 500 robot and a frozen phone`,
    );
    stream.close();
  }, 30_000);
});
