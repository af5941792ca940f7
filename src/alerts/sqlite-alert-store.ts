/**
 * The dispatcher's tables on the hub's SQLite file: their migrations, and the stores over them that the
 * composition root hands to the dispatcher.
 */
import type { Clock } from '../clock/clock.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { type AuditLog, createAuditLog } from './audit-log.ts';
import { type ChannelTargetStore, createChannelTargetStore } from './channel-targets.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createQuietHoursStore, type QuietHoursStore } from './quiet-hours.ts';
import { createResidentStore, type ResidentStore } from './residents.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';

/** The stores the dispatcher reads and writes besides the registry's people. */
export interface AlertStores {
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
    residents: createResidentStore(db, clock),
    audit: createAuditLog(db, clock),
    quietHours: createQuietHoursStore(db, options.timeZone),
    channelTargets: createChannelTargetStore(db),
  };
}
