import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Aedes, type Client } from 'aedes';
import type { FastifyPluginAsync } from 'fastify';
import mqemitter from 'mqemitter';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { EventBus } from '../domain/events.ts';
import type {
  DeviceDirectory,
  LoginGate,
  ReadingSink,
  TokenAuthenticator,
  WorkerPublisher,
} from '../domain/ports.ts';
import { type DeviceErrorMessage, topics } from '../domain/wire.ts';
import type { Logger } from '../observability/logger.ts';
import type { Db } from '../storage/sqlite.ts';
import { createAuthHooks } from './auth.ts';
import type { MqttConfig } from './config.ts';
import { createConnectQueue } from './connect-queue.ts';
import { guardFrames } from './frame-guard.ts';
import { createIntegrationFeed, type IntegrationFeed } from './integration-feed.ts';
import { type JournalStore, pipelineJournal } from './journal.ts';
import { createIngestMetrics } from './metrics.ts';
import { createPipeline, PublishRefused } from './pipeline.ts';
import { createPresence } from './presence.ts';
import { createPrincipalLimits, type PrincipalLimits } from './principal-limits.ts';
import { createReadingRoutes } from './reading-routes.ts';
import { CONN, type HubClient, sessionOf, type Transport } from './session.ts';
import { createSlowSubscriberGuard } from './slow-subscribers.ts';
import { isTopicLevel } from './topics.ts';
import { mqttWebSocketPlugin } from './websocket.ts';

export interface IngestDeps {
  config: MqttConfig;
  /** Address the TCP/TLS listeners bind to (config `host`). */
  host: string;
  catalogue: Catalogue;
  devices: DeviceDirectory;
  tokens: TokenAuthenticator;
  clock: Clock;
  log: Logger;
  metrics: Registry;
  bus: EventBus;
  /** The hub's SQLite database; ingest keeps its QoS 1 event journal there. */
  db: Db;
  /** Where the QoS 1 journal is, when not on `db` (the shared store: `postgresJournal`). */
  journal?: JournalStore;
  /** The hub's one login throttle (shared with the HTTP login). */
  loginGate: LoginGate;
  /**
   * External broker with `externalRouting: owner` on a shared database: which devices this instance evaluates
   * (the membership, src/storage/membership.ts). Without it this instance evaluates every device.
   */
  ownership?: DeviceOwnership;
}

/** Who evaluates which device, as ingest asks it (answers cached per device until `routing.changed`). */
export interface DeviceOwnership {
  /** This instance's name (its consumers' share group is its own). */
  readonly instanceId: string;
  /** Lease length: the shadow keeps what a take-over after a death needs (two of them, and a second). */
  readonly leaseTtlMs: number;
  owns(deviceId: string): boolean;
}

/** Owner routing's hand-over, driven by the membership (src/hub.ts). */
export interface IngestRouting {
  /** The membership changed; devices in `waiting` are this instance's but not handed over yet (shadowed). */
  changed(waiting: Iterable<string>): void;
  /**
   * Take devices over: their identities read from the shared journal, then their shadowed messages after
   * `since(deviceId)` fed in order, then their live traffic. Resolves with the messages fed.
   */
  take(devices: ReadonlySet<string>, since: (deviceId: string) => number): Promise<number>;
}

