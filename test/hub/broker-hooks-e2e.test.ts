import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_HOOK_PATHS } from '../../src/api/broker-hook-routes.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/**
 * A hub in the external-broker mode behind a broker that asks the hub's hooks about every login, publish and
 * subscription, the way deploy/emqx/emqx.conf has EMQX do it (the same request bodies, the bearer secret, and
 * anything but a 200 with "allow" refused). There is no EMQX here: the broker is aedes with those hooks. aedes
 * delivers nothing on `$share/…` subscriptions (stack.md), so device messages do not reach the hub's consumer
 * here; the message path behind an external broker is test/ingest/external.test.ts (Mosquitto).
 */

const SECRET = 'e2e-hook-secret-0123456789abcdef';
const HUB_USER = 'gridhub-hub';
const HUB_PASSWORD = 'e2e-hub-password-0123456789';

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

let httpPort: number;
let broker: Aedes;
let server: Server;
let brokerUrl: string;
let t: TestHub;
const asked: string[] = [];

async function ask(path: string, body: Record<string, string>): Promise<boolean> {
  asked.push(path);
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) return false;
    return ((await res.json()) as { result?: string }).result === 'allow';
  } catch {
    return false;
  }
}

const superusers = new WeakSet<object>();
const usernames = new WeakMap<object, string>();

beforeAll(async () => {
  httpPort = await freePort();
  const hooks: Partial<AedesOptions> = {
    authenticate(client, username, password, done) {
      asked.push(`${BROKER_HOOK_PATHS.authn} ${username ?? ''}`);
      usernames.set(client, username ?? '');
      const body = {
        clientid: client.id,
        username: username ?? '',
        password: password?.toString('utf8') ?? '',
        peerhost: '127.0.0.1',
      };
      void fetch(`http://127.0.0.1:${httpPort}${BROKER_HOOK_PATHS.authn}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
        body: JSON.stringify(body),
      })
        .then(async (res) =>
          res.status === 200 ? ((await res.json()) as { result: string; is_superuser: boolean }) : null,
        )
        .catch(() => null)
        .then((answer) => {
          if (answer?.is_superuser) superusers.add(client);
          if (answer?.result === 'allow') done(null, true);
          else done(Object.assign(new Error('refused'), { returnCode: 5 }) as never, false);
        });
    },
    authorizeSubscribe(client, sub, done) {
      if (superusers.has(client)) return done(null, sub);
      void ask(BROKER_HOOK_PATHS.authz, {
        clientid: client.id,
        username: usernames.get(client) ?? '',
        topic: sub.topic,
        action: 'subscribe',
      }).then((ok) => done(null, ok ? sub : null));
    },
  };
  broker = await Aedes.createBroker(hooks);
  server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  brokerUrl = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  t = await startTestHub({
    env: {
      GRIDHUB_HTTP_PORT: String(httpPort),
      GRIDHUB_MQTT_EXTERNAL_URL: brokerUrl,
      GRIDHUB_MQTT_EXTERNAL_USERNAME: HUB_USER,
      GRIDHUB_MQTT_EXTERNAL_PASSWORD: HUB_PASSWORD,
      GRIDHUB_MQTT_EXTERNAL_CLIENT_ID: 'hub-e2e',
      GRIDHUB_MQTT_EXTERNAL_CONSUMERS: '1',
      GRIDHUB_MQTT_HOOK_SECRET: SECRET,
    },
  });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await new Promise<void>((r) => (broker ? broker.close(() => r()) : r()));
  server?.close();
});

describe('a hub behind a broker that asks its hooks', () => {
  it('starts: its own consumer was let in through its hooks, which answered before it connected', () => {
    expect(asked).toContain(`${BROKER_HOOK_PATHS.authn} ${HUB_USER}`);
    expect(t.hub.urls.mqtt).toBe(`mqtt://127.0.0.1:${new URL(brokerUrl).port}`);
    // the consumer is a superuser: its shared subscriptions were not asked about
    expect(asked).not.toContain(BROKER_HOOK_PATHS.authz);
  });

  it('lets a provisioned device in with its secret only, and gives it its own downlink only', async () => {
    const button = t.credentials?.devices.find((d) => d.type === 'call_button');
    const other = t.credentials?.devices.find((d) => d.type !== 'call_button');
    if (!button || !other) throw new Error('demo devices missing');
    await expect(
      connectAsync(brokerUrl, {
        clientId: button.id,
        username: button.id,
        password: 'wrong',
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/i);
    const device = await connectAsync(brokerUrl, {
      clientId: button.id,
      username: button.id,
      password: button.secret,
      reconnectPeriod: 0,
    });
    try {
      const granted = (filter: string) =>
        device.subscribeAsync(filter, { qos: 1 }).then(
          (g) => (g[0] && g[0].qos < 128 ? 'granted' : 'refused'),
          () => 'refused',
        );
      expect(await granted(`gh/${button.id}/errors`)).toBe('granted');
      expect(await granted(`gh/${other.id}/errors`)).toBe('refused');
      expect(await granted('gh/+/event')).toBe('refused');
    } finally {
      await device.endAsync(true);
    }
  });

  it('a device cannot log in under another client id (it would take that session)', async () => {
    const button = t.credentials?.devices.find((d) => d.type === 'call_button');
    if (!button) throw new Error('demo devices missing');
    await expect(
      connectAsync(brokerUrl, {
        clientId: 'hub-e2e-0',
        username: button.id,
        password: button.secret,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/i);
  });
});
