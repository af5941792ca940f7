import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  alertsPublicRoutes,
  alertsRoutes,
  createDispatcher,
  type Dispatcher,
  deliveryChannels,
  openSharedAlertStores,
  openSqliteAlertStores,
  outboundPolicy,
  ratingPagePlugin,
} from './alerts/index.ts';
import { buildApp } from './api/app.ts';
import { brokerHookRoutes } from './api/broker-hook-routes.ts';
import { dashboardsPlugin } from './api/dashboards-plugin.ts';
import { integrationRoutes } from './api/integration-routes.ts';
import { type Catalogue, createCatalogue } from './catalogue/catalogue.ts';
import { openPushStore } from './channels/push-store.ts';
import { createAlertStream } from './channels/stream.ts';
import { newVapidKeys } from './channels/webpush.ts';
import { type Clock, createSystemClock } from './clock/clock.ts';
import type { Config } from './config/config.ts';
import { seedDemo, seedDemoResidents } from './demo/seed.ts';
import { createDeviceRouting, type DeviceRouting } from './device-routing.ts';
import { createEventBus, type EventBus } from './domain/events.ts';
import type { DeviceRecord } from './domain/records.ts';
import { createFlow, recordEach } from './flow.ts';
import { type HubStores, openHubStores, StoreOpenError } from './hub-stores.ts';
import { createBrokerHooks } from './ingest/broker-hooks.ts';
import { SHADOW_AGE_LEASES } from './ingest/external.ts';
import { createMqttIngest, type MqttIngest } from './ingest/ingest.ts';
import { createLiveRelay, relayAnnouncement } from './live-relay.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetricsRegistry, type MetricsRegistry } from './observability/metrics.ts';
import { createLoginGate, DEFAULT_LOGIN_GATE } from './registry/login-gate.ts';
import type { Registry } from './registry/registry.ts';
import { loadServerKey } from './registry/secrets.ts';
import { createRuleEngine, type RuleEngine } from './rules/engine.ts';
import { rulesRoutes } from './rules/routes.ts';
import { VERSION } from './runtime/project.ts';
import { leaseCheck } from './storage/leases.ts';
import { createMembership } from './storage/membership.ts';
import { runOnce } from './storage/once.ts';
import { type StoreLocation, storeLocation } from './storage/open.ts';
import type { Db } from './storage/sqlite.ts';
import {
  createTelemetryStore,
  type InfluxStore,
  type TelemetryStore,
  telemetryRoutes,
} from './telemetry/index.ts';

export interface HubOptions {
  config: Config;
  /** Injected in tests (ManualClock); otherwise the system clock at config.clockSpeed. */
  clock?: Clock;
  log?: Logger;
}

export interface Hub {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly db: Db;
  readonly registry: Registry;
  readonly catalogue: Catalogue;
  readonly bus: EventBus;
  readonly metrics: MetricsRegistry;
  readonly app: FastifyInstance;
  readonly ingest: MqttIngest;
  readonly rules: RuleEngine;
  readonly dispatcher: Dispatcher;
  readonly telemetry: TelemetryStore;
  /** Owner routing of an external broker's devices on a shared database (src/device-routing.ts); else none. */
  readonly routing: Pick<DeviceRouting, 'owns' | 'evaluates'> | undefined;
  /** Set once started: where clients connect. */
  readonly urls: { http: string; mqtt: string };
  /** Path of the demo credentials file when the demo was seeded (now or on an earlier start). */
  readonly demoCredentialsFile: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Thrown for start-up problems an operator must fix; main prints the message and exits 1. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The composition root: config → logger → stores → stages → wiring. Only this file knows how the parts fit.
 */
export async function createHub(options: HubOptions): Promise<Hub> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const clock =
    options.clock ??
    createSystemClock({
      speed: config.clockSpeed,
      ...(config.clockAnchor !== undefined ? { anchorAt: config.clockAnchor } : {}),
    });
  const dataDir = resolve(config.dataDir);
  // residents' personal data and the keys live here: owner only (docs/security.md)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const firstStart = !existsSync(join(dataDir, 'gridhub.db'));

