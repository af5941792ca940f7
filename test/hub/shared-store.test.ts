import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { loadServerKey } from '../../src/registry/secrets.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';

/**
 * Two whole hubs on one PostgreSQL (issue #18), each with its own broker and data dir: the demo is seeded once,
 * a press on one hub's broker raises one alert, and the other hub's API lists it and its live stream streams it.
 * Both hash device secrets with one server key (GRIDHUB_SECRET_KEY_FILE), so a device seeded through one
 * connects to the other.
 */
describe.skipIf(POSTGRES_MISSING !== undefined)('two hubs on one PostgreSQL', () => {
  let pgc: TestPostgres;
  let keyDir: string;
  const hubs: TestHub[] = [];
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    pgc = await startPostgres();
    keyDir = mkdtempSync(join(tmpdir(), 'gridhub-key-'));
    loadServerKey(join(keyDir, 'hub.key'));
  }, 60_000);
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    for (const h of hubs.splice(0)) await h.close();
  });
  afterAll(async () => {
    await pgc?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });
  const shared = (url: string, name: string, clock?: ManualClock) => ({
    env: {
      GRIDHUB_DATABASE_URL: url,
      GRIDHUB_INSTANCE_ID: name,
      GRIDHUB_SECRET_KEY_FILE: join(keyDir, 'hub.key'),
    },
    ...(clock ? { clock } : {}),
  });

  async function login(hub: TestHub, username: string, password: string): Promise<string> {
    const res = await fetch(`${hub.hub.urls.http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  /** The alert events of a hub's live stream, as a board reads them. */
  async function stream(hub: TestHub, token: string): Promise<{ type: string; alertId: string }[]> {
    const issued = await hub.api(token, '/api/auth/stream-ticket', { method: 'POST', body: '{}' });
    const { ticket } = (await issued.json()) as { ticket: string };
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(new URL(`/api/alerts/stream?ticket=${ticket}`, hub.hub.urls.http), resolve);
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    const events: { type: string; alertId: string }[] = [];
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (block.includes('event: alert') && data)
          events.push(JSON.parse(data) as { type: string; alertId: string });
      }
    });
    clients.push({ endAsync: async () => void res.destroy() } as unknown as MqttClient);
    return events;
  }

  async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`${what} not within 10 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('a press taken by one hub is one alert, listed and streamed live by the other', async () => {
    const url = await pgc.createDatabase();
    const a = await startTestHub(shared(url, 'hub-a'));
    hubs.push(a);
    const b = await startTestHub(shared(url, 'hub-b'));
    hubs.push(b);
    // seeded once, by the first: the second found it done and wrote no credentials of its own
    const creds = a.credentials;
    expect(creds).toBeDefined();
    expect(b.credentials).toBeUndefined();
    const manager = creds?.users.find((u) => u.username === 'manager');
    const onB = await login(b, 'manager', manager?.password as string);
    const boardOfB = await stream(b, onB);

    const button = creds?.devices.find((d) => d.type === 'call_button');
    expect(button).toBeDefined();
    const device = await connectAsync(a.hub.urls.mqtt, {
      clientId: button?.id,
      username: button?.id,
      password: button?.secret,
      reconnectPeriod: 0,
    });
    clients.push(device);
    await device.publishAsync(topics.event(button?.id as string), JSON.stringify({ event: 'press' }), {
      qos: 1,
    });

    const listed = await until('the alert in B’s list', async () => {
      const res = await b.api(onB, '/api/alerts');
      const body = (await res.json()) as { items: { id: string; deviceId: string }[] };
      return body.items.find((x) => x.deviceId === button?.id);
    });
    const opened = await until('B’s board hears it opened', () =>
      boardOfB.find((e) => e.alertId === listed.id && e.type === 'opened'),
    );
    expect(opened.alertId).toBe(listed.id);
    // one alert, whichever hub is asked
    const onA = await login(a, 'manager', manager?.password as string);
    for (const [hub, token] of [
      [a, onA],
      [b, onB],
    ] as const) {
      const res = await hub.api(token, `/api/alerts?deviceId=${button?.id}`);
      const body = (await res.json()) as { total: number };
      expect(body.total).toBe(1);
    }
    // the device seeded through A connects to B with the same secret
    const onBroker = await connectAsync(b.hub.urls.mqtt, {
      clientId: button?.id,
      username: button?.id,
      password: button?.secret,
      reconnectPeriod: 0,
    });
    clients.push(onBroker);
    expect(onBroker.connected).toBe(true);
  });
  it('an escalation step scheduled by an instance that is gone is fired by another, once', async () => {
    const url = await pgc.createDatabase();
    const clock = new ManualClock(Date.parse('2026-12-01T08:00:00Z'));
    const a = await startTestHub(shared(url, 'hub-a', clock));
    hubs.push(a);
    const b = await startTestHub(shared(url, 'hub-b', clock));
    hubs.push(b);
    const creds = a.credentials;
    const sensor = creds?.devices.find((d) => d.type === 'smoke' && d.placeId.startsWith('E1-'));
    const device = await connectAsync(a.hub.urls.mqtt, {
      clientId: sensor?.id,
      username: sensor?.id,
      password: sensor?.secret,
      reconnectPeriod: 0,
    });
    clients.push(device);
    await device.publishAsync(topics.event(sensor?.id as string), JSON.stringify({ event: 'alarm' }), {
      qos: 1,
    });
    const manager = creds?.users.find((u) => u.username === 'manager');
    const onB = await login(b, 'manager', manager?.password as string);
    const alertId = await until('the alert on B', async () => {
      const res = await b.api(onB, `/api/alerts?deviceId=${sensor?.id}`);
      return ((await res.json()) as { items: { id: string }[] }).items[0]?.id;
    });
    // A scheduled the first step (unacknowledged for 1 minute) and goes away before it is due; B raised nothing
    // and had no timer of its own armed
    await device.endAsync(true);
    await a.close();
    hubs.splice(hubs.indexOf(a), 1);
    const escalated = async () => {
      const res = await b.api(onB, `/api/alerts/${alertId}`);
      const body = (await res.json()) as { timeline: { type: string }[] };
      return body.timeline.filter((e) => e.type === 'escalated');
    };
    expect(await escalated()).toEqual([]);
    // B's heartbeat sweep reads the schedule again each lease period (1 s of its clock): the step fires when
    // due, on B. The clock moves a second per look, so each renewal's reads settle before the next.
    const opened = clock.now();
    await until('the step fired by B', async () => {
      clock.advance(1_000);
      return (await escalated()).length > 0 ? true : undefined;
    });
    expect(clock.now() - opened).toBeGreaterThanOrEqual(60_000);
    clock.advance(5_000);
    expect(await escalated()).toHaveLength(1);
  });
});
