import os from 'node:os';
import type { FastifyPluginAsync } from 'fastify';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { GridHubError } from '../domain/errors.ts';
import { type DeviceChannel, type DeviceErrorMessage, TOPIC_ROOT, topics } from '../domain/wire.ts';
import type { IngestDeps, MqttIngest } from './ingest.ts';
import { pipelineJournal } from './journal.ts';
import { createIngestMetrics } from './metrics.ts';
import { createPipeline } from './pipeline.ts';
import { createPresence } from './presence.ts';
import { createRouting, type Routing, type ShadowEntry } from './routing.ts';
import { isDeviceId, isTopicLevel } from './topics.ts';

const CHANNELS: Record<string, DeviceChannel> = { telemetry: 'telemetry', event: 'event', status: 'status' };
const ROOT_PREFIX = `${TOPIC_ROOT}/`;
const noWebSocket: FastifyPluginAsync = async () => undefined;
/**
 * The shadow's bounds (routing.ts): messages, and its age in lease lengths. A take-over waits one lease and a
 * sweep, and longer on an event loop that is behind (the failover test under a loaded machine took more than two
 * leases): five leases, 15 s by default, about 50 000 messages at 5 000 msg/s of which two thirds are others'.
 */
const SHADOW_MAX_ENTRIES = 100_000;
export const SHADOW_AGE_LEASES = 5;
const noop = (): void => undefined;

/** Whether an event's payload names it (`eventId`): then a copy of it is recognised wherever it was taken. */
function carriesEventId(payload: Buffer): boolean {
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    return (
      typeof body === 'object' && body !== null && typeof (body as { eventId?: unknown }).eventId === 'string'
    );
  } catch {
    return false;
  }
}

/**
 * External-broker mode: devices connect to an MQTT cluster (EMQX, Mosquitto, …) and the hub consumes their
 * topics through a shared subscription, so several hub instances split the traffic. Validation, normalisation,
 * error answers and the QoS 1 journal are the same code as with the embedded broker (`pipeline.ingestMessage`).
 *
 * Acknowledgement and backpressure: mqtt.js handles one incoming packet at a time and sends a QoS 1 PUBACK only
 * when `handleMessage` calls back, which the pipeline does after the journal commit. So the external broker
 * redelivers whatever the hub had not recorded (sessions are persistent, `clean: false`), and while the hub is
 * busy it stops reading its consumer sockets and the broker queues for it, within that broker's own limits.
 *
 * What the external broker must do: authenticate devices and enforce the ACL of the device contract, since the
 * hub sees only the topic. Presence comes from status messages (set the will to `offline` on `gh/{id}/status`);
 * a will looks like any status message here, so its source reads `device`.
 *
 * Routing (`mqtt.externalRouting`): `shared` subscribes `$share/<group>/…`, and the broker gives each message to
 * one instance of the group. `owner` gives each instance every message (its own share group, so its consumer
 * connections still split its copy), and the instance evaluates only the devices it owns (routing.ts); the
 * others' messages are acknowledged after the topic is read, not decoded, and kept in a bounded shadow for a
 * take-over (`routing.take`).
 */
