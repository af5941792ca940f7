/** The audit log: who read or sent what personal data, and which admin edits were made. */
import type { Clock } from '../clock/clock.ts';
import type { Db } from '../storage/sqlite.ts';

export interface AuditEntry {
  id: number;
  at: number;
  username: string;
  action: string;
  subject: string;
  alertId: string | null;
  detail: Record<string, unknown>;
}

export interface AuditLog {
  record(e: Omit<AuditEntry, 'id' | 'at'>): void;
  list(filter: { from?: number; to?: number; username?: string; limit?: number }): AuditEntry[];
}

export function createAuditLog(db: Db, clock: Clock): AuditLog {
  const insert = db.prepare(
    'INSERT INTO audit_log (at, username, action, subject, alert_id, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    record(e) {
      insert.run(clock.now(), e.username, e.action, e.subject, e.alertId, JSON.stringify(e.detail));
    },
    list(filter) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.from !== undefined) {
        where.push('at >= ?');
        args.push(filter.from);
      }
      if (filter.to !== undefined) {
        where.push('at < ?');
        args.push(filter.to);
      }
      if (filter.username) {
        where.push('username = ?');
        args.push(filter.username);
      }
      return db
        .prepare<
          (string | number)[],
          {
            id: number;
            at: number;
            username: string;
            action: string;
            subject: string;
            alert_id: string | null;
            detail: string;
          }
        >(
          `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${Math.min(
            filter.limit ?? 100,
            1000,
          )}`,
        )
        .all(...args)
        .map((r) => ({
          id: r.id,
          at: r.at,
          username: r.username,
          action: r.action,
          subject: r.subject,
          alertId: r.alert_id,
          detail: JSON.parse(r.detail) as Record<string, unknown>,
        }));
    },
  };
}
