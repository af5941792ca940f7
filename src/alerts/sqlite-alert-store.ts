/**
 * The dispatcher's tables on the hub's SQLite file: their migrations, the alert store (alert-store.ts) on
 * statements prepared once, and the other stores over those tables that the composition root hands to the
 * dispatcher.
 */
import type { Clock } from '../clock/clock.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore, sqliteTransactions } from '../storage/sqlite-kysely.ts';
import type { AlertStore, OutboxInsert } from './alert-store.ts';
import { type AuditLog, createAuditLog } from './audit-log.ts';
import { type ChannelTargetStore, createChannelTargetStore } from './channel-targets.ts';
import { prepareClaims } from './outbox-claims.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createQuietHoursStore, type QuietHoursStore } from './quiet-hours.ts';
import { createResidentStore, type ResidentStore } from './residents.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { createSqlRunner, sqliteBuilder } from './sqlite-runner.ts';
import { sqliteStatements } from './sqlite-statements.ts';
import type { MaintenanceRow } from './tables.ts';

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
  const insertOutbox = db.prepare<[OutboxInsert]>(
    `INSERT INTO alert_outbox (alert_id, channel, target, payload, created_at, next_at, idempotency_key,
       person_id, severity, digestible, rung, held_until, max_attempts, claimed_by, lease_until)
     VALUES (@alert_id, @channel, @target, @payload, @created_at, @next_at, @idempotency_key, @person_id,
       @severity, @digestible, @rung, @held_until, @max_attempts, @claimed_by, @lease_until)`,
  );
  /** One prepared UPDATE per set of columns: the code names a few dozen sets, each is prepared once. */
  const updates = new Map<string, ReturnType<Db['prepare']>>();
  // The connection's one queue of transactions, shared with the Kysely stores on it: BEGIN IMMEDIATE … COMMIT
  // around a body that awaits only these statements' plain values, so it commits within the turn it began in.
  const transactions = sqliteTransactions(db);
  return {
    transaction: (fn) => transactions.run(fn),
    get inTransaction() {
      return db.inTransaction;
    },
    statements: sqliteStatements(db),
    claims: prepareClaims(db),
    reads: createSqlRunner(db),
    builder: sqliteBuilder(),
    updateAlert(id, fields, now) {
      const keys = Object.keys(fields);
      const sig = keys.join(',');
      let stmt = updates.get(sig);
      if (!stmt) {
        stmt = db.prepare(
          `UPDATE alerts SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`,
        );
        updates.set(sig, stmt);
      }
      stmt.run({ ...fields, __now: now, __id: id });
    },
    insertOutbox: (row) => Number(insertOutbox.run(row).lastInsertRowid),
    maintenanceTasks(open) {
      return db
        .prepare<[], MaintenanceRow>(
          `SELECT m.*, a.place AS place FROM maintenance_tasks m LEFT JOIN alerts a ON a.id = m.alert_id
           ${open === undefined ? '' : open ? 'WHERE m.done_at IS NULL' : 'WHERE m.done_at IS NOT NULL'}
           ORDER BY m.id DESC LIMIT 1000`,
        )
        .all();
    },
  };
}