export async function createExternalIngest(deps: IngestDeps): Promise<MqttIngest> {
  const { config, catalogue, devices, clock, bus, db } = deps;
  const url = config.externalUrl;
  if (!url) throw new Error('createExternalIngest needs mqtt.externalUrl (GRIDHUB_MQTT_EXTERNAL_URL)');
  const log = deps.log.child({ module: 'ingest', broker: 'external' });
  const metrics = createIngestMetrics(
    deps.metrics,
    catalogue.all().map((e) => e.id),
  );
  const journal = pipelineJournal(deps.journal, db, log);
  const presence = createPresence({ devices, bus, clock, log });
  const consumers: MqttClient[] = [];
  /**
   * What the hub sends (worker alarms, error answers) goes on a connection of its own. mqtt.js reads one packet
   * at a time and a consumer's next packet waits until the PUBLISH before it is recorded, which for an event
   * is after the flow took it; an alarm's PUBACK queued behind that event on the same connection made the two
   * wait on each other until the delivery timed out (5 s per alarm under load).
   */
  let publisher: MqttClient | undefined;

  const publishError = (topic: string, message: DeviceErrorMessage): void => {
    publisher?.publish(topic, JSON.stringify(message), { qos: 0 });
  };
  const pipeline = createPipeline({
    config,
    catalogue,
    devices,
    clock,
    log,
    metrics,
    bus,
    journal,
    presence,
    publishError,
  });

  function refuseDevice(deviceId: string, topic: string, code: 'DEVICE_UNKNOWN' | 'DEVICE_DISABLED'): void {
    if (!isDeviceId(deviceId)) {
      metrics.rejected.inc({ code: 'TOPIC_INVALID', type: 'none' });
      return;
    }
    const message =
      code === 'DEVICE_UNKNOWN' ? `no device ${deviceId} is provisioned` : `device ${deviceId} is disabled`;
    pipeline.reply(deviceId, 'none', topic, [{ code, message }], Buffer.alloc(0));
  }

  const owner = config.externalRouting === 'owner';
  const ownership = deps.ownership;
  const routing: Routing | undefined =
    owner && ownership
      ? createRouting({
          owns: ownership.owns,
          maxEntries: SHADOW_MAX_ENTRIES,
          maxAgeMs: SHADOW_AGE_LEASES * ownership.leaseTtlMs + 1_000,
          metrics: deps.metrics,
        })
      : undefined;

  /** Take one message of a device this instance evaluates; `failed` when a QoS 1 event could not be recorded. */
  function take(
    deviceId: string,
    channel: DeviceChannel,
    topic: string,
    payload: Buffer | string,
    qos: number,
    done: () => void,
    failed: (err: Error) => void,
  ): void {
    const device = devices.get(deviceId);
    if (!device?.enabled) {
      refuseDevice(deviceId, topic, device ? 'DEVICE_DISABLED' : 'DEVICE_UNKNOWN');
      done();
      return;
    }
    pipeline.ingestMessage(
      device,
      catalogue.get(device.type),
      channel,
      topic,
      payload,
      qos,
      'device',
      (err) => (err ? failed(err) : done()),
    );
  }

  function onMessage(client: MqttClient, packet: IPublishPacket, done: (error?: Error) => void): void {
    const topic = packet.topic;
    const slash = topic.indexOf('/', ROOT_PREFIX.length);
    const channel = slash > 0 && topic.startsWith(ROOT_PREFIX) ? CHANNELS[topic.slice(slash + 1)] : undefined;
    if (channel === undefined) {
      done();
      return;
    }
    const deviceId = topic.slice(ROOT_PREFIX.length, slash);
    if (routing && !routing.owned(deviceId)) {
      // another instance evaluates it (and answers its errors): acknowledged, kept for a take-over
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      routing.shadow({ deviceId, channel, topic, payload, qos: packet.qos, at: clock.now() });
      done();
      return;
    }
    take(deviceId, channel, topic, packet.payload, packet.qos, done, (err) => {
      // no PUBACK: drop the connection so that the broker redelivers after the reconnect
      log.error({ err, deviceId }, 'event not recorded; reconnecting to the external broker for redelivery');
      client.stream.destroy();
    });
  }

  /** Shadowed messages of devices taken over: through the same path, already acknowledged to the broker. */
  function replay(entries: readonly ShadowEntry[]): void {
    for (const e of entries)
      take(e.deviceId, e.channel, e.topic, e.payload, e.qos, noop, (err) =>
        log.error(
          { err, deviceId: e.deviceId },
          'shadowed event of a device taken over not recorded; it was acknowledged by the instance that died',
        ),
      );
  }

  /**
   * A consumer (`index` ≥ 0: persistent session, shared subscriptions to telemetry and status), an events'
   * consumer (`events-<n>`: the same, for events alone) or the publisher (`'out'`). Events have connections of
   * their own, several: mqtt.js hands a connection's next message over only once the last one is acknowledged,
   * and an event's acknowledgement waits for its journal commit. With two connections shared with telemetry,
   * presses at 200 a second on three instances waited about 4 s to reach a hub (which then raised each alert
   * within milliseconds), one commit at a time behind thousands of readings.
   */
  async function connectConsumer(index: number | `events-${number}` | 'out'): Promise<MqttClient> {
    const prefix = config.externalClientId ?? `gridhub-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}`;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: `${prefix}-${index}`,
      // the publisher subscribes to nothing: no session to keep (mqtt.js resends its QoS 1 after a reconnect)
      clean: index === 'out',
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
      manualConnect: true,
    };
    if (config.externalUsername !== undefined) options.username = config.externalUsername;
    if (config.externalPassword !== undefined) options.password = config.externalPassword;
    // handleMessage must be in place before the session resumes: a persistent session may deliver at once
    const client = connect(url as string, options);
    client.handleMessage = (packet, done) => onMessage(client, packet, done);
    client.on('error', (err) => log.warn({ err: err.message, index }, 'external broker connection error'));
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        client.off('connect', onConnect);
        client.off('close', onClose);
        client.off('error', onError);
        if (!err) return resolve();
        client.end(true);
        reject(err);
      };
      const onConnect = () => settle();
      const onClose = () => settle(new Error('connection closed'));
      const onError = (err: Error) => settle(err);
      client.once('connect', onConnect);
      client.once('close', onClose);
      client.once('error', onError);
      client.connect();
    });
    client.on('offline', () => log.warn({ index }, 'external broker unreachable; retrying'));
    if (index === 'out') return client;
    // owner routing: a share group of this instance's own, so that it gets every message once, split over its
    // consumer connections; shared: one group for all instances, each message to one of them. The group is named
    // after the client ids, not the instance name: that may be fresh per start, and a resumed persistent session
    // would then hold the previous start's group too and receive every message twice.
    const group = owner
      ? `${config.externalShareGroup}-${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}`
      : config.externalShareGroup;
    const filter = (c: DeviceChannel) => `$share/${group}/${TOPIC_ROOT}/+/${c}`;
    const events = typeof index === 'string';
    const filters = events ? [filter('event')] : [filter('telemetry'), filter('status')];
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    if (granted.some((g) => g.qos > 2))
      throw new Error(`the external broker refused the shared subscriptions ${filters.join(', ')}`);
    // A session resumed from a version whose consumers took events too would go on taking a share of them.
    if (!events) await client.unsubscribeAsync(filter('event'));
    return client;
  }

  /** The consumers go; the publisher stays for the dispatcher's last alarms until `close`. */
  async function stopTaking(): Promise<void> {
    pipeline.beginShutdown();
    pipeline.flush();
    const ending = consumers.splice(0);
    await Promise.all(ending.map((c) => c.endAsync()));
  }

  return {
    webSocketPlugin: noWebSocket,

    async listen() {
      try {
        publisher = await connectConsumer('out');
        for (let i = 0; i < config.externalEventConsumers; i++)
          consumers.push(await connectConsumer(`events-${i}`));
        for (let i = 0; i < config.externalConsumers; i++) consumers.push(await connectConsumer(i));
      } catch (err) {
        await Promise.all([...consumers, ...(publisher ? [publisher] : [])].map((c) => c.endAsync(true)));
        consumers.length = 0;
        publisher = undefined;
        throw new Error(
          `cannot consume from GRIDHUB_MQTT_EXTERNAL_URL=${url}: ${(err as Error).message}; check the URL and GRIDHUB_MQTT_EXTERNAL_USERNAME / _PASSWORD`,
        );
      }
      const parsed = new URL(url);
      log.info(
        { url: `${parsed.protocol}//${parsed.host}`, consumers: consumers.length },
        'consuming from external broker',
      );
      const port = Number(parsed.port) || (parsed.protocol === 'mqtts:' ? 8883 : 1883);
      return { mqttPort: port };
    },

    publishToWorker(workerId, payload) {
      if (!isTopicLevel(workerId))
        return Promise.reject(
          new GridHubError('REQUEST_INVALID', `not a usable worker id: ${JSON.stringify(workerId)}`),
        );
      const client = publisher;
      if (!client) return Promise.reject(new Error('not connected to the external broker'));
      // mqtt.js keeps a QoS 1 publish made while reconnecting and sends it once the connection is back
      return client
        .publishAsync(topics.workerAlarms(workerId), JSON.stringify(payload), { qos: 1 })
        .then(() => undefined);
    },

    consume: (sink) => pipeline.consume(sink),
    // the external broker authenticates workers itself: no session of ours holds a token
    closeSessionsOf: () => 0,
    replayJournal: () => pipeline.replayJournal(),
    replayOrphans: (now) => pipeline.replayOrphans(now),

    ...(routing
      ? {
          routing: {
            changed: (waiting: Iterable<string>) => routing.changed(waiting),
            async take(taken: ReadonlySet<string>, cutOff: (deviceId: string) => number) {
              // the events the previous owner took are known by their eventIds in the shared journal: read
              // them first, so a shadowed copy of one is recognised as the duplicate it is
              if ('recall' in journal) {
                await journal.recall([...taken], clock.now());
              }
              // The previous owner may have been seconds behind on its socket at its last sign of life (a loaded
              // machine): an event that reached this instance before the cut-off may never have been taken there,
              // and it was acknowledged to the broker by both. An event with its eventId is fed however old (all
              // the shadow kept): the eventIds just read, and the dispatcher's record of each event, drop those
              // the owner did take. Under the failover load owners ran 4 s behind, more than a lease, and presses
              // fed from one lease earlier only were lost. Without an eventId a copy cannot be told from a new
              // press: from one lease earlier. Telemetry and status keep the cut-off: a reading fed twice would
              // count twice in a window, and QoS 0 may be lost.
              const margin = ownership?.leaseTtlMs ?? 0;
              const since = (e: ShadowEntry) =>
                e.channel !== 'event'
                  ? cutOff(e.deviceId)
                  : carriesEventId(e.payload)
                    ? Number.NEGATIVE_INFINITY
                    : cutOff(e.deviceId) - margin;
              const entries = routing.take(taken, since);
              replay(entries);
              return entries.length;
            },
          },
        }
      : {}),

    stopTaking,
    async close() {
      await stopTaking();
      await publisher?.endAsync();
      publisher = undefined;
    },
  };
}
