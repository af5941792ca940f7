import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { granted } from '../ingest/harness.ts';

/** The hub's side of the Node-RED nodes, without Node-RED: the integration readings feed and its ACL. */
describe('integration readings feed', () => {
  let th: TestHub;
  let admin: string;
  let g1: { username: string; token: string };
  const clients: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    th = await startTestHub();
    admin = await th.login('admin');
    const res = await th.api(admin, '/api/integrations/credentials', {
      method: 'POST',
      body: JSON.stringify({ username: 'feed-g1', scope: ['G1'] }),
    });
    expect(res.status).toBe(201);
    g1 = (await res.json()) as { username: string; token: string };
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await th?.close();
  });

  async function connect(username: string, password: string): Promise<mqtt.MqttClient> {
    const c = await mqtt.connectAsync(th.hub.urls.mqtt, {
      username,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(c);
    return c;
  }

  function device(where: (grid: string | undefined) => boolean, type = 'bin') {
    const d = th.hub.registry.devices.list().find((x) => x.type === type && where(x.place.grid));
    const secret = th.credentials?.devices.find((x) => x.id === d?.id)?.secret;
    if (!d || !secret) throw new Error('no such demo device');
    return { id: d.id, secret };
  }

  const listeners = () => th.hub.bus.listenerCount('reading.accepted');

  async function until(what: string, ok: () => boolean): Promise<void> {
    const end = Date.now() + 5_000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('costs nothing without a subscriber, and feeds scoped, normalised readings while one exists', async () => {
    const idle = listeners();
    const reader = await connect(g1.username, g1.token);
    // an integration connected without the feed subscription changes nothing
    expect(listeners()).toBe(idle);
    const granted = await reader.subscribeAsync(['gh/integrations/readings/bin/+', 'gh/+/telemetry']);
    expect(granted.map((g) => g.qos)).toEqual([0, 0]);
    await until('the feed to listen', () => listeners() === idle + 1);

    const inside = device((g) => g === 'G1');
    const outside = device((g) => g !== undefined && g !== 'G1');
    const got: { topic: string; body: Record<string, unknown> }[] = [];
    reader.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
    for (const d of [outside, inside]) {
      const c = await connect(d.id, d.secret);
      await c.publishAsync(`gh/${d.id}/telemetry`, JSON.stringify({ fill: 42, battery: 77 }), { qos: 1 });
    }
    await until('the reading of the G1 bin', () =>
      got.some((m) => m.topic === `gh/integrations/readings/bin/${inside.id}`),
    );
    await new Promise((r) => setTimeout(r, 200));
    const fed = got.find((m) => m.topic === `gh/integrations/readings/bin/${inside.id}`);
    expect(fed?.body).toMatchObject({
      deviceId: inside.id,
      deviceType: 'bin',
      kind: 'telemetry',
      values: { fill: 42, battery: 77 },
      place: { grid: 'G1' },
    });
    // outside the integration's scope: neither the feed nor the raw device topic reaches it
    expect(got.filter((m) => m.topic.includes(outside.id))).toEqual([]);
    expect(got.some((m) => m.topic === `gh/${inside.id}/telemetry`)).toBe(true);

    await reader.unsubscribeAsync('gh/integrations/readings/bin/+');
    await until('the feed to stop listening', () => listeners() === idle);
    await reader.subscribeAsync('gh/integrations/readings/#');
    await until('the feed to listen again', () => listeners() === idle + 1);
    reader.end(true);
    await until('the feed to stop after a disconnect', () => listeners() === idle);
  });

  it('only integrations may subscribe, and only to the feed shapes', async () => {
    const reader = await connect(g1.username, g1.token);
    expect(
      await granted(reader, [
        'gh/integrations/readings/+/+',
        'gh/integrations/readings/smoke/#',
        'gh/integrations/#',
        'gh/integrations/alerts/x/y',
        'gh/integrations/readings/+/+/+',
      ]),
    ).toEqual([0, 0, 128, 128, 128]);
    const worker = th.credentials?.workers[0];
    if (!worker) throw new Error('no demo worker');
    const w = await connect(worker.username, worker.token);
    expect(await granted(w, ['gh/integrations/readings/+/+'])).toEqual([128]);
  });
});
