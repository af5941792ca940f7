/**
 * The audit log: who read or sent what personal data, and which admin edits were made. Its statements are
 * written once with Kysely: `createAuditLog` runs them synchronously on the hub's SQLite connection (its callers
 * are synchronous), `createAuditPort` on either store, answering promises.
 */

import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../clock/clock.ts';
import type { Awaitable } from '../domain/awaitable.ts';
import type { SqlStore } from '../storage/sql-store.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import type { AlertStoreTables } from './tables.ts';

export interface AuditEntry {
  id: number;
  at: number;
  username: string;
  action: string;
  subject: string;
  alertId: string | null;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  from?: number;
  to?: number;
  username?: string;
  limit?: number;
}

/** The audit log as the dispatcher and the API use it: synchronous on the SQLite file, a promise elsewhere. */
export interface AuditLog {
  record(e: Omit<AuditEntry, 'id' | 'at'>): Awaitable<void>;
  list(filter: AuditFilter): Awaitable<AuditEntry[]>;
}

/** The audit log on either store. */
export interface AuditPort {
  record(e: Omit<AuditEntry, 'id' | 'at'>): Promise<void>;
  list(filter: AuditFilter): Promise<AuditEntry[]>;
}

type Row = Selectable<AlertStoreTables['audit_log']>;

const toEntry = (r: Row): AuditEntry => ({
  id: r.id,
  at: r.at,
  username: r.username,
  action: r.action,
  subject: r.subject,
  alertId: r.alert_id,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
});

function auditQueries(db: Kysely<AlertStoreTables>) {
  return {
    insert: (at: number, e: Omit<AuditEntry, 'id' | 'at'>) =>
      db.insertInto('audit_log').values({
        at,
        username: e.username,
        action: e.action,
        subject: e.subject,
        alert_id: e.alertId,
        detail: JSON.stringify(e.detail),
      }),
    /** Newest first, 100 by default, 1000 at most. */
    list: (f: AuditFilter) =>
      db
        .selectFrom('audit_log')
        .selectAll()
        .$if(f.from !== undefined, (q) => q.where('at', '>=', f.from as number))
        .$if(f.to !== undefined, (q) => q.where('at', '<', f.to as number))
        .$if(Boolean(f.username), (q) => q.where('username', '=', f.username as string))
        .orderBy('id', 'desc')
        .limit(Math.min(f.limit ?? 100, 1000)),
  };
}

export function createAuditLog(db: Db, clock: Clock): AuditLog {
  const store = sqliteStore(db);
  const sync = store.sync as NonNullable<SqlStore['sync']>;
  const q = auditQueries(store.builder<AlertStoreTables>());
  return {
    record(e) {
      sync.write(q.insert(clock.now(), e));
    },
    list: (filter) => sync.all(q.list(filter)).map(toEntry),
  };
}

export function createAuditPort(store: SqlStore, clock: Clock): AuditPort {
  const q = auditQueries(store.builder<AlertStoreTables>());
  return {
    async record(e) {
      await store.write(q.insert(clock.now(), e));
    },
    list: async (filter) => (await store.all(q.list(filter))).map(toEntry),
  };
}