  const metrics = createMetricsRegistry();
  const bus = createEventBus(log.child({ module: 'events' }));
  const catalogue = createCatalogue();
  let location: StoreLocation;
  try {
    location = storeLocation(config.databaseUrl);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const registryLog = log.child({ module: 'registry' });
  const keyFile = config.secretKeyFile ?? join(dataDir, 'hub.key');
  let stores: HubStores;
  try {
    stores = await openHubStores({
      secretKeyFile: keyFile,
      location,
      dataDir,
      instanceId: config.instanceId,
      leaseTtlMs: config.leaseTtlMs,
      preparedStatements: config.databasePreparedStatements,
      clock,
      log,
      catalogue,
      // WAL checkpoints on a worker thread: never inside an alarm's transaction (src/storage/checkpointer.ts)
      checkpoints: 'background',
      registry: {
        timeZone: config.alerts.timeZone,
        secretKey: loadServerKey(keyFile),
        passwordCost: config.http.passwordCost,
        // the first devices (an operator searches for one) and how many: a reconnect storm's batch can be thousands
        onWriteError: (err, deviceIds) =>
          registryLog.error(
            { err, deviceId: deviceIds[0], deviceIds: deviceIds.slice(0, 50), devices: deviceIds.length },
            'presence write failed',
          ),
      },
      rules: {
        flushMs: config.rules.stateFlushMs,
        presenceFlushMs: config.rules.presenceFlushMs,
        now: () => clock.now(),
      },
    });
  } catch (err) {
    if (err instanceof StoreOpenError) throw new StartupError(err.message);
    throw err;
  }
  const { db, registry } = stores;
  // the one login throttle, for HTTP logins and MQTT CONNECTs alike
  const loginGate = createLoginGate(clock, {
    ...DEFAULT_LOGIN_GATE,
    freePerSource: config.http.loginFreeAttempts,
    freePerAccount: config.http.loginFreeAttempts,
    baseDelayMs: config.http.loginDelayMs,
    maxDelayMs: config.http.loginMaxDelayMs,
  });
  await registry.devices.markOfflineAtStart(clock.now());

  // the embedded file seeds on its first start; a shared database asks whether any instance has seeded it yet
  let seeded = !config.demo || (stores.kind === 'sqlite' && !firstStart);
  const demoFile = join(dataDir, 'demo-credentials.json');
  const urls = { http: '', mqtt: '' };

  const telemetry = createTelemetryStore({
    influx: config.influx,
    telemetry: config.telemetry,
    dataDir,
    catalogue,
    log,
    metrics,
    clock,
  });

  // Several instances on one database taking an external broker's traffic, owner routing: each device is
  // evaluated by one instance (src/device-routing.ts); its first view of who is live comes before the stages.
  const routing: DeviceRouting | undefined =
    stores.kind === 'postgres' &&
    stores.lease &&
    config.mqtt.externalUrl !== undefined &&
    config.mqtt.externalRouting === 'owner'
      ? createDeviceRouting({
          membership: createMembership(stores.store, {
            instanceId: stores.instanceId,
            ttlMs: stores.lease.ttlMs,
          }),
          devices: registry.devices,
          // a lease under the shadow's age: what the device said while it waited is still there to be fed
          waitLimitMs: (SHADOW_AGE_LEASES - 1) * stores.lease.ttlMs,
          log,
        })
      : undefined;
  await routing?.init(clock.now());
  if (stores.kind === 'postgres' && routing === undefined)
    // Each instance restores and times every device's stateful rules (absence, `for`) but sees only the readings
    // that reach it: sound for one instance on the database, not yet for several (README, several instances).
    log.warn(
      { instanceId: stores.instanceId, externalRouting: config.mqtt.externalRouting },
      'on a shared database without owner routing: stateful rules (offline, "for") are not coordinated across instances; run several instances behind an external broker with GRIDHUB_MQTT_EXTERNAL_ROUTING=owner',
    );

  // The broker first, so the dispatcher's MQTT channel is handed the broker itself; ingest is told where its
  // readings go once the flow exists.
  const ingest = await createMqttIngest({
    config: config.mqtt,
    host: config.host,
    catalogue,
    devices: registry.devices,
    tokens: registry.users,
    clock,
    log,
    metrics,
    bus,
    db,
    ...(stores.journal ? { journal: stores.journal } : {}),
    ...(routing && stores.lease
      ? { ownership: { instanceId: stores.instanceId, leaseTtlMs: stores.lease.ttlMs, owns: routing.owns } }
      : {}),
    loginGate,
  });
  // a revoked or logged-out token ends the MQTT sessions it opened (the SSE streams are closed by the app)
  registry.users.onRevoked((ids) => ingest.closeSessionsOf(ids));
  // The dispatcher's stores, outbox channels and live stream are built here and handed in.
  const alertStores =
    stores.kind === 'postgres'
      ? await openSharedAlertStores(
          stores.store,
          clock,
          {
            timeZone: config.alerts.timeZone,
            whenFeedReconnects: stores.whenFeedReconnects,
            onError: (err) => log.error({ err }, 'residents could not be read again after an edit elsewhere'),
          },
          stores.changes,
        )
      : openSqliteAlertStores(db, clock, { timeZone: config.alerts.timeZone });
  // On a shared database the outbox claims under the instance's name, like its other rows: a claim is live while
  // that name's lease is (outbox-claims.ts), so no other name will do.
  if (
    stores.kind === 'postgres' &&
    config.alerts.instanceId &&
    config.alerts.instanceId !== stores.instanceId
  )
    log.warn(
      { instanceId: stores.instanceId, ignored: config.alerts.instanceId },
      'GRIDHUB_ALERTS_INSTANCE_ID names the hub on the embedded store only; on a shared database the outbox claims under GRIDHUB_INSTANCE_ID',
    );
  const alertsConfig =
    stores.kind === 'postgres' ? { ...config.alerts, instanceId: stores.instanceId } : config.alerts;
  const pushStore = await openPushStore(stores.store, clock, newVapidKeys, stores.changes);
  stores.whenFeedReconnects(() => pushStore.reload());
  // The live stream is fed from the bus, after each commit, never through the outbox.
  const stream = createAlertStream({
    maxBufferedBytes: config.alerts.streamMaxBufferedBytes,
    metrics,
    log: log.child({ module: 'alerts' }),
  });
  bus.on('alert.streamed', stream.publish);
  const dispatcher = createDispatcher({
    clock,
    log,
    metrics,
    bus,
    config: alertsConfig,
    places: registry.places,
    people: registry.people,
    stores: alertStores,
    pushStore,
    stream,
    // the worker's alarm goes out through the broker itself
    channels: deliveryChannels(config.alerts, { publisher: ingest, pushStore, clock }),
    outbound: outboundPolicy(config.alerts),
    sink: telemetry,
    // Messages are written in the language of the person's user account, and link to where phones reach the hub.
    // on a shared database each change is announced to the other instances inside its own transaction
    ...(stores.kind === 'postgres'
      ? { announce: (msgs) => stores.changes.inTransaction(msgs.map(relayAnnouncement)) }
      : {}),
    localeOf: (personId) => registry.users.localeOfPerson(personId),
    publicUrl: () => urls.http,
  });
  // several instances on one database: each one's board also streams what the others commit
  const relay =
    stores.kind === 'postgres'
      ? createLiveRelay({
          bus,
          changes: stores.changes,
          stream,
          read: (id) => dispatcher.get(id),
          log: log.child({ module: 'alerts' }),
          metrics,
          announces: 'transaction',
        })
      : undefined;
  const record = recordEach((result) => dispatcher.handle(result));
  const rules = createRuleEngine({
    catalogue,
    clock,
    db,
    log,
    metrics,
    rulesDir: resolve(dataDir, config.rules.dir),
    packDir: config.rules.defaultPack ? undefined : null,
    watch: config.rules.watch,
    stateFlushMs: config.rules.stateFlushMs,
    presenceFlushMs: config.rules.presenceFlushMs,
    sandboxTimeoutMs: config.rules.sandboxTimeoutMs,
    sandboxMemoryMb: config.rules.sandboxMemoryMb,
    onTimerResults: record,
    ...(stores.ruleState ? { stateStore: stores.ruleState } : {}),
    ...(routing ? { owns: routing.evaluates } : {}),
  });
  if (routing && ingest.routing) await routing.attach({ ingest: ingest.routing, rules });
  ingest.consume(createFlow({ rules, record, store: (point) => telemetry.writeReading(point) }));
  // A device that has never connected is "not yet online", not offline: its silence is timed from its first
  // message, so a freshly provisioned estate does not fill the board with offline alerts (issue #17).
  const seedPresence = (devices: readonly DeviceRecord[]) =>
    rules.seedPresence(
      devices
        .filter((d) => d.lastSeen !== null)
        .map((d) => ({
          deviceId: d.id,
          deviceType: d.type,
          placeId: d.placeId,
          place: d.place,
          floor: d.floor,
          lastSeen: d.lastSeen,
        })),
    );
  seedPresence(registry.devices.list());
  const replayed = await ingest.replayJournal();
  if (replayed > 0) log.warn({ replayed }, 'replayed QoS 1 events journaled before an unclean stop');

  const app = await buildApp({
    log,
    clock,
    registry,
    catalogue,
    metrics,
    tokenTtlMs: config.http.tokenTtlHours * 3_600_000,
    timeZone: config.alerts.timeZone,
    apiTokenTtlMs: config.http.apiTokenTtlDays * 86_400_000,
    loginGate,
    rateLimitPerMinute: config.http.rateLimitPerMinute,
    trustProxy: config.http.trustProxy,
    version: VERSION,
    readiness: [
      { name: 'registry', check: () => seeded || 'seeding the demo community' },
      { name: 'mqtt', check: () => urls.mqtt !== '' || 'MQTT listener not started' },
      // On a shared database an instance that cannot renew its lease is taken for dead by the others, which take
      // its devices and deliveries: a load balancer should stop sending it requests too.
      ...(stores.lease ? [{ name: 'database', check: leaseCheck(stores.lease, clock) }] : []),
    ],
    routes: [
      rulesRoutes({ engine: rules }),
      alertsRoutes({
        dispatcher,
        clock,
        places: registry.places,
        userName: (u) => registry.users.get(u)?.displayName ?? null,
      }),
      telemetryRoutes({ reader: telemetry, devices: registry.devices, clock }),
      integrationRoutes({
        dispatcher,
        devices: registry.devices,
        places: registry.places,
        users: registry.users,
        bus,
        clock,
      }),
    ],
    publicRoutes: [alertsPublicRoutes({ dispatcher })],
    rootPlugins: [
      ingest.webSocketPlugin,
      dashboardsPlugin(),
      ratingPagePlugin(),
      // an external broker (EMQX) asks these to check logins and topics; off unless GRIDHUB_MQTT_HOOK_SECRET is set
      brokerHookRoutes({
        secret: config.mqtt.hookSecret,
        rateLimitPerMinute: config.http.rateLimitPerMinute,
        answers: createBrokerHooks({
          config: config.mqtt,
          devices: registry.devices,
          tokens: registry.users,
          users: registry.users,
          gate: loginGate,
          log,
          metrics,
        }),
      }),
    ],
    onDeviceProvisioned: (device) => seedPresence([device]),
  });

  const flushPresence = () =>
    registry.devices.flushPresence().catch((err: unknown) => {
      registryLog.error({ err }, 'last-seen flush failed; kept for the next one');
    });
  const presenceTimer = setInterval(() => void flushPresence(), 5_000);
  presenceTimer.unref();

  return {
    config,
    clock,
    log,
    db,
    registry,
    catalogue,
    bus,
    metrics,
    app,
    ingest,
    rules,
    dispatcher,
    telemetry,
    routing,
    urls,
    get demoCredentialsFile() {
      return existsSync(demoFile) ? demoFile : undefined;
    },
    async start() {
      let mqttPort = 0;
      const listenMqtt = async () => {
        try {
          ({ mqttPort } = await ingest.listen());
        } catch (err) {
          if (app.server.listening) await app.close();
          throw new StartupError((err as Error).message);
        }
      };
      const listenHttp = async () => {
        try {
          await app.listen({ port: config.http.port, host: config.host });
        } catch (err) {
          await ingest.close();
          throw portError(err, 'GRIDHUB_HTTP_PORT', config.http.port, config.host);
        }
      };
      // An external broker that asks the hooks checks the hub's own consumer login through them too: HTTP must
      // answer before the consumer connects, or instances starting together would each wait for the other.
      // /readyz says "not ready" until MQTT is up as well.
      if (config.mqtt.externalUrl !== undefined && config.mqtt.hookSecret !== undefined) {
        await listenHttp();
        await listenMqtt();
      } else {
        await listenMqtt();
        await listenHttp();
      }
      const httpPort = (app.server.address() as { port: number }).port;
      const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
      urls.http = `http://${host}:${httpPort}`;
      urls.mqtt = `mqtt://${host}:${mqttPort}`;
      await dispatcher.start();
      // on a shared database: renew this instance's lease, and after each renewal take over what dead ones held
      const sweep = orphanSweep({ devices: registry.devices, ingest, dispatcher, log });
      stores.lease?.start(
        (err) => log.error({ err }, 'instance lease renewal or sweep failed; retried at the next renewal'),
        routing
          ? // devices taken over first, so that a dead owner's journaled events are re-fed into adopted state
            async (now) => {
              const failed = await routing.refresh(now).then(
                () => undefined,
                (err: unknown) => ({ err }),
              );
              await sweep(now);
              if (failed) throw failed.err;
            }
          : sweep,
        routing ? (now) => routing.nextExpiry(now) : undefined,
      );
      if (telemetry.kind === 'influx') {
        // Not fatal: while InfluxDB is away, lines wait in the spool. Say so once at start.
        void (telemetry as InfluxStore).check().then((problem) => {
          if (problem)
            log.warn({ problem }, 'InfluxDB is not reachable yet; telemetry is spooled until it is');
        });
      }
      if (!seeded) {
        // once per database: instances sharing one seed it once, the others wait for it (storage/once.ts)
        let file = '';
        const outcome = await runOnce(
          stores.store,
          'demo-seed',
          async () => {
            ({ file } = await seedDemo(registry, {
              dataDir,
              now: clock.now(),
              mqttUrl: urls.mqtt,
              httpUrl: urls.http,
            }));
            await seedDemoResidents(dispatcher, registry.devices.list({ type: 'call_button' }));
          },
          { clock },
        );
        seedPresence(registry.devices.list());
        seeded = true;
        if (outcome === 'ran') log.info({ file }, `demo community seeded; credentials are in ${file}`);
        else log.info('the demo community was seeded by another instance on this database');
      }
    },
    async stop() {
      clearInterval(presenceTimer);
      // Stop taking messages first, then let each stage below finish what it holds; the connection alarms go out
      // on closes after the dispatcher's last deliveries.
      await ingest.stopTaking();
      await app.close();
      await rules.close();
      relay?.close();
      await dispatcher.stop();
      await ingest.close();
      await telemetry.close();
      await flushPresence();
      await registry.devices.settled();
      await stores.close();
    },
  };
}

/**
 * The heartbeat's sweep on a shared database (issue #18), run by the instance lease after each renewal
 * (`createInstanceLease(...).start(onError, orphanSweep(...))`, every lease period on the hub clock): the devices
 * a dead instance held go offline, its QoS 1 events in flight are replayed, the escalation steps and must-reach
 * rungs it scheduled are armed here too and the deliveries it had claimed are taken over, within seconds, while
 * the others run, rather than only when one restarts. The embedded `local`
 * hub holds no lease and runs no sweep. Each part runs even when another fails; the first failure is passed on
 * for the lease to report.
 */
export function orphanSweep(deps: {
  devices: Pick<Registry['devices'], 'releaseOrphans'>;
  ingest: Pick<MqttIngest, 'replayOrphans'>;
  dispatcher: Pick<Dispatcher, 'takeOver'>;
  log: Logger;
}): (now: number) => Promise<void> {
  const { devices, ingest, dispatcher, log } = deps;
  return async (now) => {
    const [offline, replayed, delivered] = await Promise.allSettled([
      devices.releaseOrphans(now),
      Promise.resolve(ingest.replayOrphans(now)),
      dispatcher.takeOver(now),
    ]);
    // one line per sweep, not per device: a dead instance may have held thousands
    if (offline.status === 'fulfilled' && offline.value.length > 0)
      log.warn(
        { offline: offline.value.length, deviceIds: offline.value.slice(0, 20) },
        'devices of an instance whose lease ran out marked offline',
      );
    if (replayed.status === 'fulfilled' && replayed.value > 0)
      log.warn({ replayed: replayed.value }, 'replayed the QoS 1 events of an instance whose lease ran out');
    if (offline.status === 'rejected') throw offline.reason;
    if (replayed.status === 'rejected') throw replayed.reason;
    if (delivered.status === 'rejected') throw delivered.reason;
  };
}

export function portError(err: unknown, setting: string, port: number, host: string): Error {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new StartupError(`${host}:${port} is already in use; set ${setting} to a free port`);
  }
  if ((err as NodeJS.ErrnoException).code === 'EACCES') {
    return new StartupError(
      `no permission to listen on ${host}:${port}; set ${setting} to a port above 1023`,
    );
  }
  return err as Error;
}
