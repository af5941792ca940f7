/**
 * The dispatcher's raise transaction: N rule raises (call-button presses and smoke alarms, each its own alert)
 * through a real dispatcher and registry on a temp SQLite file (WAL, synchronous=NORMAL), the outbox delivering
 * between raises as in the hub. Reports p50/p99 of the raise transaction (BEGIN to the end of COMMIT) and of
 * `dispatcher.handle()` (with what runs after the commit) and, from a separate counted pass, the SQL statements
 * run and prepared per alert inside the transaction.
 *
 *   node --import tsx bench/raise.ts [--alerts 2000]
 *
 * `npm run bench` calls `runRaiseBench()` and writes its figures to the results file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { alertsConfigSchema } from '../src/alerts/config.ts';
import { deliveryChannels, outboundPolicy } from '../src/alerts/delivery-channels.ts';
import { createDispatcher } from '../src/alerts/dispatcher.ts';
import { openSqliteAlertStores } from '../src/alerts/sqlite-alert-store.ts';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { createPushStore } from '../src/channels/push-store.ts';
import { createAlertStream } from '../src/channels/stream.ts';
import { newVapidKeys } from '../src/channels/webpush.ts';
import { ManualClock } from '../src/clock/clock.ts';
import { createEventBus } from '../src/domain/events.ts';
import type { TelemetrySink, WorkerPublisher } from '../src/domain/ports.ts';
import type { PersonRole } from '../src/domain/records.ts';
import type { AlertRaise } from '../src/domain/rule-result.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { createRegistry, type Registry } from '../src/registry/registry.ts';
import { openDatabase } from '../src/storage/sqlite.ts';
import { sqliteStore } from '../src/storage/sqlite-kysely.ts';

export interface RaiseBenchResult {
  alerts: number;
  /** The raise transaction: from its BEGIN to the end of its COMMIT. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** `dispatcher.handle(raise)`: the transaction plus what runs after the commit (metrics, bus, outbox claims). */
  handleP50Ms: number;
  handleP99Ms: number;
  /** From a separate pass with counting wrappers (not timed): SQL statements executed and prepared per alert. */
  statementsPerAlert: number;
  preparesPerAlert: number;
  note: string;
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const ALWAYS = [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startMinute: 0, endMinute: 1440 }));

/** A small community like the demo's: two grids, their workers and leaders, duty staff around the clock. */
function seed(registry: Registry): void {
  const pl = registry.places;
  // not awaited: on SQLite a registry write is done when the call returns (src/storage/README.md)
  void pl.create({ id: 's1', level: 'street', name: '青龙街道', parentId: null });
  void pl.create({ id: 'c1', level: 'community', name: '幸福社区', parentId: 's1' });
  for (const g of [1, 2]) {
    void pl.create({ id: `g${g}`, level: 'grid', name: `第${g}网格`, parentId: 'c1' });
    void pl.create({ id: `e${g}`, level: 'estate', name: `小区${g}`, parentId: `g${g}` });
    for (let b = 1; b <= 5; b++) {
      void pl.create({ id: `b${g}-${b}`, level: 'building', name: `${b}号楼`, parentId: `e${g}` });
    }
  }
  const person = (id: string, role: PersonRole, placeId: string) => {
    // not awaited: on SQLite the roster's writes are done when the call returns (src/storage/README.md)
    void registry.people.create({
      id,
      name: id.toUpperCase(),
      role,
      placeIds: [placeId],
      ...(role === 'department' ? { department: 'fire' as const } : {}),
    });
    void registry.people.setShifts(id, ALWAYS);
  };
  person('w1', 'grid_worker', 'g1');
  person('l1', 'grid_leader', 'g1');
  person('w2', 'grid_worker', 'g2');
  person('l2', 'grid_leader', 'g2');
  person('p1', 'property_duty', 'e1');
  person('p2', 'property_duty', 'e2');
  person('cd1', 'community_duty', 'c1');
  person('sc1', 'street_command', 's1');
  person('f1', 'department', 'c1');
}

const quietPublisher: WorkerPublisher = { publishToWorker: async () => {} };
const quietSink: TelemetrySink = {
  writeReading() {},
  writeAlertChange() {},
  flush: async () => {},
  close: async () => {},
};

