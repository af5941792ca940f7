import { z } from 'zod';
import { bool, duration, int, port } from '../settings/fields.ts';

/** `mqtt` section: env GRIDHUB_MQTT_<KEY>. */
export const mqttConfigSchema = z.object({
  port: port(1883),
  tlsPort: port(8883),
  /** PEM certificate and key (the PEM text itself or a file path); TLS listens only when both are set. */
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  /** Path of MQTT over WebSocket on the HTTP port. */
  wsPath: z.string().startsWith('/').default('/mqtt'),
  /** Largest MQTT frame accepted, enforced at the socket (aedes has no limit of its own). */
  maxPacketBytes: int(256 * 1024, 64, 256 * 1024 * 1024),
  maxTopicDepth: int(8, 1, 64),
  allowAnonymous: bool(false),
  /**
   * Places (comma-separated ids) whose device traffic anonymous clients may read when `allowAnonymous` is on;
   * empty = none. They never publish.
   */
  anonymousScope: z.string().max(4000).default(''),
  /** Sockets that send no CONNECT within this time are closed. */
  connectTimeoutMs: duration(10_000),
  /**
   * A subscriber that takes none of the bytes waiting for it this long (its socket full, or its backlog not
   * moving) is disconnected, so one frozen phone cannot hold the broker's delivery slots (aedes' own default is
   * 60 s). It reconnects and its persistent session gets what it missed.
   */
  drainTimeoutMs: duration(1_500),
  /** Bytes a subscriber's socket may have unwritten before further deliveries to it are dropped (counted). */
  subscriberQueueBytes: int(64 * 1024, 1024, 1024 * 1024 * 1024),
  /**
   * A CONNECT refused by the login throttle (http.login*) is answered with return code 3 after the throttle's
   * wait, capped at this, so a device retrying in a loop is slowed as well.
   */
  authRefusalMaxDelayMs: duration(5_000),
  /** Connections one credential (a device, a user's token) may hold at once. */
  maxConnectionsPerPrincipal: int(8, 1, 100_000),
  /** Bytes of QoS 2 payloads one credential may hold unreleased (PUBLISH received, no PUBREL yet). */
  maxInflightQos2Bytes: int(1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** Unreleased QoS 2 packets per connection (aedes `maxInflightInbound`). */
  maxInflightQos2PerClient: int(64, 1, 65_535),
  /** How far in the future a device `ts` may lie (device clocks drift) before it is refused. */
  maxFutureSkewMs: duration(3_600_000),
  /**
   * A QoS 1/2 event whose packet id and payload match one taken from the same device this recently is a
   * redelivery (a DUP resend, or a resend on a new connection after the old one dropped without DISCONNECT, as
   * after a hub restart), not a new press. Kept in SQLite, so it holds across a restart.
   */
  redeliveryWindowMs: duration(120_000),
  /** An event carrying an `eventId` already taken from the same device this recently is a duplicate. */
  eventIdWindowMs: duration(86_400_000),
  /**
   * Telemetry readings waiting to be handed to the rules. Above `telemetryBackpressureReadings` the broker stops
   * reading the sockets that bring more (TCP pushes back); above `telemetryQueueReadings` QoS 0 telemetry is
   * shed (counted in gridhub_ingest_shed_total). QoS 1 messages and events are never shed.
   */
  telemetryBackpressureReadings: int(2_000, 1, 10_000_000),
  telemetryQueueReadings: int(20_000, 1, 10_000_000),
  /**
   * Clustered broker: aedes instances sharing sessions, subscriptions and offline messages in this Redis
   * (`redis://host:6379/0`). Worker alarms reach a phone connected to any instance, and a worker's queued alarms
   * survive a restart. Without it the broker keeps them in memory.
   */
  redisUrl: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional(),
  /**
   * External-broker mode: when set (e.g. `mqtt://emqx:1883`), the hub runs no broker of its own and consumes
   * `gh/+/telemetry|event|status` from this broker through shared subscriptions; device authentication and the
   * ACL are that broker's job.
   */
  externalUrl: z
    .url({ protocol: /^(mqtts?|wss?)$/, error: 'expected an mqtt://, mqtts://, ws:// or wss:// URL' })
    .optional(),
  externalUsername: z.string().optional(),
  externalPassword: z.string().optional(),
  /** Shared-subscription group: hub instances in one group split the device traffic between them. */
  externalShareGroup: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
    .default('gridhub'),
  /** Client id prefix of this hub's consumer sessions (persistent, so unacknowledged events are redelivered). */
  externalClientId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ., - and _ only')
    .optional(),
  /**
   * External-broker mode: the shared secret the broker sends (`Authorization: Bearer …`) when it asks the hub's
   * hooks `POST /broker/authn` and `/broker/authz` to authenticate a login or authorize a topic (EMQX 5 HTTP
   * authentication and authorization). Unset, the hooks do not exist (404).
   */
  hookSecret: z.string().min(24, 'at least 24 characters (e.g. `openssl rand -hex 24`)').optional(),
  /** Consumer connections for telemetry and status. */
  externalConsumers: int(2, 1, 16),
  /**
   * Consumer connections for events, apart from telemetry so that none waits behind a flood of readings. A
   * connection takes its next event only once the last one's journal commit has been acknowledged (the PUBACK
   * waits for it), so each carries at most one commit at a time: several let events share a group commit.
   */
  externalEventConsumers: int(4, 1, 32),
  /**
   * How several hub instances split an external broker's device traffic (src/ingest/README.md, "Several
   * instances"): `owner` (default) — each instance subscribes to every device topic on its own session and
   * evaluates only the devices it owns (rendezvous hashing over the live instances), so a stateful rule sees
   * all of a device's readings; `shared` — one shared subscription, the broker picks a subscriber per message
   * (right for one instance, or for EMQX with `hash_clientid`, which keeps each device on one subscriber).
   */
  externalRouting: z.enum(['owner', 'shared']).default('owner'),
});

export type MqttConfig = z.output<typeof mqttConfigSchema>;
