import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createDispatcher, type Dispatcher } from '../../src/alerts/dispatcher.ts';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { topics } from '../../src/domain/wire.ts';
import { mqttConfigSchema } from '../../src/ingest/config.ts';
import { createIngest, type Ingest } from '../../src/ingest/ingest.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createLoginGate } from '../../src/registry/login-gate.ts';
import { createHarness, dispatcherParts, type Harness, raise, seedCommunity, silentLog } from './fixtures.ts';

let h: Harness;
let ingest: Ingest | undefined;
let dispatcher: Dispatcher | undefined;
const clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await dispatcher?.stop();
  await ingest?.close();
  await h?.close();
});

function nextMessage(client: MqttClient, topic: string, timeoutMs = 3000) {
  return new Promise<{ payload: Record<string, unknown>; qos: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic}`)), timeoutMs);
    client.on('message', (t, payload, packet) => {
      if (t !== topic) return;
      clearTimeout(timer);
      resolve({ payload: JSON.parse(payload.toString()) as Record<string, unknown>, qos: packet.qos });
    });
  });
}

describe('alarm delivery over the real broker', () => {
  it('puts the alarm on the worker’s MQTT topic at QoS 1 and escalates to the leader’s phone at 1 min', async () => {
    h = createHarness();
    seedCommunity(h.registry);
    const now = h.clock.now();
    const password = 'a long enough password';
    await h.registry.users.create(
      { username: 'zhang', password, role: 'worker', personId: 'w1', scope: ['g1'] },
      now,
    );
    await h.registry.users.create(
      { username: 'lead', password, role: 'worker', personId: 'l1', scope: ['g1'] },
      now,
    );
    const workerToken = await h.registry.users.issueToken('zhang', 'api', now);
    const leaderToken = await h.registry.users.issueToken('lead', 'api', now);

    const metrics = createMetricsRegistry({ defaultMetrics: false });
    ingest = await createIngest({
      config: mqttConfigSchema.parse({ port: 0, tlsPort: 0 }),
      host: '127.0.0.1',
      catalogue: createCatalogue(),
      devices: h.registry.devices,
      tokens: h.registry.users,
      clock: h.clock,
      log: silentLog,
      loginGate: createLoginGate(h.clock),
      metrics,
      bus: h.bus,
      db: h.db,
    });
    const { mqttPort } = await ingest.listen();
    dispatcher = createDispatcher({
      clock: h.clock,
      log: silentLog,
      metrics,
      ...dispatcherParts({
        db: h.db,
        clock: h.clock,
        config: h.config,
        publisher: ingest,
        metrics,
        bus: h.bus,
      }),
      sink: h.sink,
      bus: h.bus,
      config: h.config,
      places: { path: (id) => h.registry.places.path(id), name: (id) => h.registry.places.name(id) },
      people: h.registry.people,
    });
    await dispatcher.start();

    const connect = async (username: string, token: string, topic: string) => {
      const c = await connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        username,
        password: token,
      });
      clients.push(c);
      await c.subscribeAsync(topic, { qos: 1 });
      return c;
    };
    const worker = await connect('zhang', workerToken, topics.workerAlarms('w1'));
    const leader = await connect('lead', leaderToken, topics.workerAlarms('l1'));

    const workerMsg = nextMessage(worker, topics.workerAlarms('w1'));
    await dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-real' }));
    const got = await workerMsg;
    expect(got.qos).toBe(1);
    expect(got.payload).toMatchObject({
      kind: 'alarm',
      change: 'opened',
      severity: 'critical',
      device: { id: 'smoke-real', type: 'smoke' },
      recipient: { personId: 'w1', role: 'grid_worker' },
    });
    const alertId = got.payload.alertId as string;
    // the message is named by its outbox row: a re-send of it would carry the same id
    expect(got.payload.messageId).toEqual(expect.stringMatching(/^gh-/));

    const leaderMsg = nextMessage(leader, topics.workerAlarms('l1'));
    await h.clock.advanceAsync(60_000);
    const escalated = (await leaderMsg).payload;
    expect(escalated).toMatchObject({
      alertId,
      change: 'escalated',
      recipient: { role: 'grid_leader' },
    });
    // a new message, a new id
    expect(escalated.messageId).toEqual(expect.stringMatching(/^gh-/));
    expect(escalated.messageId).not.toBe(got.payload.messageId);
    await dispatcher.drain();
    const deliveries = (await dispatcher.timeline(alertId)).filter((e) => e.type === 'delivered');
    expect(deliveries.map((e) => e.data.target)).toEqual(expect.arrayContaining(['w1', 'p1', 'l1']));
    // the id the phone got is the delivery's idempotency key in the timeline
    const toWorker = deliveries.find((e) => e.data.channel === 'mqtt' && e.data.target === 'w1');
    expect(toWorker?.data.idempotencyKey).toBe(got.payload.messageId);
  });
});
