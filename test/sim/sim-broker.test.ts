/**
 * The simulator against a real (bare) aedes with device authentication and an own-topics ACL: proves the
 * clients connect with their credentials, publish the wire contract's topics and payloads, leave their will,
 * and that load mode counts what it sends. (test/sim/sim-hub.test.ts runs a scenario against the real hub.)
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../devices-sim/credentials.ts';
import { runLoad } from '../../devices-sim/load.ts';
import { runScenario } from '../../devices-sim/runner.ts';
import { parseScenario } from '../../devices-sim/scenario.ts';

const creds: Credentials = {
  generatedAt: '',
  mqttUrl: '',
  httpUrl: 'http://127.0.0.1:9',
  devices: [
    { id: 'smoke-001', type: 'smoke', placeId: 'U1', placeName: 'U1', floor: 3, secret: 'sec-1' },
    { id: 'smoke-002', type: 'smoke', placeId: 'U1', placeName: 'U1', floor: 5, secret: 'sec-2' },
    { id: 'bin-001', type: 'bin', placeId: 'E1', placeName: 'E1', floor: null, secret: 'sec-3' },
    { id: 'cam-001', type: 'throw_camera', placeId: 'B1', placeName: 'B1', floor: null, secret: 'sec-4' },
  ],
  users: [],
  workers: [],
};

let broker: Aedes;
let server: Server;
let url: string;
const seen: { topic: string; text: string }[] = [];
let watcher: mqtt.MqttClient;

beforeAll(async () => {
  const secrets = new Map(creds.devices.map((d) => [d.id, d.secret]));
  broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const ok =
        username === 'watcher' ||
        username === 'load-subscriber' ||
        (username !== undefined && secrets.get(username) === password?.toString());
      if (ok) (client as unknown as { user: string }).user = username as string;
      done(null, ok);
    },
    authorizePublish: (client, packet, done) => {
      const user = (client as unknown as { user?: string } | null)?.user;
      // Own topics only (wills are published by the broker for the client and pass the same check).
      done(user && packet.topic.startsWith(`gh/${user}/`) ? null : new Error('not allowed'));
    },
  });
  // Answer one malformed payload on the device's errors topic, as ingest does.
  broker.on('publish', (packet, client) => {
    if (client && packet.topic.endsWith('/telemetry') && packet.payload.toString().startsWith('{"fill": 4')) {
      const id = packet.topic.split('/')[1];
      broker.publish(
        {
          cmd: 'publish',
          topic: `gh/${id}/errors`,
          payload: Buffer.from('{"code":"PAYLOAD_NOT_JSON"}'),
          qos: 0,
          retain: false,
          dup: false,
        },
        () => undefined,
      );
    }
  });
  server = createServer({ noDelay: true }, broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  watcher = await mqtt.connectAsync(url, { username: 'watcher', password: 'x', protocolVersion: 4 });
  watcher.on('message', (topic, payload) => seen.push({ topic, text: payload.toString() }));
  await watcher.subscribeAsync('gh/#', { qos: 1 });
});

/** Poll a condition (bounded) instead of sleeping a guessed time. */
async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterAll(async () => {
  await watcher?.endAsync(true);
  await new Promise<void>((r) => broker.close(() => r()));
  server?.close();
});

describe('simulator over a real broker', () => {
  it('plays a scenario: credentials, topics, payloads, will on a dropped connection', async () => {
    const scenario = parseScenario(`
name: smoke-test
duration: 2m
background: { devices: none }
groups:
  smokes: { type: smoke, count: 2, samePlace: true, distinctFloors: true }
  bins: { type: bin, count: 1 }
timeline:
  - { at: 0s, target: 'smokes[0]', event: alarm }
  - { at: 10s, target: 'smokes[0]', telemetry: { alarm: true, smoke: 0.3 } }
  - { at: 20s, target: bins, raw: { channel: telemetry, payload: '{"fill": 4' } }
  - { at: 30s, target: 'smokes[1]', disconnect: true }
`);
    const lines: string[] = [];
    const outcome = await runScenario({
      scenario,
      credentials: { ...creds, mqttUrl: url },
      log: pino({ level: 'silent' }),
      speed: 120,
      checks: false,
      print: (l) => lines.push(l),
    });
    expect(outcome.connected).toBe(3);
    expect(outcome.failedConnections).toEqual([]);
    expect(outcome.errorsReceived).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    const texts = (topic: string) => seen.filter((m) => m.topic === topic).map((m) => m.text);
    expect(texts('gh/smoke-001/event')).toEqual(['{"event":"alarm"}']);
    expect(texts('gh/smoke-001/telemetry').map((t) => JSON.parse(t))).toEqual([{ alarm: true, smoke: 0.3 }]);
    expect(texts('gh/bin-001/telemetry')).toContain('{"fill": 4');
    // Online on connect; the dropped one's will says offline; the others say offline when they end.
    expect(texts('gh/smoke-002/status')).toEqual(['online', 'offline']);
    expect(texts('gh/smoke-001/status')).toEqual(['online', 'offline']);
    expect(lines.some((l) => l.includes('smokes[1]: smoke-002 connection dropped'))).toBe(true);
  });

  it('refuses to go on with wrong credentials, naming the device', async () => {
    const scenario = parseScenario(`
name: bad-creds
duration: 10s
groups: { g: { type: throw_camera, count: 1 } }
timeline: [{ at: 0s, target: g, telemetry: { online: true } }]
`);
    const outcome = await runScenario({
      scenario,
      credentials: {
        ...creds,
        mqttUrl: url,
        devices: creds.devices.map((d) => (d.type === 'throw_camera' ? { ...d, secret: 'wrong' } : d)),
      },
      log: pino({ level: 'silent' }),
      speed: 100,
      checks: false,
      print: () => undefined,
    });
    expect(outcome.connected).toBe(0);
    expect(outcome.failedConnections[0]?.reason).toMatch(/cam-001: connection refused/);
  });

  it('reconnects with backoff when the hub drops it, and says online again', async () => {
    const { createDeviceClient } = await import('../../devices-sim/device-client.ts');
    const d = creds.devices[3] as (typeof creds.devices)[number];
    const client = createDeviceClient({
      url,
      id: d.id,
      secret: d.secret,
      log: pino({ level: 'silent' }),
      minBackoffMs: 100,
      maxBackoffMs: 400,
    });
    await client.connect();
    const statuses = () => seen.filter((m) => m.topic === `gh/${d.id}/status`).map((m) => m.text);
    await until(() => statuses().filter((s) => s === 'online').length === 1);
    // The broker side closes the socket, as a hub restart or a network cut would.
    const server = (broker as unknown as { clients: Record<string, { conn: { destroy(): void } }> }).clients[
      d.id
    ];
    server?.conn.destroy();
    await until(() => statuses().filter((s) => s === 'online').length >= 2);
    expect(client.connected()).toBe(true);
    await client.end();
  });

  it('load mode sends what it says, QoS 1 acknowledged, counted by a subscriber', async () => {
    const r = await runLoad({
      mqttUrl: url,
      devices: creds.devices.slice(0, 3),
      rate: 600,
      qos: 1,
      durationS: 1,
      subscribeAll: true,
    });
    expect(r.connections).toBe(3);
    // The pacing offers 600 msg/s: a second gives about 600, never wildly more.
    expect(r.sent).toBeGreaterThan(400);
    expect(r.sent).toBeLessThanOrEqual(610);
    expect(r.completed).toBe(r.sent);
    expect(r.received).toBe(r.sent);
    expect(r.rejected).toBe(0);
  });
});
