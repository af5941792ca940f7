import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type AlertsConfig, alertsConfigSchema } from '../../src/alerts/config.ts';
import { deliveryChannels, outboundPolicy } from '../../src/alerts/delivery-channels.ts';
import { createDispatcher, type Dispatcher } from '../../src/alerts/dispatcher.ts';
import { openSqliteAlertStores } from '../../src/alerts/sqlite-alert-store.ts';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import { createPushStore } from '../../src/channels/push-store.ts';
import { createAlertStream } from '../../src/channels/stream.ts';
import { newVapidKeys } from '../../src/channels/webpush.ts';
import { type Clock, ManualClock } from '../../src/clock/clock.ts';
import { createEventBus, type EventBus } from '../../src/domain/events.ts';
import type { AlertChangePoint, TelemetrySink, WorkerPublisher } from '../../src/domain/ports.ts';
import type { PersonRole } from '../../src/domain/records.ts';
import type { AlertRaise, RuleResult } from '../../src/domain/rule-result.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../../src/observability/metrics.ts';
import { createRegistry, type Registry } from '../../src/registry/registry.ts';
import { type Db, openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';

/**
 * What the composition root (src/hub.ts) builds for the dispatcher — its stores, the channels of its config, the
 * live stream fed from the bus — built the same way over a test's database.
 */
export function dispatcherParts(deps: {
  db: Db;
  clock: Clock;
  config: AlertsConfig;
  publisher: WorkerPublisher;
  metrics: MetricsRegistry;
  bus: EventBus;
}) {
  const { db, clock, config, publisher, metrics, bus } = deps;
  const stores = openSqliteAlertStores(db, clock, { timeZone: config.timeZone });
  const pushStore = createPushStore(sqliteStore(db), clock, newVapidKeys);
  const stream = createAlertStream({
    maxBufferedBytes: config.streamMaxBufferedBytes,
    metrics,
    log: silentLog,
  });
  bus.on('alert.streamed', stream.publish);
  return {
    stores,
    pushStore,
    stream,
    channels: deliveryChannels(config, { publisher, pushStore, clock }),
    outbound: outboundPolicy(config),
  };
}

/** Monday 5 Jan 2026 16:00 Asia/Shanghai. */
export const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

export class RecordingPublisher implements WorkerPublisher {
  readonly sent: { workerId: string; payload: Record<string, unknown>; at: number }[] = [];
  failNext = 0;
  constructor(private readonly clock: ManualClock) {}
  async publishToWorker(workerId: string, payload: object): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('broker unavailable');
    }
    this.sent.push({ workerId, payload: payload as Record<string, unknown>, at: this.clock.now() });
  }
  to(workerId: string) {
    return this.sent.filter((s) => s.workerId === workerId);
  }
}

export class RecordingSink implements TelemetrySink {
  readonly changes: AlertChangePoint[] = [];
  writeReading(): void {}
  writeAlertChange(change: AlertChangePoint): void {
    this.changes.push(change);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export const ALWAYS = [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startMinute: 0, endMinute: 1440 }));

/**
 * street s1 › community c1 › grids g1, g2 › estates e1 (g1), e2 (g2) › buildings b1 (e1), b2 (e2).
 * People on duty around the clock: worker w1 + leader l1 (g1), worker w2 + leader l2 (g2), property duty p1 (e1),
 * community duty cd1 (c1), street command sc1 (s1), fire department f1 (c1).
 */
export function seedCommunity(registry: Registry, options: { onDuty?: boolean } = {}): void {
  const pl = registry.places;
  // not awaited: on SQLite a registry write is done when the call returns (src/storage/README.md)
  void pl.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  void pl.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  void pl.create({ id: 'g1', level: 'grid', name: '第一网格', parentId: 'c1' });
  void pl.create({ id: 'g2', level: 'grid', name: '第二网格', parentId: 'c1' });
  void pl.create({ id: 'e1', level: 'estate', name: '阳光小区', parentId: 'g1' });
  void pl.create({ id: 'e2', level: 'estate', name: '月亮小区', parentId: 'g2' });
  void pl.create({ id: 'b1', level: 'building', name: '1号楼', parentId: 'e1' });
  void pl.create({ id: 'b2', level: 'building', name: '2号楼', parentId: 'e2' });
  void pl.create({ id: 'b1u1', level: 'unit', name: '1单元', parentId: 'b1' });
  const person = (id: string, role: PersonRole, placeId: string, extra: { department?: 'fire' } = {}) => {
    // not awaited either: on SQLite the roster's writes are done, and the roster dropped, when the call returns
    void registry.people.create({ id, name: id.toUpperCase(), role, placeIds: [placeId], ...extra });
    if (options.onDuty !== false) void registry.people.setShifts(id, ALWAYS);
  };
  person('w1', 'grid_worker', 'g1');
  person('l1', 'grid_leader', 'g1');
  person('w2', 'grid_worker', 'g2');
  person('l2', 'grid_leader', 'g2');
  person('p1', 'property_duty', 'e1');
  person('cd1', 'community_duty', 'c1');
  person('sc1', 'street_command', 's1');
  person('f1', 'department', 'c1', { department: 'fire' });
}

