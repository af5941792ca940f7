import { randomBytes } from 'node:crypto';
import type { AedesPublishPacket, Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { ManualClock } from '../clock/clock.ts';
import { createEventBus } from '../domain/events.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetricsRegistry } from '../observability/metrics.ts';
import { createRegistry } from '../registry/registry.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { mqttConfigSchema } from './config.ts';
import { createEventJournal } from './journal.ts';
import { createIngestMetrics } from './metrics.ts';
import { createPipeline } from './pipeline.ts';
import { createPresence } from './presence.ts';

function setup(config: Record<string, unknown> = { subscriberQueueBytes: 4096 }) {
  const db = openDatabase(':memory:');
  const clock = new ManualClock();
  const catalogue = createCatalogue();
  const registry = createRegistry(db, catalogue, clock, { secretKey: randomBytes(32) });
  const log = createLogger('silent');
  const bus = createEventBus(log);
  const registryMetrics = createMetricsRegistry({ defaultMetrics: false });
  const metrics = createIngestMetrics(registryMetrics, ['smoke']);
  const pipeline = createPipeline({
    config: mqttConfigSchema.parse(config),
    catalogue,
    devices: registry.devices,
    clock,
    log,
    metrics,
    bus,
    journal: createEventJournal(db),
    presence: createPresence({ devices: registry.devices, bus, clock, log }),
    publishError: () => undefined,
  });
  return { pipeline, registryMetrics, registry, catalogue };
}

/** aedes' view of a subscriber: only its socket's unwritten byte count matters here. */
function subscriber(writableLength: number): Client {
  return { conn: { writableLength } } as unknown as Client;
}

const packet = (qos: 0 | 1) =>
  ({
    cmd: 'publish',
    topic: 'gh/workers/p/alarms',
    payload: Buffer.from('{}'),
    qos,
    retain: false,
    dup: false,
  }) as AedesPublishPacket;

describe('authorizeForward: per-subscriber queue cap', () => {
  it('forwards while the socket has room, drops (and counts) once it holds more than the cap', async () => {
    const { pipeline, registryMetrics } = setup();
    const p = packet(1);
    expect(pipeline.authorizeForward(subscriber(0), p)).toBe(p);
    expect(pipeline.authorizeForward(subscriber(4096), p)).toBe(p);
    expect(pipeline.authorizeForward(subscriber(4097), packet(0))).toBeNull();
    expect(pipeline.authorizeForward(subscriber(1 << 20), p)).toBeNull();
    const dropped = await registryMetrics.getSingleMetric('gridhub_ingest_dropped_total')?.get();
    expect(dropped?.values.map((v) => [v.labels.qos, v.value])).toEqual([
      ['0', 1],
      ['1', 1],
    ]);
  });
});

describe('overload: thousands of devices flooding at QoS 0', () => {
  /**
   * The poll phase of an event-loop pass reads every socket that has data before the queue's next turn: with
   * thousands of devices flooding it lasts seconds. Here ingest is fed without ever returning to the event loop,
   * as in such a phase.
   */
  it('hands telemetry on while it sheds, holds a few acknowledgements per device, and answers every message', async () => {
    const { pipeline, registryMetrics, registry, catalogue } = setup({
      telemetryBackpressureReadings: 10,
      telemetryQueueReadings: 100,
    });
    const { places } = registry;
    await places.create({ id: 'st1', level: 'street', name: 'Street', parentId: null });
    await places.create({ id: 'co1', level: 'community', name: 'Community', parentId: 'st1' });
    await places.create({ id: 'gr1', level: 'grid', name: 'Grid', parentId: 'co1' });
    await places.create({ id: 'es1', level: 'estate', name: 'Estate', parentId: 'gr1' });
    await places.create({ id: 'bd1', level: 'building', name: 'Building', parentId: 'es1' });
    const ids = Array.from({ length: 50 }, (_, i) => `smoke-${i}`);
    for (const id of ids)
      await registry.devices.provision({ id, type: 'smoke', placeId: 'bd1', floor: 1 }, 0);
    let handedOn = 0;
    pipeline.consume(() => {
      handedOn++;
    });
    const entry = catalogue.get('smoke');
    let sent = 0;
    let answered = 0;
    let mostUnanswered = 0;
    const payload = Buffer.from('{"smoke":0.01}');
    // Until something is handed on, bounded: with no turn of the queue here, nothing ever would be.
    const until = performance.now() + 5_000;
    while ((handedOn === 0 || sent < 20_000) && performance.now() < until) {
      const id = ids[sent % ids.length] as string;
      const device = registry.devices.get(id);
      if (!device) throw new Error(`no device ${id}`);
      sent++;
      pipeline.ingestMessage(device, entry, 'telemetry', `gh/${id}/telemetry`, payload, 0, 'device', () => {
        answered++;
      });
      mostUnanswered = Math.max(mostUnanswered, sent - answered);
    }
    expect(handedOn).toBeGreaterThan(0);
    // the queue's bound (QoS 0 over the backpressure mark waits in it) and 4 held per device, however many came
    expect(mostUnanswered).toBeLessThanOrEqual(100 + 4 * ids.length);
    // Then the event loop turns: every message is answered, each either handed on or shed and counted.
    for (let i = 0; i < 10_000 && answered < sent; i++) await new Promise((r) => setImmediate(r));
    expect(answered).toBe(sent);
    const shed = await registryMetrics.getSingleMetric('gridhub_ingest_shed_total')?.get();
    expect(handedOn + (shed?.values[0]?.value ?? 0)).toBe(sent);
  });
});