/** What the hub needs of ingest, with the embedded broker or an external one. */
export interface MqttIngest extends WorkerPublisher {
  /**
   * Start taking messages: the TCP listener (and TLS when a certificate is configured; port 0 picks a free
   * port), or the consumer connections to the external broker (its port is returned).
   */
  listen(): Promise<{ mqttPort: number; tlsPort?: number }>;
  /** Fastify plugin serving MQTT over WebSocket at `config.wsPath`; register it outside the `/api` scope. */
  readonly webSocketPlugin: FastifyPluginAsync;
  /**
   * Hand ingest the flow that takes every accepted reading; call once, before `replayJournal` and `listen`. The
   * flow throws when it could not record a reading's results: a QoS 1 event then stays journaled and is re-fed.
   */
  consume(onReading: ReadingSink): void;
  /** Close the MQTT sessions that logged in with these (revoked) API tokens. */
  closeSessionsOf(tokenIds: readonly string[]): number;
  /**
   * Re-feed QoS 1 events journaled but not processed before a crash; call once at start, before listen. At
   * once on SQLite; on the shared store once this instance's rows (and a dead instance's) are claimed.
   */
  replayJournal(): number | Promise<number>;
  /**
   * While running on the shared store: replay the events in flight of instances whose lease ran out at `now`,
   * never this instance's own (the heartbeat's sweep, src/hub.ts). On SQLite there are none: 0.
   */
  replayOrphans(now: number): number | Promise<number>;
  /** External broker with owner routing and an ownership: the hand-over of devices between instances. */
  readonly routing?: IngestRouting;
  /**
   * Stop taking device messages and hand over what waits for the group commit (the first step of a stop). The
   * external broker's connection that alarms go out on stays open for the dispatcher's last deliveries; the
   * embedded broker goes whole (the workers' phones are its clients too).
   */
  stopTaking(): Promise<void>;
  /** Close everything (after the dispatcher has stopped); `stopTaking` first when it was not called. */
  close(): Promise<void>;
}

/** Ingest with the embedded aedes broker. */
export interface Ingest extends MqttIngest {
  readonly broker: Aedes;
  /** Per-credential connection and QoS 2 budgets (read by tests and metrics). */
  readonly limits: PrincipalLimits;
}

/** The embedded broker, or the external-broker consumer when `mqtt.externalUrl` is set. */
export async function createMqttIngest(deps: IngestDeps): Promise<MqttIngest> {
  if (!deps.config.externalUrl) return createIngest(deps);
  // Loaded only in that mode: the MQTT client library costs start-up time an embedded hub does not need.
  const { createExternalIngest } = await import('./external.ts');
  return createExternalIngest(deps);
}

const SETTINGS = { port: 'GRIDHUB_MQTT_PORT', tlsPort: 'GRIDHUB_MQTT_TLS_PORT' } as const;