export interface Harness {
  dir: string;
  file: string;
  db: Db;
  clock: ManualClock;
  registry: Registry;
  publisher: RecordingPublisher;
  sink: RecordingSink;
  bus: EventBus;
  config: AlertsConfig;
  dispatcher: Dispatcher;
  /** The metrics registry of the current dispatcher. */
  metrics: MetricsRegistry;
  /** A new dispatcher on a fresh connection to the same file (the previous one stopped): a restart. */
  restart(): Dispatcher;
  close(): Promise<void>;
}

export const silentLog = pino({ level: 'silent' });

export function createHarness(
  options: {
    config?: Partial<AlertsConfig>;
    dir?: string;
    /** The locale of a person's user account (messages follow it). */
    localeOf?: (personId: string) => string | undefined;
    /** Hears every SQL statement the hub's connection executes (not after restart()). */
    verbose?: (sql: string) => void;
  } = {},
): Harness {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gridhub-alerts-'));
  const file = join(dir, 'gridhub.db');
  const clock = new ManualClock(T0);
  let db = openDatabase(file, options.verbose ? { verbose: options.verbose } : {});
  const config = { ...alertsConfigSchema.parse({}), ...options.config };
  // one key across restart(), as the hub keeps hub.key in its data dir
  const secretKey = randomBytes(32);
  const openRegistry = (database: Db) =>
    createRegistry(database, createCatalogue(), clock, { timeZone: config.timeZone, secretKey });
  const registry = openRegistry(db);
  const publisher = new RecordingPublisher(clock);
  const sink = new RecordingSink();
  const bus = createEventBus(silentLog);
  let metrics = createMetricsRegistry({ defaultMetrics: false });
  const build = (database: Db, reg: Registry) => {
    metrics = createMetricsRegistry({ defaultMetrics: false });
    return createDispatcher({
      clock,
      log: silentLog,
      metrics,
      ...dispatcherParts({ db: database, clock, config, publisher, metrics, bus }),
      sink,
      bus,
      config,
      places: { path: (id) => reg.places.path(id), name: (id) => reg.places.name(id) },
      people: reg.people,
      ...(options.localeOf ? { localeOf: options.localeOf } : {}),
    });
  };
  const h: Harness = {
    dir,
    file,
    db,
    clock,
    registry,
    publisher,
    sink,
    bus,
    config,
    dispatcher: build(db, registry),
    get metrics() {
      return metrics;
    },
    restart() {
      db = openDatabase(file);
      h.db = db;
      h.registry = openRegistry(db);
      h.dispatcher = build(db, h.registry);
      return h.dispatcher;
    },
    async close() {
      await h.dispatcher.stop();
      db.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

let seq = 0;

/** A rule raise for a device at a place of the seeded community. */
/** Grid g1's group robot (webhook target `robot`): the lane the outbox tests make hang or fail. */
export function addGridRobot(hh: Harness): Promise<unknown> {
  return Promise.resolve(
    hh.dispatcher.channelTargets.add({
      placeId: 'g1',
      role: null,
      channel: 'webhook',
      target: 'robot',
      label: null,
    }),
  );
}

export function raise(
  registry: Registry,
  clock: ManualClock,
  overrides: Partial<AlertRaise> & { placeId: string },
): RuleResult {
  seq++;
  return {
    kind: 'raise',
    ruleId: 'smoke.alarm',
    deviceId: `smoke-${seq}`,
    deviceType: 'smoke',
    place: registry.places.path(overrides.placeId),
    floor: 3,
    at: clock.now(),
    severity: 'critical',
    category: 'fire',
    title: '烟感报警',
    detail: 'smoke 0.4 dB/m',
    evidence: { smoke: 0.4 },
    dedup: 'per-device',
    ...overrides,
  };
}