/**
 * Times the first BEGIN … COMMIT on any connection while armed: better-sqlite3 runs both as statements, so a
 * wrapper of `run` sees them (one string compare per statement run, next to nothing).
 */
function transactionTimer(): { arm(): void; ms(): number; restore(): void } {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, unknown>;
  probe.close();
  const run = proto.run as (...a: unknown[]) => unknown;
  let armed = false;
  let begin = 0;
  let took = Number.NaN;
  proto.run = function (this: { source: string }, ...a: unknown[]) {
    if (!armed) return run.apply(this, a);
    // the dispatcher's BEGIN IMMEDIATE (better-sqlite3's own transactions run a plain BEGIN)
    if (this.source.startsWith('BEGIN') && begin === 0) begin = performance.now();
    const out = run.apply(this, a);
    if (this.source === 'COMMIT' && begin !== 0) {
      took = performance.now() - begin;
      armed = false;
    }
    return out;
  };
  return {
    arm() {
      armed = true;
      begin = 0;
      took = Number.NaN;
    },
    ms: () => took,
    restore() {
      proto.run = run;
    },
  };
}

/**
 * Count statement executions and prepares on every better-sqlite3 connection, only inside the first transaction
 * of each call `fn` wraps with the `within` it is given (what runs after the commit is not counted).
 */
async function counted(
  fn: (within: (f: () => Promise<void>) => Promise<void>) => Promise<void>,
): Promise<{ executed: number; prepared: number }> {
  const probe = new Database(':memory:');
  const stmtProto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, unknown>;
  probe.close();
  const dbProto = Database.prototype as unknown as Record<string, unknown>;
  const n = { executed: 0, prepared: 0 };
  let on = false;
  let inTx = false;
  const saved = new Map<Record<string, unknown>, Record<string, unknown>>();
  const wrap = (proto: Record<string, unknown>, names: string[], key: 'executed' | 'prepared') => {
    const originals: Record<string, unknown> = {};
    for (const name of names) {
      const orig = proto[name] as (...a: unknown[]) => unknown;
      originals[name] = orig;
      proto[name] = function (this: { source?: string }, ...a: unknown[]) {
        // Only inside the raise transaction: BEGIN … COMMIT, both counted.
        if (on && key === 'executed' && this.source?.startsWith('BEGIN')) inTx = true;
        if (inTx) n[key]++;
        if (inTx && key === 'executed' && this.source === 'COMMIT') {
          inTx = false;
          on = false;
        }
        return orig.apply(this, a);
      };
    }
    saved.set(proto, originals);
  };
  wrap(stmtProto, ['run', 'get', 'all', 'iterate'], 'executed');
  wrap(dbProto, ['prepare'], 'prepared');
  try {
    await fn(async (f) => {
      on = true;
      try {
        await f();
      } finally {
        on = false;
      }
    });
  } finally {
    for (const [proto, originals] of saved) Object.assign(proto, originals);
  }
  return n;
}

