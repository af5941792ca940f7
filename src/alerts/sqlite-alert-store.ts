/**
 * The dispatcher's tables on the hub's SQLite file: their migrations, the alert store (alert-store.ts) on the
 * statements of alert-statements.ts, due-statements.ts and outbox-claims.ts, each compiled and prepared once, and the other stores over those tables that the composition root hands to the
 * dispatcher.
 */
import type { Clock } from '../clock/clock.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { alertStatementOps, storeOps, updateAlertOp } from './alert-statements.ts';
import type { AlertStore } from './alert-store.ts';
import { type AuditLog, createAuditLog } from './audit-log.ts';
import { type ChannelTargetStore, createChannelTargetStore } from './channel-targets.ts';
import { claimOps } from './outbox-claims.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createQuietHoursStore, type QuietHoursStore } from './quiet-hours.ts';
import { createResidentStore, type ResidentStore } from './residents.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { createSqlRunner, sqliteBuilder } from './sqlite-runner.ts';
import { type AnyOp, bind, type SyncOps } from './store-ops.ts';
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
  return {
    transaction: (fn) => db.transaction(fn)(),
    get inTransaction() {
      return db.inTransaction;
    },
    statements: prepareOps(db, alertStatementOps(k)),
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
 * constants are literals in the SQL), they go to the statement as they come, without a mapping per call.
 */
function sqliteOp(db: Db, op: AnyOp): (...args: unknown[]) => unknown {
  const bound = bind(op);
  const stmt = db.prepare<unknown[], unknown>(bound.sql);
  const shape = op.shape as (raw: unknown) => unknown;
  const p = bound.params;
  switch (op.kind) {
    case 'all':
      return bound.direct ? (...a) => stmt.all(...a) : (...a) => stmt.all(...p(a));
    case 'first':
      return bound.direct ? (...a) => shape(stmt.get(...a)) : (...a) => shape(stmt.get(...p(a)));
    case 'write':
      return bound.direct ? (...a) => stmt.run(...a).changes : (...a) => stmt.run(...p(a)).changes;
  }
}
