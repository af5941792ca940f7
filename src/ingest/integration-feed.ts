import type { Aedes, Client } from 'aedes';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EventBus } from '../domain/events.ts';
import type { PlacePath } from '../domain/places.ts';
import type { DeviceDirectory } from '../domain/ports.ts';
import type { Reading } from '../domain/reading.ts';
import {
  INTEGRATION_READINGS_PREFIX,
  type IntegrationReading,
  integrationReadingsTopic,
  TOPIC_ROOT,
} from '../domain/wire.ts';
import type { Logger } from '../observability/logger.ts';
import { sessionOf } from './session.ts';

export interface IntegrationFeed {
  /** Integration clients holding at least one subscription under the feed's prefix. */
  readonly subscribers: number;
  /**
   * authorizeForward's scope check: an integration user sees readings (fed or raw device traffic) only of
   * devices inside its scope (its user_scopes); other sessions are not concerned.
   */
  mayForward(client: Client, packet: { topic: string; payload: unknown }): boolean;
  close(): void;
}

export interface IntegrationFeedDeps {
  broker: Aedes;
  bus: EventBus;
  devices: Pick<DeviceDirectory, 'get'>;
  log: Logger;
  metrics: Registry;
}

/** Place check of an integration user: inside the subtree of one of its scope roots. */
export function scopeCheck(roots: readonly string[]): (path: PlacePath) => boolean {
  const set = new Set(roots);
  return (path) => {
    for (const id of Object.values(path)) if (id !== undefined && set.has(id)) return true;
    return false;
  };
}

function holdsFeed(client: Client): boolean {
  // aedes keeps the client's granted subscriptions in this (untyped) table
  const subs = (client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {};
  for (const filter of Object.keys(subs)) {
    if (filter.startsWith(INTEGRATION_READINGS_PREFIX)) return true;
  }
  return false;
}

/**
 * Republishes accepted readings on `gh/integrations/readings/{type}/{deviceId}` — only while an integration
 * holds a subscription there. With none, the feed is not even a listener of `reading.accepted` (ingest checks
 * the listener count before building the event), so the hot path pays nothing for it.
 *
 * Subscriptions are recounted from the client's own table on every subscribe, unsubscribe and disconnect
 * (aedes emits `subscribe` for restored persistent sessions too), so no count can drift.
 */
export function createIntegrationFeed(deps: IntegrationFeedDeps): IntegrationFeed {
  const { broker, bus } = deps;
  const log = deps.log.child({ module: 'integration-feed' });
  const holders = new Set<Client>();
  const places = new WeakMap<object, PlacePath>();
  const published = new Counter({
    name: 'gridhub_ingest_integration_readings_total',
    help: 'Readings republished for integrations on gh/integrations/readings/#',
    registers: [deps.metrics],
  });
  const subscribers = new Gauge({
    name: 'gridhub_ingest_integration_subscribers',
    help: 'Integration clients subscribed to gh/integrations/readings/#',
    registers: [deps.metrics],
  });
  let off: (() => void) | null = null;

  function publish(reading: Reading): void {
    const { journalId: _journalId, ...rest } = reading as Reading & { journalId?: number };
    const message: IntegrationReading = rest;
    const payload = Buffer.from(JSON.stringify(message));
    places.set(payload, reading.place);
    published.inc();
    broker.publish(
      {
        cmd: 'publish',
        topic: integrationReadingsTopic(reading.deviceType, reading.deviceId),
        payload,
        qos: 0,
        retain: false,
        dup: false,
      },
      noop,
    );
  }

  function recount(client: Client, gone: boolean): void {
    const s = sessionOf(client);
    if (s?.role !== 'integration' && s?.role !== 'anonymous') return;
    if (!gone && holdsFeed(client)) holders.add(client);
    else holders.delete(client);
    subscribers.set(holders.size);
    if (holders.size > 0 && off === null) {
      off = bus.on('reading.accepted', publish);
      log.info({ subscribers: holders.size }, 'integration readings feed on');
    } else if (holders.size === 0 && off !== null) {
      off();
      off = null;
      log.info('integration readings feed off: no subscriber');
    }
  }

  const onSubscribe = (_subs: unknown, client: Client) => recount(client, false);
  const onUnsubscribe = (_subs: unknown, client: Client) => recount(client, false);
  const onDisconnect = (client: Client) => recount(client, true);
  broker.on('subscribe', onSubscribe);
  broker.on('unsubscribe', onUnsubscribe);
  broker.on('clientDisconnect', onDisconnect);

  return {
    get subscribers() {
      return holders.size;
    },
    mayForward(client, packet) {
      const s = sessionOf(client);
      if ((s?.role !== 'integration' && s?.role !== 'anonymous') || !s.canSee) return true;
      const payload = packet.payload;
      let place = typeof payload === 'object' && payload !== null ? places.get(payload) : undefined;
      if (!place) {
        // raw device traffic gh/{deviceId}/{channel}, or the feed from another instance of a cluster
        const topic = packet.topic;
        let deviceId: string;
        if (topic.startsWith(INTEGRATION_READINGS_PREFIX)) deviceId = topic.slice(topic.lastIndexOf('/') + 1);
        else {
          const end = topic.indexOf('/', ROOT_LEN);
          if (!topic.startsWith(`${TOPIC_ROOT}/`) || end < 0) return false;
          deviceId = topic.slice(ROOT_LEN, end);
        }
        place = deps.devices.get(deviceId)?.place;
        if (!place) return false;
      }
      return s.canSee(place);
    },
    close() {
      broker.off('subscribe', onSubscribe);
      broker.off('unsubscribe', onUnsubscribe);
      broker.off('clientDisconnect', onDisconnect);
      off?.();
      off = null;
      holders.clear();
    },
  };
}

const ROOT_LEN = TOPIC_ROOT.length + 1;

function noop(): void {}
