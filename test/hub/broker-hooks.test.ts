import { Writable } from 'node:stream';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_HOOK_PATHS } from '../../src/api/broker-hook-routes.ts';
import { topics } from '../../src/domain/wire.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/**
 * The hooks EMQX 5's HTTP authentication and authorization call, over the hub's real HTTP port, against devices
 * provisioned through the API and a worker's API token: the same answers the embedded broker gives.
 */

const SECRET = 'hook-secret-for-tests-0123456789';
const HUB_USER = 'gridhub-hub';
const HUB_PASSWORD = 'hub-consumer-password-for-tests';

const logLines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
});

let t: TestHub;
let admin: string;
let deviceId: string;
let deviceSecret: string;
let spareId: string;
let spareSecret: string;
let workerToken: string;
let workerAlarms: string;

type Json = Record<string, unknown>;

async function hook(path: string, body: Json, secret: string | null = SECRET): Promise<Response> {
  return fetch(`${t.hub.urls.http}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(secret === null ? {} : { authorization: `Bearer ${secret}` }),
    },
    body: JSON.stringify(body),
  });
}

async function authn(body: Json): Promise<Json> {
  const res = await hook(BROKER_HOOK_PATHS.authn, { peerhost: '10.0.0.1', ...body });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Json;
}

async function authz(username: string, action: 'publish' | 'subscribe', topic: string): Promise<string> {
  const res = await hook(BROKER_HOOK_PATHS.authz, { clientid: username, username, action, topic, qos: '1' });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: string }).result;
}

async function provision(): Promise<{ id: string; secret: string }> {
  const placeId = t.hub.registry.devices.list()[0]?.placeId;
  const res = await t.api(admin, '/api/devices', {
    method: 'POST',
    body: JSON.stringify({ type: 'call_button', placeId }),
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { device: { id: string }; secret: string };
  return { id: body.device.id, secret: body.secret };
}

beforeAll(async () => {
  t = await startTestHub({
    log: createLogger('info', {}, capture),
    env: {
      GRIDHUB_MQTT_HOOK_SECRET: SECRET,
      GRIDHUB_MQTT_EXTERNAL_USERNAME: HUB_USER,
      GRIDHUB_MQTT_EXTERNAL_PASSWORD: HUB_PASSWORD,
      GRIDHUB_HTTP_LOGIN_FREE_ATTEMPTS: '3',
      GRIDHUB_HTTP_RATE_LIMIT_PER_MINUTE: '40',
    },
  });
  admin = await t.login('admin');
  ({ id: deviceId, secret: deviceSecret } = await provision());
  ({ id: spareId, secret: spareSecret } = await provision());
  const worker = await t.login('worker');
  const issued = await t.api(worker, '/api/auth/tokens', { method: 'POST', body: JSON.stringify({}) });
  expect(issued.status).toBe(201);
  workerToken = ((await issued.json()) as { token: string }).token;
  const personId = t.hub.registry.users.get('worker')?.personId;
  if (!personId) throw new Error('demo worker has no person');
  workerAlarms = topics.workerAlarms(personId);
});
afterAll(async () => {
  await t?.close();
});

describe('broker authentication hook', () => {
  it('lets a provisioned device in with its secret, as no superuser', async () => {
    expect(await authn({ clientid: deviceId, username: deviceId, password: deviceSecret })).toEqual({
      result: 'allow',
      is_superuser: false,
    });
  });

  it('refuses a wrong secret, and logs the device and the reason but never the secret', async () => {
    const wrong = 'not-the-device-secret-at-all';
    expect(await authn({ clientid: deviceId, username: deviceId, password: wrong })).toEqual({
      result: 'deny',
      is_superuser: false,
    });
    const line = logLines.find((l) => l.includes('external broker login refused') && l.includes(deviceId));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({ deviceId, reason: 'bad_credentials' });
    const all = logLines.join('');
    expect(all).not.toContain(wrong);
    expect(all).not.toContain(deviceSecret);
  });

  it("refuses a client id outside the device's namespace, and anyone's id in a device's namespace", async () => {
    const other = { username: deviceId, password: deviceSecret };
    expect((await authn({ ...other, clientid: 'someone-else' })).result).toBe('deny');
    // one client id per device: EMQX's hash_clientid keeps a device on one hub instance by it
    expect((await authn({ ...other, clientid: `${deviceId}:diag` })).result).toBe('deny');
    // a worker may not take the device's session (MQTT-3.1.4-2 would knock the device off)
    expect((await authn({ clientid: deviceId, username: 'worker', password: workerToken })).result).toBe(
      'deny',
    );
  });

  it('refuses a disabled device even with its secret', async () => {
    const res = await t.api(admin, `/api/devices/${spareId}`, {
      method: 'PATCH',
      body: JSON.stringify({ enabled: false }),
    });
    expect(res.status).toBe(200);
    expect((await authn({ clientid: spareId, username: spareId, password: spareSecret })).result).toBe(
      'deny',
    );
    expect(await authz(spareId, 'publish', topics.event(spareId))).toBe('deny');
    await t.api(admin, `/api/devices/${spareId}`, {
      method: 'PATCH',
      body: JSON.stringify({ enabled: true }),
    });
    expect((await authn({ clientid: spareId, username: spareId, password: spareSecret })).result).toBe(
      'allow',
    );
  });

  it('lets a worker in with an API token until the token expires, and refuses a wrong token', async () => {
    const ok = await authn({ clientid: 'wv-worker-1', username: 'worker', password: workerToken });
    expect(ok).toMatchObject({ result: 'allow', is_superuser: false });
    expect(ok.expire_at).toBeGreaterThan(Math.floor(t.hub.clock.now() / 1000));
    expect(
      (await authn({ clientid: 'wv-worker-1', username: 'worker', password: `${workerToken}x` })).result,
    ).toBe('deny');
  });

  it("makes the hub's own consumer account the superuser, and only with its password", async () => {
    expect(await authn({ clientid: 'hub-a-0', username: HUB_USER, password: HUB_PASSWORD })).toEqual({
      result: 'allow',
      is_superuser: true,
    });
    expect((await authn({ clientid: 'hub-a-0', username: HUB_USER, password: 'guess' })).result).toBe('deny');
  });

  it('refuses anonymous logins', async () => {
    expect((await authn({ clientid: 'x', username: '', password: '' })).result).toBe('deny');
  });

  it('throttles failed attempts like the embedded broker: after the free ones even the right secret waits', async () => {
    const peerhost = '10.9.9.9';
    for (let i = 0; i < 3; i++)
      expect(
        (await authn({ peerhost, clientid: spareId, username: spareId, password: `wrong-${i}` })).result,
      ).toBe('deny');
    const after = await authn({ peerhost, clientid: spareId, username: spareId, password: spareSecret });
    expect(after.result).toBe('deny');
    const metrics = await (await fetch(`${t.hub.urls.http}/metrics`)).text();
    expect(metrics).toMatch(/gridhub_broker_hook_refusals_total\{hook="authn",reason="throttled"\} [1-9]/);
  });
});

describe('broker authorization hook: the device contract', () => {
  const cases: {
    what: string;
    action: 'publish' | 'subscribe';
    topic: (id: string) => string;
    expected: 'allow' | 'deny';
  }[] = [
    { what: 'its telemetry', action: 'publish', topic: (id) => `gh/${id}/telemetry`, expected: 'allow' },
    { what: 'its events', action: 'publish', topic: (id) => `gh/${id}/event`, expected: 'allow' },
    { what: 'its status (and will)', action: 'publish', topic: (id) => `gh/${id}/status`, expected: 'allow' },
    { what: 'its own errors topic', action: 'publish', topic: (id) => `gh/${id}/errors`, expected: 'deny' },
    {
      what: 'an unknown topic of its own',
      action: 'publish',
      topic: (id) => `gh/${id}/config`,
      expected: 'deny',
    },
    {
      what: "another device's telemetry",
      action: 'publish',
      topic: () => 'gh/other-device/telemetry',
      expected: 'deny',
    },
    { what: "a worker's alarms", action: 'publish', topic: () => 'gh/workers/p1/alarms', expected: 'deny' },
    {
      what: 'its errors (its downlink)',
      action: 'subscribe',
      topic: (id) => `gh/${id}/errors`,
      expected: 'allow',
    },
    {
      what: "another device's errors",
      action: 'subscribe',
      topic: () => 'gh/other-device/errors',
      expected: 'deny',
    },
    { what: 'every device', action: 'subscribe', topic: () => 'gh/+/telemetry', expected: 'deny' },
    { what: 'everything', action: 'subscribe', topic: () => '#', expected: 'deny' },
    {
      what: 'the shared consumer subscription',
      action: 'subscribe',
      topic: () => '$share/gridhub/gh/+/event',
      expected: 'deny',
    },
  ];
  it.each(cases)('a device may $action on $what: $expected', async ({ action, topic, expected }) => {
    expect(await authz(deviceId, action, topic(deviceId))).toBe(expected);
  });

  it('a worker subscribes to its own alarms only and publishes nothing', async () => {
    expect(await authz('worker', 'subscribe', workerAlarms)).toBe('allow');
    expect(await authz('worker', 'subscribe', 'gh/workers/+/alarms')).toBe('deny');
    expect(await authz('worker', 'subscribe', 'gh/workers/someone-else/alarms')).toBe('deny');
    expect(await authz('worker', 'publish', workerAlarms)).toBe('deny');
    expect(await authz('worker', 'subscribe', `gh/${deviceId}/telemetry`)).toBe('deny');
  });

  it('an integration names the devices of its scope one by one (no per-message scope filter on EMQX)', async () => {
    const scopeId = t.hub.registry.devices.get(deviceId)?.placeId as string;
    const res = await t.api(admin, '/api/integrations/credentials', {
      method: 'POST',
      body: JSON.stringify({ username: 'hook-flows', scope: [scopeId] }),
    });
    expect(res.status).toBe(201);
    const outside = t.hub.registry.devices.list().find((d) => !Object.values(d.place).includes(scopeId));
    if (!outside) throw new Error('the demo has no device outside the scope');
    expect(await authz('hook-flows', 'subscribe', `gh/${deviceId}/telemetry`)).toBe('allow');
    expect(await authz('hook-flows', 'subscribe', `gh/${deviceId}/+`)).toBe('allow');
    expect(await authz('hook-flows', 'subscribe', `gh/${outside.id}/telemetry`)).toBe('deny');
    expect(await authz('hook-flows', 'subscribe', 'gh/+/telemetry')).toBe('deny');
    expect(await authz('hook-flows', 'subscribe', 'gh/integrations/readings/#')).toBe('deny');
    expect(await authz('hook-flows', 'publish', `gh/${deviceId}/telemetry`)).toBe('deny');
  });

  it('an unknown user name gets nothing', async () => {
    expect(await authz('nobody-here', 'subscribe', 'gh/+/telemetry')).toBe('deny');
  });

  it('gives the same subscription answers as the embedded broker for a real device session', async () => {
    const filters = [
      `gh/${deviceId}/errors`,
      `gh/${deviceId}/telemetry`,
      'gh/+/errors',
      'gh/workers/p1/alarms',
      '#',
    ];
    const device = await connectAsync(t.hub.urls.mqtt, {
      clientId: deviceId,
      username: deviceId,
      password: deviceSecret,
      reconnectPeriod: 0,
    });
    try {
      for (const filter of filters) {
        // mqtt.js rejects a SUBACK of 0x80 (refused)
        const embedded = await device.subscribeAsync(filter, { qos: 1 }).then(
          (granted) => (granted[0] && granted[0].qos < 128 ? 'allow' : 'deny'),
          () => 'deny',
        );
        expect(await authz(deviceId, 'subscribe', filter), filter).toBe(embedded);
      }
    } finally {
      await device.endAsync(true);
    }
  });
});

describe('the hooks are for the broker only', () => {
  it('without the secret: 401; with a wrong one: 403; neither reaches the check', async () => {
    const body = { clientid: deviceId, username: deviceId, password: deviceSecret };
    expect((await hook(BROKER_HOOK_PATHS.authn, body, null)).status).toBe(401);
    expect((await hook(BROKER_HOOK_PATHS.authn, body, `${SECRET}-not`)).status).toBe(403);
    expect(
      (await hook(BROKER_HOOK_PATHS.authz, { username: deviceId, action: 'publish', topic: 'x' }, null))
        .status,
    ).toBe(401);
  });

  it('callers without the secret are rate-limited per address; the broker is not', async () => {
    let limited = false;
    for (let i = 0; i < 60 && !limited; i++)
      limited =
        (await hook(BROKER_HOOK_PATHS.authz, { username: 'x', action: 'publish', topic: 'x' }, 'bad'))
          .status === 429;
    expect(limited).toBe(true);
    expect(await authz(deviceId, 'publish', topics.telemetry(deviceId))).toBe('allow');
  });

  it('are not there at all when no secret is set (404)', async () => {
    const plain = await startTestHub({ demo: false });
    try {
      const res = await fetch(`${plain.hub.urls.http}${BROKER_HOOK_PATHS.authn}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
        body: '{}',
      });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
