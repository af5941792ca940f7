/**
 * The dispatcher's tables on the hub's SQLite file: their migrations, the alert store (alert-store.ts) on the
 * statements of alert-statements.ts, due-statements.ts and outbox-claims.ts, each compiled and prepared once, and the other stores over those tables that the composition root hands to the
 * dispatcher.
 */
import type { Clock } from '../clock/clock.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore, sqliteTransactions } from '../storage/sqlite-kysely.ts';
import {
  alertStatementOps,
  type ChunkWrite,
  chunkedWrites,
  storeOps,
  updateAlertOp,
} from './alert-statements.ts';
import type { AlertStore } from './alert-store.ts';
import { type AuditLog, createAuditLog } from './audit-log.ts';
import { type ChannelTargetStore, createChannelTargetStore } from './channel-targets.ts';
import { claimOps } from './outbox-claims.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createQuietHoursStore, type QuietHoursStore } from './quiet-hours.ts';
import { createResidentStore, type ResidentStore } from './residents.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { createSqlRunner, sqliteBuilder } from './sqlite-runner.ts';
import { type AnyOp, bind, isIdentity, type SyncOps } from './store-ops.ts';
import type { AlertStoreTables } from './tables.ts';

/** The stores the dispatcher reads and writes besides the registry's people. */
export interface AlertStores {
  alerts: AlertStore;
  residents: ResidentStore;
  audit: AuditLog;
  quietHours: QuietHoursStore;
  channelTargets: ChannelTargetStore;
}

/** Migrate the dispatcher's tables (modules `alerts`, `alerts.outbox`) and open its stores on them. */
export function openSqliteAlertStores(db: Db, clock: Clock, options: { timeZone: string }): AlertStores {
  const schema = sqliteStore(db);
  migrateModuleSync(schema, 'alerts', ALERTS_MIGRATIONS);
  migrateModuleSync(schema, 'alerts.outbox', OUTBOX_MIGRATIONS);
  return {
    alerts: sqliteAlertStore(db),
    residents: createResidentStore(db, clock),
    audit: createAuditLog(db, clock),
    quietHours: createQuietHoursStore(db, options.timeZone),
    channelTargets: createChannelTargetStore(db),
  };
}

/** The alert store on the hub's one better-sqlite3 connection (the tables migrated already). */
export function sqliteAlertStore(db: Db): AlertStore {
  const k = sqliteStore(db).builder<AlertStoreTables>();
  const own = prepareOps(db, storeOps(k));
  /** One prepared UPDATE per set of columns: the code names a few dozen sets, each is prepared once. */
  const updates = new Map<string, (...args: unknown[]) => number>();
  /** One prepared statement per kind and count of rows (multi-row inserts, updates of many ids). */
  const chunked = chunkedWrites(k, (op) => sqliteOp(db, op) as (...args: unknown[]) => number);
  const runChunks = (chunks: Iterable<ChunkWrite<(...args: unknown[]) => number>>): number => {
    let n = 0;
    for (const [statement, args] of chunks) n += statement(...args);
    return n;
  };
  // The connection's one queue of transactions, shared with the Kysely stores on it: BEGIN IMMEDIATE … COMMIT
  // around a body that awaits only these statements' plain values, so it commits within the turn it began in.
  const transactions = sqliteTransactions(db);
  return {
    transaction: (fn) => transactions.run(fn),
    get inTransaction() {
      return db.inTransaction;
    },
    statements: prepareOps(db, alertStatementOps(k, 'sqlite')),
    claims: prepareOps(db, claimOps(k, 'sqlite')),
    reads: createSqlRunner(db),
    builder: sqliteBuilder(),
    updateAlert(id, fields, now) {
      const keys = Object.keys(fields);
      const sig = keys.join(',');
      let update = updates.get(sig);
      if (!update) {
        update = sqliteOp(db, updateAlertOp(k, keys)) as (...args: unknown[]) => number;
        updates.set(sig, update);
      }
      update(...keys.map((key) => fields[key]), now, id);
    },
    insertOutbox: (row) => own.insertOutbox(row),
    insertTimers: (timers) => runChunks(chunked.insertRows('alert_timers', timers)),
    insertEvents: (events) => runChunks(chunked.insertRows('alert_events', events)),
    outboxDone: (status, ids) => runChunks(chunked.outboxDone(status, ids)),
    maintenanceTasks: (open) =>
      open === undefined ? own.tasksAll() : open ? own.tasksOpen() : own.tasksDone(),
  };
}

/** Each operation compiled once and prepared once, run synchronously. */
function prepareOps<O extends Record<string, AnyOp>>(db: Db, ops: O): SyncOps<O> {
  return Object.fromEntries(Object.entries(ops).map(([name, op]) => [name, sqliteOp(db, op)])) as SyncOps<O>;
}

/**
 * One operation on its prepared statement. Where the parameters are the arguments in order (most operations:
 * constants are literals in the SQL), they go to the statement as they come, without a mapping per call, and for
 * the usual arities without a rest array either: these run ~25 times per raise. The statement's method is looked
 * up at each call, not bound once, so that a wrapper of better-sqlite3's methods (bench/raise.ts counts
 * statements so) sees every call.
 */
function sqliteOp(db: Db, op: AnyOp): Call {
  const bound = bind(op);
  const stmt = db.prepare<unknown[], unknown>(bound.sql) as unknown as Record<Method, Call>;
  const shape = op.shape as (raw: unknown) => unknown;
  const p = bound.params;
  const n = op.standIns.length;
  const changes = (info: unknown) => (info as { changes: number }).changes;
  switch (op.kind) {
    case 'all':
      return bound.direct ? fixed(n, stmt, 'all') : (...a) => stmt.all(...p(a));
    case 'first':
      if (!bound.direct) return (...a) => shape(stmt.get(...p(a)));
      return isIdentity(shape) ? fixed(n, stmt, 'get') : then(n, fixed(n, stmt, 'get'), shape);
    case 'write':
      if (!bound.direct) return (...a) => changes(stmt.run(...p(a)));
      return then(n, fixed(n, stmt, 'run'), changes);
  }
}

type Call = (...args: unknown[]) => unknown;
type Method = 'all' | 'get' | 'run';

/** `stmt[m]` called with exactly `n` arguments, without gathering them into an array for the common arities. */
function fixed(n: number, stmt: Record<Method, Call>, m: Method): Call {
  switch (n) {
    case 0:
      return () => stmt[m]();
    case 1:
      return (a) => stmt[m](a);
    case 2:
      return (a, b) => stmt[m](a, b);
    case 3:
      return (a, b, c) => stmt[m](a, b, c);
    case 4:
      return (a, b, c, d) => stmt[m](a, b, c, d);
    case 5:
      return (a, b, c, d, e) => stmt[m](a, b, c, d, e);
    default:
      return (...a) => stmt[m](...a);
  }
}

/** `f` (of `n` arguments) then `g` on its result. */
function then(n: number, f: Call, g: (x: unknown) => unknown): Call {
  switch (n) {
    case 0:
      return () => g(f());
    case 1:
      return (a) => g(f(a));
    case 2:
      return (a, b) => g(f(a, b));
    case 3:
      return (a, b, c) => g(f(a, b, c));
    default:
      return (...a) => g(f(...a));
  }
}