export async function runRaiseBench(
  options: {
    quick?: boolean;
    alerts?: number;
    report?: (s: string) => void;
    /** As the hub opens gridhub.db (background), or SQLite's checkpoints inside the commits (auto). */
    checkpoints?: 'auto' | 'background';
  } = {},
): Promise<RaiseBenchResult> {
  const n = options.alerts ?? (options.quick ? 1_000 : 5_000);
  const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-bench-raise-'));
  try {
    const db = openDatabase(join(dir, 'gridhub.db'), { checkpoints: options.checkpoints ?? 'background' });
    const clock = new ManualClock(T0);
    const config = alertsConfigSchema.parse({});
    const registry = createRegistry(db, createCatalogue(), clock, {
      timeZone: config.timeZone,
      secretKey: randomBytes(32),
    });
    seed(registry);
    const log = pino({ level: 'silent' });
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const bus = createEventBus(log);
    // wired as src/hub.ts wires it
    const stores = openSqliteAlertStores(db, clock, { timeZone: config.timeZone });
    const pushStore = createPushStore(sqliteStore(db), clock, newVapidKeys);
    const stream = createAlertStream({ maxBufferedBytes: config.streamMaxBufferedBytes, metrics, log });
    bus.on('alert.streamed', stream.publish);
    const dispatcher = createDispatcher({
      clock,
      log,
      metrics,
      stores,
      pushStore,
      stream,
      channels: deliveryChannels(config, { publisher: quietPublisher, pushStore, clock }),
      outbound: outboundPolicy(config),
      sink: quietSink,
      bus,
      config,
      places: { path: (id) => registry.places.path(id), name: (id) => registry.places.name(id) },
      people: registry.people,
    });
    await dispatcher.start();
    let seq = 0;
    const press = (): AlertRaise => {
      seq++;
      const building = `b${(seq % 2) + 1}-${(seq % 5) + 1}`;
      const button = seq % 2 === 0;
      return {
        kind: 'raise',
        ruleId: button ? 'call_button.pressed' : 'smoke.alarm',
        deviceId: `dev-${seq}`,
        deviceType: button ? 'call_button' : 'smoke',
        placeId: building,
        place: registry.places.path(building),
        floor: 3,
        at: clock.now(),
        severity: 'critical',
        category: button ? 'elderly' : 'fire',
        title: button ? '紧急呼叫' : '烟感报警',
        detail: button ? 'button pressed' : 'smoke 0.4 dB/m',
        evidence: button ? { pressed: true } : { smoke: 0.4 },
        dedup: 'per-device',
      };
    };
    const txTimer = transactionTimer();
    const one = async (): Promise<[number, number]> => {
      const res = press();
      txTimer.arm();
      const t = performance.now();
      await dispatcher.handle(res);
      const ms = performance.now() - t;
      // The outbox delivers before the next press, as in the hub; a second passes between presses.
      await dispatcher.drain();
      // the escalation and must-reach steps it fires settle before the next press, as they did inside advance()
      await clock.advanceAsync(1_000);
      return [txTimer.ms(), ms];
    };
    // Warm up (statement caches, JIT), then the timed pass, then a counted pass.
    const times: number[] = [];
    const handles: number[] = [];
    try {
      for (let i = 0; i < Math.min(200, n); i++) await one();
      for (let i = 0; i < n; i++) {
        const [txMs, handleMs] = await one();
        times.push(txMs);
        handles.push(handleMs);
      }
    } finally {
      txTimer.restore();
    }
    const countN = Math.min(100, n);
    const counts = await counted(async (within) => {
      for (let i = 0; i < countN; i++) {
        const res = press();
        await within(() => dispatcher.handle(res));
        await dispatcher.drain();
        // the escalation and must-reach steps it fires settle before the next press, as they did inside advance()
        await clock.advanceAsync(1_000);
      }
    });
    await dispatcher.stop();
    db.close();
    times.sort((a, b) => a - b);
    handles.sort((a, b) => a - b);
    const pick = (p: number, of = times) => of[Math.min(of.length - 1, Math.floor(p * of.length))] ?? 0;
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const out: RaiseBenchResult = {
      alerts: n,
      p50Ms: r3(pick(0.5)),
      p99Ms: r3(pick(0.99)),
      meanMs: r3(times.reduce((a, b) => a + b, 0) / times.length),
      handleP50Ms: r3(pick(0.5, handles)),
      handleP99Ms: r3(pick(0.99, handles)),
      statementsPerAlert: Math.round((counts.executed / countN) * 10) / 10,
      preparesPerAlert: Math.round((counts.prepared / countN) * 10) / 10,
      note: 'critical raises (half call buttons, half smoke), each a new alert over 10 buildings, 2 workers + property duty notified; one process',
    };
    options.report?.(
      `raise transaction: p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms (handle() with after-commit work: ${out.handleP50Ms} / ${out.handleP99Ms} ms), ${out.statementsPerAlert} statements and ${out.preparesPerAlert} prepares per alert`,
    );
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { alerts: { type: 'string' }, quick: { type: 'boolean' }, checkpoints: { type: 'string' } },
  });
  const r = await runRaiseBench({
    ...(values.checkpoints === 'auto' ? { checkpoints: 'auto' as const } : {}),
    ...(values.alerts ? { alerts: Number(values.alerts) } : {}),
    quick: values.quick ?? false,
    report: (s) => process.stderr.write(`${s}\n`),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
