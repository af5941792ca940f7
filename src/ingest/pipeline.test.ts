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

function setup() {
  const db = openDatabase(':memory:');
  const clock = new ManualClock();
  const catalogue = createCatalogue();
  const registry = createRegistry(db, catalogue, clock, { secretKey: randomBytes(32) });
  const log = createLogger('silent');
  const bus = createEventBus(log);
  const registryMetrics = createMetricsRegistry({ defaultMetrics: false });
  const metrics = createIngestMetrics(registryMetrics, ['smoke']);
  const pipeline = createPipeline({
    config: mqttConfigSchema.parse({ subscriberQueueBytes: 4096 }),
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
  return { pipeline, registryMetrics };
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