function pem(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** Pending connections the kernel may hold for the broker's listeners (see listenOn). */
const LISTEN_BACKLOG = 8192;

function listenOn(server: net.Server, port: number, host: string, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        reject(new Error(`${setting}=${port} is already in use on ${host}; set ${setting} to a free port`));
      else if (err.code === 'EACCES')
        reject(
          new Error(
            `${setting}=${port}: no permission to listen on ${host}; set ${setting} to a port above 1023`,
          ),
        );
      else reject(err);
    };
    server.once('error', onError);
    // After a restart a community's devices all reconnect at once. Node's default accept backlog (511) drops the
    // SYNs beyond it, and a dropped SYN is retried only after 1, 3, 7, 15 s: most of a 10 000-device storm's time
    // went to those retries, not to the hub. The kernel caps it at net.core.somaxconn.
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Classify the errors aedes reports when it drops a connection, for the protocol-error counter. */
function protocolReason(err: Error): string | undefined {
  const m = err.message;
  if (m === 'connect did not arrive in time') return 'connect_timeout';
  if (m === 'keep alive timeout') return 'keepalive';
  if (m === 'topic has too many levels') return 'topic_depth';
  if (m === 'Invalid protocol' || m.startsWith('Invalid') || m.includes('not allowed'))
    return 'invalid_packet';
  if (m === 'drain timeout') return 'drain_timeout';
  return undefined;
}

/**
 * The MQTT side of the hub: an aedes broker on TCP, TLS and WebSocket, with device and worker authentication,
 * the topic ACL, payload validation and normalisation into Readings handed to `onReading`, the QoS 1 event
 * journal, presence, and delivery of alarms to workers.
 */
export async function createIngest(deps: IngestDeps): Promise<Ingest> {
  const { config, host, catalogue, devices, tokens, clock, bus, db } = deps;
  const log = deps.log.child({ module: 'ingest' });
  const metrics = createIngestMetrics(
    deps.metrics,
    catalogue.all().map((e) => e.id),
  );
  const journal = pipelineJournal(deps.journal, db, log);
  // Connects and disconnects written in bounded batches, one a turn (a reconnect storm: presence.ts).
  const presence = createPresence({ devices, bus, clock, log, batching: {} });
  // Each CONNECT's check and set-up in bounded turns, so presses keep flowing during a reconnect storm.
  const connectQueue = createConnectQueue({
    onError: (err) => log.error({ err }, 'mqtt connect set-up failed'),
  });
  let broker: Aedes | undefined;
  const limits = createPrincipalLimits({
    maxConnections: config.maxConnectionsPerPrincipal,
    maxInflightQos2Bytes: config.maxInflightQos2Bytes,
  });
  const auth = createAuthHooks({
    gate: deps.loginGate,
    limits,
    config,
    catalogue,
    devices,
    tokens,
    clock,
    log,
    metrics,
    queue: connectQueue,
    // the shared store: a device's identities read before its CONNACK (a resend of what it sent elsewhere)
    ...('recall' in journal ? { recall: (deviceId: string) => journal.recall([deviceId], clock.now()) } : {}),
    clientById: (id) =>
      (broker as unknown as { clients: Record<string, Client | undefined> } | undefined)?.clients[id],
  });

  const publishError = (topic: string, message: DeviceErrorMessage): void => {
    broker?.publish(
      {
        cmd: 'publish',
        topic,
        payload: Buffer.from(JSON.stringify(message)),
        qos: 0,
        retain: false,
        dup: false,
      },
      noop,
    );
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

  let feed: IntegrationFeed | undefined;
  // The Redis cluster's libraries are loaded only when a cluster is configured (start-up time of the embedded hub).
  const cluster = config.redisUrl ? await import('./cluster.ts') : undefined;
  const persistence =
    config.redisUrl && cluster ? cluster.createRedisPersistence(config.redisUrl) : undefined;
  broker = await Aedes.createBroker({
    ...(config.redisUrl && cluster && persistence
      ? { mq: cluster.createClusterEmitter(config.redisUrl, 100), persistence }
      : // aedes' own bus, as aedes makes it ([MQTT-4.7.1-3] empty levels), routing readings only when wanted
        { mq: createReadingRoutes(mqemitter({ concurrency: 100, matchEmptyLevels: true })) }),
    preConnect: auth.preConnect,
    authenticate: auth.authenticate,
    authorizePublish: (client, packet, callback) => {
      if (packet.qos === 2 && client && !limits.holdQos2(client, packet)) {
        log.warn(
          { clientId: client.id, maxInflightQos2Bytes: config.maxInflightQos2Bytes },
          'QoS 2 bytes awaiting PUBREL over the credential’s budget; connection closed',
        );
        callback(new Error('inflight QoS 2 bytes over mqtt.maxInflightQos2Bytes'));
        return;
      }
      pipeline.authorizePublish(client, packet, callback);
    },
    maxInflightInbound: config.maxInflightQos2PerClient,
    authorizeSubscribe: pipeline.authorizeSubscribe,
    authorizeForward: (client, packet) => {
      const s = sessionOf(client);
      // a token that ran out ends the session it opened at its next delivery
      if (
        s &&
        (s.role === 'worker' || s.role === 'integration') &&
        s.expiresAt &&
        s.expiresAt <= clock.now()
      ) {
        client.close();
        return null;
      }
      const p = pipeline.authorizeForward(client, packet);
      return p && feed && !feed.mayForward(client, p) ? null : p;
    },
    connectTimeout: config.connectTimeoutMs,
    // a frozen subscriber is cut off after this; aedes' 60 s default would hold delivery slots for a minute
    drainTimeout: config.drainTimeoutMs,
    // aedes checks depth on PUBLISH and SUBSCRIBE before any side effect and closes the connection
    maxTopicLevels: config.maxTopicDepth,
    // keepalive: aedes disconnects a client silent for 1.5 × its keepalive and publishes its will
    // ([MQTT-3.1.2-24], handlers/connect.js setKeepAlive), so nothing to add here
  });
  const aedes = broker;
  limits.watchReleases(aedes, pipeline.released);
  feed = createIntegrationFeed({ broker: aedes, bus, devices, log, metrics: deps.metrics });

  aedes.on('clientReady', (client) => {
    const s = sessionOf(client);
    if (s?.role === 'device') presence.connected(s);
  });
  aedes.on('clientDisconnect', (client) => {
    const s = sessionOf(client);
    if (s?.role === 'device' && !closing) presence.disconnected(s);
    // aedes sets _disconnected only for a DISCONNECT packet: the client ended the session knowingly
    pipeline.closed(client, (client as { _disconnected?: boolean })._disconnected === true);
  });
  aedes.on('keepaliveTimeout', (client) => {
    const s = sessionOf(client);
    if (s?.role === 'device') s.keepaliveTimedOut = true;
  });
  // aedes reports one error per failed pending write (a drain timeout fails them all): count the connection once
  const counted = new WeakSet<Client>();
  const onClientError = (client: Client, err: Error) => {
    if (err instanceof PublishRefused) return;
    const reason = protocolReason(err);
    if (reason && !counted.has(client)) {
      counted.add(client);
      metrics.protocolErrors.inc({ reason });
      if (reason === 'topic_depth') metrics.rejected.inc({ code: 'TOPIC_INVALID', type: 'none' });
    }
    if (log.isLevelEnabled('debug'))
      log.debug(
        { clientId: client.id, ip: (client as HubClient)[CONN]?.ip, err: err.message },
        'mqtt connection error',
      );
  };
  aedes.on('clientError', onClientError);
  aedes.on('connectionError', onClientError);
  // aedes emits 'error' for persistence failures; an EventEmitter without a listener would throw them
  (aedes as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'));

  const sockets = new Set<Duplex>();
  // a subscriber that stops reading is cut off at the drain timeout, whatever its backlog (slow-subscribers.ts)
  const slow = createSlowSubscriberGuard({
    stallMs: config.drainTimeoutMs,
    metrics: deps.metrics,
    log,
    clientIdOf: (conn) => clientOf(conn)?.id,
  });
  const gauges = {
    tcp: metrics.connections.labels('tcp'),
    tls: metrics.connections.labels('tls'),
    ws: metrics.connections.labels('ws'),
  };

  /**
   * What a connection's close and an oversize frame do, one function per transport shared by its connections
   * (they find their client on the connection): a closure and a `once` wrapper per connection and concern were
   * some 800 bytes of every idle connection (issue #19). A connection closes once, so `on` is `once` here.
   */
  const perTransport = (transport: Transport) => ({
    closed(this: Duplex) {
      gauges[transport].dec();
      sockets.delete(this);
      slow.unwatch(this);
      const client = clientOf(this);
      if (client) limits.disconnect(client);
    },
    oversize(conn: Duplex) {
      metrics.oversize.inc({ transport });
      log.warn(
        { ip: clientOf(conn)?.[CONN]?.ip, transport, maxPacketBytes: config.maxPacketBytes },
        'frame over mqtt.maxPacketBytes; connection closed',
      );
    },
  });
  const handlers = { tcp: perTransport('tcp'), tls: perTransport('tls'), ws: perTransport('ws') };

  function attach(conn: Duplex, ip: string, transport: Transport): void {
    const on = handlers[transport];
    gauges[transport].inc();
    sockets.add(conn);
    conn.on('close', on.closed);
    // The broker's side of the connection waits its turn too: in a storm the listener accepts hundreds of
    // sockets in one poll, and setting each up at once (aedes' client, its parser and streams) blocked the loop
    // for ~100 ms per burst. Until then the socket's bytes wait in its buffer, where the guard still sees them.
    connectQueue.push(() => {
      if (conn.destroyed) return;
      guardFrames(conn, config.maxPacketBytes, on.oversize);
      const client = aedes.handle(conn) as HubClient;
      client[CONN] = { ip, transport, clientIdProblem: null, willTopic: null };
      slow.watch(conn);
    }, 'accept');
  }

  const servers: net.Server[] = [];
  let closing = false;

  return {
    broker: aedes,
    limits,
    webSocketPlugin: mqttWebSocketPlugin({
      path: config.wsPath,
      maxPacketBytes: config.maxPacketBytes,
      attach: (stream, ip) => attach(stream, ip, 'ws'),
    }),

    async listen() {
      // noDelay: with Nagle on, small QoS 0 frames wait for delayed ACKs (p99 ~40 ms measured, 0.25 ms without)
      const tcp = net.createServer({ noDelay: true }, (socket) => {
        socket.setNoDelay(true);
        attach(socket, socket.remoteAddress ?? 'unknown', 'tcp');
      });
      tcp.on('error', (err) => log.error({ err }, 'mqtt listener error'));
      servers.push(tcp);
      const mqttPort = await listenOn(tcp, config.port, host, SETTINGS.port);
      log.info({ host, port: mqttPort }, 'mqtt listening');
      if (!config.tlsCert || !config.tlsKey) return { mqttPort };
      const secure = tls.createServer(
        { cert: pem(config.tlsCert), key: pem(config.tlsKey), noDelay: true },
        (socket) => {
          socket.setNoDelay(true);
          attach(socket, socket.remoteAddress ?? 'unknown', 'tls');
        },
      );
      secure.on('tlsClientError', (err) => {
        if (log.isLevelEnabled('debug')) log.debug({ err: err.message }, 'tls handshake failed');
      });
      servers.push(secure);
      let tlsPort: number;
      try {
        tlsPort = await listenOn(secure, config.tlsPort, host, SETTINGS.tlsPort);
      } catch (err) {
        // all or nothing: the caller exits on this error and should not leave the TCP port bound
        await closeServer(tcp);
        throw err;
      }
      log.info({ host, port: tlsPort }, 'mqtts listening');
      return { mqttPort, tlsPort };
    },

    publishToWorker(workerId, payload) {
      if (!isTopicLevel(workerId))
        return Promise.reject(
          new GridHubError('REQUEST_INVALID', `not a usable worker id: ${JSON.stringify(workerId)}`),
        );
      const body = Buffer.from(JSON.stringify(payload));
      pipeline.alarmQueued();
      return new Promise<void>((resolve, reject) => {
        aedes.publish(
          {
            cmd: 'publish',
            topic: topics.workerAlarms(workerId),
            payload: body,
            qos: 1,
            retain: false,
            dup: false,
          },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    },

    consume: (sink) => pipeline.consume(sink),

    closeSessionsOf(tokenIds) {
      const ids = new Set(tokenIds);
      let closed = 0;
      const clients = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients;
      for (const client of Object.values(clients)) {
        const s = client && sessionOf(client);
        if (client && s && 'tokenId' in s && s.tokenId !== undefined && ids.has(s.tokenId)) {
          client.close();
          closed++;
        }
      }
      if (closed > 0) log.info({ closed }, 'mqtt sessions of revoked tokens closed');
      return closed;
    },

    replayJournal: () => pipeline.replayJournal(),
    replayOrphans: (now) => pipeline.replayOrphans(now),

    stopTaking: () => close(),
    close,
  };

  // a function declaration, so the returned object above can name it
  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    slow.close();
    feed?.close();
    pipeline.beginShutdown();
    const serversClosed = servers.map(closeServer);
    // whatever waits for the group commit is handed over and acknowledged before the sockets go
    pipeline.flush();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    // connects and disconnects still queued go to the table (later disconnects are not recorded: closing)
    presence.flush();
    if (persistence) {
      // bounded: after the Redis bus has gone, its unsubscribe may never answer
      await Promise.race([
        persistence.destroy().catch((err: unknown) => log.warn({ err }, 'redis persistence close failed')),
        new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
      ]);
    }
    for (const s of sockets) s.destroy();
    // every socket and client is closed now: what still waits in the connect queue sees that and does nothing
    connectQueue.drain();
    await Promise.all(serversClosed);
  }
}

/** The aedes client of a connection: aedes' Client keeps itself on its connection (`conn.client`, client.js). */
function clientOf(conn: Duplex): HubClient | undefined {
  return (conn as Duplex & { client?: HubClient }).client;
}

function noop(): void {}
